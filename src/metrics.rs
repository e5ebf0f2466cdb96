//! Clustering scores against ground truth: pairwise and BCubed precision, recall and F, and NMI.
//!
//! These are the three metrics of the published face-clustering tables. They are computed as
//! the learn-to-cluster evaluation computes them (`evaluation/metrics.py` for pairwise and
//! BCubed, scikit-learn's `normalized_mutual_info_score` for NMI), so that our numbers can
//! stand next to the published ones.
//!
//! # Definitions
//!
//! There are `n` items. True cluster `i` has `a_i` items, predicted cluster `j` has `b_j`
//! items, and `n_ij` items are in both (the contingency table). Sums run over the non-zero
//! cells and clusters.
//!
//! ```text
//! tk = Σ_ij n_ij² − n        twice the number of item pairs together in both
//! pk = Σ_j  b_j²  − n        twice the number of pairs together in the prediction
//! qk = Σ_i  a_i²  − n        twice the number of pairs together in the ground truth
//!
//! pairwise precision = tk / pk             pairwise recall = tk / qk
//! BCubed precision   = (1/n) Σ_ij n_ij² / b_j
//! BCubed recall      = (1/n) Σ_ij n_ij² / a_i
//! F                  = 2 P R / (P + R)     (for each of pairwise and BCubed)
//!
//! MI   = Σ_ij (n_ij / n) ln(n n_ij / (a_i b_j))
//! H(T) = −Σ_i (a_i / n) ln(a_i / n)        H(P) = −Σ_j (b_j / n) ln(b_j / n)
//! NMI  = MI / ((H(T) + H(P)) / 2)          (arithmetic mean, scikit-learn's default)
//! ```
//!
//! BCubed is the item-wise definition regrouped by cell: an item's BCubed precision is the
//! share of its predicted cluster that shares its true cluster, `n_ij / b_j`, and the `n_ij`
//! items of a cell all have that value. The base of the logarithm cancels in NMI.
//!
//! # Degenerate cases
//!
//! The reference code divides zero by zero in some of these (numpy then yields NaN), so no
//! published figure depends on the values chosen here. Every score is defined for every input
//! that [`evaluate`] accepts:
//!
//! | Case | Formula problem | Value | Why |
//! |---|---|---|---|
//! | empty input, or lengths differ | nothing to score | [`Error::LabelCount`] | |
//! | more than `u32::MAX` items | none | [`Error::InvalidParameter`] | ids are `u32` to keep the counting in cache |
//! | partitions identical up to renaming (includes `n = 1`, both one cluster, both all singletons) | `pk = qk = 0` or `H(T) = H(P) = 0` | every score exactly 1.0 | a perfect match; scikit-learn's NMI, Rand and adjusted Rand scores return 1.0 here too. Detected, not left to rounding |
//! | prediction all singletons, truth is not (`pk = 0`) | pairwise precision 0/0 | precision 1.0 (recall 0, F 0) | no predicted pair, so no predicted pair is wrong. BCubed precision is 1 here by its formula |
//! | truth all singletons, prediction is not (`qk = 0`) | pairwise recall 0/0 | recall 1.0 (precision 0, F 0) | no true pair, so none is missed. The mirror of the row above |
//! | `P + R = 0` (e.g. truth `[0,0,1,1]`, prediction `[0,1,0,1]`) | F 0/0 | F 0.0 | F ≤ 2 min(P, R), so 0 is its limit |
//! | exactly one side is a single cluster | none (`MI = 0`, mean entropy > 0) | NMI 0.0 | scikit-learn's value (its `mutual_info_score` returns 0 when a side has one cluster) |
//!
//! Why P = 1 when `pk = 0` and R = 1 when `qk = 0`: a rule for `pk = 0` that looks only at
//! the prediction must give 1 when both sides are all singletons (identical partitions score
//! 1), and the rule for `qk = 0` must mirror it so that swapping truth and prediction swaps
//! precision and recall. It also agrees with BCubed precision, which is 1 for an
//! all-singletons prediction by its formula. BCubed itself never divides by zero, since every
//! cluster and `n` are at least 1.
//!
//! # Numerics and guarantees
//!
//! - Each side is first renamed to dense ids `0..k` in order of first appearance, and all
//!   arithmetic follows those ids. The scores therefore depend only on the two partitions:
//!   renaming the labels of either side gives bit-identical scores.
//! - Counts and sums of squares are exact integers (`u64`: with at most `u32::MAX` items they
//!   stay below `n² < 2^64`), so each pairwise score is one correctly rounded division.
//!   BCubed sums one quotient per cluster in id order, so swapping truth and prediction swaps
//!   BCubed precision and recall bit for bit; NMI sums over cells and stays symmetric up to
//!   rounding.
//! - Every score is clamped to `[0, 1]`, which only ever removes rounding error.
//!
//! # Complexity
//!
//! `O(n)` time and memory when a side's labels span fewer than `2n` consecutive values (the
//! usual dense ids), renamed through a lookup table; a side with wider labels is renamed
//! through a hash map, `O(n)` expected. The contingency table is then built by grouping items
//! by true cluster (a counting sort) and counting predicted ids in a scratch array, which is
//! linear with no sorting and no hashing.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Param, Result};

