//! The k-NN table ([`Knn`]): canonical rows, their construction from a search's raw results,
//! and the cached `.npz` file.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use ndarray::{Array2, ArrayView2};
use ndarray_npy::{NpzReader, NpzWriter, ReadNpzError, WriteNpzError};

use rayon::prelude::*;

use crate::error::{Error, Param, Result};
use crate::features::Features;
use crate::io::AtomicFile;

/// Marks an empty neighbour slot (the search returned fewer than `k` results for the row).
pub const NONE: u32 = u32::MAX;

/// The largest number of rows a [`Knn`] table can hold: ids must fit the `int32` of the
/// [cached file](Knn::save) (and so never collide with [`NONE`]).
pub const MAX_ROWS: usize = i32::MAX as usize;

/// The k-NN table: row `i` holds up to `k` neighbour ids (the row itself included) sorted by
/// similarity descending, ties by id ascending, then [`NONE`] padding (sim = -inf).
///
/// Invariants, guaranteed by every constructor: `ids.len() == sims.len() == n * k`, `k >= 1`,
/// `n <= MAX_ROWS`, every id is [`NONE`] or smaller than `n`, and every row is canonical
/// (sorted as above, no id twice, padding only at its end, no NaN).
#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    n: usize,
    k: usize,
    ids: Vec<u32>,
    sims: Vec<f32>,
}

impl Knn {
    /// A table from its rows: `ids` and `sims` hold `k` slots per row, row after row.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] (`input`) naming the first broken invariant (see [`Knn`]).
    pub fn from_rows(k: usize, ids: Vec<u32>, sims: Vec<f32>) -> Result<Knn> {
        let bad = |problem: String| Error::invalid(Param::Input, format!("k-NN table: {problem}"));
        if k == 0 || ids.len() != sims.len() || !ids.len().is_multiple_of(k) {
            return Err(bad(format!("{} ids and {} sims do not make rows of k = {k} slots", ids.len(), sims.len())));
        }
        let n = ids.len() / k;
        if n > MAX_ROWS {
            return Err(bad(format!("{n} rows is more than {MAX_ROWS}")));
        }
        for (row, (row_ids, row_sims)) in ids.chunks_exact(k).zip(sims.chunks_exact(k)).enumerate() {
            check_row(row_ids, row_sims, NONE, |id| (id as usize) < n, n)
                .map_err(|problem| bad(format!("row {row}: {problem}")))?;
        }
        Ok(Knn { n, k, ids, sims })
    }

    /// A table filled by a search, whose rows [`canonicalise_row`] wrote.
    pub(super) fn from_search(n: usize, k: usize, ids: Vec<u32>, sims: Vec<f32>) -> Knn {
        debug_assert!(ids.len() == n * k && sims.len() == n * k);
        Knn { n, k, ids, sims }
    }

    /// Rows.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Slots per row.
    pub fn k(&self) -> usize {
        self.k
    }

    /// All `n * k` neighbour ids, row-major.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// All `n * k` similarities, row-major.
    pub fn sims(&self) -> &[f32] {
        &self.sims
    }

