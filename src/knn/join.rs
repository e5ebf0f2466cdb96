//! `IVFJoin<nlist>`: the inverted-file self-join, an approximate k-NN of every row against all
//! rows at `sgemm`'s speed.
//!
//! faiss's own IVF search scans each query's lists one vector at a time (`fvec_inner_product`);
//! in the portable build faiss-sys makes (`FAISS_OPT_LEVEL=generic`, SSE only) that loop runs at
//! a twentieth of `sgemm`'s speed, which made `IVF1024,Flat` slower on 584,000 rows than the
//! exact search is on 300,000 (docs/scale.md). When the queries *are* the indexed rows, the scan
//! can be reorganised into matrix products:
//!
//! 1. a coarse quantizer: spherical k-means of `nlist` centroids on an evenly strided sample of
//!    [`AUTO_TRAIN_ROWS_PER_LIST`] rows per list, [`KMEANS_ITERATIONS`] iterations, the last of
//!    which assigns every row to its list and finds its second list (`kmeans.rs`);
//! 2. each list's *probe set*: the `nprobe` lists whose centroids are nearest its own (itself
//!    first), widened until they hold `k` rows;
//! 3. the *pairs*: list `a` is joined with list `b` when either probes the other. Each pair is
//!    multiplied once, `X_a X_b^T` in one `sgemm` call per block ([`gemm`](super::gemm)), and
//!    used both ways: its rows are candidates for the rows of `a`, its columns for those of `b`;
//! 4. the *spill*: a row whose second list is not joined with its own list is also multiplied
//!    with the rows of its second list, again both ways.
//!    These are the rows on a list's edge, whose neighbours the lists nearest their list's
//!    centroid miss most often;
//! 5. each row keeps its best `k` candidates in a bounded heap whose floor rejects nearly every
//!    product in a vector comparison (`topk.rs`); the neighbours kept get their similarity
//!    recomputed in a fixed order ([`dot`]) and the row is canonicalised.
//!
//! A row's candidates are thus the rows of the lists joined with its own (those its list probes
//! and those that probe its list: a superset of the probe set that costs no product more) and,
//! for a row on an edge, of its second list. The recall of the links that matter is measured by
//! [`super::check_recall`]. The search hands back what its quantizer decided (a
//! [`Quantizer`]: centroids, probe sets, each row's list and second list), which a saved
//! clustering keeps so that `face-cluster add` compares added rows with the same rows (issue 15).
//!
//! # Work, threads and determinism
//!
//! The join first multiplies every list with itself (so that each row's floor starts at its
//! own list's `k`-th best, which the other lists rarely beat), then each list with the lists
//! it owns among its pairs (the lower-numbered list of the two owns a pair), blocks of
//! [`BLOCK_ROWS`] rows against about [`BLOCK_COLUMNS`] candidate rows gathered from the owned
//! lists, nearest first, then the spilled rows. Lists run side by side on rayon's threads,
//! every `sgemm` call on one BLAS thread; a list's heaps are locked while a block is offered to
//! them. The blocks, their shapes and so the bits of every product are the same on any thread
//! count, every candidate is offered to a row once, and a heap ends with the same `k` best
//! whatever the order of the offers: the table does not depend on the thread count.
//!
//! # Complexity
//!
//! With `n` rows in lists of about `n / nlist`: the quantizer about `2 d 5 sqrt(nlist)` flops
//! per row and iteration (`kmeans.rs`), the join `2 d (n / nlist)` per row and pair, about
//! `2 d n nprobe (n / nlist)` in all, less where two lists probe each other (that pair is
//! multiplied once), plus the spilled rows against one list each. `auto` keeps `n / nlist`
//! near 128, so the search is linear in `n`. Memory beyond the features and the table: the
//! centroids, the list and second list of every row, the heaps (`8 k` bytes per row, freed list
//! by list as the table's rows are written, so that the two are never both whole) and, per
//! thread, one block of gathered rows and of products.

use std::borrow::Cow;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::Instant;

use rayon::prelude::*;