/// Precision, recall and their harmonic mean, each in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prf {
    /// Precision: how pure the predicted clusters are.
    pub precision: f64,
    /// Recall: how complete the predicted clusters are.
    pub recall: f64,
    /// F-score, `2 P R / (P + R)`, and 0 when `P + R = 0`.
    pub f: f64,
}

impl Prf {
    /// Clamps both values to `[0, 1]` and adds their F-score.
    fn new(precision: f64, recall: f64) -> Prf {
        let precision = precision.clamp(0.0, 1.0);
        let recall = recall.clamp(0.0, 1.0);
        let sum = precision + recall;
        // `p * r` and `p + r` are symmetric in floating point, so swapping P and R keeps F.
        let f = if sum > 0.0 { (2.0 * (precision * recall) / sum).min(1.0) } else { 0.0 };
        Prf { precision, recall, f }
    }

    /// Precision, recall and F all 1.
    const PERFECT: Prf = Prf { precision: 1.0, recall: 1.0, f: 1.0 };
}

/// The scores of a predicted clustering against ground truth, from [`evaluate`].
///
/// Serialises (JSON) as
/// `{"pairwise":{"precision":..,"recall":..,"f":..},"bcubed":{..},"nmi":..,"pred_clusters":..,"true_clusters":..,"n":..}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scores {
    /// Pairwise (Fowlkes–Mallows style) precision, recall and F over item pairs.
    pub pairwise: Prf,
    /// BCubed precision, recall and F, averaged over items.
    pub bcubed: Prf,
    /// Normalised mutual information, arithmetic-mean normalisation.
    pub nmi: f64,
    /// Number of distinct predicted labels.
    pub pred_clusters: usize,
    /// Number of distinct ground-truth labels.
    pub true_clusters: usize,
    /// Number of items scored.
    pub n: usize,
}

impl Scores {
    /// The scores in one line, as the run summaries print them.
    pub fn line(&self) -> String {
        format!(
            "pairwise F {:.4} (P {:.4} R {:.4}), BCubed F {:.4} (P {:.4} R {:.4}), NMI {:.4}; {} true clusters",
            self.pairwise.f,
            self.pairwise.precision,
            self.pairwise.recall,
            self.bcubed.f,
            self.bcubed.precision,
            self.bcubed.recall,
            self.nmi,
            self.true_clusters
        )
    }

    /// The scores as a small text table (`face-cluster eval` without `--json`).
    pub fn table(&self) -> String {
        format!(
            "n {}, true clusters {}, predicted clusters {}\n\
             {:<9} {:>9} {:>9} {:>9}\n\
             {:<9} {:>9.4} {:>9.4} {:>9.4}\n\
             {:<9} {:>9.4} {:>9.4} {:>9.4}\n\
             NMI {:.4}\n",
            self.n,
            self.true_clusters,
            self.pred_clusters,
            "",
            "precision",
            "recall",
            "F",
            "pairwise",
            self.pairwise.precision,
            self.pairwise.recall,
            self.pairwise.f,
            "bcubed",
            self.bcubed.precision,
            self.bcubed.recall,
            self.bcubed.f,
            self.nmi
        )
    }
}

