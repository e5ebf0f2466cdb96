#!/usr/bin/env bash
# Benchmarks of `face-cluster add` (issue 15): quality after several batches against a full
# run, and the time of one batch by stage against the full re-run.
#
#   bench/add/run.sh quality DATA WORK [-- OPTIONS]
#   bench/add/run.sh speed DATA WORK BASE_STATE BATCH [REPEATS] [-- OPTIONS]
#
# DATA is a folder written by bench/add/split.py (base.npy, batch-NN.npy, all.npy,
# labels-NN.meta). OPTIONS go to the main job (e.g. `--preset seed`, `--min-sim 0.95`).
#
# quality: saves base.npy with --save (WORK/state), adds every batch in turn (the last one with
#   --check-drift, which also re-optimises every row from the same start and reports the
#   codelength), scoring all rows after each against labels-NN.meta, then runs the main job on
#   all.npy (the full run), and again at the state's min_sim (the full run at the same
#   threshold, when min_sim is auto). Reports go to WORK/*.json; a Markdown table to stdout.
# speed: copies BASE_STATE (a state saved from base.npy) to WORK/state and adds BATCH (a file
#   in DATA) REPEATS times (default 3), from a fresh copy each time, printing each run's time
#   by stage (from --report).
#
# Every timed command runs under `flock /tmp/face-cluster-bench.lock`, so no two benchmarks
# overlap, and the load average (1 minute) before and after each is recorded: on two cores, a
# load above 2 means the run shared the CPUs. The binary is $FACE_CLUSTER, else the cargo
# target folder's release build, else `face-cluster` on the PATH.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${FACE_CLUSTER:-}
if [[ -z "$bin" ]]; then
    for candidate in "${CARGO_TARGET_DIR:-$root/target}/release/face-cluster" "$(command -v face-cluster || true)"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then bin=$candidate; break; fi
    done
fi
[[ -n "$bin" ]] || { echo "no face-cluster binary (set FACE_CLUSTER or cargo build --release)" >&2; exit 2; }
lock=/tmp/face-cluster-bench.lock

load() { cut -d' ' -f1 /proc/loadavg; }

# timed NAME CMD...: runs CMD holding the lock, appends "NAME load_before load_after" to
# WORK/loads.txt.
timed() {
    local name=$1 before
    shift
    exec 9>"$lock"
    flock 9
    before=$(load)
    "$@"
    echo "$name $before $(load)" >> "$work/loads.txt"
    flock -u 9
}

mode=${1:-}
shift || true
case "$mode" in
quality)
    data=$1 work=$2
    shift 2
    [[ "${1:-}" == "--" ]] && shift
    mkdir -p "$work"
    rm -rf "$work/state" "$work/loads.txt"
    timed save "$bin" "$data/base.npy" "$@" --labels "$data/labels-00.meta" --save "$work/state" \
        --report "$work/save.json" -o "$work/labels-00.txt" -q
    batches=$(ls "$data"/batch-*.npy | wc -l)
    for b in $(seq -w 1 "$batches"); do
        [[ ${#b} -lt 2 ]] && b=0$b
        drift=()
        [[ "$((10#$b))" -eq "$batches" ]] && drift=(--check-drift)
        timed "add-$b" "$bin" add "$work/state" "$data/batch-$b.npy" --labels "$data/labels-$b.meta" \
            --report "$work/add-$b.json" -o "$work/labels-$b.txt" -q "${drift[@]}"
    done
    last=$(printf '%02d' "$batches")
    timed full "$bin" "$data/all.npy" "$@" --labels "$data/labels-$last.meta" --report "$work/full.json" \
        -o "$work/labels-full.txt" -q
    # The same at the state's threshold: with --min-sim auto the full run resolves its own on
    # all rows, a different network; at the same threshold the codelengths compare directly.
    min_sim=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["params"]["min_sim"])' \
        "$work/state/state.json")
    timed full-fixed "$bin" "$data/all.npy" "$@" --min-sim "$min_sim" --labels "$data/labels-$last.meta" \
        --report "$work/full-fixed.json" -o "$work/labels-full-fixed.txt" -q
    python3 "$here/table.py" quality "$work"
    ;;
speed)
    data=$1 work=$2 base=$3 batch=$4 repeats=${5:-3}
    shift 4
    [[ $# -gt 0 && "$1" != "--" ]] && shift
    mkdir -p "$work"
    rm -f "$work/loads.txt"
    for r in $(seq 1 "$repeats"); do
        rm -rf "$work/state"
        cp -r "$base" "$work/state"
        # Read once, so every run starts from the page cache, as a state in use is.
        cat "$work/state"/*.bin "$data/$batch" > /dev/null
        timed "speed-$r" "$bin" add "$work/state" "$data/$batch" --report "$work/speed-$r.json" -o /dev/null -q
    done
    python3 "$here/table.py" speed "$work"
    ;;
*)
    sed -n '2,25p' "$0" >&2
    exit 2
    ;;
esac
