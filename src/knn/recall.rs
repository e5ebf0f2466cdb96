//! The edge recall of a k-NN table against exact search, on a sample of rows.

use std::num::NonZeroUsize;

use faiss::index::flat::FlatIndex;
use faiss::Index;
use rayon::prelude::*;

use super::faiss::faiss_message;
use super::table::{dot, Knn};
use super::EXACT_MARGIN;
use crate::error::{Error, Result};
use crate::features::Features;
use crate::progress::{Progress, Stage};

/// Recall of a k-NN table against exact search, measured on a sample of rows.
///
/// Only the links the graph keeps matter for the clustering, so besides the plain top-`k`
/// recall this counts the *kept* links: `i -> j` with `j != i` and similarity `>= min_sim`
/// among row `i`'s exact top `k`. `kept_link_recall` is the share of those the table has.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recall {
    /// Rows sampled (distinct, uniformly at random).
    pub sample_rows: usize,
    /// Seed of the sample.
    pub seed: u64,
    /// Slots compared per row (the row itself included).
    pub k: usize,
    /// Threshold of the kept links.
    pub min_sim: f32,
    /// Exact top-`k` neighbours of the sampled rows found in the table, over all of them.
    pub topk_recall: f64,
    /// Exact kept links (`j != i`, similarity `>= min_sim`) of the sampled rows.
    pub exact_kept_links: usize,
    /// Of those, the links the table has.
    pub found_kept_links: usize,
    /// `found_kept_links / exact_kept_links` (1 when there are none).
    pub kept_link_recall: f64,
}

impl Recall {
    /// One line: the kept-link and top-k recall with their counts.
    pub fn summary(&self) -> String {
        format!(
            "edge recall {:.4} ({} of {} links with sim >= {} of {} sampled rows), top-{} recall {:.4}",
            self.kept_link_recall,
            self.found_kept_links,
            self.exact_kept_links,
            self.min_sim,
            self.sample_rows,
            self.k,
            self.topk_recall
        )
    }
}

/// Rows of each exact-search block of [`check_recall`]: bounds its memory (a faiss copy of one
/// block of rows) while keeping each product large enough for BLAS.
const RECALL_BLOCK_ROWS: usize = 1 << 16;

