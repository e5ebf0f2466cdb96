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
//! | `kmeans.rs` | the join's quantizer: spherical k-means, the list of every row |
//! | `topk.rs` | the join's bounded heaps: each row's best `k` candidates |
//! | `gemm.rs` | blocks of inner products as one BLAS `sgemm` call |
//! | `recall.rs` | [`check_recall`]: the edge recall of a table against exact search |
//! | `cuda.rs` | the exact search on a GPU ([`crate::gpu`]), re-ranked as the CPU's |
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
//! among the rows of the lists it probes (the `nprobe` nearest its centroid) or that probe it,
//! as BLAS products, each pair of lists multiplied once and used both ways (the source of
//! `join.rs` says why faiss's IVF search is slow here).
//!
//! Queries are searched in batches of [`KnnConfig::batch_rows`] rows. Each batch's faiss output
//! (8-byte labels) is canonicalised straight into the final table, so memory beyond the index
//! and the table is bounded by one batch, and progress is reported once per batch.
//!
//! # Exact search, on the CPU or a GPU
//!
//! An exact search (`Flat` on the CPU, and every search on a GPU) asks for `k` +
//! [`EXACT_MARGIN`] candidates per row, then keeps the best `k` by [`dot`] (ties by id): the
//! table is the exact top `k` of the features whatever computed the candidates, so a GPU and
//! the CPU give the same table, and the same labels. Where the cut falls inside a group of equal
//! similarities (copies of one vector) larger than the margin, the row is searched again over
//! every row, so the copies of smallest id are kept on both. Only similarities that differ in
//! their last bits between the two computations, within the margin's reach, could still swap.
//!
//! [`Device`] says where the search runs. `gpu` searches exactly on the GPU ([`crate::gpu`],
//! CUDA loaded at run time), or fails saying why none can be used; its index must be `auto` or
//! `Flat` (an approximate CPU index is an error: `--device gpu --index HNSW32` asks for two
//! things at once). `auto` uses a GPU for an exact-capable index (`auto`, `Flat`, no `nprobe` or
//! `ef_search`) above [`AUTO_FLAT_MAX_ROWS`] rows when one can be opened, and the CPU otherwise;
//! when it looked for a GPU and found none, or the GPU search failed, it searches on the CPU
//! and [`DeviceReport::fallback`] says why. Below that size exact search on the CPU takes about
//! a second, less than opening a GPU.
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

mod cuda;
mod extend;
mod faiss;
mod gemm;
mod join;
mod kmeans;
mod quantizer;
mod recall;
mod rows;
mod table;
#[cfg(test)]
pub(crate) mod testing;
mod topk;

pub use extend::{search_added, Added};
pub use faiss::set_faiss_threads;
pub use quantizer::Quantizer;
pub use recall::{check_recall, Recall};
pub use rows::{FeatureRows, KnnRows, RowMatrix};
pub use table::{dot, Knn, MAX_ROWS, NONE};

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::config::{Device, KnnConfig, AUTO_INDEX};
use crate::error::{Error, Param, Result};
use crate::features::Features;
use crate::gpu::{Gpu, GpuInfo, GpuSearchStats, Unavailable};
use crate::progress::Progress;

/// `auto` searches exactly (`Flat`) up to this many rows, and with the inverted-file self-join
/// (`IVFJoin`) above: at 10,000 rows exact search takes about a second on two cores, the join
/// a fraction of that, with the same links kept.
pub const AUTO_FLAT_MAX_ROWS: usize = 10_000;

/// Candidates beyond `k` that an exact search asks for, before keeping the best `k` by [`dot`]
/// (see the [module docs](self)).
pub const EXACT_MARGIN: usize = 8;

/// Lists probed per list by `auto`'s join, and by an `IVFJoin` search without `nprobe`.
pub const AUTO_NPROBE: usize = 4;

/// Training rows per inverted list of the join's quantizer (an evenly strided sample).
pub const AUTO_TRAIN_ROWS_PER_LIST: usize = 32;

/// Rows per inverted list that `auto`'s join aims at ([`auto_nlist`]).
pub const AUTO_LIST_ROWS: usize = 128;

