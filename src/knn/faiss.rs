//! Searches through a faiss index, and the faiss helpers the other backends share: error
//! messages, training samples, and faiss's OpenMP threads.

use std::os::raw::c_int;
use std::time::Instant;

use faiss::index::autotune::ParameterSpace;
use faiss::{index_factory, Index, MetricType};

use super::table::{rerank_rows, Knn, NONE};
use super::{Job, Ran, EXACT_MARGIN};
use crate::error::{Error, Param, Result};
use crate::features::Features;
use crate::progress::{Progress, Stage};

/// Builds the index the job names with the inner-product metric, trains it if it needs
/// training (on all rows, or an evenly strided sample of `max_train_rows`), adds all rows,
/// applies `nprobe` and `ef_search`, and searches all rows in batches of `batch_rows`.
///
/// The exact `Flat` index is asked for `k +` [`EXACT_MARGIN`] candidates per row, of which the
/// best `k` by [`dot`] are kept (see the [module docs](super)).
pub(super) fn search(job: &Job<'_>, progress: &dyn Progress) -> Result<(Knn, Ran)> {
    let (features, config) = (job.features, job.config);
    let (n, d, k) = (job.n(), job.d(), job.k());
    let started = Instant::now();
    // d fits u32: checked by search_knn.
    let mut index = index_factory(d as u32, &config.index, MetricType::InnerProduct).map_err(error(job, "creating"))?;
    let data = features.as_slice();
    if !index.is_trained() {
        // Training and filling an IVF index takes seconds on large inputs: a stage of its own.
        let _stage = Stage::start(progress, "index", None);
        if n <= config.max_train_rows {
            index.train(data).map_err(error(job, "training"))?;
        } else {
            let sample = strided_sample(features, config.max_train_rows.max(1));
            index.train(&sample).map_err(error(job, "training"))?;
        }
        index.add(data).map_err(error(job, "adding rows to"))?;
    } else {
        index.add(data).map_err(error(job, "adding rows to"))?;
    }
    set_search_parameters(&index, job)?;
    let build_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let _stage = Stage::start(progress, "knn", Some(n as u64));
    let mut ids = vec![NONE; n * k];
    let mut sims = vec![f32::NEG_INFINITY; n * k];
    let wanted = if config.index.eq_ignore_ascii_case("Flat") { (k + EXACT_MARGIN).min(n) } else { k };
    let batch_rows = config.batch_rows.get();
    for start in (0..n).step_by(batch_rows) {
        let end = (start + batch_rows).min(n);
        let result = index.search(&data[start * d..end * d], wanted).map_err(error(job, "searching"))?;
        let out = start * k..end * k;
        // Rows are independent: canonicalised in parallel, each into its own slots.
        let labels = &result.labels;
        let candidates = |r: usize| labels[r * wanted..(r + 1) * wanted].iter().map(|l| l.to_native());
        rerank_rows(features, start, k, candidates, &mut ids[out.clone()], &mut sims[out])
            .map_err(|id| out_of_range(job, id))?;
        progress.advance((end - start) as u64);
    }
    // Only the exact search's work is known: every row against every row.
    let exact = index.is_trained() && config.index.eq_ignore_ascii_case("Flat");
    let search_flops = exact.then_some(2.0 * n as f64 * n as f64 * d as f64);
    let search_secs = started.elapsed().as_secs_f64();
    let ran = Ran { resolved: config.clone(), build_secs, search_secs, build_flops: None, search_flops };
    Ok((Knn::from_search(n, k, ids, sims), ran))
}

/// Maps a faiss error of the job's step `doing` to [`Error::Faiss`].
pub(super) fn error<'a>(job: &'a Job<'_>, doing: &'a str) -> impl Fn(faiss::error::Error) -> Error + 'a {
    move |e| Error::Faiss { context: job.context(doing), message: faiss_message(&e) }
}

/// The error for a neighbour id a search returned outside `[0, n)`.
pub(super) fn out_of_range(job: &Job<'_>, id: i64) -> Error {
    Error::Faiss {
        context: job.context("searching"),
        message: format!("returned neighbour id {id}, outside [0, {})", job.n()),
    }
}

/// faiss's message without the "Native faiss error" prefix of faiss-rs's `Display`.
pub(super) fn faiss_message(e: &faiss::error::Error) -> String {
    match e {
        faiss::error::Error::Native(native) => native.msg().trim().to_string(),
        e => e.to_string(),
    }
}

/// `m` rows taken at evenly spaced positions `i * n / m` (`m < n`), for training.
pub(super) fn strided_sample(features: &Features, m: usize) -> Vec<f32> {
    let n = features.n();
    let mut sample = Vec::with_capacity(m * features.dim());
    for i in 0..m {
        // u128: i * n overflows u64 only beyond any real input, but costs nothing to rule out.
        let row = (i as u128 * n as u128 / m as u128) as usize;
        sample.extend_from_slice(features.row(row));
    }
    sample
}