    /// Checks that `k` slots can be used: at least 1, at most [`Knn::k`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for `--k` otherwise.
    pub fn check_slots(&self, k: usize) -> Result<()> {
        if k == 0 || k > self.k {
            return Err(Error::invalid(
                Param::K,
                format!("k = {k} must be at least 1 and at most the {} neighbours per row of the k-NN table", self.k),
            ));
        }
        Ok(())
    }

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
    /// [`Error::Io`] naming `path` when it cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let shape = (self.n, self.k);
        // n <= MAX_ROWS, so every id but NONE fits i32.
        let ids: Vec<i32> = self.ids.iter().map(|&id| if id == NONE { -1 } else { id as i32 }).collect();
        let ids = Array2::from_shape_vec(shape, ids).expect("n * k ids");
        let sims = ArrayView2::from_shape(shape, &self.sims).expect("n * k sims");

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
            check_row(row_ids, row_sims, -1, |id| (0..n_i32).contains(&id), n)
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

/// Checks one row against the canonical form: filled slots hold ids for which `in_range`
/// holds, then `none` padding with similarity -inf; filled slots sorted by similarity
/// descending, then id ascending, without repeats. `n` only names the range in messages.
fn check_row<I: Copy + PartialEq + PartialOrd + std::fmt::Display>(
    ids: &[I],
    sims: &[f32],
    none: I,
    in_range: impl Fn(I) -> bool,
    n: usize,
) -> std::result::Result<(), String> {
    let filled = ids.iter().take_while(|&&id| id != none).count();
    for (slot, (&id, &sim)) in ids.iter().zip(sims).enumerate() {
        if slot < filled {
            if !in_range(id) {
                return Err(format!("id {id} in slot {slot} is outside [-1, {n})"));
            }
            if sim.is_nan() || sim == f32::NEG_INFINITY {
                return Err(format!("similarity {sim} in slot {slot} (id {id})"));
            }
        } else {
            if id != none {
                return Err(format!("id {id} in slot {slot} follows an empty slot (-1)"));
            }
            if sim != f32::NEG_INFINITY {
                return Err(format!("empty slot {slot} has similarity {sim}, expected -inf"));
            }
        }
    }
    for slot in 1..filled {
        let (a, b) = ((sims[slot - 1], ids[slot - 1]), (sims[slot], ids[slot]));
        // The order canonicalise_row sorts by: total_cmp puts 0.0 before -0.0.
        if a.0.total_cmp(&b.0).then_with(|| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal))
            != std::cmp::Ordering::Greater
        {
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

/// Writes one search result row into the table in canonical form (see the [module
/// docs](super)), with similarities from `sim_of(id)` rather than the search's own.
///
/// `found` holds the search's neighbour ids, `-1` for none; it may hold more candidates than
/// the row has slots (`ids.len()`): the best by `(sim_of desc, id asc)` are kept. A search
/// computes similarities with BLAS (or on a GPU), whose summation order, and so the last bits of
/// the result, depends on the thread count and the hardware. Recomputing each neighbour's
/// similarity with [`dot`] makes the table a function of the features alone; it costs `n k d`
/// operations against the `n^2 d` of the search.
///
/// Returns whether the cut may split an exact tie: more candidates than slots were given, and
/// the best one dropped has the same similarity as the last one kept. Rows beyond the candidates
/// may then tie too, so only a search of every row ([`exhaustive_row`]) knows which tied rows
/// have the smallest ids.
///
/// # Errors
///
/// The first id outside `[-1, n)`.
pub(crate) fn canonicalise_row(
    found: impl IntoIterator<Item = i64>,
    n: usize,
    scratch: &mut Vec<(f32, u32)>,
    ids: &mut [u32],
    sims: &mut [f32],
    sim_of: impl Fn(u32) -> f32,
) -> std::result::Result<bool, i64> {
    scratch.clear();
    for raw in found {
        if raw == -1 {
            continue;
        }
        match usize::try_from(raw) {
            // n <= MAX_ROWS, so the id fits u32 and is never NONE.
            Ok(id) if id < n => scratch.push((sim_of(id as u32), id as u32)),
            _ => return Err(raw),
        }
    }
    scratch.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scratch.dedup_by_key(|&mut (_, id)| id);
    let slots = ids.len();
    let cut_tie = slots > 0 && scratch.len() > slots && scratch[slots].0 == scratch[slots - 1].0;
    scratch.truncate(slots);
    write_row(scratch, ids, sims);
    Ok(cut_tie)
}

/// Writes `best` (sorted, at most `ids.len()` entries) into a row's slots, padding the rest.
fn write_row(best: &[(f32, u32)], ids: &mut [u32], sims: &mut [f32]) {
    let filled = best.len();
    for (slot, &(sim, id)) in best.iter().enumerate() {
        ids[slot] = id;
        sims[slot] = sim;
    }
    ids[filled..].fill(NONE);
    sims[filled..].fill(f32::NEG_INFINITY);
}

/// The exact row `i` of the table: every row's [`dot`] with row `i`, the best `ids.len()` by
/// similarity descending and id ascending. `O(n d)`: for the rows [`canonicalise_row`] flags.
pub(crate) fn exhaustive_row(features: &Features, i: usize, ids: &mut [u32], sims: &mut [f32]) {
    let query = features.row(i);
    let mut all: Vec<(f32, u32)> = (0..features.n()).map(|j| (dot(query, features.row(j)), j as u32)).collect();
    let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    let slots = ids.len().min(all.len());
    if slots < all.len() {
        all.select_nth_unstable_by(slots, order);
        all.truncate(slots);
    }
    all.sort_unstable_by(order);
    write_row(&all, ids, sims);
}

/// Fills the table rows `first..` (as many as `ids` holds, `k` slots each) of an exact search
/// from its candidates, `candidates(r)` those of the `r`-th row: each row re-ranked by [`dot`]
/// ([`canonicalise_row`]), and searched again over every row when its candidates may cut an
/// exact tie at the last slot ([`exhaustive_row`]), so that tied rows are kept by smallest id
/// whatever the candidates held. Rows in parallel. Returns the number of rows searched again.
///
/// # Errors
///
/// The first candidate id outside `[-1, n)`.
pub(crate) fn rerank_rows<I: IntoIterator<Item = i64>>(
    features: &Features,
    first: usize,
    k: usize,
    candidates: impl Fn(usize) -> I + Sync,
    ids: &mut [u32],
    sims: &mut [f32],
) -> std::result::Result<usize, i64> {
    let n = features.n();
    let again: usize = ids
        .par_chunks_exact_mut(k)
        .zip(sims.par_chunks_exact_mut(k))
        .enumerate()
        .map_init(Vec::new, |scratch, (r, (row_ids, row_sims))| {
            let i = first + r;
            let query = features.row(i);
            let cut_tie = canonicalise_row(candidates(r), n, scratch, row_ids, row_sims, |j| {
                dot(query, features.row(j as usize))
            })?;
            if cut_tie {
                exhaustive_row(features, i, row_ids, row_sims);
            }
            Ok(usize::from(cut_tie))
        })
        .sum::<std::result::Result<usize, i64>>()?;
    Ok(again)
}

/// Inner product in a fixed order (eight interleaved partial sums, combined pairwise), so the
/// result is the same bits on every run, thread count and CPU.
///
/// Lane `l` of eight sums the products of positions `l, l + 8, l + 16, ...` in order, each
/// product rounded and then added (no fused multiply-add), and the lanes are combined as
/// `((0 + 4) + (1 + 5)) + ((2 + 6) + (3 + 7))`. The search recomputes every neighbour's
/// similarity this way (`n k` of them), so it runs on 8-wide AVX registers where the CPU has
/// them: the same operations, lane by lane, as the portable code, hence the same bits.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx") {
            return dot_avx(a, b);
        }
    }
    dot_lanes(a, b)
}