/// The name of the inverted-file self-join in index strings: `IVFJoin<nlist>` (module docs).
pub const IVF_JOIN: &str = "IVFJoin";

/// The number of inverted lists of `auto`'s join for `n` rows: the power of two nearest to
/// `n / AUTO_LIST_ROWS` (in log scale), at least 16. Lists then hold about 90 to 180 rows
/// whatever `n`, and each row is compared with the rows of a few lists: the search costs
/// `O(n d)` per probed list, linear in `n` (docs/scale.md has the measurements behind it).
pub fn auto_nlist(n: usize) -> usize {
    let target = n as f64 / AUTO_LIST_ROWS as f64;
    let exp = target.max(1.0).log2().round().clamp(4.0, 24.0);
    1usize << exp as u32
}

/// The concrete search `config` makes on `n` rows: itself, unless the index is [`AUTO_INDEX`]
/// (any case), which becomes
///
/// - `Flat` (exact) for `n <= AUTO_FLAT_MAX_ROWS`; a given `nprobe` is then dropped;
/// - above, `IVFJoin<nlist>` (the inverted-file self-join) with `nlist` the power of two
///   nearest to `n / 128` ([`auto_nlist`]), `nprobe` [`AUTO_NPROBE`] unless given, and a
///   training sample of at most [`AUTO_TRAIN_ROWS_PER_LIST`] rows per list.
///
/// The numbers behind these choices (edge recall, pairwise F and time on synthetic data of
/// 10,000 to a million rows) are in `docs/scale.md`. The join is deterministic: the
/// training sample is strided, the k-means seeded, and every product the same on any thread
/// count (`join.rs`).
pub fn resolve(config: &KnnConfig, n: usize) -> KnnConfig {
    if !config.index.eq_ignore_ascii_case(AUTO_INDEX) {
        return config.clone();
    }
    if n <= AUTO_FLAT_MAX_ROWS {
        return KnnConfig { index: "Flat".to_string(), nprobe: None, ..config.clone() };
    }
    let nlist = auto_nlist(n);
    let nprobe = config.nprobe.unwrap_or(std::num::NonZeroUsize::new(AUTO_NPROBE).expect("4 is not 0"));
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
    /// The config the search ran with, [`AUTO_INDEX`] resolved ([`resolve`]); `Flat` on a GPU.
    pub resolved: KnnConfig,
    /// Seconds creating, training and filling the index.
    pub build_secs: f64,
    /// Seconds searching (and canonicalising the rows).
    pub search_secs: f64,
    /// Where the search ran.
    pub device: DeviceReport,
    /// Floating-point operations of the build's matrix products (the quantizer's k-means and
    /// assignment), when the backend counts them: `None` for faiss's indexes.
    pub build_flops: Option<f64>,
    /// Useful floating-point operations of the search: `2 d` per pair of rows compared (for
    /// `Flat`, `2 n^2 d`); `None` where faiss decides what it compares (IVF, HNSW).
    pub search_flops: Option<f64>,
}

impl SearchStats {
    /// The build's speed in GFLOPS (10^9 floating-point operations per second), when known.
    pub fn build_gflops(&self) -> Option<f64> {
        gflops(self.build_flops, self.build_secs)
    }

    /// The search's speed in GFLOPS, when known: how close the search ran to the machine's
    /// `sgemm` peak (docs/scale.md measures it).
    pub fn search_gflops(&self) -> Option<f64> {
        gflops(self.search_flops, self.search_secs)
    }
}

fn gflops(flops: Option<f64>, secs: f64) -> Option<f64> {
    flops.filter(|_| secs > 0.0).map(|f| f / secs / 1e9)
}

