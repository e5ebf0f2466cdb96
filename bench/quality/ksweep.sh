#!/usr/bin/env bash
# The seed's graph over k and min_sim on a cached exact table: sweeps/NAME-k.json
# Usage: ksweep.sh DATA_DIR NAME GRID [KLIST]
set -euo pipefail
D=$1 NAME=$2 GRID=$3 KS=${4:-30,50,100,160,256}
BIN=${FACE_CLUSTER:-${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/target}/release/face-cluster}
mkdir -p "$D/sweeps"
nice -n 10 "$BIN" sweep --knn "$D/$NAME/knn256.npz" --labels "$D/$NAME/labels.meta" --k "$KS" --min-sim "$GRID,auto" -q --json > "$D/sweeps/$NAME-k.json"
