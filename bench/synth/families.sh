#!/usr/bin/env bash
# The harder synthetic families of `face-cluster synth --family` (issue 17), measured: for each
# family, the data (20,000 rows, seed 1; dlib: the family's 10,000 rows; sessions: seed 3, as
# the prototype's stress variant; with kinds.meta), its similarity statistics as the prototype measured them
# (family_stats.py) and as `synth` prints them, the ceiling (clustering by true source) and the
# default `face-cluster FEATS` scored against the labels. Writes OUT/FAMILY/{feats.npy, ...,
# synth.txt, stats.json, ceiling.json, report.json} and prints one line per family.
#
# Usage: bench/synth/families.sh OUT [face-cluster binary]
set -euo pipefail
out=${1:?usage: families.sh OUT [BINARY]}
mkdir -p "$out"
bin=${2:-target/release/face-cluster}
here=$(dirname "$0")
for family in head dups junk dlib album mixed sessions; do
    dir=$out/$family
    args=(--family "$family" --seed 1)
    case $family in
        dlib | album) ;;
        sessions) args=(--family sessions --seed 3 --n 20000) ;;
        *) args+=(--n 20000) ;;
    esac
    "$bin" synth "${args[@]}" --kinds -o "$dir" 2>&1 | grep -v 'done in' > "$out/$family.synth.txt"
    mv "$out/$family.synth.txt" "$dir/synth.txt"
    python3 "$here/family_stats.py" "$dir" > "$dir/stats.json"
    "$bin" eval --gt "$dir/labels.meta" --pred "$dir/sources.meta" --json > "$dir/ceiling.json"
    "$bin" "$dir/feats.npy" --labels "$dir/labels.meta" --report "$dir/report.json" -o /dev/null -q
    python3 - "$family" "$dir" <<'PY'
import json, sys
family, d = sys.argv[1], sys.argv[2]
stats = json.load(open(f"{d}/stats.json"))
ceiling = json.load(open(f"{d}/ceiling.json"))
report = json.load(open(f"{d}/report.json"))
summary = open(f"{d}/synth.txt").read().splitlines()
dup = next((l.split(": ", 1)[1] for l in summary if l.startswith("near-duplicate to")), "")
pf = lambda e: 100 * e["pairwise"]["f"]
print(f"{family}: {summary[0].split(': ', 1)[1].split('; generate')[0]}")
print(f"  same {stats['same p5/p50/p95']}, originals only {stats['same, originals only p5/p50/p95']}, "
      f"different {stats['different p5/p50/p95']}, near-dup {stats.get('duplicate to its nearest p5/p50/p95', '')} "
      f"(synth: {dup})")
print(f"  ceiling pairwise F {pf(ceiling):.2f}; default (min_sim {report['params']['min_sim']:.4f}): "
      f"pairwise F {pf(report['eval']):.2f}, {report['clusters']} clusters")
PY
done