/// Applies `nprobe` and `ef_search` through faiss's `ParameterSpace`, which knows where each
/// parameter lives (also inside wrappers such as `PCA64,IVF1024,Flat`).
fn set_search_parameters(index: &faiss::index::IndexImpl, job: &Job<'_>) -> Result<()> {
    let config = job.config;
    let params = [(Param::Nprobe, "nprobe", config.nprobe), (Param::EfSearch, "efSearch", config.ef_search)];
    for (param, name, value) in params {
        let Some(value) = value else { continue };
        let space = ParameterSpace::new().map_err(|e| Error::Faiss {
            context: "creating a ParameterSpace".to_string(),
            message: faiss_message(&e),
        })?;
        // f64 holds every usize a search parameter can sensibly take exactly.
        space.set_index_parameter(index, name, value.get() as f64).map_err(|e| {
            Error::invalid(param, format!("index '{}' does not take {name} ({})", config.index, faiss_message(&e)))
        })?;
    }
    Ok(())
}

extern "C" {
    // From libgomp, which faiss-sys links (`cargo:rustc-link-lib=gomp`) for faiss's OpenMP.
    fn omp_set_num_threads(num_threads: c_int);
}

/// Sets how many OpenMP threads faiss uses for calls made *from the calling thread* (OpenMP's
/// thread-count setting is per thread); `0` counts as 1.
///
/// This overrides `OMP_NUM_THREADS` for faiss's own parallel loops. It does not size OpenBLAS's
/// pthread pool, which does the matrix products of a `Flat` search: that one follows
/// `OPENBLAS_NUM_THREADS` (see the [module docs](super)).
#[allow(unsafe_code)] // An FFI setter with no memory effects.
pub fn set_faiss_threads(n: usize) {
    let n = c_int::try_from(n.max(1)).unwrap_or(c_int::MAX);
    // SAFETY: omp_set_num_threads takes any int by value and only updates the calling thread's
    // OpenMP control variable; it touches no memory of ours and is safe to call from any thread.
    unsafe { omp_set_num_threads(n) }
}

#[cfg(test)]
#[allow(unsafe_code)] // Reads OpenMP's thread setting back.
mod tests {
    use super::*;

    extern "C" {
        fn omp_get_max_threads() -> c_int;
    }
    use crate::config::KnnConfig;
    use crate::knn::testing::{assert_canonical_row, assert_matches_brute_force, config, random_features, Recorder};
    use crate::knn::{build_knn, search_knn};
    use crate::progress::NoProgress;
    use std::num::NonZeroUsize;
    use std::sync::atomic::Ordering;

    fn nz(v: usize) -> NonZeroUsize {
        NonZeroUsize::new(v).unwrap()
    }

    #[test]
    fn flat_matches_brute_force_500x32() {
        let f = random_features(500, 32, 1);
        for k in [1, 2, 10, 50, 499] {
            let knn = build_knn(&f, &config("Flat", k), &NoProgress).unwrap();
            assert_eq!(knn.k(), k);
            assert_matches_brute_force(&f, &knn);
            // Distinct random rows: each row is its own nearest neighbour.
            assert!((0..f.n()).all(|i| knn.row(i).0[0] == i as u32));
        }
    }

    #[test]
    fn flat_matches_brute_force_2000x64_in_uneven_batches() {
        let f = random_features(2000, 64, 2);
        for (k, batch_rows) in [(5, 16384), (30, 300), (12, 7)] {
            let c = KnnConfig { batch_rows: nz(batch_rows), ..config("Flat", k) };
            assert_matches_brute_force(&f, &build_knn(&f, &c, &NoProgress).unwrap());
        }
    }

    #[test]
    fn ivf_probing_all_lists_is_exact() {
        let f = random_features(2000, 64, 3);
        let c = KnnConfig { nprobe: Some(nz(16)), ..config("IVF16,Flat", 20) };
        assert_matches_brute_force(&f, &build_knn(&f, &c, &NoProgress).unwrap());
    }

    #[test]
    fn ivf_trains_on_a_strided_subsample() {
        let f = random_features(2000, 64, 3);
        let c = KnnConfig { nprobe: Some(nz(16)), max_train_rows: 700, ..config("IVF16,Flat", 10) };
        assert_matches_brute_force(&f, &build_knn(&f, &c, &NoProgress).unwrap());
    }

    #[test]
    fn short_ivf_results_are_padded_at_the_row_end() {
        // 16 lists of about 125 rows and one probe: k = 400 cannot be filled.
        let f = random_features(2000, 64, 4);
        let c = KnnConfig { nprobe: Some(nz(1)), ..config("IVF16,Flat", 400) };
        let knn = build_knn(&f, &c, &NoProgress).unwrap();
        let mut padded_rows = 0;
        for i in 0..knn.n() {
            let (ids, sims) = knn.row(i);
            assert_canonical_row(ids, sims);
            assert!(ids.iter().all(|&id| id == NONE || (id as usize) < knn.n()));
            assert!(ids.contains(&(i as u32)), "row {i} misses itself");
            padded_rows += usize::from(ids[knn.k() - 1] == NONE);
        }
        assert!(padded_rows > knn.n() / 2, "only {padded_rows} rows padded");
    }

