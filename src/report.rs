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
//!   "device": {"requested": "auto", "used": "cpu", "backend": "faiss", "fallback": null,
//!              "gpu": null, "gpu_search": null},
//!   "knn_speed": {"build_flops": 1.1e12, "build_gflops": 101.2, "search_flops": 6.0e11,
//!                 "search_gflops": 120.5},
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
//! runs (null without OpenBLAS). `knn_speed` ([`KnnSpeed`]) is how fast the search's matrix
//! products ran: the floating-point operations of the build (the quantizer of `IVFJoin`) and
//! of the search (`2 d` per pair of rows compared), and those per second of
//! `knn_build` and of the rest of `knn`, in GFLOPS, to set beside the `sgemm` peak of the
//! machine (`bench/scale/sgemm.c`, docs/scale.md); a field is null where the index does not
//! count its work (faiss's IVF and HNSW, the build of `Flat`), the whole object with a cached
//! table. `recall` is the [`Recall`] object of `--check-recall`:
//!
//! ```text
//! {"sample_rows": 1000, "seed": 123, "k": 50, "min_sim": 0.58, "topk_recall": 0.97,
//!  "exact_kept_links": 30121, "found_kept_links": 29987, "kept_link_recall": 0.9956}
//! ```
//!
//! With `--min-sim auto`, `min_sim` is the value picked, `min_sim_auto` is true, and
//! `params.auto_rule` names the rule. Under the `best` preset's rule (`valley`), `auto_min_sim`
//! says what it was read from ([`AutoMinSim`]: `{"min_sim": 0.954, "merges": 6877,
//! "components": 3472, "bandwidth": 0.0016, "valley_ratio": 0.43}`). Under the default's
//! (`robust`), `min_sim_choice` does ([`MinSimChoice`]), also when `--min-sim` was given and the
//! strategy needs its bandwidth:
//!
//! ```text
//! "min_sim_choice": {"min_sim": 0.4996, "chosen_by": "link", "merge_valley": 0.4587,
//!                    "link_valley": 0.4996, "skipped": [{"min_sim": 0.9554, "alone_share": 0.65}],
//!                    "merges": 19999, "link_sample": 2000000, "merge_bandwidth": 0.0151,
//!                    "bandwidth": 0.0151, "alone_share": 0.01},
//! "refine": {"merges": 0, "attached": 1, "attach_skipped": false, "far_min_sim": 0.6497,
//!            "reach_share": 0.02, "alone_share": 0.01},
//! "min_sim_decided": true,
//! "notes": ["min_sim 0.4996 from the link valley (merge valley at 0.4587)"],
//! "warnings": ["a valley at 0.9554 made of near-duplicates (65% of rows alone there) was ignored"]
//! ```
//!
//! `refine` says what the steps after Infomap did (clusters merged, lonely rows attached) and
//! what the two-tier graph saw (its far threshold, the share of rows linked as far as the
//! table reaches). `notes` and `warnings` are the lines the summary prints: a warning says the
//! data gave no clear answer and which option to set by hand.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cluster::{Clustering, Refined};
use crate::config::{AutoRule, EdgeConfig, InputConfig, KnnConfig, Lonely, MinSim, RunConfig};
use crate::infomap::{FlowModel, Partition};
use crate::knn::{DeviceReport, Recall, SearchStats};
use crate::measure::peak_rss_bytes;
use crate::metrics::Scores;
use crate::threshold::{AutoMinSim, ChosenBy, MinSimChoice, MAX_ALONE};

/// Above this share of rows linked as far as their last slot, the summary warns that some
/// identities may hold more rows than `k`.
pub const MAX_REACH_SHARE: f64 = 0.2;

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
    /// How `min_sim` was picked, when it was (`--min-sim auto`) with the `valley` rule.
    pub auto_min_sim: Option<AutoMinSim>,
    /// How the `robust` rule picked `min_sim` (or would have, when it was given or picked by
    /// the `valley` rule and the strategy needed the rule's bandwidth).
    pub min_sim_choice: Option<MinSimChoice>,
    /// Whether `min_sim_choice` is the threshold used.
    pub min_sim_decided: bool,
    /// What the steps after Infomap did.
    pub refine: RefineReport,
    /// Lines on what was chosen and why.
    pub notes: Vec<String>,
    /// One line each where the data gave no clear answer.
    pub warnings: Vec<String>,
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
    /// Where the search ran (`null` with a cached table).
    pub device: Option<DeviceReport>,
    /// How fast the search's products ran, when it searched (not with a cached table).
    pub knn_speed: Option<KnnSpeed>,
    /// Edge recall of the search on a sample of rows (`--check-recall`).
    pub recall: Option<Recall>,
    /// Scores against ground truth, when given.
    pub eval: Option<Scores>,
}

