//! Saved clusterings: what `face-cluster add` needs to add rows to a clustering without
//! starting over (`--save STATE` on the main job; issue 15).
//!
//! A state is a folder (format described in `docs/state.md`):
//!
//! ```text
//! STATE/state.json        the manifest: format name and version, parameters, row count,
//!                         generation, cluster id counter, and the files below (renamed last)
//! STATE/lock              locked while a process writes the state
//! STATE/rows-G.bin        feature rows (unit length) added by generation G, with their
//!                         inverted lists and second lists when the search was an IVFJoin;
//!                         never rewritten
//! STATE/knn-G.bin         k-NN rows: a base (every row) or a patch (rows added or changed
//!                         by generation G), applied in the manifest's order
//! STATE/nodes-G.bin       every row's Infomap module, cluster id and flow (rates), as of G
//! STATE/quantizer-G.bin   an IVFJoin's centroids and probe sets
//! ```
//!
//! An update writes new files under a new generation number as temporary files, then renames
//! them and the manifest, in that order, in one group ([`crate::io::commit_all`]): until the
//! manifest is renamed the folder holds the old state, and a crash leaves at most unreferenced
//! files, which the next update removes. Files the new manifest no longer names are removed
//! after it. Appending rows therefore writes the new rows, the k-NN rows that changed and the
//! per-row arrays, not the whole collection; the k-NN patches are folded into a new base once
//! they hold half as many rows as the base ([`State::write`]).

mod codec;
mod mapped;
mod network;
mod table;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use network::TableNetwork;
pub use table::{Rows, Table};

use crate::config::{EdgeConfig, Lonely, Share, Similarity};
use crate::edges::is_row_local;
use crate::error::{Error, Param, Result};
use crate::infomap::{FlowModel, Rates, RatesParts};
use crate::io::{commit_all, AtomicFile, NewDir};
use crate::knn::{Knn, KnnRows, Quantizer, MAX_ROWS, NONE};
use codec::{file_bytes, Header, Kind, Reader, Writer};
use mapped::Array;

/// The `format` of every state's manifest.
pub const FORMAT: &str = "face-cluster state";
/// The state format version this build reads and writes.
pub const VERSION: u32 = 3;
/// The manifest's file name.
pub const MANIFEST: &str = "state.json";
/// The lock file's name.
const LOCK: &str = "lock";
/// k-NN patches are folded into a new base once they hold this share of the base's rows.
const KNN_PATCH_SHARE: f64 = 0.5;
/// Row files are merged into one once there are more than this many.
const MAX_ROW_FILES: usize = 32;

/// The manifest, `STATE/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The tool and version that wrote it, e.g. `face-cluster 0.1.0`.
    pub written_by: String,
    /// Incremented by every write; file names carry the generation that wrote them.
    pub generation: u64,
    /// Rows.
    pub rows: usize,
    /// Feature dimension.
    pub dim: usize,
    /// How the clustering was made: what an update must do the same way.
    pub params: StateParams,
    /// The cluster id the next new cluster gets (ids are never reused).
    pub next_cluster_id: u32,
    /// Codelength of the current partition, bits.
    pub codelength_bits: f64,
    /// Rows added since the whole partition was last optimised (the main job, or `add --full`).
    pub rows_since_full: usize,
    /// The files holding the data.
    pub files: Files,
    /// One entry per write, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// The parameters of a saved clustering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateParams {
    /// Neighbour slots per row, self included.
    pub k: usize,
    /// The threshold, resolved when it was `auto`.
    pub min_sim: f32,
    /// Whether `min_sim` was picked from the data.
    pub min_sim_auto: bool,
    /// Links kept and their weights (row-local rules only).
    pub edges: EdgeConfig,
    /// Infomap's flow model.
    pub flow: FlowModel,
    /// What becomes of rows alone.
    pub lonely: Lonely,
    /// The share at which clusters are merged after Infomap ([`crate::labels::merge_clusters`]),
    /// if they are.
    pub merge: Option<Share>,
    /// `h`, the merge heights' bandwidth of the main job's table
    /// ([`crate::threshold::MinSimChoice::bandwidth`]): the unit of [`Lonely::Nearest`]'s
    /// window, kept as the main job found it. `None` when the main job did not compute it.
    pub bandwidth: Option<f64>,
    /// Infomap's teleportation probability.
    pub teleportation_probability: f64,
    /// Infomap's seed; the update of generation G runs with `seed + G`.
    pub seed: u64,
    /// Infomap trials of the main job.
    pub trials: usize,
    /// The search, resolved: `Flat`, `IVFJoin<nlist>` or a faiss index string.
    pub index: String,
    /// Lists probed by the search, when it had any.
    pub nprobe: Option<usize>,
    /// Whether feature rows are scaled to unit length.
    pub normalize: bool,
}

