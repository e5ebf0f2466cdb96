//! k-nearest-neighbour search with faiss, and the cached k-NN file.
//!
//! Every row of the feature matrix is searched against all rows by inner product, which is
//! cosine similarity because [`Features`] rows have unit norm. The result is a [`Knn`] table of
//! `n` rows with `k` slots each. This is the only module that talks to faiss: the rest of the
//! crate sees plain `u32` ids and `f32` similarities.
//!
//! # Why the row itself stays in the table
//!
//! As in the face-cluster-by-infomap method this crate follows, faiss is asked for `k`
//! neighbours *including the query row itself* (its own similarity is 1, so it normally comes
//! first). The self entry is kept here and dropped by id in [`crate::graph`]. Keeping it makes
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
//! [`KnnConfig::index`] is a faiss `index_factory` string. The default `Flat` is exact
//! (`IndexFlatIP`, a brute-force search done as BLAS matrix products). Approximate indexes
//! trade recall for speed: `IVF<nlist>,Flat` (set [`KnnConfig::nprobe`]) and `HNSW<M>` (set
//! [`KnnConfig::ef_search`]). Indexes that need training are trained on the feature rows
//! themselves, or on an evenly strided subsample of [`KnnConfig::max_train_rows`] rows when
//! there are more (deterministic, and spread over the whole file even when it is sorted by
//! identity).
//!
//! `IVFJoin<nlist>` is this crate's own inverted-file search, not a faiss string: the rows are
//! split into `nlist` lists by a k-means quantizer, and each list's rows are searched exactly
//! among the rows of the `nprobe` lists nearest its centroid, as one BLAS product per list
//! (the source of `ivf_join` says why faiss's IVF search is slow here).
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

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::os::raw::c_int;
use std::path::Path;

use std::time::Instant;

use faiss::cluster::{Clustering, ClusteringParameters};
use faiss::index::autotune::ParameterSpace;
use faiss::index::flat::FlatIndex;
use faiss::{index_factory, Idx, Index, MetricType};
use ndarray::{Array2, ArrayView2};
use ndarray_npy::{NpzReader, NpzWriter, ReadNpzError, WriteNpzError};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::features::Features;
use crate::io::AtomicFile;
use crate::progress::Progress;

/// Marks an empty neighbour slot (faiss returned fewer than `k` results for the row).
pub const NONE: u32 = u32::MAX;

/// The largest number of rows a [`Knn`] table can hold: ids must fit the `int32` of the
/// [cached file](Knn::save) (and so never collide with [`NONE`]).
pub const MAX_ROWS: usize = i32::MAX as usize;

/// The [`KnnConfig::index`] that picks the index from the number of rows: see
/// [`KnnConfig::resolve`].
pub const AUTO: &str = "auto";

/// `auto` searches exactly (`Flat`) up to this many rows, and with the inverted-file self-join
/// (`IVFJoin`) above: at 10,000 rows exact search takes about a second on two cores, the join
/// a third of that, with the same links kept.
pub const AUTO_FLAT_MAX_ROWS: usize = 10_000;

/// How to search.
///
/// The defaults are those of the face-cluster-by-infomap method, 50 neighbours (the row itself
/// included), with the index chosen by size ([`AUTO`]): exact search up to
/// [`AUTO_FLAT_MAX_ROWS`] rows.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnConfig {
    /// Neighbours per row, the row itself included (faiss returns it first), as in the seed.
    /// Must be at least 1 and smaller than the number of rows. Default 50.
    pub k: usize,
    /// faiss `index_factory` string, or [`AUTO`] (the default) to choose by size (see
    /// [`KnnConfig::resolve`]). `Flat` is exact. Examples: `IVF1024,Flat`, `HNSW32`.
    pub index: String,
    /// Inverted lists probed per query by IVF indexes (faiss's `nprobe`; faiss's own default
    /// is 1). `None` leaves faiss's value. Setting it for an index without inverted lists is an
    /// error.
    pub nprobe: Option<usize>,
    /// Candidate list size of HNSW searches (faiss's `efSearch`; faiss's own default is 16).
    /// `None` leaves faiss's value. Setting it for an index that is not HNSW is an error.
    pub ef_search: Option<usize>,
    /// Query rows per faiss search call. Bounds the memory of faiss's output (12 bytes per
    /// neighbour) and sets the progress granularity. Default 16384.
    pub batch_rows: usize,
    /// Training rows for indexes that need training (IVF, PQ, ...): all rows when there are
    /// at most this many, else an evenly strided subsample of this size. Default 1048576.
    pub max_train_rows: usize,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig {
            k: 50,
            index: AUTO.to_string(),
            nprobe: None,
            ef_search: None,
            batch_rows: 16384,
            max_train_rows: 1 << 20,
        }
    }
}

impl KnnConfig {
    /// The concrete search this config makes on `n` rows: itself, unless the index is [`AUTO`]
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
    pub fn resolve(&self, n: usize) -> KnnConfig {
        if !self.index.eq_ignore_ascii_case(AUTO) {
            return self.clone();
        }
        if n <= AUTO_FLAT_MAX_ROWS {
            return KnnConfig { index: "Flat".to_string(), nprobe: None, ..self.clone() };
        }
        let nlist = auto_nlist(n);
        KnnConfig {
            index: format!("{IVF_JOIN}{nlist}"),
            nprobe: Some(self.nprobe.unwrap_or(AUTO_NPROBE)),
            max_train_rows: self.max_train_rows.min(nlist * AUTO_TRAIN_ROWS_PER_LIST),
            ..self.clone()
        }
    }
}

/// Lists probed per list by `auto`'s join, and by an `IVFJoin` search without `nprobe`.
pub const AUTO_NPROBE: usize = 16;

/// Training rows per inverted list of `auto`'s IVF index (faiss warns below 39).
pub const AUTO_TRAIN_ROWS_PER_LIST: usize = 64;

/// The number of inverted lists of `auto`'s join for `n` rows: the power of two nearest to
/// `2 sqrt(n)` (in log scale), at least 16. Lists then hold about `sqrt(n) / 2` rows, and the
/// 16 lists probed about `8 sqrt(n)`: the search costs `O(n^1.5 d)`.
pub fn auto_nlist(n: usize) -> usize {
    let target = 2.0 * (n as f64).sqrt();
    let exp = target.log2().round().clamp(4.0, 24.0);
    1usize << exp as u32
}

