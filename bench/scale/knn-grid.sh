#!/usr/bin/env bash
# Times `face-cluster knn` with several indexes on one feature file and measures each table's
# edge recall; prints one tab-separated line per run (docs/scale.md has the results).
#
#   bench/scale/knn-grid.sh FEATS "INDEX [--nprobe N | --ef-search N]" ...
#
# Environment: FC (binary, default target/release/face-cluster), K (50), MIN_SIM (0.58),
# SAMPLE (rows of the recall check, 2000). Heavy: run it alone (e.g. under flock).
set -euo pipefail
feats=$1
shift
fc=${FC:-target/release/face-cluster}
k=${K:-50}
min_sim=${MIN_SIM:-0.58}
sample=${SAMPLE:-2000}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf 'index\tparams\tbuild_s\tsearch_s\twall_s\tpeak_rss_mib\tedge_recall\ttopk_recall\tload\n'
for spec in "$@"; do
    read -r -a args <<<"$spec"
    /usr/bin/time -f '%e %M' -o "$out/time" "$fc" knn "$feats" -k "$k" -o "$out/knn.npz" \
        --check-recall "$sample" --min-sim "$min_sim" --index "${args[@]}" 2>"$out/err"
    line=$(grep 'k-NN table written' "$out/err")
    recall=$(grep '^edge recall' "$out/err")
    read -r wall rss_kib <"$out/time"
    build=$(sed -E 's/.*\(index ([0-9.]+)s, search ([0-9.]+)s\).*/\1/' <<<"$line")
    search=$(sed -E 's/.*\(index ([0-9.]+)s, search ([0-9.]+)s\).*/\2/' <<<"$line")
    edge=$(sed -E 's/^edge recall ([0-9.]+) .*/\1/' <<<"$recall")
    topk=$(sed -E 's/.*top-[0-9]+ recall ([0-9.]+)$/\1/' <<<"$recall")
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    printf '%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n' "${args[0]}" "${args[*]:1}" "$build" "$search" "$wall" \
        $((rss_kib / 1024)) "$edge" "$topk" "$load"
done
