//! Exact k-NN candidates on an NVIDIA GPU, with CUDA loaded at run time.
//!
//! [`Gpu::open`] finds out whether a GPU can be used; [`Gpu::knn_candidates`] then finds, for
//! every row, the `m` rows of largest inner product (the row itself included). The caller
//! re-scores these candidates exactly on the CPU and keeps its `k <= m`.
//!
//! # Dynamic loading, and the probe
//!
//! The CUDA driver (`libcuda.so`), cuBLAS and NVRTC are opened with `dlopen` when a GPU is
//! first asked for (cudarc's `dynamic-loading`): the binary needs no CUDA to build or to start,
//! and links no CUDA library. cudarc is built with its CUDA 13.0 bindings, which try the names
//! `libcublas.so`, `libcublas.so.13`, `.so.12`, `.so.11` (likewise `libnvrtc`) and `libcuda.so`
//! up to `libcuda.so.1`, on the loader's path (`LD_LIBRARY_PATH` reaches the libraries of pip
//! wheels, e.g. `.../site-packages/nvidia/cu13/lib`).
//!
//! cudarc panics when it calls into a library it cannot load, so [`Gpu::open`] probes first,
//! in this order, and answers [`Unavailable`] at the first step that fails: the driver library
//! is present; its CUDA version (`cuDriverGetVersion`) is at least 12.0; `cuInit`; at least one
//! device; a context on device 0; cuBLAS present, its handle, its default (non-TF32) math mode;
//! NVRTC present; the kernels compiled and loaded; a self-check (below). The whole probe also
//! runs under `catch_unwind`, as a second line of defence. Nothing here panics on purpose, and
//! a search runs under `catch_unwind` too.
//!
//! The kernels are compiled by NVRTC at run time **to a cubin** for the device's own
//! architecture (`--gpu-architecture=sm_XY`, `nvrtcGetCUBIN`), loaded with `cuModuleLoadData`:
//! a cubin needs no JIT, so an NVRTC newer than the driver works (its PTX would not load:
//! `CUDA_ERROR_UNSUPPORTED_PTX_VERSION`). Only an NVRTC that does not know the device gets PTX
//! for the newest architecture it knows below it (and a cubin the driver refuses is retried as
//! PTX), which [`GpuInfo::kernel_binary`] reports.
//!
//! The self-check searches 600 small rows with duplicates on the GPU (FP32, screen, and both
//! while streaming with tiles narrower than `m`) and compares with an `f64` brute force on the
//! CPU: a GPU that gives wrong answers is [`Unavailable::SelfCheck`], so a caller falls back to
//! the CPU instead of clustering garbage. It takes a few milliseconds.
//!
//! # Tiles and memory
//!
//! Query rows are taken in blocks of `Q`; base rows in tiles of `B`. For each pair, cuBLAS
//! computes the tile `S = Xq · Xbᵀ` (`Q × B`, row-major), and a selection kernel merges each
//! tile row into the query row's best `m` so far. `S` is read once, by one kernel; no global
//! atomics. When `X` takes at most half of the memory budget it stays on the device
//! (*resident*) and `B = n` (whole rows, one tile per query block) unless that would leave a
//! query block under 256 rows; otherwise base tiles are uploaded one by one (*streaming*). `S`
//! is at most `i32::MAX` floats (8 GiB), `Q` at most 8192. The budget is the free memory
//! (`cuMemGetInfo`) less `max(512 MiB, total / 32)` for cuBLAS and the driver, or
//! [`GpuSearchOptions::max_device_bytes`] when smaller. For 584K × 256 on an H200: `X` is
//! 0.6 GB, `B = n`, `Q = 3677`, `S` 8 GiB, 159 query blocks; about 9 GB in all.
//!
//! # The selection
//!
//! One thread block of 256 threads per query row. The row's state (best `w` similarities and
//! ids, best first) lives in global memory between tiles, which arrive in increasing column
//! order. The block loads the state into a shared buffer of 2048 entries, scans its tile row
//! coalesced in chunks of 1024 columns, and appends (through a shared atomic counter) every
//! element strictly above the threshold, the `w`-th best similarity known. Before a chunk that
//! could overflow the buffer, it sorts the buffer (bitonic, similarity descending then id
//! ascending), keeps the best `w` and raises the threshold. At the end of the tile it sorts and
//! writes the best `w` back. Because columns arrive in increasing id order and the threshold is
//! strict, an element equal to the threshold always has a larger id than the `w` kept: the
//! result is the exact top `w` by (similarity descending, id ascending) of the computed values.
//! `w` is at most [`MAX_M`] (1024). The file `model.rs` holds this algorithm in plain Rust, and
//! is the kernel's specification: its tests run everywhere (CI has no GPU).
//!
//! # Precision, and the screen
//!
//! Without the screen, tiles are plain FP32 `cublasSgemm` (math mode `CUBLAS_DEFAULT_MATH`,
//! which never uses TF32): each similarity is within `d · 2^-24` of the exact one, so the set
//! holds the exact FP32 top `m` up to rounding ties, which the caller's margin absorbs.
//!
//! With [`GpuSearchOptions::screen`], tiles are TF32 tensor-core products (`cublasGemmEx` with
//! `CUBLAS_COMPUTE_32F_FAST_TF32`), and the selection keeps `M' = screen_factor · m` candidates
//! per row by screened value. The candidates are re-scored in FP32 on the GPU (a fixed-order
//! sum), and the best `m` by re-scored value kept. A row is *accepted* when its `m`-th re-scored
//! similarity exceeds `L + ε`, `L` the lowest screened similarity among its candidates: every
//! non-candidate has a screened value at most `L`, hence a true value at most `L + ε`, so none
//! can belong to the top `m`. `ε` bounds `|TF32 − FP32|` rigorously: inputs are rounded or
//! truncated to 10 mantissa bits (relative error `2^-10` each, so `2^-9 Σ|x_i y_i| <= 2^-9` for
//! unit rows by Cauchy–Schwarz), plus accumulation: `2 d · 2^-23` for tensor cores that align
//! and truncate, `d · 2^-24` for the FP32 re-score; we use
//! `ε = (2^-9 + 2^-16 + d · 2^-21) · max|x|² + 2^-23`, about `2.1e-3` for `d = 256` (the
//! derivation is on `model::screen_eps`). Rows that fail are searched again with FP32 products
//! against all rows; [`GpuSearchStats::fallback_rows`] counts them.
//!
//! # Tests
//!
//! Everywhere (CI has no GPU): the model against brute force (`model.rs`), the host-side loop
//! over a CPU backend made of the model (`search.rs`), the tiling (`plan.rs`), the kernels' own
//! CUDA source run on the CPU by `g++` under a small emulation of CUDA (`emulate.rs`), and that
//! [`Gpu::open`] fails cleanly without CUDA. With a GPU, run deliberately: the `gpu_device_`
//! tests (`--ignored gpu_device_`, e.g. through `scripts/gpu-device-check.sh`), which fail
//! rather than skip when no GPU opens; and `nvrtc_compiles_the_kernels`, which needs only
//! `libnvrtc`.
//!
//! # Expected cost (to be measured on the H200)
//!
//! For `n = 584K`, `d = 256`, `m = 58`: the products are `2 n² d = 1.75e14` flop, about 3.5 s of
//! FP32 cuBLAS (~50 TFLOP/s) and 0.4-0.8 s of TF32 (~250-400 TFLOP/s); `S` is `n²` floats
//! (1.4 TB), written by the GEMM and read once by the selection, about 0.3 s each way at HBM3e
//! speed. The screen's re-scoring reads `n · M' · d` floats scattered (~70 GB, < 0.1 s), and
//! the fallback costs `2 f n d` flop per rejected row. Expected: about 4 s without the screen,
//! 1.2-2 s with it (under 3 s); 1M rows about 3x that (`n²`), still well under 10 s with the
//! screen. Uploads (`n d` floats once when resident) and downloads (`n m` pairs) are small.

