#!/usr/bin/env bash
# Runs bench/compare/knn_peers.py in its own virtual environment, bench/compare/.venv-knn
# (git-ignored), created on first use with the k-NN libraries from PyPI: faiss-cpu, hnswlib,
# usearch and numpy. Arguments go to the script (see its --help); it writes
# bench/out/knn_peers/table.md. Set VENV to use another environment; build face-cluster first
# (cargo build --release).
#
# On a shared machine, run it alone (flock /tmp/face-cluster-bench.lock bash ...): it times
# CPU-heavy work on all cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/venv.sh"
run_in_venv knn_peers "${VENV:-$here/.venv-knn}" "faiss-cpu hnswlib usearch numpy" "$here/knn_peers.py" "$@"
