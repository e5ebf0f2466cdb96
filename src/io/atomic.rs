//! Output files that appear whole or not at all.
//!
//! [`AtomicFile`] writes into a hidden temporary file in the target's own folder (so the final
//! rename never crosses file systems) and renames it over the target on [`AtomicFile::commit`].
//! Dropped without a commit (an error, a panic), it removes the temporary file, so a failed run
//! leaves neither a partial file nor a damaged older one. Creating it up front, before the
//! expensive stages, also checks early that the folder exists and is writable.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A buffered writer to a temporary file that becomes `target` on [`commit`](Self::commit).
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary file next to `target`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `target` when its folder is missing or not writable.
    pub fn create(target: &Path) -> Result<Self> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = target.file_name().ok_or_else(|| Error::format(target, "is not a file path"))?.to_string_lossy();
        if target.is_dir() {
            return Err(Error::format(target, "is a directory, not a file"));
        }
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(".{name}.tmp{}.{attempt}", std::process::id()));
            match fs::OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    return Ok(AtomicFile {
                        target: target.to_path_buf(),
                        temp,
                        writer: Some(BufWriter::with_capacity(1 << 20, file)),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => attempt += 1,
                Err(e) => return Err(Error::io(target, e)),
            }
        }
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes, syncs and renames the temporary file over the target.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the target; the temporary file is removed.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("writer is present until commit");
        let result = writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
            .and_then(|()| fs::rename(&self.temp, &self.target));
        result.map_err(|e| Error::io(&self.target, e))
        // On error, Drop removes the temporary file.
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.as_mut().expect("writer is present until commit").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().expect("writer is present until commit").flush()
    }
}

/// Seeking flushes the buffer first; zip writers (the `.npz` k-NN cache) seek back to patch
/// entry headers.
impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.writer.as_mut().expect("writer is present until commit").seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // After a successful commit the temporary name no longer exists; the error is ignored.
        let _ = fs::remove_file(&self.temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_creates_target_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"hello\n").unwrap();
        assert!(!target.exists(), "target must not appear before commit");
        f.commit().unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "hello\n");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn drop_without_commit_keeps_old_file_and_removes_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.txt");
        fs::write(&target, "old").unwrap();
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.write_all(b"partial").unwrap();
        }
        assert_eq!(fs::read_to_string(&target).unwrap(), "old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn seek_back_and_patch() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"xxxx-tail").unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(b"head").unwrap();
        assert_eq!(f.seek(SeekFrom::End(0)).unwrap(), 9);
        f.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"head-tail");
    }

    #[test]
    fn missing_folder_fails_at_create() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("nope").join("out.txt");
        let e = AtomicFile::create(&target).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
        assert!(e.to_string().contains("nope/out.txt"), "{e}");
    }
}