mod device;
#[cfg(test)]
mod emulate;
mod ffi;
mod kernels;
mod model;
mod plan;
mod search;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::device::{CudaBackend, Inner};
use self::plan::Shape;

/// The largest `m` (and the largest screen width `M'`): the selection buffer holds 2048
/// entries, and a compacted buffer plus one chunk of 1024 columns must fit.
pub const MAX_M: usize = model::MAX_W;

/// The largest dimension `d` (the re-scoring kernel keeps a query row in shared memory).
pub const MAX_D: usize = model::MAX_D;

/// The largest number of rows (2^30): ids are `u32`, cuBLAS sizes and the kernels' column
/// offsets `int`, with room to spare.
pub const MAX_ROWS: usize = 1 << 30;

/// Why no GPU can be used. Its `Display` is one line saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// The driver library could not be loaded.
    #[error("libcuda.so not found (no NVIDIA driver)")]
    NoDriver,
    /// The driver failed a query or `cuInit`.
    #[error("the CUDA driver failed: {0}")]
    Driver(String),
    /// `cuInit` found no device.
    #[error("no CUDA device")]
    NoDevice,
    /// The driver is older than CUDA 12.0.
    #[error("driver supports CUDA {supports}, need 12.0 or newer")]
    OldDriver {
        /// The CUDA version the driver supports, `major.minor`.
        supports: String,
    },
    /// No context could be created on device 0, or the device could not be queried.
    #[error("cannot use CUDA device 0: {0}")]
    Context(String),
    /// cuBLAS could not be loaded.
    #[error("libcublas.so.13/.12 not found (install the CUDA libraries or set LD_LIBRARY_PATH)")]
    NoCublas,
    /// cuBLAS failed to start.
    #[error("cuBLAS failed to start: {0}")]
    Cublas(String),
    /// NVRTC could not be loaded.
    #[error("libnvrtc.so.13/.12 not found (install the CUDA libraries or set LD_LIBRARY_PATH)")]
    NoNvrtc,
    /// An NVRTC query failed, or it knows no architecture usable on the device.
    #[error("NVRTC cannot compile for this device: {0}")]
    Nvrtc(String),
    /// NVRTC failed to compile the kernels.
    #[error("NVRTC failed to compile the selection kernel: {0}")]
    Compile(String),
    /// The driver failed to load the compiled kernels.
    #[error("the driver cannot load the compiled kernels: {0}")]
    Load(String),
    /// The GPU search failed its self-check, or could not run it.
    #[error("the GPU search failed its self-check: {0}")]
    SelfCheck(String),
    /// A CUDA library panicked during the probe.
    #[error("the CUDA probe panicked: {0}")]
    Panicked(String),
}

