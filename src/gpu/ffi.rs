//! Every `unsafe` call of the GPU path, each in a small function that states its invariants.
//!
//! The crate denies `unsafe_code`; the functions here opt out one by one. They are the calls
//! cudarc leaves `unsafe`: library probes (dlopen), raw driver/NVRTC/cuBLAS functions, and
//! kernel launches, whose argument lists the compiler cannot check against the CUDA source.

use std::ffi::{c_char, c_int, CString};
use std::sync::Arc;

use cudarc::cublas::{result as blas_result, sys as blas_sys, CudaBlas};
use cudarc::driver::{sys as drv_sys, CudaFunction, CudaStream, DriverError, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{result as rtc_result, sys as rtc_sys};

use super::model::THREADS;
use super::search::Precision;

/// Which of the three libraries can be loaded: (driver, cuBLAS, NVRTC).
#[allow(unsafe_code)]
pub(super) fn libraries_present() -> (bool, bool, bool) {
    // SAFETY: each probe dlopens the candidate names and closes them again; loading runs the
    // libraries' initialisers, as using them would. Nothing is called through them.
    unsafe { (drv_sys::is_culib_present(), blas_sys::is_culib_present(), rtc_sys::is_culib_present()) }
}

/// `cuDriverGetVersion`: the CUDA version the driver supports, as `1000 * major + 10 * minor`.
/// Needs no `cuInit`. Call only once [`libraries_present`] found the driver.
#[allow(unsafe_code)]
pub(super) fn driver_version() -> Result<i32, DriverError> {
    let mut v: c_int = 0;
    // SAFETY: writes one int through a valid pointer.
    unsafe { drv_sys::cuDriverGetVersion(&mut v) }.result()?;
    Ok(v)
}

/// `nvrtcVersion`: (major, minor). Call only once [`libraries_present`] found NVRTC.
#[allow(unsafe_code)]
pub(super) fn nvrtc_version() -> Result<(i32, i32), rtc_result::NvrtcError> {
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: writes two ints through valid pointers.
    unsafe { rtc_sys::nvrtcVersion(&mut major, &mut minor) }.result()?;
    Ok((major, minor))
}

/// `nvrtcGetSupportedArchs`: the `sm_XY` numbers (`10 X + Y`) this NVRTC can compile for.
#[allow(unsafe_code)]
pub(super) fn nvrtc_supported_archs() -> Result<Vec<i32>, rtc_result::NvrtcError> {
    let mut count: c_int = 0;
    // SAFETY: writes one int.
    unsafe { rtc_sys::nvrtcGetNumSupportedArchs(&mut count) }.result()?;
    let mut archs = vec![0 as c_int; count.max(0) as usize];
    // SAFETY: `archs` holds the `count` ints the call writes.
    unsafe { rtc_sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) }.result()?;
    Ok(archs)
}

/// Compiles `src` with NVRTC and the options `opts`; returns the cubin (`cubin`, for an
/// `-arch=sm_XY` compile) or the NUL-free PTX text's bytes, with NVRTC's log. The error is the
/// one-line reason (NVRTC's status and the first lines of its log).
#[allow(unsafe_code)]
pub(super) fn nvrtc_compile(src: &str, opts: &[String], cubin: bool) -> Result<(Vec<u8>, String), String> {
    let c_src = CString::new(src).map_err(|_| "source contains a NUL byte".to_string())?;
    let name = c"face_cluster_knn.cu";
    let prog = rtc_result::create_program(&c_src, Some(name)).map_err(|e| format!("nvrtcCreateProgram: {e}"))?;
    // SAFETY: `prog` was just created and is destroyed once, below; `c_src` and `name` outlive
    // it. The getters write exactly the sizes NVRTC reported into buffers of that size.
    let result = unsafe {
        match rtc_result::compile_program(prog, opts) {
            Err(e) => {
                let log = rtc_result::get_program_log(prog).map(|l| c_chars_to_string(&l)).unwrap_or_default();
                Err(format!("{e}: {}", one_line(&log)))
            }
            Ok(()) if cubin => {
                let mut size = 0usize;
                match rtc_sys::nvrtcGetCUBINSize(prog, &mut size).result() {
                    Err(e) => Err(format!("nvrtcGetCUBINSize: {e}")),
                    Ok(()) => {
                        let mut bin = vec![0u8; size];
                        rtc_sys::nvrtcGetCUBIN(prog, bin.as_mut_ptr() as *mut c_char)
                            .result()
                            .map(|()| bin)
                            .map_err(|e| format!("nvrtcGetCUBIN: {e}"))
                    }
                }
            }
            Ok(()) => rtc_result::get_ptx(prog)
                .map(|p| c_chars_to_string(&p).into_bytes())
                .map_err(|e| format!("nvrtcGetPTX: {e}")),
        }
    };
    // SAFETY: as above; the log is read before the program is destroyed.
    let log = unsafe { rtc_result::get_program_log(prog) }.map(|l| c_chars_to_string(&l)).unwrap_or_default();
    // SAFETY: `prog` is live and destroyed only here.
    let _ = unsafe { rtc_result::destroy_program(prog) };
    result.map(|bin| (bin, log))
}

