#!/usr/bin/env bash
# Runs the tests of src/gpu that need a GPU (the `gpu_device_` tests) and the NVRTC compile check,
# from the library's unit-test binary, on a machine with an NVIDIA GPU. The CUDA libraries are
# loaded at run time: this puts those of pip wheels (site-packages/nvidia/cu13/lib, or
# nvidia/*/lib for CUDA 12 wheels) and /usr/local/cuda/lib64 on the loader's path.
#
# Usage: scripts/gpu-device-check.sh TESTBIN [more libtest arguments]
#   TESTBIN: the binary `cargo test --release --lib --no-run` builds
#            (target/release/deps/face_cluster-HASH); it needs no Rust toolchain to run.
# FC_GPU_BENCH_ROWS sets the rows of the timing test (default 200000).
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 TESTBIN [libtest arguments]" >&2
    exit 2
fi
bin=$1
shift
dirs=()
for sp in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true); do
    for d in "$sp"/nvidia/cu13/lib "$sp"/nvidia/*/lib; do
        if [ -d "$d" ] && [[ " ${dirs[*]-} " != *" $d "* ]]; then
            dirs+=("$d")
        fi
    done
done
if [ -d /usr/local/cuda/lib64 ]; then
    dirs+=(/usr/local/cuda/lib64)
fi
if [ ${#dirs[@]} -gt 0 ]; then
    joined=$(IFS=:; echo "${dirs[*]}")
    export LD_LIBRARY_PATH="$joined${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
echo "gpu-device-check: LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}" >&2
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
# One test at a time: they share the GPU, and the timing test should have it alone.
exec "$bin" --ignored --test-threads=1 --nocapture nvrtc_compiles_the_kernels gpu_device_ "$@"
