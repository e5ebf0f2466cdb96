//! The main job and the secondary commands, each a library function from a validated
//! configuration to its result; the binary only parses, prints and maps errors to exit codes.
//!
//! [`run`] is the main job: [`load_inputs`] reads the ground truth, then the cached k-NN table or
//! the features and searches them; the threshold is resolved (once, when `auto`); the recall
//! check, when asked for, measures the search at that threshold; [`crate::cluster::cluster`]
//! does everything after; [`crate::report::Report`] says what happened. The secondary commands
//! are in `jobs.rs`: [`knn_table`] (search and save a table), [`evaluate_files`] and
//! [`partition_network`] (Infomap on any link list).
//!
//! With [`RunConfig::save`] the main job also writes a saved clustering ([`crate::state`]) for
//! `face-cluster add`: the state folder is made ready before any input is read, and its files
//! are written after the clustering and put in place with the other outputs
//! ([`RunOutput::state`]).

mod inputs;
mod jobs;

use std::borrow::Cow;
use std::time::Instant;

pub use inputs::{load_inputs, Inputs};
pub use jobs::{evaluate_files, knn_table, partition_network, KnnJob, KnnJobOutput, NetworkJob, NetworkOutput};

use crate::cluster::{cluster, ClusterParams, Clustering};
use crate::config::{AutoRule, KnnConfig, MinSim, RunConfig, Similarity, Source, K};
use crate::edges::is_row_local;
use crate::error::{Error, Param, Result};
use crate::features::Features;
use crate::infomap::Rates;
use crate::knn::{check_recall, Knn, Quantizer};
use crate::measure::Stages;
use crate::report::{InputReport, KnnSpeed, Report};
use crate::state::{NewState, PendingState, StateParams, StateTarget, TableNetwork};
use crate::threshold::{auto_min_sim, choose_min_sim};

/// What the main job produces.
#[derive(Debug)]
pub struct RunOutput {
    /// Cluster label of every input row, numbered by decreasing cluster size.
    pub labels: Vec<u32>,
    /// The run report.
    pub report: Report,
    /// The saved clustering's files, to put in place with the other outputs
    /// ([`PendingState::commit`]), when [`RunConfig::save`] asked for one.
    pub state: Option<PendingState>,
}

