#!/usr/bin/env bash
# The sweeps behind docs/quality-issue9.md: every data set over thresholds, strategies, rules for rows
# left alone, and k, each with a cell at the automatic threshold.
#
# Usage: bench/quality/run.sh BIN OUT [DATASET...]
#   BIN      the face-cluster binary
#   OUT      folder for the JSON results (one file per sweep: DATASET-{seed,strategies,lonely,k,...}.json)
#   DATASET  att-orl, lfw-a (from data/), synth-20000, synth-100000, synth-584000 (default: all)
#
# The synthetic sets are read from $DATA (required), one folder each,
# made with `face-cluster synth --n N --dim 256 --seed 1 -o $DATA/synth-N`. Each data set's exact
# k-NN table (k = 256; the first k slots serve every smaller k) is $DATA/NAME/knn-flat-k256.npz,
# computed with `face-cluster knn FEATS -k 256 -o ...` when missing (about 30 minutes for 584K
# rows on two cores). On two shared cores the sweeps took about 1 minute for att-orl, lfw-a and
# synth-20000 together, 5 for synth-100000 and 10 for synth-584000; run them alone on the machine.
set -euo pipefail
BIN=$1
OUT=$2
shift 2
DATA=${DATA:?set DATA to the folder of the synthetic sets}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$OUT"
datasets=("$@")
[ ${#datasets[@]} -gt 0 ] || datasets=(att-orl lfw-a synth-20000 synth-100000 synth-584000)

for name in "${datasets[@]}"; do
    case $name in
        att-orl | lfw-a) feats=$REPO/data/$name/feats.npy labels=$REPO/data/$name/labels.meta ;;
        *) feats=$DATA/$name/feats.npy labels=$DATA/$name/labels.meta ;;
    esac
    knn=$DATA/$name/knn-flat-k256.npz
    if [ ! -e "$knn" ]; then
        mkdir -p "$DATA/$name"
        "$BIN" knn "$feats" -k 256 -o "$knn"
    fi
    # Threshold grids around each set's useful range, plus the seed's 0.58.
    case $name in
        att-orl) grid=0.58,0.90:0.97:0.005 near=0.94,0.95 ;;
        lfw-a) grid=0.58,0.92:0.97:0.0025 near=0.945,0.95 ;;
        synth-584000) grid=0.46:0.62:0.02 near=0.48,0.52 ;;
        *) grid=0.40:0.64:0.02 near=0.44,0.48,0.52,0.56 ;;
    esac
    sweep() { "$BIN" sweep --knn "$knn" --labels "$labels" -q --json "$@"; }
    sweep --k 50 --min-sim "$grid,auto" > "$OUT/$name-seed.json"
    if [ "$name" = synth-584000 ]; then
        # The full strategy grid is too slow at this size: the combinations that matter.
        sweep --k 50 --min-sim 0.44,0.48,0.52,auto --edges adaptive --weights sim,normalized --flow undirected \
            > "$OUT/$name-adaptive.json"
        sweep --k 50 --min-sim 0.52,auto --edges snn > "$OUT/$name-snn.json"
        sweep --k 50 --min-sim 0.52,auto --weights normalized --flow undirected > "$OUT/$name-normalized.json"
        sweep --k 50 --min-sim auto --lonely infomap,attach > "$OUT/$name-lonely.json"
        sweep --k 20,30,80 --min-sim 0.48,0.52,0.56,auto > "$OUT/$name-k.json"
        sweep --k 20,80 --min-sim auto --edges threshold,adaptive --flow undirected > "$OUT/$name-adaptive-k.json"
    else
        sweep --k 50 --min-sim "$near,auto" --edges threshold,adaptive,snn --weights sim,normalized \
            --flow directed,undirected > "$OUT/$name-strategies.json"
        sweep --k 50 --min-sim "$near,auto" --lonely own,infomap,attach > "$OUT/$name-lonely.json"
        sweep --k 10,20,30,80,256 --min-sim "$near,auto" > "$OUT/$name-k.json"
        # Does the per-row cut need a larger k where identities are large?
        sweep --k 50,80,256 --min-sim auto --edges threshold,adaptive --flow undirected > "$OUT/$name-adaptive-k.json"
    fi
done
