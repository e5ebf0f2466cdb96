//! The CUDA source of the three kernels, compiled at run time by NVRTC.
//!
//! The kernels are the parallel form of [`super::model`]: `fc_select_tile` is
//! [`super::model::select_row`] run by one thread block per query row, `fc_finalize` is
//! [`super::model::finalize_row`], and `sort_buffer` is [`super::model::bitonic_sort`]. The
//! numbers they share (`THREADS`, `PER_THREAD`, `CAP`, `MAX_D`) are written into the source from
//! the model's constants, so the two cannot drift apart in size; their logic must be kept in
//! step by hand, and the model's tests are the kernels' tests.
//!
//! Every kernel is launched with `THREADS` threads per block and one block per query row of
//! the current block, and uses static shared memory only (16 KiB each).

use super::model::{CAP, MAX_D, PER_THREAD, THREADS};

/// Name of the selection kernel.
pub(crate) const SELECT: &str = "fc_select_tile";
/// Name of the re-scoring kernel.
pub(crate) const RESCORE: &str = "fc_rescore";
/// Name of the screen's finalize kernel.
pub(crate) const FINALIZE: &str = "fc_finalize";

/// The kernels' body; the `#define`s come first (see [`source`]).
const BODY: &str = r#"
#define CHUNK (THREADS * PER_THREAD)
#define NONE_ID 0xffffffffu

__device__ __forceinline__ float neg_inf() { return __int_as_float(0xff800000); }

// (sa, ia) ranks before (sb, ib): larger similarity first, then smaller id (model: ranks_before).
__device__ __forceinline__ bool ranks_before(float sa, unsigned ia, float sb, unsigned ib) {
    return sa > sb || (sa == sb && ia < ib);
}

// Sorts s/id[0 .. c) best first (model: bitonic_sort). Pads [c, p) with (-inf, NONE), p the
// next power of two (p <= CAP as c <= CAP). Called by all threads of the block; ends with a
// barrier, so the sorted buffer is visible to every thread on return.
__device__ void sort_buffer(float* s, unsigned* id, int c) {
    int p = 1;
    while (p < c) p <<= 1;
    for (int i = c + threadIdx.x; i < p; i += THREADS) { s[i] = neg_inf(); id[i] = NONE_ID; }
    __syncthreads();
    for (int k = 2; k <= p; k <<= 1) {
        for (int j = k >> 1; j > 0; j >>= 1) {
            // The pairs (i, i ^ j) of one stage are disjoint: one thread per pair.
            for (int i = threadIdx.x; i < p; i += THREADS) {
                int l = i ^ j;
                if (l > i) {
                    float si = s[i], sl = s[l];
                    unsigned ii = id[i], il = id[l];
                    bool best_first = (i & k) == 0;
                    bool swap = best_first ? ranks_before(sl, il, si, ii) : ranks_before(si, ii, sl, il);
                    if (swap) { s[i] = sl; s[l] = si; id[i] = il; id[l] = ii; }
                }
            }
            __syncthreads();
        }
    }
}

