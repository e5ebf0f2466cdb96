//! The CUDA side: the probe that opens the device, and the [`Backend`] of a search.

use std::sync::Arc;
use std::time::Instant;

use cudarc::cublas::CudaBlas;
use cudarc::driver::{
    result as drv_result, sys as drv_sys, CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr,
    DeviceRepr, DriverError, ValidAsZeroBits,
};
use cudarc::nvrtc::Ptx;

use super::ffi;
use super::kernels;
use super::model::MAX_W;
use super::plan::{Plan, Shape};
use super::search::{Backend, Precision};
use super::{GpuError, GpuInfo, Unavailable};

/// The oldest driver accepted, as `cuDriverGetVersion` reports it (12.0).
const MIN_DRIVER: i32 = 12000;

/// The opened device. Fields drop in order: kernels (their module), cuBLAS, stream, context.
pub(super) struct Inner {
    pub select: CudaFunction,
    pub rescore: CudaFunction,
    pub finalize: CudaFunction,
    pub blas: CudaBlas,
    pub stream: Arc<CudaStream>,
    pub ctx: Arc<CudaContext>,
}

/// A driver error as `NAME: description`.
pub(super) fn drv_text(e: &DriverError) -> String {
    match e.error_string() {
        Ok(s) => format!("{:?}: {}", e.0, s.to_string_lossy()),
        Err(_) => format!("{:?}", e.0),
    }
}