/// Runs the main job.
///
/// # Errors
///
/// Any input, parameter or faiss error, naming the file or option.
pub fn run(config: &RunConfig, stages: &mut Stages<'_>) -> Result<RunOutput> {
    let started = Instant::now();
    let recall_sample = match &config.input.source {
        Source::Features { recall_sample, .. } => *recall_sample,
        Source::KnnCache(_) => None,
    };
    let target = match &config.save {
        Some(dir) => {
            if config.input.knn_cache().is_some() {
                return Err(Error::invalid(
                    Param::Save,
                    "needs the feature file, to search added rows against: a cached k-NN table (--knn) has no features",
                ));
            }
            if !is_row_local(&config.strategy.edges) {
                return Err(Error::invalid(
                    Param::Save,
                    "needs links made from each row alone; shared-neighbour scores (--edges snn, --weights snn) \
                     are not supported",
                ));
            }
            Some(StateTarget::prepare(dir)?)
        }
        None => None,
    };
    let keep_features = recall_sample.is_some() || target.is_some();
    let Inputs { knn, dim, truth, search, features, quantizer, mut timings, mut peak_rss, k, fitted_k } =
        load_inputs(&config.input, &config.knn, keep_features, config.fit_k, stages)?;

    let strategy = &config.strategy;
    // Issue 17's rule also gives the attach window's bandwidth, so it runs for a given
    // min_sim too when the strategy attaches (and then says what it would have picked).
    let robust = config.min_sim == MinSim::Auto && strategy.auto_rule == AutoRule::Robust;
    let needs_choice = robust || strategy.needs_bandwidth();
    let choice = if needs_choice {
        let (choice, measured) = stages.run(Some(("min_sim", None)), || choose_min_sim(&knn, k));
        timings.min_sim = measured.secs;
        Some(choice?)
    } else {
        None
    };
    let (auto, min_sim) = match (config.min_sim, &choice) {
        (MinSim::Fixed(v), _) => (None, v),
        (MinSim::Auto, Some(choice)) if robust => (None, choice.similarity()),
        (MinSim::Auto, _) => {
            let (auto, measured) = stages.run(Some(("min_sim", None)), || auto_min_sim(&knn, k));
            timings.min_sim += measured.secs;
            let auto = auto?;
            let min_sim = auto.similarity();
            (Some(auto), min_sim)
        }
    };

    let recall = match (recall_sample, &features) {
        (Some(sample), Some(features)) => {
            let seed = config.optimizer.seed;
            let progress = stages.progress();
            let (recall, measured) =
                stages.run(None, || check_recall(features, &knn, knn.k(), sample, seed, min_sim.get(), progress));
            timings.recall = measured.secs;
            peak_rss.recall = measured.peak_rss;
            Some(recall?)
        }
        _ => None,
    };
    let n = knn.n();
    let bandwidth = choice.as_ref().map(|c| c.bandwidth);
    let params = ClusterParams { k, min_sim, strategy: config.strategy, optimizer: config.optimizer, bandwidth };
    // The features are dropped here, before the graph and Infomap, unless saved.
    let (clustering, state, save_secs) = match target {
        None => {
            drop(features);
            (cluster(Cow::Owned(knn), &params, truth.as_deref(), stages)?, None, 0.0)
        }
        Some(target) => {
            let clustering = cluster(Cow::Borrowed(&knn), &params, truth.as_deref(), stages)?;
            let features = features.expect("kept for the state");
            let searched = search.as_ref().map_or(&config.knn, |s| &s.resolved);
            let saved = Saved {
                config,
                searched,
                k,
                min_sim,
                auto: config.min_sim == MinSim::Auto,
                bandwidth,
                knn: &knn,
                quantizer: quantizer.as_ref(),
            };
            let (pending, measured) = stages.run(Some(("save", None)), || save(target, &saved, &features, &clustering));
            (clustering, Some(pending?), measured.secs)
        }
    };

    // The report shows the search as it ran: `auto` resolved, with its nprobe.
    let searched = search.as_ref().map_or(&config.knn, |s| &s.resolved);
    let input = InputReport::new(&config.input, n, dim);
    let searched = KnnConfig { k: K::new(k)?, ..searched.clone() };
    let mut report = Report::new(config, &searched, min_sim.get(), auto, input, &clustering);
    report.set_choice(config, choice, fitted_k, &clustering);
    let t = &mut report.timings_secs;
    (t.load, t.knn, t.knn_build, t.recall, t.min_sim) =
        (timings.load, timings.knn, timings.knn_build, timings.recall, timings.min_sim);
    t.save = save_secs;
    t.total = started.elapsed().as_secs_f64();
    let p = &mut report.peak_rss_bytes_by_stage;
    (p.load, p.knn, p.recall) = (peak_rss.load, peak_rss.knn, peak_rss.recall);
    report.peak_rss_bytes = stages.peak_rss();
    report.knn_speed = search.as_ref().map(KnnSpeed::new);
    report.recall = recall;
    report.device = search.map(|s| s.device);
    Ok(RunOutput { labels: clustering.labels, report, state })
}

/// What the main job saves besides the clustering.
struct Saved<'a> {
    config: &'a RunConfig,
    searched: &'a KnnConfig,
    /// Neighbour slots per row as searched (the preset's k may have been lowered to fit).
    k: usize,
    min_sim: Similarity,
    auto: bool,
    /// `h`, when the main job computed it (for the steps after Infomap).
    bandwidth: Option<f64>,
    knn: &'a Knn,
    quantizer: Option<&'a Quantizer>,
}

/// Writes the saved clustering: the run's parameters, features, k-NN table, quantizer,
/// partition, cluster labels (the first cluster ids) and flow (recovered from the partition's
/// node flow, not solved again).
fn save(target: StateTarget, saved: &Saved<'_>, features: &Features, clustering: &Clustering) -> Result<PendingState> {
    let config = saved.config;
    let k = saved.k;
    let edges = config.strategy.edges;
    let infomap = config.infomap();
    let network = TableNetwork::new(saved.knn, saved.min_sim, edges);
    let rates = Rates::from_flow(
        &network,
        &clustering.partition.node_flow,
        config.strategy.flow,
        infomap.teleportation_probability,
    );
    let params = StateParams {
        k,
        min_sim: saved.min_sim.get(),
        min_sim_auto: saved.auto,
        edges,
        flow: config.strategy.flow,
        lonely: config.strategy.lonely,
        merge: config.strategy.merge,
        bandwidth: saved.bandwidth,
        teleportation_probability: infomap.teleportation_probability,
        seed: config.optimizer.seed,
        trials: config.optimizer.trials.get(),
        index: saved.searched.index.clone(),
        nprobe: saved.searched.nprobe.map(std::num::NonZeroUsize::get),
        normalize: config.input.load.normalize,
    };
    target.write(NewState {
        params,
        features: features.as_slice(),
        dim: features.dim(),
        knn: saved.knn,
        quantizer: saved.quantizer,
        modules: &clustering.partition.modules,
        clusters: &clustering.labels,
        rates: &rates,
        codelength_bits: clustering.partition.codelength,
    })
}
