#!/usr/bin/env bash
# Runs bench/compare/pipeline_compare.py in its own virtual environment, bench/compare/.venv
# (git-ignored), created on first use with the seed's stack from PyPI: faiss-cpu, infomap,
# numpy and scikit-learn. Arguments go to the script (see its --help). Set VENV to use another
# environment; build face-cluster first (cargo build --release).
#
# On a shared machine, run it alone: it times CPU-heavy work (exact k-NN search on both sides).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
    echo "pipeline_compare: creating $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    # infomap is pinned to the version of the codelength oracle (tests/data/oracle/).
    "$venv/bin/pip" install --quiet faiss-cpu infomap==2.16.0 numpy scikit-learn
fi
exec "$venv/bin/python" "$here/pipeline_compare.py" "$@"
