#!/usr/bin/env bash
# One command from a fresh Debian machine to clustered faces: installs the build dependencies,
# builds face-cluster (the first build compiles faiss: several minutes), and clusters the shipped
# ORL faces (400 photos of 40 people) with their ground truth. Labels and the JSON report go
# to out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo build --release --locked
mkdir -p out
cargo run --release --locked --quiet -- --k 50 --min-sim 0.94 data/att-orl/feats.npy \
    --labels data/att-orl/labels.meta -o out/att-orl.labels --report out/att-orl.report.json
echo "labels: out/att-orl.labels, report: out/att-orl.report.json" >&2
