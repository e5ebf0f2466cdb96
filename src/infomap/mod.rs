//! Two-level Infomap: the map equation optimised natively.
//!
//! This module knows networks, not faces: it reads any [`LinkSource`] (a directed weighted
//! link list) and returns a [`Partition`] of its nodes into modules that minimises the
//! two-level map equation (Rosvall & Bergstrom, PNAS 2008). It follows the reference
//! implementation (mapequation/infomap 2.x run as `--two-level --directed`), as specified in
//! the project's `infomap.md`; section numbers (§) in the code refer to that document:
//!
//! - flow ([`FlowModel::Directed`]: PageRank with teleportation to links, unrecorded, as
//!   `--directed`; [`FlowModel::Undirected`]), §3;
//! - the map equation with enter flow in the index codebook and exit flow in the module
//!   codebooks, §4;
//! - the search: randomised sweeps of single-item moves, repeated aggregation into super-nodes,
//!   alternating fine-tune and coarse-tune rounds, the reference's thresholds and limits, §5-§6;
//! - independent trials, each seeded with `seed + t`, keeping the lowest codelength, §6.10.
//!
//! Bit-identical agreement with the reference is not a goal (its random number stream and
//! summation order differ); results are compared on codelength distributions over seeds.
//! Results here are deterministic for a given seed, whatever the number of threads: trials and
//! sub-problems run in parallel with rayon, but each has its own random stream and all
//! parallel sums use a fixed order.
//!
//! # Example
//!
//! ```
//! use face_cluster::infomap::{Infomap, InfomapConfig, Network};
//!
//! // Two triangles joined by one weak link each way.
//! let links = [(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (3, 4, 1.0), (4, 5, 1.0), (5, 3, 1.0),
//!              (2, 3, 0.2), (5, 0, 0.2)];
//! let network = Network::from_links(6, &links);
//! let partition = Infomap::new(InfomapConfig::default()).run(&network);
//! assert_eq!(partition.num_modules, 2);
//! assert_eq!(partition.modules[0], partition.modules[1]);
//! assert_ne!(partition.modules[0], partition.modules[3]);
//! ```

mod codelength;
mod flow;
mod network;
mod optimize;
mod rates;
mod tune;
mod warm;

use std::time::Instant;

use rayon::prelude::*;

pub use codelength::{plogp, Codelength};
pub use network::{LinkSource, Network};
pub use rates::{FlowView, Rates, RatesParts, Settled, DEFAULT_RATE_TOLERANCE};
pub use warm::{Refinement, NO_MODULE};

use codelength::{node_entropy, ModuleFlows};
use flow::{compute_flow, FlowNetwork, FlowSettings};

/// How flow moves on the network (spec §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowModel {
    /// Links are one-way; flow is PageRank with teleportation to links, unrecorded (the
    /// reference's `--directed`, and the face-clustering seed's setting).
    #[default]
    Directed,
    /// Links carry flow both ways in proportion to weight (the reference's default model).
    Undirected,
}

impl std::fmt::Display for FlowModel {
    /// The name the CLI and the JSON report use: `directed`, `undirected`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FlowModel::Directed => "directed",
            FlowModel::Undirected => "undirected",
        })
    }
}

/// Settings of the search, with the reference's defaults (spec §7).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InfomapConfig {
    /// Flow model. Default: directed.
    pub flow_model: FlowModel,
    /// Teleportation probability `alpha` of the directed model. Default 0.15.
    pub teleportation_probability: f64,
    /// Independent trials; the lowest codelength wins. Default 1.
    pub trials: usize,
    /// Seed; trial `t` uses `seed + t`. Default 123.
    pub seed: u64,
    /// Sweep limit of the core loop at the leaf level. Default 10.
    pub core_loop_limit: usize,
    /// Tune iterations (fine/coarse alternation); 0 means until no improvement. Default 0.
    pub tune_iteration_limit: usize,
    /// A sweep or tune iteration must improve the codelength by this much. Default 1e-10.
    pub core_loop_codelength_threshold: f64,
    /// A tune iteration must also improve by this fraction of the one-level codelength.
    /// Default 1e-5.
    pub tune_iteration_relative_threshold: f64,
    /// Random candidate modules tried for items with few links. Default 5.
    pub num_random_moves: usize,
    /// Items with at most this many links (in + out) get random candidates. Default 2.
    pub max_degree_for_random_moves: usize,
    /// Power iteration stops when the L1 change is at most this (after the minimum number of
    /// iterations). Default 1e-15.
    pub flow_tolerance: f64,
    /// Minimum power iterations. Default 50.
    pub min_flow_iterations: usize,
    /// Maximum power iterations. Default 1000.
    pub max_flow_iterations: usize,
}

