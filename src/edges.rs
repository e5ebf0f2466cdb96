//! Which k-NN links become graph links, and with what weight.
//!
//! [`build_edges`] turns a [`Knn`] table into the network Infomap partitions. Its default
//! ([`EdgeConfig::default`]) is the rule of the face-cluster-by-infomap method: from the first
//! `k` slots of row `i`, keep a link `i -> j` for every neighbour `j` other than `i` itself
//! whose similarity is at least `min_sim`, weighted by that similarity. Two more pruning rules
//! and two more weightings are each a per-row function of the k-NN table:
//!
//! - [`Pruning::Adaptive`] cuts each row's ranked neighbour list where its similarities stop
//!   falling like its tail does ([`adaptive_cut`]): a face's own identity comes first, then a
//!   drop, then a long, slowly decaying background of other people. The global `min_sim` stays
//!   as a floor (a row whose neighbours are all background has no drop to find).
//! - [`Pruning::Snn`] scores a link `i -> j` by how much the two rows' neighbour lists overlap
//!   and keeps links that score at least `min_snn`: two images of one person share most of
//!   their neighbours, a face and a look-alike share few. The *shared-neighbour score* is the
//!   share of row `j`'s first `k` slots (itself included) that are also among row `i`'s, in
//!   `[0, 1]`; both rows list themselves, so a mutual link counts both ends.
//! - [`Weighting::Normalized`] divides each kept link's similarity by the sum over its row, so
//!   every row with links sends out weight 1 (a transition probability). Under undirected flow
//!   this gives every linked face flow, where raw similarities let dense identities take it all.
//! - [`Weighting::Snn`] weights a link by its shared-neighbour score instead of its similarity.
//! - [`Pruning::Tiered`] (issue 17's default) keeps the slots before
//!   [`EdgeConfig::near_slots`] (20: the row itself and its 19 nearest) down to `min_sim`, and
//!   farther slots only down to the stricter [`far_min_sim`], `1 - far_beta (1 - min_sim)`
//!   (`far_beta` 0.7). A k of 256 is what lets a person with hundreds of photos stay connected,
//!   but at that k rows of a large identity also list its look-alikes, above any `min_sim` low
//!   enough to keep the identity's own poor photos; the far tier keeps the identity's far
//!   links (which are close) without the look-alikes' (which only pass the lower threshold).
//!
//! The self entry is dropped *by id*, not by position: with duplicate feature vectors a
//! duplicate can tie with the row itself and sort before it (ties go by id). Rows are processed
//! in parallel in fixed chunks and concatenated in row order, so the graph does not depend on
//! the number of threads.

use rayon::prelude::*;

use crate::config::{EdgeConfig, Pruning, Similarity, Weighting};
use crate::error::Result;
use crate::graph::Graph;
use crate::knn::{Knn, NONE};

/// Rows per parallel work unit.
const CHUNK_ROWS: usize = 2048;

/// Fewest tail gaps [`adaptive_cut`] needs behind a cut to judge it.
pub const MIN_TAIL_GAPS: usize = 4;

