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
//!     40     8  b (u64): rows: 1 when each row's list follows; quantizer: probes in all
//!     48    16  zero
//! ```
//!
//! Arrays are read and written in chunks of [`CHUNK_VALUES`] values through a byte buffer, so
//! memory beyond the destination stays small.

use std::fs::File;
use std::io::{BufReader, Read, Write};
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

/// Values that go into the files as fixed-size little-endian bytes.
pub(super) trait Value: Copy + Default {
    const BYTES: usize;
    fn put(self, out: &mut Vec<u8>);
    fn get(bytes: &[u8]) -> Self;
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
            self.buffer.clear();
            for &v in chunk {
                v.put(&mut self.buffer);
            }
            let target = self.file.target().to_path_buf();
            self.file.write_all(&self.buffer).map_err(|e| Error::io(target, e))?;
        }
        Ok(())
    }

    /// The file, synced to disk and ready to commit.
    pub fn finish(mut self) -> Result<AtomicFile> {
        self.file.sync()?;
        Ok(self.file)
    }
}

/// Reads one binary file, checking its header and its size.
pub(super) struct Reader {
    path: PathBuf,
    input: BufReader<File>,
    buffer: Vec<u8>,
    /// Bytes not yet read.
    left: u64,
}

impl Reader {
    /// Opens `path`, reads its header and checks that it is a file of `kind` and format
    /// `version`, `bytes` long.
    pub fn open(path: &Path, kind: Kind, version: u32, bytes: u64) -> Result<(Self, Header)> {
        let (file, size) = crate::io::open(path)?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut head = [0u8; HEADER_BYTES as usize];
        let not_ours = || Error::format(path, "not a face-cluster state file (no FCSTATE header)");
        if size.is_some_and(|s| s < HEADER_BYTES) {
            return Err(not_ours());
        }
        input.read_exact(&mut head).map_err(|_| not_ours())?;
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
        Ok((Reader { path: path.to_path_buf(), input, buffer: Vec::new(), left: bytes - HEADER_BYTES }, header))
    }

    /// Reads `count` values, appending them to `out`.
    pub fn get<T: Value>(&mut self, count: usize, out: &mut Vec<T>) -> Result<()> {
        let need = count as u64 * T::BYTES as u64;
        if need > self.left {
            return Err(Error::format(&self.path, "ends early; the state is damaged"));
        }
        self.left -= need;
        out.reserve(count);
        let mut left = count;
        while left > 0 {
            let take = left.min(CHUNK_VALUES);
            self.buffer.resize(take * T::BYTES, 0);
            self.input.read_exact(&mut self.buffer).map_err(|e| Error::io(&self.path, e))?;
            out.extend(self.buffer.chunks_exact(T::BYTES).map(T::get));
            left -= take;
        }
        Ok(())
    }

    /// Reads `count` values into `out` (which holds exactly that many).
    pub fn get_into<T: Value>(&mut self, out: &mut [T]) -> Result<()> {
        let need = out.len() as u64 * T::BYTES as u64;
        if need > self.left {
            return Err(Error::format(&self.path, "ends early; the state is damaged"));
        }
        self.left -= need;
        for chunk in out.chunks_mut(CHUNK_VALUES) {
            self.buffer.resize(chunk.len() * T::BYTES, 0);
            self.input.read_exact(&mut self.buffer).map_err(|e| Error::io(&self.path, e))?;
            for (slot, bytes) in chunk.iter_mut().zip(self.buffer.chunks_exact(T::BYTES)) {
                *slot = T::get(bytes);
            }
        }
        Ok(())
    }

    /// Checks that nothing is left.
    pub fn finish(self) -> Result<()> {
        if self.left != 0 {
            return Err(Error::format(&self.path, format!("{} bytes left over; the state is damaged", self.left)));
        }
        Ok(())
    }
}

/// The size of a file of `records` whose values take `record_bytes` each, header included.
pub(super) fn file_bytes(records: u64, record_bytes: u64) -> u64 {
    HEADER_BYTES + records * record_bytes
}
