//! k-nearest-neighbour search with faiss.
//!
//! TODO(helper knn): implement.

use crate::error::Result;
use crate::features::Features;
use crate::progress::Progress;

/// Marks an empty neighbour slot (faiss returned fewer than `k` results for the row).
pub const NONE: u32 = u32::MAX;

/// How to search.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnConfig {
    /// Neighbours per row, the row itself included (faiss returns it first), as in the seed.
    pub k: usize,
    /// faiss index_factory string; `Flat` is exact.
    pub index: String,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig { k: 50, index: "Flat".to_string() }
    }
}

/// The k-NN table: row `i` holds up to `k` neighbour ids (the row itself included) sorted by
/// similarity descending, ties by id ascending, then [`NONE`] padding (sim = -inf).
#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    /// Rows.
    pub n: usize,
    /// Slots per row.
    pub k: usize,
    /// `n * k` neighbour ids, row-major.
    pub ids: Vec<u32>,
    /// `n * k` similarities, row-major.
    pub sims: Vec<f32>,
}

impl Knn {
    /// Neighbour ids and similarities of row `i` (padding included).
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = i * self.k..(i + 1) * self.k;
        (&self.ids[r.clone()], &self.sims[r])
    }
}

/// Searches every row of `features` against all rows.
pub fn build_knn(features: &Features, config: &KnnConfig, progress: &dyn Progress) -> Result<Knn> {
    let _ = (features, config, progress);
    todo!()
}