/// Scores the prediction `pred` against the ground truth `truth`, one label per item.
///
/// Labels are arbitrary `i64` values that only name clusters: they need not be dense,
/// non-negative or sorted, and the two sides need not share values. See the
/// [module documentation](self) for the definitions and the degenerate cases.
///
/// # Errors
///
/// [`Error::LabelCount`] when the slices differ in length or are empty, and
/// [`Error::InvalidParameter`] (`labels`) when they hold more than `u32::MAX` items.
///
/// # Complexity
///
/// `O(n)` time (expected, when a side's labels span `2n` values or more and are hashed) and
/// a few words of memory per item. Single-threaded.
///
/// # Example
///
/// ```
/// use face_cluster::metrics::evaluate;
///
/// let truth = [0, 0, 0, 1, 1, 2];
/// let pred = [7, 7, 3, 3, 3, 3];
/// let scores = evaluate(&truth, &pred)?;
/// assert_eq!((scores.true_clusters, scores.pred_clusters, scores.n), (3, 2, 6));
/// // 2 of the 7 predicted pairs are true pairs, and 2 of the 4 true pairs were found.
/// assert!((scores.pairwise.precision - 2.0 / 7.0).abs() < 1e-15);
/// assert_eq!(scores.pairwise.recall, 0.5);
/// # Ok::<(), face_cluster::Error>(())
/// ```
pub fn evaluate(truth: &[i64], pred: &[i64]) -> Result<Scores> {
    if truth.len() != pred.len() || truth.is_empty() {
        return Err(Error::LabelCount { truth: truth.len(), pred: pred.len() });
    }
    if u32::try_from(truth.len()).is_err() {
        let problem = format!("{} items, at most {} are supported", truth.len(), u32::MAX);
        return Err(Error::invalid(Param::LabelData, problem));
    }
    Ok(score(&Dense::new(truth), &Dense::new(pred)))
}

/// One labelling renamed to dense cluster ids `0..k`, numbered in order of first appearance.
///
/// Ids and sizes are `u32` (callers check that there are at most `u32::MAX` items): the
/// counting below is dominated by random accesses, and narrower entries keep more of them in
/// cache.
struct Dense {
    /// The id of each item.
    ids: Vec<u32>,
    /// The size of each cluster, indexed by id. All are at least 1.
    sizes: Vec<u32>,
}

impl Dense {
    fn new(labels: &[i64]) -> Dense {
        let (ids, k) = match min_max(labels) {
            None => (Vec::new(), 0),
            // `span < 2n` keeps the lookup table at most twice as long as the input.
            Some((min, max)) if max.abs_diff(min) / 2 < labels.len() as u64 => {
                ids_by_table(labels, min, max.abs_diff(min))
            }
            Some(_) => ids_by_hash(labels),
        };
        let mut sizes = vec![0u32; k];
        for &id in &ids {
            sizes[id as usize] += 1;
        }
        Dense { ids, sizes }
    }
}

fn min_max(labels: &[i64]) -> Option<(i64, i64)> {
    let first = *labels.first()?;
    Some(labels.iter().fold((first, first), |(lo, hi), &l| (lo.min(l), hi.max(l))))
}

/// Dense ids and their number through a table indexed by `label - min`, for labels spanning
/// `span + 1` values.
fn ids_by_table(labels: &[i64], min: i64, span: u64) -> (Vec<u32>, usize) {
    // `slot[label - min]` is 1 + the label's id, or 0 while the label is unseen. A zeroed
    // `vec!` comes from the allocator lazily, so an untouched part of the table costs nothing.
    let mut slot = vec![0u32; span as usize + 1];
    let mut k = 0;
    let ids = labels
        .iter()
        .map(|&label| {
            let s = &mut slot[label.abs_diff(min) as usize];
            if *s == 0 {
                k += 1;
                *s = k;
            }
            *s - 1
        })
        .collect();
    (ids, k as usize)
}

/// Dense ids and their number through a hash map, for labels too spread out for a table.
fn ids_by_hash(labels: &[i64]) -> (Vec<u32>, usize) {
    let mut id_of: HashMap<i64, u32, BuildHasherDefault<FoldHasher>> = HashMap::default();
    let ids = labels
        .iter()
        .map(|&label| {
            let next = id_of.len() as u32;
            *id_of.entry(label).or_insert(next)
        })
        .collect();
    (ids, id_of.len())
}