/// `1000 * major + 10 * minor` as `major.minor`.
fn cuda_version_text(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

/// The probe, in order: the driver library, its version, `cuInit`, a device, a context on
/// device 0; cuBLAS (library, handle, math mode); NVRTC (library, compile for the device's
/// architecture, load). Each step checks what the next one needs before touching it; a
/// missing library is found by a dlopen probe, never by calling into it.
pub(super) fn open() -> Result<(Inner, GpuInfo), Unavailable> {
    let (has_driver, has_cublas, has_nvrtc) = ffi::libraries_present();
    if !has_driver {
        return Err(Unavailable::NoDriver);
    }
    let version = ffi::driver_version().map_err(|e| Unavailable::Driver(drv_text(&e)))?;
    if let Err(e) = drv_result::init() {
        return Err(match e.0 {
            drv_sys::cudaError_enum::CUDA_ERROR_NO_DEVICE => Unavailable::NoDevice,
            _ => Unavailable::Driver(drv_text(&e)),
        });
    }
    if version < MIN_DRIVER {
        return Err(Unavailable::OldDriver { supports: cuda_version_text(version) });
    }
    match CudaContext::device_count() {
        Ok(0) => return Err(Unavailable::NoDevice),
        Ok(_) => {}
        Err(e) => return Err(Unavailable::Driver(drv_text(&e))),
    }
    let ctx = CudaContext::new(0).map_err(|e| Unavailable::Context(drv_text(&e)))?;
    let stream = ctx.default_stream();

    if !has_cublas {
        return Err(Unavailable::NoCublas);
    }
    let blas = CudaBlas::new(stream.clone()).map_err(|e| Unavailable::Cublas(format!("{:?}", e.0)))?;
    ffi::cublas_default_math(&blas).map_err(|e| Unavailable::Cublas(format!("cublasSetMathMode: {:?}", e.0)))?;

    if !has_nvrtc {
        return Err(Unavailable::NoNvrtc);
    }
    let (major, minor) = ctx.compute_capability().map_err(|e| Unavailable::Context(drv_text(&e)))?;
    let (nv_major, nv_minor) = ffi::nvrtc_version().map_err(|e| Unavailable::Nvrtc(format!("nvrtcVersion: {e}")))?;
    let archs = ffi::nvrtc_supported_archs().map_err(|e| Unavailable::Nvrtc(format!("nvrtcGetSupportedArchs: {e}")))?;
    let arch = major * 10 + minor;
    let src = kernels::source();
    // A cubin for the device's own architecture needs no JIT, so it loads on a driver older
    // than this NVRTC. An NVRTC too old to know the device gets PTX for the newest
    // architecture it knows below the device's, which the driver compiles (JIT).
    let ptx = |best: i32| -> Result<(Arc<CudaModule>, String), Unavailable> {
        let opts = vec![format!("--gpu-architecture=compute_{best}")];
        let (ptx, _log) = ffi::nvrtc_compile(&src, &opts, false).map_err(Unavailable::Compile)?;
        let text = String::from_utf8_lossy(&ptx).into_owned();
        let module = ctx.load_module(Ptx::from_src(text)).map_err(|e| Unavailable::Load(drv_text(&e)))?;
        Ok((module, format!("ptx compute_{best} (JIT by the driver for sm_{arch})")))
    };
    let (module, binary) = if archs.contains(&arch) {
        let opts = vec![format!("--gpu-architecture=sm_{arch}")];
        let (cubin, _log) = ffi::nvrtc_compile(&src, &opts, true).map_err(Unavailable::Compile)?;
        match ctx.load_module(Ptx::from_binary(cubin)) {
            Ok(module) => (module, format!("cubin sm_{arch}")),
            // Not expected: a cubin for the device's own architecture. PTX is the last try.
            Err(e) => ptx(arch).map_err(|p| Unavailable::Load(format!("cubin: {}; then PTX: {p}", drv_text(&e))))?,
        }
    } else {
        let Some(&best) = archs.iter().filter(|&&a| a <= arch).max() else {
            return Err(Unavailable::Nvrtc(format!(
                "NVRTC {nv_major}.{nv_minor} knows no architecture at or below sm_{arch}"
            )));
        };
        ptx(best)?
    };
    let load =
        |name: &str| module.load_function(name).map_err(|e| Unavailable::Load(format!("{name}: {}", drv_text(&e))));
    let (select, rescore, finalize) = (load(kernels::SELECT)?, load(kernels::RESCORE)?, load(kernels::FINALIZE)?);

    let device_name = ctx.name().map_err(|e| Unavailable::Context(drv_text(&e)))?;
    let total_memory_bytes = ctx.total_mem().map_err(|e| Unavailable::Context(drv_text(&e)))? as u64;
    let multiprocessors = ctx
        .attribute(drv_sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .map_err(|e| Unavailable::Context(drv_text(&e)))?;
    let cublas_version = ffi::cublas_version(&blas).map(|v| format!("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100));
    let info = GpuInfo {
        device_name,
        total_memory_bytes,
        compute_capability: format!("{major}.{minor}"),
        multiprocessors: multiprocessors.max(0) as u32,
        driver_cuda_version: cuda_version_text(version),
        nvrtc_version: format!("{nv_major}.{nv_minor}"),
        cublas_version,
        kernel_binary: binary,
        libraries: ffi::loaded_libraries(&["libcuda.so", "libcublas", "libnvrtc"]),
    };
    Ok((Inner { select, rescore, finalize, blas, stream, ctx }, info))
}

/// Free and total device memory (`cuMemGetInfo`).
pub(super) fn mem_info(inner: &Inner) -> Result<(u64, u64), GpuError> {
    let (free, total) = inner.ctx.mem_get_info().map_err(|e| cuda("cuMemGetInfo", &e))?;
    Ok((free as u64, total as u64))
}

/// A [`GpuError::Cuda`] for `call`.
fn cuda(call: &'static str, e: &DriverError) -> GpuError {
    GpuError::Cuda { call, error: drv_text(e) }
}

/// The screen's extra buffers.
struct ScreenBuffers {
    r: CudaSlice<f32>,
    out_s: CudaSlice<f32>,
    out_id: CudaSlice<u32>,
    accepted: CudaSlice<u32>,
}

/// The buffers of one search on the device, sized by its [`Plan`].
pub(super) struct CudaBackend<'a> {
    inner: &'a Inner,
    data: &'a [f32],
    d: usize,
    resident: bool,
    /// All of `X` (resident) or one base block.
    x: CudaSlice<f32>,
    xq: CudaSlice<f32>,
    s: CudaSlice<f32>,
    st_s: CudaSlice<f32>,
    st_id: CudaSlice<u32>,
    screen: Option<ScreenBuffers>,
    /// The current base block: first row and length.
    base: (usize, usize),
    /// Seconds spent uploading a resident `X`.
    pub x_upload_secs: f64,
}

impl<'a> CudaBackend<'a> {
    /// Allocates the buffers of `plan` (and uploads `X` when resident). `free` is the free
    /// memory before, for error messages.
    pub(super) fn new(
        inner: &'a Inner,
        data: &'a [f32],
        shape: Shape,
        plan: &Plan,
        free: u64,
    ) -> Result<Self, GpuError> {
        let (n, d, m, w) = (shape.n, shape.d, shape.m, plan.w);
        debug_assert!(w <= MAX_W && plan.q >= 1 && plan.b >= 1);
        let stream = &inner.stream;
        let x_rows = if plan.resident { n } else { plan.b };
        let mut x = alloc::<f32>(stream, x_rows * d, "the base rows", free)?;
        let xq = alloc::<f32>(stream, plan.q * d, "the query block", free)?;
        let s = alloc::<f32>(stream, plan.q * plan.b, "the similarity tile", free)?;
        let st_s = alloc::<f32>(stream, plan.q * w, "the selection state", free)?;
        let st_id = alloc::<u32>(stream, plan.q * w, "the selection state", free)?;
        let screen = if shape.screen {
            Some(ScreenBuffers {
                r: alloc::<f32>(stream, plan.q * w, "the re-scored candidates", free)?,
                out_s: alloc::<f32>(stream, plan.q * m, "the screen's output", free)?,
                out_id: alloc::<u32>(stream, plan.q * m, "the screen's output", free)?,
                accepted: alloc::<u32>(stream, plan.q, "the screen's flags", free)?,
            })
        } else {
            None
        };
        let mut x_upload_secs = 0.0;
        if plan.resident {
            stream.synchronize().map_err(|e| cuda("cuStreamSynchronize", &e))?;
            let t = Instant::now();
            stream.memcpy_htod(data, &mut x).map_err(|e| cuda("cuMemcpyHtoDAsync", &e))?;
            stream.synchronize().map_err(|e| cuda("cuStreamSynchronize", &e))?;
            x_upload_secs = t.elapsed().as_secs_f64();
        }
        Ok(CudaBackend {
            inner,
            data,
            d,
            resident: plan.resident,
            x,
            xq,
            s,
            st_s,
            st_id,
            screen,
            base: (0, 0),
            x_upload_secs,
        })
    }

    fn ptr<T>(&self, s: &CudaSlice<T>) -> u64 {
        let (p, _sync) = s.device_ptr(&self.inner.stream);
        p
    }

    /// The device address of the current base block's first row.
    fn base_ptr(&self) -> u64 {
        let x = self.ptr(&self.x);
        if self.resident {
            x + (self.base.0 * self.d * 4) as u64
        } else {
            x
        }
    }

    fn screen(&self) -> Result<&ScreenBuffers, GpuError> {
        self.screen.as_ref().ok_or(GpuError::Internal("the screen's buffers were not allocated"))
    }
}

/// A zeroed device buffer of `len` elements (at least one).
fn alloc<T: DeviceRepr + ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    len: usize,
    what: &'static str,
    free: u64,
) -> Result<CudaSlice<T>, GpuError> {
    stream.alloc_zeros::<T>(len.max(1)).map_err(|e| {
        if e.0 == drv_sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY {
            GpuError::OutOfMemory { what, bytes: (len * std::mem::size_of::<T>()) as u64, free }
        } else {
            cuda("cuMemAllocAsync", &e)
        }
    })
}

/// A size as the `int` cuBLAS and the kernels take (the plan keeps them in range).
fn int(v: usize) -> Result<i32, GpuError> {
    i32::try_from(v).map_err(|_| GpuError::Internal("a tile dimension exceeds i32"))
}

impl Backend for CudaBackend<'_> {
    fn load_queries(&mut self, rows: &[f32], _q: usize) -> Result<(), GpuError> {
        let stream = self.inner.stream.clone();
        stream.memcpy_htod(rows, &mut self.xq).map_err(|e| cuda("cuMemcpyHtoDAsync", &e))
    }

    fn load_base(&mut self, b0: usize, len: usize) -> Result<(), GpuError> {
        if !self.resident {
            let stream = self.inner.stream.clone();
            let rows = &self.data[b0 * self.d..(b0 + len) * self.d];
            stream.memcpy_htod(rows, &mut self.x).map_err(|e| cuda("cuMemcpyHtoDAsync", &e))?;
        }
        self.base = (b0, len);
        Ok(())
    }

    fn product(&mut self, q: usize, precision: Precision) -> Result<(), GpuError> {
        let (len, d) = (int(self.base.1)?, int(self.d)?);
        let (xb, xq, s) = (self.base_ptr(), self.ptr(&self.xq), self.ptr(&self.s));
        // SAFETY (of the call): `xb` is the base block of `len` rows of `d` floats (inside `x`),
        // `xq` holds at least `q` rows and `s` at least `q * len` floats (the plan's `q * b`);
        // all were allocated on the handle's stream and live as long as `self`.
        #[allow(unsafe_code)]
        let r = unsafe { ffi::gemm_tile(&self.inner.blas, precision, len, int(q)?, d, xb, xq, s) };
        r.map_err(|e| GpuError::Cublas {
            call: match precision {
                Precision::Fp32 => "cublasSgemm",
                Precision::Tf32 => "cublasGemmEx (TF32)",
            },
            error: format!("{:?}", e.0),
        })
    }

    fn select(&mut self, q: usize, w: usize, first: bool) -> Result<(), GpuError> {
        let (b0, len) = self.base;
        let col0 = u32::try_from(b0).map_err(|_| GpuError::Internal("a column id exceeds u32"))?;
        let (s, st_s, st_id) = (self.ptr(&self.s), self.ptr(&self.st_s), self.ptr(&self.st_id));
        let inner = self.inner;
        // SAFETY (of the call): the arguments match fc_select_tile; `s` holds `q` rows of `len`
        // floats (ld = len), the state `q * w <= plan.q * plan.w` entries with w <= MAX_W, and
        // col0 + len <= n < u32::MAX.
        #[allow(unsafe_code)]
        let r = unsafe {
            ffi::launch_select(
                &inner.stream,
                &inner.select,
                q,
                s,
                len as i64,
                int(len)?,
                col0,
                st_s,
                st_id,
                int(w)?,
                first as i32,
            )
        };
        r.map_err(|e| cuda("cuLaunchKernel (fc_select_tile)", &e))
    }

    fn rescore(&mut self, q: usize, w: usize) -> Result<(), GpuError> {
        let (b0, len) = self.base;
        let sc = self.screen()?;
        let (xq, xb, st_id, r) = (self.ptr(&self.xq), self.base_ptr(), self.ptr(&self.st_id), self.ptr(&sc.r));
        let (b0, len) = (b0 as u32, len as u32);
        let inner = self.inner;
        // SAFETY (of the call): the arguments match fc_rescore; `xq` holds `q * d` floats, `xb`
        // the base block's `len * d`, the state ids and `r` `q * w` entries; d <= MAX_D.
        #[allow(unsafe_code)]
        let res = unsafe {
            ffi::launch_rescore(&inner.stream, &inner.rescore, q, xq, xb, int(self.d)?, b0, len, st_id, r, int(w)?)
        };
        res.map_err(|e| cuda("cuLaunchKernel (fc_rescore)", &e))
    }

    fn finalize(&mut self, q: usize, w: usize, m: usize, check: bool, eps: f32) -> Result<(), GpuError> {
        let sc = self.screen()?;
        let (st_s, st_id) = (self.ptr(&self.st_s), self.ptr(&self.st_id));
        let (r, out_s, out_id, acc) =
            (self.ptr(&sc.r), self.ptr(&sc.out_s), self.ptr(&sc.out_id), self.ptr(&sc.accepted));
        let inner = self.inner;
        // SAFETY (of the call): the arguments match fc_finalize; the state and `r` hold `q * w`
        // entries, the outputs `q * m` and `q`; 1 <= m <= w <= MAX_W.
        #[allow(unsafe_code)]
        let res = unsafe {
            ffi::launch_finalize(
                &inner.stream,
                &inner.finalize,
                q,
                st_s,
                st_id,
                r,
                int(w)?,
                int(m)?,
                check as i32,
                eps,
                out_s,
                out_id,
                acc,
            )
        };
        res.map_err(|e| cuda("cuLaunchKernel (fc_finalize)", &e))
    }

    fn sync(&mut self) -> Result<(), GpuError> {
        self.inner.stream.synchronize().map_err(|e| cuda("cuStreamSynchronize", &e))
    }

    fn read_state(&mut self, q: usize, m: usize, ids: &mut [u32], sims: &mut [f32]) -> Result<(), GpuError> {
        let stream = &self.inner.stream;
        stream.memcpy_dtoh(&self.st_id.slice(..q * m), ids).map_err(|e| cuda("cuMemcpyDtoHAsync", &e))?;
        stream.memcpy_dtoh(&self.st_s.slice(..q * m), sims).map_err(|e| cuda("cuMemcpyDtoHAsync", &e))?;
        // A copy to pageable memory returns once done; the wait makes it so whatever the driver.
        self.sync()
    }

    fn read_final(
        &mut self,
        q: usize,
        m: usize,
        ids: &mut [u32],
        sims: &mut [f32],
        accepted: &mut [u32],
    ) -> Result<(), GpuError> {
        let sc = self.screen()?;
        let stream = &self.inner.stream;
        let err = |e: DriverError| cuda("cuMemcpyDtoHAsync", &e);
        stream.memcpy_dtoh(&sc.out_id.slice(..q * m), ids).map_err(err)?;
        stream.memcpy_dtoh(&sc.out_s.slice(..q * m), sims).map_err(err)?;
        stream.memcpy_dtoh(&sc.accepted.slice(..q), accepted).map_err(err)?;
        self.sync()
    }
}