use super::faiss::{out_of_range, strided_sample};
use super::gemm::inner_products;
use super::kmeans::train_and_assign;
use super::quantizer::Quantizer;
use super::table::{canonicalise_row, dot, Knn};
use super::topk::Heaps;
use super::{Job, Ran, AUTO_NPROBE, AUTO_TRAIN_ROWS_PER_LIST};
use crate::config::KnnConfig;
use crate::error::{Error, Param, Result};
use crate::progress::{Progress, Stage};

/// k-means iterations of the quantizer, the assignment of all rows included (five on the
/// sample, then all rows).
pub const KMEANS_ITERATIONS: usize = 6;

/// Rows of a list multiplied at once: with [`BLOCK_COLUMNS`], a block of products of about
/// 1 MiB, which stays in a core's cache between the `sgemm` that writes it and the scans that
/// read it.
pub const BLOCK_ROWS: usize = 256;

/// Candidate rows multiplied at once: the owned lists of a pair are gathered, nearest first,
/// until they hold at least this many rows (or one list alone holds more).
pub const BLOCK_COLUMNS: usize = 1024;

/// Searches every row of the job against all rows with the inverted-file self-join of `nlist`
/// lists (module docs), and what its quantizer decided.
pub(super) fn search(job: &Job<'_>, nlist: usize, progress: &dyn Progress) -> Result<(Knn, Ran, Quantizer)> {
    let (features, config) = (job.features, job.config);
    let (n, d, k) = (job.n(), job.d(), job.k());
    let nlist = nlist.min(n);
    let nprobe = config.nprobe.map_or(AUTO_NPROBE, NonZeroUsize::get).min(nlist);
    if config.ef_search.is_some() {
        return Err(Error::invalid(
            Param::EfSearch,
            format!("index '{}' does not take efSearch (it is not HNSW)", config.index),
        ));
    }
    // Many products side by side, each on one BLAS thread: no BLAS threads spinning while
    // the scans and copies run.
    let _one_blas_thread = OneBlasThread::new();
    let data = features.as_slice();

    let started = Instant::now();
    let index_stage = Stage::start(progress, "index", None);
    let train_rows = n.min(config.max_train_rows.min(nlist * AUTO_TRAIN_ROWS_PER_LIST).max(nlist));
    let sample = if train_rows < n { Cow::Owned(strided_sample(features, train_rows)) } else { Cow::Borrowed(data) };
    let quantizer = train_and_assign(data, &sample, d, nlist, KMEANS_ITERATIONS);
    drop(sample);
    let lists = Lists::new(&quantizer.list_of, nlist);
    let (probes, probe_flops) = probe_sets(&quantizer.centroids, d, nprobe, k, &lists);
    let owned = owned_pairs(&probes, &quantizer.centroids, d);
    let second_of = quantizer.second_of;
    let spills = spilled_rows(&lists, &second_of, &probes);
    let build_secs = started.elapsed().as_secs_f64();
    let build_flops = quantizer.flops + probe_flops;
    drop(index_stage);

    let started = Instant::now();
    let stage = Stage::start(progress, "knn", Some(n as u64));
    let heaps: Vec<Mutex<Heaps>> = (0..nlist).map(|c| Mutex::new(Heaps::new(lists.len(c), k))).collect();
    // Larger lists first, so that the last to finish are small.
    let mut order: Vec<usize> = (0..nlist).collect();
    order.sort_by_key(|&a| {
        std::cmp::Reverse(lists.len(a) * (lists.len(a) + owned[a].iter().map(|&b| lists.len(b)).sum::<usize>()))
    });
    let joiner = Joiner { data, d, lists: &lists, heaps: &heaps };
    order.par_iter().for_each_init(Blocks::default, |blocks, &a| joiner.join(a, &[a], blocks));
    order.par_iter().for_each_init(Blocks::default, |blocks, &a| {
        joiner.join(a, &owned[a], blocks);
        progress.advance(lists.len(a) as u64);
    });
    (0..nlist)
        .into_par_iter()
        .for_each_init(Blocks::default, |blocks, b| joiner.spill(b, &spills[b], &second_of, blocks));
    let search_flops: f64 = (0..nlist)
        .map(|a| {
            let columns = lists.len(a) + owned[a].iter().map(|&b| lists.len(b)).sum::<usize>();
            2.0 * d as f64 * (lists.len(a) * columns + spills[a].len() * lists.len(a)) as f64
        })
        .sum();

    // The heaps to canonical rows, the kept ids with their similarities recomputed, list by
    // list (a row's neighbours are mostly rows of its own list, still in the caches), written
    // in list order: list `c`'s rows are rows `offsets[c]..offsets[c + 1]` of `ids` and `sims`,
    // one contiguous run. Each list's heaps are freed as soon as its rows are written, and the
    // zeroed buffers are touched only as they are written (their values are all overwritten),
    // so the heaps and the table are never both whole in memory. Then, in place, to row order.
    let heaps: Vec<Heaps> = heaps.into_iter().map(|h| h.into_inner().unwrap_or_else(|e| e.into_inner())).collect();
    let mut ids = vec![0u32; n * k];
    let mut sims = vec![0f32; n * k];
    let mut runs = Vec::with_capacity(nlist);
    let (mut rest_ids, mut rest_sims) = (&mut ids[..], &mut sims[..]);
    for c in 0..nlist {
        let (run_ids, more_ids) = rest_ids.split_at_mut(lists.len(c) * k);
        let (run_sims, more_sims) = rest_sims.split_at_mut(lists.len(c) * k);
        runs.push((run_ids, run_sims));
        (rest_ids, rest_sims) = (more_ids, more_sims);
    }
    heaps
        .into_par_iter()
        .zip(runs)
        .enumerate()
        .try_for_each_init(
            || RowScratch::new(k),
            |row: &mut RowScratch, (c, (list, (run_ids, run_sims)))| {
                let slots = run_ids.chunks_exact_mut(k).zip(run_sims.chunks_exact_mut(k));
                for ((r, &i), (row_ids, row_sims)) in lists.members(c).iter().enumerate().zip(slots) {
                    row.found.clear();
                    row.found.extend(list.ids(r).map(i64::from));
                    let query = features.row(i as usize);
                    // As many candidates as slots: no cut, no tie to settle.
                    canonicalise_row(row.found.iter().copied(), n, &mut row.sorted, row_ids, row_sims, |j| {
                        dot(query, features.row(j as usize))
                    })?;
                }
                drop(list);
                Ok(())
            },
        )
        .map_err(|id| out_of_range(job, id))?;
    rayon::join(|| to_row_order(&mut ids, k, &lists.rows), || to_row_order(&mut sims, k, &lists.rows));
    drop(stage);
    let resolved = KnnConfig { nprobe: NonZeroUsize::new(nprobe), ..config.clone() };
    let ran = Ran {
        resolved,
        build_secs,
        search_secs: started.elapsed().as_secs_f64(),
        build_flops: Some(build_flops),
        search_flops: Some(search_flops),
    };
    let probe_sets: Vec<Vec<u32>> = probes.iter().map(|set| set.iter().map(|&p| p as u32).collect()).collect();
    let kept = Quantizer::new(d, quantizer.centroids, &probe_sets, quantizer.list_of, second_of)
        .map_err(|problem| Error::invalid(Param::Input, format!("keeping the join's quantizer: {problem}")))?;
    Ok((Knn::from_search(n, k, ids, sims), ran, kept))
}

