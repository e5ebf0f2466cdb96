//! Output files that appear whole or not at all.
//!
//! [`AtomicFile`] writes into a hidden temporary file in the target's own folder (so the final
//! rename never crosses file systems) and renames it over the target on [`AtomicFile::commit`].
//! Dropped without a commit (an error, a panic), it removes the temporary file, so a failed run
//! leaves neither a partial file nor a damaged older one. Creating it up front, before the
//! expensive stages, also checks early that the folder exists and is writable.
//!
//! # Interruption
//!
//! A signal that ends the process skips every `Drop`, so the temporary files of live
//! `AtomicFile`s are also kept in a process-wide registry. A signal handler calls
//! [`AtomicFile::abort_all`] before it exits: that removes them, and makes any later create or
//! commit fail, so no temporary file and no half-renamed output survives the interruption.
//! Creating (open + register), committing (rename + unregister) and dropping (remove +
//! unregister) each happen under the registry's lock, so they are atomic with respect to
//! `abort_all`.
//!
//! # Several files at once
//!
//! [`commit_all`] renames a group of files in order under one hold of the lock, so an
//! interruption comes before the first rename or after the last: the saved clustering of
//! `face-cluster add` (its chunk files, then its manifest, renamed last) and the outputs that
//! go with it change together or not at all. A folder made for outputs ([`NewDir`]) is removed
//! again, when still empty, if the run fails or is interrupted.

use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Result};

/// The temporary files of the live [`AtomicFile`]s.
struct Registry {
    /// Set by [`AtomicFile::abort_all`]: nothing may be created or committed any more.
    aborted: bool,
    /// Temporary paths not yet renamed or removed.
    temps: Vec<PathBuf>,
    /// Folders made by live [`NewDir`]s, removed (when empty) by an abort.
    dirs: Vec<PathBuf>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { aborted: false, temps: Vec::new(), dirs: Vec::new() });

/// The registry, even if a thread panicked while holding it (its data stays consistent: every
/// update is a single push or removal).
fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The error of a create or commit after [`AtomicFile::abort_all`].
fn aborted(target: &Path) -> Error {
    Error::io(target, io::Error::new(io::ErrorKind::Interrupted, "interrupted"))
}

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
        let dir = parent_dir(target);
        let name = target.file_name().ok_or_else(|| Error::format(target, "is not a file path"))?.to_string_lossy();
        if target.is_dir() {
            return Err(Error::format(target, "is a directory, not a file"));
        }
        let mut registry = registry();
        if registry.aborted {
            return Err(aborted(target));
        }
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(".{name}.tmp{}.{attempt}", std::process::id()));
            match fs::OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    registry.temps.push(temp.clone());
                    return Ok(AtomicFile {
                        target: target.to_path_buf(),
                        temp,
                        writer: Some(BufWriter::with_capacity(1 << 20, file)),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 1000 => attempt += 1,
                Err(e) => return Err(Error::io(target, e)),
            }
        }
    }

    /// Removes the temporary file of every live `AtomicFile` and makes every later
    /// [`create`](Self::create) and [`commit`](Self::commit) fail; returns how many files were
    /// removed. For a signal handler that is about to end the process: the targets keep whatever
    /// they held before (or stay absent). Safe to call from any thread, at any time.
    pub fn abort_all() -> usize {
        let mut registry = registry();
        registry.aborted = true;
        let removed = registry.temps.drain(..).filter(|temp| fs::remove_file(temp).is_ok()).count();
        for dir in registry.dirs.drain(..).rev() {
            let _ = fs::remove_dir(dir);
        }
        removed
    }

    /// Flushes and syncs what was written so far to disk (a later commit then has little left
    /// to sync).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the target.
    pub fn sync(&mut self) -> Result<()> {
        let writer = self.writer.as_mut().expect("writer is present until commit");
        writer.flush().and_then(|()| writer.get_ref().sync_all()).map_err(|e| Error::io(&self.target, e))
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
        writer
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|file| file.sync_all())
            .map_err(|e| Error::io(&self.target, e))?;
        let mut registry = registry();
        if registry.aborted {
            return Err(aborted(&self.target));
        }
        fs::rename(&self.temp, &self.target).map_err(|e| Error::io(&self.target, e))?;
        registry.temps.retain(|t| *t != self.temp);
        Ok(())
        // On error, Drop removes the temporary file.
    }
}

