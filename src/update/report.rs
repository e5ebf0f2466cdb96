//! The report of `face-cluster add`: one JSON object (`--report FILE`) and a summary.
//!
//! ```text
//! {
//!   "tool": "face-cluster", "version": "0.1.0", "state": "state", "features": "new.npy",
//!   "labels": null, "generation": 3, "rows_before": 100000, "rows_added": 1000, "rows": 101000,
//!   "params": { ...the state's parameters (docs/state.md)... },
//!   "search": {"index": "IVFJoin512", "nprobe": 16, "compared_pairs": 6400000,
//!              "old_rows_relinked": 31000, "links_added": 52000, "links_removed": 20000},
//!   "flow": {"pushes": 900000, "rows_changed": 60000, "residual": 1e-3},
//!   "infomap": {"affected_rows": 33000, "active_rows": 48000, "active_modules": 700,
//!               "pinned_modules": 500, "start_codelength_bits": 11.31,
//!               "codelength_bits": 11.29, "modules": 1500},
//!   "drift": {"fresh_codelength_bits": 11.28, "drift": 0.0009, "kept": "update"},
//!   "rows_since_full": 3000,
//!   "clusters": {"clusters": 1550, "singleton_clusters": 40, "largest_cluster": 300,
//!                "touched": 700, "merged_by_share": 30, "attached_rows": 90,
//!                "attach_skipped": false, "new": 12, "new_ids": [1540, ...], "retired_ids": [...],
//!                "merges": [{"id": 17, "from": [[17, 80], [903, 3]]}],
//!                "splits": [{"id": 52, "into": [[52, 60], [1544, 9]]}], "moved_rows": 40},
//!   "timings_secs": {"load_state": .., "load": .., "search": .., "relink": .., "flow": ..,
//!                    "infomap": .., "drift": .., "labels": .., "eval": .., "write": .., "total": ..},
//!   "peak_rss_bytes": 123456789,
//!   "eval": null
//! }
//! ```
//!
//! `drift` is null unless `--check-drift` or `--full` ran the fresh optimisation; `drift` is
//! `(codelength - fresh) / fresh` of the local update, and `kept` says which partition the
//! state now holds (`update`, or `full` with `--full`). `eval` scores all rows against
//! `--labels`, as in the main job's report.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::ids::{Merge, Split};
use crate::metrics::Scores;
use crate::state::StateParams;

/// The report of one `add`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddReport {
    /// Always `face-cluster`.
    pub tool: String,
    /// Version of the tool.
    pub version: String,
    /// The state folder.
    pub state: String,
    /// The file of added rows.
    pub features: String,
    /// Ground truth of all rows, if given.
    pub labels: Option<String>,
    /// The generation written.
    pub generation: u64,
    /// Rows before.
    pub rows_before: usize,
    /// Rows added.
    pub rows_added: usize,
    /// Rows after.
    pub rows: usize,
    /// The state's parameters.
    pub params: StateParams,
    /// The search of the added rows.
    pub search: SearchReport,
    /// The flow update.
    pub flow: FlowReport,
    /// The re-optimisation.
    pub infomap: UpdateInfomapReport,
    /// The fresh optimisation it was compared with (`--check-drift`, `--full`).
    pub drift: Option<DriftReport>,
    /// Rows added since the whole partition was last optimised.
    pub rows_since_full: usize,
    /// The clusters and how they changed.
    pub clusters: ClusterChanges,
    /// Seconds per stage.
    pub timings_secs: AddTimings,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: Option<u64>,
    /// Scores against ground truth, when given.
    pub eval: Option<Scores>,
}

/// The search of the added rows against all rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchReport {
    /// The search, as saved: `Flat` (exact), `IVFJoin<nlist>`, or a faiss index (searched
    /// exactly here).
    pub index: String,
    /// Lists probed (`IVFJoin`).
    pub nprobe: Option<usize>,
    /// Pairs of rows compared.
    pub compared_pairs: u64,
    /// Old rows whose k-NN row an added row entered.
    pub old_rows_relinked: usize,
    /// Links added (of added rows, and of old rows to added rows).
    pub links_added: usize,
    /// Old rows' links pushed out of their k-NN rows.
    pub links_removed: usize,
}

/// The flow update ([`crate::infomap::Rates::settle`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowReport {
    /// Residual pushes.
    pub pushes: usize,
    /// Rows whose rate changed.
    pub rows_changed: usize,
    /// Residual carried to the next update, per unit of total link weight.
    pub residual: f64,
}

