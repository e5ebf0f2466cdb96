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
pub mod network;
pub mod npy;

pub use atomic::{commit_all, sync_dir, AtomicFile, NewDir};

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::config::{FeatureFormat, LoadOptions};
use crate::error::{Error, Result};
use crate::features::Features;

/// Reads and validates a feature matrix. `-` reads stdin (the format must then be given).
///
/// The format is [`LoadOptions::format`] or, when that is `None`, the extension: `.npy` or
/// `.bin` (in any letter case). The rows then go through [`Features::new`].
///
/// # Errors
///
/// - [`Error::InvalidParameter`] for `--dim` 0 with the `.bin` format;
/// - [`Error::Format`] when the format cannot be told, for a directory, and for any content
///   problem (see [`npy`] and [`bin`]), including an empty matrix;
/// - [`Error::Io`] naming the file when it is missing or cannot be read;
/// - [`Error::BadRow`] for the first row holding NaN, an infinity, or only zeros.
pub fn load_features(path: &Path, options: &LoadOptions) -> Result<Features> {
    let format = feature_format(path, options.format)?;
    if format == FeatureFormat::Bin {
        bin::row_bytes(options.dim)?;
    }
    if is_std_stream(path) {
        read_features(io::stdin().lock(), path, options, None)
    } else {
        let (file, size) = open(path)?;
        read_features(file, path, options, size)
    }
}

/// Reads and validates a feature matrix from any reader; [`load_features`] without the opening.
///
/// `source` names the input in messages and, when [`LoadOptions::format`] is `None`, gives the
/// format by its extension. `size_hint` is the number of bytes the reader will yield, when
/// known; it lets a wrong size be rejected before anything is read.
///
/// # Errors
///
/// As [`load_features`], except that nothing is opened.
pub fn read_features<R: Read>(
    reader: R,
    source: &Path,
    options: &LoadOptions,
    size_hint: Option<u64>,
) -> Result<Features> {
    let array = match feature_format(source, options.format)? {
        FeatureFormat::Npy => npy::read_npy_features(reader, source, size_hint)?,
        FeatureFormat::Bin => bin::read_bin_features(reader, source, options.dim, size_hint)?,
    };
    Features::new(array, source, options.normalize)
}

/// Reads integer labels, one per row: text (`.meta`, `.txt`, anything but `.npy`: one integer
/// per line, see [`labels`]) or a 1-D integer `.npy` (see [`npy::read_npy_labels`]). `-` reads
/// text from stdin.
///
/// # Errors
///
/// [`Error::Io`] naming the file when it is missing or unreadable, [`Error::Format`] for a
/// directory, an empty file, or content that is not labels (the message gives the line number or
/// the dtype and shape).
pub fn read_labels(path: &Path) -> Result<Vec<i64>> {
    if is_std_stream(path) {
        return labels::read_text_labels(io::stdin().lock(), path);
    }
    let (file, size) = open(path)?;
    if has_extension(path, "npy") {
        npy::read_npy_labels(file, path, size)
    } else {
        labels::read_text_labels(file, path)
    }
}

/// Writes labels one per line (the format [`read_labels`] reads), atomically through
/// [`AtomicFile`]: the file appears whole or not at all. `-` writes stdout.
///
/// # Errors
///
/// [`Error::Io`] naming the file (`<stdout>` for `-`) when it cannot be created or written. A closed
/// stdout gives an [`Error::Io`] whose cause has kind [`io::ErrorKind::BrokenPipe`], which the
/// binary treats as a quiet exit.
pub fn write_labels(path: &Path, labels: &[u32]) -> Result<()> {
    if is_std_stream(path) {
        // `StdoutLock` is line-buffered, but `write_text_labels` hands it whole blocks that end
        // in a newline, which it passes straight through: one `write` per block.
        let stdout = io::stdout();
        let mut out = stdout.lock();
        return labels::write_text_labels(&mut out, labels)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("<stdout>", e));
    }
    let mut file = AtomicFile::create(path)?;
    labels::write_text_labels(&mut file, labels).map_err(|e| Error::io(path, e))?;
    file.commit()
}

/// Bytes read per step when streaming values in, and the most reserved up front when the size
/// of the input is not known: a header cannot make a reader reserve more than this before the
/// data backs it.
const CHUNK_BYTES: usize = 1 << 20;

/// Whether `path` is `-`, the conventional name for stdin (or stdout when writing).
pub fn is_std_stream(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Whether `path` ends in `.ext`, ignoring letter case.
fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// The explicit format, else the one the extension of `path` names.
fn feature_format(path: &Path, explicit: Option<FeatureFormat>) -> Result<FeatureFormat> {
    if let Some(format) = explicit {
        return Ok(format);
    }
    if is_std_stream(path) {
        return Err(Error::format(path, "reading stdin needs an explicit format; pass --format npy|bin"));
    }
    if has_extension(path, "npy") {
        Ok(FeatureFormat::Npy)
    } else if has_extension(path, "bin") {
        Ok(FeatureFormat::Bin)
    } else {
        Err(Error::format(path, "cannot tell the format from the extension; pass --format npy|bin"))
    }
}

/// Opens `path` for reading and returns it with its size when it is a regular file (a FIFO or a
/// device reports no meaningful size).
///
/// # Errors
///
/// [`Error::Io`] when it cannot be opened, [`Error::Format`] for a directory.
pub(crate) fn open(path: &Path) -> Result<(File, Option<u64>)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::format(path, "is a directory, not a file"));
    }
    Ok((file, meta.is_file().then_some(meta.len())))
}

/// Longest offending text quoted in an error message, in characters.
const QUOTE_CHARS: usize = 40;