impl Default for InfomapConfig {
    fn default() -> Self {
        InfomapConfig {
            flow_model: FlowModel::Directed,
            teleportation_probability: 0.15,
            trials: 1,
            seed: 123,
            core_loop_limit: 10,
            tune_iteration_limit: 0,
            core_loop_codelength_threshold: 1e-10,
            tune_iteration_relative_threshold: 1e-5,
            num_random_moves: 5,
            max_degree_for_random_moves: 2,
            flow_tolerance: 1e-15,
            min_flow_iterations: 50,
            max_flow_iterations: 1000,
        }
    }
}

/// A partition of a network's nodes into modules, with its codelength.
#[derive(Debug, Clone)]
pub struct Partition {
    /// Module of each node, `0..num_modules`, numbered by decreasing module flow (ties by
    /// smallest member).
    pub modules: Vec<u32>,
    /// Number of modules (nodes without links are modules of their own).
    pub num_modules: usize,
    /// Codelength in bits per step.
    pub codelength: f64,
    /// Index codebook part of the codelength.
    pub index_codelength: f64,
    /// Module codebooks part of the codelength.
    pub module_codelength: f64,
    /// Codelength with every node in one module.
    pub one_level_codelength: f64,
    /// Stationary flow (visit rate) of each node.
    pub node_flow: Vec<f64>,
    /// Power iterations of the flow calculation (0 for the undirected model).
    pub flow_iterations: usize,
    /// L1 change of the last power iteration.
    pub flow_error: f64,
    /// Codelength found by each trial, in trial order.
    pub trial_codelengths: Vec<f64>,
    /// Index of the trial kept.
    pub best_trial: usize,
    /// Seconds spent computing the flow (building the leaf network included).
    pub flow_secs: f64,
    /// Seconds spent in the search (all trials).
    pub search_secs: f64,
}

/// The optimiser. Build it with a config, run it on any [`LinkSource`].
#[derive(Debug, Clone, Default)]
pub struct Infomap {
    config: InfomapConfig,
}

impl Infomap {
    /// An optimiser with these settings.
    pub fn new(config: InfomapConfig) -> Self {
        Infomap { config }
    }

    /// The settings.
    pub fn config(&self) -> &InfomapConfig {
        &self.config
    }

    /// Finds the partition of `network` with the lowest codelength over the configured trials.
    ///
    /// # Complexity
    ///
    /// Flow: O(iterations x links), about 50-250 iterations. Each trial: a few sweeps over all
    /// nodes, each visit linear in the node's degree, plus aggregation passes.
    pub fn run<L: LinkSource>(&self, network: &L) -> Partition {
        let cfg = &self.config;
        let small = network.num_nodes() < SMALL_NETWORK;
        let started = Instant::now();
        let flow = on_one_thread_if(small, || compute_flow(network, &self.flow_settings()));
        let flow_secs = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let leaves = &flow.network;
        let trial = |t: usize| {
            let (modules, count) = tune::run_trial(leaves, cfg, cfg.seed.wrapping_add(t as u64));
            let codelength = evaluate(leaves, &modules, count).total();
            (modules, codelength)
        };
        // Trials are coarse tasks worth a thread each; a single trial on a small network runs
        // on one thread.
        let trials: Vec<(Vec<u32>, f64)> = if cfg.trials > 1 {
            (0..cfg.trials).into_par_iter().map(trial).collect()
        } else {
            vec![on_one_thread_if(small, || trial(0))]
        };
        // Earlier trials win ties: a later one must be lower by more than the threshold.
        let mut best = 0;
        for (t, trial) in trials.iter().enumerate() {
            if trial.1 < trials[best].1 - cfg.core_loop_codelength_threshold {
                best = t;
            }
        }
        let trial_codelengths = trials.iter().map(|t| t.1).collect();
        let modules = trials.into_iter().nth(best).map(|t| t.0).unwrap_or_default();
        let mut partition = finish(leaves, modules);
        partition.flow_iterations = flow.iterations;
        partition.flow_error = flow.error;
        partition.trial_codelengths = trial_codelengths;
        partition.best_trial = best;
        partition.flow_secs = flow_secs;
        partition.search_secs = started.elapsed().as_secs_f64();
        partition
    }