/// A thread's buffers for canonicalising rows.
struct RowScratch {
    found: Vec<i64>,
    sorted: Vec<(f32, u32)>,
}

impl RowScratch {
    fn new(k: usize) -> Self {
        RowScratch { found: Vec::with_capacity(k), sorted: Vec::with_capacity(k) }
    }
}

/// Moves the rows of `k` slots of `table` from list order to row order, in place: the row at
/// place `p` goes to row `rows[p]` (`rows` is a permutation of `0..rows.len()`). Each cycle of
/// the permutation is followed once, carrying one row; no second table.
fn to_row_order<T: Copy + Default>(table: &mut [T], k: usize, rows: &[u32]) {
    debug_assert_eq!(table.len(), rows.len() * k);
    let mut done = vec![false; rows.len()];
    let mut carried = vec![T::default(); k];
    for start in 0..rows.len() {
        if done[start] || rows[start] as usize == start {
            continue;
        }
        carried.copy_from_slice(&table[start * k..(start + 1) * k]);
        let mut at = start;
        loop {
            done[at] = true;
            let to = rows[at] as usize;
            // The carried row to its place; what was there (bound for rows[to]) is carried on.
            table[to * k..(to + 1) * k].swap_with_slice(&mut carried);
            if to == start {
                break;
            }
            at = to;
        }
    }
}