impl StateParams {
    /// The threshold as a checked value.
    ///
    /// # Errors
    ///
    /// When it is no cosine similarity (a damaged manifest).
    pub fn min_sim(&self) -> Result<Similarity> {
        Similarity::new(Param::MinSim, self.min_sim)
    }
}

/// The data files, in the order they are applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Files {
    /// Feature rows, in row order.
    pub rows: Vec<FileEntry>,
    /// k-NN rows: a base, then patches.
    pub knn: Vec<FileEntry>,
    /// Per-row arrays.
    pub nodes: FileEntry,
    /// The quantizer of an `IVFJoin` search.
    pub quantizer: Option<FileEntry>,
}

/// One data file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// File name inside the state folder.
    pub name: String,
    /// Records it holds (rows, k-NN records, nodes, lists).
    pub records: u64,
    /// Its size in bytes, header included.
    pub bytes: u64,
}

/// One write of the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// The generation written.
    pub generation: u64,
    /// `save`, `add` or `add --full`.
    pub action: String,
    /// Rows added (all rows for `save`).
    pub rows_added: usize,
    /// Rows after it.
    pub rows: usize,
    /// Codelength after it, bits.
    pub codelength_bits: f64,
}

/// A state read into memory, locked against other writers until dropped.
#[derive(Debug)]
pub struct State {
    dir: PathBuf,
    lock: File,
    /// The manifest as read (an update changes it only when writing).
    pub manifest: Manifest,
    /// Feature rows, unit length (mapped from the row files; an update appends).
    pub features: Rows,
    /// k-NN rows (mapped from the k-NN files; an update changes and appends rows).
    pub table: Table,
    /// The `IVFJoin` quantizer, its lists covering every row.
    pub quantizer: Option<Quantizer>,
    /// Infomap module of each row (labels below the row count).
    pub modules: Vec<u32>,
    /// Cluster id of each row.
    pub clusters: Vec<u32>,
    /// The network's flow.
    pub rates: Rates,
}

/// What a new state holds ([`StateTarget::write`]).
#[derive(Debug)]
pub struct NewState<'a> {
    /// Its parameters.
    pub params: StateParams,
    /// Feature rows, `n x dim`.
    pub features: &'a [f32],
    /// Dimension.
    pub dim: usize,
    /// The k-NN table (`params.k` slots per row).
    pub knn: &'a Knn,
    /// The quantizer of an `IVFJoin` search.
    pub quantizer: Option<&'a Quantizer>,
    /// Module of each row.
    pub modules: &'a [u32],
    /// Cluster id of each row.
    pub clusters: &'a [u32],
    /// The flow.
    pub rates: &'a Rates,
    /// Codelength of the partition.
    pub codelength_bits: f64,
}

/// A state folder made ready for writing a new state: created (or found empty, or holding a
/// state that will be replaced) and locked, before any input is read.
#[derive(Debug)]
pub struct StateTarget {
    dir: PathBuf,
    lock: File,
    new_dir: Option<NewDir>,
    generation: u64,
    /// Files of the state being replaced, removed once the new one is in place.
    replaced: Vec<String>,
    manifest: AtomicFile,
}

/// Written files waiting to be renamed into place together ([`PendingState::commit`]).
#[derive(Debug)]
pub struct PendingState {
    dir: PathBuf,
    _lock: File,
    new_dir: Option<NewDir>,
    files: Vec<AtomicFile>,
    manifest: AtomicFile,
    remove: Vec<String>,
}