/// Builds the graph of kept, weighted links from the first `k` slots of each row (self
/// included, as `--k` counts), keeping only links with similarity at least `min_sim`
/// (inclusive). `k` may be smaller than `knn.k()`, which is how a cached table computed with a
/// larger `k` is reused.
///
/// # Errors
///
/// [`crate::Error::InvalidParameter`] for `k == 0` or `k > knn.k()` (`--k`: the table holds fewer
/// neighbours than asked for).
///
/// # Complexity
///
/// `O(n k)` for the threshold and adaptive rules; `O(n k²)` for shared-neighbour scores (each
/// candidate link compares two lists of `k`), in parallel over rows. Memory: the graph, plus
/// one `u32` per row per worker for the shared-neighbour marks.
pub fn build_edges(knn: &Knn, k: usize, min_sim: Similarity, config: &EdgeConfig) -> Result<Graph> {
    knn.check_slots(k)?;
    let far = far_min_sim(min_sim, config.far_beta);
    let min_sim = min_sim.get();
    let needs_snn = config.pruning == Pruning::Snn || config.weighting == Weighting::Snn;
    let chunks: Vec<(Vec<usize>, Vec<u32>, Vec<f32>)> = (0..knn.n().div_ceil(CHUNK_ROWS))
        .into_par_iter()
        .map(|chunk| {
            let rows = chunk * CHUNK_ROWS..((chunk + 1) * CHUNK_ROWS).min(knn.n());
            let mut marks = if needs_snn { vec![u32::MAX; knn.n()] } else { Vec::new() };
            let mut counts = Vec::with_capacity(rows.len());
            let mut targets = Vec::new();
            let mut weights = Vec::new();
            let mut scratch = Vec::new();
            for i in rows {
                let before = targets.len();
                row_links(knn, k, (min_sim, far), config, i, &mut marks, &mut scratch, &mut targets, &mut weights);
                counts.push(targets.len() - before);
            }
            (counts, targets, weights)
        })
        .collect();
    let total: usize = chunks.iter().map(|c| c.1.len()).sum();
    let mut offsets = Vec::with_capacity(knn.n() + 1);
    let mut targets = Vec::with_capacity(total);
    let mut weights = Vec::with_capacity(total);
    offsets.push(0);
    for (counts, t, w) in chunks {
        for c in counts {
            offsets.push(offsets.last().copied().unwrap_or(0) + c);
        }
        targets.extend_from_slice(&t);
        weights.extend_from_slice(&w);
    }
    Ok(Graph::from_parts(offsets, targets, weights))
}

/// The neighbours of row `i` in its first `k` slots, self and padding dropped, in row order.
fn neighbours(knn: &Knn, k: usize, i: usize) -> impl Iterator<Item = (u32, f32)> + '_ {
    let (ids, sims) = knn.row(i);
    ids[..k].iter().zip(&sims[..k]).filter(move |(&j, _)| j != NONE && j as usize != i).map(|(&j, &s)| (j, s))
}

/// The far tier's threshold of [`Pruning::Tiered`]: `1 - far_beta (1 - min_sim)`, computed in
/// `f64` and rounded to the nearest `f32` (as the prototype's float32 comparisons do).
pub fn far_min_sim(min_sim: Similarity, far_beta: f64) -> f32 {
    (1.0 - far_beta * (1.0 - f64::from(min_sim.get()))) as f32
}

/// The share of rows whose slot `k - 1` holds a link at or above `far`: rows linked as far as
/// the table reaches, whose identity may hold more rows than `k`.
pub fn reach_share(knn: &Knn, k: usize, far: f32) -> f64 {
    if knn.n() == 0 || k < 2 {
        return 0.0;
    }
    let reaching = (0..knn.n())
        .into_par_iter()
        .filter(|&i| {
            let (ids, sims) = knn.row(i);
            ids[k - 1] != NONE && ids[k - 1] as usize != i && sims[k - 1] >= far
        })
        .count();
    reaching as f64 / knn.n() as f64
}