/// The text of a NUL-terminated C char buffer.
fn c_chars_to_string(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The first few non-empty lines of a log, joined on one line.
pub(super) fn one_line(log: &str) -> String {
    let mut s = log.lines().map(str::trim).filter(|l| !l.is_empty()).take(4).collect::<Vec<_>>().join("; ");
    if s.len() > 400 {
        let mut cut = 400;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str(" ...");
    }
    s
}

/// `cublasGetVersion`: e.g. 130000 for 13.0.0.
#[allow(unsafe_code)]
pub(super) fn cublas_version(blas: &CudaBlas) -> Option<i32> {
    let mut v: c_int = 0;
    // SAFETY: the handle is live (owned by `blas`); writes one int.
    unsafe { blas_sys::cublasGetVersion_v2(*blas.handle(), &mut v) }.result().ok().map(|()| v)
}

/// Sets the handle's math mode to `CUBLAS_DEFAULT_MATH`: `cublasSgemm` then never uses TF32.
/// The screen asks for TF32 per call, through its compute type.
#[allow(unsafe_code)]
pub(super) fn cublas_default_math(blas: &CudaBlas) -> Result<(), blas_result::CublasError> {
    // SAFETY: the handle is live (owned by `blas`).
    unsafe { blas_sys::cublasSetMathMode(*blas.handle(), blas_sys::cublasMath_t::CUBLAS_DEFAULT_MATH) }.result()
}

/// The similarity tile `S = Xq · Xbᵀ`, row-major `q × len` with leading dimension `len`.
///
/// cuBLAS is column-major: the row-major `len × d` base block is the column-major `d × len`
/// matrix `Xbᵀ` (leading dimension `d`), and likewise the query block is `Xqᵀ` (`d × q`). The
/// column-major `len × q` product `op(A) · B = (Xbᵀ)ᵀ · Xqᵀ = Xb · Xqᵀ` (`OP_T`, `OP_N`,
/// `ldc = len`) stores element `(j, i)` at `i * len + j`: row `i` of the row-major `S`.
///
/// # Safety
///
/// `xb` must point to `len * d` floats, `xq` to `q * d` floats and `s` to `q * len` floats,
/// all device memory of the context current on this thread, allocated on the handle's stream
/// (or ordered before it), and not freed before the stream has run the product.
#[allow(unsafe_code)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_tile(
    blas: &CudaBlas,
    precision: Precision,
    len: c_int,
    q: c_int,
    d: c_int,
    xb: u64,
    xq: u64,
    s: u64,
) -> Result<(), blas_result::CublasError> {
    use blas_sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
    let (alpha, beta) = (1.0f32, 0.0f32);
    let h = *blas.handle();
    // SAFETY: the caller's contract; alpha and beta are host values (the default pointer mode).
    unsafe {
        match precision {
            Precision::Fp32 => blas_result::sgemm(
                h,
                CUBLAS_OP_T,
                CUBLAS_OP_N,
                len,
                q,
                d,
                &alpha,
                xb as *const f32,
                d,
                xq as *const f32,
                d,
                &beta,
                s as *mut f32,
                len,
            ),
            Precision::Tf32 => {
                use blas_sys::cudaDataType::CUDA_R_32F;
                blas_result::gemm_ex(
                    h,
                    CUBLAS_OP_T,
                    CUBLAS_OP_N,
                    len,
                    q,
                    d,
                    &alpha as *const f32 as *const _,
                    xb as *const _,
                    CUDA_R_32F,
                    d,
                    xq as *const _,
                    CUDA_R_32F,
                    d,
                    &beta as *const f32 as *const _,
                    s as *mut _,
                    CUDA_R_32F,
                    len,
                    blas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
                    blas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DFALT,
                )
            }
        }
    }
}

/// One block of [`THREADS`] threads per row, `rows` blocks, static shared memory only.
fn config(rows: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (THREADS as u32, 1, 1), shared_mem_bytes: 0 }
}