impl PendingState {
    /// Renames the state's new files, then `outputs` (labels, a report), then the manifest,
    /// in one group ([`commit_all`]), and removes the files the new manifest no longer names.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file that failed; until the manifest is renamed, the folder
    /// holds the state as it was.
    pub fn commit(self, outputs: Vec<AtomicFile>) -> Result<()> {
        let mut all = self.files;
        all.extend(outputs);
        all.push(self.manifest);
        commit_all(all)?;
        if let Some(dir) = self.new_dir {
            dir.keep();
        }
        for name in &self.remove {
            // Unreferenced now; a failure leaves a stray file that the next write removes.
            let _ = fs::remove_file(self.dir.join(name));
        }
        Ok(())
    }
}

impl StateTarget {
    /// Prepares `dir` for a new state: makes it when missing; accepts it empty or holding a
    /// state (replaced on commit); locks it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when it cannot be made or written; [`Error::Format`] when it is a file,
    /// a folder holding something else, or locked by another process.
    pub fn prepare(dir: &Path) -> Result<Self> {
        let mut new_dir = None;
        let (mut generation, mut replaced) = (0, Vec::new());
        match fs::metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_dir = Some(NewDir::create(dir)?),
            Err(e) => return Err(Error::io(dir, e)),
            Ok(meta) if !meta.is_dir() => {
                return Err(Error::format(dir, "is a file; a saved clustering is a folder"));
            }
            Ok(_) => {
                if dir.join(MANIFEST).exists() {
                    let manifest = read_manifest(dir)?;
                    generation = manifest.generation + 1;
                    replaced = referenced(&manifest);
                } else if fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.next().is_some() {
                    return Err(Error::format(
                        dir,
                        "is a folder that holds files but no saved clustering; refusing to write into it",
                    ));
                }
            }
        }
        let lock = lock(dir)?;
        let manifest = AtomicFile::create(&dir.join(MANIFEST))?;
        Ok(StateTarget { dir: dir.to_path_buf(), lock, new_dir, generation, replaced, manifest })
    }

    /// Writes `state`'s files (as temporary files) for [`PendingState::commit`].
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file; [`Error::InvalidParameter`] for parameters a state
    /// cannot keep (a link rule that is not row-local).
    pub fn write(self, state: NewState<'_>) -> Result<PendingState> {
        check_params(&state.params, &self.dir)?;
        let n = state.modules.len();
        let g = self.generation;
        let mut files = Vec::new();
        let lists = state.quantizer.map(|q| (q.lists(), q.seconds()));
        let rows = write_rows(&self.dir, g, state.dim, [state.features], lists, &mut files)?;
        let all: Vec<u32> = (0..n as u32).collect();
        let knn = write_knn(&self.dir, g, &all, state.knn, &mut files)?;
        let nodes = write_nodes(&self.dir, g, state.modules, state.clusters, state.rates, &mut files)?;
        let quantizer = state.quantizer.map(|q| write_quantizer(&self.dir, g, q, &mut files)).transpose()?;
        let next_cluster_id = state.clusters.iter().map(|&c| c + 1).max().unwrap_or(0);
        let manifest = Manifest {
            format: FORMAT.to_string(),
            version: VERSION,
            written_by: format!("face-cluster {}", env!("CARGO_PKG_VERSION")),
            generation: g,
            rows: n,
            dim: state.dim,
            params: state.params,
            next_cluster_id,
            codelength_bits: state.codelength_bits,
            rows_since_full: 0,
            files: Files { rows: vec![rows], knn: vec![knn], nodes, quantizer },
            history: vec![HistoryEntry {
                generation: g,
                action: "save".to_string(),
                rows_added: n,
                rows: n,
                codelength_bits: state.codelength_bits,
            }],
        };
        let mut manifest_file = self.manifest;
        write_manifest(&mut manifest_file, &manifest)?;
        Ok(PendingState {
            dir: self.dir,
            _lock: self.lock,
            new_dir: self.new_dir,
            files,
            manifest: manifest_file,
            remove: self.replaced,
        })
    }
}