// Merges one tile of similarities into each query row's best w (model: select_row).
//   tile:   rows x cols similarities, row-major with leading dimension ld; column c is base
//           row col0 + c. One block per row (gridDim.x = rows).
//   best_s, best_id: rows x w state, best first, valid entries a prefix, (-inf, NONE) after.
//   first:  nonzero for the first base tile (the state is not read).
extern "C" __global__ void __launch_bounds__(THREADS) fc_select_tile(
    const float* __restrict__ tile, long long ld, int cols, unsigned col0,
    float* __restrict__ best_s, unsigned* __restrict__ best_id, int w, int first)
{
    __shared__ float buf_s[CAP];
    __shared__ unsigned buf_id[CAP];
    __shared__ int count;
    __shared__ float thr;
    const int t = threadIdx.x;
    const long long row = blockIdx.x;
    const float* src = tile + row * ld;
    float* st_s = best_s + row * (long long)w;
    unsigned* st_id = best_id + row * (long long)w;

    // 1. The state's valid prefix into the buffer; count = its length.
    if (t == 0) count = 0;
    __syncthreads();
    if (!first) {
        for (int i = t; i < w; i += THREADS) {
            unsigned id = st_id[i];
            buf_s[i] = st_s[i];
            buf_id[i] = id;
            // Exactly one slot is the last valid one (if any).
            if (id != NONE_ID && (i + 1 == w || st_id[i + 1] == NONE_ID)) count = i + 1;
        }
    }
    __syncthreads();
    if (t == 0) thr = (count == w) ? buf_s[w - 1] : neg_inf();

    // 2. Scan the row in chunks of CHUNK columns.
    for (int c0 = 0; c0 < cols; c0 += CHUNK) {
        __syncthreads();                // the previous chunk's appends (and thr) are done
        int cnt = count;
        // The second barrier orders every thread's read of count before any append below;
        // the decision is block-uniform.
        if (__syncthreads_or(cnt + CHUNK > CAP)) {
            // cnt > CAP - CHUNK >= w: keep the best w, raise the threshold.
            sort_buffer(buf_s, buf_id, cnt);
            if (t == 0) { count = w; thr = buf_s[w - 1]; }
            __syncthreads();
        }
        const float tv = thr;
        float v[PER_THREAD];
#pragma unroll
        for (int e = 0; e < PER_THREAD; ++e) {
            int c = c0 + e * THREADS + t;     // coalesced: consecutive threads, consecutive columns
            v[e] = c < cols ? src[c] : neg_inf();
        }
#pragma unroll
        for (int e = 0; e < PER_THREAD; ++e) {
            if (v[e] > tv) {                  // strict: an equal similarity has a larger id
                int pos = atomicAdd(&count, 1);
                buf_s[pos] = v[e];
                buf_id[pos] = col0 + (unsigned)(c0 + e * THREADS + t);
            }
        }
    }

    // 3. Sort, and write the best w back (padded).
    __syncthreads();
    const int c = count;
    sort_buffer(buf_s, buf_id, c);
    for (int i = t; i < w; i += THREADS) {
        if (i < c) { st_s[i] = buf_s[i]; st_id[i] = buf_id[i]; }
        else { st_s[i] = neg_inf(); st_id[i] = NONE_ID; }
    }
}

// FP32 re-score of the candidates whose ids fall in the base block [b0, b0 + blen):
//   r[row][j] = dot(xq[row], xb[cand_id[row][j] - b0]), for each candidate in the block.
// One block per query row; one warp per candidate; each lane sums a fixed stride of the
// coordinates with fused multiply-adds, then a fixed butterfly adds the lanes: the order of the
// sum depends on d alone.
extern "C" __global__ void __launch_bounds__(THREADS) fc_rescore(
    const float* __restrict__ xq, const float* __restrict__ xb, int d, unsigned b0, unsigned blen,
    const unsigned* __restrict__ cand_id, float* __restrict__ r, int w)
{
    __shared__ float q[MAX_D];
    const long long row = blockIdx.x;
    for (int i = threadIdx.x; i < d; i += THREADS) q[i] = xq[row * d + i];
    __syncthreads();
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    for (int j = warp; j < w; j += THREADS / 32) {
        const unsigned id = cand_id[row * w + j];
        if (id == NONE_ID || id < b0 || id - b0 >= blen) continue;   // uniform across the warp
        const float* x = xb + (long long)(id - b0) * d;
        float acc = 0.0f;
        for (int i = lane; i < d; i += 32) acc = fmaf(q[i], x[i], acc);
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off);
        if (lane == 0) r[row * w + j] = acc;
    }
}

// The screen's last step for each query row (model: finalize_row): ranks the w candidates by
// their re-scored similarity r, writes the best m to out_s/out_id, and accepted[row] = 1 when
// !check, or when the m-th re-scored similarity > (lowest screened similarity) + eps.
extern "C" __global__ void __launch_bounds__(THREADS) fc_finalize(
    const float* __restrict__ scr_s, const unsigned* __restrict__ cand_id, const float* __restrict__ r,
    int w, int m, int check, float eps,
    float* __restrict__ out_s, unsigned* __restrict__ out_id, unsigned* __restrict__ accepted)
{
    __shared__ float buf_s[CAP];
    __shared__ unsigned buf_id[CAP];
    const int t = threadIdx.x;
    const long long row = blockIdx.x;
    for (int i = t; i < w; i += THREADS) {
        const unsigned id = cand_id[row * w + i];
        buf_id[i] = id;
        buf_s[i] = id == NONE_ID ? neg_inf() : r[row * w + i];
    }
    sort_buffer(buf_s, buf_id, w);     // its first barrier also publishes the loads above
    for (int i = t; i < m; i += THREADS) {
        out_s[row * m + i] = buf_s[i];
        out_id[row * m + i] = buf_id[i];
    }
    if (t == 0) {
        bool ok = true;
        if (check && cand_id[row * w + w - 1] != NONE_ID) {
            const float lowest = scr_s[row * w + w - 1];
            ok = buf_s[m - 1] > lowest + eps;
        }
        accepted[row] = ok ? 1u : 0u;
    }
}
"#;