/// Measures the recall of `knn`'s first `k` slots on `sample` rows drawn with `seed`, against
/// an exact search of those rows (faiss `Flat`, block by block over all rows). See [`Recall`].
///
/// # Errors
///
/// [`Error::InvalidParameter`] for a `k` of 0 or above `knn.k()` (`--k`); [`Error::Faiss`]
/// when faiss fails.
///
/// # Panics
///
/// When `knn` was not computed from `features` (different row counts).
///
/// # Complexity
///
/// `O(s n d)` for `s` sampled rows, as BLAS products; memory `O(s k + 65536 d)`.
pub fn check_recall(
    features: &Features,
    knn: &Knn,
    k: usize,
    sample: NonZeroUsize,
    seed: u64,
    min_sim: f32,
    progress: &dyn Progress,
) -> Result<Recall> {
    let n = features.n();
    assert_eq!(knn.n(), n, "the k-NN table has {} rows, the features {n}", knn.n());
    knn.check_slots(k)?;
    let rows = sample_rows(n, sample.get(), seed);
    let exact = exact_search(features, &rows, k, progress)?;

    let (mut exact_topk, mut found_topk, mut exact_kept, mut found_kept) = (0usize, 0usize, 0usize, 0usize);
    for (r, &i) in rows.iter().enumerate() {
        let (ids, _) = knn.row(i);
        let approx = &ids[..k];
        for &(sim, j) in &exact[r] {
            let found = approx.contains(&j);
            exact_topk += 1;
            found_topk += usize::from(found);
            if j as usize != i && sim >= min_sim {
                exact_kept += 1;
                found_kept += usize::from(found);
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    Ok(Recall {
        sample_rows: rows.len(),
        seed,
        k,
        min_sim,
        topk_recall: ratio(found_topk, exact_topk),
        exact_kept_links: exact_kept,
        found_kept_links: found_kept,
        kept_link_recall: ratio(found_kept, exact_kept),
    })
}

/// `min(m, n)` distinct rows of `0..n`, uniformly at random, ascending.
fn sample_rows(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let m = m.min(n);
    // Floyd's algorithm: m draws, no n-sized buffer.
    let mut rng = crate::rng::Rng::new(seed);
    let mut chosen = std::collections::BTreeSet::new();
    for j in n - m..n {
        let t = rng.below(j as u64 + 1) as usize;
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// The exact top `k` (similarity, id) of each of `rows`, sorted by similarity descending then
/// id ascending, with similarities from [`dot`] as in the table.
fn exact_search(
    features: &Features,
    rows: &[usize],
    k: usize,
    progress: &dyn Progress,
) -> Result<Vec<Vec<(f32, u32)>>> {
    let (n, d) = (features.n(), features.dim());
    let context = || format!("exact search of {} sampled rows (n = {n}, d = {d}, k = {k})", rows.len());
    let faiss_err = |e: faiss::error::Error| Error::Faiss { context: context(), message: faiss_message(&e) };
    let queries: Vec<f32> = rows.iter().flat_map(|&i| features.row(i).iter().copied()).collect();
    let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(2 * k); rows.len()];
    let _stage = Stage::start(progress, "recall", Some(n as u64));
    for start in (0..n).step_by(RECALL_BLOCK_ROWS) {
        let end = (start + RECALL_BLOCK_ROWS).min(n);
        // d fits u32: build_knn checked it for the same features.
        let mut block = FlatIndex::new_ip(d as u32).map_err(faiss_err)?;
        block.add(&features.as_slice()[start * d..end * d]).map_err(faiss_err)?;
        // As any exact search: a margin of candidates, re-ranked by `dot` below.
        let kk = (k + EXACT_MARGIN).min(end - start);
        let result = block.search(&queries, kk).map_err(faiss_err)?;
        best.par_iter_mut().zip(result.labels.par_chunks_exact(kk)).enumerate().for_each(|(r, (list, labels))| {
            let query = features.row(rows[r]);
            for label in labels.iter().filter_map(|l| l.get()) {
                let id = start + label as usize;
                list.push((dot(query, features.row(id)), id as u32));
            }
            list.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            list.truncate(k);
        });
        progress.advance((end - start) as u64);
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KnnConfig;
    use crate::knn::build_knn;
    use crate::knn::testing::{config, random_features};
    use crate::progress::NoProgress;

    fn nz(v: usize) -> NonZeroUsize {
        NonZeroUsize::new(v).unwrap()
    }

    #[test]
    fn recall_of_an_exact_table_is_one_and_of_a_poor_one_below() {
        let f = random_features(3000, 16, 13);
        let exact = build_knn(&f, &config("Flat", 20), &NoProgress).unwrap();
        let r = check_recall(&f, &exact, 20, nz(200), 5, 0.5, &NoProgress).unwrap();
        assert_eq!((r.sample_rows, r.seed, r.k, r.min_sim), (200, 5, 20, 0.5));
        assert_eq!((r.topk_recall, r.kept_link_recall), (1.0, 1.0));
        assert_eq!(r.found_kept_links, r.exact_kept_links);
        assert!(r.exact_kept_links > 0);
        // One list probed of 64: most neighbours are missed.
        let c = KnnConfig { nprobe: Some(nz(1)), ..config("IVF64,Flat", 20) };
        let poor = build_knn(&f, &c, &NoProgress).unwrap();
        let r = check_recall(&f, &poor, 20, nz(200), 5, 0.5, &NoProgress).unwrap();
        assert!(r.topk_recall < 0.9 && r.kept_link_recall < 0.95, "{r:?}");
        assert!(r.found_kept_links < r.exact_kept_links);
        // Counted by hand: the kept links of each sampled row that the table holds.
        let rows = sample_rows(f.n(), 200, 5);
        let (mut exact_links, mut found) = (0, 0);
        for &i in &rows {
            for (&j, &sim) in exact.row(i).0.iter().zip(exact.row(i).1) {
                if j as usize != i && sim >= 0.5 {
                    exact_links += 1;
                    found += usize::from(poor.row(i).0.contains(&j));
                }
            }
        }
        assert_eq!((r.exact_kept_links, r.found_kept_links), (exact_links, found));
        let e = check_recall(&f, &exact, 21, nz(5), 5, 0.5, &NoProgress).unwrap_err();
        assert!(e.to_string().starts_with("invalid --k: k = 21 must be at least 1 and at most the 20"), "{e}");
    }

    #[test]
    fn recall_sample_is_distinct_seeded_and_capped() {
        let a = sample_rows(1000, 100, 9);
        assert_eq!(a.len(), 100);
        assert!(a.windows(2).all(|w| w[0] < w[1]) && a.iter().all(|&i| i < 1000));
        assert_eq!(a, sample_rows(1000, 100, 9));
        assert_ne!(a, sample_rows(1000, 100, 10));
        assert_eq!(sample_rows(50, 100, 9), (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn recall_spans_several_exact_blocks() {
        // More rows than one block of the exact search: results merged across blocks.
        let f = random_features(RECALL_BLOCK_ROWS + 1500, 8, 14);
        let rows = sample_rows(f.n(), 40, 3);
        let exact = exact_search(&f, &rows, 10, &NoProgress).unwrap();
        for (r, &i) in rows.iter().enumerate() {
            let mut all: Vec<(f32, u32)> = (0..f.n()).map(|j| (dot(f.row(i), f.row(j)), j as u32)).collect();
            all.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            assert_eq!(exact[r], all[..10], "row {i}");
        }
    }
}