/// The inverted lists: the rows of each list, ascending, and where each row sits.
struct Lists {
    /// Members of list `c` are `rows[offsets[c]..offsets[c + 1]]`.
    offsets: Vec<usize>,
    rows: Vec<u32>,
    /// Row `i` is member `slot[i]` of its list `list_of[i]`.
    list_of: Vec<u32>,
    slot: Vec<u32>,
}

impl Lists {
    fn new(list_of: &[u32], nlist: usize) -> Lists {
        let (offsets, rows) = crate::buckets::group_by_key(list_of, nlist);
        let mut slot = vec![0u32; list_of.len()];
        for c in 0..nlist {
            for (r, &i) in rows[offsets[c]..offsets[c + 1]].iter().enumerate() {
                slot[i as usize] = r as u32;
            }
        }
        Lists { offsets, rows, list_of: list_of.to_vec(), slot }
    }

    fn len(&self, c: usize) -> usize {
        self.offsets[c + 1] - self.offsets[c]
    }

    fn members(&self, c: usize) -> &[u32] {
        &self.rows[self.offsets[c]..self.offsets[c + 1]]
    }

    /// Row `i`'s list and its place in it.
    fn place(&self, i: usize) -> (usize, usize) {
        (self.list_of[i] as usize, self.slot[i] as usize)
    }
}

/// Centroids compared at once when choosing probe sets.
const PROBE_BLOCK: usize = 256;

/// Each list's probe set (itself first, then the lists of the most similar centroids, ties to
/// the lower list), and the flops spent: the `nprobe` lists nearest each centroid, widened,
/// nearest first, until they hold `k` rows between them (or every list is in).
fn probe_sets(centroids: &[f32], d: usize, nprobe: usize, k: usize, lists: &Lists) -> (Vec<Vec<usize>>, f64) {
    let nlist = centroids.len() / d;
    let mut probes = vec![Vec::new(); nlist];
    probes.par_chunks_mut(PROBE_BLOCK).enumerate().for_each_init(
        || (Vec::new(), Vec::new()),
        |(products, order): &mut (Vec<f32>, Vec<usize>), (block, block_probes)| {
            let first = block * PROBE_BLOCK;
            let rows = &centroids[first * d..(first + block_probes.len()) * d];
            products.resize(block_probes.len() * nlist, 0.0);
            inner_products(rows, centroids, d, products);
            for (r, (sims, set)) in products.chunks_exact(nlist).zip(block_probes.iter_mut()).enumerate() {
                let own = first + r;
                let nearer = |a: &usize, b: &usize| sims[*b].total_cmp(&sims[*a]).then(a.cmp(b));
                order.clear();
                order.extend((0..nlist).filter(|&c| c != own));
                let mut wanted = nprobe - 1;
                loop {
                    if wanted < order.len() {
                        order.select_nth_unstable_by(wanted, nearer);
                    }
                    let mut chosen: Vec<usize> = order[..wanted.min(order.len())].to_vec();
                    chosen.sort_by(nearer);
                    chosen.insert(0, own);
                    let held: usize = chosen.iter().map(|&c| lists.len(c)).sum();
                    if held >= k || chosen.len() == nlist {
                        *set = chosen;
                        break;
                    }
                    wanted = (wanted.max(1) * 2).min(nlist - 1);
                }
            }
        },
    );
    (probes, 2.0 * (nlist * nlist * d) as f64)
}

/// The pairs each list multiplies besides itself: `b` is joined with `a` when either probes
/// the other, and the lower-numbered list owns the pair. Each list's owned lists are ordered
/// by the similarity of their centroids to its own, nearest first (ties to the lower list).
fn owned_pairs(probes: &[Vec<usize>], centroids: &[f32], d: usize) -> Vec<Vec<usize>> {
    let nlist = probes.len();
    let mut owned = vec![Vec::new(); nlist];
    for (a, set) in probes.iter().enumerate() {
        for &b in set {
            if a != b {
                owned[a.min(b)].push(a.max(b));
            }
        }
    }
    owned.par_iter_mut().enumerate().for_each(|(a, lists)| {
        lists.sort_unstable();
        lists.dedup();
        let centroid = &centroids[a * d..(a + 1) * d];
        let mut keyed: Vec<(f32, usize)> =
            lists.iter().map(|&b| (dot(centroid, &centroids[b * d..(b + 1) * d]), b)).collect();
        keyed.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        *lists = keyed.into_iter().map(|(_, b)| b).collect();
    });
    owned
}