/// How a [`State`] changed since it was opened, for [`State::write`].
#[derive(Debug, Clone)]
pub struct Change {
    /// Rows before the update (the rows after it are appended).
    pub rows_before: usize,
    /// Old rows whose k-NN rows changed, ascending.
    pub patched: Vec<u32>,
    /// Whether the whole partition was re-optimised (`add --full`).
    pub full: bool,
    /// The next new cluster id.
    pub next_cluster_id: u32,
    /// Codelength of the new partition, bits.
    pub codelength_bits: f64,
}

impl State {
    /// Opens the state in `dir`, locks it and reads it whole.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming a file that cannot be read; [`Error::Format`] for a folder that
    /// is not a state, a state of another format version, a locked state, and any file that
    /// does not match the manifest.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_room(dir, 0)
    }

    /// [`State::open`], with room reserved for `extra_rows` more rows, so appending them does
    /// not move the arrays (a gigabyte of features at a million rows).
    ///
    /// # Errors
    ///
    /// As [`State::open`].
    pub fn open_with_room(dir: &Path, extra_rows: usize) -> Result<Self> {
        let manifest = read_manifest(dir)?;
        let lock = lock(dir)?;
        let p = &manifest.params;
        check_params(p, dir)?;
        let (n, dim, k) = (manifest.rows, manifest.dim, p.k);
        let manifest_path = dir.join(MANIFEST);
        let damaged = |problem: String| Error::format(&manifest_path, format!("damaged manifest: {problem}"));
        if n == 0 || n > MAX_ROWS || dim == 0 || k == 0 || k >= n {
            return Err(damaged(format!("{n} rows of dimension {dim} with k = {k}")));
        }
        for entry in referenced_entries(&manifest) {
            if entry.name.contains(['/', '\\']) || entry.name.starts_with('.') || entry.name == MANIFEST {
                return Err(damaged(format!("file name {:?}", entry.name)));
            }
        }
        let has_lists = manifest.files.quantizer.is_some();
        let ((features, lists, seconds), table) =
            rayon::join(|| read_rows(dir, &manifest, has_lists, extra_rows), || read_knn(dir, &manifest, extra_rows));
        let features = features?;
        let table = table?;
        let (modules, clusters, mut rates) = read_nodes(dir, &manifest)?;
        rates.reserve(extra_rows);
        let quantizer = match &manifest.files.quantizer {
            Some(entry) => Some(read_quantizer(dir, entry, dim, lists, seconds)?),
            None => None,
        };
        if let Some(bad) = modules.iter().find(|&&m| m as usize >= n) {
            return Err(Error::format(dir.join(&manifest.files.nodes.name), format!("module {bad} of {n} rows")));
        }
        if let Some(bad) = clusters.iter().find(|&&c| c >= manifest.next_cluster_id) {
            return Err(Error::format(
                dir.join(&manifest.files.nodes.name),
                format!("cluster id {bad} is not below the next id {}", manifest.next_cluster_id),
            ));
        }
        Ok(State { dir: dir.to_path_buf(), lock, manifest, features, table, quantizer, modules, clusters, rates })
    }

    /// Reads and checks the manifest of the state in `dir` alone (no lock, no data): enough to
    /// check inputs against the state before reading it.
    ///
    /// # Errors
    ///
    /// As [`State::open`] for the manifest.
    pub fn manifest_of(dir: &Path) -> Result<Manifest> {
        let manifest = read_manifest(dir)?;
        check_params(&manifest.params, dir)?;
        Ok(manifest)
    }

    /// The state's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rows (as held in memory: an update appends to them).
    pub fn n(&self) -> usize {
        self.modules.len()
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    /// Neighbour slots per row.
    pub fn k(&self) -> usize {
        self.manifest.params.k
    }

    /// The network of the k-NN table as it is in memory.
    ///
    /// # Panics
    ///
    /// Never for a state that [`State::open`] read (its threshold is checked there).
    pub fn network(&self) -> TableNetwork<'_, Table> {
        let p = &self.manifest.params;
        TableNetwork::new(&self.table, p.min_sim().expect("checked when opened"), p.edges)
    }

    /// Writes the state as it now is in memory, after `change`, as new files for
    /// [`PendingState::commit`]: the rows appended, the k-NN rows added or patched (or a new
    /// base, once the patches would hold half the base's rows), the per-row
    /// arrays and the manifest. Stray files of an interrupted write are removed first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file.
    pub fn write(self, change: &Change) -> Result<PendingState> {
        self.remove_strays();
        let g = self.manifest.generation + 1;
        let (n, dim) = (self.n(), self.dim());
        let mut manifest = self.manifest.clone();
        let mut files = Vec::new();
        let mut remove = Vec::new();
        let lists = self.quantizer.as_ref().map(|q| (q.lists(), q.seconds()));
        // Rows: the new ones in a file of their own, or all in one when files pile up.
        if manifest.files.rows.len() >= MAX_ROW_FILES {
            remove.extend(manifest.files.rows.drain(..).map(|e| e.name));
            let all = self.features.values_from(0);
            manifest.files.rows.push(write_rows(&self.dir, g, dim, all, lists, &mut files)?);
        } else if n > change.rows_before {
            let new = self.features.values_from(change.rows_before);
            let new_lists = lists.map(|(l, s)| (&l[change.rows_before..], &s[change.rows_before..]));
            manifest.files.rows.push(write_rows(&self.dir, g, dim, new, new_lists, &mut files)?);
        }
        // k-NN rows: a patch of the changed and new rows, or a new base.
        let mut records = change.patched.clone();
        records.extend(change.rows_before as u32..n as u32);
        let base = manifest.files.knn[0].records as f64;
        let patched: u64 = manifest.files.knn[1..].iter().map(|e| e.records).sum::<u64>() + records.len() as u64;
        if patched as f64 > KNN_PATCH_SHARE * base {
            remove.extend(manifest.files.knn.drain(..).map(|e| e.name));
            let all: Vec<u32> = (0..n as u32).collect();
            manifest.files.knn.push(write_knn(&self.dir, g, &all, &self.table, &mut files)?);
        } else {
            manifest.files.knn.push(write_knn(&self.dir, g, &records, &self.table, &mut files)?);
        }
        remove.push(manifest.files.nodes.name.clone());
        manifest.files.nodes = write_nodes(&self.dir, g, &self.modules, &self.clusters, &self.rates, &mut files)?;
        let added = n - change.rows_before;
        manifest.generation = g;
        manifest.rows = n;
        manifest.written_by = format!("face-cluster {}", env!("CARGO_PKG_VERSION"));
        manifest.next_cluster_id = change.next_cluster_id;
        manifest.codelength_bits = change.codelength_bits;
        manifest.rows_since_full = if change.full { 0 } else { manifest.rows_since_full + added };
        manifest.history.push(HistoryEntry {
            generation: g,
            action: if change.full { "add --full" } else { "add" }.to_string(),
            rows_added: added,
            rows: n,
            codelength_bits: change.codelength_bits,
        });
        let mut manifest_file = AtomicFile::create(&self.dir.join(MANIFEST))?;
        write_manifest(&mut manifest_file, &manifest)?;
        Ok(PendingState { dir: self.dir, _lock: self.lock, new_dir: None, files, manifest: manifest_file, remove })
    }

    /// Removes data files the manifest does not name and temporary files, left by a write
    /// that was interrupted before its manifest was renamed (a crash: an interrupted process
    /// removes its own).
    fn remove_strays(&self) {
        let keep = referenced(&self.manifest);
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours =
                ["rows-", "knn-", "nodes-", "quantizer-"].iter().any(|p| name.starts_with(p)) && name.ends_with(".bin");
            let temporary = name.starts_with('.') && name.contains(".tmp");
            if (ours && !keep.contains(&name)) || temporary {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Reads and checks `dir/state.json`.
fn read_manifest(dir: &Path) -> Result<Manifest> {
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::format(dir, "not a saved clustering (a file, not a folder)"));
        }
        Err(e) => return Err(Error::io(dir, e)),
        Ok(_) => {}
    }
    let path = dir.join(MANIFEST);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::format(dir, format!("not a saved clustering (no {MANIFEST})")));
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|_| Error::format(&path, "not a face-cluster state manifest (not JSON)"))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(Error::format(&path, format!("not a face-cluster state manifest (no \"format\": \"{FORMAT}\")")));
    }
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(Error::format(
                &path,
                format!(
                    "state format version {v}; this face-cluster reads version {VERSION} (save the clustering again)"
                ),
            ));
        }
        None => return Err(Error::format(&path, "damaged manifest: no format version")),
    }
    serde_json::from_value(value).map_err(|e| Error::format(&path, format!("damaged manifest: {e}")))
}