/// Offending input text for an error message: quoted, shortened to [`QUOTE_CHARS`]
/// characters, with anything unprintable escaped so the message stays one line.
pub(crate) fn quote(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let mut shortened: String = text.chars().take(QUOTE_CHARS).collect();
    if text.chars().nth(QUOTE_CHARS).is_some() {
        shortened.push_str("...");
    }
    format!("{shortened:?}")
}

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
    let n = io::copy(&mut reader.take(limit + 1), &mut io::sink()).map_err(|e| Error::io(path, e))?;
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
    use crate::error::RowProblem;
    use std::fs;
    use std::num::NonZeroUsize;

    fn f32_le(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn loads_npy_and_bin_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let npy_path = dir.path().join("f.NPY");
        fs::write(&npy_path, npy::tests::npy_f32("(2, 2)", &[3.0, 4.0, 0.0, 2.0])).unwrap();
        let f = load_features(&npy_path, &LoadOptions::default()).unwrap();
        assert_eq!(f.as_slice(), &[0.6, 0.8, 0.0, 1.0]);

        let bin_path = dir.path().join("f.bin");
        fs::write(&bin_path, f32_le(&[3.0, 4.0, 0.0, 2.0])).unwrap();
        let options = LoadOptions { dim: NonZeroUsize::new(2).unwrap(), normalize: false, ..LoadOptions::default() };
        let f = load_features(&bin_path, &options).unwrap();
        assert_eq!((f.n(), f.dim()), (2, 2));
        assert_eq!(f.as_slice(), &[3.0, 4.0, 0.0, 2.0]);
    }

    #[test]
    fn explicit_format_overrides_the_extension() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feats.dat");
        fs::write(&path, f32_le(&[1.0, 0.0])).unwrap();
        let options = LoadOptions {
            format: Some(FeatureFormat::Bin),
            dim: NonZeroUsize::new(2).unwrap(),
            ..LoadOptions::default()
        };
        assert_eq!(load_features(&path, &options).unwrap().n(), 1);
    }

    #[test]
    fn unknown_extension_asks_for_format() {
        let e = load_features(Path::new("feats.dat"), &LoadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        assert_eq!(e.to_string(), "feats.dat: cannot tell the format from the extension; pass --format npy|bin");
        let e = load_features(Path::new("feats"), &LoadOptions::default()).unwrap_err();
        assert!(e.to_string().contains("pass --format npy|bin"), "{e}");
    }

    #[test]
    fn stdin_needs_a_format() {
        let e = load_features(Path::new("-"), &LoadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        assert_eq!(e.to_string(), "<stdin>: reading stdin needs an explicit format; pass --format npy|bin");
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.npy");
        let e = load_features(&path, &LoadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("nope.npy"), "{e}");
        let e = read_labels(&dir.path().join("nope.meta")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("nope.meta"), "{e}");
    }

    #[test]
    fn directory_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.npy");
        fs::create_dir(&path).unwrap();
        let e = load_features(&path, &LoadOptions::default()).unwrap_err();
        assert!(e.to_string().ends_with("d.npy: is a directory, not a file"), "{e}");
        let e = read_labels(&path).unwrap_err();
        assert!(e.to_string().ends_with("d.npy: is a directory, not a file"), "{e}");
    }

    #[test]
    fn a_dim_too_large_is_checked_before_opening() {
        let options = LoadOptions { dim: NonZeroUsize::MAX, ..LoadOptions::default() };
        let e = load_features(Path::new("does-not-exist.bin"), &options).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { param: crate::error::Param::Dim, .. }), "{e}");
    }

    #[test]
    fn bad_rows_and_empty_input_are_reported_with_the_path() {
        let options = LoadOptions { format: Some(FeatureFormat::Npy), ..LoadOptions::default() };
        let bytes = npy::tests::npy_f32("(2, 2)", &[1.0, 2.0, f32::NAN, 0.0]);
        let e = read_features(&bytes[..], Path::new("x.npy"), &options, None).unwrap_err();
        assert!(matches!(e, Error::BadRow { row: 1, problem: RowProblem::NonFinite, .. }), "{e}");
        let bytes = npy::tests::npy_f32("(0, 2)", &[]);
        let e = read_features(&bytes[..], Path::new("x.npy"), &options, None).unwrap_err();
        assert_eq!(e.to_string(), "x.npy: no rows (empty input)");
    }

    #[test]
    fn read_labels_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("l.meta");
        fs::write(&text, "3\n-1\n7\n").unwrap();
        assert_eq!(read_labels(&text).unwrap(), vec![3, -1, 7]);
        let binary = dir.path().join("l.npy");
        let data: Vec<u8> = [5i64, 6].iter().flat_map(|v| v.to_le_bytes()).collect();
        fs::write(
            &binary,
            npy::tests::npy_bytes(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", &data),
        )
        .unwrap();
        assert_eq!(read_labels(&binary).unwrap(), vec![5, 6]);
    }

    #[test]
    fn write_labels_round_trips_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.meta");
        let labels = [0u32, 1, 9, 10, 4_294_967_295, 42];
        write_labels(&path, &labels).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "0\n1\n9\n10\n4294967295\n42\n");
        let back = read_labels(&path).unwrap();
        assert_eq!(back, labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temp file left");
    }

    #[test]
    fn write_labels_to_a_missing_folder_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no").join("out.meta");
        let e = write_labels(&path, &[1]).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("out.meta"), "{e}");
    }

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
        let n = read_items(&mut &bytes[..9], Path::new("x"), 100, 2, &mut out, |b, o| {
            decode_with::<2, u16>(b, o, u16::from_le_bytes);
            Ok(())
        })
        .unwrap();
        assert_eq!((n, out.len()), (9, 4), "the partial item counts but is not decoded");
    }
}
