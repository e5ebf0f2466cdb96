//! k-nearest-neighbour search, and the k-NN table it produces.
//!
//! Every row of the feature matrix is searched against all rows by inner product, which is
//! cosine similarity because [`Features`] rows have unit norm. The result is a [`Knn`] table of
//! `n` rows with `k` slots each. This module is the only one that talks to faiss: the rest of
//! the crate sees plain `u32` ids and `f32` similarities.
//!
//! | file | holds |
//! |---|---|
//! | `mod.rs` | choosing the search ([`resolve`]), running it ([`search_knn`]), [`SearchStats`] |
//! | `table.rs` | [`Knn`], its canonical rows and its `.npz` file |
//! | `faiss.rs` | searches through a faiss index (`Flat`, `IVF...`, `HNSW...`), faiss's threads |
//! | `join.rs` | `IVFJoin<nlist>`, the inverted-file self-join |
//! | `recall.rs` | [`check_recall`]: the edge recall of a table against exact search |
//!
//! A search *backend* is a variant of `Method`, chosen from the resolved configuration; each
//! backend fills the same canonical table through `table::canonicalise_row`, so a new one (a
//! GPU search) joins without touching the table or the other backends.
//!
//! # Why the row itself stays in the table
//!
//! As in the face-cluster-by-infomap method this crate follows, the search asks for `k`
//! neighbours *including the query row itself* (its own similarity is 1, so it normally comes
//! first). The self entry is kept here and dropped by id in [`crate::edges`]. Keeping it makes
//! the table independent of how the graph is built: a table computed once with a large `k` can
//! be [saved](Knn::save) and reused for any smaller `k`, because the first `k'` slots of a row
//! are exactly what a search with `k'` would have returned (up to ties at the cut).
//!
//! # Canonical rows
//!
//! faiss leaves the order of equal similarities unspecified and marks missing results with id
//! -1 (an IVF search whose probed lists hold fewer than `k` vectors, an HNSW search that found
//! fewer). Each row is therefore canonicalised: missing results are dropped, the rest are sorted
//! by similarity descending and then id ascending, and the row end is padded with [`NONE`] ids
//! whose similarity is `f32::NEG_INFINITY`. With duplicate feature vectors the row's own id may
//! therefore come after a duplicate's: consumers must find it by id, never by position.
//!
//! # Indexes, training and batches
//!
//! [`KnnConfig::index`] is a faiss `index_factory` string. `Flat` is exact (`IndexFlatIP`, a
//! brute-force search done as BLAS matrix products). Approximate indexes trade recall for
//! speed: `IVF<nlist>,Flat` (set [`KnnConfig::nprobe`]) and `HNSW<M>` (set
//! [`KnnConfig::ef_search`]). Indexes that need training are trained on the feature rows
//! themselves, or on an evenly strided subsample of [`KnnConfig::max_train_rows`] rows when
//! there are more (deterministic, and spread over the whole file even when it is sorted by
//! identity).
//!
//! `IVFJoin<nlist>` is this crate's own inverted-file search, not a faiss string: the rows are
//! split into `nlist` lists by a k-means quantizer, and each list's rows are searched exactly
//! among the rows of the `nprobe` lists nearest its centroid, as one BLAS product per list
//! (the source of `join.rs` says why faiss's IVF search is slow here).
//!
//! Queries are searched in batches of [`KnnConfig::batch_rows`] rows. Each batch's faiss output
//! (8-byte labels) is canonicalised straight into the final table, so memory beyond the index
//! and the table is bounded by one batch, and progress is reported once per batch.
//!
//! # Threads
//!
//! faiss parallelises with OpenMP, which reads `OMP_NUM_THREADS` at process start, and
//! [`set_faiss_threads`] changes it later. The exact `Flat` search spends most of its time in
//! the BLAS `sgemm`, and an OpenBLAS built with pthreads (the Debian and Ubuntu default) has its
//! own thread pool, sized by `OPENBLAS_NUM_THREADS`: the library cannot set that one, because
//! faiss links the generic `libblas` interface, which does not export OpenBLAS's
//! `openblas_set_num_threads`. BLAS results depend in their last bits on that thread count, so
//! the similarities stored in the table are recomputed for each kept neighbour with [`dot`], in
//! a fixed order: the table depends on the features alone (ties at the `k`-th slot aside).

