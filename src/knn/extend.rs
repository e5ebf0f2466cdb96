//! Searching rows appended to a searched collection (`face-cluster add`, issue 15).
//!
//! [`search_added`] finds the `k` nearest neighbours of each added row among all rows, old and
//! added, and the old rows whose neighbour lists an added row enters (it is more similar to the
//! old row than the old row's `k`-th neighbour), without searching the old rows again:
//!
//! - exactly, when the table was searched exactly (`Flat`, and every faiss index, whose state
//!   is not kept): every added row is compared with every row;
//! - as the `IVFJoin` search that built the table would have (a [`Quantizer`] kept from it,
//!   the added rows assigned to their two most similar centroids): an added row is compared
//!   with every row the join compares it with ([`Quantizer::compares`]: the rows of the lists
//!   joined with its list, of its second list when that is not joined with its list, and the
//!   rows spilled into its list from lists not joined with it), and the comparison is used
//!   both ways, as in the join: for the added row's neighbours and for the old row's.
//!
//! The work is organised by blocks of rows (an inverted list, the rows spilled into a list, or
//! a run of rows for exact search): each block's rows are compared at once with the added rows
//! that need them, as one matrix product, so every old row's features are read once. Similarities that decide
//! anything are recomputed with [`dot`], so results are those of the table's own arithmetic
//! and do not depend on the thread count.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::quantizer::Quantizer;
use super::rows::{FeatureRows, KnnRows};
use super::table::{dot, NONE};
use crate::error::{Error, Param, Result};

/// Rows per block of an exact search.
const EXACT_BLOCK_ROWS: usize = 2048;
/// Added rows per matrix product of a block: bounds the product's memory.
const QUERY_CHUNK: usize = 512;
/// Blocks compared in parallel before their results are merged.
const BLOCKS_PER_ROUND: usize = 64;
/// A product's similarity this far below an old row's `k`-th is not recomputed: the products
/// differ from [`dot`] by rounding only (about `1e-6` for unit rows of a few hundred values).
const MARGIN: f32 = 1e-4;

/// What [`search_added`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Added {
    /// The canonical rows of the added rows, `k` slots each (the row itself included), as in
    /// [`super::Knn`].
    pub ids: Vec<u32>,
    /// Their similarities.
    pub sims: Vec<f32>,
    /// `(old row, added row, similarity)` for every added row that ranks before an old row's
    /// `k`-th neighbour (by similarity descending, then id), by old row, then added row.
    pub entries: Vec<(u32, u32, f32)>,
    /// Pairs of rows compared.
    pub compared: u64,
}

/// What one block's comparisons found: `(added, row, sim)` candidates for the added rows, and
/// `(old row, added, sim)` entries into old rows' lists.
type Compared = (Vec<(u32, u32, f32)>, Vec<(u32, u32, f32)>);

/// One block of old rows and the added rows compared with it.
struct Block {
    /// Its rows (old and added).
    rows: Vec<u32>,
    /// Added rows that look for their neighbours among these rows.
    forward: Vec<u32>,
    /// Added rows that may enter these rows' neighbour lists.
    reverse: Vec<u32>,
}

