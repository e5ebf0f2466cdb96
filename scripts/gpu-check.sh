#!/usr/bin/env bash
# The GPU check: one prepared run on a machine with an NVIDIA GPU (the project's check machine:
# an H200, driver 580 / CUDA 13, 16 cores, no network, no Rust). It
#
#   1. prints the device and the CUDA libraries found, and puts them on the loader's path;
#   2. runs the tests that need a GPU (`gpu_device_*` and the NVRTC compile check) from the
#      library's test binary;
#   3. generates synthetic 100K, 584K and 1M x 256 sets with `face-cluster synth`;
#   4. runs the main job (k 50, min_sim 0.58) with --device gpu (TF32 screen on, and off at
#      584K) and --device cpu (the default index), all with -j 16, each timed by its report
#      (the k-NN stage and end to end, peak RSS, GPU memory);
#   5. compares the GPU labels at 100K with --device cpu --index Flat (exact) byte for byte;
#   6. writes every figure into one JSON.
#
# It prints its progress, stops starting new runs after 300 s, and needs well under 6 minutes.
# GPU_CHECK_SIZES="20000 30000 40000" runs the same steps on smaller sets (a smoke test of the
# script on any machine; without a GPU the GPU runs fail and say why).
#
# Usage: scripts/gpu-check.sh BUNDLE OUT
#   BUNDLE: the tarball scripts/gpu-bundle.sh makes here (binary, test binary, libraries), or
#           a folder it was unpacked into;
#   OUT:    a folder for gpu-check.json, the logs and the reports.
set -uo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 BUNDLE OUT" >&2
    exit 2
fi
out=$(mkdir -p "$2" && cd "$2" && pwd)
work=${GPU_CHECK_WORK:-/tmp/face-cluster-gpu-check}
if [ -f "$1" ]; then
    bundle="$work/bundle"
    mkdir -p "$bundle" && tar -C "$bundle" -xJf "$1" || { echo "gpu-check: cannot unpack $1" >&2; exit 1; }
else
    bundle=$(cd "$1" && pwd)
fi
threads=${GPU_CHECK_THREADS:-16}
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
say() { echo "gpu-check [$(elapsed)s]: $*" >&2; }
mkdir -p "$work"
read -r n1 n2 n3 <<< "${GPU_CHECK_SIZES:-100000 584000 1000000}"

