//! The pruned k-NN graph as a CSR of directed links.
//!
//! [`build_graph`] turns a [`Knn`] table into the network Infomap partitions, with the rule of
//! the face-cluster-by-infomap method: from the first `k` slots of row `i`, keep a link
//! `i -> j` for every neighbour `j` other than `i` itself whose similarity is at least
//! `min_sim`, weighted by that similarity. Links stay directed (`j` in `i`'s list does not put
//! `i` in `j`'s), and nothing is merged or symmetrised here; that is the partitioner's business.
//!
//! The self entry is dropped *by id*, not by position: with duplicate feature vectors a
//! duplicate can tie with the row itself and sort before it (ties go by id).
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
//! node. The graph is built in two passes over the table (count, then fill), so the arrays are
//! allocated once at their exact size and no intermediate list of link tuples exists.

use crate::error::{Error, Result};
use crate::infomap::LinkSource;
use crate::knn::{Knn, NONE};

/// Directed weighted links in compressed sparse row form: the out-links of node `i` are
/// `targets[offsets[i]..offsets[i+1]]` with weights `weights[..]` (cosine similarity).
///
/// Invariants, guaranteed by [`build_graph`]: `offsets` has `n + 1` entries, starts at 0, never
/// decreases and ends at `targets.len() == weights.len()`; every target is a node `< n` other
/// than the link's source.
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

/// Checks the arguments of a graph builder: `k` slots of `knn` (at least 1, at most
/// `knn.k`) and a `min_sim` that is a number.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `--k` or `--min-sim`.
///
/// # Panics
///
/// When `knn` breaks its documented invariants (`ids` or `sims` not of length `n * k`).
pub(crate) fn check_table_args(knn: &Knn, k: usize, min_sim: f32) -> Result<()> {
    if k == 0 || k > knn.k {
        return Err(Error::invalid(
            "--k",
            format!("k = {k} must be at least 1 and at most the {} neighbours per row of the k-NN table", knn.k),
        ));
    }
    if min_sim.is_nan() {
        return Err(Error::invalid("--min-sim", "is NaN"));
    }
    assert!(
        knn.ids.len() == knn.n * knn.k && knn.sims.len() == knn.n * knn.k,
        "Knn invariant broken: {} ids and {} sims for {} x {}",
        knn.ids.len(),
        knn.sims.len(),
        knn.n,
        knn.k
    );
    Ok(())
}