/// Why a search failed. Its `Display` is one line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// `m` is zero.
    #[error("m must be at least 1")]
    ZeroM,
    /// Fewer rows than candidates per row.
    #[error("m = {m} candidates per row needs at least {m} rows, got {n}")]
    TooFewRows {
        /// Candidates per row.
        m: usize,
        /// Rows.
        n: usize,
    },
    /// `m` (or the screen's width) above [`MAX_M`].
    #[error("m = {m} is above the GPU search's limit of {max}")]
    MTooLarge {
        /// Candidates per row asked for.
        m: usize,
        /// The limit.
        max: usize,
    },
    /// `d` is zero or above [`MAX_D`].
    #[error("dimension {d} is outside the GPU search's range 1..={max}")]
    BadDimension {
        /// The dimension.
        d: usize,
        /// The limit.
        max: usize,
    },
    /// More rows than [`MAX_ROWS`].
    #[error("{n} rows are more than the GPU search's limit of {max}")]
    TooManyRows {
        /// Rows.
        n: usize,
        /// The limit.
        max: usize,
    },
    /// `data.len() != n * d`.
    #[error("data has {len} floats, expected n x d = {n} x {d}")]
    BadShape {
        /// Floats given.
        len: usize,
        /// Rows.
        n: usize,
        /// Dimension.
        d: usize,
    },
    /// A value is NaN or infinite.
    #[error("row {row} contains a NaN or infinite value")]
    NonFinite {
        /// The first such row.
        row: usize,
    },
    /// A row is not unit-norm.
    #[error("row {row} has norm {norm}, expected unit-norm rows")]
    NotUnitNorm {
        /// The first such row.
        row: usize,
        /// Its L2 norm.
        norm: f64,
    },
    /// The memory budget cannot hold one query row and one base row.
    #[error("a GPU memory budget of {budget} bytes is too small: one query row and one base row need {need}")]
    BudgetTooSmall {
        /// The budget in bytes.
        budget: u64,
        /// Bytes needed by the smallest tiles.
        need: u64,
    },
    /// An allocation failed for lack of memory.
    #[error("out of GPU memory allocating {what} ({bytes} bytes, {free} bytes were free)")]
    OutOfMemory {
        /// What the buffer is for.
        what: &'static str,
        /// Its size in bytes.
        bytes: u64,
        /// Free device memory before the search.
        free: u64,
    },
    /// A CUDA driver call failed.
    #[error("CUDA call {call} failed: {error}")]
    Cuda {
        /// The call.
        call: &'static str,
        /// The driver's error name and description.
        error: String,
    },
    /// A cuBLAS call failed.
    #[error("cuBLAS call {call} failed: {error}")]
    Cublas {
        /// The call.
        call: &'static str,
        /// cuBLAS's status.
        error: String,
    },
    /// A CUDA library panicked during the search.
    #[error("the GPU search panicked: {0}")]
    Panicked(String),
    /// A broken invariant of this module (a bug).
    #[error("GPU search bug: {0}")]
    Internal(&'static str),
}

