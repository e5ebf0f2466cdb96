//! The pruned k-NN graph as a CSR of directed links.
//!
//! TODO(helper knn): implement build_graph.

use crate::knn::Knn;

/// Directed weighted links in compressed sparse row form: the out-links of node `i` are
/// `targets[offsets[i]..offsets[i+1]]` with weights `weights[..]` (cosine similarity).
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// `n + 1` offsets into `targets` and `weights`.
    pub offsets: Vec<usize>,
    /// Link targets.
    pub targets: Vec<u32>,
    /// Link weights.
    pub weights: Vec<f32>,
}

impl Graph {
    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.offsets.len() - 1
    }
}

/// Keeps, from the first `k` slots of each k-NN row, the links `i -> j` with `j != i` and
/// similarity `>= min_sim`.
pub fn build_graph(knn: &Knn, k: usize, min_sim: f32) -> Graph {
    let _ = (knn, k, min_sim);
    todo!()
}