/// Searches the added rows `n_old..` of `rows` (unit rows, old rows first) for their `k`
/// nearest neighbours among all rows, and finds the old rows they enter; see the module
/// docs of `knn/extend.rs`. `old` holds the old rows' canonical table (at least `n_old` rows of `k` slots).
/// With a `quantizer` (its lists covering every row) the search is the `IVFJoin`'s; without, it
/// is exact.
///
/// # Errors
///
/// [`Error::InvalidParameter`] (`input`) when the parts do not fit together (sizes, or a
/// quantizer of another dimension or number of rows); `--k` when `k` is not below the number
/// of rows.
///
/// # Complexity
///
/// Exact: `n m dim` multiply-adds for `m` added rows. Join: about `m (2 nprobe + 1) (n / nlist)
/// dim` (the lists joined with an added row's list, and its second list), plus the spilled rows.
/// Memory: one similarity block per thread and the candidates of one round of blocks.
pub fn search_added(
    rows: &impl FeatureRows,
    n_old: usize,
    old: &impl KnnRows,
    quantizer: Option<&Quantizer>,
) -> Result<Added> {
    let bad = |problem: String| Error::invalid(Param::Input, format!("searching added rows: {problem}"));
    let (n, dim, k) = (rows.num_rows(), rows.dim(), old.k());
    if dim == 0 || n_old > n || old.num_rows() < n_old || k == 0 {
        return Err(bad(format!("a table of {} rows for {n_old} of {n} rows and k = {k}", old.num_rows())));
    }
    if k >= n {
        return Err(Error::invalid(Param::K, format!("k = {k} must be smaller than the number of rows ({n})")));
    }
    if let Some(q) = quantizer {
        if q.dim() != dim || q.lists().len() != n {
            return Err(bad(format!(
                "a quantizer of dimension {} for {} rows, not {dim} and {n}",
                q.dim(),
                q.lists().len()
            )));
        }
    }
    let added: Vec<u32> = (n_old as u32..n as u32).collect();
    let blocks = match quantizer {
        Some(q) => join_blocks(q, n_old),
        None => (0..n)
            .step_by(EXACT_BLOCK_ROWS)
            .map(|start| Block {
                rows: (start as u32..(start + EXACT_BLOCK_ROWS).min(n) as u32).collect(),
                forward: added.clone(),
                reverse: if start < n_old { added.clone() } else { Vec::new() },
            })
            .collect(),
    };
    let row = |i: u32| rows.row(i as usize);
    // k-th slot of each old row: (similarity, id).
    let kth = |i: u32| {
        let (ids, sims) = old.knn_row(i as usize);
        (sims[k - 1], ids[k - 1])
    };

    let m = n - n_old;
    let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::new(); m];
    let mut entries = Vec::new();
    let mut compared = 0u64;
    for round in blocks.chunks(BLOCKS_PER_ROUND) {
        let results: Vec<Compared> =
            round.par_iter().map(|block| compare_block(block, dim, n_old, k, &row, &kth)).collect();
        for (block, (forward, reverse)) in round.iter().zip(results) {
            compared += block.rows.len() as u64 * union_len(&block.forward, &block.reverse) as u64;
            for (x, j, s) in forward {
                best[x as usize - n_old].push((s, j));
            }
            entries.extend(reverse);
        }
        for list in &mut best {
            canonical_top(list, k);
        }
    }
    let mut ids = vec![NONE; m * k];
    let mut sims = vec![f32::NEG_INFINITY; m * k];
    for (x, list) in best.iter().enumerate() {
        for (slot, &(s, j)) in list.iter().enumerate() {
            ids[x * k + slot] = j;
            sims[x * k + slot] = s;
        }
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    entries.dedup_by_key(|e| (e.0, e.1));
    Ok(Added { ids, sims, entries, compared })
}

/// The join's blocks, each compared with its added rows both ways: one per inverted list
/// (every row of the list), with the added rows whose list is joined with it or whose second
/// list it is; and one per list that rows are spilled into (the rows, old or added, whose
/// second list it is and is not joined with their own), with the added rows of that list.
/// A pair can sit in two blocks (each row's second list the other's); the search drops the
/// repeat.
fn join_blocks(q: &Quantizer, n_old: usize) -> Vec<Block> {
    let nlist = q.nlist();
    let (lists, seconds) = (q.lists(), q.seconds());
    let (offsets, members) = crate::buckets::group_by_key(lists, nlist);
    let mut blocks: Vec<Block> = (0..nlist)
        .map(|c| Block { rows: members[offsets[c]..offsets[c + 1]].to_vec(), forward: Vec::new(), reverse: Vec::new() })
        .collect();
    let mut added_in = vec![Vec::new(); nlist];
    for x in n_old..lists.len() {
        let (a, b) = (lists[x] as usize, seconds[x] as usize);
        added_in[a].push(x as u32);
        for &c in q.joined(a) {
            blocks[c as usize].forward.push(x as u32);
        }
        if !q.is_joined(a, b) {
            blocks[b].forward.push(x as u32);
        }
    }
    // The spills into lists that received added rows.
    let mut spilled: Vec<Vec<u32>> = vec![Vec::new(); nlist];
    for (i, (&a, &b)) in lists.iter().zip(seconds).enumerate() {
        if !added_in[b as usize].is_empty() && !q.is_joined(a as usize, b as usize) {
            spilled[b as usize].push(i as u32);
        }
    }
    for block in &mut blocks {
        block.reverse.clone_from(&block.forward);
    }
    for (rows, added) in spilled.into_iter().zip(added_in) {
        if !rows.is_empty() {
            blocks.push(Block { rows, forward: added.clone(), reverse: added });
        }
    }
    blocks
}

fn union_len(a: &[u32], b: &[u32]) -> usize {
    let mut all: Vec<u32> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    all.dedup();
    all.len()
}

/// Sorts `(sim, id)` pairs canonically (similarity descending, then id), drops repeated ids and
/// keeps the first `k`.
fn canonical_top(list: &mut Vec<(f32, u32)>, k: usize) {
    list.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    list.dedup_by_key(|e| e.1);
    list.truncate(k);
}