/// The warm-started re-optimisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateInfomapReport {
    /// Rows whose links changed, and the targets of the links they gained.
    pub affected_rows: usize,
    /// Rows allowed to move: the affected rows and all members of their modules.
    pub active_rows: usize,
    /// Modules re-optimised.
    pub active_modules: usize,
    /// Neighbouring modules, pinned.
    pub pinned_modules: usize,
    /// Codelength of the old partition (added rows alone) on the new network, bits.
    pub start_codelength_bits: f64,
    /// Codelength of the partition kept, bits.
    pub codelength_bits: f64,
    /// Modules.
    pub modules: usize,
}

/// The fresh optimisation of `--check-drift` and `--full`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftReport {
    /// Codelength of the whole partition re-optimised from the same start, bits.
    pub fresh_codelength_bits: f64,
    /// Codelength of the local update, bits.
    pub update_codelength_bits: f64,
    /// `(update - fresh) / fresh`.
    pub drift: f64,
    /// `update` or `full`: the partition kept.
    pub kept: String,
}

/// The clusters after the update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterChanges {
    /// Clusters.
    pub clusters: usize,
    /// Clusters of one row.
    pub singleton_clusters: usize,
    /// Rows of the largest.
    pub largest_cluster: usize,
    /// Old clusters with a row re-optimised or with an added row among its nearest two, or a
    /// lone row joined to others only now.
    pub touched: usize,
    /// Pairs of clusters the merge step joined ([`crate::labels::merge_clusters`]; 0 without it).
    pub merged_by_share: usize,
    /// Rows alone attached to their nearest row's cluster ([`crate::labels::attach_nearest`]).
    pub attached_rows: usize,
    /// Whether attaching was skipped because most rows have no neighbour at `min_sim`.
    pub attach_skipped: bool,
    /// Clusters that got new ids.
    pub new: usize,
    /// Their ids.
    pub new_ids: Vec<u32>,
    /// Old ids that no cluster continues (merged away).
    pub retired_ids: Vec<u32>,
    /// Clusters made of several old ones.
    pub merges: Vec<Merge>,
    /// Old clusters now in several clusters.
    pub splits: Vec<Split>,
    /// Old rows whose cluster id changed.
    pub moved_rows: usize,
}

/// Seconds per stage of `add`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddTimings {
    /// Reading the state.
    pub load_state: f64,
    /// Reading the added rows.
    pub load: f64,
    /// Searching them against all rows.
    pub search: f64,
    /// Updating k-NN rows and links.
    pub relink: f64,
    /// Updating the flow.
    pub flow: f64,
    /// The warm-started re-optimisation.
    pub infomap: f64,
    /// The fresh optimisation (`--check-drift`, `--full`).
    pub drift: f64,
    /// Cluster labels and ids.
    pub labels: f64,
    /// Scoring.
    pub eval: f64,
    /// Writing the state's new files (synced).
    pub write: f64,
    /// Start to end, the commit aside.
    pub total: f64,
}

impl AddReport {
    /// A few lines for stderr: what was added, what changed, the codelength and drift.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let sr = &self.search;
        let _ = writeln!(
            s,
            "added {} rows to {} (state {}, generation {}): {} old rows relinked, {} links added, {} removed",
            self.rows_added,
            self.rows_before,
            self.state,
            self.generation,
            sr.old_rows_relinked,
            sr.links_added,
            sr.links_removed
        );
        let i = &self.infomap;
        let _ = write!(
            s,
            "infomap (warm start): {} active rows in {} modules, {} pinned neighbours; codelength {:.6} bits (start {:.6})",
            i.active_rows, i.active_modules, i.pinned_modules, i.codelength_bits, i.start_codelength_bits
        );
        match &self.drift {
            Some(d) => {
                let _ = writeln!(
                    s,
                    "; fresh optimisation {:.6} bits, drift {:+.3}%, kept {}",
                    d.fresh_codelength_bits,
                    100.0 * d.drift,
                    d.kept
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "; drift not checked ({} rows added since the last full optimisation)",
                    self.rows_since_full
                );
            }
        }
        let c = &self.clusters;
        let _ = write!(
            s,
            "{} clusters ({} of one row), largest {}; {} touched, {} new, {} merges, {} splits, {} old rows moved",
            c.clusters,
            c.singleton_clusters,
            c.largest_cluster,
            c.touched,
            c.new,
            c.merges.len(),
            c.splits.len(),
            c.moved_rows
        );
        let t = &self.timings_secs;
        let _ = write!(
            s,
            "\ntimes: state {:.2}s, load {:.2}s, search {:.2}s, relink {:.2}s, flow {:.2}s, infomap {:.2}s, drift {:.2}s, labels {:.2}s, write {:.2}s, total {:.2}s",
            t.load_state, t.load, t.search, t.relink, t.flow, t.infomap, t.drift, t.labels, t.write, t.total
        );
        if let Some(e) = &self.eval {
            let _ = write!(s, "\n{}", e.line());
        }
        s
    }
}
