//! The pruned k-NN graph as a CSR of directed links: the network Infomap partitions.
//!
//! [`crate::edges::build_edges`] builds it from a [`crate::knn::Knn`] table. Links stay
//! directed (`j` in `i`'s list does not put `i` in `j`'s), and nothing is merged or
//! symmetrised here; that is the partitioner's business.
//!
//! A node none of whose neighbours passes the threshold keeps no out-link. The method makes each
//! such *singleton* its own cluster, so the graph keeps every node (ids stay `0..n`) and
//! [`Graph::num_singletons`] counts them.
//!
//! # Layout
//!
//! Compressed sparse row: node `i`'s out-links are `targets[offsets[i]..offsets[i + 1]]`, with
//! weights at the same positions of `weights`, in the k-NN row's order (similarity descending,
//! then id ascending). Targets are `u32`, so a link costs 8 bytes plus 8 bytes of offset per
//! node.

use crate::error::{Error, Param, Result};
use crate::infomap::LinkSource;

/// Directed weighted links in compressed sparse row form: the out-links of node `i` are
/// `targets[offsets[i]..offsets[i+1]]` with weights `weights[..]`.
///
/// Invariants, guaranteed by every constructor: `offsets` has `n + 1` entries, starts at 0,
/// never decreases and ends at `targets.len() == weights.len()`; every target is a node `< n`
/// other than the link's source; `n` fits `u32`.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    offsets: Vec<usize>,
    targets: Vec<u32>,
    weights: Vec<f32>,
}

impl Graph {
    /// A graph from its compressed sparse rows.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] (`input`) naming the first broken invariant (see [`Graph`]).
    pub fn from_csr(offsets: Vec<usize>, targets: Vec<u32>, weights: Vec<f32>) -> Result<Graph> {
        check_csr(&offsets, &targets, &weights)
            .map_err(|problem| Error::invalid(Param::Input, format!("graph: {problem}")))?;
        Ok(Graph { offsets, targets, weights })
    }

    /// A graph whose invariants its builder guarantees.
    pub(crate) fn from_parts(offsets: Vec<usize>, targets: Vec<u32>, weights: Vec<f32>) -> Graph {
        debug_assert_eq!(check_csr(&offsets, &targets, &weights), Ok(()));
        Graph { offsets, targets, weights }
    }

    /// All link weights, node by node.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of directed links.
    pub fn num_links(&self) -> usize {
        self.targets.len()
    }

    /// Targets and weights of node `i`'s out-links, by weight descending.
    ///
    /// # Panics
    ///
    /// When `i >= n`.
    pub fn out_links(&self, i: usize) -> (&[u32], &[f32]) {
        let r = self.offsets[i]..self.offsets[i + 1];
        (&self.targets[r.clone()], &self.weights[r])
    }

    /// Whether node `i` kept at least one out-link.
    ///
    /// # Panics
    ///
    /// When `i >= n`.
    pub fn has_out_links(&self, i: usize) -> bool {
        self.offsets[i + 1] > self.offsets[i]
    }

    /// The nodes without out-links, ascending. The method makes each one its own cluster.
    pub fn singletons(&self) -> impl Iterator<Item = u32> + '_ {
        self.offsets
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[0] == w[1])
            // n <= knn::MAX_ROWS, so node ids fit u32.
            .map(|(i, _)| i as u32)
    }

    /// Number of nodes without out-links.
    pub fn num_singletons(&self) -> usize {
        self.offsets.windows(2).filter(|w| w[0] == w[1]).count()
    }
}

/// The first broken invariant of [`Graph`], if any.
fn check_csr(offsets: &[usize], targets: &[u32], weights: &[f32]) -> std::result::Result<(), String> {
    if offsets.first() != Some(&0) || offsets.last() != Some(&targets.len()) || targets.len() != weights.len() {
        return Err(format!(
            "{} offsets, {} targets and {} weights are no compressed sparse rows",
            offsets.len(),
            targets.len(),
            weights.len()
        ));
    }
    let n = offsets.len() - 1;
    if u32::try_from(n).is_err() {
        return Err(format!("{n} nodes do not fit u32 ids"));
    }
    if let Some(i) = offsets.windows(2).position(|w| w[0] > w[1]) {
        return Err(format!("offsets decrease at node {i}"));
    }
    // Non-decreasing from 0 to targets.len(): every range below is in bounds.
    for (i, w) in offsets.windows(2).enumerate() {
        if let Some(&t) = targets[w[0]..w[1]].iter().find(|&&t| t as usize >= n || t as usize == i) {
            return Err(format!("node {i} links to {t}"));
        }
    }
    Ok(())
}

/// The graph as Infomap's input: links weighted by similarity. Links of weight `<= 0` (only
/// possible with a negative `min_sim`) are ignored by Infomap.
impl LinkSource for Graph {
    type Weight = f32;

    fn num_nodes(&self) -> usize {
        self.n()
    }

    fn for_each_out_link(&self, source: usize, mut visit: impl FnMut(u32, f32)) {
        let (targets, weights) = self.out_links(source);
        for (&t, &w) in targets.iter().zip(weights) {
            visit(t, w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_csr_checks_the_invariants() {
        let g = Graph::from_csr(vec![0, 2, 3, 3], vec![1, 2, 0], vec![0.9, 0.5, 0.7]).unwrap();
        assert_eq!((g.n(), g.num_links(), g.num_singletons()), (3, 3, 1));
        assert_eq!(g.out_links(0), (&[1, 2][..], &[0.9, 0.5][..]));
        assert_eq!(g.singletons().collect::<Vec<_>>(), [2]);
        assert!(g.has_out_links(1) && !g.has_out_links(2));
        for (offsets, targets, weights, problem) in [
            (vec![], vec![], vec![], "no compressed sparse rows"),
            (vec![0, 2], vec![1], vec![1.0], "no compressed sparse rows"),
            (vec![0, 1], vec![1], vec![], "no compressed sparse rows"),
            (vec![0, 2, 1, 2], vec![1, 2], vec![1.0, 1.0], "offsets decrease at node 1"),
            (vec![0, 5, 2], vec![1, 0], vec![1.0, 1.0], "offsets decrease at node 1"),
            (vec![0, 1, 1], vec![0], vec![1.0], "node 0 links to 0"),
            (vec![0, 1, 1], vec![2], vec![1.0], "node 0 links to 2"),
        ] {
            let e = Graph::from_csr(offsets, targets, weights).unwrap_err().to_string();
            assert!(e.starts_with("invalid input: graph: ") && e.ends_with(problem), "{e}");
        }
    }
}