/// The rows to be searched in their second list as well, by list: those whose second most
/// similar centroid's list is not joined with their own (neither probes the other), ascending.
fn spilled_rows(lists: &Lists, second_of: &[u32], probes: &[Vec<usize>]) -> Vec<Vec<u32>> {
    let nlist = probes.len();
    let mut joined: Vec<Vec<usize>> = probes.to_vec();
    for (a, set) in probes.iter().enumerate() {
        for &b in set {
            joined[b].push(a);
        }
    }
    for set in &mut joined {
        set.sort_unstable();
        set.dedup();
    }
    let mut spills = vec![Vec::new(); nlist];
    for (i, &b) in second_of.iter().enumerate() {
        let a = lists.list_of[i] as usize;
        if joined[a].binary_search(&(b as usize)).is_err() {
            spills[b as usize].push(i as u32);
        }
    }
    spills
}

/// What every join of two lists reads and writes.
struct Joiner<'a> {
    data: &'a [f32],
    d: usize,
    lists: &'a Lists,
    heaps: &'a [Mutex<Heaps>],
}

/// A thread's buffers: gathered rows of the list, of the candidates, their ids and products.
#[derive(Default)]
struct Blocks {
    rows: Vec<f32>,
    candidates: Vec<f32>,
    candidate_ids: Vec<u32>,
    products: Vec<f32>,
    passed: Vec<u64>,
}

impl Joiner<'_> {
    /// Multiplies list `a` with each list of `others` (in that order, in blocks) and offers
    /// the products to the rows of both: `others == [a]` joins the list with itself.
    fn join(&self, a: usize, others: &[usize], blocks: &mut Blocks) {
        let (d, lists) = (self.d, self.lists);
        let members = lists.members(a);
        if members.is_empty() || others.is_empty() {
            return;
        }
        gather(self.data, d, members, &mut blocks.rows);
        let mut next = 0;
        while next < others.len() {
            // The next group of lists: at least BLOCK_COLUMNS rows, or what is left.
            let first = next;
            let mut columns = 0;
            while next < others.len() && (columns < BLOCK_COLUMNS || next == first) {
                columns += lists.len(others[next]);
                next += 1;
            }
            let group = &others[first..next];
            if columns == 0 {
                continue;
            }
            blocks.candidate_ids.clear();
            for &b in group {
                blocks.candidate_ids.extend_from_slice(lists.members(b));
            }
            let self_join = group == [a];
            if !self_join {
                gather(self.data, d, &blocks.candidate_ids, &mut blocks.candidates);
            }
            for start in (0..members.len()).step_by(BLOCK_ROWS) {
                let end = (start + BLOCK_ROWS).min(members.len());
                blocks.products.resize((end - start) * columns, 0.0);
                let candidates = if self_join { &blocks.rows } else { &blocks.candidates };
                inner_products(&blocks.rows[start * d..end * d], candidates, d, &mut blocks.products);
                let products = &blocks.products;
                {
                    let mut heaps = lock(&self.heaps[a]);
                    for (r, sims) in (start..end).zip(products.chunks_exact(columns)) {
                        heaps.offer_row(r, sims, &blocks.candidate_ids, &mut blocks.passed);
                    }
                }
                if self_join {
                    continue;
                }
                let mut offset = 0;
                for &b in group {
                    let width = lists.len(b);
                    let mut heaps = lock(&self.heaps[b]);
                    for (&id, sims) in members[start..end].iter().zip(products.chunks_exact(columns)) {
                        heaps.offer_column(&sims[offset..offset + width], id);
                    }
                    offset += width;
                }
            }
        }
    }
}

