#!/usr/bin/env bash
# Installs the system packages the build needs (Debian/Ubuntu): cmake and g++ build the vendored
# faiss, OpenBLAS and LAPACK are what it links. Packages already present are skipped, so on a
# prepared machine this does nothing. Needs root or sudo when something is missing.
set -euo pipefail

missing=()
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
for pkg in libopenblas-dev liblapack-dev; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: cargo not found; install Rust first (https://rustup.rs)" >&2
    exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