/// Where a search ran, and why there: the report's `device` object.
///
/// ```text
/// {"requested": "auto", "used": "gpu", "backend": "gpu-exact", "fallback": null,
///  "gpu": {"device_name": "NVIDIA H200", "total_memory_bytes": .., "compute_capability": "9.0",
///          "driver_cuda_version": "13.0", ...},
///  "gpu_search": {"compute_secs": .., "device_bytes": .., "screen": true, ...}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceReport {
    /// `--device` as given.
    pub requested: Device,
    /// Where the search ran: `cpu` or `gpu`.
    pub used: Device,
    /// The search: `faiss` (an index of faiss), `ivf-join` (the inverted-file self-join) or
    /// `gpu-exact`.
    pub backend: String,
    /// Why `auto` searched on the CPU after looking for a GPU: none could be used, or its search
    /// failed. `null` otherwise.
    pub fallback: Option<String>,
    /// The GPU, when the search ran on one.
    pub gpu: Option<GpuInfo>,
    /// The GPU search's figures: seconds per step, device memory, the screen.
    pub gpu_search: Option<GpuSearchStats>,
}

impl DeviceReport {
    /// One line for the summary: the GPU used, or why `auto` fell back to the CPU; `None` when
    /// the CPU was simply what was asked for.
    pub fn summary(&self) -> Option<String> {
        match (&self.gpu, &self.fallback) {
            (Some(gpu), _) => {
                let memory = self.gpu_search.as_ref().map_or(String::new(), |s| {
                    format!(", {:.1} GiB of GPU memory used", s.device_bytes as f64 / (1u64 << 30) as f64)
                });
                Some(format!(
                    "device: gpu {} ({:.0} GiB, compute {}, CUDA {}){memory}",
                    gpu.device_name,
                    gpu.total_memory_bytes as f64 / (1u64 << 30) as f64,
                    gpu.compute_capability,
                    gpu.driver_cuda_version
                ))
            }
            (None, Some(why)) => Some(format!("device: cpu (no GPU used: {why})")),
            (None, None) => None,
        }
    }
}

/// What a CPU backend ran: its configuration (with what it resolved), its times and, where the
/// backend counts them, its flops ([`SearchStats`]).
struct Ran {
    resolved: KnnConfig,
    build_secs: f64,
    search_secs: f64,
    build_flops: Option<f64>,
    search_flops: Option<f64>,
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

    fn backend(&self) -> &'static str {
        match self {
            Method::Faiss => "faiss",
            Method::Join { .. } => "ivf-join",
        }
    }
}

/// The process's GPU, opened (and self-checked) the first time a search asks for one.
fn gpu() -> &'static std::result::Result<Gpu, Unavailable> {
    static GPU: OnceLock<std::result::Result<Gpu, Unavailable>> = OnceLock::new();
    GPU.get_or_init(Gpu::open)
}