/// Hashes one integer with a 64 × 64 → 128-bit multiply folded back onto 64 bits, which
/// spreads every input bit over the low bits that pick a bucket (so labels such as
/// `i << 32` do not collide). std's SipHash resists crafted keys but costs several times
/// more per label; label files are the user's own input, not an attack surface.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let m = u128::from(x ^ self.0 ^ 0x243F_6A88_85A3_08D3) * 0x9E37_79B9_7F4A_7C15;
        self.0 = m as u64 ^ (m >> 64) as u64;
    }

    fn write_i64(&mut self, x: i64) {
        self.write_u64(x as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The predicted ids of all items, grouped by true cluster in id order (a counting sort), so
/// that true cluster `i` owns the next `truth.sizes[i]` entries.
fn group_by_truth(truth: &Dense, pred: &Dense) -> Vec<u32> {
    let mut fill = Vec::with_capacity(truth.sizes.len());
    let mut offset = 0u32;
    for &size in &truth.sizes {
        fill.push(offset);
        offset += size;
    }
    let mut grouped = vec![0u32; truth.ids.len()];
    for (&i, &j) in truth.ids.iter().zip(&pred.ids) {
        let f = &mut fill[i as usize];
        grouped[*f as usize] = j;
        *f += 1;
    }
    grouped
}

/// What a row of the contingency table needs about predicted cluster `j`, in one place so
/// that the random accesses to `j` share a cache line.
#[derive(Clone, Copy)]
struct Column {
    /// `b_j`.
    size: u32,
    /// `n_ij` of the row being counted; 0 between rows.
    count: u32,
    /// `Σ_i n_ij²` over the rows done so far.
    sq: u64,
}

fn score(truth: &Dense, pred: &Dense) -> Scores {
    let n = truth.ids.len();
    let (true_clusters, pred_clusters) = (truth.sizes.len(), pred.sizes.len());
    // Both sides use first-appearance ids, so equal ids mean equal partitions.
    if truth.ids == pred.ids {
        return Scores { pairwise: Prf::PERFECT, bcubed: Prf::PERFECT, nmi: 1.0, pred_clusters, true_clusters, n };
    }

    // With n < 2^32, every sum of squared counts below is at most n² < 2^64.
    let nf = n as f64;
    let grouped = group_by_truth(truth, pred);
    let mut columns: Vec<Column> = pred.sizes.iter().map(|&size| Column { size, count: 0, sq: 0 }).collect();
    let mut touched = Vec::new();
    let mut tk = 0u64; // Σ n_ij²
    let mut bcubed_recall = 0.0; // Σ_i (Σ_j n_ij²) / a_i
    let mut mi = 0.0; // Σ_ij n_ij ln(n n_ij / (a_i b_j))
    let mut rest = grouped.as_slice();
    for &a in &truth.sizes {
        let (row, tail) = rest.split_at(a as usize);
        rest = tail;
        for &j in row {
            let column = &mut columns[j as usize];
            if column.count == 0 {
                touched.push(j);
            }
            column.count += 1;
        }
        let mut row_sq = 0u64;
        for &j in &touched {
            let column = &mut columns[j as usize];
            let c = u64::from(column.count);
            column.count = 0;
            row_sq += c * c;
            column.sq += c * c;
            let c = c as f64;
            mi += c * (c * nf / (f64::from(a) * f64::from(column.size))).ln();
        }
        touched.clear();
        tk += row_sq;
        bcubed_recall += row_sq as f64 / f64::from(a);
    }
    let bcubed_precision: f64 = columns.iter().map(|c| c.sq as f64 / f64::from(c.size)).sum();

    // Σ size² ≥ Σ size = n, since every size is at least 1.
    let pairs = |sizes: &[u32]| sizes.iter().map(|&s| u64::from(s) * u64::from(s)).sum::<u64>() - n as u64;
    let (tk, pk, qk) = (tk - n as u64, pairs(&pred.sizes), pairs(&truth.sizes));
    let pairwise_precision = if pk == 0 { 1.0 } else { tk as f64 / pk as f64 };
    let pairwise_recall = if qk == 0 { 1.0 } else { tk as f64 / qk as f64 };

    // The partitions differ, so at most one side has a single cluster; that side has zero
    // entropy, which forces MI = 0 (scikit-learn returns 0 here without dividing).
    let nmi = if true_clusters == 1 || pred_clusters == 1 {
        0.0
    } else {
        let mean_entropy = (entropy(&truth.sizes, n) + entropy(&pred.sizes, n)) / 2.0;
        let mi = (mi / nf).max(0.0);
        if mean_entropy > 0.0 {
            (mi / mean_entropy).min(1.0)
        } else {
            0.0
        }
    };

    Scores {
        pairwise: Prf::new(pairwise_precision, pairwise_recall),
        bcubed: Prf::new(bcubed_precision / nf, bcubed_recall / nf),
        nmi,
        pred_clusters,
        true_clusters,
        n,
    }
}

/// Shannon entropy (nats) of a partition with cluster `sizes` of `n` items, written as
/// scikit-learn writes it.
fn entropy(sizes: &[u32], n: usize) -> f64 {
    let ln_n = (n as f64).ln();
    -sizes.iter().map(|&s| f64::from(s) / n as f64 * (f64::from(s).ln() - ln_n)).sum::<f64>()
}

#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;

    use super::*;
    use crate::rng::Rng;

    /// Scores computed by `bench/compare/metrics_golden.py` (scikit-learn + the reference
    /// formulas). To regenerate, run `python bench/compare/metrics_golden.py` with numpy and
    /// scikit-learn installed and paste its output into `GOLDEN`.
    struct Golden {
        name: &'static str,
        pairwise: [f64; 3],
        bcubed: [f64; 3],
        nmi: f64,
        true_clusters: usize,
        pred_clusters: usize,
        n: usize,
    }

    #[rustfmt::skip]
    const GOLDEN: &[Golden] = &[
        // Generated by bench/compare/metrics_golden.py; do not edit by hand.
        Golden { name: "small_split_merge", pairwise: [0.2857142857142857, 0.5, 0.36363636363636365], bcubed: [0.5833333333333334, 0.7777777777777777, 0.6666666666666666], nmi: 0.3862534428571302, true_clusters: 3, pred_clusters: 2, n: 6 },
        Golden { name: "small_sparse_labels", pairwise: [0.4, 0.2857142857142857, 0.3333333333333333], bcubed: [0.6666666666666666, 0.5714285714285714, 0.6153846153846153], nmi: 0.47659894423590704, true_clusters: 3, pred_clusters: 3, n: 7 },
        Golden { name: "random_1000", pairwise: [0.6242941942956421, 0.42748091603053434, 0.5074732258444157], bcubed: [0.6849032118143346, 0.45532874565743603, 0.5470047007341329], nmi: 0.7782779600218903, true_clusters: 50, pred_clusters: 99, n: 1000 },
        Golden { name: "extreme_labels", pairwise: [0.2857142857142857, 0.3333333333333333, 0.30769230769230765], bcubed: [0.6333333333333333, 0.6666666666666666, 0.6495726495726496], nmi: 0.6770793907020636, true_clusters: 5, pred_clusters: 5, n: 10 },
        Golden { name: "pred_all_singletons", pairwise: [1.0, 0.0, 0.0], bcubed: [1.0, 0.5, 0.6666666666666666], nmi: 0.7216162598446754, true_clusters: 3, pred_clusters: 6, n: 6 },
        Golden { name: "pred_one_cluster", pairwise: [0.26666666666666666, 1.0, 0.4210526315789474], bcubed: [0.38888888888888884, 1.0, 0.5599999999999999], nmi: 0.0, true_clusters: 3, pred_clusters: 1, n: 6 },
        Golden { name: "truth_all_singletons", pairwise: [0.0, 1.0, 0.0], bcubed: [0.5, 1.0, 0.6666666666666666], nmi: 0.7216162598446754, true_clusters: 6, pred_clusters: 3, n: 6 },
        Golden { name: "truth_one_cluster", pairwise: [1.0, 0.2, 0.33333333333333337], bcubed: [1.0, 0.36, 0.5294117647058824], nmi: 0.0, true_clusters: 1, pred_clusters: 3, n: 5 },
        Golden { name: "identical_relabelled", pairwise: [1.0, 1.0, 1.0], bcubed: [1.0, 1.0, 1.0], nmi: 1.0, true_clusters: 3, pred_clusters: 3, n: 6 },
        Golden { name: "both_one_cluster", pairwise: [1.0, 1.0, 1.0], bcubed: [1.0, 1.0, 1.0], nmi: 1.0, true_clusters: 1, pred_clusters: 1, n: 4 },
        Golden { name: "both_all_singletons", pairwise: [1.0, 1.0, 1.0], bcubed: [1.0, 1.0, 1.0], nmi: 1.0, true_clusters: 4, pred_clusters: 4, n: 4 },
        Golden { name: "single_item", pairwise: [1.0, 1.0, 1.0], bcubed: [1.0, 1.0, 1.0], nmi: 1.0, true_clusters: 1, pred_clusters: 1, n: 1 },
        Golden { name: "crossed_pairs", pairwise: [0.0, 0.0, 0.0], bcubed: [0.5, 0.5, 0.5], nmi: 0.0, true_clusters: 2, pred_clusters: 2, n: 4 },
    ];

    /// The label vectors of each `GOLDEN` case, as `metrics_golden.py` builds them.
    fn golden_labels(name: &str) -> (Vec<i64>, Vec<i64>) {
        let (truth, pred): (&[i64], &[i64]) = match name {
            "small_split_merge" => (&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 1, 1]),
            "small_sparse_labels" => (&[5, 5, 5, 5, 9, 9, 3], &[1, 1, 2, 2, 2, 7, 7]),
            "random_1000" => return random_1000(),
            "extreme_labels" => (
                &[i64::MIN, i64::MIN, -1, -1, -1, 0, i64::MAX, i64::MAX, 7, 7],
                &[i64::MAX, i64::MAX, i64::MAX, -5, -5, -5, i64::MIN, 0, 0, 1 << 40],
            ),
            "pred_all_singletons" => (&[0, 0, 0, 1, 1, 2], &[0, 1, 2, 3, 4, 5]),
            "pred_one_cluster" => (&[0, 0, 0, 1, 1, 2], &[7, 7, 7, 7, 7, 7]),
            "truth_all_singletons" => (&[0, 1, 2, 3, 4, 5], &[0, 0, 1, 1, 1, 2]),
            "truth_one_cluster" => (&[3, 3, 3, 3, 3], &[0, 0, 1, 2, 2]),
            "identical_relabelled" => (&[4, 4, 8, 8, 8, 1], &[-2, -2, 0, 0, 0, 9]),
            "both_one_cluster" => (&[1, 1, 1, 1], &[2, 2, 2, 2]),
            "both_all_singletons" => (&[0, 1, 2, 3], &[3, 2, 1, 0]),
            "single_item" => (&[42], &[-42]),
            "crossed_pairs" => (&[0, 0, 1, 1], &[0, 1, 0, 1]),
            other => panic!("no labels for golden case {other}"),
        };
        (truth.to_vec(), pred.to_vec())
    }

    /// `next_u64() % bound` of [`Rng`] (SplitMix64), as `metrics_golden.py` reimplements it.
    fn below(rng: &mut Rng, bound: u64) -> i64 {
        (rng.next_u64() % bound) as i64
    }

    /// ~50 true clusters; the prediction keeps, splits off or scrambles each label.
    fn random_1000() -> (Vec<i64>, Vec<i64>) {
        let mut rng = Rng::new(2024);
        (0..1000)
            .map(|_| {
                let t = below(&mut rng, 50);
                let p = match below(&mut rng, 10) {
                    0..=5 => t,
                    6 | 7 => t + 50,
                    _ => below(&mut rng, 55),
                };
                (t, p)
            })
            .unzip()
    }

    fn assert_close(case: &str, what: &str, got: f64, want: f64) {
        assert!((got - want).abs() <= 1e-12, "{case}: {what} is {got}, scikit-learn says {want}");
    }

    #[test]
    fn matches_scikit_learn_golden_values() {
        for g in GOLDEN {
            let (truth, pred) = golden_labels(g.name);
            let s = evaluate(&truth, &pred).unwrap();
            for (what, got, want) in [("pairwise", s.pairwise, g.pairwise), ("bcubed", s.bcubed, g.bcubed)] {
                assert_close(g.name, &format!("{what} precision"), got.precision, want[0]);
                assert_close(g.name, &format!("{what} recall"), got.recall, want[1]);
                assert_close(g.name, &format!("{what} f"), got.f, want[2]);
            }
            assert_close(g.name, "nmi", s.nmi, g.nmi);
            assert_eq!(
                (s.true_clusters, s.pred_clusters, s.n),
                (g.true_clusters, g.pred_clusters, g.n),
                "{}: cluster counts",
                g.name
            );
        }
    }

    #[test]
    fn rejects_different_lengths() {
        let err = evaluate(&[0, 0, 1], &[0, 1]).unwrap_err();
        assert!(matches!(err, Error::LabelCount { truth: 3, pred: 2 }), "{err:?}");
        assert_eq!(err.to_string(), "ground truth has 3 labels but the prediction has 2");
    }

    #[test]
    fn rejects_empty_input() {
        let err = evaluate(&[], &[]).unwrap_err();
        assert!(matches!(err, Error::LabelCount { truth: 0, pred: 0 }), "{err:?}");
        assert_eq!(err.to_string(), "no labels to evaluate");
    }

    #[test]
    fn serialises_to_the_documented_json() {
        let scores = evaluate(&[0, 0, 1, 1], &[0, 0, 0, 1]).unwrap();
        let json = serde_json::to_string(&scores).unwrap();
        let p = 2.0 / 6.0;
        let f = 2.0 * (p * 0.5) / (p + 0.5);
        let expected = format!(
            concat!(
                r#"{{"pairwise":{{"precision":{p:?},"recall":0.5,"f":{f:?}}},"#,
                r#""bcubed":{{"precision":{bp:?},"recall":0.75,"f":{bf:?}}},"#,
                r#""nmi":{nmi:?},"pred_clusters":2,"true_clusters":2,"n":4}}"#
            ),
            p = p,
            f = f,
            bp = scores.bcubed.precision,
            bf = scores.bcubed.f,
            nmi = scores.nmi,
        );
        assert_eq!(json, expected);
        assert_eq!(serde_json::from_str::<Scores>(&json).unwrap(), scores);
    }

    #[test]
    fn table_and_hash_renaming_agree() {
        // Dense labels take the lookup table; spreading them over all of i64 forces the hash.
        let (truth, pred) = random_1000();
        let spread = |v: &[i64]| -> Vec<i64> { v.iter().map(|&l| l.wrapping_mul(0x5851_F42D_4C95_7F2D)).collect() };
        let dense = evaluate(&truth, &pred).unwrap();
        assert_eq!(evaluate(&spread(&truth), &spread(&pred)).unwrap(), dense);
        assert_eq!(Dense::new(&truth).ids, Dense::new(&spread(&truth)).ids);
    }

    // ---- properties ----

    /// Two labelings of the same 1..=40 items, each over a small alphabet so that clusters
    /// collide, with the alphabet sizes drawn too (1 forces a single cluster).
    fn labelings() -> impl Strategy<Value = (Vec<i64>, Vec<i64>)> {
        (1usize..=40, 1i64..=10, 1i64..=10).prop_flat_map(|(n, kt, kp)| (vec(0..kt, n), vec(0..kp, n)))
    }

    /// An injective map on `i64`: multiplying by an odd number and adding wrap around
    /// bijectively.
    fn rename(labels: &[i64], odd: i64, shift: i64) -> Vec<i64> {
        labels.iter().map(|&l| l.wrapping_mul(odd | 1).wrapping_add(shift)).collect()
    }

    /// Pairwise precision and recall by counting pairs, with the module's conventions.
    fn naive_pairwise(truth: &[i64], pred: &[i64]) -> (f64, f64) {
        let (mut both, mut in_pred, mut in_truth) = (0u64, 0u64, 0u64);
        for a in 0..truth.len() {
            for b in a + 1..truth.len() {
                let (t, p) = (truth[a] == truth[b], pred[a] == pred[b]);
                both += u64::from(t && p);
                in_truth += u64::from(t);
                in_pred += u64::from(p);
            }
        }
        let ratio = |num: u64, den: u64| {
            if den == 0 {
                1.0
            } else {
                num as f64 / den as f64
            }
        };
        (ratio(both, in_pred), ratio(both, in_truth))
    }

    /// BCubed precision and recall from the item-wise definition.
    fn naive_bcubed(truth: &[i64], pred: &[i64]) -> (f64, f64) {
        let n = truth.len();
        let (mut precision, mut recall) = (0.0, 0.0);
        for a in 0..n {
            let same_pred = (0..n).filter(|&b| pred[b] == pred[a]).count();
            let same_truth = (0..n).filter(|&b| truth[b] == truth[a]).count();
            let same_both = (0..n).filter(|&b| pred[b] == pred[a] && truth[b] == truth[a]).count();
            precision += same_both as f64 / same_pred as f64;
            recall += same_both as f64 / same_truth as f64;
        }
        (precision / n as f64, recall / n as f64)
    }

    fn all_values(s: &Scores) -> [f64; 7] {
        let (p, b) = (s.pairwise, s.bcubed);
        [p.precision, p.recall, p.f, b.precision, b.recall, b.f, s.nmi]
    }

    proptest! {
        #[test]
        fn scores_lie_in_the_unit_interval((truth, pred) in labelings()) {
            let s = evaluate(&truth, &pred).unwrap();
            for v in all_values(&s) {
                prop_assert!((0.0..=1.0).contains(&v), "{v} in {s:?}");
            }
        }

        #[test]
        fn renaming_labels_changes_nothing(
            (truth, pred) in labelings(),
            (odd_t, shift_t, odd_p, shift_p) in any::<(i64, i64, i64, i64)>(),
        ) {
            let s = evaluate(&truth, &pred).unwrap();
            prop_assert_eq!(&evaluate(&rename(&truth, odd_t, shift_t), &pred).unwrap(), &s);
            prop_assert_eq!(&evaluate(&truth, &rename(&pred, odd_p, shift_p)).unwrap(), &s);
        }

        #[test]
        fn swapping_sides_swaps_precision_and_recall((truth, pred) in labelings()) {
            let s = evaluate(&truth, &pred).unwrap();
            let w = evaluate(&pred, &truth).unwrap();
            for (a, b) in [(s.pairwise, w.pairwise), (s.bcubed, w.bcubed)] {
                prop_assert_eq!((a.precision, a.recall, a.f), (b.recall, b.precision, b.f));
            }
            prop_assert!((s.nmi - w.nmi).abs() <= 1e-12, "{} vs {}", s.nmi, w.nmi);
            prop_assert_eq!((s.true_clusters, s.pred_clusters), (w.pred_clusters, w.true_clusters));
        }

        #[test]
        fn identical_partitions_score_one((truth, _) in labelings(), odd in any::<i64>()) {
            let s = evaluate(&truth, &rename(&truth, odd, 3)).unwrap();
            prop_assert_eq!(all_values(&s), [1.0; 7]);
        }

        #[test]
        fn all_singletons_have_full_precision((truth, _) in labelings()) {
            let singletons: Vec<i64> = (0..truth.len() as i64).collect();
            let s = evaluate(&truth, &singletons).unwrap();
            prop_assert_eq!(s.bcubed.precision, 1.0);
            prop_assert_eq!(s.pairwise.precision, 1.0);
        }

        #[test]
        fn one_cluster_has_full_recall((truth, _) in labelings(), label in any::<i64>()) {
            let s = evaluate(&truth, &vec![label; truth.len()]).unwrap();
            prop_assert_eq!(s.bcubed.recall, 1.0);
            prop_assert_eq!(s.pairwise.recall, 1.0);
        }

        #[test]
        fn pairwise_matches_naive_pair_count((truth, pred) in labelings()) {
            let s = evaluate(&truth, &pred).unwrap();
            prop_assert_eq!((s.pairwise.precision, s.pairwise.recall), naive_pairwise(&truth, &pred));
        }

        #[test]
        fn bcubed_matches_item_wise_definition((truth, pred) in labelings()) {
            let s = evaluate(&truth, &pred).unwrap();
            let (p, r) = naive_bcubed(&truth, &pred);
            prop_assert!((s.bcubed.precision - p).abs() <= 1e-12, "{} vs {p}", s.bcubed.precision);
            prop_assert!((s.bcubed.recall - r).abs() <= 1e-12, "{} vs {r}", s.bcubed.recall);
        }
    }
}