/// What the steps after Infomap did ([`Refined`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefineReport {
    /// Pairs of clusters merged.
    pub merges: usize,
    /// Lonely rows attached to their nearest row's cluster.
    pub attached: usize,
    /// Whether attaching was skipped (most rows alone).
    pub attach_skipped: bool,
    /// The two-tier graph's far threshold.
    pub far_min_sim: Option<f32>,
    /// Share of rows with a link in their last slot (two-tier graph).
    pub reach_share: Option<f64>,
    /// Share of rows with no neighbour at or above `min_sim`.
    pub alone_share: f64,
}

impl From<Refined> for RefineReport {
    fn from(r: Refined) -> Self {
        RefineReport {
            merges: r.merges,
            attached: r.attached,
            attach_skipped: r.attach_skipped,
            far_min_sim: r.far_min_sim,
            reach_share: r.reach_share,
            alone_share: r.alone_share,
        }
    }
}

/// The work of a k-NN search and its speed: how far from the machine's `sgemm` peak it ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnnSpeed {
    /// Floating-point operations of the build's products (quantizer training and assignment).
    pub build_flops: Option<f64>,
    /// `build_flops` per second of `knn_build`, in 10^9.
    pub build_gflops: Option<f64>,
    /// Useful floating-point operations of the search: `2 d` per pair of rows compared.
    pub search_flops: Option<f64>,
    /// `search_flops` per second of the search (`knn` less `knn_build`), in 10^9.
    pub search_gflops: Option<f64>,
}

impl KnnSpeed {
    /// What `stats` says of the search's work.
    pub fn new(stats: &SearchStats) -> Self {
        KnnSpeed {
            build_flops: stats.build_flops,
            build_gflops: stats.build_gflops(),
            search_flops: stats.search_flops,
            search_gflops: stats.search_gflops(),
        }
    }
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

/// The inputs of a run (of the main job or a sweep).
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

impl InputReport {
    /// The inputs `input` names, of `n` rows of `dim` values (unknown with a cached table).
    pub fn new(input: &InputConfig, n: usize, dim: Option<usize>) -> Self {
        let show = |p: Option<&std::path::PathBuf>| p.map(|p| p.display().to_string());
        InputReport {
            features: show(input.features_path()),
            knn_cache: show(input.knn_cache()),
            labels: show(input.truth.as_ref()),
            n,
            dim,
        }
    }
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
    /// The rule that picks it (`valley` or `robust`), when picked.
    pub auto_rule: Option<AutoRule>,
    /// Share at which clusters are merged ([`crate::labels::merge_clusters`]), if they are.
    pub merge_share: Option<f32>,
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

impl InfomapReport {
    /// What `partition` says of itself.
    pub fn new(p: &Partition) -> Self {
        InfomapReport {
            modules: p.num_modules,
            codelength_bits: p.codelength,
            index_codelength_bits: p.index_codelength,
            module_codelength_bits: p.module_codelength,
            one_level_codelength_bits: p.one_level_codelength,
            flow_iterations: p.flow_iterations,
            trial_codelengths_bits: p.trial_codelengths.clone(),
            best_trial: p.best_trial,
        }
    }
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
    /// Writing the saved clustering (`--save`; 0 without).
    pub save: f64,
    /// The whole run.
    pub total: f64,
}

impl Report {
    /// The report of a run of `config` whose search ran as `knn` says (`auto` resolved; the
    /// option's value with a cached table), which kept links at `min_sim` and clustered as
    /// `clustering` says. The stages before the graph (`load`, `knn`, `recall`, `min_sim`), the
    /// total time, the recall and the peak memory of the earlier stages are left for the caller.
    pub fn new(
        config: &RunConfig,
        knn: &KnnConfig,
        min_sim: f32,
        auto_min_sim: Option<AutoMinSim>,
        input: InputReport,
        clustering: &Clustering,
    ) -> Self {
        let c = clustering;
        Report {
            tool: "face-cluster".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            input,
            params: ParamsReport {
                k: knn.k.get(),
                min_sim,
                min_sim_auto: config.min_sim == MinSim::Auto,
                auto_rule: (config.min_sim == MinSim::Auto).then_some(config.strategy.auto_rule),
                merge_share: config.strategy.merge.map(|m| m.get()),
                index: knn.index.clone(),
                nprobe: knn.nprobe.map(|p| p.get()),
                ef_search: knn.ef_search.map(|e| e.get()),
                normalize: config.input.load.normalize,
                edges: config.strategy.edges,
                flow: config.strategy.flow,
                lonely: config.strategy.lonely,
                trials: config.optimizer.trials.get(),
                seed: config.optimizer.seed,
                threads: rayon::current_num_threads(),
            },
            auto_min_sim,
            min_sim_choice: None,
            min_sim_decided: false,
            refine: c.refined.into(),
            notes: Vec::new(),
            warnings: Vec::new(),
            graph: GraphReport { links: c.links, nodes_without_links: c.nodes_without_links },
            infomap: InfomapReport::new(&c.partition),
            clusters: c.counts.clusters,
            singleton_clusters: c.counts.singletons,
            largest_cluster: c.counts.largest,
            timings_secs: Timings {
                graph: c.graph_stage.secs,
                infomap: c.infomap_stage.secs,
                infomap_flow: c.partition.flow_secs,
                infomap_search: c.partition.search_secs,
                labels: c.labels_secs,
                eval: c.eval_secs,
                ..Timings::default()
            },
            peak_rss_bytes: peak_rss_bytes(),
            peak_rss_bytes_by_stage: StagePeakRss {
                graph: c.graph_stage.peak_rss,
                infomap: c.infomap_stage.peak_rss,
                ..StagePeakRss::default()
            },
            blas_core: crate::blas::openblas_core(),
            device: None,
            knn_speed: None,
            recall: None,
            eval: c.eval.clone(),
        }
    }