fn write_manifest(file: &mut AtomicFile, manifest: &Manifest) -> Result<()> {
    let target = file.target().to_path_buf();
    let text = serde_json::to_string_pretty(manifest).map_err(|e| Error::format(&target, e.to_string()))?;
    std::io::Write::write_all(file, format!("{text}\n").as_bytes()).map_err(|e| Error::io(target, e))
}

fn check_params(p: &StateParams, dir: &Path) -> Result<()> {
    p.min_sim()?;
    if !is_row_local(&p.edges) {
        return Err(Error::invalid(
            Param::Edges,
            format!(
                "{}: a saved clustering needs links made from each row alone; shared-neighbour scores \
                 (--edges snn, --weights snn) are not supported",
                dir.display()
            ),
        ));
    }
    Ok(())
}

fn referenced_entries(manifest: &Manifest) -> Vec<&FileEntry> {
    let f = &manifest.files;
    f.rows.iter().chain(&f.knn).chain([&f.nodes]).chain(&f.quantizer).collect()
}

fn referenced(manifest: &Manifest) -> Vec<String> {
    referenced_entries(manifest).into_iter().map(|e| e.name.clone()).collect()
}

#[cfg(unix)]
#[allow(unsafe_code)] // flock(2) on a descriptor this function owns.
fn try_flock(file: &File) -> std::io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock only reads the descriptor, which `file` keeps open for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}