/// The k-NN table: row `i` holds up to `k` neighbour ids (the row itself included) sorted by
/// similarity descending, ties by id ascending, then [`NONE`] padding (sim = -inf).
///
/// Invariants, guaranteed by [`build_knn`] and [`Knn::load`]: `ids.len() == sims.len() ==
/// n * k`, every id is [`NONE`] or smaller than `n`, and `n <= MAX_ROWS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    /// Rows.
    pub n: usize,
    /// Slots per row.
    pub k: usize,
    /// `n * k` neighbour ids, row-major.
    pub ids: Vec<u32>,
    /// `n * k` similarities, row-major.
    pub sims: Vec<f32>,
}

impl Knn {
    /// Neighbour ids and similarities of row `i` (padding included).
    ///
    /// # Panics
    ///
    /// When `i >= n`.
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let r = i * self.k..(i + 1) * self.k;
        (&self.ids[r.clone()], &self.sims[r])
    }

    /// Writes the table as a NumPy `.npz` archive, atomically: `path` appears complete or not
    /// at all.
    ///
    /// # Format
    ///
    /// An uncompressed `.npz` (what `numpy.savez` writes) with two C-order arrays:
    ///
    /// - `ids`: `int32`, shape `(n, k)`. Neighbour row numbers (0-based), `-1` in empty slots.
    /// - `sims`: `float32`, shape `(n, k)`. Cosine similarities, `-inf` in empty slots.
    ///
    /// Each row is sorted by similarity descending, ties by id ascending, with the empty slots
    /// at its end, and includes the row itself. In Python:
    ///
    /// ```python
    /// z = numpy.load("knn.npz")
    /// ids, sims = z["ids"], z["sims"]
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` when it cannot be written, [`Error::Format`] when the table
    /// breaks its invariants (lengths that are not `n * k`, an id too large for `int32`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let shape = (self.n, self.k);
        if self.ids.len() != self.n * self.k || self.sims.len() != self.n * self.k {
            return Err(Error::format(
                path,
                format!(
                    "k-NN table has {} ids and {} sims, expected n * k = {} x {}",
                    self.ids.len(),
                    self.sims.len(),
                    self.n,
                    self.k
                ),
            ));
        }
        let ids = self
            .ids
            .iter()
            .map(|&id| match id {
                NONE => Ok(-1),
                id => i32::try_from(id).map_err(|_| id),
            })
            .collect::<Result<Vec<i32>, u32>>()
            .map_err(|id| Error::format(path, format!("id {id} does not fit int32")))?;
        let ids = Array2::from_shape_vec(shape, ids).expect("length checked above");
        let sims = ArrayView2::from_shape(shape, &self.sims).expect("length checked above");

        let mut file = AtomicFile::create(path)?;
        let write_err = |e: WriteNpzError| Error::io(path, std::io::Error::other(e.to_string()));
        let mut npz = NpzWriter::new(&mut file);
        npz.add_array("ids", &ids).map_err(write_err)?;
        npz.add_array("sims", &sims).map_err(write_err)?;
        npz.finish().map_err(write_err)?;
        file.commit()
    }

    /// Reads a table written by [`Knn::save`] (or by NumPy in the same format) and checks it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be opened; [`Error::Format`] naming the file when it
    /// is not an `.npz`, lacks `ids` or `sims`, has the wrong dtypes, shapes that differ or
    /// hold no slots, ids outside `[-1, n)`, an empty slot before a filled one, a similarity
    /// that is NaN or (in a filled slot) `-inf`, or a row out of canonical order.
    pub fn load(path: &Path) -> Result<Knn> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut npz = NpzReader::new(BufReader::new(file))
            .map_err(|e| Error::format(path, format!("not a NumPy .npz archive ({e})")))?;
        let ids: Array2<i32> = read_array(&mut npz, path, "ids", "int32")?;
        let sims: Array2<f32> = read_array(&mut npz, path, "sims", "float32")?;
        if ids.dim() != sims.dim() {
            return Err(Error::format(
                path,
                format!("arrays 'ids' {:?} and 'sims' {:?} differ in shape", ids.dim(), sims.dim()),
            ));
        }
        let (n, k) = ids.dim();
        if n == 0 || k == 0 {
            return Err(Error::format(path, format!("k-NN table has shape ({n}, {k}), no slots")));
        }
        if n > MAX_ROWS {
            return Err(Error::format(path, format!("{n} rows is more than {MAX_ROWS}")));
        }
        let ids = into_row_major(ids);
        let sims = into_row_major(sims);
        let n_i32 = n as i32; // n <= MAX_ROWS
        for (row, (row_ids, row_sims)) in ids.chunks_exact(k).zip(sims.chunks_exact(k)).enumerate() {
            check_row(row_ids, row_sims, n_i32)
                .map_err(|problem| Error::format(path, format!("row {row}: {problem}")))?;
        }
        // In-place conversion: -1 becomes NONE (u32::MAX), the rest are already in range.
        let ids = ids.into_iter().map(|id| id as u32).collect();
        Ok(Knn { n, k, ids, sims })
    }
}

/// Reads one 2-D array of an `.npz`, turning ndarray-npy's errors into [`Error::Format`].
fn read_array<T: ndarray_npy::ReadableElement, R: Read + Seek>(
    npz: &mut NpzReader<R>,
    path: &Path,
    name: &str,
    dtype: &str,
) -> Result<Array2<T>> {
    let names = npz.names().map_err(|e| Error::format(path, e.to_string()))?;
    if !names.iter().any(|n| n == name) {
        return Err(Error::format(path, format!("no array '{name}' ({dtype}, n x k) in the archive")));
    }
    npz.by_name(name)
        .map_err(|e: ReadNpzError| Error::format(path, format!("array '{name}' (need a 2-D {dtype} array): {e}")))
}

/// The elements of `a` in row-major order, without a copy when `a` already is.
fn into_row_major<T: Clone>(a: Array2<T>) -> Vec<T> {
    let a = if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() };
    let len = a.len();
    let (mut v, offset) = a.into_raw_vec_and_offset();
    // A standard-layout array's elements are `v[offset..offset + len]`.
    v.drain(..offset.unwrap_or(0));
    v.truncate(len);
    v
}

/// Checks one row of a loaded table against the canonical form; ids are `-1` or in `[0, n)`.
fn check_row(ids: &[i32], sims: &[f32], n: i32) -> std::result::Result<(), String> {
    let filled = ids.iter().take_while(|&&id| id != -1).count();
    for (slot, (&id, &sim)) in ids.iter().zip(sims).enumerate() {
        if slot < filled {
            if !(0..n).contains(&id) {
                return Err(format!("id {id} in slot {slot} is outside [-1, {n})"));
            }
            if sim.is_nan() || sim == f32::NEG_INFINITY {
                return Err(format!("similarity {sim} in slot {slot} (id {id})"));
            }
        } else {
            if id != -1 {
                return Err(format!("id {id} in slot {slot} follows an empty slot (-1)"));
            }
            if sim != f32::NEG_INFINITY {
                return Err(format!("empty slot {slot} has similarity {sim}, expected -inf"));
            }
        }
    }
    for slot in 1..filled {
        let (a, b) = ((sims[slot - 1], ids[slot - 1]), (sims[slot], ids[slot]));
        if !(a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)) {
            return Err(format!(
                "slots {} and {slot} are out of order ({} {} then {} {}); rows must be sorted \
                 by similarity descending, then id ascending, without repeats",
                slot - 1,
                a.1,
                a.0,
                b.1,
                b.0
            ));
        }
    }
    Ok(())
}

/// Searches every row of `features` against all rows.
///
/// Builds the faiss index named by `config.index` with the inner-product metric, trains it if
/// it needs training (see the [module docs](self)), adds all rows, applies `nprobe` and
/// `ef_search`, and searches all rows in batches of `config.batch_rows`, reporting stage `knn`
/// with `n` units to `progress`.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for `k == 0` or `k >= n` (`--k`), `nprobe == 0` or an index
/// without inverted lists (`--nprobe`), `ef_search == 0` or an index that is not HNSW
/// (`--ef-search`), `batch_rows == 0`, and more than [`MAX_ROWS`] rows; [`Error::Faiss`] when
/// faiss fails (an index string it cannot parse, for one), naming the index string, `n`, `d`
/// and `k`.
///
/// # Complexity
///
/// `Flat`: `O(n² d)` time, done as `sgemm` blocks. Memory: the index (a copy of the features
/// for `Flat`), the table (`8 n k` bytes) and one batch of faiss output (`12 batch_rows k`
/// bytes).
pub fn build_knn(features: &Features, config: &KnnConfig, progress: &dyn Progress) -> Result<Knn> {
    search_knn(features, config, progress).map(|(knn, _)| knn)
}

/// How a search went: the index it resolved to and where its time went.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchStats {
    /// The config the search ran with, [`AUTO`] resolved ([`KnnConfig::resolve`]).
    pub resolved: KnnConfig,
    /// Seconds creating, training and filling the index.
    pub build_secs: f64,
    /// Seconds searching (and canonicalising the rows).
    pub search_secs: f64,
}

/// [`build_knn`], also returning the resolved index and the time of its build and search.
///
/// Reports stage `index` (no units) while an index that needs training is trained and filled,
/// then stage `knn` with `n` units.
///
/// # Errors
///
/// As [`build_knn`].
pub fn search_knn(features: &Features, config: &KnnConfig, progress: &dyn Progress) -> Result<(Knn, SearchStats)> {
    let config = &config.resolve(features.n());
    let (n, d, k) = (features.n(), features.dim(), config.k);
    if k == 0 || k >= n {
        return Err(Error::invalid(
            "--k",
            format!("k = {k} must be at least 1 and smaller than the number of rows ({n})"),
        ));
    }
    if n > MAX_ROWS {
        return Err(Error::invalid("input", format!("{n} rows is more than {MAX_ROWS}")));
    }
    if config.batch_rows == 0 {
        return Err(Error::invalid("batch_rows", "must be at least 1"));
    }
    let d_u32 = u32::try_from(d)
        .ok()
        .filter(|&d| d <= i32::MAX as u32)
        .ok_or_else(|| Error::invalid("input", format!("dimension {d} is too large for faiss")))?;
    let context = |doing: &str| format!("{doing} index '{}' (n = {n}, d = {d}, k = {k})", config.index);
    let faiss_err = |doing: &'static str| {
        move |e: faiss::error::Error| Error::Faiss { context: context(doing), message: faiss_message(&e) }
    };
    if let Some(nlist) = parse_ivf_join(&config.index) {
        return ivf_join(features, config, nlist, progress);
    }

    let started = Instant::now();
    let mut index = index_factory(d_u32, &config.index, MetricType::InnerProduct).map_err(faiss_err("creating"))?;
    let data = features.as_slice();
    if !index.is_trained() {
        // Training and filling an IVF index takes seconds on large inputs: a stage of its own.
        progress.start("index", None);
        let _finish = FinishOnDrop(progress);
        if n <= config.max_train_rows {
            index.train(data).map_err(faiss_err("training"))?;
        } else {
            let sample = strided_sample(features, config.max_train_rows.max(1));
            index.train(&sample).map_err(faiss_err("training"))?;
        }
        index.add(data).map_err(faiss_err("adding rows to"))?;
    } else {
        index.add(data).map_err(faiss_err("adding rows to"))?;
    }
    set_search_parameters(&index, config)?;
    let build_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    progress.start("knn", Some(n as u64));
    let _finish = FinishOnDrop(progress);

    let mut ids = vec![NONE; n * k];
    let mut sims = vec![f32::NEG_INFINITY; n * k];
    for start in (0..n).step_by(config.batch_rows) {
        let end = (start + config.batch_rows).min(n);
        let result = index.search(&data[start * d..end * d], k).map_err(faiss_err("searching"))?;
        let out = start * k..end * k;
        // Rows are independent: canonicalise them in parallel, each into its own slots.
        result
            .labels
            .par_chunks_exact(k)
            .zip(ids[out.clone()].par_chunks_exact_mut(k))
            .zip(sims[out].par_chunks_exact_mut(k))
            .enumerate()
            .try_for_each_init(
                || Vec::with_capacity(k),
                |scratch, (r, ((labels, row_ids), row_sims))| {
                    let query = features.row(start + r);
                    canonicalise_row(labels, n, scratch, row_ids, row_sims, |j| dot(query, features.row(j as usize)))
                },
            )
            .map_err(|id| Error::Faiss {
                context: context("searching"),
                message: format!("returned neighbour id {id}, outside [0, {n})"),
            })?;
        progress.advance((end - start) as u64);
    }
    let stats = SearchStats { resolved: config.clone(), build_secs, search_secs: started.elapsed().as_secs_f64() };
    Ok((Knn { n, k, ids, sims }, stats))
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

/// The name of the inverted-file self-join in index strings: `IVFJoin<nlist>` (module docs).
pub const IVF_JOIN: &str = "IVFJoin";

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
/// the links that matter is measured by [`check_recall`]. Every step is deterministic (fixed
/// sample and seed; rows canonicalised as for any search).
///
/// Memory beyond the features and the table: the centroids, the list of every row, and for
/// each list being searched (one per rayon thread) the rows of its probe set, copied twice
/// (for faiss and into its index), and the results of one round of lists.
fn ivf_join(
    features: &Features,
    config: &KnnConfig,
    nlist: usize,
    progress: &dyn Progress,
) -> Result<(Knn, SearchStats)> {
    let (n, d, k) = (features.n(), features.dim(), config.k);
    let d_u32 = d as u32; // checked by search_knn
    let nlist = nlist.min(n);
    let nprobe = config.nprobe.unwrap_or(AUTO_NPROBE).min(nlist);
    if config.nprobe == Some(0) {
        return Err(Error::invalid("--nprobe", "must be at least 1"));
    }
    if config.ef_search.is_some() {
        return Err(Error::invalid(
            "--ef-search",
            format!("index '{}' does not take efSearch (it is not HNSW)", config.index),
        ));
    }
    let context = |doing: &str| format!("{doing} index '{}' (n = {n}, d = {d}, k = {k})", config.index);
    let faiss_err = |doing: &'static str| {
        move |e: faiss::error::Error| Error::Faiss { context: context(doing), message: faiss_message(&e) }
    };

    // faiss wraps each BLAS product in OpenMP loops (the per-query heaps) whose idle threads
    // spin while OpenBLAS's own threads compute: with blocks as small as one list's, that
    // spinning took three quarters of the time on two cores. One OpenMP thread leaves the
    // cores to OpenBLAS while the quantizer is trained and the rows assigned.
    let _one_thread = OneOmpThread::new();

    let started = Instant::now();
    progress.start("index", None);
    let index_stage = FinishOnDrop(progress);
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
    for start in (0..n).step_by(config.batch_rows) {
        let end = (start + config.batch_rows).min(n);
        let result = quantizer.search(&data[start * d..end * d], 1).map_err(faiss_err("assigning rows in"))?;
        for (slot, label) in list_of[start..end].iter_mut().zip(&result.labels) {
            // A query always has a nearest centroid; -1 only if faiss failed to compare.
            *slot = label.get().map_or(0, |l| l as u32);
        }
    }
    // Rows grouped by list: members of list c are rows[offsets[c]..offsets[c + 1]], ascending.
    let (offsets, rows) = crate::buckets::group_by_key(&list_of, nlist);
    drop(list_of);

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
    progress.start("knn", Some(n as u64));
    let _finish = FinishOnDrop(progress);
    let _one_blas_thread = OneBlasThread::new();
    let search_context = context("searching");
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
                join_list(features, &rows[offsets[c]..offsets[c + 1]], &candidates, k, &search_context)
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
    let resolved = KnnConfig { nprobe: Some(nprobe), ..config.clone() };
    let stats = SearchStats { resolved, build_secs, search_secs: started.elapsed().as_secs_f64() };
    Ok((Knn { n, k, ids, sims }, stats))
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
/// `context` names the search in errors.
fn join_list(
    features: &Features,
    members: &[u32],
    candidates: &[u32],
    k: usize,
    context: &str,
) -> Result<(Vec<u32>, Vec<f32>)> {
    let (n, d) = (features.n(), features.dim());
    if members.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let faiss_err = |e: faiss::error::Error| Error::Faiss { context: context.to_string(), message: faiss_message(&e) };
    let gather = |rows: &[u32]| {
        let mut data = Vec::with_capacity(rows.len() * d);
        for &i in rows {
            data.extend_from_slice(features.row(i as usize));
        }
        data
    };
    let _one_omp_thread = OneOmpThread::new();
    // d fits u32: checked by search_knn.
    let mut block = FlatIndex::new_ip(d as u32).map_err(faiss_err)?;
    block.add(&gather(candidates)).map_err(faiss_err)?;
    let result = block.search(&gather(members), k).map_err(faiss_err)?;
    drop(block);
    let mut ids = vec![NONE; members.len() * k];
    let mut sims = vec![f32::NEG_INFINITY; members.len() * k];
    let mut scratch = Vec::with_capacity(k);
    let mut local = Vec::with_capacity(k);
    for (r, &i) in members.iter().enumerate() {
        // Local ids to row ids; -1 (fewer candidates than k) stays.
        local.clear();
        local.extend(result.labels[r * k..(r + 1) * k].iter().map(|l| match l.get() {
            // A local id past the candidates becomes id n: an error below.
            Some(j) => Idx::new(candidates.get(j as usize).map_or(n as u64, |&id| u64::from(id))),
            None => Idx::none(),
        }));
        let query = features.row(i as usize);
        let slots = r * k..(r + 1) * k;
        canonicalise_row(&local, n, &mut scratch, &mut ids[slots.clone()], &mut sims[slots], |j| {
            dot(query, features.row(j as usize))
        })
        .map_err(|id| Error::Faiss {
            context: context.to_string(),
            message: format!("returned neighbour id {id}, outside [0, {n})"),
        })?;
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
/// [`Error::InvalidParameter`] for `sample == 0` (`--check-recall`) and a `k` of 0 or above
/// `knn.k` (`--k`); [`Error::Faiss`] when faiss fails.
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
    sample: usize,
    seed: u64,
    min_sim: f32,
    progress: &dyn Progress,
) -> Result<Recall> {
    let n = features.n();
    assert_eq!(knn.n, n, "the k-NN table has {} rows, the features {n}", knn.n);
    if sample == 0 {
        return Err(Error::invalid("--check-recall", "must be at least 1 row"));
    }
    if k == 0 || k > knn.k {
        return Err(Error::invalid("--k", format!("k = {k} must be in 1..={}", knn.k)));
    }
    let rows = sample_rows(n, sample, seed);
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
    progress.start("recall", Some(n as u64));
    let _finish = FinishOnDrop(progress);
    for start in (0..n).step_by(RECALL_BLOCK_ROWS) {
        let end = (start + RECALL_BLOCK_ROWS).min(n);
        // d fits u32: build_knn checked it for the same features.
        let mut block = FlatIndex::new_ip(d as u32).map_err(faiss_err)?;
        block.add(&features.as_slice()[start * d..end * d]).map_err(faiss_err)?;
        let result = block.search(&queries, k.min(end - start)).map_err(faiss_err)?;
        let kk = k.min(end - start);
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

/// faiss's message without the "Native faiss error" prefix of faiss-rs's `Display`.
fn faiss_message(e: &faiss::error::Error) -> String {
    match e {
        faiss::error::Error::Native(native) => native.msg().trim().to_string(),
        e => e.to_string(),
    }
}

/// Calls [`Progress::finish`] when dropped, so the stage ends on every return path.
struct FinishOnDrop<'a>(&'a dyn Progress);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// `m` rows taken at evenly spaced positions `i * n / m` (`m < n`), for training.
fn strided_sample(features: &Features, m: usize) -> Vec<f32> {
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
fn set_search_parameters(index: &faiss::index::IndexImpl, config: &KnnConfig) -> Result<()> {
    let params = [("--nprobe", "nprobe", config.nprobe), ("--ef-search", "efSearch", config.ef_search)];
    for (flag, name, value) in params {
        let Some(value) = value else { continue };
        if value == 0 {
            return Err(Error::invalid(flag, "must be at least 1"));
        }
        let space = ParameterSpace::new().map_err(|e| Error::Faiss {
            context: "creating a ParameterSpace".to_string(),
            message: faiss_message(&e),
        })?;
        // f64 holds every usize a search parameter can sensibly take exactly.
        space.set_index_parameter(index, name, value as f64).map_err(|e| {
            Error::invalid(flag, format!("index '{}' does not take {name} ({})", config.index, faiss_message(&e)))
        })?;
    }
    Ok(())
}

/// Writes one faiss result row into the table in canonical form (see the module docs), with
/// similarities from `sim_of(id)` rather than faiss's own.
///
/// faiss computes similarities with BLAS, whose summation order (and so the last bits of the
/// result) depends on how many threads OpenBLAS runs. Recomputing each kept neighbour's
/// similarity with [`dot`] makes the table a function of the features alone; it costs `n k d`
/// operations against the `n^2 d` of the search.
fn canonicalise_row(
    labels: &[Idx],
    n: usize,
    scratch: &mut Vec<(f32, u32)>,
    ids: &mut [u32],
    sims: &mut [f32],
    sim_of: impl Fn(u32) -> f32,
) -> std::result::Result<(), i64> {
    scratch.clear();
    for &label in labels {
        if label.is_none() {
            continue;
        }
        let raw = label.to_native();
        match usize::try_from(raw) {
            // n <= MAX_ROWS, so the id fits u32 and is never NONE.
            Ok(id) if id < n => scratch.push((sim_of(id as u32), id as u32)),
            _ => return Err(raw),
        }
    }
    scratch.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let filled = scratch.len();
    for (slot, &(sim, id)) in scratch.iter().enumerate() {
        ids[slot] = id;
        sims[slot] = sim;
    }
    ids[filled..].fill(NONE);
    sims[filled..].fill(f32::NEG_INFINITY);
    Ok(())
}

/// Inner product in a fixed order (eight interleaved partial sums, combined pairwise), so the
/// result is the same bits on every run and thread count.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_tail, b_tail) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in a_tail.iter().zip(b_tail).enumerate() {
        acc[l] += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

extern "C" {
    // From libgomp, which faiss-sys links (`cargo:rustc-link-lib=gomp`) for faiss's OpenMP.
    fn omp_set_num_threads(num_threads: c_int);
    fn omp_get_max_threads() -> c_int;
}

/// Runs faiss calls made from the calling thread on one OpenMP thread until dropped, then
/// restores the previous setting.
struct OneOmpThread(c_int);

#[allow(unsafe_code)] // OpenMP's thread-count getter and setter.
impl OneOmpThread {
    fn new() -> Self {
        // SAFETY: omp_get_max_threads only reads the calling thread's OpenMP setting.
        let previous = unsafe { omp_get_max_threads() };
        set_faiss_threads(1);
        OneOmpThread(previous)
    }
}

impl Drop for OneOmpThread {
    fn drop(&mut self) {
        set_faiss_threads(usize::try_from(self.0).unwrap_or(1));
    }
}

/// Sets how many OpenMP threads faiss uses for calls made *from the calling thread* (OpenMP's
/// thread-count setting is per thread); `0` counts as 1.
///
/// This overrides `OMP_NUM_THREADS` for faiss's own parallel loops. It does not size OpenBLAS's
/// pthread pool, which does the matrix products of a `Flat` search: that one follows
/// `OPENBLAS_NUM_THREADS` (see the [module docs](self)).
#[allow(unsafe_code)] // The crate's only unsafe call: an FFI setter with no memory effects.
pub fn set_faiss_threads(n: usize) {
    let n = c_int::try_from(n.max(1)).unwrap_or(c_int::MAX);
    // SAFETY: omp_set_num_threads takes any int by value and only updates the calling thread's
    // OpenMP control variable; it touches no memory of ours and is safe to call from any thread.
    unsafe { omp_set_num_threads(n) }
}

#[cfg(test)]
#[allow(unsafe_code)] // Reads OpenMP's thread setting back.
pub(crate) mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::rng::Rng;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    /// Uniform in [-1, 1), 24 random bits.
    pub(crate) fn uniform_f32(rng: &mut Rng) -> f32 {
        ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// `n x d` random unit rows.
    pub(crate) fn random_features(n: usize, d: usize, seed: u64) -> Features {
        let mut rng = Rng::new(seed);
        let data = Array2::from_shape_fn((n, d), |_| uniform_f32(&mut rng));
        Features::new(data, Path::new("random"), true).unwrap()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
    }

    /// Checks `knn` against an exact search in f64: per row, the sims equal the true top-k
    /// sims slot by slot, and every id is one whose true sim ties the slot's (ties may swap).
    fn assert_matches_brute_force(f: &Features, knn: &Knn) {
        const TOL: f64 = 1e-5;
        assert_eq!((knn.n, knn.ids.len(), knn.sims.len()), (f.n(), f.n() * knn.k, f.n() * knn.k));
        let mut all: Vec<(f64, u32)> = Vec::with_capacity(f.n());
        for i in 0..f.n() {
            all.clear();
            all.extend((0..f.n()).map(|j| (dot(f.row(i), f.row(j)), j as u32)));
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let (ids, sims) = knn.row(i);
            let mut seen = std::collections::HashSet::new();
            for slot in 0..knn.k {
                let (want_sim, want_id) = all[slot];
                let (id, sim) = (ids[slot], f64::from(sims[slot]));
                assert!((sim - want_sim).abs() <= TOL, "row {i} slot {slot}: sim {sim} vs {want_sim}");
                assert_ne!(id, NONE, "row {i} slot {slot} is empty");
                let true_sim = dot(f.row(i), f.row(id as usize));
                assert!(
                    id == want_id || (true_sim - want_sim).abs() <= TOL,
                    "row {i} slot {slot}: id {id} (sim {true_sim}) instead of {want_id} ({want_sim})"
                );
                assert!((true_sim - sim).abs() <= TOL, "row {i} slot {slot}: sim of id {id} is off");
                assert!(seen.insert(id), "row {i}: id {id} twice");
            }
            assert_canonical_row(ids, sims);
        }
    }

    /// Sorted by (sim desc, id asc), padding only at the end.
    fn assert_canonical_row(ids: &[u32], sims: &[f32]) {
        let filled = ids.iter().take_while(|&&id| id != NONE).count();
        assert!(ids[filled..].iter().all(|&id| id == NONE), "{ids:?}");
        assert!(sims[filled..].iter().all(|&s| s == f32::NEG_INFINITY), "{sims:?}");
        for s in 1..filled {
            let ok = sims[s - 1] > sims[s] || (sims[s - 1] == sims[s] && ids[s - 1] < ids[s]);
            assert!(ok, "slots {} and {s} out of order: {ids:?} {sims:?}", s - 1);
        }
    }

    fn config(index: &str, k: usize) -> KnnConfig {
        KnnConfig { k, index: index.to_string(), ..KnnConfig::default() }
    }

    #[test]
    fn flat_matches_brute_force_500x32() {
        let f = random_features(500, 32, 1);
        for k in [1, 2, 10, 50, 499] {
            let knn = build_knn(&f, &config("Flat", k), &NoProgress).unwrap();
            assert_eq!(knn.k, k);
            assert_matches_brute_force(&f, &knn);
            // Distinct random rows: each row is its own nearest neighbour.
            assert!((0..f.n()).all(|i| knn.row(i).0[0] == i as u32));
        }
    }

    #[test]
    fn flat_matches_brute_force_2000x64_in_uneven_batches() {
        let f = random_features(2000, 64, 2);
        for (k, batch_rows) in [(5, 16384), (30, 300), (12, 7)] {
            let c = KnnConfig { batch_rows, ..config("Flat", k) };
            assert_matches_brute_force(&f, &build_knn(&f, &c, &NoProgress).unwrap());
        }
    }

    #[test]
    fn ivf_probing_all_lists_is_exact() {
        let f = random_features(2000, 64, 3);
        let c = KnnConfig { nprobe: Some(16), ..config("IVF16,Flat", 20) };
        assert_matches_brute_force(&f, &build_knn(&f, &c, &NoProgress).unwrap());
    }

    #[test]
    fn ivf_trains_on_a_strided_subsample() {
        let f = random_features(2000, 64, 3);
        let c = KnnConfig { nprobe: Some(16), max_train_rows: 700, ..config("IVF16,Flat", 10) };
        assert_matches_brute_force(&f, &build_knn(&f, &c, &NoProgress).unwrap());
    }

    #[test]
    fn short_ivf_results_are_padded_at_the_row_end() {
        // 16 lists of about 125 rows and one probe: k = 400 cannot be filled.
        let f = random_features(2000, 64, 4);
        let c = KnnConfig { nprobe: Some(1), ..config("IVF16,Flat", 400) };
        let knn = build_knn(&f, &c, &NoProgress).unwrap();
        let mut padded_rows = 0;
        for i in 0..knn.n {
            let (ids, sims) = knn.row(i);
            assert_canonical_row(ids, sims);
            assert!(ids.iter().all(|&id| id == NONE || (id as usize) < knn.n));
            assert!(ids.contains(&(i as u32)), "row {i} misses itself");
            padded_rows += usize::from(ids[knn.k - 1] == NONE);
        }
        assert!(padded_rows > knn.n / 2, "only {padded_rows} rows padded");
    }

    #[test]
    fn hnsw_returns_canonical_rows_with_good_recall() {
        let f = random_features(2000, 32, 5);
        let k = 10;
        let exact = build_knn(&f, &config("Flat", k), &NoProgress).unwrap();
        let c = KnnConfig { ef_search: Some(128), ..config("HNSW32", k) };
        let knn = build_knn(&f, &c, &NoProgress).unwrap();
        let mut hits = 0;
        for i in 0..knn.n {
            let (ids, sims) = knn.row(i);
            assert_canonical_row(ids, sims);
            hits += ids.iter().filter(|id| exact.row(i).0.contains(id)).count();
        }
        let recall = hits as f64 / (knn.n * k) as f64;
        assert!(recall > 0.9, "recall@{k} = {recall}");
    }

    #[test]
    fn canonicalise_drops_missing_sorts_ties_and_pads() {
        let labels: Vec<Idx> = [7, -1, 3, 9, 1, -1].iter().map(|&x| Idx::from(x)).collect();
        let sim_of = |id: u32| if id == 7 || id == 9 { 0.9 } else { 0.5 };
        let (mut ids, mut sims) = (vec![0; 6], vec![0.0; 6]);
        canonicalise_row(&labels, 10, &mut Vec::new(), &mut ids, &mut sims, sim_of).unwrap();
        assert_eq!(ids, [7, 9, 1, 3, NONE, NONE]);
        assert_eq!(sims, [0.9, 0.9, 0.5, 0.5, f32::NEG_INFINITY, f32::NEG_INFINITY]);
        let bad = [Idx::from(10)];
        let e = canonicalise_row(&bad, 10, &mut Vec::new(), &mut ids[..1], &mut sims[..1], sim_of);
        assert_eq!(e, Err(10));
    }

    #[test]
    fn k_must_be_in_1_to_n_minus_1() {
        let f = random_features(20, 4, 6);
        for k in [0, 20, 21] {
            let e = build_knn(&f, &config("Flat", k), &NoProgress).unwrap_err();
            assert!(matches!(e, Error::InvalidParameter { name: "--k", .. }), "{e}");
            let msg = e.to_string();
            assert!(msg.contains(&format!("k = {k}")) && msg.contains("(20)"), "{msg}");
        }
        assert!(build_knn(&f, &config("Flat", 19), &NoProgress).is_ok());
    }

    #[test]
    fn search_parameters_the_index_lacks_are_rejected() {
        let f = random_features(50, 8, 7);
        let c = KnnConfig { nprobe: Some(4), ..config("Flat", 5) };
        let e = build_knn(&f, &c, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "--nprobe", .. }), "{e}");
        let c = KnnConfig { ef_search: Some(0), ..config("HNSW8", 5) };
        let e = build_knn(&f, &c, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "--ef-search", .. }), "{e}");
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

    #[derive(Default)]
    struct Recorder {
        stages: Mutex<Vec<(String, Option<u64>)>>,
        advanced: AtomicU64,
        finished: AtomicU64,
    }

    impl Progress for Recorder {
        fn start(&self, stage: &str, total: Option<u64>) {
            self.stages.lock().unwrap().push((stage.to_string(), total));
        }
        fn advance(&self, units: u64) {
            self.advanced.fetch_add(units, Ordering::Relaxed);
        }
        fn finish(&self) {
            self.finished.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn progress_counts_rows() {
        let f = random_features(100, 8, 9);
        let rec = Recorder::default();
        build_knn(&f, &KnnConfig { batch_rows: 30, ..config("Flat", 5) }, &rec).unwrap();
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
        let bad = KnnConfig { ef_search: Some(4), ..config("IVF4,Flat", 5) };
        assert!(build_knn(&f, &bad, &rec).is_err());
        assert_eq!(*rec.stages.lock().unwrap(), [("index".to_string(), None)]);
        assert_eq!(rec.finished.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_ivf_search_reports_its_index_stage_then_the_rows() {
        let f = random_features(300, 8, 12);
        let rec = Recorder::default();
        let c = KnnConfig { nprobe: Some(2), batch_rows: 100, ..config("IVF4,Flat", 5) };
        let (_, stats) = search_knn(&f, &c, &rec).unwrap();
        assert_eq!(*rec.stages.lock().unwrap(), [("index".to_string(), None), ("knn".to_string(), Some(300))]);
        assert_eq!((rec.advanced.load(Ordering::Relaxed), rec.finished.load(Ordering::Relaxed)), (300, 2));
        assert_eq!(stats.resolved, c);
    }

    #[test]
    fn auto_is_exact_up_to_the_threshold_and_the_join_above() {
        let auto = KnnConfig { k: 30, nprobe: Some(7), ..KnnConfig::default() };
        assert_eq!(auto.index, AUTO);
        let small = auto.resolve(AUTO_FLAT_MAX_ROWS);
        assert_eq!((small.index.as_str(), small.nprobe, small.k), ("Flat", None, 30));
        let large = KnnConfig { nprobe: None, ..auto.clone() }.resolve(AUTO_FLAT_MAX_ROWS + 1);
        let nlist = auto_nlist(AUTO_FLAT_MAX_ROWS + 1);
        assert_eq!(large.index, format!("IVFJoin{nlist}"));
        assert_eq!(parse_ivf_join(&large.index), Some(nlist));
        assert_eq!((large.nprobe, large.max_train_rows), (Some(AUTO_NPROBE), nlist * AUTO_TRAIN_ROWS_PER_LIST));
        // A given nprobe wins; "AUTO" is auto too; any other string is kept as it is.
        assert_eq!(auto.resolve(1_000_000).nprobe, Some(7));
        assert_eq!(KnnConfig { index: "AUTO".into(), ..auto.clone() }.resolve(10).index, "Flat");
        let hnsw = KnnConfig { index: "HNSW32".into(), ..auto };
        assert_eq!(hnsw.resolve(1_000_000), hnsw);
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

    fn join(nlist: usize, nprobe: Option<usize>, k: usize) -> KnnConfig {
        KnnConfig { nprobe, ..config(&format!("IVFJoin{nlist}"), k) }
    }

    /// Every row full (no padding), canonical and holding itself.
    fn assert_full_rows(knn: &Knn) {
        for i in 0..knn.n {
            let (ids, sims) = knn.row(i);
            assert_canonical_row(ids, sims);
            assert!(!ids.contains(&NONE), "row {i} is padded: {ids:?}");
            assert!(ids.contains(&(i as u32)), "row {i} misses itself");
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
    fn ivf_join_probing_all_lists_is_exact() {
        let f = random_features(2000, 64, 3);
        assert_matches_brute_force(&f, &build_knn(&f, &join(16, Some(16), 20), &NoProgress).unwrap());
    }

    #[test]
    fn ivf_join_finds_the_kept_links_of_clustered_data() {
        let s = crate::synth::generate(&crate::synth::SynthConfig { n: 6000, dim: 64, seed: 3, ..Default::default() })
            .unwrap();
        let f = Features::new(s.features, Path::new("synth"), true).unwrap();
        let rec = Recorder::default();
        let (knn, stats) = search_knn(&f, &join(64, None, 30), &rec).unwrap();
        assert_eq!(stats.resolved.nprobe, Some(AUTO_NPROBE));
        assert_eq!(*rec.stages.lock().unwrap(), [("index".to_string(), None), ("knn".to_string(), Some(6000))]);
        assert_eq!((rec.advanced.load(Ordering::Relaxed), rec.finished.load(Ordering::Relaxed)), (6000, 2));
        assert_full_rows(&knn);
        // All rows checked: 8 of 64 lists probed find (nearly) every link the seed keeps.
        let r = check_recall(&f, &knn, 30, f.n(), 1, 0.58, &NoProgress).unwrap();
        assert!(r.exact_kept_links > 50_000 && r.kept_link_recall >= 0.99, "{r:?}");
        // Its similarities are the exact ones of the ids found.
        for i in (0..f.n()).step_by(97) {
            for (&j, &sim) in knn.row(i).0.iter().zip(knn.row(i).1) {
                assert_eq!(sim, super::dot(f.row(i), f.row(j as usize)));
            }
        }
    }

    #[test]
    fn ivf_join_is_the_same_on_one_and_two_threads() {
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
    fn ivf_join_with_more_lists_than_rows() {
        // 40 rows for 64 lists: one row per list, and k = 30 needs most lists probed.
        let f = random_features(40, 8, 16);
        let knn = build_knn(&f, &join(64, Some(2), 30), &NoProgress).unwrap();
        assert_full_rows(&knn);
        assert_matches_brute_force(&f, &build_knn(&f, &join(64, Some(64), 39), &NoProgress).unwrap());
    }

    #[test]
    fn ivf_join_with_k_larger_than_a_list() {
        // 16 lists of about 125 rows and one probe: k = 400 needs more lists, found by widening.
        let f = random_features(2000, 16, 17);
        let knn = build_knn(&f, &join(16, Some(1), 400), &NoProgress).unwrap();
        assert_full_rows(&knn);
    }

    #[test]
    fn ivf_join_rejects_parameters_it_does_not_take() {
        let f = random_features(50, 8, 7);
        let e = build_knn(&f, &join(4, Some(0), 5), &NoProgress).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "--nprobe", .. }), "{e}");
        let c = KnnConfig { ef_search: Some(8), ..join(4, None, 5) };
        let e = build_knn(&f, &c, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "--ef-search", .. }), "{e}");
    }

    #[test]
    fn recall_of_an_exact_table_is_one_and_of_a_poor_one_below() {
        let f = random_features(3000, 16, 13);
        let exact = build_knn(&f, &config("Flat", 20), &NoProgress).unwrap();
        let r = check_recall(&f, &exact, 20, 200, 5, 0.5, &NoProgress).unwrap();
        assert_eq!((r.sample_rows, r.seed, r.k, r.min_sim), (200, 5, 20, 0.5));
        assert_eq!((r.topk_recall, r.kept_link_recall), (1.0, 1.0));
        assert_eq!(r.found_kept_links, r.exact_kept_links);
        assert!(r.exact_kept_links > 0);
        // One list probed of 64: most neighbours are missed.
        let c = KnnConfig { nprobe: Some(1), ..config("IVF64,Flat", 20) };
        let poor = build_knn(&f, &c, &NoProgress).unwrap();
        let r = check_recall(&f, &poor, 20, 200, 5, 0.5, &NoProgress).unwrap();
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
            let mut all: Vec<(f32, u32)> = (0..f.n()).map(|j| (super::dot(f.row(i), f.row(j)), j as u32)).collect();
            all.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            assert_eq!(exact[r], all[..10], "row {i}");
        }
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

    fn padded_knn() -> Knn {
        let f = random_features(2000, 16, 11);
        let c = KnnConfig { nprobe: Some(1), ..config("IVF16,Flat", 300) };
        build_knn(&f, &c, &NoProgress).unwrap()
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knn.npz");
        let knn = padded_knn();
        assert!(knn.ids.contains(&NONE), "the test wants padded rows");
        knn.save(&path).unwrap();
        assert_eq!(Knn::load(&path).unwrap(), knn);
        // What numpy sees: int32 ids with -1, float32 sims.
        let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(npz.names().unwrap(), ["ids", "sims"]);
        let ids: Array2<i32> = npz.by_name("ids").unwrap();
        assert_eq!(ids.dim(), (knn.n, knn.k));
        assert!(ids.iter().zip(&knn.ids).all(|(&a, &b)| a == b as i32));
        assert_eq!(fs_entries(dir.path()), 1, "no temporary file left");
    }

    fn fs_entries(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    /// Writes an `.npz` with the given arrays (named, 2-D).
    fn write_npz(path: &Path, ids: Option<Array2<i32>>, sims: Option<Array2<f32>>) {
        let mut npz = NpzWriter::new(File::create(path).unwrap());
        if let Some(ids) = ids {
            npz.add_array("ids", &ids).unwrap();
        }
        if let Some(sims) = sims {
            npz.add_array("sims", &sims).unwrap();
        }
        npz.finish().unwrap();
    }

    fn assert_format_error(path: &Path, needle: &str) {
        let e = Knn::load(path).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    }

    #[test]
    fn load_rejects_bad_files() {
        use ndarray::array;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.npz");
        let ninf = f32::NEG_INFINITY;
        let good_ids = array![[0, 1], [1, 0], [2, -1]];
        let good_sims = array![[1.0f32, 0.5], [1.0, 0.5], [1.0, ninf]];
        write_npz(&path, Some(good_ids.clone()), Some(good_sims.clone()));
        assert_eq!(Knn::load(&path).unwrap().ids, [0, 1, 1, 0, 2, NONE]);

        std::fs::write(&path, b"definitely not a zip archive").unwrap();
        assert_format_error(&path, "not a NumPy .npz archive");
        write_npz(&path, Some(good_ids.clone()), None);
        assert_format_error(&path, "no array 'sims'");
        write_npz(&path, None, Some(good_sims.clone()));
        assert_format_error(&path, "no array 'ids'");
        write_npz(&path, Some(good_ids.clone()), Some(array![[1.0f32, 0.5], [1.0, 0.5]]));
        assert_format_error(&path, "differ in shape");
        write_npz(&path, Some(Array2::zeros((0, 2))), Some(Array2::zeros((0, 2))));
        assert_format_error(&path, "no slots");
        write_npz(&path, Some(array![[0, 3], [1, 0], [2, -1]]), Some(good_sims.clone()));
        assert_format_error(&path, "row 0: id 3 in slot 1 is outside [-1, 3)");
        write_npz(&path, Some(array![[0, 1], [-1, 0], [2, -1]]), Some(array![[1.0f32, 0.5], [ninf, 0.5], [1.0, ninf]]));
        assert_format_error(&path, "row 1: id 0 in slot 1 follows an empty slot");
        write_npz(&path, Some(good_ids.clone()), Some(array![[0.5f32, 1.0], [1.0, 0.5], [1.0, ninf]]));
        assert_format_error(&path, "row 0: slots 0 and 1 are out of order");
        let tied = array![[1.0f32, 1.0], [1.0, 0.5], [1.0, ninf]];
        write_npz(&path, Some(array![[1, 0], [1, 0], [2, -1]]), Some(tied));
        assert_format_error(&path, "row 0: slots 0 and 1 are out of order");
        write_npz(&path, Some(good_ids.clone()), Some(array![[1.0f32, 0.5], [1.0, 0.5], [1.0, 0.0]]));
        assert_format_error(&path, "row 2: empty slot 1 has similarity 0");
        write_npz(&path, Some(good_ids.clone()), Some(array![[1.0f32, f32::NAN], [1.0, 0.5], [1.0, ninf]]));
        assert_format_error(&path, "row 0: similarity NaN in slot 1");

        // Wrong dtypes.
        let mut npz = NpzWriter::new(File::create(&path).unwrap());
        npz.add_array("ids", &good_ids.mapv(i64::from)).unwrap();
        npz.add_array("sims", &good_sims).unwrap();
        npz.finish().unwrap();
        assert_format_error(&path, "array 'ids' (need a 2-D int32 array)");
        let mut npz = NpzWriter::new(File::create(&path).unwrap());
        npz.add_array("ids", &good_ids).unwrap();
        npz.add_array("sims", &good_sims.mapv(f64::from)).unwrap();
        npz.finish().unwrap();
        assert_format_error(&path, "array 'sims' (need a 2-D float32 array)");
    }

    #[test]
    fn load_accepts_fortran_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.npz");
        let knn = padded_knn();
        let ids = Array2::from_shape_vec((knn.n, knn.k), knn.ids.iter().map(|&id| id as i32).collect());
        let sims = ArrayView2::from_shape((knn.n, knn.k), &knn.sims).unwrap();
        let mut npz = NpzWriter::new(File::create(&path).unwrap());
        npz.add_array("ids", &ids.unwrap().reversed_axes().as_standard_layout().reversed_axes()).unwrap();
        npz.add_array("sims", &sims.reversed_axes().as_standard_layout().reversed_axes()).unwrap();
        npz.finish().unwrap();
        assert_eq!(Knn::load(&path).unwrap(), knn);
    }

    #[test]
    fn save_to_missing_folder_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("knn.npz");
        let e = padded_knn().save(&path).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(!path.exists());
    }
}
