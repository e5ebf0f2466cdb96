//! Raw `.bin` feature files: little-endian float32 values, `dim` per row, nothing else.
//!
//! This is the layout of the learn-to-cluster benchmark files (e.g. `part1_test.bin`, 256-D).
//! The file carries no shape, so the row length comes from `--dim` and the number of rows from
//! the size. That makes the size the only consistency check there is: a size that is not a whole
//! number of rows almost always means a wrong `--dim` (or a truncated download), and is reported
//! as such rather than silently dropping the partial row.

use std::io::Read;
use std::num::NonZeroUsize;
use std::path::Path;

use ndarray::Array2;

use super::{decode_with, read_items, vec_with_room, CHUNK_BYTES};
use crate::error::{Error, Param, Result};

/// Bytes per value.
const VALUE_BYTES: usize = 4;

/// Reads a raw float32 file of rows of `dim` values.
///
/// `path` only names the input in messages. `size_hint` is the number of bytes `reader` will
/// yield when known (a regular file's length); with it, a size that does not fit `dim` is
/// rejected before anything is read. Without it (stdin), the data is read in blocks and checked
/// at the end.
///
/// # Errors
///
/// - [`Error::InvalidParameter`] for `--dim` when `dim` is so large that a row's byte count
///   overflows;
/// - [`Error::Format`] naming `path` for an empty input, or a size that is not a multiple of
///   `dim * 4` bytes;
/// - [`Error::Io`] when reading fails.
pub fn read_bin_features<R: Read>(
    mut reader: R,
    path: &Path,
    dim: NonZeroUsize,
    size_hint: Option<u64>,
) -> Result<Array2<f32>> {
    let row_bytes = row_bytes(dim)?;
    let dim = dim.get();
    let reserve = match size_hint {
        Some(size) => {
            check_size(path, size, dim, row_bytes)?;
            // The size is the input's real length, so it vouches for the allocation.
            usize::try_from(size / VALUE_BYTES as u64).unwrap_or(usize::MAX)
        }
        None => CHUNK_BYTES / VALUE_BYTES,
    };
    let mut values = vec_with_room(reserve);
    let size = read_items(&mut reader, path, u64::MAX, VALUE_BYTES, &mut values, |bytes, out| {
        decode_with::<4, _>(bytes, out, f32::from_le_bytes);
        Ok(())
    })?;
    // Checked again on what was actually read: the hint may be absent or stale.
    check_size(path, size, dim, row_bytes)?;
    let rows = values.len() / dim;
    Array2::from_shape_vec((rows, dim), values).map_err(|e| Error::format(path, e.to_string()))
}

/// [`read_bin_features`] over bytes already in memory: the entry point for fuzzing.
///
/// # Errors
///
/// As [`read_bin_features`].
pub fn parse_bin_features(bytes: &[u8], path: &Path, dim: NonZeroUsize) -> Result<Array2<f32>> {
    read_bin_features(bytes, path, dim, Some(bytes.len() as u64))
}

/// The bytes of a row of `dim` values.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for `--dim` when that does not fit in a `u64`.
pub(super) fn row_bytes(dim: NonZeroUsize) -> Result<u64> {
    dim.get()
        .checked_mul(VALUE_BYTES)
        .and_then(|b| u64::try_from(b).ok())
        .ok_or_else(|| Error::invalid(Param::Dim, format!("{dim} is too large")))
}

/// Checks that `size` bytes are a whole, non-zero number of rows.
fn check_size(path: &Path, size: u64, dim: usize, row_bytes: u64) -> Result<()> {
    if size == 0 {
        return Err(Error::format(path, "empty file (no feature rows)"));
    }
    if !size.is_multiple_of(row_bytes) {
        return Err(Error::format(
            path,
            format!(
                "size {size} bytes is not a multiple of dim*4 = {dim}*4 = {row_bytes} \
                 ({} whole rows and {} bytes over; is --dim right?)",
                size / row_bytes,
                size % row_bytes
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("feats.bin")
    }

    fn f32_le(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Parses with the size known, and as a stream, and checks that both agree.
    fn both(bytes: &[u8], dim: usize) -> Result<Array2<f32>> {
        let dim = NonZeroUsize::new(dim).unwrap();
        let known = parse_bin_features(bytes, p(), dim);
        let streamed = read_bin_features(bytes, p(), dim, None);
        match (&known, &streamed) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("known size and stream disagree: {known:?} vs {streamed:?}"),
        }
        known
    }

    #[test]
    fn reads_rows_of_dim_values() {
        let values = [1.0, 2.0, 3.0, -4.0, 5.5, 6.0];
        let a = both(&f32_le(&values), 3).unwrap();
        assert_eq!(a.dim(), (2, 3));
        assert_eq!(a.as_slice().unwrap(), &values);
        assert_eq!(both(&f32_le(&values), 6).unwrap().dim(), (1, 6));
    }

    #[test]
    fn reads_more_than_one_block() {
        // 1.5 blocks of 1 MiB, to cross a block boundary.
        let values: Vec<f32> = (0..393_216).map(|i| i as f32).collect();
        let a = both(&f32_le(&values), 256).unwrap();
        assert_eq!(a.dim(), (1536, 256));
        assert_eq!(a.as_slice().unwrap(), &values[..]);
    }

    #[test]
    fn a_dim_too_large_for_a_row_is_a_parameter_error() {
        let e = parse_bin_features(&[0; 8], p(), NonZeroUsize::MAX).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { param: Param::Dim, .. }), "{e}");
    }

    #[test]
    fn empty_input_is_an_error() {
        let e = both(&[], 256).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        assert_eq!(e.to_string(), "feats.bin: empty file (no feature rows)");
    }

    #[test]
    fn size_must_be_whole_rows() {
        let e = both(&[0; 1000], 256).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "feats.bin: size 1000 bytes is not a multiple of dim*4 = 256*4 = 1024 \
             (0 whole rows and 1000 bytes over; is --dim right?)"
        );
        let e = both(&[0; 2050], 256).unwrap_err();
        assert!(e.to_string().contains("(2 whole rows and 2 bytes over;"), "{e}");
    }

    #[test]
    fn a_stale_size_hint_is_caught_by_the_final_check() {
        let bytes = f32_le(&[1.0, 2.0, 3.0]);
        let e = read_bin_features(&bytes[..], p(), NonZeroUsize::new(2).unwrap(), Some(8)).unwrap_err();
        assert!(e.to_string().contains("size 12 bytes is not a multiple"), "{e}");
    }
}