/// Whether `config` asks for an exact search that a GPU can run: index `auto` or `Flat`, and no
/// parameter of an approximate index.
fn gpu_capable(config: &KnnConfig) -> bool {
    let exact = config.index.eq_ignore_ascii_case(AUTO_INDEX) || config.index.eq_ignore_ascii_case("Flat");
    exact && config.nprobe.is_none() && config.ef_search.is_none()
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
    let given = config;
    let config = &resolve(given, features.n());
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
    let requested = config.device;
    let mut fallback = None;
    let wants_gpu = match requested {
        Device::Cpu => false,
        Device::Gpu if !gpu_capable(given) => {
            return Err(Error::invalid(
                Param::Device,
                format!(
                    "the GPU search is exact: index '{}' (with its nprobe or efSearch) runs on the CPU; \
                     use --index auto or Flat without --nprobe and --ef-search, or --device cpu",
                    given.index
                ),
            ));
        }
        Device::Gpu => true,
        Device::Auto => gpu_capable(given) && n > AUTO_FLAT_MAX_ROWS,
    };
    if wants_gpu {
        // Opening the GPU (once per process: context, kernels compiled, self-check) counts as
        // building the index.
        let opening = std::time::Instant::now();
        let opened = gpu();
        let build_secs = opening.elapsed().as_secs_f64();
        match opened {
            Ok(gpu) => {
                let exact = KnnConfig { index: "Flat".to_string(), nprobe: None, ef_search: None, ..given.clone() };
                let job = Job { features, config: &exact };
                match cuda::search(&job, gpu, progress) {
                    Ok((knn, gpu_search, search_secs)) => {
                        let device = DeviceReport {
                            requested,
                            used: Device::Gpu,
                            backend: "gpu-exact".to_string(),
                            fallback: None,
                            gpu: Some(gpu.info().clone()),
                            gpu_search: Some(gpu_search),
                        };
                        let (n, d) = (features.n() as f64, features.dim() as f64);
                        let stats = SearchStats {
                            resolved: exact,
                            build_secs,
                            search_secs,
                            device,
                            build_flops: None,
                            search_flops: Some(2.0 * n * n * d),
                        };
                        return Ok((knn, stats, None));
                    }
                    Err(e) if requested == Device::Auto => fallback = Some(format!("the GPU search failed: {e}")),
                    Err(e) => return Err(Error::Gpu { problem: format!("the GPU search failed: {e}") }),
                }
            }
            Err(why) if requested == Device::Auto => fallback = Some(why.to_string()),
            Err(why) => return Err(Error::Gpu { problem: format!("no usable GPU: {why}") }),
        }
    }
    let job = Job { features, config };
    let method = Method::of(config);
    let backend = method.backend().to_string();
    let (knn, ran, quantizer) = match method {
        Method::Faiss => {
            let (knn, ran) = faiss::search(&job, progress)?;
            (knn, ran, None)
        }
        Method::Join { nlist } => {
            let (knn, ran, quantizer) = join::search(&job, nlist, progress)?;
            (knn, ran, Some(quantizer))
        }
    };
    let device = DeviceReport { requested, used: Device::Cpu, backend, fallback, gpu: None, gpu_search: None };
    let Ran { resolved, build_secs, search_secs, build_flops, search_flops } = ran;
    Ok((knn, SearchStats { resolved, build_secs, search_secs, device, build_flops, search_flops }, quantizer))
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
    fn auto_nlist_keeps_lists_of_about_128_rows() {
        assert_eq!(auto_nlist(1), 16);
        assert_eq!(auto_nlist(20_000), 128); // n / 128 = 156: log2 7.29
        assert_eq!(auto_nlist(100_000), 1024); // 781: log2 9.61 rounds up
        assert_eq!(auto_nlist(200_000), 2048); // 1562
        assert_eq!(auto_nlist(584_000), 4096); // 4562
        assert_eq!(auto_nlist(1_000_000), 8192); // 7812
        for n in [1000, 50_000, 300_000, 10_000_000] {
            let rows = n as f64 / auto_nlist(n) as f64;
            assert!(n < 2048 || (90.0..182.0).contains(&rows), "n = {n}: {}", auto_nlist(n));
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

    /// The GPU's table is the CPU's exact table, row for row (`--device gpu` against
    /// `--device cpu --index Flat`), with and without the screen, on random rows and on rows
    /// with exact duplicates.
    #[test]
    #[ignore = "needs a GPU"]
    fn gpu_device_table_equals_the_cpu_exact_table() {
        let mut dups = random_features(12_000, 64, 41).view().to_owned();
        for i in (0..dups.nrows()).step_by(7).skip(1) {
            let row = dups.row(i / 2).to_owned();
            dups.row_mut(i).assign(&row);
        }
        let dups = Features::new(dups, std::path::Path::new("dups"), false).unwrap();
        for (name, f) in [("random", random_features(20_000, 128, 40)), ("duplicates", dups)] {
            let cpu = build_knn(&f, &KnnConfig { device: Device::Cpu, ..config("Flat", 50) }, &NoProgress).unwrap();
            for screen in [false, true] {
                let c = KnnConfig { device: Device::Gpu, gpu_screen: screen, ..config("auto", 50) };
                let (gpu, stats) = search_knn(&f, &c, &NoProgress).unwrap();
                assert_eq!((stats.device.used, stats.device.backend.as_str()), (Device::Gpu, "gpu-exact"));
                let differing = (0..f.n()).filter(|&i| gpu.row(i) != cpu.row(i)).count();
                assert_eq!(differing, 0, "{name}, screen {screen}: {differing} rows differ");
            }
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