/// [`dot`] on 8-wide AVX registers: lane `l` of one register is lane `l` of [`dot_lanes`].
/// Only called where the CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // Calling a function compiled for a CPU feature that was detected.
fn dot_avx(a: &[f32], b: &[f32]) -> f32 {
    #[target_feature(enable = "avx")]
    fn lanes(a: &[f32], b: &[f32]) -> f32 {
        use std::arch::x86_64::{_mm256_add_ps, _mm256_mul_ps, _mm256_setr_ps, _mm256_setzero_ps, _mm256_storeu_ps};
        let len = a.len().min(b.len());
        let whole = len - len % 8;
        let mut acc = _mm256_setzero_ps();
        for (x, y) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
            // Compiles to unaligned loads.
            let x = _mm256_setr_ps(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]);
            let y = _mm256_setr_ps(y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]);
            acc = _mm256_add_ps(acc, _mm256_mul_ps(x, y));
        }
        let mut lanes = [0f32; 8];
        // SAFETY: `lanes` holds the 8 floats the store writes.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        finish(lanes, &a[whole..len], &b[whole..len])
    }
    // SAFETY: dot checked that the CPU runs AVX instructions.
    unsafe { lanes(a, b) }
}

/// Adds the products of the tails (fewer than 8 values) to the lanes and combines them.
#[inline(always)]
fn finish(mut lanes: [f32; 8], a: &[f32], b: &[f32]) -> f32 {
    for (l, (x, y)) in a.iter().zip(b).enumerate() {
        lanes[l] += x * y;
    }
    ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]))
}

