//! Rows by index, wherever they are kept: a feature matrix or a k-NN table in one piece, or a
//! saved clustering's, spread over files and patches ([`crate::state`]).

use super::table::Knn;
use crate::features::Features;

/// Feature rows of one dimension, by index.
pub trait FeatureRows: Sync {
    /// Values per row.
    fn dim(&self) -> usize;
    /// Number of rows.
    fn num_rows(&self) -> usize;
    /// Row `i`.
    ///
    /// # Panics
    ///
    /// When `i >= num_rows()`.
    fn row(&self, i: usize) -> &[f32];
}

impl FeatureRows for Features {
    fn dim(&self) -> usize {
        Features::dim(self)
    }

    fn num_rows(&self) -> usize {
        self.n()
    }

    fn row(&self, i: usize) -> &[f32] {
        Features::row(self, i)
    }
}

/// The rows of a row-major matrix held as one slice.
#[derive(Debug, Clone, Copy)]
pub struct RowMatrix<'a> {
    data: &'a [f32],
    dim: usize,
}

impl<'a> RowMatrix<'a> {
    /// The rows of `data`, `dim` values each.
    ///
    /// # Panics
    ///
    /// When `dim` is 0 or does not divide `data.len()`.
    pub fn new(data: &'a [f32], dim: usize) -> Self {
        assert!(dim > 0 && data.len().is_multiple_of(dim), "rows of {dim} values");
        RowMatrix { data, dim }
    }
}

impl FeatureRows for RowMatrix<'_> {
    fn dim(&self) -> usize {
        self.dim
    }

    fn num_rows(&self) -> usize {
        self.data.len() / self.dim
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// Canonical k-NN rows (see [`Knn`]) of `k` slots, by index.
pub trait KnnRows: Sync {
    /// Slots per row.
    fn k(&self) -> usize;
    /// Number of rows.
    fn num_rows(&self) -> usize;
    /// Row `i`'s ids and similarities.
    ///
    /// # Panics
    ///
    /// When `i >= num_rows()`.
    fn knn_row(&self, i: usize) -> (&[u32], &[f32]);
}

impl KnnRows for Knn {
    fn k(&self) -> usize {
        Knn::k(self)
    }

    fn num_rows(&self) -> usize {
        self.n()
    }

    fn knn_row(&self, i: usize) -> (&[u32], &[f32]) {
        self.row(i)
    }
}