/// What the opened GPU is: for reports and logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// The device's name, e.g. `NVIDIA H200`.
    pub device_name: String,
    /// Its memory in bytes.
    pub total_memory_bytes: u64,
    /// Compute capability, `major.minor` (e.g. `9.0`).
    pub compute_capability: String,
    /// Streaming multiprocessors.
    pub multiprocessors: u32,
    /// The CUDA version the driver supports (`cuDriverGetVersion`), e.g. `13.0`.
    pub driver_cuda_version: String,
    /// NVRTC's version, e.g. `13.0`.
    pub nvrtc_version: String,
    /// cuBLAS's version (`cublasGetVersion`), e.g. `13.0.0`, when it answers.
    pub cublas_version: Option<String>,
    /// How the kernels were built: `cubin sm_90`, or PTX left to the driver's JIT.
    pub kernel_binary: String,
    /// Paths of the loaded CUDA libraries (from `/proc/self/maps`).
    pub libraries: Vec<String>,
}

/// How to search. The defaults search in FP32 within the free memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuSearchOptions {
    /// Screen with TF32 products, re-score the candidates in FP32, and search rows the
    /// screen cannot prove again in FP32 (see the module docs). Same result as FP32 up to
    /// rounding ties, faster. Default `false`.
    pub screen: bool,
    /// The screen keeps `screen_factor * m` candidates per row (at most [`MAX_M`] and `n`).
    /// Larger means fewer rejected rows and a slower selection. Default 2.
    pub screen_factor: usize,
    /// At most this many bytes of device memory for the search's buffers (the free memory
    /// less a reserve is always a limit). Small values force streaming. Default `None`.
    pub max_device_bytes: Option<u64>,
    /// At most this many query rows per block (tests and tuning). Default `None` (8192).
    pub max_query_rows: Option<usize>,
    /// At most this many base rows per tile (tests and tuning). Default `None` (`n`).
    pub max_base_rows: Option<usize>,
}

impl Default for GpuSearchOptions {
    fn default() -> Self {
        GpuSearchOptions {
            screen: false,
            screen_factor: 2,
            max_device_bytes: None,
            max_query_rows: None,
            max_base_rows: None,
        }
    }
}

/// Figures of one search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSearchStats {
    /// Seconds uploading rows (`X` once when resident, base tiles when streaming, query blocks).
    pub upload_secs: f64,
    /// Seconds in products, selections, re-scoring and waits for them.
    pub compute_secs: f64,
    /// Seconds reading results back.
    pub download_secs: f64,
    /// Seconds of the whole call, validation and allocation included.
    pub total_secs: f64,
    /// Device bytes of this search's buffers (all allocated at once: the peak).
    pub device_bytes: u64,
    /// Free device memory before the search (`cuMemGetInfo`).
    pub free_bytes_before: u64,
    /// Free device memory with the search's buffers allocated.
    pub free_bytes_during: u64,
    /// Device memory in all.
    pub total_device_bytes: u64,
    /// Whether `X` stayed on the device (else base tiles were uploaded per tile).
    pub resident: bool,
    /// Query rows per block.
    pub query_rows_per_block: usize,
    /// Base rows per tile.
    pub base_rows_per_tile: usize,
    /// Product + selection steps (fallback included).
    pub tiles: u64,
    /// Whether the TF32 screen ran.
    pub screen: bool,
    /// Candidates per row kept by the screen (`M'`; `m` without it).
    pub screen_candidates: usize,
    /// The screen's error bound `ε` (0 without it).
    pub screen_eps: f32,
    /// Rows the screen could not prove, searched again in FP32.
    pub fallback_rows: usize,
}