/// Appends row `i`'s kept links to `targets` and `weights`. `min_sim` is `(min_sim, far)`:
/// the threshold, and that of [`Pruning::Tiered`]'s far slots.
#[allow(clippy::too_many_arguments)]
fn row_links(
    knn: &Knn,
    k: usize,
    (min_sim, far): (f32, f32),
    config: &EdgeConfig,
    i: usize,
    marks: &mut [u32],
    scratch: &mut Vec<f32>,
    targets: &mut Vec<u32>,
    weights: &mut Vec<f32>,
) {
    let start = targets.len();
    let limit = match config.pruning {
        Pruning::Adaptive => {
            scratch.clear();
            scratch.extend(neighbours(knn, k, i).map(|(_, s)| s));
            adaptive_cut(scratch, config.min_cut_z)
        }
        Pruning::Threshold | Pruning::Snn | Pruning::Tiered => usize::MAX,
    };
    let far_from = if config.pruning == Pruning::Tiered { config.near_slots } else { usize::MAX };
    if !marks.is_empty() {
        // Row i's neighbour set, itself included, marked with its own id.
        let (ids, _) = knn.row(i);
        for &j in ids[..k].iter().filter(|&&j| j != NONE) {
            marks[j as usize] = i as u32;
        }
        marks[i] = i as u32;
    }
    let (ids, sims) = knn.row(i);
    let slots = ids[..k].iter().zip(&sims[..k]).enumerate().filter(|(_, (&j, _))| j != NONE && j as usize != i);
    for (slot, (&j, &s)) in slots.take(limit) {
        if s < min_sim || (slot >= far_from && s < far) {
            // Rows are sorted by similarity (and far >= min_sim): nothing further passes.
            break;
        }
        let snn = if marks.is_empty() { 0.0 } else { snn_score(knn, k, i, j, marks) };
        if config.pruning == Pruning::Snn && snn < config.min_snn.get() {
            continue;
        }
        targets.push(j);
        weights.push(match config.weighting {
            Weighting::Sim | Weighting::Normalized => s,
            Weighting::Snn => snn,
        });
    }
    if config.weighting == Weighting::Normalized {
        let sum: f64 = weights[start..].iter().map(|&w| f64::from(w)).sum();
        if sum > 0.0 {
            weights[start..].iter_mut().for_each(|w| *w = (f64::from(*w) / sum) as f32);
        }
    }
}

/// Whether `config` makes each row's links from that row alone (threshold or adaptive
/// pruning, similarity or normalised weights), so that a change of one k-NN row changes that
/// row's links only. Shared-neighbour scores read the neighbours' rows too.
pub fn is_row_local(config: &EdgeConfig) -> bool {
    config.pruning != Pruning::Snn && config.weighting != Weighting::Snn
}

/// The kept links of one k-NN row (`ids` and `sims`: its first `k` slots, row `i`), as
/// [`build_edges`] keeps them: appended to `links` as `(target, weight)` in row order.
/// `scratch` is reused between calls.
///
/// # Panics
///
/// When `config` is not [row-local](is_row_local).
pub fn row_links_of(
    ids: &[u32],
    sims: &[f32],
    i: usize,
    min_sim: Similarity,
    config: &EdgeConfig,
    scratch: &mut Vec<f32>,
    links: &mut Vec<(u32, f32)>,
) {
    assert!(is_row_local(config), "shared-neighbour links depend on other rows");
    let far = far_min_sim(min_sim, config.far_beta);
    let min_sim = min_sim.get();
    // (slot, (id, similarity)), slot 0 being the row itself, as `row_links` counts slots.
    let row = || ids.iter().zip(sims).enumerate().filter(move |(_, (&j, _))| j != NONE && j as usize != i);
    let limit = match config.pruning {
        Pruning::Adaptive => {
            scratch.clear();
            scratch.extend(row().map(|(_, (_, &s))| s));
            adaptive_cut(scratch, config.min_cut_z)
        }
        Pruning::Threshold | Pruning::Snn | Pruning::Tiered => usize::MAX,
    };
    let far_from = if config.pruning == Pruning::Tiered { config.near_slots } else { usize::MAX };
    let start = links.len();
    links.extend(
        row()
            .take(limit)
            .take_while(|&(slot, (_, &s))| s >= min_sim && (slot < far_from || s >= far))
            .map(|(_, (&j, &s))| (j, s)),
    );
    if config.weighting == Weighting::Normalized {
        let sum: f64 = links[start..].iter().map(|l| f64::from(l.1)).sum();
        if sum > 0.0 {
            links[start..].iter_mut().for_each(|l| l.1 = (f64::from(l.1) / sum) as f32);
        }
    }
}

