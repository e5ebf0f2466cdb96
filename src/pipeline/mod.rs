//! The main job and the secondary commands, each a library function from a validated
//! configuration to its result; the binary only parses, prints and maps errors to exit codes.
//!
//! [`run`] is the main job: [`load_inputs`] reads the ground truth, then the cached k-NN table or
//! the features and searches them; the threshold is resolved (once, when `auto`); the recall
//! check, when asked for, measures the search at that threshold; [`crate::cluster::cluster`]
//! does everything after; [`crate::report::Report`] says what happened. The secondary commands
//! are in `jobs.rs`: [`knn_table`] (search and save a table), [`evaluate_files`] and
//! [`partition_network`] (Infomap on any link list).

mod inputs;
mod jobs;

use std::borrow::Cow;
use std::time::Instant;

pub use inputs::{load_inputs, Inputs};
pub use jobs::{evaluate_files, knn_table, partition_network, KnnJob, KnnJobOutput, NetworkJob, NetworkOutput};

use crate::cluster::{cluster, ClusterParams};
use crate::config::{AutoRule, KnnConfig, MinSim, RunConfig, Source, K};
use crate::error::Result;
use crate::knn::check_recall;
use crate::measure::Stages;
use crate::report::{InputReport, KnnSpeed, Report};
use crate::threshold::{auto_min_sim, choose_min_sim};

/// What the main job produces.
#[derive(Debug)]
pub struct RunOutput {
    /// Cluster label of every input row, numbered by decreasing cluster size.
    pub labels: Vec<u32>,
    /// The run report.
    pub report: Report,
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
    let Inputs { knn, dim, truth, search, features, mut timings, mut peak_rss, k, fitted_k } =
        load_inputs(&config.input, &config.knn, recall_sample.is_some(), config.fit_k, stages)?;

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
    // The features are dropped here, before the graph and Infomap.
    drop(features);

    let n = knn.n();
    let bandwidth = choice.as_ref().map(|c| c.bandwidth);
    let params = ClusterParams { k, min_sim, strategy: config.strategy, optimizer: config.optimizer, bandwidth };
    let clustering = cluster(Cow::Owned(knn), &params, truth.as_deref(), stages)?;

    // The report shows the search as it ran: `auto` resolved, with its nprobe.
    let searched = search.as_ref().map_or(&config.knn, |s| &s.resolved);
    let input = InputReport::new(&config.input, n, dim);
    let searched = KnnConfig { k: K::new(k)?, ..searched.clone() };
    let mut report = Report::new(config, &searched, min_sim.get(), auto, input, &clustering);
    report.set_choice(config, choice, fitted_k, &clustering);
    let t = &mut report.timings_secs;
    (t.load, t.knn, t.knn_build, t.recall, t.min_sim) =
        (timings.load, timings.knn, timings.knn_build, timings.recall, timings.min_sim);
    t.total = started.elapsed().as_secs_f64();
    let p = &mut report.peak_rss_bytes_by_stage;
    (p.load, p.knn, p.recall) = (peak_rss.load, peak_rss.knn, peak_rss.recall);
    report.peak_rss_bytes = stages.peak_rss();
    report.knn_speed = search.as_ref().map(KnnSpeed::new);
    report.recall = recall;
    report.device = search.map(|s| s.device);
    Ok(RunOutput { labels: clustering.labels, report })
}