mod extend;
mod faiss;
mod join;
mod quantizer;
mod recall;
mod rows;
mod table;
#[cfg(test)]
pub(crate) mod testing;

pub use extend::{search_added, Added};
pub use faiss::set_faiss_threads;
pub use quantizer::Quantizer;
pub use recall::{check_recall, Recall};
pub use rows::{FeatureRows, KnnRows, RowMatrix};
pub use table::{dot, Knn, MAX_ROWS, NONE};

use crate::config::{KnnConfig, AUTO_INDEX};
use crate::error::{Error, Param, Result};
use crate::features::Features;
use crate::progress::Progress;

/// `auto` searches exactly (`Flat`) up to this many rows, and with the inverted-file self-join
/// (`IVFJoin`) above: at 10,000 rows exact search takes about a second on two cores, the join
/// a third of that, with the same links kept.
pub const AUTO_FLAT_MAX_ROWS: usize = 10_000;

/// Lists probed per list by `auto`'s join, and by an `IVFJoin` search without `nprobe`.
pub const AUTO_NPROBE: usize = 16;

/// Training rows per inverted list of `auto`'s IVF index (faiss warns below 39).
pub const AUTO_TRAIN_ROWS_PER_LIST: usize = 64;

/// The name of the inverted-file self-join in index strings: `IVFJoin<nlist>` (module docs).
pub const IVF_JOIN: &str = "IVFJoin";

/// The number of inverted lists of `auto`'s join for `n` rows: the power of two nearest to
/// `2 sqrt(n)` (in log scale), at least 16. Lists then hold about `sqrt(n) / 2` rows, and the
/// 16 lists probed about `8 sqrt(n)`: the search costs `O(n^1.5 d)`.
pub fn auto_nlist(n: usize) -> usize {
    let target = 2.0 * (n as f64).sqrt();
    let exp = target.log2().round().clamp(4.0, 24.0);
    1usize << exp as u32
}

/// The concrete search `config` makes on `n` rows: itself, unless the index is [`AUTO_INDEX`]
/// (any case), which becomes
///
/// - `Flat` (exact) for `n <= AUTO_FLAT_MAX_ROWS`; a given `nprobe` is then dropped;
/// - above, `IVFJoin<nlist>` (the inverted-file self-join) with `nlist` the power of two
///   nearest to `2 sqrt(n)` ([`auto_nlist`]), `nprobe` [`AUTO_NPROBE`] unless given, and a
///   training sample of at most [`AUTO_TRAIN_ROWS_PER_LIST`] rows per list.
///
/// The numbers behind these choices (edge recall, pairwise F and time on synthetic data of
/// 10,000 to a million rows) are in `docs/scale.md`. The join is deterministic: the
/// training sample is strided, faiss's k-means seeded and run on one thread, and each
/// list's search independent of the others.
pub fn resolve(config: &KnnConfig, n: usize) -> KnnConfig {
    if !config.index.eq_ignore_ascii_case(AUTO_INDEX) {
        return config.clone();
    }
    if n <= AUTO_FLAT_MAX_ROWS {
        return KnnConfig { index: "Flat".to_string(), nprobe: None, ..config.clone() };
    }
    let nlist = auto_nlist(n);
    let nprobe = config.nprobe.unwrap_or(std::num::NonZeroUsize::new(AUTO_NPROBE).expect("16 is not 0"));
    KnnConfig {
        index: format!("{IVF_JOIN}{nlist}"),
        nprobe: Some(nprobe),
        max_train_rows: config.max_train_rows.min(nlist * AUTO_TRAIN_ROWS_PER_LIST),
        ..config.clone()
    }
}