    #[test]
    fn hnsw_returns_canonical_rows_with_good_recall() {
        let f = random_features(2000, 32, 5);
        let k = 10;
        let exact = build_knn(&f, &config("Flat", k), &NoProgress).unwrap();
        let c = KnnConfig { ef_search: Some(nz(128)), ..config("HNSW32", k) };
        let knn = build_knn(&f, &c, &NoProgress).unwrap();
        let mut hits = 0;
        for i in 0..knn.n() {
            let (ids, sims) = knn.row(i);
            assert_canonical_row(ids, sims);
            hits += ids.iter().filter(|id| exact.row(i).0.contains(id)).count();
        }
        let recall = hits as f64 / (knn.n() * k) as f64;
        assert!(recall > 0.9, "recall@{k} = {recall}");
    }

    #[test]
    fn search_parameters_the_index_lacks_are_rejected() {
        let f = random_features(50, 8, 7);
        let c = KnnConfig { nprobe: Some(nz(4)), ..config("Flat", 5) };
        let e = build_knn(&f, &c, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { param: Param::Nprobe, .. }), "{e}");
        let c = KnnConfig { ef_search: Some(nz(4)), ..config("IVF4,Flat", 5) };
        let e = build_knn(&f, &c, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { param: Param::EfSearch, .. }), "{e}");
    }

    #[test]
    fn faiss_errors_name_the_index_and_sizes() {
        let f = random_features(50, 8, 8);
        let e = build_knn(&f, &config("NoSuchIndex", 5), &NoProgress).unwrap_err();
        let Error::Faiss { context, message } = &e else { panic!("{e}") };
        assert!(context.contains("'NoSuchIndex'") && context.contains("n = 50"), "{context}");
        assert!(context.contains("d = 8") && context.contains("k = 5"), "{context}");
        assert!(!message.is_empty());
    }

    #[test]
    fn progress_counts_rows() {
        let f = random_features(100, 8, 9);
        let rec = Recorder::default();
        build_knn(&f, &KnnConfig { batch_rows: nz(30), ..config("Flat", 5) }, &rec).unwrap();
        assert_eq!(*rec.stages.lock().unwrap(), [("knn".to_string(), Some(100))]);
        assert_eq!(rec.advanced.load(Ordering::Relaxed), 100);
        assert_eq!(rec.finished.load(Ordering::Relaxed), 1);
        // Every stage that starts also ends when faiss fails: an index it cannot create fails
        // before any stage, a search parameter it rejects after the index stage.
        let rec = Recorder::default();
        assert!(build_knn(&f, &config("NoSuchIndex", 5), &rec).is_err());
        assert_eq!(rec.stages.lock().unwrap().len(), 0);
        assert_eq!(rec.finished.load(Ordering::Relaxed), 0);
        let rec = Recorder::default();
        let bad = KnnConfig { ef_search: Some(nz(4)), ..config("IVF4,Flat", 5) };
        assert!(build_knn(&f, &bad, &rec).is_err());
        assert_eq!(*rec.stages.lock().unwrap(), [("index".to_string(), None)]);
        assert_eq!(rec.finished.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_ivf_search_reports_its_index_stage_then_the_rows() {
        let f = random_features(300, 8, 12);
        let rec = Recorder::default();
        let c = KnnConfig { nprobe: Some(nz(2)), batch_rows: nz(100), ..config("IVF4,Flat", 5) };
        let (_, stats) = search_knn(&f, &c, &rec).unwrap();
        assert_eq!(*rec.stages.lock().unwrap(), [("index".to_string(), None), ("knn".to_string(), Some(300))]);
        assert_eq!((rec.advanced.load(Ordering::Relaxed), rec.finished.load(Ordering::Relaxed)), (300, 2));
        assert_eq!(stats.resolved, c);
    }

    #[test]
    fn faiss_thread_setting_is_applied() {
        // OpenMP's setting is per thread, so this does not disturb concurrent tests.
        set_faiss_threads(1);
        // SAFETY: reads the calling thread's OpenMP setting.
        assert_eq!(unsafe { omp_get_max_threads() }, 1);
        set_faiss_threads(3);
        assert_eq!(unsafe { omp_get_max_threads() }, 3);
        set_faiss_threads(0);
        assert_eq!(unsafe { omp_get_max_threads() }, 1);
        let f = random_features(300, 16, 10);
        assert_matches_brute_force(&f, &build_knn(&f, &config("Flat", 8), &NoProgress).unwrap());
    }
}