/// The arithmetic of [`dot`].
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let len = a.len().min(b.len());
    let whole = len - len % 8;
    let mut acc = [0f32; 8];
    for (x, y) in a[..whole].chunks_exact(8).zip(b[..whole].chunks_exact(8)) {
        let (x, y): (&[f32; 8], &[f32; 8]) = (x.try_into().expect("8"), y.try_into().expect("8"));
        let products: [f32; 8] = std::array::from_fn(|l| x[l] * y[l]);
        acc = std::array::from_fn(|l| acc[l] + products[l]);
    }
    finish(acc, &a[whole..len], &b[whole..len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::testing::padded_knn;

    #[test]
    fn from_rows_checks_every_invariant() {
        let ninf = f32::NEG_INFINITY;
        let knn = Knn::from_rows(2, vec![0, 1, 1, 0, 2, NONE], vec![1.0, 0.5, 1.0, 0.5, 1.0, ninf]).unwrap();
        assert_eq!((knn.n(), knn.k()), (3, 2));
        assert_eq!(knn.row(2), (&[2, NONE][..], &[1.0, ninf][..]));
        for (k, ids, sims, problem) in [
            (0, vec![], vec![], "do not make rows"),
            (2, vec![0, 1, 1], vec![1.0, 0.5, 1.0], "do not make rows"),
            (2, vec![0, 2], vec![1.0, 0.5], "row 0: id 2 in slot 1 is outside [-1, 1)"),
            (2, vec![1, 0, 0, 1], vec![0.5, 1.0, 1.0, 0.5], "row 0: slots 0 and 1 are out of order"),
            (2, vec![0, 0, 1, 0], vec![1.0, 1.0, 1.0, 0.5], "row 0: slots 0 and 1 are out of order"),
            (2, vec![NONE, 0, 1, 0], vec![ninf, 1.0, 1.0, 0.5], "row 0: id 0 in slot 1 follows an empty slot"),
            (2, vec![0, 1, 1, 0], vec![1.0, f32::NAN, 1.0, 0.5], "row 0: similarity NaN in slot 1"),
        ] {
            let e = Knn::from_rows(k, ids, sims).unwrap_err().to_string();
            assert!(e.starts_with("invalid input: k-NN table: ") && e.contains(problem), "{e}");
        }
    }

    #[test]
    fn canonicalise_drops_missing_sorts_ties_and_pads() {
        let found = [7, -1, 3, 9, 1, -1];
        let sim_of = |id: u32| if id == 7 || id == 9 { 0.9 } else { 0.5 };
        let (mut ids, mut sims) = (vec![0; 6], vec![0.0; 6]);
        canonicalise_row(found, 10, &mut Vec::new(), &mut ids, &mut sims, sim_of).unwrap();
        assert_eq!(ids, [7, 9, 1, 3, NONE, NONE]);
        assert_eq!(sims, [0.9, 0.9, 0.5, 0.5, f32::NEG_INFINITY, f32::NEG_INFINITY]);
        // More candidates than slots: the best are kept.
        canonicalise_row(found, 10, &mut Vec::new(), &mut ids[..3], &mut sims[..3], sim_of).unwrap();
        assert_eq!(ids[..3], [7, 9, 1]);
        let e = canonicalise_row([10], 10, &mut Vec::new(), &mut ids[..1], &mut sims[..1], sim_of);
        assert_eq!(e, Err(10));
        // A cut between two tied candidates is flagged: rows beyond them may tie too.
        let flagged = canonicalise_row([7, 9, 1], 10, &mut Vec::new(), &mut ids[..1], &mut sims[..1], sim_of);
        assert_eq!((flagged, ids[0]), (Ok(true), 7));
        let clean = canonicalise_row([7, 9, 1], 10, &mut Vec::new(), &mut ids[..2], &mut sims[..2], sim_of);
        assert_eq!((clean, &ids[..2]), (Ok(false), &[7, 9][..]));
    }

    /// A tie group larger than the candidates at the last slot: the rows searched again keep
    /// the tied rows of smallest id, as an exhaustive search does.
    #[test]
    fn ties_beyond_the_candidates_are_settled_by_an_exhaustive_search() {
        use crate::knn::testing::random_features;
        // Rows 100.. are 12 copies of row 1: for row 0, a tie group of 13 around its slots.
        let mut data = random_features(120, 16, 3).view().to_owned();
        for i in 100..112 {
            let copy = data.row(1).to_owned();
            data.row_mut(i).assign(&copy);
        }
        let f = Features::new(data, Path::new("copies"), false).unwrap();
        let mut all: Vec<(f32, u32)> = (0..f.n()).map(|j| (dot(f.row(0), f.row(j)), j as u32)).collect();
        all.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let at = all.iter().position(|x| x.1 == 1).unwrap();
        let k = at + 5; // the cut falls inside the group of 13 equal similarities
                        // Candidates: the best k + 2 but with the group's largest ids (as a search may keep).
        let group: Vec<u32> = all.iter().filter(|x| x.0 == all[at].0).map(|x| x.1).collect();
        assert_eq!(group.len(), 13);
        let mut found: Vec<i64> = all.iter().take(at).map(|x| i64::from(x.1)).collect();
        found.extend(group.iter().rev().take(k + 2 - at).map(|&id| i64::from(id)));
        let (mut ids, mut sims) = (vec![0; k], vec![0.0; k]);
        let again = rerank_rows(&f, 0, k, |_| found.clone(), &mut ids, &mut sims).unwrap();
        assert_eq!(again, 1);
        let want: Vec<u32> = all[..k].iter().map(|x| x.1).collect();
        assert_eq!(ids, want);
    }

    #[test]
    fn dot_is_the_inner_product() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 / 8.0).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 / 16.0).collect();
        let want: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
        assert!((f64::from(dot(&a, &b)) - want).abs() < 1e-5);
        // The same bits on every path, for every length.
        let a: Vec<f32> = (0..300).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 333.0).collect();
        let b: Vec<f32> = (0..300).map(|i| ((i * 104_729 % 1000) as f32 - 500.0) / 777.0).collect();
        for len in [0, 1, 7, 8, 9, 63, 256, 300] {
            let (x, y) = (&a[..len], &b[..len]);
            let mut acc = [0f32; 8];
            for i in 0..len {
                acc[i % 8] += x[i] * y[i];
            }
            let want = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
            assert_eq!(dot(x, y).to_bits(), want.to_bits(), "length {len}");
            assert_eq!(dot_lanes(x, y).to_bits(), want.to_bits(), "length {len}");
        }
    }

    #[test]
    fn save_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knn.npz");
        let knn = padded_knn();
        assert!(knn.ids().contains(&NONE), "the test wants padded rows");
        knn.save(&path).unwrap();
        assert_eq!(Knn::load(&path).unwrap(), knn);
        // What numpy sees: int32 ids with -1, float32 sims.
        let mut npz = NpzReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(npz.names().unwrap(), ["ids", "sims"]);
        let ids: Array2<i32> = npz.by_name("ids").unwrap();
        assert_eq!(ids.dim(), (knn.n(), knn.k()));
        assert!(ids.iter().zip(knn.ids()).all(|(&a, &b)| a == b as i32));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
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
        assert_eq!(Knn::load(&path).unwrap().ids(), [0, 1, 1, 0, 2, NONE]);

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
        write_npz(&path, Some(array![[0, -2], [1, 0], [2, -1]]), Some(good_sims.clone()));
        assert_format_error(&path, "row 0: id -2 in slot 1 is outside [-1, 3)");
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
        let ids = Array2::from_shape_vec((knn.n(), knn.k()), knn.ids().iter().map(|&id| id as i32).collect());
        let sims = ArrayView2::from_shape((knn.n(), knn.k()), knn.sims()).unwrap();
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
