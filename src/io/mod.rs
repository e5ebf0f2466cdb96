//! Reading features and labels, writing labels, and atomic output files.
//!
//! TODO(helper io): implement. Public API below is the contract other modules use.

mod atomic;
pub mod network;

pub use atomic::AtomicFile;

use std::path::Path;

use crate::error::Result;
use crate::features::Features;

/// How to read a feature file.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// Explicit format; `None` picks it from the extension (`.npy`, `.bin`/`.fvecs`-less raw).
    pub format: Option<FeatureFormat>,
    /// Row length of a raw `.bin` file (float32 values). Default 256.
    pub dim: usize,
    /// Scale rows to unit L2 norm (default true).
    pub normalize: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { format: None, dim: 256, normalize: true }
    }
}

/// Feature file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureFormat {
    /// NumPy `.npy`, 2-D.
    Npy,
    /// Raw little-endian float32 rows.
    Bin,
}

/// Reads and validates a feature matrix. `-` reads stdin (format must then be given).
pub fn load_features(path: &Path, options: &LoadOptions) -> Result<Features> {
    let _ = (path, options);
    todo!()
}

/// Reads integer labels, one per row: text (`.meta`, `.txt`, ...: one integer per line) or `.npy`.
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    let _ = path;
    todo!()
}

/// Writes labels one per line, atomically (`-` writes stdout).
pub fn write_labels(path: &Path, labels: &[u32]) -> Result<()> {
    let _ = (path, labels);
    todo!()
}
