//! `IVFJoin<nlist>`: the inverted-file self-join, an approximate k-NN of every row against all
//! rows at BLAS speed.

use std::num::NonZeroUsize;
use std::time::Instant;

use faiss::cluster::{Clustering, ClusteringParameters};
use faiss::index::flat::FlatIndex;
use faiss::{Idx, Index};
use rayon::prelude::*;

use super::faiss::{error, out_of_range, strided_sample, OneOmpThread};
use super::quantizer::Quantizer;
use super::table::{canonicalise_row, dot, Knn, NONE};
use super::{Job, SearchStats, AUTO_NPROBE, AUTO_TRAIN_ROWS_PER_LIST};
use crate::config::KnnConfig;
use crate::error::{Error, Param, Result};
use crate::progress::{Progress, Stage};

/// The inverted-file self-join: an approximate k-NN of every row against all rows that runs at
/// BLAS speed.
///
/// faiss's own IVF search scans each query's lists one vector at a time (`fvec_inner_product`);
/// in the portable build faiss-sys makes (`FAISS_OPT_LEVEL=generic`, SSE only) that loop runs at
/// about 1 to 3 G multiply-adds per second and core, a twentieth of `sgemm`'s speed, which made
/// `IVF1024,Flat` slower on 584,000 rows than the exact search is on 300,000 (docs/scale.md).
/// When the queries *are* the indexed rows, the scan can be reorganised into matrix products:
///
/// 1. a coarse quantizer: spherical k-means (faiss `Clustering`, seeded, 10 iterations) of
///    `nlist` centroids, trained on an evenly strided sample;
/// 2. every row is assigned to its nearest centroid (faiss `Flat` search of the centroids);
/// 3. each list's probe set is the `nprobe` lists whose centroids are nearest its own (itself
///    first);
/// 4. the rows of each list, as one block of queries, are searched exactly (faiss `Flat`: an
///    `sgemm` and a heap per query) among the rows of its probe set.
///
/// A row's neighbours are thus searched in the lists nearest its own list's centroid rather than
/// nearest the row itself, which misses a few neighbours of rows on a list's edge; the recall of
/// the links that matter is measured by [`super::check_recall`]. Every step is deterministic (fixed
/// sample and seed; rows canonicalised as for any search).
///
/// Memory beyond the features and the table: the centroids, the list of every row, and for
/// each list being searched (one per rayon thread) the rows of its probe set, copied twice
/// (for faiss and into its index), and the results of one round of lists.
///
/// Also returns the quantizer's decisions (centroids, probe sets, each row's list), which
/// `face-cluster add` keeps to search added rows the same way (issue 15).
pub(super) fn search(job: &Job<'_>, nlist: usize, progress: &dyn Progress) -> Result<(Knn, SearchStats, Quantizer)> {
    let (features, config) = (job.features, job.config);
    let (n, d, k) = (job.n(), job.d(), job.k());
    let d_u32 = d as u32; // checked by search_knn
    let nlist = nlist.min(n);
    let nprobe = config.nprobe.map_or(AUTO_NPROBE, NonZeroUsize::get).min(nlist);
    if config.ef_search.is_some() {
        return Err(Error::invalid(
            Param::EfSearch,
            format!("index '{}' does not take efSearch (it is not HNSW)", config.index),
        ));
    }
    let faiss_err = |doing: &'static str| error(job, doing);

    // faiss wraps each BLAS product in OpenMP loops (the per-query heaps) whose idle threads
    // spin while OpenBLAS's own threads compute: with blocks as small as one list's, that
    // spinning took three quarters of the time on two cores. One OpenMP thread leaves the
    // cores to OpenBLAS while the quantizer is trained and the rows assigned.
    let _one_thread = OneOmpThread::new();

    let started = Instant::now();
    let index_stage = Stage::start(progress, "index", None);
    // 1. Coarse quantizer.
    let train_rows = n.min(config.max_train_rows.min(nlist * AUTO_TRAIN_ROWS_PER_LIST).max(nlist));
    let sample = if train_rows < n { strided_sample(features, train_rows) } else { features.as_slice().to_vec() };
    let mut params = ClusteringParameters::new();
    params.set_niter(10);
    params.set_spherical(true);
    // The sample is already the size wanted: no subsampling inside faiss, no warning below 39.
    params.set_max_points_per_centroid(u32::try_from(train_rows.div_ceil(nlist)).unwrap_or(u32::MAX).max(1));
    params.set_min_points_per_centroid(1);
    let mut clustering =
        Clustering::new_with_params(d_u32, nlist as u32, &params).map_err(faiss_err("creating the quantizer of"))?;
    let mut trainer = FlatIndex::new_ip(d_u32).map_err(faiss_err("creating the quantizer of"))?;
    clustering.train(&sample, &mut trainer).map_err(faiss_err("training"))?;
    drop(sample);
    let centroids: Vec<f32> = clustering.centroids().map_err(faiss_err("training"))?.concat();
    drop(clustering);
    drop(trainer);
    let mut quantizer = FlatIndex::new_ip(d_u32).map_err(faiss_err("creating the quantizer of"))?;
    quantizer.add(&centroids).map_err(faiss_err("training"))?;

    // 2. Assignment, in batches.
    let mut list_of = vec![0u32; n];
    let data = features.as_slice();
    let batch_rows = config.batch_rows.get();
    for start in (0..n).step_by(batch_rows) {
        let end = (start + batch_rows).min(n);
        let result = quantizer.search(&data[start * d..end * d], 1).map_err(faiss_err("assigning rows in"))?;
        for (slot, label) in list_of[start..end].iter_mut().zip(&result.labels) {
            // A query always has a nearest centroid; -1 only if faiss failed to compare.
            *slot = label.get().map_or(0, |l| l as u32);
        }
    }
    // Rows grouped by list: members of list c are rows[offsets[c]..offsets[c + 1]], ascending.
    let (offsets, rows) = crate::buckets::group_by_key(&list_of, nlist);

    // 3. Probe sets: the lists whose centroids are nearest each centroid, itself included.
    // Lists too small to hold k rows between them (k large, or tiny lists) probe more lists,
    // doubling, until they do, so that every row gets its k neighbours.
    let probes = quantizer.search(&centroids, nprobe).map_err(faiss_err("probing"))?;
    let list_len = |p: usize| offsets[p + 1] - offsets[p];
    let mut probe_sets: Vec<Vec<usize>> = Vec::with_capacity(nlist);
    for c in 0..nlist {
        let mut lists = probe_set(&probes.labels[c * nprobe..(c + 1) * nprobe], c);
        let mut wider = nprobe;
        while lists.iter().map(|&p| list_len(p)).sum::<usize>() < k && wider < nlist {
            wider = (wider * 2).min(nlist);
            let more = quantizer.search(&centroids[c * d..(c + 1) * d], wider).map_err(faiss_err("probing"))?;
            lists = probe_set(&more.labels, c);
        }
        probe_sets.push(lists);
    }
    drop(quantizer);
    let build_secs = started.elapsed().as_secs_f64();
    drop(index_stage);

    // 4. Each list's rows against its probe set: lists side by side on rayon's threads, each
    // product on one BLAS thread (no BLAS threads spinning while the heaps and copies run),
    // a round of lists at a time, so that memory holds one round's results.
    let started = Instant::now();
    let _stage = Stage::start(progress, "knn", Some(n as u64));
    let _one_blas_thread = OneBlasThread::new();
    let mut ids = vec![NONE; n * k];
    let mut sims = vec![f32::NEG_INFINITY; n * k];
    for round in (0..nlist).step_by(JOIN_LISTS_PER_ROUND) {
        let lists = round..(round + JOIN_LISTS_PER_ROUND).min(nlist);
        let results = lists
            .clone()
            .into_par_iter()
            .map(|c| {
                let candidates: Vec<u32> =
                    probe_sets[c].iter().flat_map(|&p| &rows[offsets[p]..offsets[p + 1]]).copied().collect();
                join_list(job, &rows[offsets[c]..offsets[c + 1]], &candidates)
            })
            .collect::<Result<Vec<_>>>()?;
        for (c, (list_ids, list_sims)) in lists.zip(results) {
            let members = &rows[offsets[c]..offsets[c + 1]];
            for (r, &i) in members.iter().enumerate() {
                let (from, to) = (r * k..(r + 1) * k, i as usize * k..(i as usize + 1) * k);
                ids[to.clone()].copy_from_slice(&list_ids[from.clone()]);
                sims[to].copy_from_slice(&list_sims[from]);
            }
            progress.advance(members.len() as u64);
        }
    }
    let resolved = KnnConfig { nprobe: NonZeroUsize::new(nprobe), ..config.clone() };
    let stats = SearchStats { resolved, build_secs, search_secs: started.elapsed().as_secs_f64() };
    // Hook for `face-cluster add` (issue 15): what the quantizer decided.
    let probe_sets: Vec<Vec<u32>> = probe_sets.iter().map(|set| set.iter().map(|&p| p as u32).collect()).collect();
    let quantizer = Quantizer::new(d, centroids, &probe_sets, list_of)
        .map_err(|problem| Error::Faiss { context: job.context("keeping the quantizer of"), message: problem })?;
    Ok((Knn::from_search(n, k, ids, sims), stats, quantizer))
}