/// The result of [`Gpu::knn_candidates`].
#[derive(Debug, Clone, PartialEq)]
pub struct GpuSearch {
    /// Rows.
    pub n: usize,
    /// Candidates per row.
    pub m: usize,
    /// `n * m` row ids, row-major: row `i`'s `m` best by the GPU's similarity, descending,
    /// ties by smaller id. Always valid ids (`m <= n`).
    pub ids: Vec<u32>,
    /// `n * m` similarities as the GPU computed them (FP32 products, or FP32 re-scores), for
    /// diagnostics: the caller recomputes its own.
    pub sims: Vec<f32>,
    /// Figures of the search.
    pub stats: GpuSearchStats,
}

/// An opened GPU: device 0, with cuBLAS and the compiled kernels.
///
/// Searches on one `Gpu` run one at a time (a lock); it can be shared between threads.
pub struct Gpu {
    inner: Inner,
    info: GpuInfo,
    lock: Mutex<()>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("info", &self.info).finish_non_exhaustive()
    }
}

impl Gpu {
    /// Opens device 0 if everything a search needs is there (see the module docs for the probe
    /// order), and checks the search on small data against the CPU.
    ///
    /// # Errors
    ///
    /// [`Unavailable`] saying what is missing or failed. Never panics.
    pub fn open() -> Result<Gpu, Unavailable> {
        let gpu = Gpu::open_without_self_check()?;
        match catch_unwind(AssertUnwindSafe(|| gpu.self_check())) {
            Ok(Ok(())) => Ok(gpu),
            Ok(Err(e)) => Err(Unavailable::SelfCheck(e)),
            Err(p) => Err(Unavailable::Panicked(ffi::panic_text(&*p))),
        }
    }

    /// [`Gpu::open`] without the self-check: for diagnostics and for tests that compare the
    /// search with the CPU themselves.
    ///
    /// # Errors
    ///
    /// As [`Gpu::open`], except [`Unavailable::SelfCheck`].
    pub fn open_without_self_check() -> Result<Gpu, Unavailable> {
        match catch_unwind(device::open) {
            Ok(Ok((inner, info))) => Ok(Gpu { inner, info, lock: Mutex::new(()) }),
            Ok(Err(e)) => Err(e),
            Err(p) => Err(Unavailable::Panicked(ffi::panic_text(&*p))),
        }
    }

    /// What the device is.
    pub fn info(&self) -> &GpuInfo {
        &self.info
    }