impl Joiner<'_> {
    /// Multiplies the rows `spilled` (of other lists, which `b` is the second list of) with
    /// the rows of list `b`, and offers the products to the rows of both. A pair of rows each
    /// spilled to the other's list is offered once, by the lower row's spill.
    fn spill(&self, b: usize, spilled: &[u32], second_of: &[u32], blocks: &mut Blocks) {
        let (d, lists) = (self.d, self.lists);
        let members = lists.members(b);
        if members.is_empty() || spilled.is_empty() {
            return;
        }
        gather(self.data, d, members, &mut blocks.candidates);
        let columns = members.len();
        for block in spilled.chunks(BLOCK_ROWS) {
            gather(self.data, d, block, &mut blocks.rows);
            blocks.products.resize(block.len() * columns, 0.0);
            inner_products(&blocks.rows, &blocks.candidates, d, &mut blocks.products);
            for (&x, sims) in block.iter().zip(blocks.products.chunks_exact_mut(columns)) {
                let own = lists.list_of[x as usize];
                for (sim, &y) in sims.iter_mut().zip(members) {
                    if second_of[y as usize] == own && y < x {
                        *sim = f32::NAN; // Offered by y's spill; NaN passes no floor.
                    }
                }
            }
            {
                let mut heaps = lock(&self.heaps[b]);
                for (&x, sims) in block.iter().zip(blocks.products.chunks_exact(columns)) {
                    heaps.offer_column(sims, x);
                }
            }
            for (&x, sims) in block.iter().zip(blocks.products.chunks_exact(columns)) {
                let (list, r) = lists.place(x as usize);
                lock(&self.heaps[list]).offer_row(r, sims, members, &mut blocks.passed);
            }
        }
    }
}

/// The rows `ids` of `data` (rows of `d` values), one after another in `out`.
fn gather(data: &[f32], d: usize, ids: &[u32], out: &mut Vec<f32>) {
    out.clear();
    out.reserve(ids.len() * d);
    for &i in ids {
        out.extend_from_slice(&data[i as usize * d..(i as usize + 1) * d]);
    }
}