/// The number of lists of an `IVFJoin<nlist>` index string (any letter case), or `None` for
/// any other string.
pub fn parse_ivf_join(index: &str) -> Option<usize> {
    let prefix = index.get(..IVF_JOIN.len())?;
    if !prefix.eq_ignore_ascii_case(IVF_JOIN) {
        return None;
    }
    index[IVF_JOIN.len()..].parse().ok().filter(|&nlist| nlist > 0)
}

/// How a search went: the index it resolved to and where its time went.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchStats {
    /// The config the search ran with, [`AUTO_INDEX`] resolved ([`resolve`]).
    pub resolved: KnnConfig,
    /// Seconds creating, training and filling the index.
    pub build_secs: f64,
    /// Seconds searching (and canonicalising the rows).
    pub search_secs: f64,
}

/// The backends a resolved configuration can name.
enum Method {
    /// A faiss index built by `index_factory`.
    Faiss,
    /// The inverted-file self-join with this many lists.
    Join { nlist: usize },
}

impl Method {
    fn of(config: &KnnConfig) -> Method {
        match parse_ivf_join(&config.index) {
            Some(nlist) => Method::Join { nlist },
            None => Method::Faiss,
        }
    }
}

/// One search to run: the rows, the resolved configuration, and what errors should name.
struct Job<'a> {
    features: &'a Features,
    config: &'a KnnConfig,
}

impl Job<'_> {
    fn n(&self) -> usize {
        self.features.n()
    }

    fn d(&self) -> usize {
        self.features.dim()
    }

    fn k(&self) -> usize {
        self.config.k.get()
    }

    /// What a backend was doing, for [`Error::Faiss`]: the index string, `n`, `d` and `k`.
    fn context(&self, doing: &str) -> String {
        format!("{doing} index '{}' (n = {}, d = {}, k = {})", self.config.index, self.n(), self.d(), self.k())
    }
}

/// Searches every row of `features` against all rows, with the index `config` names
/// ([`resolve`]d first), and returns the canonical table with the resolved index and the time
/// of its build and search.
///
/// Reports stage `index` (no units) while an index that needs training is trained and filled,
/// then stage `knn` with `n` units.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for `k >= n` (`--k`), `nprobe` for an index without inverted
/// lists (`--nprobe`), `ef_search` for an index that is not HNSW (`--ef-search`), and more than
/// [`MAX_ROWS`] rows; [`Error::Faiss`] when faiss fails (an index string it cannot parse, for
/// one), naming the index string, `n`, `d` and `k`.
///
/// # Complexity
///
/// `Flat`: `O(n² d)` time, done as `sgemm` blocks. Memory: the index (a copy of the features
/// for `Flat`), the table (`8 n k` bytes) and one batch of faiss output (`12 batch_rows k`
/// bytes). `IVFJoin`: see `join.rs`.
pub fn search_knn(features: &Features, config: &KnnConfig, progress: &dyn Progress) -> Result<(Knn, SearchStats)> {
    search_knn_keeping_quantizer(features, config, progress).map(|(knn, stats, _)| (knn, stats))
}

/// [`search_knn`], also returning the [`Quantizer`] of an `IVFJoin` search (`None` for the
/// other backends), which `face-cluster add` keeps to search added rows the same way.
///
/// # Errors
///
/// As [`search_knn`].
pub fn search_knn_keeping_quantizer(
    features: &Features,
    config: &KnnConfig,
    progress: &dyn Progress,
) -> Result<(Knn, SearchStats, Option<Quantizer>)> {
    let config = &resolve(config, features.n());
    let (n, d, k) = (features.n(), features.dim(), config.k.get());
    if k >= n {
        return Err(Error::invalid(
            Param::K,
            format!("k = {k} must be at least 1 and smaller than the number of rows ({n})"),
        ));
    }
    if n > MAX_ROWS {
        return Err(Error::invalid(Param::Input, format!("{n} rows is more than {MAX_ROWS}")));
    }
    if u32::try_from(d).ok().filter(|&d| d <= i32::MAX as u32).is_none() {
        return Err(Error::invalid(Param::Input, format!("dimension {d} is too large for faiss")));
    }
    let job = Job { features, config };
    match Method::of(config) {
        Method::Faiss => faiss::search(&job, progress).map(|(knn, stats)| (knn, stats, None)),
        Method::Join { nlist } => join::search(&job, nlist, progress).map(|(knn, stats, q)| (knn, stats, Some(q))),
    }
}

