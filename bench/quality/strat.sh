#!/usr/bin/env bash
# The existing strategies at one k over a threshold grid: sweeps/NAME-strat-kK.json
# Usage: strat.sh DATA_DIR NAME K GRID
set -euo pipefail
D=$1 NAME=$2 K=$3 GRID=$4
BIN=${FACE_CLUSTER:-${CARGO_TARGET_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/target}/release/face-cluster}
nice -n 10 "$BIN" sweep --knn "$D/$NAME/knn256.npz" --labels "$D/$NAME/labels.meta" --k "$K" --min-sim "$GRID" \
  --edges threshold,adaptive,snn --weights sim,normalized --flow directed,undirected -q --json > "$D/sweeps/$NAME-strat-k$K.json"
