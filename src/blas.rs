//! Which OpenBLAS kernels the exact search runs on, and which it should.
//!
//! The exact `Flat` search is `sgemm`. OpenBLAS built with `DYNAMIC_ARCH` (as Debian and Ubuntu
//! ship it) picks its kernels when the library loads, from the CPU model. A CPU model that its
//! tables do not know (Debian 12's OpenBLAS 0.3.21 predates many) falls back to a generic core,
//! `Prescott` (SSE3), whose `sgemm` is about 3 times slower than the AVX2 kernels the CPU
//! could run. OpenBLAS honours `OPENBLAS_CORETYPE` at load time, so the binary asks OpenBLAS
//! which core it picked ([`openblas_core`]), and when [`better_core`] names a faster one it
//! starts itself again with `OPENBLAS_CORETYPE` set (see `main.rs`).
//!
//! The library itself never reads or sets the environment: this module only answers questions.
//!
//! See: issue 5 ("Scale: a million faces on one ordinary machine, fast").

/// The SIMD level of this CPU that matters for OpenBLAS's `sgemm` kernels, as the OS lets
/// programs use it (`is_x86_feature_detected!` checks the OS's register saving too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CpuLevel {
    /// Anything below AVX2 + FMA (or not x86-64): OpenBLAS's choice stands.
    Baseline,
    /// AVX2 and FMA: OpenBLAS's `Haswell` kernels run.
    Avx2,
    /// AVX-512 F, CD, BW, DQ and VL: OpenBLAS's `SkylakeX` kernels run.
    Avx512,
}

impl CpuLevel {
    /// The level of the CPU this runs on.
    pub fn detect() -> CpuLevel {
        #[cfg(target_arch = "x86_64")]
        {
            use std::is_x86_feature_detected as has;
            if has!("avx512f") && has!("avx512cd") && has!("avx512bw") && has!("avx512dq") && has!("avx512vl") {
                return CpuLevel::Avx512;
            }
            if has!("avx2") && has!("fma") {
                return CpuLevel::Avx2;
            }
        }
        CpuLevel::Baseline
    }
}

/// OpenBLAS x86-64 cores that predate AVX2: what OpenBLAS falls back to for a CPU model it does
/// not know (`Prescott` above all, `Sandybridge` or `Nehalem` for some unknown Intel models,
/// the Bulldozer family for some unknown AMD ones). On a CPU with AVX2 and FMA each of them
/// leaves most of the `sgemm` speed unused.
pub const GENERIC_CORES: &[&str] = &[
    "Katmai",
    "Coppermine",
    "Northwood",
    "Prescott",
    "Banias",
    "Atom",
    "Core2",
    "Penryn",
    "Dunnington",
    "Nehalem",
    "Sandybridge",
    "Opteron",
    "Opteron_SSE3",
    "Barcelona",
    "Nano",
    "Bobcat",
    "Bulldozer",
    "Piledriver",
];

/// The `OPENBLAS_CORETYPE` to restart with when OpenBLAS picked `core` on a CPU of level `cpu`,
/// or `None` to keep OpenBLAS's choice.
///
/// Only a [generic](GENERIC_CORES) core on a CPU with AVX2 and FMA is replaced: by `SkylakeX`
/// when the CPU has the AVX-512 subsets those kernels use, else by `Haswell` (which AMD's Zen
/// cores run as well; OpenBLAS's `Zen` target uses the same kernels). A core OpenBLAS chose
/// for a CPU it recognised, including the AVX2 ones, is left alone.
///
/// ```
/// use face_cluster::blas::{better_core, CpuLevel};
/// assert_eq!(better_core("Prescott", CpuLevel::Avx2), Some("Haswell"));
/// assert_eq!(better_core("Zen", CpuLevel::Avx2), None);
/// assert_eq!(better_core("Prescott", CpuLevel::Baseline), None);
/// ```
pub fn better_core(core: &str, cpu: CpuLevel) -> Option<&'static str> {
    if !GENERIC_CORES.iter().any(|g| g.eq_ignore_ascii_case(core.trim())) {
        return None;
    }
    match cpu {
        CpuLevel::Baseline => None,
        CpuLevel::Avx2 => Some("Haswell"),
        CpuLevel::Avx512 => Some("SkylakeX"),
    }
}

/// The name of the core OpenBLAS selected (`openblas_get_corename`, e.g. `Haswell`, `Zen`,
/// `Prescott`), or `None` when no OpenBLAS is loaded in the process (another BLAS behind
/// `libblas.so.3`, or a platform without `dlsym`).
///
/// The function is looked up at run time rather than linked, so the binary still builds and
/// runs against any BLAS: faiss links the generic `libblas`, which pulls in `libopenblas.so.0`
/// only when OpenBLAS provides it.
pub fn openblas_core() -> Option<String> {
    #[cfg(unix)]
    {
        lookup_corename()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(unix)]
#[allow(unsafe_code)] // dlsym and a call through the pointer it returns.
fn lookup_corename() -> Option<String> {
    use std::ffi::{c_char, CStr};
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only searches the loaded
    // objects; it returns null when the symbol is absent.
    let symbol = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"openblas_get_corename".as_ptr()) };
    if symbol.is_null() {
        return None;
    }
    // SAFETY: OpenBLAS declares `char *openblas_get_corename(void)` (cblas.h); the symbol of
    // that name is that function.
    let corename: extern "C" fn() -> *const c_char = unsafe { std::mem::transmute(symbol) };
    let name = corename();
    if name.is_null() {
        return None;
    }
    // SAFETY: OpenBLAS returns a pointer to a static NUL-terminated string.
    let name = unsafe { CStr::from_ptr(name) };
    Some(name.to_string_lossy().trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_generic_cores_on_capable_cpus_are_replaced() {
        for core in ["Prescott", "prescott", "Core2", "Sandybridge", "Nehalem", "Katmai", "Bulldozer"] {
            assert_eq!(better_core(core, CpuLevel::Avx2), Some("Haswell"), "{core}");
            assert_eq!(better_core(core, CpuLevel::Avx512), Some("SkylakeX"), "{core}");
            assert_eq!(better_core(core, CpuLevel::Baseline), None, "{core}");
        }
        for core in ["Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator", "", "unknown"] {
            for cpu in [CpuLevel::Baseline, CpuLevel::Avx2, CpuLevel::Avx512] {
                assert_eq!(better_core(core, cpu), None, "{core} on {cpu:?}");
            }
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_core_is_known_exactly_when_openblas_is_loaded() {
        // faiss links libblas; on Debian and Ubuntu that is OpenBLAS's, which loads
        // libopenblas. Behind another BLAS there is no core to report.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let loaded = maps.contains("libopenblas");
        match openblas_core() {
            Some(core) => {
                assert!(loaded, "a core ({core}) without libopenblas mapped");
                assert!(!core.is_empty() && core.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "{core:?}");
            }
            None => assert!(!loaded, "libopenblas is mapped but its core is not found"),
        }
    }
}
