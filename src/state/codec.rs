//! The binary files of a saved clustering: a 64-byte header, then little-endian arrays.
//!
//! ```text
//! offset  size  field
//!      0     8  magic  "FCSTATE\0"
//!      8     4  format version (u32)
//!     12     4  kind: 1 rows, 2 k-NN rows, 3 nodes, 4 quantizer (u32)
//!     16     8  generation that wrote the file (u64)
//!     24     8  records (u64): rows, k-NN records, nodes, or lists
//!     32     8  a (u64): rows: dimension; k-NN: k; quantizer: dimension
//!     40     8  b (u64): rows: 2 when each row's list and second list follow (0: none);
//!                  quantizer: probes in all
//!     48    16  zero
//! ```
//!
//! On a little-endian machine arrays are read straight into their destination, in parallel
//! pieces at their offsets, and written from their memory; elsewhere they are converted in
//! chunks of [`CHUNK_VALUES`] values through a byte buffer.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::AtomicFile;

/// First bytes of every binary file of a state.
pub(super) const MAGIC: &[u8; 8] = b"FCSTATE\0";
/// Bytes of the header.
pub(super) const HEADER_BYTES: u64 = 64;
/// Values per chunk of a read or write.
const CHUNK_VALUES: usize = 1 << 18;

/// What a binary file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Feature rows (and their inverted lists).
    Rows = 1,
    /// k-NN records: a row id, then its `k` ids and `k` similarities.
    Knn = 2,
    /// Per-node arrays: modules, clusters and flow.
    Nodes = 3,
    /// An `IVFJoin` quantizer's centroids and probe sets.
    Quantizer = 4,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Rows => "rows",
            Kind::Knn => "k-NN",
            Kind::Nodes => "nodes",
            Kind::Quantizer => "quantizer",
        }
    }
}

/// The header fields after the magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Header {
    pub version: u32,
    pub kind: Kind,
    pub generation: u64,
    pub records: u64,
    pub a: u64,
    pub b: u64,
}

/// Values that go into the files as fixed-size little-endian bytes: `u32`, `f32` and `f64`
/// only (the trait is private), plain data of which every bit pattern is a value.
pub(super) trait Value: Copy + Default + Send + Sync {
    const BYTES: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
}

/// The memory of `values` as bytes: on a little-endian machine, exactly their file encoding,
/// so arrays are read and written without converting them value by value.
#[cfg(target_endian = "little")]
#[allow(unsafe_code)] // A byte view of plain numbers; see the SAFETY note.
fn bytes_of<T: Value>(values: &[T]) -> &[u8] {
    // SAFETY: `T` is u32, f32 or f64 (the only `Value`s): no padding, no invalid bit patterns,
    // alignment at least that of u8; the view covers exactly the slice's memory and borrows it.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values)) }
}

/// [`bytes_of`], writable: any bytes written make valid values.
#[cfg(target_endian = "little")]
#[allow(unsafe_code)] // A byte view of plain numbers; see the SAFETY note.
fn bytes_of_mut<T: Value>(values: &mut [T]) -> &mut [u8] {
    // SAFETY: as in `bytes_of`; every bit pattern written through the view is a valid `T`.
    unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(values)) }
}

macro_rules! value {
    ($t:ty, $n:expr) => {
        impl Value for $t {
            const BYTES: usize = $n;
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("a value's bytes"))
            }
        }
    };
}
value!(u32, 4);
value!(f32, 4);
value!(f64, 8);

/// Writes one binary file into an [`AtomicFile`].
pub(super) struct Writer {
    file: AtomicFile,
    #[cfg_attr(target_endian = "little", allow(dead_code))]
    buffer: Vec<u8>,
}

impl Writer {
    /// Creates `path` (as a temporary file until committed) and writes its header.
    pub fn create(path: &Path, header: Header) -> Result<Self> {
        let mut file = AtomicFile::create(path)?;
        let mut bytes = Vec::with_capacity(HEADER_BYTES as usize);
        bytes.extend_from_slice(MAGIC);
        header.version.put(&mut bytes);
        (header.kind as u32).put(&mut bytes);
        for x in [header.generation, header.records, header.a, header.b, 0, 0] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        file.write_all(&bytes).map_err(|e| Error::io(path, e))?;
        Ok(Writer { file, buffer: Vec::new() })
    }

    /// Appends `values`.
    pub fn put<T: Value>(&mut self, values: &[T]) -> Result<()> {
        for chunk in values.chunks(CHUNK_VALUES) {
            #[cfg(target_endian = "little")]
            let bytes = bytes_of(chunk);
            #[cfg(not(target_endian = "little"))]
            let bytes = {
                self.buffer.clear();
                for &v in chunk {
                    v.put(&mut self.buffer);
                }
                &self.buffer
            };
            let target = self.file.target().to_path_buf();
            self.file.write_all(bytes).map_err(|e| Error::io(target, e))?;
        }
        Ok(())
    }

    /// The file, synced to disk and ready to commit.
    pub fn finish(mut self) -> Result<AtomicFile> {
        self.file.sync()?;
        Ok(self.file)
    }
}