/// [`search_knn`]'s table alone.
///
/// # Errors
///
/// As [`search_knn`].
pub fn build_knn(features: &Features, config: &KnnConfig, progress: &dyn Progress) -> Result<Knn> {
    search_knn(features, config, progress).map(|(knn, _)| knn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::K;
    use crate::knn::testing::{assert_matches_brute_force, config, random_features};
    use crate::progress::NoProgress;
    use std::num::NonZeroUsize;

    #[test]
    fn auto_is_exact_up_to_the_threshold_and_the_join_above() {
        let auto = KnnConfig { k: K::new(30).unwrap(), nprobe: NonZeroUsize::new(7), ..KnnConfig::default() };
        assert_eq!(auto.index, AUTO_INDEX);
        let small = resolve(&auto, AUTO_FLAT_MAX_ROWS);
        assert_eq!((small.index.as_str(), small.nprobe, small.k.get()), ("Flat", None, 30));
        let large = resolve(&KnnConfig { nprobe: None, ..auto.clone() }, AUTO_FLAT_MAX_ROWS + 1);
        let nlist = auto_nlist(AUTO_FLAT_MAX_ROWS + 1);
        assert_eq!(large.index, format!("IVFJoin{nlist}"));
        assert_eq!(parse_ivf_join(&large.index), Some(nlist));
        assert_eq!(
            (large.nprobe, large.max_train_rows),
            (NonZeroUsize::new(AUTO_NPROBE), nlist * AUTO_TRAIN_ROWS_PER_LIST)
        );
        // A given nprobe wins; "AUTO" is auto too; any other string is kept as it is.
        assert_eq!(resolve(&auto, 1_000_000).nprobe, NonZeroUsize::new(7));
        assert_eq!(resolve(&KnnConfig { index: "AUTO".into(), ..auto.clone() }, 10).index, "Flat");
        let hnsw = KnnConfig { index: "HNSW32".into(), ..auto };
        assert_eq!(resolve(&hnsw, 1_000_000), hnsw);
    }

    #[test]
    fn auto_nlist_grows_as_the_square_root() {
        assert_eq!(auto_nlist(1), 16);
        assert_eq!(auto_nlist(20_000), 256); // 2 sqrt(n) = 283
        assert_eq!(auto_nlist(100_000), 512); // 632
        assert_eq!(auto_nlist(200_000), 1024); // 894: log2 9.80 rounds up
        assert_eq!(auto_nlist(584_000), 2048); // 1528: log2 10.58 rounds up
        assert_eq!(auto_nlist(1_000_000), 2048); // 2000
        for n in [1000, 50_000, 300_000, 10_000_000] {
            let ratio = auto_nlist(n) as f64 / (2.0 * (n as f64).sqrt());
            assert!((0.7..1.42).contains(&ratio), "n = {n}: {}", auto_nlist(n));
        }
    }

    #[test]
    fn ivf_join_index_strings() {
        assert_eq!(parse_ivf_join("IVFJoin512"), Some(512));
        assert_eq!(parse_ivf_join("ivfjoin64"), Some(64));
        for other in ["IVFJoin", "IVFJoin0", "IVFJoin-3", "IVFJoin12,Flat", "IVF512,Flat", "Flat", "IVF"] {
            assert_eq!(parse_ivf_join(other), None, "{other}");
        }
    }

    #[test]
    fn k_must_be_below_n() {
        let f = random_features(20, 4, 6);
        for k in [20, 21] {
            let e = build_knn(&f, &config("Flat", k), &NoProgress).unwrap_err();
            assert!(matches!(e, Error::InvalidParameter { param: Param::K, .. }), "{e}");
            assert_eq!(
                e.to_string(),
                format!("invalid --k: k = {k} must be at least 1 and smaller than the number of rows (20)")
            );
        }
        assert_matches_brute_force(&f, &build_knn(&f, &config("Flat", 19), &NoProgress).unwrap());
    }
}