    /// The codelength of a given partition (`modules[i]` is node i's module label, any
    /// integers), as the reference's `--no-infomap --cluster-data` computes it.
    pub fn codelength_of<L: LinkSource>(&self, network: &L, modules: &[u32]) -> Partition {
        let flow = compute_flow(network, &self.flow_settings());
        let mut partition = finish(&flow.network, modules.to_vec());
        partition.flow_iterations = flow.iterations;
        partition.flow_error = flow.error;
        partition
    }

    fn flow_settings(&self) -> FlowSettings {
        let c = &self.config;
        FlowSettings {
            model: c.flow_model,
            alpha: c.teleportation_probability,
            tolerance: c.flow_tolerance,
            min_iterations: c.min_flow_iterations,
            max_iterations: c.max_flow_iterations,
        }
    }
}

/// Networks with fewer nodes than this are processed on one thread: their parallel steps are
/// so short that waking other threads costs more than it saves. Results are the same either
/// way (every parallel step here is thread-count independent).
const SMALL_NETWORK: usize = 10_000;

/// Runs `f` on a dedicated single-thread pool when `condition` holds, else on the caller's.
fn on_one_thread_if<R: Send>(condition: bool, f: impl FnOnce() -> R + Send) -> R {
    static ONE_THREAD: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let pool = ONE_THREAD.get_or_init(|| rayon::ThreadPoolBuilder::new().num_threads(1).build().ok());
    match pool {
        Some(pool) if condition => pool.install(f),
        _ => f(),
    }
}

/// Map-equation codelength of `modules` (dense ids `< count`) on the leaf network.
fn evaluate(leaves: &FlowNetwork, modules: &[u32], count: usize) -> Codelength {
    ModuleFlows::new(leaves, modules, count).codelength(0.0, node_entropy(&leaves.flow))
}

/// Renumbers modules by decreasing flow (ties by smallest member) and computes the codelength.
fn finish(leaves: &FlowNetwork, labels: Vec<u32>) -> Partition {
    // Dense ids in order of first appearance; the smallest member of id i is then increasing in i.
    let mut dense_of = std::collections::HashMap::new();
    let dense: Vec<u32> = labels
        .iter()
        .map(|&l| {
            let next = dense_of.len() as u32;
            *dense_of.entry(l).or_insert(next)
        })
        .collect();
    let count = dense_of.len();
    let mut module_flow = vec![0f64; count];
    for (i, &m) in dense.iter().enumerate() {
        module_flow[m as usize] += leaves.flow[i];
    }
    let mut order: Vec<u32> = (0..count as u32).collect();
    order.sort_by(|&a, &b| module_flow[b as usize].total_cmp(&module_flow[a as usize]).then(a.cmp(&b)));
    let mut rank = vec![0u32; count];
    for (r, &m) in order.iter().enumerate() {
        rank[m as usize] = r as u32;
    }
    let modules: Vec<u32> = dense.iter().map(|&m| rank[m as usize]).collect();
    let codelength = evaluate(leaves, &modules, count);
    Partition {
        modules,
        num_modules: count,
        codelength: codelength.total(),
        index_codelength: codelength.index,
        module_codelength: codelength.module,
        one_level_codelength: -node_entropy(&leaves.flow),
        node_flow: leaves.flow.clone(),
        flow_iterations: 0,
        flow_error: 0.0,
        trial_codelengths: Vec::new(),
        best_trial: 0,
        flow_secs: 0.0,
        search_secs: 0.0,
    }
}

#[cfg(test)]
mod tests;