/// Reads one binary file, checking its header and its size. Arrays are read at their offsets
/// (`pread`), large ones in parallel pieces straight into their destination.
pub(super) struct Reader {
    path: PathBuf,
    file: File,
    /// Offset of the next value.
    at: u64,
    /// Bytes not yet read.
    left: u64,
}

/// Arrays larger than this are read in parallel pieces.
const PARALLEL_READ_BYTES: usize = 8 << 20;

impl Reader {
    /// Opens `path`, reads its header and checks that it is a file of `kind` and format
    /// `version`, `bytes` long.
    pub fn open(path: &Path, kind: Kind, version: u32, bytes: u64) -> Result<(Self, Header)> {
        let (file, size) = crate::io::open(path)?;
        let mut head = [0u8; HEADER_BYTES as usize];
        let not_ours = || Error::format(path, "not a face-cluster state file (no FCSTATE header)");
        if size.is_some_and(|s| s < HEADER_BYTES) {
            return Err(not_ours());
        }
        (&file).read_exact(&mut head).map_err(|_| not_ours())?;
        if &head[..8] != MAGIC {
            return Err(not_ours());
        }
        let u64_at = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
        let file_version = u32::get(&head[8..12]);
        if file_version != version {
            return Err(Error::format(
                path,
                format!("state file format version {file_version}; this face-cluster reads version {version}"),
            ));
        }
        let file_kind = u32::get(&head[12..16]);
        if file_kind != kind as u32 {
            return Err(Error::format(
                path,
                format!("holds kind {file_kind}, not the {} file state.json names", kind.name()),
            ));
        }
        if size.is_some_and(|s| s != bytes) {
            return Err(Error::format(
                path,
                format!("is {} bytes but state.json says {bytes}; the state is damaged", size.unwrap_or(0)),
            ));
        }
        let header =
            Header { version, kind, generation: u64_at(16), records: u64_at(24), a: u64_at(32), b: u64_at(40) };
        Ok((Reader { path: path.to_path_buf(), file, at: HEADER_BYTES, left: bytes - HEADER_BYTES }, header))
    }

    /// Reads `count` values, appending them to `out`.
    pub fn get<T: Value>(&mut self, count: usize, out: &mut Vec<T>) -> Result<()> {
        let start = out.len();
        out.resize(start + count, T::default());
        self.get_into(&mut out[start..])
    }

    /// Reads `out.len()` values into `out`.
    pub fn get_into<T: Value>(&mut self, out: &mut [T]) -> Result<()> {
        let need = out.len() as u64 * T::BYTES as u64;
        if need > self.left {
            return Err(Error::format(&self.path, "ends early; the state is damaged"));
        }
        let at = self.at;
        self.at += need;
        self.left -= need;
        let (file, path) = (&self.file, &self.path);
        #[cfg(target_endian = "little")]
        {
            let bytes = bytes_of_mut(out);
            if bytes.len() < PARALLEL_READ_BYTES {
                return read_at(file, bytes, at, path);
            }
            let piece = bytes.len().div_ceil(rayon::current_num_threads().max(1)).max(1);
            use rayon::prelude::*;
            bytes
                .par_chunks_mut(piece)
                .enumerate()
                .try_for_each(|(p, chunk)| read_at(file, chunk, at + (p * piece) as u64, path))
        }
        #[cfg(not(target_endian = "little"))]
        {
            let mut buffer = Vec::new();
            let mut offset = at;
            for chunk in out.chunks_mut(CHUNK_VALUES) {
                buffer.resize(chunk.len() * T::BYTES, 0);
                read_at(file, &mut buffer, offset, path)?;
                offset += buffer.len() as u64;
                for (slot, bytes) in chunk.iter_mut().zip(buffer.chunks_exact(T::BYTES)) {
                    *slot = T::get(bytes);
                }
            }
            Ok(())
        }
    }

    /// Skips `count` values; returns their offset in the file.
    pub fn skip<T: Value>(&mut self, count: usize) -> Result<u64> {
        let need = count as u64 * T::BYTES as u64;
        if need > self.left {
            return Err(Error::format(&self.path, "ends early; the state is damaged"));
        }
        let at = self.at;
        self.at += need;
        self.left -= need;
        Ok(at)
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks that nothing is left.
    pub fn finish(self) -> Result<()> {
        if self.left != 0 {
            return Err(Error::format(&self.path, format!("{} bytes left over; the state is damaged", self.left)));
        }
        Ok(())
    }
}

/// Fills `bytes` from `file` at `offset`.
fn read_at(file: &File, bytes: &mut [u8], offset: u64, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(bytes, offset).map_err(|e| Error::io(path, e))
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::Start(offset)).and_then(|_| f.read_exact(bytes)).map_err(|e| Error::io(path, e))
    }
}

/// The size of a file of `records` whose values take `record_bytes` each, header included.
pub(super) fn file_bytes(records: u64, record_bytes: u64) -> u64 {
    HEADER_BYTES + records * record_bytes
}