#[cfg(not(unix))]
fn try_flock(_: &File) -> std::io::Result<bool> {
    Ok(true)
}

/// Opens (or makes) `dir/lock` and locks it; the lock goes with the returned file.
fn lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    let file =
        fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
    if !try_flock(&file).map_err(|e| Error::io(&path, e))? {
        return Err(Error::format(dir, "in use: another face-cluster process is writing this state"));
    }
    Ok(file)
}

fn header(kind: Kind, generation: u64, records: u64, a: u64, b: u64) -> Header {
    Header { version: VERSION, kind, generation, records, a, b }
}

fn entry(name: String, records: u64, bytes: u64) -> FileEntry {
    FileEntry { name, records, bytes }
}

fn write_rows<'a>(
    dir: &Path,
    g: u64,
    dim: usize,
    features: impl IntoIterator<Item = &'a [f32]>,
    lists: Option<(&[u32], &[u32])>,
    files: &mut Vec<AtomicFile>,
) -> Result<FileEntry> {
    let name = format!("rows-{g}.bin");
    let features: Vec<&[f32]> = features.into_iter().collect();
    let rows = (features.iter().map(|f| f.len()).sum::<usize>() / dim) as u64;
    let mut w =
        Writer::create(&dir.join(&name), header(Kind::Rows, g, rows, dim as u64, lists_field(lists.is_some())))?;
    for values in features {
        w.put(values)?;
    }
    if let Some((lists, seconds)) = lists {
        w.put(lists)?;
        w.put(seconds)?;
    }
    files.push(w.finish()?);
    let row_bytes = dim as u64 * 4 + if lists.is_some() { 8 } else { 0 };
    Ok(entry(name, rows, file_bytes(rows, row_bytes)))
}

/// The `b` field of a rows file's header: 2 when each row's list and second list follow.
fn lists_field(has_lists: bool) -> u64 {
    if has_lists {
        2
    } else {
        0
    }
}

/// The feature rows, and each row's list and second list (empty without a quantizer).
type ReadRows = (Result<Rows>, Vec<u32>, Vec<u32>);