/// The complete source: the shared constants as `#define`s, then the kernels.
pub(crate) fn source() -> String {
    format!(
        "#define THREADS {THREADS}\n#define PER_THREAD {PER_THREAD}\n#define CAP {CAP}\n#define MAX_D {MAX_D}\n{BODY}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_defines_the_model_constants_and_names_the_kernels() {
        let src = source();
        assert!(src.starts_with("#define THREADS 256\n#define PER_THREAD 4\n#define CAP 2048\n#define MAX_D 4096\n"));
        for name in [SELECT, RESCORE, FINALIZE] {
            assert!(src.contains(&format!("void __launch_bounds__(THREADS) {name}(")), "{name}");
        }
        // MAX_W = CAP - CHUNK: a compacted buffer plus one chunk fits.
        assert_eq!(super::super::model::MAX_W + PER_THREAD * THREADS, CAP);
    }

    /// The launchers in `ffi.rs` push arguments of the kernels' parameter types, in order.
    #[test]
    fn the_launchers_match_the_kernel_signatures() {
        let src = source();
        for (name, args) in super::super::ffi::LAUNCH_ARGS {
            let start = src.find(&format!("{name}(")).unwrap() + name.len() + 1;
            let params = &src[start..start + src[start..].find(')').unwrap()];
            let types: Vec<&str> = params
                .split(',')
                .map(|p| {
                    let p = p.trim();
                    if p.contains('*') {
                        "u64"
                    } else if p.starts_with("long long") {
                        "i64"
                    } else if p.starts_with("unsigned") {
                        "u32"
                    } else if p.starts_with("int") {
                        "i32"
                    } else if p.starts_with("float") {
                        "f32"
                    } else {
                        panic!("{name}: unexpected parameter {p}")
                    }
                })
                .collect();
            assert_eq!(types, args, "{name}");
        }
    }

    /// Compiles the kernels with the NVRTC found on the loader's path, to cubins for sm_80 and
    /// sm_90 (with ptxas's register and shared-memory report) and to PTX. Needs no GPU, only
    /// `libnvrtc.so.13` or `.12`: `pip install nvidia-cuda-nvrtc` and point `LD_LIBRARY_PATH` at
    /// its `nvidia/cu13/lib`.
    #[test]
    #[ignore = "needs libnvrtc on LD_LIBRARY_PATH"]
    fn nvrtc_compiles_the_kernels() {
        use super::super::ffi;
        assert!(ffi::libraries_present().2, "libnvrtc not found: set LD_LIBRARY_PATH");
        let (major, minor) = ffi::nvrtc_version().unwrap();
        let archs = ffi::nvrtc_supported_archs().unwrap();
        println!("NVRTC {major}.{minor}, architectures {archs:?}");
        let src = source();
        for arch in [80, 90] {
            let opts = vec![format!("--gpu-architecture=sm_{arch}"), "--ptxas-options=-v".to_string()];
            let (cubin, log) = ffi::nvrtc_compile(&src, &opts, true).unwrap_or_else(|e| panic!("sm_{arch}: {e}"));
            assert_eq!(&cubin[..4], b"\x7fELF", "a cubin is an ELF image");
            println!("sm_{arch}: cubin of {} bytes\n{}", cubin.len(), log.trim());
            assert!(!log.contains("spill stores") || log.contains("0 bytes spill stores"), "{log}");
            for name in [SELECT, RESCORE, FINALIZE] {
                assert!(cubin.windows(name.len()).any(|w| w == name.as_bytes()), "{name} in the cubin");
            }
        }
        let opts = vec!["--gpu-architecture=compute_90".to_string()];
        let (ptx, _) = ffi::nvrtc_compile(&src, &opts, false).unwrap();
        let ptx = String::from_utf8(ptx).unwrap();
        assert!(ptx.contains(".entry fc_select_tile") && !ptx.contains('\0'));
    }
}
