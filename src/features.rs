//! [`Features`]: the validated feature matrix every later stage works on.

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result, RowProblem};

/// An `n x d` matrix of f32 feature rows, row-major and contiguous, with every row finite and
/// non-zero, and (unless built with `normalize = false`) of unit L2 norm, so that inner products
/// are cosine similarities.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    data: Array2<f32>,
}

impl Features {
    /// Validates `data` and, when `normalize` is set, scales every row to unit L2 norm.
    ///
    /// `source` names the file the rows came from, for error messages.
    ///
    /// # Errors
    ///
    /// [`Error::Format`] for an empty matrix (no rows or no columns), [`Error::BadRow`] for the
    /// first row that holds NaN or an infinity or is all zeros.
    pub fn new(data: Array2<f32>, source: &Path, normalize: bool) -> Result<Self> {
        let (n, d) = data.dim();
        if n == 0 {
            return Err(Error::format(source, "no rows (empty input)"));
        }
        if d == 0 {
            return Err(Error::format(source, "rows have 0 columns"));
        }
        // Row-major input (the common case) is used in place; only Fortran order is copied.
        let mut data = if data.is_standard_layout() { data } else { data.as_standard_layout().into_owned() };
        for (row_index, mut row) in data.rows_mut().into_iter().enumerate() {
            let bad = |problem| Error::BadRow { path: source.to_path_buf(), row: row_index, problem };
            if row.iter().any(|x| !x.is_finite()) {
                return Err(bad(RowProblem::NonFinite));
            }
            // Accumulate in f64: a row of large f32 values could overflow an f32 sum of squares.
            let norm = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
            if norm == 0.0 {
                return Err(bad(RowProblem::Zero));
            }
            if normalize {
                let inv = (1.0 / norm) as f32;
                row.mapv_inplace(|x| x * inv);
            }
        }
        Ok(Features { data })
    }

    /// Number of rows.
    pub fn n(&self) -> usize {
        self.data.nrows()
    }

    /// Number of columns (the embedding dimension).
    pub fn dim(&self) -> usize {
        self.data.ncols()
    }

    /// The matrix.
    pub fn view(&self) -> ndarray::ArrayView2<'_, f32> {
        self.data.view()
    }

    /// All values, row after row.
    pub fn as_slice(&self) -> &[f32] {
        self.data.as_slice().expect("Features::new stores the matrix in standard layout")
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let d = self.dim();
        &self.as_slice()[i * d..(i + 1) * d]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rows_are_normalised() {
        let f = Features::new(array![[3.0f32, 4.0], [0.0, -2.0]], Path::new("x"), true).unwrap();
        assert_eq!(f.row(0), &[0.6, 0.8]);
        assert_eq!(f.row(1), &[0.0, -1.0]);
    }

    #[test]
    fn no_normalize_keeps_values() {
        let f = Features::new(array![[3.0f32, 4.0]], Path::new("x"), false).unwrap();
        assert_eq!(f.row(0), &[3.0, 4.0]);
    }

    #[test]
    fn fortran_order_becomes_row_major() {
        let a = array![[1.0f32, 2.0], [3.0, 4.0]].reversed_axes();
        let f = Features::new(a, Path::new("x"), false).unwrap();
        assert_eq!(f.as_slice(), &[1.0, 3.0, 2.0, 4.0]);
    }

    #[test]
    fn bad_rows_are_named() {
        let e = Features::new(array![[1.0f32, 2.0], [0.0, 0.0]], Path::new("f.npy"), true).unwrap_err();
        assert!(matches!(e, Error::BadRow { row: 1, problem: RowProblem::Zero, .. }), "{e}");
        assert_eq!(e.to_string(), "f.npy: row 1 is all zeros (a zero vector has no direction)");
        let e = Features::new(array![[1.0f32, f32::NAN]], Path::new("f.npy"), true).unwrap_err();
        assert!(matches!(e, Error::BadRow { row: 0, problem: RowProblem::NonFinite, .. }));
        let e = Features::new(array![[1.0f32, f32::INFINITY]], Path::new("f.npy"), false).unwrap_err();
        assert!(matches!(e, Error::BadRow { row: 0, problem: RowProblem::NonFinite, .. }));
    }

    #[test]
    fn empty_is_an_error() {
        let e = Features::new(Array2::<f32>::zeros((0, 4)), Path::new("e.npy"), true).unwrap_err();
        assert!(matches!(e, Error::Format { .. }));
    }
}
