#!/usr/bin/env bash
# Runs bench/compare/pipeline_compare.py in its own virtual environment, bench/compare/.venv
# (git-ignored), created on first use with the seed's stack from PyPI: faiss-cpu, infomap,
# numpy and scikit-learn. Arguments go to the script (see its --help). Set VENV to use another
# environment; build face-cluster first (cargo build --release).
#
# On a shared machine, run it alone: it times CPU-heavy work (exact k-NN search on both sides).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/venv.sh"
# infomap is pinned to the version of the codelength oracle (tests/data/oracle/).
run_in_venv pipeline_compare "${VENV:-$here/.venv}" "faiss-cpu infomap==2.16.0 numpy scikit-learn" "$here/pipeline_compare.py" "$@"