    /// For each of the `n` rows of `data` (row-major `n x d`, unit-norm `f32` rows), the `m`
    /// rows with the largest inner product with it, over all rows (itself included), sorted by
    /// similarity descending and then id ascending.
    ///
    /// The set is exact up to rounding ties: it holds the exact FP32 top `m` except where
    /// similarities within about `d * 2^-24` of the `m`-th trade places. `progress` is called
    /// with the number of rows done after each query block (not during the screen's fallback,
    /// whose rows were already counted).
    ///
    /// # Errors
    ///
    /// Bad input ([`GpuError::ZeroM`], [`GpuError::TooFewRows`], [`GpuError::MTooLarge`],
    /// [`GpuError::BadDimension`], [`GpuError::TooManyRows`], [`GpuError::BadShape`],
    /// [`GpuError::NonFinite`], [`GpuError::NotUnitNorm`]); not enough memory
    /// ([`GpuError::BudgetTooSmall`], [`GpuError::OutOfMemory`]); a CUDA or cuBLAS failure.
    /// Never panics.
    ///
    /// # Complexity
    ///
    /// `2 n² d` flop on the GPU (TF32 with the screen, plus `2 n d` per rejected row in
    /// FP32), `n²` floats through the selection, `O(n d)` on the CPU to validate the rows.
    pub fn knn_candidates(
        &self,
        data: &[f32],
        n: usize,
        d: usize,
        m: usize,
        opts: &GpuSearchOptions,
        progress: &dyn Fn(usize),
    ) -> Result<GpuSearch, GpuError> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match catch_unwind(AssertUnwindSafe(|| self.search(data, n, d, m, opts, progress))) {
            Ok(r) => r,
            Err(p) => Err(GpuError::Panicked(ffi::panic_text(&*p))),
        }
    }

    fn search(
        &self,
        data: &[f32],
        n: usize,
        d: usize,
        m: usize,
        opts: &GpuSearchOptions,
        progress: &dyn Fn(usize),
    ) -> Result<GpuSearch, GpuError> {
        let start = Instant::now();
        let max_norm_sq = validate(data, n, d, m)?;
        let w = if opts.screen { (m * opts.screen_factor.max(1)).min(MAX_M).min(n).max(m) } else { m };
        let shape = Shape { n, d, m, w, screen: opts.screen };

        self.inner
            .ctx
            .bind_to_thread()
            .map_err(|e| GpuError::Cuda { call: "cuCtxSetCurrent", error: device::drv_text(&e) })?;
        let (free, total) = device::mem_info(&self.inner)?;
        let reserve = (512u64 << 20).max(total / 32);
        let mut budget = free.saturating_sub(reserve);
        if let Some(max) = opts.max_device_bytes {
            budget = budget.min(max);
        }
        let plan = plan::plan(shape, budget, opts.max_query_rows, opts.max_base_rows)?;
        let mut be = CudaBackend::new(&self.inner, data, shape, &plan, free)?;
        self.inner
            .stream
            .synchronize()
            .map_err(|e| GpuError::Cuda { call: "cuStreamSynchronize", error: device::drv_text(&e) })?;
        let (free_during, _) = device::mem_info(&self.inner)?;
        let out = search::run(&mut be, data, shape, &plan, max_norm_sq, progress)?;
        let x_upload = be.x_upload_secs;
        drop(be);
        let stats = GpuSearchStats {
            upload_secs: out.upload_secs + x_upload,
            compute_secs: out.compute_secs,
            download_secs: out.download_secs,
            total_secs: start.elapsed().as_secs_f64(),
            device_bytes: plan.bytes,
            free_bytes_before: free,
            free_bytes_during: free_during,
            total_device_bytes: total,
            resident: plan.resident,
            query_rows_per_block: plan.q,
            base_rows_per_tile: plan.b,
            tiles: out.tiles,
            screen: opts.screen,
            screen_candidates: w,
            screen_eps: out.eps,
            fallback_rows: out.fallback_rows,
        };
        Ok(GpuSearch { n, m, ids: out.ids, sims: out.sims, stats })
    }

    /// Searches small data with duplicates four ways (FP32 and screen, resident and streaming
    /// with tiles narrower than `m`) and checks each against an `f64` brute force.
    fn self_check(&self) -> Result<(), String> {
        let (n, d, m) = (600, 48, 24);
        let data = check_rows(n, d, 0x5eed);
        let none = |_: usize| {};
        let streaming = (Some(150_000), Some(17));
        for (screen, (max_device_bytes, max_base_rows)) in
            [(false, (None, None)), (true, (None, None)), (false, streaming), (true, streaming)]
        {
            let opts = GpuSearchOptions {
                screen,
                max_device_bytes,
                max_base_rows,
                max_query_rows: Some(100),
                ..Default::default()
            };
            let found = self.knn_candidates(&data, n, d, m, &opts, &none).map_err(|e| e.to_string())?;
            verify(&data, n, d, m, &found.ids, &found.sims).map_err(|e| {
                format!("{} with tiles of {:?} base rows: {e}", if screen { "screen" } else { "FP32" }, max_base_rows)
            })?;
        }
        Ok(())
    }
}