    /// Records the `robust` rule's choice, and writes the notes and warnings: `fitted_k` is
    /// `(asked, used)` when `k` was lowered to fit the input.
    pub fn set_choice(
        &mut self,
        config: &RunConfig,
        choice: Option<MinSimChoice>,
        fitted_k: Option<(usize, usize)>,
        clustering: &Clustering,
    ) {
        let (notes, warnings) = (&mut self.notes, &mut self.warnings);
        let t = self.params.min_sim;
        if let Some((asked, used)) = fitted_k {
            notes.push(format!("k lowered from {asked} to {used}: the input has {} rows", self.input.n));
        }
        // Whether the robust rule's choice is the threshold used (else it only gave the attach
        // window's bandwidth).
        let decided = config.min_sim == MinSim::Auto && config.strategy.auto_rule == AutoRule::Robust;
        self.min_sim_decided = decided;
        if let Some(c) = &choice {
            let merge = c.merge_valley.map_or("none".to_string(), |m| format!("{m:.4}"));
            let link = c.link_valley.map_or("none".to_string(), |l| format!("{l:.4}"));
            if !decided {
                let how = if config.min_sim == MinSim::Auto { "picked by the valley rule" } else { "given" };
                notes.push(format!("min_sim {t} {how}; the default rule would pick {:.4}", c.min_sim));
            } else {
                match c.chosen_by {
                    ChosenBy::Fallback => warnings.push(format!(
                        "no clear threshold in the data; min_sim {:.4} is the deepest dip; set --min-sim",
                        c.min_sim
                    )),
                    ChosenBy::Link if c.merge_valley.is_some() => {
                        notes.push(format!("min_sim {:.4} from the link valley (merge valley at {merge})", c.min_sim))
                    }
                    ChosenBy::Link | ChosenBy::Merge => notes.push(format!(
                        "min_sim {:.4} from the {} valley (merge valley {merge}, link valley {link})",
                        c.min_sim,
                        if c.chosen_by == ChosenBy::Link { "link" } else { "merge" }
                    )),
                }
            }
            for v in c.skipped.iter().filter(|_| decided) {
                warnings.push(format!(
                    "a valley at {:.4} made of near-duplicates ({:.0}% of rows alone there) was ignored",
                    v.min_sim,
                    100.0 * v.alone_share
                ));
            }
        }
        let r = &clustering.refined;
        if r.alone_share > MAX_ALONE {
            warnings.push(format!(
                "{:.0}% of rows have no neighbour above min_sim {t:.4}; if few photos are of one-off people, set --min-sim lower",
                100.0 * r.alone_share
            ));
        }
        if let Some(share) = r.reach_share.filter(|&s| s > MAX_REACH_SHARE) {
            warnings.push(format!(
                "{:.0}% of rows are linked up to their {}th neighbour: some people have more photos than k; a larger --k may join their clusters",
                100.0 * share,
                self.params.k - 1
            ));
        }
        self.min_sim_choice = choice;
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
        if let Some(c) = &self.min_sim_choice {
            let r = &self.refine;
            let far = r.far_min_sim.map(|f| format!(", far tier {f:.4}")).unwrap_or_default();
            let chosen = if self.min_sim_decided {
                format!("chosen: {}", c.chosen_by.describe())
            } else {
                "not used".to_string()
            };
            let _ = writeln!(
                s,
                "min_sim rule: merge valley {}, link valley {}, {chosen}{far}, h {:.4}",
                c.merge_valley.map_or("none".to_string(), |m| format!("{m:.4}")),
                c.link_valley.map_or("none".to_string(), |l| format!("{l:.4}")),
                c.bandwidth,
            );
        }
        let default_edges = EdgeConfig::default();
        if p.edges != default_edges || p.lonely != Lonely::default() || p.merge_share.is_some() {
            let _ = writeln!(
                s,
                "strategy: links {}, weights {}, rows alone: {}{}",
                p.edges.pruning.name(),
                p.edges.weighting.name(),
                p.lonely.name(),
                match p.merge_share {
                    Some(m) =>
                        format!(", merge at {m:.2}: {} merged, {} attached", self.refine.merges, self.refine.attached),
                    None => String::new(),
                }
            );
        }
        let _ = writeln!(
            s,
            "infomap ({}): {} modules, codelength {:.6} bits (one module: {:.6})",
            p.flow, self.infomap.modules, self.infomap.codelength_bits, self.infomap.one_level_codelength_bits
        );
        let _ = writeln!(
            s,
            "{} clusters ({} of one row), largest {}",
            self.clusters, self.singleton_clusters, self.largest_cluster
        );
        if let Some(e) = &self.eval {
            let _ = writeln!(s, "{}", e.line());
        }
        if let Some(r) = &self.recall {
            let _ = writeln!(s, "{}", r.summary());
        }
        if let Some(line) = self.device.as_ref().and_then(DeviceReport::summary) {
            let _ = writeln!(s, "{line}");
        }
        for note in &self.notes {
            let _ = writeln!(s, "note: {note}");
        }
        for warning in &self.warnings {
            let _ = writeln!(s, "warning: {warning}");
        }
        let t = &self.timings_secs;
        let rss = self.peak_rss_bytes.map(|b| format!(", peak RSS {:.0} MiB", b as f64 / (1 << 20) as f64));
        let picking = if p.min_sim_auto { format!(", min_sim {:.2}s", t.min_sim) } else { String::new() };
        let speed = match self.knn_speed.as_ref().and_then(|k| k.search_gflops) {
            Some(gflops) => format!(" (search {gflops:.0} GFLOPS)"),
            None => String::new(),
        };
        let _ = write!(
            s,
            "time: load {:.2}s, knn {:.2}s{speed}{picking}, graph {:.2}s, infomap {:.2}s, total {:.2}s{}",
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

/// The report of `face-cluster infomap`: Infomap on a link list, as one JSON object
/// (`--json`):
///
/// ```text
/// {"tool": "face-cluster", "version": "0.1.0", "links_file": "net.txt", "nodes": 400,
///  "links": 7229, "non_trivial_modules": 40,
///  "infomap": {"modules": 40, "codelength_bits": 3.37, "index_codelength_bits": 1.1, ...},
///  "timings_secs": {"read": 0.01, "flow": 0.01, "search": 0.02},
///  "peak_rss_bytes": 12582912}
/// ```
///
/// `infomap` is the [`InfomapReport`] object of the main job's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkReport {
    /// Always `face-cluster`.
    pub tool: String,
    /// Version of the tool that wrote the report.
    pub version: String,
    /// The link list read.
    pub links_file: String,
    /// Nodes of the network.
    pub nodes: usize,
    /// Links read.
    pub links: usize,
    /// Modules of more than one node.
    pub non_trivial_modules: usize,
    /// The partition.
    pub infomap: InfomapReport,
    /// Seconds per stage.
    pub timings_secs: NetworkTimings,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: Option<u64>,
}

/// Seconds per stage of `face-cluster infomap`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkTimings {
    /// Reading the link list.
    pub read: f64,
    /// Infomap's flow calculation.
    pub flow: f64,
    /// Infomap's search.
    pub search: f64,
}

impl NetworkReport {
    /// One line: the network, the partition and the time it took.
    pub fn summary(&self) -> String {
        let (i, t) = (&self.infomap, &self.timings_secs);
        format!(
            "{} nodes, {} links: {} modules ({} non-trivial), codelength {:.10} bits (one-level {:.10}); \
             read {:.2}s, flow {:.2}s ({} iterations), search {:.2}s",
            self.nodes,
            self.links,
            i.modules,
            self.non_trivial_modules,
            i.codelength_bits,
            i.one_level_codelength_bits,
            t.read,
            t.flow,
            i.flow_iterations,
            t.search,
        )
    }
}
