//! The input stage shared by the main job and sweeps: ground truth, then the k-NN table.

use std::path::Path;

use crate::config::{InputConfig, KnnConfig, Source, K};
use crate::error::{Error, Param, Result};
use crate::features::Features;
use crate::io::{load_features, read_labels};
use crate::knn::{search_knn_keeping_quantizer, Knn, Quantizer, SearchStats};
use crate::measure::Stages;
use crate::report::{StagePeakRss, Timings};

/// The inputs of the clustering stages, read and checked.
#[derive(Debug)]
pub struct Inputs {
    /// The k-NN table: searched, or read from the cache.
    pub knn: Knn,
    /// Feature dimension; `None` when the table came from a cache.
    pub dim: Option<usize>,
    /// Ground-truth labels, one per row, when [`InputConfig::truth`] is given.
    pub truth: Option<Vec<i64>>,
    /// The search's resolved index and times; `None` when the table came from a cache.
    pub search: Option<SearchStats>,
    /// The features, when asked to keep them (for a recall check or a saved clustering) and
    /// searched.
    pub features: Option<Features>,
    /// The quantizer of an `IVFJoin` search (what a saved clustering keeps of the search).
    pub quantizer: Option<Quantizer>,
    /// Seconds of `load`, `knn` and `knn_build`.
    pub timings: Timings,
    /// Peak memory of `load` and `knn`.
    pub peak_rss: StagePeakRss,
    /// The slots of each row to use: `knn.k`, or less when it was fitted to the input.
    pub k: usize,
    /// `(asked, used)` when `k` was lowered to fit the input.
    pub fitted_k: Option<(usize, usize)>,
}

/// Reads the ground truth (first, so a bad label file fails before the expensive stages),
/// then the cached k-NN table, or the features, which it searches with `knn`. Keeps the
/// features when `keep_features`. With `fit_k`, a `knn.k` the input cannot give (not below the
/// number of rows, or more than a cached table holds) is lowered to what it can, instead of
/// failing.
///
/// # Errors
///
/// Any input, parameter or faiss error, naming the file or option; a cached table with fewer
/// than `knn.k` slots, or not more rows than that, is an [`Error::InvalidParameter`] for `--k`;
/// ground truth of the wrong length an [`Error::CountMismatch`].
pub fn load_inputs(
    input: &InputConfig,
    knn: &KnnConfig,
    keep_features: bool,
    fit_k: bool,
    stages: &mut Stages<'_>,
) -> Result<Inputs> {
    let truth = match &input.truth {
        Some(path) => Some((path.as_path(), read_labels(path)?)),
        None => None,
    };
    let mut timings = Timings::default();
    let mut peak_rss = StagePeakRss::default();
    let asked = knn.k.get();
    let mut k = asked;
    let (table, dim, search, features, quantizer) = match &input.source {
        Source::KnnCache(cache) => {
            let (table, measured) = stages.run(Some(("load k-NN", None)), || Knn::load(cache));
            let table = table?;
            (timings.load, peak_rss.load) = (measured.secs, measured.peak_rss);
            if fit_k {
                k = k.min(table.k()).min(table.n().saturating_sub(1)).max(1);
            }
            if k > table.k() {
                return Err(Error::invalid(
                    Param::K,
                    format!("{k} is more than the {} neighbours stored in {}", table.k(), cache.display()),
                ));
            }
            // As for a search: k counts the row itself, so k >= n is no k-NN.
            if k >= table.n() {
                return Err(Error::invalid(
                    Param::K,
                    format!("k = {k} must be smaller than the number of rows ({}) of {}", table.n(), cache.display()),
                ));
            }
            check_truth_count(&truth, table.n(), cache)?;
            (table, None, None, None, None)
        }
        Source::Features { path, .. } => {
            let (features, measured) = stages.run(Some(("load", None)), || load_features(path, &input.load));
            let features = features?;
            (timings.load, peak_rss.load) = (measured.secs, measured.peak_rss);
            check_truth_count(&truth, features.n(), path)?;
            if fit_k && k >= features.n() {
                // k counts the row itself: one row has no neighbour to search for.
                if features.n() < 2 {
                    return Err(Error::format(path, "one row: nothing to cluster (at least 2 are needed)"));
                }
                k = features.n() - 1;
            }
            let fitted = KnnConfig { k: K::new(k)?, ..knn.clone() };
            let progress = stages.progress();
            let (searched, measured) = stages.run(None, || search_knn_keeping_quantizer(&features, &fitted, progress));
            let (table, stats, quantizer) = searched?;
            (timings.knn, timings.knn_build, peak_rss.knn) = (measured.secs, stats.build_secs, measured.peak_rss);
            let dim = features.dim();
            (table, Some(dim), Some(stats), keep_features.then_some(features), quantizer)
        }
    };
    let truth = truth.map(|(_, labels)| labels);
    let fitted_k = (k != asked).then_some((asked, k));
    Ok(Inputs { knn: table, dim, truth, search, features, quantizer, timings, peak_rss, k, fitted_k })
}

fn check_truth_count(truth: &Option<(&Path, Vec<i64>)>, n: usize, source: &Path) -> Result<()> {
    match truth {
        Some((path, labels)) if labels.len() != n => Err(Error::CountMismatch {
            path: path.to_path_buf(),
            what: "labels",
            got: labels.len(),
            expected: n,
            reason: format!("one per row of {}", source.display()),
        }),
        _ => Ok(()),
    }
}
