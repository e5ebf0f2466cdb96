//! The network of a saved clustering, read straight from its k-NN table.

use crate::config::{EdgeConfig, Pruning, Similarity, Weighting};
use crate::edges::row_links_of;
use crate::infomap::LinkSource;
use crate::knn::{KnnRows, NONE};

/// A k-NN table with its link rule: a [`LinkSource`] whose links are computed from each row
/// when asked, so no graph is built. Row-local rules only ([`crate::edges::is_row_local`]),
/// which [`super::State`] guarantees.
#[derive(Debug)]
pub struct TableNetwork<'a, T: KnnRows> {
    table: &'a T,
    min_sim: Similarity,
    edges: EdgeConfig,
}

impl<T: KnnRows> Clone for TableNetwork<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: KnnRows> Copy for TableNetwork<'_, T> {}

impl<'a, T: KnnRows> TableNetwork<'a, T> {
    /// The network of `table`'s links under `min_sim` and `edges`.
    pub fn new(table: &'a T, min_sim: Similarity, edges: EdgeConfig) -> Self {
        TableNetwork { table, min_sim, edges }
    }

    /// Row `i`'s kept links, `(target, weight)` in row order, appended to `out`.
    pub fn links(&self, i: usize, out: &mut Vec<(u32, f32)>) {
        self.for_each_out_link(i, |j, w| out.push((j, w)));
    }

    /// The links row `i` would keep with the k-NN slots `ids`/`sims` (`k` each) instead of
    /// its own, appended to `out`: what the rule makes of a row as it was before a change.
    pub fn links_of_slots(&self, i: usize, ids: &[u32], sims: &[f32], out: &mut Vec<(u32, f32)>) {
        self.visit_slots(i, ids, sims, |j, w| out.push((j, w)));
    }

    fn visit_slots(&self, source: usize, ids: &[u32], sims: &[f32], mut visit: impl FnMut(u32, f32)) {
        if self.is_plain() {
            // The seed's rule, without a buffer: rows are sorted, so stop at the threshold.
            let min_sim = self.min_sim.get();
            for (&j, &s) in ids.iter().zip(sims) {
                if s < min_sim {
                    break;
                }
                if j != NONE && j as usize != source {
                    visit(j, s);
                }
            }
            return;
        }
        let (mut scratch, mut links) = (Vec::new(), Vec::new());
        row_links_of(ids, sims, source, self.min_sim, &self.edges, &mut scratch, &mut links);
        for (j, w) in links {
            visit(j, w);
        }
    }

    /// The target of row `i`'s strongest link, if it kept any.
    pub fn strongest_target(&self, i: usize) -> Option<u32> {
        let mut first = None;
        self.for_each_out_link(i, |j, _| {
            if first.is_none() {
                first = Some(j);
            }
        });
        first
    }

    fn is_plain(&self) -> bool {
        self.edges.pruning == Pruning::Threshold && self.edges.weighting == Weighting::Sim
    }
}

impl<T: KnnRows> LinkSource for TableNetwork<'_, T> {
    type Weight = f32;

    fn num_nodes(&self) -> usize {
        self.table.num_rows()
    }

    #[inline]
    fn for_each_out_link(&self, source: usize, visit: impl FnMut(u32, f32)) {
        let (ids, sims) = self.table.knn_row(source);
        self.visit_slots(source, ids, sims, visit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KnnConfig, K};
    use crate::edges::build_edges;
    use crate::error::Param;
    use crate::knn::build_knn;
    use crate::progress::NoProgress;

    #[test]
    fn links_are_those_of_the_graph() {
        let f = crate::synth::generate(&crate::synth::SynthConfig { n: 600, dim: 32, seed: 2, ..Default::default() })
            .unwrap();
        let f = crate::Features::new(f.features, std::path::Path::new("s"), true).unwrap();
        let knn = build_knn(
            &f,
            &KnnConfig { k: K::new(20).unwrap(), index: "Flat".into(), ..KnnConfig::default() },
            &NoProgress,
        )
        .unwrap();
        let min_sim = Similarity::new(Param::MinSim, 0.5).unwrap();
        for edges in [
            EdgeConfig::default(),
            EdgeConfig { pruning: Pruning::Adaptive, weighting: Weighting::Normalized, ..EdgeConfig::default() },
        ] {
            let graph = build_edges(&knn, 20, min_sim, &edges).unwrap();
            let net = TableNetwork::new(&knn, min_sim, edges);
            assert_eq!(net.num_nodes(), 600);
            for i in 0..600 {
                let mut links = Vec::new();
                net.links(i, &mut links);
                let (t, w) = graph.out_links(i);
                assert_eq!(links, t.iter().copied().zip(w.iter().copied()).collect::<Vec<_>>());
                assert_eq!(net.strongest_target(i), t.first().copied());
            }
        }
    }
}
