//! Reading features and labels, writing labels, and atomic output files.
//!
//! Input is untrusted: a feature file can be truncated, padded, mislabelled or simply lie in its
//! header. Every reader here therefore checks what a file claims against what it holds before
//! it allocates, and reports a problem as one [`Error`] line naming the file. No input makes a
//! reader panic or reserve memory the data does not back.
//!
//! The readers are built in two layers:
//!
//! - Format readers over any [`Read`] ([`npy`], [`bin`], [`labels`]), each taking the path
//!   only to name it in messages, and an optional size hint. The hint is the input's real size
//!   when it is known (a regular file's metadata), which lets a reader reject a wrong size
//!   before it reads or reserves anything. Without it (stdin, a pipe), a reader grows its buffer
//!   only as data arrives. Each also has a `parse_*` twin over a byte slice, the entry point for
//!   fuzzing.
//! - Path-level functions here ([`load_features`], [`read_labels`], [`write_labels`]) that pick
//!   the format from the extension, map `-` to stdin or stdout, and open files.
//!
//! Feature formats: NumPy `.npy` (2-D float16, float32 or float64, either byte order, C or
//! Fortran order) and raw little-endian float32 `.bin` rows. Labels: text with one integer per
//! line (the `.meta` format), or a 1-D integer `.npy`. Labels are written as text.

mod atomic;
pub mod bin;
pub mod labels;
pub mod npy;

pub use atomic::AtomicFile;

use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};
use crate::features::Features;

/// How to read a feature file.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// Explicit format; `None` picks it from the extension (`.npy` or `.bin`). Required for stdin.
    pub format: Option<FeatureFormat>,
    /// Row length of a raw `.bin` file, in float32 values (`--dim`). Default 256.
    pub dim: usize,
    /// Scale rows to unit L2 norm. Default true.
    pub normalize: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            format: None,
            dim: 256,
            normalize: true,
        }
    }
}

/// Feature file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureFormat {
    /// NumPy `.npy`, 2-D; see [`npy`].
    Npy,
    /// Raw little-endian float32 rows of [`LoadOptions::dim`] values; see [`bin`].
    Bin,
}

/// Reads and validates a feature matrix. `-` reads stdin (format must then be given).
pub fn load_features(path: &Path, options: &LoadOptions) -> Result<Features> {
    let _ = (path, options);
    todo!()
}

/// Reads integer labels, one per row: text (`.meta`, `.txt`, ...: one integer per line) or `.npy`.
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    let _ = path;
    todo!()
}

/// Writes labels one per line, atomically (`-` writes stdout).
pub fn write_labels(path: &Path, labels: &[u32]) -> Result<()> {
    let _ = (path, labels);
    todo!()
}

/// Bytes read per step when streaming values in, and the most reserved up front when the size
/// of the input is not known: a header cannot make a reader reserve more than this before the
/// data backs it.
const CHUNK_BYTES: usize = 1 << 20;

/// Fills `buf` from `reader` until it is full or the input ends; returns the bytes read.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Streams up to `limit` bytes of `item_size`-byte items from `reader`, in blocks of about
/// [`CHUNK_BYTES`], handing each block of whole items to `decode`, which appends them to `out`.
///
/// Returns the number of bytes read: `limit`, or fewer when the input ended first (the count
/// then includes any partial item at the end, which is not decoded). `out` grows only as data
/// arrives, so `limit` may be a claim the input does not back.
fn read_items<T>(
    reader: &mut dyn Read,
    path: &Path,
    limit: u64,
    item_size: usize,
    out: &mut Vec<T>,
    mut decode: impl FnMut(&[u8], &mut Vec<T>) -> Result<()>,
) -> Result<u64> {
    debug_assert!(item_size > 0 && item_size <= CHUNK_BYTES);
    let block = CHUNK_BYTES / item_size * item_size;
    let mut buf = vec![0u8; usize::try_from(limit).map_or(block, |l| l.min(block))];
    let mut total = 0u64;
    loop {
        let want = usize::try_from(limit - total).map_or(block, |l| l.min(block));
        if want == 0 {
            return Ok(total);
        }
        let got = read_full(reader, &mut buf[..want]).map_err(|e| Error::io(path, e))?;
        decode(&buf[..got - got % item_size], out)?;
        total += got as u64;
        if got < want {
            return Ok(total);
        }
    }
}

/// An empty vector with room for `items` items or, when that much memory cannot be reserved,
/// for one block's worth (it then grows as data arrives, and fails only if the data does not
/// fit in memory).
fn vec_with_room<T>(items: usize) -> Vec<T> {
    let mut v = Vec::new();
    if v.try_reserve_exact(items).is_err() {
        v.reserve((CHUNK_BYTES / std::mem::size_of::<T>().max(1)).min(items));
    }
    v
}

/// Counts the bytes left in `reader`, reading at most `limit + 1` of them (the input may be an
/// endless stream). Returns `(count, more)`, where `more` means the count stopped at the limit.
fn count_rest(reader: &mut dyn Read, path: &Path, limit: u64) -> Result<(u64, bool)> {
    let n =
        io::copy(&mut reader.take(limit + 1), &mut io::sink()).map_err(|e| Error::io(path, e))?;
    Ok((n.min(limit), n > limit))
}

/// Decodes `bytes` as `N`-byte items with `f`, appending to `out`. `bytes.len()` must be a
/// multiple of `N` (a trailing partial item is ignored).
fn decode_with<const N: usize, T>(bytes: &[u8], out: &mut Vec<T>, f: impl Fn([u8; N]) -> T) {
    out.extend(bytes.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        f(a)
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_items_stops_at_the_limit_or_the_end() {
        let bytes: Vec<u8> = (0u8..10).collect();
        let mut out = Vec::new();
        let n = read_items(&mut &bytes[..], Path::new("x"), 6, 2, &mut out, |b, o| {
            decode_with::<2, u16>(b, o, u16::from_le_bytes);
            Ok(())
        })
        .unwrap();
        assert_eq!((n, out.len()), (6, 3));
        let mut out = Vec::new();
        let n = read_items(
            &mut &bytes[..9],
            Path::new("x"),
            100,
            2,
            &mut out,
            |b, o| {
                decode_with::<2, u16>(b, o, u16::from_le_bytes);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            (n, out.len()),
            (9, 4),
            "the partial item counts but is not decoded"
        );
    }
}
