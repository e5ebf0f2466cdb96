//! The run report: what was run, on what, how long each stage took, how much memory it used and
//! how good the result is.
//!
//! [`Report`] serialises to one JSON object (`--report FILE.json`), with snake_case keys and
//! units in the names:
//!
//! ```text
//! {
//!   "tool": "face-cluster", "version": "0.1.0",
//!   "input": {"features": "feats.npy", "knn_cache": null, "labels": "gt.meta", "n": 400, "dim": 128},
//!   "params": {"k": 50, "min_sim": 0.58, "min_sim_auto": false, "index": "Flat", "nprobe": null,
//!              "ef_search": null, "normalize": true,
//!              "edges": {"pruning": "threshold", "weighting": "sim", "min_snn": 0.2, "min_cut_z": 3.0},
//!              "flow": "directed", "lonely": "own", "trials": 1, "seed": 123, "threads": 2},
//!   "auto_min_sim": null,
//!   "graph": {"links": 11432, "nodes_without_links": 3},
//!   "infomap": {"modules": 41, "codelength_bits": 7.05, "index_codelength_bits": 0.9,
//!               "module_codelength_bits": 6.1, "one_level_codelength_bits": 8.6,
//!               "flow_iterations": 180, "trial_codelengths_bits": [7.05], "best_trial": 0},
//!   "clusters": 43, "singleton_clusters": 5, "largest_cluster": 12,
//!   "timings_secs": {"load": 0.01, "knn": 0.05, "knn_build": 0.0, "recall": 0.0, "min_sim": 0.0,
//!                    "graph": 0.0, "infomap": 0.02, "infomap_flow": 0.01, "infomap_search": 0.01,
//!                    "labels": 0.0, "eval": 0.0, "total": 0.09},
//!   "peak_rss_bytes": 31457280,
//!   "peak_rss_bytes_by_stage": {"load": 9437184, "knn": 20971520, "recall": null, "graph": 22020096,
//!                               "infomap": 31457280},
//!   "blas_core": "Haswell",
//!   "recall": null,
//!   "eval": {"pairwise": {"precision": .., "recall": .., "f": ..}, "bcubed": {..}, "nmi": ..,
//!            "pred_clusters": 43, "true_clusters": 40, "n": 400}
//! }
//! ```
//!
//! `params.index` is the index the search used: `--index auto` appears resolved (`Flat`, or
//! `IVF<nlist>,Flat` with its `nprobe`), and with a cached k-NN table it is the option's value
//! (no search ran). `nprobe` and `ef_search` are null where faiss's own default applied.
//! `dim` is null when the k-NN table came from a cache, `eval` when no ground truth was given,
//! `peak_rss_bytes` on platforms that do not report it. `timings_secs.knn` includes
//! `knn_build` (training and filling the index). `peak_rss_bytes_by_stage` holds the peak
//! within each stage (Linux, where the high-water mark can be reset between stages; else the
//! peak so far), null for stages that did not run. `blas_core` is the kernel set OpenBLAS
//! runs (null without OpenBLAS). `recall` is the [`Recall`] object of `--check-recall`:
//!
//! ```text
//! {"sample_rows": 1000, "seed": 123, "k": 50, "min_sim": 0.58, "topk_recall": 0.97,
//!  "exact_kept_links": 30121, "found_kept_links": 29987, "kept_link_recall": 0.9956}
//! ```
//!
//! With `--min-sim auto`, `min_sim` is the value picked, `min_sim_auto` is true and
//! `auto_min_sim` says what it was read from ([`AutoMinSim`]: `{"min_sim": 0.954, "merges": 6877,
//! "components": 3472, "bandwidth": 0.0016, "valley_ratio": 0.43}`).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::edges::EdgeConfig;
use crate::infomap::FlowModel;
use crate::knn::Recall;
use crate::lonely::Lonely;
use crate::metrics::Scores;
use crate::pipeline::RunConfig;
use crate::strategy::MinSim;
use crate::threshold::AutoMinSim;

/// The report of one run of the main job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Always `face-cluster`.
    pub tool: String,
    /// Version of the tool that wrote the report.
    pub version: String,
    /// The inputs.
    pub input: InputReport,
    /// Every parameter that affects the result.
    pub params: ParamsReport,
    /// How `min_sim` was picked, when it was (`--min-sim auto`).
    pub auto_min_sim: Option<AutoMinSim>,
    /// The pruned k-NN graph.
    pub graph: GraphReport,
    /// The Infomap partition.
    pub infomap: InfomapReport,
    /// Number of clusters in the output.
    pub clusters: usize,
    /// Clusters of one row.
    pub singleton_clusters: usize,
    /// Rows in the largest cluster.
    pub largest_cluster: usize,
    /// Seconds per stage.
    pub timings_secs: Timings,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: Option<u64>,
    /// Peak resident memory within each stage.
    pub peak_rss_bytes_by_stage: StagePeakRss,
    /// The core OpenBLAS selected, when OpenBLAS is the BLAS.
    pub blas_core: Option<String>,
    /// Edge recall of the search on a sample of rows (`--check-recall`).
    pub recall: Option<Recall>,
    /// Scores against ground truth, when given.
    pub eval: Option<Scores>,
}