/// Commits `files` together: flushes and syncs each, then renames them over their targets in
/// the given order under one hold of the registry's lock (so [`AtomicFile::abort_all`] comes
/// before the first rename or after the last), then syncs the targets' folders. Put the file
/// that makes the others count (a manifest) last: a crash between two renames leaves the
/// earlier targets written and the later ones as they were.
///
/// # Errors
///
/// [`Error::Io`] naming the target that failed; the temporary files not yet renamed are removed.
pub fn commit_all(mut files: Vec<AtomicFile>) -> Result<()> {
    for file in &mut files {
        let writer = file.writer.as_mut().expect("writer is present until commit");
        writer.flush().and_then(|()| writer.get_ref().sync_all()).map_err(|e| Error::io(&file.target, e))?;
    }
    {
        let mut registry = registry();
        for file in &mut files {
            if registry.aborted {
                return Err(aborted(&file.target));
            }
            fs::rename(&file.temp, &file.target).map_err(|e| Error::io(&file.target, e))?;
            registry.temps.retain(|t| *t != file.temp);
            // Committed: nothing for Drop to remove.
            file.writer = None;
        }
    }
    let mut dirs: Vec<PathBuf> = files.iter().map(|f| parent_dir(&f.target).to_path_buf()).collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        sync_dir(&dir)?;
    }
    Ok(())
}

/// Syncs a folder, so that renames in it are on disk (a no-op where folders cannot be opened).
///
/// # Errors
///
/// [`Error::Io`] naming the folder.
pub fn sync_dir(dir: &Path) -> Result<()> {
    match File::open(dir) {
        Ok(handle) => {
            handle.sync_all().or_else(|e| if e.kind() == io::ErrorKind::InvalidInput { Ok(()) } else { Err(e) })
        }
        Err(_) => Ok(()),
    }
    .map_err(|e| Error::io(dir, e))
}

fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A folder made for outputs: removed again (if still empty) when dropped without
/// [`keep`](Self::keep), or by [`AtomicFile::abort_all`].
#[derive(Debug)]
pub struct NewDir {
    path: PathBuf,
    kept: bool,
}

impl NewDir {
    /// Makes the folder `path` (its parent must exist).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` (it exists already, say).
    pub fn create(path: &Path) -> Result<Self> {
        let mut registry = registry();
        if registry.aborted {
            return Err(aborted(path));
        }
        fs::create_dir(path).map_err(|e| Error::io(path, e))?;
        registry.dirs.push(path.to_path_buf());
        Ok(NewDir { path: path.to_path_buf(), kept: false })
    }

    /// Keeps the folder for good.
    pub fn keep(mut self) {
        self.kept = true;
        registry().dirs.retain(|d| *d != self.path);
    }
}

impl Drop for NewDir {
    fn drop(&mut self) {
        if !self.kept {
            let mut registry = registry();
            if let Some(i) = registry.dirs.iter().position(|d| *d == self.path) {
                let _ = fs::remove_dir(&self.path);
                registry.dirs.swap_remove(i);
            }
        }
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
        let mut registry = registry();
        if let Some(i) = registry.temps.iter().position(|t| *t == self.temp) {
            // Not committed (a commit unregisters): the file is ours to remove. The error is
            // ignored: there is nothing better to do in a destructor.
            let _ = fs::remove_file(&self.temp);
            registry.temps.swap_remove(i);
        }
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
    fn live_temporary_files_are_registered_until_commit_or_drop() {
        // `abort_all` itself is tested through the binary (tests/integration/interrupt.rs): it
        // would stop every other test in this process from writing.
        let dir = tempfile::tempdir().unwrap();
        let registered = |temp: &Path| registry().temps.iter().any(|t| t == temp);
        let f = AtomicFile::create(&dir.path().join("a.txt")).unwrap();
        let temp = f.temp.clone();
        assert!(registered(&temp));
        f.commit().unwrap();
        assert!(!registered(&temp));
        let f = AtomicFile::create(&dir.path().join("b.txt")).unwrap();
        let temp = f.temp.clone();
        assert!(registered(&temp) && temp.exists());
        drop(f);
        assert!(!registered(&temp) && !temp.exists());
    }

    #[test]
    fn a_group_commits_in_order_and_new_folders_go_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let made = NewDir::create(&dir.path().join("state")).unwrap();
        let mut files = Vec::new();
        for name in ["a.bin", "b.bin", "manifest.json"] {
            let mut f = AtomicFile::create(&dir.path().join("state").join(name)).unwrap();
            f.write_all(name.as_bytes()).unwrap();
            files.push(f);
        }
        commit_all(files).unwrap();
        made.keep();
        let mut names: Vec<String> = fs::read_dir(dir.path().join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.bin", "b.bin", "manifest.json"]);
        assert_eq!(fs::read_to_string(dir.path().join("state/b.bin")).unwrap(), "b.bin");
        // Not kept: the folder goes, with the temporary files of a run that failed.
        let made = NewDir::create(&dir.path().join("other")).unwrap();
        let f = AtomicFile::create(&dir.path().join("other/x")).unwrap();
        drop(f);
        drop(made);
        assert!(!dir.path().join("other").exists());
        assert!(NewDir::create(&dir.path().join("state")).is_err(), "an existing folder is not new");
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