/// Lists probed per round of [`ivf_join`]'s search: enough to keep every thread busy despite
/// uneven list sizes, few enough that a round's results stay small.
const JOIN_LISTS_PER_ROUND: usize = 64;

/// The lists of `probes` (faiss labels of the quantizer; `-1` skipped), list `own` always
/// among them (duplicate centroids can push a list's own out of its nearest ones).
fn probe_set(probes: &[Idx], own: usize) -> Vec<usize> {
    let mut lists: Vec<usize> = probes.iter().filter_map(|l| l.get()).map(|p| p as usize).collect();
    if !lists.contains(&own) {
        lists.push(own);
    }
    lists
}

/// The canonical rows (ids and similarities, `k` slots each) of `members` searched exactly
/// among `candidates`, on the calling thread: one faiss `Flat` search on one OpenMP thread.
fn join_list(job: &Job<'_>, members: &[u32], candidates: &[u32]) -> Result<(Vec<u32>, Vec<f32>)> {
    let (features, n, d, k) = (job.features, job.n(), job.d(), job.k());
    if members.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let faiss_err = error(job, "searching");
    let gather = |rows: &[u32]| {
        let mut data = Vec::with_capacity(rows.len() * d);
        for &i in rows {
            data.extend_from_slice(features.row(i as usize));
        }
        data
    };
    let _one_omp_thread = OneOmpThread::new();
    // d fits u32: checked by search_knn.
    let mut block = FlatIndex::new_ip(d as u32).map_err(&faiss_err)?;
    block.add(&gather(candidates)).map_err(&faiss_err)?;
    let result = block.search(&gather(members), k).map_err(&faiss_err)?;
    drop(block);
    let mut ids = vec![NONE; members.len() * k];
    let mut sims = vec![f32::NEG_INFINITY; members.len() * k];
    let mut scratch = Vec::with_capacity(k);
    for (r, &i) in members.iter().enumerate() {
        // Local ids to row ids; -1 (fewer candidates than k) stays.
        let found = result.labels[r * k..(r + 1) * k].iter().map(|l| match l.get() {
            // A local id past the candidates becomes id n: an error below.
            Some(j) => candidates.get(j as usize).map_or(n as i64, |&id| i64::from(id)),
            None => -1,
        });
        let query = features.row(i as usize);
        let slots = r * k..(r + 1) * k;
        canonicalise_row(found, n, &mut scratch, &mut ids[slots.clone()], &mut sims[slots], |j| {
            dot(query, features.row(j as usize))
        })
        .map_err(|id| out_of_range(job, id))?;
    }
    Ok((ids, sims))
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
        assert_eq!(stats.resolved.nprobe, NonZeroUsize::new(AUTO_NPROBE));
        assert_eq!(*rec.stages.lock().unwrap(), [("index".to_string(), None), ("knn".to_string(), Some(6000))]);
        assert_eq!((rec.advanced.load(Ordering::Relaxed), rec.finished.load(Ordering::Relaxed)), (6000, 2));
        assert_full_rows(&knn);
        // All rows checked: 8 of 64 lists probed find (nearly) every link the seed keeps.
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
}