/// Peak resident memory (bytes) within each stage; `None` for a stage that did not run (or a
/// platform that does not tell).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagePeakRss {
    /// Reading the features or the cached table.
    pub load: Option<u64>,
    /// The k-NN search, index build included.
    pub knn: Option<u64>,
    /// The recall check.
    pub recall: Option<u64>,
    /// Building the graph.
    pub graph: Option<u64>,
    /// Infomap.
    pub infomap: Option<u64>,
}

/// Measures the peak resident memory of the process stage by stage.
///
/// On Linux, writing `5` to `/proc/self/clear_refs` resets the high-water mark (`VmHWM`) to
/// the current resident size, so the mark read at a stage's end is the peak within the stage.
/// The process-wide peak is kept across the resets. Where the reset is refused, each stage's
/// value is the peak so far.
#[derive(Debug)]
pub struct RssMeter {
    overall: Option<u64>,
}

impl Default for RssMeter {
    fn default() -> Self {
        Self::new()
    }
}

impl RssMeter {
    /// A meter holding the peak so far.
    pub fn new() -> Self {
        RssMeter { overall: peak_rss_bytes() }
    }

    /// A stage begins: folds the peak so far into the overall peak and resets the mark.
    pub fn begin(&mut self) {
        self.overall = max_option(self.overall, peak_rss_bytes());
        let _ = std::fs::write("/proc/self/clear_refs", "5");
    }

    /// The stage ends: its peak.
    pub fn end(&mut self) -> Option<u64> {
        let peak = peak_rss_bytes();
        self.overall = max_option(self.overall, peak);
        peak
    }

    /// The process's peak over every stage and before.
    pub fn overall(&mut self) -> Option<u64> {
        self.overall = max_option(self.overall, peak_rss_bytes());
        self.overall
    }
}

fn max_option(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The inputs of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputReport {
    /// Feature file, if read.
    pub features: Option<String>,
    /// Cached k-NN table, if used.
    pub knn_cache: Option<String>,
    /// Ground-truth labels, if given.
    pub labels: Option<String>,
    /// Rows.
    pub n: usize,
    /// Feature dimension (unknown with a cached k-NN table).
    pub dim: Option<usize>,
}

/// Parameters that affect the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamsReport {
    /// Neighbours per row, self included.
    pub k: usize,
    /// Similarity threshold used (given, or picked).
    pub min_sim: f32,
    /// Whether it was picked from the data.
    pub min_sim_auto: bool,
    /// faiss index string of the search (`auto` resolved).
    pub index: String,
    /// Lists an IVF search probed (null: faiss's default, or no IVF).
    pub nprobe: Option<usize>,
    /// HNSW candidate list size (null: faiss's default, or no HNSW).
    pub ef_search: Option<usize>,
    /// Whether rows were L2-normalised.
    pub normalize: bool,
    /// Which links were kept and how they were weighted.
    pub edges: EdgeConfig,
    /// Flow model.
    pub flow: FlowModel,
    /// What became of rows left alone.
    pub lonely: Lonely,
    /// Infomap trials.
    pub trials: usize,
    /// Seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
}

/// The pruned graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphReport {
    /// Directed links kept.
    pub links: usize,
    /// Rows left without any out-link (each becomes its own cluster).
    pub nodes_without_links: usize,
}

/// The Infomap partition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfomapReport {
    /// Modules found (before rows without links are split off).
    pub modules: usize,
    /// Two-level codelength.
    pub codelength_bits: f64,
    /// Its index codebook part.
    pub index_codelength_bits: f64,
    /// Its module codebooks part.
    pub module_codelength_bits: f64,
    /// Codelength with one module.
    pub one_level_codelength_bits: f64,
    /// Power iterations of the flow.
    pub flow_iterations: usize,
    /// Codelength of each trial.
    pub trial_codelengths_bits: Vec<f64>,
    /// The trial kept.
    pub best_trial: usize,
}

/// Seconds per stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timings {
    /// Reading features (or the k-NN cache).
    pub load: f64,
    /// k-NN search, index build included.
    pub knn: f64,
    /// Of `knn`, training and filling the index.
    pub knn_build: f64,
    /// The recall check.
    pub recall: f64,
    /// Picking `min_sim` (0 when given).
    pub min_sim: f64,
    /// Pruning into the graph.
    pub graph: f64,
    /// Infomap, flow and search.
    pub infomap: f64,
    /// Infomap's flow calculation.
    pub infomap_flow: f64,
    /// Infomap's search.
    pub infomap_search: f64,
    /// Numbering clusters.
    pub labels: f64,
    /// Evaluation.
    pub eval: f64,
    /// The whole run.
    pub total: f64,
}