/// Keeps, from the first `k` slots of each k-NN row, the links `i -> j` with `j != i` and
/// similarity `>= min_sim` (inclusive), weighted by the similarity.
///
/// `k` counts slots, the row's own entry included, as `--k` does for the search: `k` here may
/// be smaller than `knn.k`, which is how a cached table computed with a larger `k` is reused.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for `k == 0` or `k > knn.k` (`--k`: the table holds fewer
/// neighbours than asked for) and for a NaN `min_sim` (`--min-sim`).
///
/// # Panics
///
/// When `knn` breaks its documented invariants (`ids` or `sims` not of length `n * k`).
///
/// # Complexity
///
/// `O(n k)` time in two sequential passes; memory `8 (n + 1) + 8 L` bytes for `L` kept links.
pub fn build_graph(knn: &Knn, k: usize, min_sim: f32) -> Result<Graph> {
    check_table_args(knn, k, min_sim)?;
    let row = |i: usize| {
        let start = i * knn.k;
        (&knn.ids[start..start + k], &knn.sims[start..start + k])
    };
    // The self entry goes by id (see the module docs); NONE padding has sim -inf.
    let keep = |self_id: u32, id: u32, sim: f32| id != NONE && id != self_id && sim >= min_sim;
    // Sequential on purpose: both passes are memory-bound (about 1 s for 1M rows x 80 slots on
    // two cores) and small next to the search and Infomap; rayon would not pay.
    let mut offsets = Vec::with_capacity(knn.n + 1);
    offsets.push(0);
    let mut total = 0;
    for i in 0..knn.n {
        let (ids, sims) = row(i);
        let self_id = i as u32; // n <= knn::MAX_ROWS
        total += ids.iter().zip(sims).map(|(&id, &sim)| usize::from(keep(self_id, id, sim))).sum::<usize>();
        offsets.push(total);
    }
    let mut targets = Vec::with_capacity(total);
    let mut weights = Vec::with_capacity(total);
    for i in 0..knn.n {
        let (ids, sims) = row(i);
        let self_id = i as u32;
        for (&id, &sim) in ids.iter().zip(sims) {
            if keep(self_id, id, sim) {
                targets.push(id);
                weights.push(sim);
            }
        }
    }
    debug_assert_eq!(targets.len(), total);
    Ok(Graph { offsets, targets, weights })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::tests::{random_features, uniform_f32};
    use crate::knn::{build_knn, KnnConfig};
    use crate::progress::NoProgress;
    use crate::rng::Rng;
    use crate::Features;
    use std::path::Path;

    const NINF: f32 = f32::NEG_INFINITY;

    fn knn(k: usize, rows: &[&[(u32, f32)]]) -> Knn {
        let mut ids = Vec::new();
        let mut sims = Vec::new();
        for row in rows {
            assert_eq!(row.len(), k);
            ids.extend(row.iter().map(|l| l.0));
            sims.extend(row.iter().map(|l| l.1));
        }
        Knn { n: rows.len(), k, ids, sims }
    }

    fn links(g: &Graph, i: usize) -> Vec<(u32, f32)> {
        let (t, w) = g.out_links(i);
        t.iter().copied().zip(w.iter().copied()).collect()
    }

    fn assert_csr(g: &Graph, n: usize) {
        assert_eq!(g.offsets.len(), n + 1);
        assert_eq!(g.offsets[0], 0);
        assert!(g.offsets.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*g.offsets.last().unwrap(), g.targets.len());
        assert_eq!(g.targets.len(), g.weights.len());
        for i in 0..n {
            assert!(g.out_links(i).0.iter().all(|&j| (j as usize) < n && j as usize != i));
        }
    }

    #[test]
    fn self_links_dropped_threshold_inclusive_padding_skipped() {
        let t = knn(
            4,
            &[
                &[(0, 1.0), (1, 0.7), (2, 0.5), (3, 0.49)],
                &[(1, 1.0), (0, 0.7), (NONE, NINF), (NONE, NINF)],
                &[(2, 1.0), (3, 0.2), (0, 0.1), (1, 0.0)],
                &[(3, 1.0), (2, 0.2), (NONE, NINF), (NONE, NINF)],
            ],
        );
        let g = build_graph(&t, 4, 0.5).unwrap();
        assert_csr(&g, 4);
        assert_eq!(g.n(), 4);
        assert_eq!(links(&g, 0), [(1, 0.7), (2, 0.5)]);
        assert_eq!(links(&g, 1), [(0, 0.7)]);
        assert_eq!(links(&g, 2), []);
        assert_eq!(links(&g, 3), []);
        assert_eq!(g.num_links(), 3);
        assert_eq!(g.num_singletons(), 2);
        assert_eq!(g.singletons().collect::<Vec<_>>(), [2, 3]);
        assert!(g.has_out_links(0) && !g.has_out_links(2));
        assert_eq!(g.offsets, [0, 2, 3, 3, 3]);
    }

    #[test]
    fn only_the_first_k_slots_count() {
        let t = knn(
            4,
            &[
                &[(0, 1.0), (1, 0.9), (2, 0.8), (3, 0.7)],
                &[(1, 1.0), (0, 0.9), (3, 0.8), (2, 0.7)],
                &[(2, 1.0), (3, 0.9), (1, 0.8), (0, 0.7)],
                &[(3, 1.0), (2, 0.9), (1, 0.8), (0, 0.7)],
            ],
        );
        let g = build_graph(&t, 2, 0.0).unwrap();
        assert_eq!((0..4).map(|i| links(&g, i)).collect::<Vec<_>>(), [[(1, 0.9)], [(0, 0.9)], [(3, 0.9)], [(2, 0.9)]]);
        assert_eq!(build_graph(&t, 1, 0.0).unwrap().num_singletons(), 4);
        assert_eq!(build_graph(&t, 4, 0.0).unwrap().num_links(), 12);
    }

    #[test]
    fn self_entry_is_dropped_by_id_when_a_duplicate_sorts_first() {
        // Rows 0 and 1 are duplicates: in row 1, id 0 ties with the row itself and comes first.
        let t = knn(
            3,
            &[&[(0, 1.0), (1, 1.0), (2, 0.6)], &[(0, 1.0), (1, 1.0), (2, 0.6)], &[(2, 1.0), (0, 0.6), (1, 0.6)]],
        );
        let g = build_graph(&t, 3, 0.5).unwrap();
        assert_eq!(links(&g, 0), [(1, 1.0), (2, 0.6)]);
        assert_eq!(links(&g, 1), [(0, 1.0), (2, 0.6)]);
        assert_eq!(links(&g, 2), [(0, 0.6), (1, 0.6)]);
    }

    #[test]
    fn duplicate_vectors_through_faiss() {
        // 200 random rows, then 5 copies of row 0 and 3 of row 1 appended.
        let base = random_features(200, 16, 21);
        let mut data = base.view().to_owned();
        for src in [0, 0, 0, 0, 0, 1, 1, 1] {
            let row = data.row(src).to_owned();
            data.push_row(row.view()).unwrap();
        }
        let f = Features::new(data, Path::new("dups"), false).unwrap();
        let knn = build_knn(&f, &KnnConfig { k: 10, ..KnnConfig::default() }, &NoProgress).unwrap();
        // The case this test is for: some duplicate's row starts with another copy, not itself.
        assert!((200..f.n()).any(|i| knn.row(i).0[0] != i as u32));
        let g = build_graph(&knn, 10, 0.99).unwrap();
        assert_csr(&g, f.n());
        let group_a = [0u32, 200, 201, 202, 203, 204];
        let group_b = [1u32, 205, 206, 207];
        for group in [&group_a[..], &group_b[..]] {
            for &i in group {
                let mut got = g.out_links(i as usize).0.to_vec();
                got.sort_unstable();
                let want: Vec<u32> = group.iter().copied().filter(|&j| j != i).collect();
                assert_eq!(got, want, "node {i}");
                assert!(g.out_links(i as usize).1.iter().all(|&w| w > 0.999));
            }
        }
        // Random 16-d rows are never 0.99-similar: everything else is a singleton.
        assert_eq!(g.num_singletons(), f.n() - group_a.len() - group_b.len());
    }

    #[test]
    fn threshold_above_everything_gives_all_singletons() {
        let f = random_features(100, 8, 22);
        let knn = build_knn(&f, &KnnConfig { k: 5, ..KnnConfig::default() }, &NoProgress).unwrap();
        let g = build_graph(&knn, 5, 1.5).unwrap();
        assert_csr(&g, 100);
        assert_eq!((g.num_links(), g.num_singletons()), (0, 100));
        let g = build_graph(&knn, 5, -1.0).unwrap();
        assert_eq!((g.num_links(), g.num_singletons()), (400, 0));
    }

    #[test]
    fn bad_parameters_are_errors() {
        let t = knn(2, &[&[(0, 1.0), (1, 0.5)], &[(1, 1.0), (0, 0.5)]]);
        for k in [0, 3] {
            let e = build_graph(&t, k, 0.5).unwrap_err();
            assert!(matches!(e, Error::InvalidParameter { name: "--k", .. }), "{e}");
            assert!(e.to_string().contains(&format!("k = {k}")), "{e}");
        }
        let e = build_graph(&t, 2, f32::NAN).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "--min-sim", .. }), "{e}");
    }

    /// Random canonical-looking tables: the CSR equals a naive per-row filter.
    #[test]
    fn matches_a_naive_filter() {
        let mut rng = Rng::new(23);
        for _ in 0..50 {
            let n = 1 + (rng.next_u64() % 40) as usize;
            let table_k = 1 + (rng.next_u64() % 8) as usize;
            let mut ids = Vec::new();
            let mut sims = Vec::new();
            for _ in 0..n {
                let filled = (rng.next_u64() % (table_k as u64 + 1)) as usize;
                let mut row: Vec<(f32, u32)> = (0..filled)
                    .map(|_| ((uniform_f32(&mut rng) * 4.0).round() / 4.0, (rng.next_u64() % n as u64) as u32))
                    .collect();
                row.sort_by_key(|l| l.1);
                row.dedup_by_key(|l| l.1);
                row.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
                row.resize(table_k, (NINF, NONE));
                ids.extend(row.iter().map(|l| l.1));
                sims.extend(row.iter().map(|l| l.0));
            }
            let t = Knn { n, k: table_k, ids, sims };
            let k = 1 + (rng.next_u64() % table_k as u64) as usize;
            let min_sim = (uniform_f32(&mut rng) * 4.0).round() / 4.0;
            let g = build_graph(&t, k, min_sim).unwrap();
            assert_csr(&g, n);
            for i in 0..n {
                let (row_ids, row_sims) = t.row(i);
                let want: Vec<(u32, f32)> = row_ids[..k]
                    .iter()
                    .zip(&row_sims[..k])
                    .filter(|(&j, &s)| j != NONE && j as usize != i && s >= min_sim)
                    .map(|(&j, &s)| (j, s))
                    .collect();
                assert_eq!(links(&g, i), want);
            }
            assert_eq!(g.num_singletons(), (0..n).filter(|&i| !g.has_out_links(i)).count());
        }
    }
}