/// Checks the input and returns the largest squared row norm.
fn validate(data: &[f32], n: usize, d: usize, m: usize) -> Result<f64, GpuError> {
    if d == 0 || d > MAX_D {
        return Err(GpuError::BadDimension { d, max: MAX_D });
    }
    if n > MAX_ROWS {
        return Err(GpuError::TooManyRows { n, max: MAX_ROWS });
    }
    if n.checked_mul(d) != Some(data.len()) {
        return Err(GpuError::BadShape { len: data.len(), n, d });
    }
    if m == 0 {
        return Err(GpuError::ZeroM);
    }
    if m > MAX_M {
        return Err(GpuError::MTooLarge { m, max: MAX_M });
    }
    if m > n {
        return Err(GpuError::TooFewRows { m, n });
    }
    // Per row: Err((row, norm)) for the first bad row; norms must be within 1e-3 of 1.
    let norms: Vec<Result<f64, (usize, Option<f64>)>> = data
        .par_chunks(d)
        .enumerate()
        .map(|(i, row)| {
            let mut sq = 0f64;
            for &v in row {
                if !v.is_finite() {
                    return Err((i, None));
                }
                sq += v as f64 * v as f64;
            }
            if (sq.sqrt() - 1.0).abs() > 1e-3 {
                return Err((i, Some(sq.sqrt())));
            }
            Ok(sq)
        })
        .collect();
    let mut max_sq = 0f64;
    for r in norms {
        match r {
            Ok(sq) => max_sq = max_sq.max(sq),
            Err((row, None)) => return Err(GpuError::NonFinite { row }),
            Err((row, Some(norm))) => return Err(GpuError::NotUnitNorm { row, norm }),
        }
    }
    Ok(max_sq)
}

/// Deterministic unit rows for the self-check: uniform coordinates, every fifth row a copy of
/// an earlier one (exact ties), from a splitmix64 stream.
fn check_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut data = vec![0f32; n * d];
    for i in 0..n {
        if i >= 5 && i % 5 == 0 {
            let j = (next() % i as u64) as usize;
            data.copy_within(j * d..(j + 1) * d, i * d);
            continue;
        }
        let row = &mut data[i * d..(i + 1) * d];
        for v in row.iter_mut() {
            *v = ((next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32;
        }
        let norm = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
    }
    data
}

/// Checks a search result against an `f64` brute force, up to rounding: in each row the ids
/// are distinct and valid, the similarities within `tol` of the exact ones and sorted (ties by
/// id), every id above the exact `m`-th similarity plus `2 tol` is present, and none below it
/// less `2 tol`; `tol = 4 d 2^-24`. Returns the first problem.
pub(crate) fn verify(data: &[f32], n: usize, d: usize, m: usize, ids: &[u32], sims: &[f32]) -> Result<(), String> {
    if ids.len() != n * m || sims.len() != n * m {
        return Err(format!("{} ids and {} sims for {n} x {m}", ids.len(), sims.len()));
    }
    let tol = 4.0 * d as f64 * 2f64.powi(-24);
    (0..n).into_par_iter().try_for_each(|i| {
        let x = &data[i * d..(i + 1) * d];
        let exact: Vec<f64> =
            (0..n).map(|j| x.iter().zip(&data[j * d..(j + 1) * d]).map(|(&a, &b)| a as f64 * b as f64).sum()).collect();
        let mut sorted = exact.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        let t = sorted[m - 1];
        let (row_ids, row_sims) = (&ids[i * m..(i + 1) * m], &sims[i * m..(i + 1) * m]);
        let mut seen = std::collections::HashSet::new();
        for (k, (&id, &s)) in row_ids.iter().zip(row_sims).enumerate() {
            let j = id as usize;
            if j >= n || !seen.insert(id) {
                return Err(format!("row {i}: slot {k} has a bad or repeated id {id}"));
            }
            if (s as f64 - exact[j]).abs() > tol {
                return Err(format!("row {i}: id {id} has similarity {s}, exact {}", exact[j]));
            }
            if exact[j] < t - 2.0 * tol {
                return Err(format!("row {i}: id {id} (exact {}) is below the m-th best {t}", exact[j]));
            }
            if k > 0 {
                let (ps, pid) = (row_sims[k - 1], row_ids[k - 1]);
                if ps < s || (ps == s && pid > id) {
                    return Err(format!("row {i}: slots {} and {k} out of order", k - 1));
                }
            }
        }
        if let Some(j) = (0..n).find(|&j| exact[j] > t + 2.0 * tol && !seen.contains(&(j as u32))) {
            return Err(format!("row {i}: misses id {j} (exact {}, m-th best {t})", exact[j]));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests;