/// The Rust types each launcher pushes, in order, per kernel: a test checks them against the
/// kernels' parameter lists in the CUDA source (`u64` for a pointer).
#[cfg(test)]
pub(super) const LAUNCH_ARGS: [(&str, &[&str]); 3] = [
    ("fc_select_tile", &["u64", "i64", "i32", "u32", "u64", "u64", "i32", "i32"]),
    ("fc_rescore", &["u64", "u64", "i32", "u32", "u32", "u64", "u64", "i32"]),
    ("fc_finalize", &["u64", "u64", "u64", "i32", "i32", "i32", "f32", "u64", "u64", "u64"]),
];

/// Launches `fc_select_tile` on `rows` query rows.
///
/// # Safety
///
/// The arguments follow the kernel's parameter list in `kernels.rs` one for one, in order and
/// type (`const float*`, `long long`, `int`, `unsigned`, `float*`, `unsigned*`, `int`, `int`).
/// `tile` must hold `rows` rows of `ld >= cols` floats, `best_s` and `best_id` `rows * w`
/// entries each, `1 <= w <= MAX_W`, all live device memory of the current context, not freed
/// before the stream has run the kernel; `col0 + cols` must not exceed `u32::MAX`.
#[allow(unsafe_code)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn launch_select(
    stream: &Arc<CudaStream>,
    f: &CudaFunction,
    rows: usize,
    tile: u64,
    ld: i64,
    cols: i32,
    col0: u32,
    best_s: u64,
    best_id: u64,
    w: i32,
    first: i32,
) -> Result<(), DriverError> {
    let mut b = stream.launch_builder(f);
    b.arg(&tile).arg(&ld).arg(&cols).arg(&col0).arg(&best_s).arg(&best_id).arg(&w).arg(&first);
    // SAFETY: the caller's contract.
    unsafe { b.launch(config(rows)) }.map(|_| ())
}

/// Launches `fc_rescore` on `rows` query rows.
///
/// # Safety
///
/// Parameters in the kernel's order and types (`const float*`, `const float*`, `int`,
/// `unsigned`, `unsigned`, `const unsigned*`, `float*`, `int`). `xq` must hold `rows * d`
/// floats, `xb` `blen * d` floats, `cand_id` and `r` `rows * w` entries, `d <= MAX_D`; live
/// device memory of the current context until the stream has run the kernel.
#[allow(unsafe_code)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn launch_rescore(
    stream: &Arc<CudaStream>,
    f: &CudaFunction,
    rows: usize,
    xq: u64,
    xb: u64,
    d: i32,
    b0: u32,
    blen: u32,
    cand_id: u64,
    r: u64,
    w: i32,
) -> Result<(), DriverError> {
    let mut b = stream.launch_builder(f);
    b.arg(&xq).arg(&xb).arg(&d).arg(&b0).arg(&blen).arg(&cand_id).arg(&r).arg(&w);
    // SAFETY: the caller's contract.
    unsafe { b.launch(config(rows)) }.map(|_| ())
}

/// Launches `fc_finalize` on `rows` query rows.
///
/// # Safety
///
/// Parameters in the kernel's order and types (`const float*`, `const unsigned*`,
/// `const float*`, `int`, `int`, `int`, `float`, `float*`, `unsigned*`, `unsigned*`).
/// `scr_s`, `cand_id` and `r` must hold `rows * w` entries, `out_s` and `out_id` `rows * m`,
/// `accepted` `rows`; `1 <= m <= w <= MAX_W`; live device memory of the current context until
/// the stream has run the kernel.
#[allow(unsafe_code)]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn launch_finalize(
    stream: &Arc<CudaStream>,
    f: &CudaFunction,
    rows: usize,
    scr_s: u64,
    cand_id: u64,
    r: u64,
    w: i32,
    m: i32,
    check: i32,
    eps: f32,
    out_s: u64,
    out_id: u64,
    accepted: u64,
) -> Result<(), DriverError> {
    let mut b = stream.launch_builder(f);
    b.arg(&scr_s).arg(&cand_id).arg(&r).arg(&w).arg(&m).arg(&check).arg(&eps).arg(&out_s).arg(&out_id).arg(&accepted);
    // SAFETY: the caller's contract.
    unsafe { b.launch(config(rows)) }.map(|_| ())
}

/// The text of a panic payload.
pub(super) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Paths of the loaded shared objects whose file name starts with one of `prefixes`, from
/// `/proc/self/maps` (empty where there is none).
pub(super) fn loaded_libraries(prefixes: &[&str]) -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let mut paths: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| {
            let file = p.rsplit('/').next().unwrap_or("");
            prefixes.iter().any(|pre| file.starts_with(pre))
        })
        .map(str::to_string)
        .collect();
    paths.sort();
    paths.dedup();
    paths
}