/// One block's product, reduced: the best `k` rows of the block for each forward row
/// `(added, row, sim)`, and the `(old row, added, sim)` entries of the reverse rows.
///
/// The product is laid out query by query, so that both reductions read it contiguously.
fn compare_block<'a>(
    block: &Block,
    dim: usize,
    n_old: usize,
    k: usize,
    row: &(impl Fn(u32) -> &'a [f32] + Sync),
    kth: &(impl Fn(u32) -> (f32, u32) + Sync),
) -> Compared {
    let mut queries: Vec<u32> = block.forward.iter().chain(&block.reverse).copied().collect();
    queries.sort_unstable();
    queries.dedup();
    let b = block.rows.len();
    if b == 0 || queries.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let gather = |ids: &[u32]| {
        let mut out = Vec::with_capacity(ids.len() * dim);
        for &i in ids {
            out.extend_from_slice(row(i));
        }
        Array2::from_shape_vec((ids.len(), dim), out).expect("ids.len() rows of dim values")
    };
    let a = gather(&block.rows);
    // The k-th slot of each old row of the block (added rows never take reverse entries).
    let kth: Vec<(f32, u32)> =
        block.rows.iter().map(|&i| if (i as usize) < n_old { kth(i) } else { (f32::INFINITY, NONE) }).collect();
    let keep = k.min(b);
    let mut forward = Vec::with_capacity(block.forward.len() * keep);
    let mut reverse = Vec::new();
    let mut scratch: Vec<f32> = Vec::with_capacity(b);
    let (mut f, mut r) = (block.forward.iter().peekable(), block.reverse.iter().peekable());
    let mut s = Array2::<f32>::zeros((QUERY_CHUNK.min(queries.len()), b));
    for batch in queries.chunks(QUERY_CHUNK) {
        let q = gather(batch);
        let mut out = s.slice_mut(ndarray::s![..batch.len(), ..]);
        general_mat_mul(1.0, &q.view(), &a.t(), 0.0, &mut out);
        let sims: ArrayView2<'_, f32> = s.view();
        for (c, &x) in batch.iter().enumerate() {
            let row_sims = sims.row(c);
            let row_sims = row_sims.as_slice().expect("a standard-layout product");
            let query = row(x);
            if f.next_if_eq(&&x).is_some() {
                // Every row at least (about) as similar as the k-th: the exact similarities decide.
                let cut = if keep < b {
                    scratch.clear();
                    scratch.extend_from_slice(row_sims);
                    let (_, kth_value, _) = scratch.select_nth_unstable_by(keep - 1, |p, q| q.total_cmp(p));
                    *kth_value - MARGIN
                } else {
                    f32::NEG_INFINITY
                };
                for (&j, &sim) in block.rows.iter().zip(row_sims) {
                    if sim >= cut {
                        forward.push((x, j, dot(query, row(j))));
                    }
                }
            }
            if r.next_if_eq(&&x).is_some() {
                for ((&i, &sim), &(kth_sim, kth_id)) in block.rows.iter().zip(row_sims).zip(&kth) {
                    if sim < kth_sim - MARGIN {
                        continue;
                    }
                    let exact = dot(query, row(i));
                    if exact > kth_sim || (exact == kth_sim && x < kth_id) || kth_id == NONE {
                        reverse.push((i, x, exact));
                    }
                }
            }
        }
    }
    (forward, reverse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::testing::random_features;
    use crate::knn::{build_knn, search_knn_keeping_quantizer, testing::config};
    use crate::progress::NoProgress;

    /// The table of all rows after an exact search of the added rows: the old rows' lists with
    /// their entries merged in, then the added rows.
    fn merged(old: &crate::knn::Knn, added: &Added, k: usize) -> (Vec<u32>, Vec<f32>) {
        let (mut ids, mut sims) = (old.ids().to_vec(), old.sims().to_vec());
        let mut at = 0;
        for i in 0..old.n() {
            let mut list: Vec<(f32, u32)> = (0..k).map(|s| (sims[i * k + s], ids[i * k + s])).collect();
            while at < added.entries.len() && added.entries[at].0 as usize == i {
                list.push((added.entries[at].2, added.entries[at].1));
                at += 1;
            }
            list.retain(|e| e.1 != NONE);
            canonical_top(&mut list, k);
            for s in 0..k {
                (sims[i * k + s], ids[i * k + s]) = list.get(s).map_or((f32::NEG_INFINITY, NONE), |&(x, j)| (x, j));
            }
        }
        ids.extend_from_slice(&added.ids);
        sims.extend_from_slice(&added.sims);
        (ids, sims)
    }

    #[test]
    fn exact_search_of_added_rows_gives_the_table_of_all_rows() {
        let all = random_features(3000, 16, 5);
        let (n_old, k) = (2600, 12);
        let old_rows = crate::Features::new(
            ndarray::Array2::from_shape_vec((n_old, 16), all.as_slice()[..n_old * 16].to_vec()).unwrap(),
            std::path::Path::new("old"),
            false,
        )
        .unwrap();
        let old = build_knn(&old_rows, &config("Flat", k), &NoProgress).unwrap();
        let added = search_added(&all, n_old, &old, None).unwrap();
        assert_eq!(added.compared, 3000 * 400);
        let full = build_knn(&all, &config("Flat", k), &NoProgress).unwrap();
        let (ids, sims) = merged(&old, &added, k);
        assert_eq!(ids, full.ids());
        assert_eq!(sims, full.sims());
        assert!(!added.entries.is_empty());
    }

    #[test]
    fn a_join_probing_every_list_is_exact_and_fewer_probes_compare_less() {
        let all = random_features(4000, 16, 9);
        let (n_old, k) = (3500, 10);
        let old_rows = crate::Features::new(
            ndarray::Array2::from_shape_vec((n_old, 16), all.as_slice()[..n_old * 16].to_vec()).unwrap(),
            std::path::Path::new("old"),
            false,
        )
        .unwrap();
        let join = |nprobe: usize| crate::config::KnnConfig {
            nprobe: std::num::NonZeroUsize::new(nprobe),
            ..config("IVFJoin16", k)
        };
        let exact = build_knn(&all, &config("Flat", k), &NoProgress).unwrap();
        for nprobe in [16, 4] {
            let (old, _, q) = search_knn_keeping_quantizer(&old_rows, &join(nprobe), &NoProgress).unwrap();
            let mut q = q.expect("a join keeps its quantizer");
            q.extend(&all.as_slice()[n_old * 16..]);
            let added = search_added(&all, n_old, &old, Some(&q)).unwrap();
            let (ids, _) = merged(&old, &added, k);
            if nprobe == 16 {
                assert_eq!(ids, exact.ids());
                assert_eq!(added.compared, 4000 * 500);
                continue;
            }
            assert!(added.compared < 4000 * 500 / 2, "{}", added.compared);
            // Each added row's neighbours are the exact best among the rows the join compares
            // it with, and it enters exactly the old rows it is compared with whose k-th it beats.
            let row = |i: usize| &all.as_slice()[i * 16..(i + 1) * 16];
            for x in n_old..4000 {
                let mut best: Vec<(f32, u32)> =
                    (0..4000).filter(|&j| q.compares(x, j)).map(|j| (dot(row(x), row(j)), j as u32)).collect();
                canonical_top(&mut best, k);
                let found: Vec<u32> = added.ids[(x - n_old) * k..(x - n_old + 1) * k].to_vec();
                assert_eq!(found, best.iter().map(|e| e.1).collect::<Vec<_>>(), "row {x}");
            }
            let mut expected = Vec::new();
            for i in 0..n_old {
                let (ids, sims) = old.row(i);
                for x in n_old..4000 {
                    let s = dot(row(i), row(x));
                    if q.compares(i, x) && (s > sims[k - 1] || (s == sims[k - 1] && (x as u32) < ids[k - 1])) {
                        expected.push((i as u32, x as u32));
                    }
                }
            }
            let entries: Vec<(u32, u32)> = added.entries.iter().map(|e| (e.0, e.1)).collect();
            assert_eq!(entries, expected);
        }
    }

    #[test]
    fn parts_that_do_not_fit_are_refused() {
        let all = random_features(10, 4, 1);
        let one = crate::knn::Knn::from_rows(1, vec![0, 1, 2], vec![1.0; 3]).unwrap();
        let e = search_added(&all, 5, &one, None).unwrap_err();
        assert!(e.to_string().contains("searching added rows"), "{e}");
        // k = 10 slots for 10 rows.
        let ids: Vec<u32> = (0..11u32).flat_map(|i| (0..10).map(move |j| (i + j) % 11)).collect();
        let sims: Vec<f32> = (0..11).flat_map(|_| (0..10).map(|j| 1.0 - j as f32 / 20.0)).collect();
        let wide = crate::knn::Knn::from_rows(10, ids, sims).unwrap();
        let e = search_added(&all, 1, &wide, None).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { param: Param::K, .. }), "{e}");
    }
}
