#!/usr/bin/env bash
# Sourced by the comparison wrappers: run_in_venv NAME VENV PACKAGES SCRIPT [ARGS...] creates the
# virtual environment VENV on first use with PACKAGES (a space-separated pip list) from PyPI,
# then replaces the shell with SCRIPT run by its Python. NAME prefixes the one message.
run_in_venv() {
    local name=$1 venv=$2 packages=$3 script=$4
    shift 4
    if [ ! -x "$venv/bin/python" ]; then
        echo "$name: creating $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip
        # shellcheck disable=SC2086 # the list is meant to split
        "$venv/bin/pip" install --quiet $packages
    fi
    exec "$venv/bin/python" "$script" "$@"
}