/// The shared-neighbour score of the link `i -> j`: the share of row `j`'s first `k` slots
/// (itself included) that are also in row `i`'s, whose members `marks` holds (`marks[l] == i`).
/// Both rows list themselves, so a mutual link counts both ends. In `[0, 1]`.
fn snn_score(knn: &Knn, k: usize, i: usize, j: u32, marks: &[u32]) -> f32 {
    let (ids, _) = knn.row(j as usize);
    let mut listed = 0usize;
    let mut shared = 0usize;
    for &l in ids[..k].iter().filter(|&&l| l != NONE) {
        listed += 1;
        shared += usize::from(marks[l as usize] == i as u32);
    }
    // j's own slot may be padding-free but missing itself (duplicates): count it as listed.
    if !ids[..k].contains(&j) {
        listed += 1;
        shared += usize::from(marks[j as usize] == i as u32);
    }
    shared as f32 / listed.max(1) as f32
}

/// Where to cut a ranked similarity list: the number of leading entries to keep.
///
/// `sims` is one row's neighbour similarities, descending (self excluded). The gaps
/// `g_c = sims[c-1] - sims[c]` of a face's list are small among its own identity, large once
/// where the identity ends, and small and steady along the background of other people. For each
/// possible cut `c` (keep `sims[..c]`) with at least [`MIN_TAIL_GAPS`] gaps behind it, the gap
/// at the cut is compared with the gaps behind it: `z_c = (g_c - mean) / sd` over `g_{c+1}..`.
/// The cut is the `c` with the largest `z_c`, if that is at least `min_z`; otherwise no drop
/// stands out and the whole list is kept (`sims.len()`).
///
/// Measuring a gap against the tail *behind* it (not the whole row) is what lets the last
/// large drop win over an earlier one between two images of the same person: the earlier gap's
/// tail still contains the identity's end, so its spread is large.
///
/// # Complexity
///
/// `O(len)`, with suffix sums of the gaps and their squares.
pub fn adaptive_cut(sims: &[f32], min_z: f32) -> usize {
    let m = sims.len();
    if m < MIN_TAIL_GAPS + 2 {
        return m;
    }
    // gaps[c] = sims[c] - sims[c + 1], c in 0..m-1; cut c+1 keeps sims[..=c].
    let gaps: Vec<f64> = sims.windows(2).map(|w| f64::from(w[0]) - f64::from(w[1])).collect();
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    let mut best = (f64::NEG_INFINITY, m);
    for c in (0..gaps.len()).rev() {
        let tail = gaps.len() - 1 - c; // gaps behind c: c+1..
        if tail >= MIN_TAIL_GAPS {
            let mean = sum / tail as f64;
            let var = (sum_sq / tail as f64 - mean * mean).max(0.0);
            // A floor on the spread: a perfectly flat tail (duplicates) must not divide by 0.
            let sd = var.sqrt().max(1e-6);
            let z = (gaps[c] - mean) / sd;
            if z >= best.0 {
                best = (z, c + 1);
            }
        }
        sum += gaps[c];
        sum_sq += gaps[c] * gaps[c];
    }
    if best.0 >= f64::from(min_z) {
        best.1
    } else {
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KnnConfig;
    use crate::config::{Share, K};
    use crate::error::{Error, Param};
    use crate::knn::build_knn;
    use crate::knn::testing::{random_features, uniform_f32};
    use crate::progress::NoProgress;
    use crate::rng::Rng;
    use crate::Features;
    use std::path::Path;

    const NINF: f32 = f32::NEG_INFINITY;

    fn sim(v: f32) -> Similarity {
        Similarity::new(Param::MinSim, v).unwrap()
    }

    #[test]
    fn one_row_at_a_time_gives_the_graph_of_row_local_rules() {
        let f = random_features(300, 8, 41);
        let knn = build_knn(
            &f,
            &KnnConfig { k: K::new(20).unwrap(), index: "Flat".into(), ..KnnConfig::default() },
            &NoProgress,
        )
        .unwrap();
        for (pruning, weighting) in [
            (Pruning::Threshold, Weighting::Sim),
            (Pruning::Adaptive, Weighting::Sim),
            (Pruning::Threshold, Weighting::Normalized),
            (Pruning::Adaptive, Weighting::Normalized),
            (Pruning::Tiered, Weighting::Sim),
            (Pruning::Tiered, Weighting::Normalized),
        ] {
            // Tiers of 5 near slots (the row itself included) and a far threshold of 0.58.
            let config = EdgeConfig {
                pruning,
                weighting,
                min_cut_z: 1.5,
                near_slots: 5,
                far_beta: 0.6,
                ..EdgeConfig::default()
            };
            assert!(is_row_local(&config));
            let graph = build_edges(&knn, 15, sim(0.3), &config).unwrap();
            let (mut scratch, mut links) = (Vec::new(), Vec::new());
            for i in 0..300 {
                let (ids, sims) = knn.row(i);
                links.clear();
                row_links_of(&ids[..15], &sims[..15], i, sim(0.3), &config, &mut scratch, &mut links);
                let (t, w) = graph.out_links(i);
                let expected: Vec<(u32, f32)> = t.iter().copied().zip(w.iter().copied()).collect();
                assert_eq!(links, expected, "{pruning:?}/{weighting:?} row {i}");
            }
        }
        assert!(!is_row_local(&EdgeConfig { pruning: Pruning::Snn, ..EdgeConfig::default() }));
        assert!(!is_row_local(&EdgeConfig { weighting: Weighting::Snn, ..EdgeConfig::default() }));
    }

    /// The seed's graph.
    fn seed_graph(knn: &Knn, k: usize, min_sim: f32) -> Graph {
        build_edges(knn, k, sim(min_sim), &EdgeConfig::default()).unwrap()
    }

    /// The seed's rule written naively, row by row: the oracle of the default config.
    fn naive_seed_links(knn: &Knn, k: usize, min_sim: f32, i: usize) -> Vec<(u32, f32)> {
        let (ids, sims) = knn.row(i);
        ids[..k]
            .iter()
            .zip(&sims[..k])
            .filter(|(&j, &s)| j != NONE && j as usize != i && s >= min_sim)
            .map(|(&j, &s)| (j, s))
            .collect()
    }

    fn table(k: usize, rows: &[&[(u32, f32)]]) -> Knn {
        let ids = rows.iter().flat_map(|row| row.iter().map(|l| l.0)).collect();
        let sims = rows.iter().flat_map(|row| row.iter().map(|l| l.1)).collect();
        Knn::from_rows(k, ids, sims).unwrap()
    }

    fn links(g: &Graph, i: usize) -> Vec<(u32, f32)> {
        let (t, w) = g.out_links(i);
        t.iter().copied().zip(w.iter().copied()).collect()
    }

    #[test]
    fn self_links_dropped_threshold_inclusive_padding_skipped() {
        let t = table(
            4,
            &[
                &[(0, 1.0), (1, 0.7), (2, 0.5), (3, 0.49)],
                &[(1, 1.0), (0, 0.7), (NONE, NINF), (NONE, NINF)],
                &[(2, 1.0), (3, 0.2), (0, 0.1), (1, 0.0)],
                &[(3, 1.0), (2, 0.2), (NONE, NINF), (NONE, NINF)],
            ],
        );
        let g = seed_graph(&t, 4, 0.5);
        assert_eq!(g.n(), 4);
        assert_eq!(links(&g, 0), [(1, 0.7), (2, 0.5)]);
        assert_eq!(links(&g, 1), [(0, 0.7)]);
        assert_eq!(links(&g, 2), []);
        assert_eq!(links(&g, 3), []);
        assert_eq!((g.num_links(), g.num_singletons()), (3, 2));
        assert_eq!(g.singletons().collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn only_the_first_k_slots_count() {
        let t = table(
            4,
            &[
                &[(0, 1.0), (1, 0.9), (2, 0.8), (3, 0.7)],
                &[(1, 1.0), (0, 0.9), (3, 0.8), (2, 0.7)],
                &[(2, 1.0), (3, 0.9), (1, 0.8), (0, 0.7)],
                &[(3, 1.0), (2, 0.9), (1, 0.8), (0, 0.7)],
            ],
        );
        let g = seed_graph(&t, 2, 0.0);
        assert_eq!((0..4).map(|i| links(&g, i)).collect::<Vec<_>>(), [[(1, 0.9)], [(0, 0.9)], [(3, 0.9)], [(2, 0.9)]]);
        assert_eq!(seed_graph(&t, 1, 0.0).num_singletons(), 4);
        assert_eq!(seed_graph(&t, 4, 0.0).num_links(), 12);
    }

    #[test]
    fn self_entry_is_dropped_by_id_when_a_duplicate_sorts_first() {
        // Rows 0 and 1 are duplicates: in row 1, id 0 ties with the row itself and comes first.
        let t = table(
            3,
            &[&[(0, 1.0), (1, 1.0), (2, 0.6)], &[(0, 1.0), (1, 1.0), (2, 0.6)], &[(2, 1.0), (0, 0.6), (1, 0.6)]],
        );
        let g = seed_graph(&t, 3, 0.5);
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
        let knn = build_knn(&f, &KnnConfig { k: K::new(10).unwrap(), ..KnnConfig::default() }, &NoProgress).unwrap();
        // The case this test is for: some duplicate's row starts with another copy, not itself.
        assert!((200..f.n()).any(|i| knn.row(i).0[0] != i as u32));
        let g = seed_graph(&knn, 10, 0.99);
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
    fn thresholds_at_the_ends_keep_nothing_or_everything() {
        let f = random_features(100, 8, 22);
        let knn = build_knn(&f, &KnnConfig { k: K::new(5).unwrap(), ..KnnConfig::default() }, &NoProgress).unwrap();
        let g = seed_graph(&knn, 5, 1.0);
        assert_eq!((g.num_links(), g.num_singletons()), (0, 100));
        let g = seed_graph(&knn, 5, -1.0);
        assert_eq!((g.num_links(), g.num_singletons()), (400, 0));
    }

    /// Random canonical tables: the default config's graph equals the naive per-row filter.
    #[test]
    fn the_default_is_the_naive_seed_filter() {
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
            let t = Knn::from_rows(table_k, ids, sims).unwrap();
            let k = 1 + (rng.next_u64() % table_k as u64) as usize;
            let min_sim = (uniform_f32(&mut rng) * 4.0).round() / 4.0;
            let g = seed_graph(&t, k, min_sim);
            for i in 0..n {
                assert_eq!(links(&g, i), naive_seed_links(&t, k, min_sim, i));
            }
            assert_eq!(g.num_singletons(), (0..n).filter(|&i| !g.has_out_links(i)).count());
        }
    }

    #[test]
    fn cut_finds_the_identity_end() {
        // Four images of one person, then a slowly falling background.
        let mut sims = vec![0.9, 0.88, 0.85, 0.83];
        sims.extend((0..30).map(|t| 0.45 - 0.003 * t as f32));
        assert_eq!(adaptive_cut(&sims, 3.0), 4);
        // A near-duplicate first does not pull the cut forward.
        let mut dup = vec![0.99, 0.85, 0.84, 0.82];
        dup.extend((0..30).map(|t| 0.45 - 0.003 * t as f32));
        assert_eq!(adaptive_cut(&dup, 3.0), 4);
    }

    #[test]
    fn no_drop_keeps_everything() {
        let flat: Vec<f32> = (0..40).map(|t| 0.9 - 0.002 * t as f32).collect();
        assert_eq!(adaptive_cut(&flat, 3.0), 40);
        assert_eq!(adaptive_cut(&[0.9, 0.5, 0.4], 3.0), 3, "too short to judge");
        assert_eq!(adaptive_cut(&[], 3.0), 0);
    }

    fn random_knn(rng: &mut Rng, n: usize, k: usize) -> Knn {
        let mut ids = Vec::new();
        let mut sims = Vec::new();
        for i in 0..n {
            let mut row: Vec<(f32, u32)> = vec![(1.0, i as u32)];
            let mut others: Vec<u32> = (0..n as u32).filter(|&j| j != i as u32).collect();
            for t in 0..k - 1 {
                let pick = t + (rng.next_u64() % (others.len() - t) as u64) as usize;
                others.swap(t, pick);
                row.push((((uniform_f32(rng) + 1.0) / 2.0 * 8.0).round() / 8.0, others[t]));
            }
            row.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            ids.extend(row.iter().map(|l| l.1));
            sims.extend(row.iter().map(|l| l.0));
        }
        Knn::from_rows(k, ids, sims).unwrap()
    }

    #[test]
    fn threshold_and_sim_is_the_seed_rule() {
        let mut rng = Rng::new(31);
        let knn = random_knn(&mut rng, 300, 12);
        for (k, min_sim) in [(12, 0.5), (5, 0.0), (12, 0.99)] {
            let g = seed_graph(&knn, k, min_sim);
            assert!((0..knn.n()).all(|i| links(&g, i) == naive_seed_links(&knn, k, min_sim, i)));
        }
    }

    #[test]
    fn normalized_weights_sum_to_one_per_linked_row() {
        let mut rng = Rng::new(32);
        let knn = random_knn(&mut rng, 200, 10);
        let config = EdgeConfig { weighting: Weighting::Normalized, ..EdgeConfig::default() };
        let g = build_edges(&knn, 10, sim(0.5), &config).unwrap();
        let seed = seed_graph(&knn, 10, 0.5);
        assert!((0..g.n()).all(|i| g.out_links(i).0 == seed.out_links(i).0));
        for i in 0..g.n() {
            let (_, w) = g.out_links(i);
            if !w.is_empty() {
                assert!((w.iter().map(|&w| f64::from(w)).sum::<f64>() - 1.0).abs() < 1e-5);
            }
        }
    }

    /// The shared-neighbour score against a naive set intersection.
    #[test]
    fn snn_scores_match_a_naive_count() {
        let mut rng = Rng::new(33);
        let knn = random_knn(&mut rng, 60, 8);
        let k = 6;
        let config = EdgeConfig { weighting: Weighting::Snn, ..EdgeConfig::default() };
        let g = build_edges(&knn, k, sim(0.0), &config).unwrap();
        let set = |i: usize| -> Vec<u32> {
            let mut s: Vec<u32> = knn.row(i).0[..k].to_vec();
            s.push(i as u32);
            s.sort_unstable();
            s.dedup();
            s
        };
        for i in 0..knn.n() {
            let (t, w) = g.out_links(i);
            assert_eq!(t, seed_graph(&knn, k, 0.0).out_links(i).0);
            for (&j, &w) in t.iter().zip(w) {
                let (a, b) = (set(i), set(j as usize));
                let shared = b.iter().filter(|x| a.contains(x)).count();
                assert!((w - shared as f32 / b.len() as f32).abs() < 1e-6, "{i} -> {j}");
            }
        }
        // Pruning keeps exactly the links scoring at least min_snn.
        let min_snn = Share::new(Param::MinSnn, 0.5).unwrap();
        let pruned = build_edges(&knn, k, sim(0.0), &EdgeConfig { pruning: Pruning::Snn, min_snn, ..config }).unwrap();
        let kept: usize = g.weights().iter().filter(|&&w| w >= 0.5).count();
        assert_eq!(pruned.num_links(), kept);
    }

    #[test]
    fn same_graph_with_one_thread_and_many() {
        let mut rng = Rng::new(34);
        let knn = random_knn(&mut rng, 5000, 6);
        for pruning in [Pruning::Threshold, Pruning::Adaptive, Pruning::Snn] {
            let config = EdgeConfig { pruning, weighting: Weighting::Normalized, ..Default::default() };
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let a = one.install(|| build_edges(&knn, 6, sim(0.3), &config).unwrap());
            let b = build_edges(&knn, 6, sim(0.3), &config).unwrap();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn k_must_fit_the_table() {
        let mut rng = Rng::new(35);
        let knn = random_knn(&mut rng, 10, 4);
        for k in [0, 5] {
            let e = build_edges(&knn, k, sim(0.5), &EdgeConfig::default()).unwrap_err();
            assert!(matches!(e, Error::InvalidParameter { param: Param::K, .. }), "{e}");
            assert!(e.to_string().contains(&format!("k = {k}")), "{e}");
        }
    }

    #[test]
    fn tiered_keeps_near_slots_to_min_sim_and_far_slots_to_the_far_threshold() {
        // One row of 8 slots: itself, then falling similarities; near tier = slots 0..3.
        let sims = [1.0, 0.9, 0.62, 0.61, 0.75, 0.7, 0.65, 0.55];
        let (mut ids, mut all) = (Vec::new(), Vec::new());
        for i in 0..9u32 {
            // Row 0 as above (unsorted on purpose is not allowed: sort it), the others empty.
            let mut row: Vec<(f32, u32)> =
                if i == 0 { sims.iter().enumerate().map(|(s, &v)| (v, s as u32)).collect() } else { vec![(1.0, i)] };
            row.sort_by(|a, b| b.0.total_cmp(&a.0));
            row.resize(8, (NINF, NONE));
            ids.extend(row.iter().map(|l| l.1));
            all.extend(row.iter().map(|l| l.0));
        }
        let knn = Knn::from_rows(8, ids, all).unwrap();
        // Sorted row 0: 1.0 (self), 0.9, 0.75 | 0.7, 0.65, 0.62, 0.61, 0.55. min_sim 0.6, far
        // threshold 1 - 0.5 (1 - 0.6) = 0.8 with beta 0.5: the far slots all fall below it.
        let config = EdgeConfig { pruning: Pruning::Tiered, near_slots: 3, far_beta: 0.5, ..EdgeConfig::default() };
        let g = build_edges(&knn, 8, sim(0.6), &config).unwrap();
        assert_eq!(g.out_links(0).1, [0.9, 0.75]);
        // beta 0.9: far threshold 0.64; 0.7 and 0.65 pass, 0.62 does not (it would at min_sim).
        let config = EdgeConfig { far_beta: 0.9, ..config };
        let g = build_edges(&knn, 8, sim(0.6), &config).unwrap();
        assert_eq!(g.out_links(0).1, [0.9, 0.75, 0.7, 0.65]);
        assert_eq!(far_min_sim(sim(0.6), 0.9), (1.0 - 0.9 * (1.0 - f64::from(0.6f32))) as f32);
        // With all slots near, it is the seed's rule.
        let config = EdgeConfig { near_slots: 8, ..config };
        let g = build_edges(&knn, 8, sim(0.6), &config).unwrap();
        assert_eq!(g.out_links(0).1, [0.9, 0.75, 0.7, 0.65, 0.62, 0.61]);
        assert_eq!(g, seed_graph(&knn, 8, 0.6));
        // Row 0 reaches its last slot only when 0.55 passes the far threshold.
        assert_eq!(reach_share(&knn, 8, 0.55), 1.0 / 9.0);
        assert_eq!(reach_share(&knn, 8, 0.56), 0.0);
    }
}