fn read_rows(dir: &Path, manifest: &Manifest, has_lists: bool, extra_rows: usize) -> ReadRows {
    let dim = manifest.dim;
    let mut rows = Rows::new(dim);
    let (mut lists, mut seconds): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    let mut read = || -> Result<()> {
        if has_lists {
            lists.reserve_exact(manifest.rows + extra_rows);
            seconds.reserve_exact(manifest.rows + extra_rows);
        }
        let mut count = 0u64;
        for e in &manifest.files.rows {
            let row_bytes = dim as u64 * 4 + if has_lists { 8 } else { 0 };
            let path = dir.join(&e.name);
            let (mut r, h) = Reader::open(&path, Kind::Rows, VERSION, file_bytes(e.records, row_bytes))?;
            if h.records != e.records || h.a != dim as u64 || h.b != lists_field(has_lists) {
                return Err(mismatch(&path));
            }
            rows.push(Array::read(&mut r, e.records as usize * dim)?);
            if has_lists {
                r.get(e.records as usize, &mut lists)?;
                r.get(e.records as usize, &mut seconds)?;
            }
            r.finish()?;
            count += e.records;
        }
        if count != manifest.rows as u64 {
            return Err(Error::format(
                dir.join(MANIFEST),
                format!("damaged manifest: row files hold {count} rows, not {}", manifest.rows),
            ));
        }
        Ok(())
    };
    let result = read();
    (result.map(|()| rows), lists, seconds)
}

fn mismatch(path: &Path) -> Error {
    Error::format(path, "header does not match state.json; the state is damaged")
}

/// A k-NN file: the records' row ids, then their slots' ids, then their similarities.
fn write_knn(dir: &Path, g: u64, rows: &[u32], table: &impl KnnRows, files: &mut Vec<AtomicFile>) -> Result<FileEntry> {
    let name = format!("knn-{g}.bin");
    let k = table.k();
    let records = rows.len() as u64;
    let mut w = Writer::create(&dir.join(&name), header(Kind::Knn, g, records, k as u64, 0))?;
    w.put(rows)?;
    for block in rows.chunks(1 << 14) {
        let ids: Vec<u32> = block.iter().flat_map(|&i| table.knn_row(i as usize).0.iter().copied()).collect();
        w.put(&ids)?;
    }
    for block in rows.chunks(1 << 14) {
        let sims: Vec<f32> = block.iter().flat_map(|&i| table.knn_row(i as usize).1.iter().copied()).collect();
        w.put(&sims)?;
    }
    files.push(w.finish()?);
    Ok(entry(name, records, file_bytes(records, 4 + 8 * k as u64)))
}

fn read_knn(dir: &Path, manifest: &Manifest, extra_rows: usize) -> Result<Table> {
    let (n, k) = (manifest.rows, manifest.params.k);
    let mut table = Table::new(k);
    table.reserve(n + extra_rows);
    for (at, e) in manifest.files.knn.iter().enumerate() {
        let path = dir.join(&e.name);
        let (mut r, h) = Reader::open(&path, Kind::Knn, VERSION, file_bytes(e.records, 4 + 8 * k as u64))?;
        let records = e.records as usize;
        if h.records != e.records || h.a != k as u64 || records > n {
            return Err(mismatch(&path));
        }
        let rows = Array::<u32>::read(&mut r, records)?;
        let rows = rows.as_slice();
        // A base holds rows 0..; each patch rows already there, then the next ones.
        let mut next = table.n();
        for (at_record, &i) in rows.iter().enumerate() {
            let i = i as usize;
            let in_order = if at == 0 { i == at_record } else { i <= next };
            if !in_order || i >= n {
                return Err(Error::format(&path, "records out of order; the state is damaged"));
            }
            next = next.max(i + 1);
        }
        let ids = Array::read(&mut r, records * k)?;
        let sims = Array::read(&mut r, records * k)?;
        r.finish()?;
        if let Some(bad) = ids.as_slice().iter().find(|&&j| j != NONE && j as usize >= n) {
            return Err(Error::format(&path, format!("a k-NN row names row {bad} of {n}; the state is damaged")));
        }
        table.apply(rows, ids, sims);
    }
    if table.n() != n {
        return Err(Error::format(
            dir.join(MANIFEST),
            format!("damaged manifest: k-NN rows for {} of {n} rows", table.n()),
        ));
    }
    Ok(table)
}

fn write_nodes(
    dir: &Path,
    g: u64,
    modules: &[u32],
    clusters: &[u32],
    rates: &Rates,
    files: &mut Vec<AtomicFile>,
) -> Result<FileEntry> {
    let name = format!("nodes-{g}.bin");
    let n = modules.len() as u64;
    let mut w = Writer::create(&dir.join(&name), header(Kind::Nodes, g, n, 0, 0))?;
    w.put(modules)?;
    w.put(clusters)?;
    for array in rates.arrays() {
        w.put(array)?;
    }
    files.push(w.finish()?);
    Ok(entry(name, n, file_bytes(n, 8 + 5 * 8)))
}

