#!/usr/bin/env bash
# Builds what scripts/gpu-check.sh runs on a GPU machine that has no Rust toolchain: the
# stripped binary, the stripped library test binary (for the tests that need a GPU), and the
# shared libraries they need besides libc, libstdc++, libgcc and the CUDA libraries there
# (OpenBLAS, LAPACK, gfortran, quadmath, gomp), as one xz-compressed tarball (default
# gpu-bundle.tar.xz, git-ignored: about 12 MB, 64 MB unpacked, most of it OpenBLAS's kernels).
#
# Usage: scripts/gpu-bundle.sh [OUT.tar.xz]
set -euo pipefail
cd "$(dirname "$0")/.."
tarball=$(realpath -m "${1:-gpu-bundle.tar.xz}")
target=${CARGO_TARGET_DIR:-target}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
echo "gpu-bundle: building (release)" >&2
cargo build --release --locked --quiet
testbin=$(cargo test --release --locked --lib --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m["target"]["kind"] == ["lib"]:
        print(m["executable"])' | tail -n 1)
[ -n "$testbin" ] || { echo "gpu-bundle: no library test binary found" >&2; exit 1; }
mkdir -p "$dir/lib"
strip -o "$dir/face-cluster" "$target/release/face-cluster"
strip -o "$dir/face-cluster-tests" "$testbin"
# Every library the binaries need, resolved here, except those any Linux with a GPU driver has.
for lib in $(ldd "$dir/face-cluster" "$dir/face-cluster-tests" | awk '/=> \//{print $3}' | sort -u); do
    case "$(basename "$lib")" in
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libgcc_s.so.*|libstdc++.so.*) ;;
        *) cp -L "$lib" "$dir/lib/" ;;
    esac
done
du -sh "$dir" >&2
ls -l "$dir" "$dir/lib" >&2
tar -C "$dir" -cJf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
ls -l "$tarball" >&2