# 1. Libraries: the bundle's, then CUDA's (pip wheels, the toolkit, the driver's folder).
dirs=("$bundle/lib")
for sp in $(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null || true); do
    for d in "$sp"/nvidia/cu13/lib "$sp"/nvidia/*/lib; do
        [ -d "$d" ] && dirs+=("$d")
    done
done
for d in /usr/local/cuda/lib64 /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
    [ -d "$d" ] && dirs+=("$d")
done
LD_LIBRARY_PATH=$(IFS=:; echo "${dirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
fc="$bundle/face-cluster"
say "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader >&2 || true
for name in libcuda.so.1 libcublas.so.13 libcublasLt.so.13 libnvrtc.so.13 libcublas.so.12 libnvrtc.so.12; do
    found=$(for d in "${dirs[@]}" /usr/lib/x86_64-linux-gnu /usr/lib64; do [ -e "$d/$name" ] && echo "$d/$name"; done | head -n 1)
    say "library $name: ${found:-not found}"
done
nproc >&2
ldd "$fc" | grep -i "not found" >&2 && say "the binary misses libraries above"

# 2. The tests that need a GPU.
say "GPU tests"
timeout 240 "$bundle/face-cluster-tests" --ignored --test-threads=1 nvrtc_compiles_the_kernels gpu_device_ \
    > "$out/tests.log" 2>&1
tests_status=$?
grep -E "^test |test result" "$out/tests.log" >&2
say "GPU tests exit status $tests_status"

# 3. Data.
for n in $n1 $n2 $n3; do
    if [ ! -e "$work/synth-$n/feats.npy" ]; then
        say "synth $n x 256"
        "$fc" synth --n "$n" --dim 256 --seed 1 -o "$work/synth-$n" -q -j "$threads" || say "synth $n failed"
    fi
done

# 4. and 5. Runs: name, rows, then the options. Each writes its report and labels.
run() {
    local name=$1 n=$2
    shift 2
    if [ "$(elapsed)" -gt 300 ]; then
        say "skipping $name: time is up"
        return
    fi
    say "run $name"
    local data="$work/synth-$n"
    timeout 150 "$fc" "$data/feats.npy" --k 50 --min-sim 0.58 --labels "$data/labels.meta" -j "$threads" \
        -o "$work/$name.labels" --report "$work/$name.json" "$@" 2> "$work/$name.err"
    echo $? > "$work/$name.status"
    tail -n 4 "$work/$name.err" >&2
}
run gpu-100k $n1 --device gpu
run cpu-flat-100k $n1 --device cpu --index Flat
run cpu-100k $n1 --device cpu
run gpu-584k $n2 --device gpu
run gpu-584k-fp32 $n2 --device gpu --gpu-screen off
run gpu-1m $n3 --device gpu
run cpu-584k $n2 --device cpu
run cpu-1m $n3 --device cpu
if cmp -s "$work/gpu-100k.labels" "$work/cpu-flat-100k.labels"; then same=true; else same=false; fi
say "GPU labels at 100K identical to --device cpu --index Flat: $same"

# 6. One JSON.
python3 - "$work" "$out/gpu-check.json" "$tests_status" "$same" "$(elapsed)" <<'PY'
import json, os, re, sys
work, path, tests_status, same, secs = sys.argv[1:6]
runs = {}
for name in ["gpu-100k", "cpu-flat-100k", "cpu-100k", "gpu-584k", "gpu-584k-fp32", "gpu-1m", "cpu-584k", "cpu-1m"]:
    r = {"status": None}
    try:
        r["status"] = int(open(os.path.join(work, name + ".status")).read())
    except OSError:
        r["status"] = "not run"
    try:
        rep = json.load(open(os.path.join(work, name + ".json")))
        t = rep["timings_secs"]
        r.update({
            "knn_secs": t["knn"], "total_secs": t["total"], "load_secs": t["load"], "infomap_secs": t["infomap"],
            "peak_rss_bytes": rep["peak_rss_bytes"], "index": rep["params"]["index"],
            "threads": rep["params"]["threads"], "device": rep.get("device"),
            "pairwise_f": rep["eval"]["pairwise"]["f"], "bcubed_f": rep["eval"]["bcubed"]["f"],
            "clusters": rep["clusters"], "blas_core": rep.get("blas_core"),
        })
    except (OSError, KeyError, ValueError) as e:
        r["report_error"] = str(e)
        try:
            r["stderr_tail"] = open(os.path.join(work, name + ".err")).read()[-2000:]
        except OSError:
            pass
    runs[name] = r
tests = open(os.path.join(os.path.dirname(path), "tests.log")).read()
summary = {
    "gpu_tests_exit_status": int(tests_status),
    "gpu_tests": re.findall(r"^test (\S+) \.\.\. (\w+)", tests, re.M),
    "gpu_labels_identical_to_cpu_flat_at_100k": same == "true",
    "check_secs": int(secs),
    "runs": runs,
}
json.dump(summary, open(path, "w"), indent=1)
for name, r in runs.items():
    print(f"{name:15} status {r.get('status')!s:8} knn {r.get('knn_secs', float('nan')):8.2f}s total "
          f"{r.get('total_secs', float('nan')):8.2f}s F {r.get('pairwise_f', float('nan')):.4f}", file=sys.stderr)
PY
for name in gpu-100k gpu-584k cpu-584k; do
    [ -e "$work/$name.json" ] && cp "$work/$name.json" "$out/$name.json"
done
say "done: $out/gpu-check.json"