fn read_nodes(dir: &Path, manifest: &Manifest) -> Result<(Vec<u32>, Vec<u32>, Rates)> {
    let e = &manifest.files.nodes;
    let path = dir.join(&e.name);
    let n = manifest.rows;
    let (mut r, h) = Reader::open(&path, Kind::Nodes, VERSION, file_bytes(e.records, 8 + 5 * 8))?;
    if h.records != n as u64 || e.records != n as u64 {
        return Err(mismatch(&path));
    }
    let (mut modules, mut clusters) = (vec![0u32; n], vec![0u32; n]);
    r.get_into(&mut modules)?;
    r.get_into(&mut clusters)?;
    let mut arrays: Vec<Vec<f64>> = (0..5).map(|_| vec![0f64; n]).collect();
    for array in &mut arrays {
        r.get_into(array)?;
    }
    r.finish()?;
    let [rate, residual, out_weight, self_weight, inflow]: [Vec<f64>; 5] =
        arrays.try_into().expect("five arrays were made");
    let parts = RatesParts { rate, residual, out_weight, self_weight, inflow };
    let p = &manifest.params;
    let rates = Rates::from_parts(parts, p.flow, p.teleportation_probability)
        .map_err(|problem| Error::format(&path, format!("{problem}; the state is damaged")))?;
    Ok((modules, clusters, rates))
}

fn write_quantizer(dir: &Path, g: u64, q: &Quantizer, files: &mut Vec<AtomicFile>) -> Result<FileEntry> {
    let name = format!("quantizer-{g}.bin");
    let nlist = q.nlist();
    let probes: Vec<u32> = (0..nlist).flat_map(|c| q.probe_set(c).iter().copied()).collect();
    let mut offsets = vec![0u32];
    for c in 0..nlist {
        offsets.push(offsets[c] + q.probe_set(c).len() as u32);
    }
    let mut w = Writer::create(
        &dir.join(&name),
        header(Kind::Quantizer, g, nlist as u64, q.dim() as u64, probes.len() as u64),
    )?;
    w.put(q.centroids())?;
    w.put(&offsets)?;
    w.put(&probes)?;
    files.push(w.finish()?);
    let bytes = file_bytes(nlist as u64, q.dim() as u64 * 4 + 4) + 4 + probes.len() as u64 * 4;
    Ok(entry(name, nlist as u64, bytes))
}

fn read_quantizer(dir: &Path, e: &FileEntry, dim: usize, lists: Vec<u32>, seconds: Vec<u32>) -> Result<Quantizer> {
    let path = dir.join(&e.name);
    let nlist = e.records as usize;
    let (mut r, h) = Reader::open(&path, Kind::Quantizer, VERSION, e.bytes)?;
    let probe_count = h.b;
    let expected = file_bytes(e.records, dim as u64 * 4 + 4) + 4 + probe_count * 4;
    if h.records != e.records || h.a != dim as u64 || expected != e.bytes {
        return Err(mismatch(&path));
    }
    let (mut centroids, mut offsets, mut probes): (Vec<f32>, Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new(), Vec::new());
    r.get(nlist * dim, &mut centroids)?;
    r.get(nlist + 1, &mut offsets)?;
    r.get(probe_count as usize, &mut probes)?;
    r.finish()?;
    let broken = offsets.first() != Some(&0)
        || offsets.windows(2).any(|w| w[0] > w[1])
        || offsets.last().map(|&o| o as u64) != Some(probe_count);
    if broken {
        return Err(Error::format(&path, "probe sets out of order; the state is damaged"));
    }
    let sets: Vec<Vec<u32>> = offsets.windows(2).map(|w| probes[w[0] as usize..w[1] as usize].to_vec()).collect();
    Quantizer::new(dim, centroids, &sets, lists, seconds)
        .map_err(|problem| Error::format(&path, format!("{problem}; the state is damaged")))
}

#[cfg(test)]
mod tests;
