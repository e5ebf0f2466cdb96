//! What Infomap reads: any directed weighted link list.
//!
//! The optimiser never sees faces or files, only a [`LinkSource`]: a node count and, per node,
//! its out-links. The k-NN graph implements it without copying its links; [`Network`] holds a
//! link list read from a file or built in code.

/// A directed weighted network, read one source node at a time.
///
/// Conventions, as the reference Infomap reads links (spec §2):
/// - links with a weight that is not finite and positive are ignored;
/// - repeated `(source, target)` pairs act as one link with the summed weight;
/// - self-links take part in the flow calculation but never in the optimisation.
pub trait LinkSource: Sync {
    /// The weight type (`f32` or `f64`); flow is computed in f64 either way.
    type Weight: Copy + Default + Into<f64> + Send + Sync;

    /// Number of nodes; ids are `0..num_nodes()`.
    fn num_nodes(&self) -> usize;

    /// Calls `visit(target, weight)` for every out-link of `source`.
    fn for_each_out_link(&self, source: usize, visit: impl FnMut(u32, Self::Weight));
}

/// An owned link list in compressed sparse row form, sorted by source.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Network {
    offsets: Vec<usize>,
    targets: Vec<u32>,
    weights: Vec<f64>,
}

impl Network {
    /// Builds a network of `num_nodes` nodes from `(source, target, weight)` links.
    ///
    /// # Panics
    ///
    /// If a link names a node `>= num_nodes`.
    pub fn from_links(num_nodes: usize, links: &[(u32, u32, f64)]) -> Self {
        let mut offsets = vec![0usize; num_nodes + 1];
        for &(s, t, _) in links {
            assert!((s as usize) < num_nodes && (t as usize) < num_nodes, "link {s} -> {t} outside 0..{num_nodes}");
            offsets[s as usize + 1] += 1;
        }
        for i in 0..num_nodes {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; links.len()];
        let mut weights = vec![0f64; links.len()];
        for &(s, t, w) in links {
            let slot = &mut fill[s as usize];
            targets[*slot] = t;
            weights[*slot] = w;
            *slot += 1;
        }
        Network { offsets, targets, weights }
    }

    /// Number of links (as given, repeated pairs counted separately).
    pub fn num_links(&self) -> usize {
        self.targets.len()
    }
}

impl LinkSource for Network {
    type Weight = f64;

    fn num_nodes(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    fn for_each_out_link(&self, source: usize, mut visit: impl FnMut(u32, f64)) {
        let range = self.offsets[source]..self.offsets[source + 1];
        for (&t, &w) in self.targets[range.clone()].iter().zip(&self.weights[range]) {
            visit(t, w);
        }
    }
}