impl Report {
    /// Assembles the report of a finished run.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &RunConfig,
        min_sim: f32,
        auto_min_sim: Option<AutoMinSim>,
        n: usize,
        dim: Option<usize>,
        graph: GraphReport,
        infomap: InfomapReport,
        labels: &[u32],
        eval: Option<Scores>,
        timings_secs: Timings,
    ) -> Self {
        let clusters = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
        let mut sizes = vec![0usize; clusters];
        labels.iter().for_each(|&l| sizes[l as usize] += 1);
        let show = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
        Report {
            tool: "face-cluster".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            input: InputReport {
                features: if config.knn_cache.is_some() { None } else { show(&config.features) },
                knn_cache: show(&config.knn_cache),
                labels: show(&config.truth),
                n,
                dim,
            },
            params: ParamsReport {
                k: config.knn.k,
                min_sim,
                min_sim_auto: config.min_sim == MinSim::Auto,
                index: config.knn.index.clone(),
                nprobe: config.knn.nprobe,
                ef_search: config.knn.ef_search,
                normalize: config.load.normalize,
                edges: config.edges,
                flow: config.infomap.flow_model,
                lonely: config.lonely,
                trials: config.infomap.trials,
                seed: config.infomap.seed,
                threads: rayon::current_num_threads(),
            },
            auto_min_sim,
            graph,
            infomap,
            clusters,
            singleton_clusters: sizes.iter().filter(|&&s| s == 1).count(),
            largest_cluster: sizes.first().copied().unwrap_or(0),
            timings_secs,
            peak_rss_bytes: peak_rss_bytes(),
            peak_rss_bytes_by_stage: StagePeakRss::default(),
            blas_core: crate::blas::openblas_core(),
            recall: None,
            eval,
        }
    }

    /// A short human summary, a few lines.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let p = &self.params;
        let dim = self.input.dim.map(|d| format!(" x {d}")).unwrap_or_default();
        let auto = match &self.auto_min_sim {
            Some(a) => format!(
                " (auto: valley of {} merge heights, {} components there{})",
                a.merges,
                a.components,
                if a.valley_ratio > crate::threshold::MAX_VALLEY_RATIO {
                    "; no clear valley, every link kept"
                } else {
                    ""
                }
            ),
            None => String::new(),
        };
        let _ = writeln!(
            s,
            "{} rows{dim}, k={} min_sim={}{auto}: {} links kept, {} rows without links",
            self.input.n, p.k, p.min_sim, self.graph.links, self.graph.nodes_without_links
        );
        let default_edges = EdgeConfig::default();
        if p.edges != default_edges || p.lonely != Lonely::default() {
            let _ = writeln!(
                s,
                "strategy: links {}, weights {}, rows alone: {}",
                p.edges.pruning.name(),
                p.edges.weighting.name(),
                p.lonely.name()
            );
        }
        let _ = writeln!(
            s,
            "infomap ({:?}): {} modules, codelength {:.6} bits (one module: {:.6})",
            p.flow, self.infomap.modules, self.infomap.codelength_bits, self.infomap.one_level_codelength_bits
        );
        let _ = writeln!(
            s,
            "{} clusters ({} of one row), largest {}",
            self.clusters, self.singleton_clusters, self.largest_cluster
        );
        if let Some(e) = &self.eval {
            let _ = writeln!(
                s,
                "pairwise F {:.4} (P {:.4} R {:.4}), BCubed F {:.4} (P {:.4} R {:.4}), NMI {:.4}; {} true clusters",
                e.pairwise.f,
                e.pairwise.precision,
                e.pairwise.recall,
                e.bcubed.f,
                e.bcubed.precision,
                e.bcubed.recall,
                e.nmi,
                e.true_clusters
            );
        }
        if let Some(r) = &self.recall {
            let _ = writeln!(s, "{}", r.summary());
        }
        let t = &self.timings_secs;
        let rss = self.peak_rss_bytes.map(|b| format!(", peak RSS {:.0} MiB", b as f64 / (1 << 20) as f64));
        let picking = if p.min_sim_auto { format!(", min_sim {:.2}s", t.min_sim) } else { String::new() };
        let _ = write!(
            s,
            "time: load {:.2}s, knn {:.2}s{picking}, graph {:.2}s, infomap {:.2}s, total {:.2}s{}",
            t.load,
            t.knn,
            t.graph,
            t.infomap,
            t.total,
            rss.unwrap_or_default()
        );
        s
    }
}

/// Peak resident set size of this process so far, in bytes (Linux `VmHWM`); `None` where the
/// platform does not tell.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn peak_rss_is_known_on_linux() {
        let rss = super::peak_rss_bytes().expect("VmHWM on Linux");
        assert!(rss > 1 << 20, "a test process uses more than 1 MiB: {rss}");
    }
}
