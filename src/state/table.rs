//! A state's rows in memory: feature rows and k-NN rows spread over the files of several
//! generations (mapped, [`super::mapped`]) and the rows an update adds or changes (owned).

use super::mapped::Array;
use crate::knn::{FeatureRows, KnnRows};

/// Feature rows: the row files in order, then rows appended in memory.
#[derive(Debug)]
pub struct Rows {
    dim: usize,
    /// First row of each segment, and its values.
    segments: Vec<(usize, Array<f32>)>,
    n: usize,
}

impl Rows {
    /// No rows, of dimension `dim`.
    pub(super) fn new(dim: usize) -> Self {
        Rows { dim, segments: Vec::new(), n: 0 }
    }

    /// Appends a segment of whole rows.
    pub(super) fn push(&mut self, values: Array<f32>) {
        let rows = values.as_slice().len() / self.dim;
        self.segments.push((self.n, values));
        self.n += rows;
    }

    /// Appends rows (`dim` values each) held in memory.
    pub fn append(&mut self, values: &[f32]) {
        self.push(Array::owned(values.to_vec()));
    }

    /// The values of rows `from..`, segment by segment.
    pub fn values_from(&self, from: usize) -> impl Iterator<Item = &[f32]> + '_ {
        self.segments.iter().filter_map(move |(start, values)| {
            let values = values.as_slice();
            let end = start + values.len() / self.dim;
            (end > from).then(|| &values[from.saturating_sub(*start) * self.dim..])
        })
    }
}

impl FeatureRows for Rows {
    fn dim(&self) -> usize {
        self.dim
    }

    fn num_rows(&self) -> usize {
        self.n
    }

    #[inline]
    fn row(&self, i: usize) -> &[f32] {
        assert!(i < self.n, "row {i} of {}", self.n);
        // Most rows are in the first segment; the others are few.
        let s = match self.segments.get(1) {
            Some((start, _)) if i >= *start => self.segments.partition_point(|(start, _)| *start <= i) - 1,
            _ => 0,
        };
        let (start, values) = &self.segments[s];
        let at = (i - start) * self.dim;
        &values.as_slice()[at..at + self.dim]
    }
}

/// k-NN rows: a base and patches (files, applied in order), then rows an update changed or
/// added (in memory). An overlay says where each row's current version is.
#[derive(Debug)]
pub struct Table {
    k: usize,
    /// Ids and similarities of each segment's records, `k` per record.
    segments: Vec<(Array<u32>, Array<f32>)>,
    /// Segment and record of each row.
    segment_of: Vec<u32>,
    record_of: Vec<u32>,
    /// The update's own records.
    own_ids: Vec<u32>,
    own_sims: Vec<f32>,
}

/// The overlay's segment number of the update's own records.
const OWN: u32 = u32::MAX;

impl Table {
    /// An empty table of `k` slots per row.
    pub(super) fn new(k: usize) -> Self {
        Table {
            k,
            segments: Vec::new(),
            segment_of: Vec::new(),
            record_of: Vec::new(),
            own_ids: Vec::new(),
            own_sims: Vec::new(),
        }
    }

    /// Adds a file's records: `rows[r]` is the row of record `r`; a row already present
    /// takes the new version, a row `== num_rows()` is appended.
    ///
    /// # Panics
    ///
    /// When a row is past the end, or the arrays do not hold `k` slots per record.
    pub(super) fn apply(&mut self, rows: &[u32], ids: Array<u32>, sims: Array<f32>) {
        assert!(ids.as_slice().len() == rows.len() * self.k && sims.as_slice().len() == rows.len() * self.k);
        let s = self.segments.len() as u32;
        self.segments.push((ids, sims));
        for (r, &i) in rows.iter().enumerate() {
            let i = i as usize;
            assert!(i <= self.segment_of.len(), "record of row {i} past the end");
            if i == self.segment_of.len() {
                self.segment_of.push(s);
                self.record_of.push(r as u32);
            } else {
                self.segment_of[i] = s;
                self.record_of[i] = r as u32;
            }
        }
    }

    /// Reserves room for `additional` more rows.
    pub(super) fn reserve(&mut self, additional: usize) {
        self.segment_of.reserve_exact(additional);
        self.record_of.reserve_exact(additional);
    }

    /// Replaces row `i` (an existing row) or appends it (`i == num_rows()`).
    ///
    /// # Panics
    ///
    /// When `i > num_rows()` or the slices are not `k` long.
    pub fn set_row(&mut self, i: usize, ids: &[u32], sims: &[f32]) {
        assert!(ids.len() == self.k && sims.len() == self.k, "rows of k slots");
        assert!(i <= self.segment_of.len(), "row {i} past the end");
        let r = (self.own_ids.len() / self.k) as u32;
        self.own_ids.extend_from_slice(ids);
        self.own_sims.extend_from_slice(sims);
        if i == self.segment_of.len() {
            self.segment_of.push(OWN);
            self.record_of.push(r);
        } else {
            self.segment_of[i] = OWN;
            self.record_of[i] = r;
        }
    }

    /// Rows.
    pub fn n(&self) -> usize {
        self.segment_of.len()
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (s, r) = (self.segment_of[i], self.record_of[i] as usize * self.k);
        let k = self.k;
        if s == OWN {
            (&self.own_ids[r..r + k], &self.own_sims[r..r + k])
        } else {
            let (ids, sims) = &self.segments[s as usize];
            (&ids.as_slice()[r..r + k], &sims.as_slice()[r..r + k])
        }
    }
}

impl KnnRows for Table {
    fn k(&self) -> usize {
        self.k
    }

    fn num_rows(&self) -> usize {
        self.n()
    }

    #[inline]
    fn knn_row(&self, i: usize) -> (&[u32], &[f32]) {
        self.row(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_records_are_found_across_segments() {
        let mut rows = Rows::new(2);
        rows.push(Array::owned(vec![0.0, 0.5, 1.0, 1.5]));
        rows.append(&[2.0, 2.5]);
        rows.append(&[3.0, 3.5, 4.0, 4.5]);
        assert_eq!(rows.num_rows(), 5);
        assert_eq!((rows.row(0), rows.row(2), rows.row(4)), (&[0.0, 0.5][..], &[2.0, 2.5][..], &[4.0, 4.5][..]));
        let tail: Vec<f32> = rows.values_from(1).flatten().copied().collect();
        assert_eq!(tail, [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]);
        let mut table = Table::new(2);
        table.apply(&[0, 1, 2], Array::owned(vec![0, 1, 1, 0, 2, 0]), Array::owned(vec![1.0, 0.5, 1.0, 0.5, 1.0, 0.1]));
        table.apply(&[1, 3], Array::owned(vec![1, 2, 3, 0]), Array::owned(vec![1.0, 0.7, 1.0, 0.2]));
        table.set_row(2, &[2, 3], &[1.0, 0.9]);
        table.set_row(4, &[4, 0], &[1.0, 0.3]);
        assert_eq!(table.n(), 5);
        assert_eq!(table.row(0), (&[0, 1][..], &[1.0, 0.5][..]));
        assert_eq!(table.row(1), (&[1, 2][..], &[1.0, 0.7][..]));
        assert_eq!(table.row(2), (&[2, 3][..], &[1.0, 0.9][..]));
        assert_eq!(table.row(4), (&[4, 0][..], &[1.0, 0.3][..]));
    }
}