/// Locks a list's heaps; a panic elsewhere while one was held leaves them usable (the join's
/// result is dropped with the panic anyway).
fn lock(heaps: &Mutex<Heaps>) -> std::sync::MutexGuard<'_, Heaps> {
    heaps.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs OpenBLAS on one thread until dropped, then restores the previous number (a no-op
/// without OpenBLAS).
struct OneBlasThread(Option<usize>);

impl OneBlasThread {
    fn new() -> Self {
        OneBlasThread(crate::blas::set_openblas_threads(1))
    }
}

impl Drop for OneBlasThread {
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            crate::blas::set_openblas_threads(previous);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::testing::{assert_full_rows, assert_matches_brute_force, config, random_features, Recorder};
    use crate::knn::{build_knn, check_recall, search_knn, set_faiss_threads};
    use crate::progress::NoProgress;
    use crate::Features;
    use std::path::Path;
    use std::sync::atomic::Ordering;

    fn join(nlist: usize, nprobe: Option<usize>, k: usize) -> KnnConfig {
        KnnConfig { nprobe: nprobe.map(|p| NonZeroUsize::new(p).unwrap()), ..config(&format!("IVFJoin{nlist}"), k) }
    }

    #[test]
    fn probing_all_lists_is_exact() {
        let f = random_features(2000, 64, 3);
        assert_matches_brute_force(&f, &build_knn(&f, &join(16, Some(16), 20), &NoProgress).unwrap());
    }

    #[test]
    fn finds_the_kept_links_of_clustered_data() {
        let s = crate::synth::generate(&crate::synth::SynthConfig { n: 6000, dim: 64, seed: 3, ..Default::default() })
            .unwrap();
        let f = Features::new(s.features, Path::new("synth"), true).unwrap();
        let rec = Recorder::default();
        let (knn, stats) = search_knn(&f, &join(64, None, 30), &rec).unwrap();
        assert!(stats.search_flops.unwrap() > 0.0 && stats.build_flops.unwrap() > 0.0);
        assert_eq!(stats.resolved.nprobe, NonZeroUsize::new(AUTO_NPROBE));
        assert_eq!(*rec.stages.lock().unwrap(), [("index".to_string(), None), ("knn".to_string(), Some(6000))]);
        assert_eq!((rec.advanced.load(Ordering::Relaxed), rec.finished.load(Ordering::Relaxed)), (6000, 2));
        assert_full_rows(&knn);
        // All rows checked: 4 of 64 lists probed find (nearly) every link the seed keeps.
        let r = check_recall(&f, &knn, 30, NonZeroUsize::new(f.n()).unwrap(), 1, 0.58, &NoProgress).unwrap();
        assert!(r.exact_kept_links > 50_000 && r.kept_link_recall >= 0.99, "{r:?}");
        // Its similarities are the exact ones of the ids found.
        for i in (0..f.n()).step_by(97) {
            for (&j, &sim) in knn.row(i).0.iter().zip(knn.row(i).1) {
                assert_eq!(sim, dot(f.row(i), f.row(j as usize)));
            }
        }
    }

    #[test]
    fn is_the_same_on_one_and_two_threads() {
        let f = random_features(3000, 32, 15);
        let c = join(32, Some(4), 25);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                set_faiss_threads(threads);
                build_knn(&f, &c, &NoProgress).unwrap()
            })
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(1));
    }

    #[test]
    fn lists_longer_than_a_block_are_exact_when_all_are_probed() {
        // Four lists of about 750 rows: several row blocks and candidate groups per list.
        let f = random_features(3000, 32, 3);
        assert_matches_brute_force(&f, &build_knn(&f, &join(4, Some(4), 20), &NoProgress).unwrap());
    }

    #[test]
    fn grouped_quantizer_and_spilled_rows_are_the_same_on_one_and_two_threads() {
        // 512 lists: the quantizer groups its centroids, and one probe leaves many rows whose
        // second list is not joined with their own (spilled).
        let s =
            crate::synth::generate(&crate::synth::SynthConfig { n: 20_000, dim: 32, seed: 5, ..Default::default() })
                .unwrap();
        let f = Features::new(s.features, Path::new("synth"), true).unwrap();
        let c = join(512, Some(1), 10);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| build_knn(&f, &c, &NoProgress).unwrap())
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_full_rows(&one);
        let r = check_recall(&f, &one, 10, NonZeroUsize::new(500).unwrap(), 1, 0.58, &NoProgress).unwrap();
        assert!(r.kept_link_recall >= 0.9, "{r:?}");
    }

    #[test]
    fn more_lists_than_rows() {
        // 40 rows for 64 lists: one row per list, and k = 30 needs most lists probed.
        let f = random_features(40, 8, 16);
        let knn = build_knn(&f, &join(64, Some(2), 30), &NoProgress).unwrap();
        assert_full_rows(&knn);
        assert_matches_brute_force(&f, &build_knn(&f, &join(64, Some(64), 39), &NoProgress).unwrap());
    }

    #[test]
    fn k_larger_than_a_list() {
        // 16 lists of about 125 rows and one probe: k = 400 needs more lists, found by widening.
        let f = random_features(2000, 16, 17);
        let knn = build_knn(&f, &join(16, Some(1), 400), &NoProgress).unwrap();
        assert_full_rows(&knn);
    }

    #[test]
    fn rejects_parameters_it_does_not_take() {
        let f = random_features(50, 8, 7);
        let c = KnnConfig { ef_search: NonZeroUsize::new(8), ..join(4, None, 5) };
        let e = build_knn(&f, &c, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { param: Param::EfSearch, .. }), "{e}");
    }

    #[test]
    fn rows_in_list_order_go_to_row_order_in_place() {
        let mut rng = crate::rng::Rng::new(7);
        for n in [0, 1, 2, 5, 64] {
            let mut rows: Vec<u32> = (0..n as u32).collect();
            rng.shuffle(&mut rows);
            // The row at place p is row rows[p]: slots (rows[p], 0), (rows[p], 1), (rows[p], 2).
            let mut table: Vec<(u32, u32)> = rows.iter().flat_map(|&i| (0..3).map(move |s| (i, s))).collect();
            to_row_order(&mut table, 3, &rows);
            let expected: Vec<(u32, u32)> = (0..n as u32).flat_map(|i| (0..3).map(move |s| (i, s))).collect();
            assert_eq!(table, expected, "n = {n}");
        }
    }
}
