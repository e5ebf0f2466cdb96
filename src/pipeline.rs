//! The main job: load -> k-NN -> (pick min_sim) -> prune -> Infomap -> labels (-> scores).
//!
//! [`RunConfig::validate`] checks every parameter before any work starts; [`run`] then reads
//! the inputs (ground truth first, so a bad label file fails before the expensive stages),
//! searches or loads the k-NN table, picks the threshold when it is [`MinSim::Auto`]
//! ([`crate::threshold`]), builds the graph ([`crate::edges`]), partitions it and numbers the
//! clusters ([`crate::lonely`]).
//! Intermediate data is dropped as soon as the next stage no longer needs it: the features
//! after the search, the k-NN table after the graph is built.

use std::path::PathBuf;
use std::time::Instant;

use crate::edges::{build_edges, EdgeConfig};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::infomap::{Infomap, InfomapConfig, Partition};
use crate::io::{load_features, read_labels, LoadOptions};
use crate::knn::{check_recall, search_knn, Knn, KnnConfig, Recall, SearchStats};
use crate::lonely::{assign_labels, Lonely};
use crate::metrics::{evaluate, Scores};
use crate::progress::Progress;
use crate::report::{GraphReport, InfomapReport, Report, RssMeter, StagePeakRss, Timings};
use crate::strategy::MinSim;
use crate::threshold::auto_min_sim;

/// Everything the main job needs to know. The default is the seed's method (k 50, min_sim
/// 0.58, the seed's graph, directed flow, lonely rows on their own) with no input set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunConfig {
    /// Feature file (`-` = stdin). Not read when `knn_cache` is given.
    pub features: Option<PathBuf>,
    /// How to read it.
    pub load: LoadOptions,
    /// k-NN search settings; `knn.k` is also the number of slots used from a cached table.
    pub knn: KnnConfig,
    /// A k-NN table saved by `face-cluster knn`, used instead of searching.
    pub knn_cache: Option<PathBuf>,
    /// Keep links with similarity at least this (cosine, in [-1, 1]), or pick it from the
    /// table. Default 0.58 (the seed's).
    pub min_sim: MinSim,
    /// Which links are kept and how they are weighted. Default: the seed's rule.
    pub edges: EdgeConfig,
    /// What becomes of rows left alone. Default: their own cluster (the seed's rule).
    pub lonely: Lonely,
    /// Infomap settings.
    pub infomap: InfomapConfig,
    /// Ground-truth labels for the evaluation.
    pub truth: Option<PathBuf>,
    /// Measure the search's recall on this many sampled rows ([`check_recall`], seeded with
    /// the Infomap seed). Needs a search: not with `knn_cache`.
    pub recall_sample: Option<usize>,
}

impl RunConfig {
    /// Checks the parameters that can be checked without reading any file.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the option.
    pub fn validate(&self) -> Result<()> {
        if self.features.is_none() && self.knn_cache.is_none() {
            return Err(Error::invalid("FEATS", "give a feature file (or a cached k-NN table with --knn)"));
        }
        if self.knn.k == 0 {
            return Err(Error::invalid("--k", "must be at least 1"));
        }
        if let MinSim::Fixed(min_sim) = self.min_sim {
            if !(-1.0..=1.0).contains(&min_sim) {
                return Err(Error::invalid("--min-sim", format!("{min_sim} is not a cosine similarity in [-1, 1]")));
            }
        }
        if !(0.0..=1.0).contains(&self.edges.min_snn) {
            return Err(Error::invalid("--min-snn", format!("{} is not in [0, 1]", self.edges.min_snn)));
        }
        if self.infomap.trials == 0 {
            return Err(Error::invalid("--trials", "must be at least 1"));
        }
        if self.load.dim == 0 {
            return Err(Error::invalid("--dim", "must be at least 1"));
        }
        if self.recall_sample == Some(0) {
            return Err(Error::invalid("--check-recall", "must be at least 1 row"));
        }
        if self.recall_sample.is_some() && self.knn_cache.is_some() {
            return Err(Error::invalid("--check-recall", "measures a search; it cannot check a cached table (--knn)"));
        }
        Ok(())
    }
}

/// What the main job produces.
#[derive(Debug)]
pub struct RunOutput {
    /// Cluster label of every input row, numbered by decreasing cluster size.
    pub labels: Vec<u32>,
    /// The run report.
    pub report: Report,
}

/// The inputs of the clustering stages, read and checked.
#[derive(Debug)]
pub struct Inputs {
    /// The k-NN table: searched, or read from the cache.
    pub knn: Knn,
    /// Feature dimension; `None` when the table came from a cache.
    pub dim: Option<usize>,
    /// Ground-truth labels, one per row, when [`RunConfig::truth`] is given.
    pub truth: Option<Vec<i64>>,
    /// The search's resolved index and times; `None` when the table came from a cache.
    pub search: Option<SearchStats>,
    /// The recall check, when [`RunConfig::recall_sample`] asks for it.
    pub recall: Option<Recall>,
    /// Peak memory of the stages so far (`load`, `knn`, `recall`).
    pub peak_rss: StagePeakRss,
    /// The meter that measured them, for the later stages.
    pub rss_meter: RssMeter,
}

/// The input stage of [`run`] (shared with [`crate::sweep`]): validates `config`, reads the
/// ground truth (first, so a bad label file fails before the expensive stages), then reads the
/// cached k-NN table or loads the features and searches. Sets `timings.load` and `timings.knn`.
///
/// # Errors
///
/// Any input, parameter or faiss error, naming the file or option; a cached table with fewer
/// than `config.knn.k` slots is an [`Error::InvalidParameter`] for `--k`, ground truth of the
/// wrong length an [`Error::CountMismatch`].
pub fn load_inputs(config: &RunConfig, timings: &mut Timings, progress: &dyn Progress) -> Result<Inputs> {
    config.validate()?;
    let truth = match &config.truth {
        Some(path) => Some((path, read_labels(path)?)),
        None => None,
    };
    let mut rss_meter = RssMeter::new();
    let mut peak_rss = StagePeakRss::default();
    let (mut search, mut recall) = (None, None);

    let (knn, dim) = match &config.knn_cache {
        Some(cache) => {
            let t = Instant::now();
            rss_meter.begin();
            progress.start("load k-NN", None);
            let knn = Knn::load(cache);
            progress.finish();
            let knn = knn?;
            peak_rss.load = rss_meter.end();
            timings.load = t.elapsed().as_secs_f64();
            if config.knn.k > knn.k {
                return Err(Error::invalid(
                    "--k",
                    format!("{} is more than the {} neighbours stored in {}", config.knn.k, knn.k, cache.display()),
                ));
            }
            // As for a search (see `build_knn`): k counts the row itself, so k >= n is no k-NN.
            if config.knn.k >= knn.n {
                return Err(Error::invalid(
                    "--k",
                    format!(
                        "k = {} must be smaller than the number of rows ({}) of {}",
                        config.knn.k,
                        knn.n,
                        cache.display()
                    ),
                ));
            }
            (knn, None)
        }
        None => {
            let path = config.features.as_ref().expect("validate() requires features or a k-NN cache");
            let t = Instant::now();
            rss_meter.begin();
            progress.start("load", None);
            let features = load_features(path, &config.load);
            progress.finish();
            let features = features?;
            peak_rss.load = rss_meter.end();
            timings.load = t.elapsed().as_secs_f64();
            check_truth_count(&truth, features.n(), path)?;
            let t = Instant::now();
            rss_meter.begin();
            let (knn, stats) = search_knn(&features, &config.knn, progress)?;
            peak_rss.knn = rss_meter.end();
            timings.knn = t.elapsed().as_secs_f64();
            timings.knn_build = stats.build_secs;
            if let Some(sample) = config.recall_sample {
                let t = Instant::now();
                rss_meter.begin();
                let seed = config.infomap.seed;
                // The links that matter are those the run keeps: with `auto`, above the value
                // the table gives (picked again, cheaply, by `run`).
                let min_sim = match config.min_sim {
                    MinSim::Fixed(v) => v,
                    MinSim::Auto => auto_min_sim(&knn, config.knn.k)?.min_sim,
                };
                recall = Some(check_recall(&features, &knn, knn.k, sample, seed, min_sim, progress)?);
                peak_rss.recall = rss_meter.end();
                timings.recall = t.elapsed().as_secs_f64();
            }
            search = Some(stats);
            // The features are dropped here, before the graph and Infomap.
            (knn, Some(features.dim()))
        }
    };
    if let Some(cache) = &config.knn_cache {
        check_truth_count(&truth, knn.n, cache)?;
    }
    Ok(Inputs { knn, dim, truth: truth.map(|(_, labels)| labels), search, recall, peak_rss, rss_meter })
}

/// Runs the main job.
///
/// # Errors
///
/// Any input, parameter or faiss error, naming the file or option.
pub fn run(config: &RunConfig, progress: &dyn Progress) -> Result<RunOutput> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let Inputs { knn, dim, truth, search, recall, mut peak_rss, mut rss_meter } =
        load_inputs(config, &mut timings, progress)?;

    let t = Instant::now();
    let (min_sim, auto) = match config.min_sim {
        MinSim::Fixed(v) => (v, None),
        MinSim::Auto => {
            progress.start("min_sim", None);
            let auto = auto_min_sim(&knn, config.knn.k);
            progress.finish();
            let auto = auto?;
            (auto.min_sim, Some(auto))
        }
    };
    timings.min_sim = t.elapsed().as_secs_f64();

    let t = Instant::now();
    rss_meter.begin();
    progress.start("graph", None);
    let graph = build_edges(&knn, config.knn.k, min_sim, &config.edges);
    progress.finish();
    let graph = graph?;
    drop(knn);
    peak_rss.graph = rss_meter.end();
    timings.graph = t.elapsed().as_secs_f64();

    let t = Instant::now();
    rss_meter.begin();
    progress.start("infomap", None);
    let partition = Infomap::new(config.infomap.clone()).run(&graph);
    progress.finish();
    peak_rss.infomap = rss_meter.end();
    timings.infomap = t.elapsed().as_secs_f64();
    timings.infomap_flow = partition.flow_secs;
    timings.infomap_search = partition.search_secs;

    let t = Instant::now();
    let labels = assign_labels(&partition, &graph, config.lonely);
    timings.labels = t.elapsed().as_secs_f64();

    let scores = match &truth {
        Some(truth) => {
            let t = Instant::now();
            let truth_scores = score(truth, &labels)?;
            timings.eval = t.elapsed().as_secs_f64();
            Some(truth_scores)
        }
        None => None,
    };
    timings.total = started.elapsed().as_secs_f64();

    // The report shows the search as it ran: `auto` resolved, with its nprobe.
    let reported = match search {
        Some(stats) => RunConfig { knn: stats.resolved, ..config.clone() },
        None => config.clone(),
    };
    let mut report = Report::new(
        &reported,
        min_sim,
        auto,
        graph.n(),
        dim,
        graph_report(&graph),
        infomap_report(&partition),
        &labels,
        scores,
        timings,
    );
    report.peak_rss_bytes = rss_meter.overall();
    report.peak_rss_bytes_by_stage = peak_rss;
    report.recall = recall;
    Ok(RunOutput { labels, report })
}

fn check_truth_count(truth: &Option<(&PathBuf, Vec<i64>)>, n: usize, source: &std::path::Path) -> Result<()> {
    match truth {
        Some((path, labels)) if labels.len() != n => Err(Error::CountMismatch {
            path: path.to_path_buf(),
            what: "labels",
            got: labels.len(),
            expected: n,
            reason: format!("one per row of {}", source.display()),
        }),
        _ => Ok(()),
    }
}

/// Scores cluster labels against ground truth.
pub(crate) fn score(truth: &[i64], labels: &[u32]) -> Result<Scores> {
    let pred: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    evaluate(truth, &pred)
}

fn graph_report(graph: &Graph) -> GraphReport {
    GraphReport { links: graph.num_links(), nodes_without_links: graph.num_singletons() }
}

fn infomap_report(p: &Partition) -> InfomapReport {
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

/// Cluster labels from Infomap's modules, the seed's way: a row without a kept out-link is a
/// cluster of its own whatever module Infomap gave it; the others take their module. Clusters
/// are numbered `0..` by decreasing size, ties by smallest member row.
pub fn cluster_labels(partition: &Partition, graph: &Graph) -> Vec<u32> {
    let n = graph.n();
    let modules = partition.num_modules as u32;
    let mut next_own = modules;
    let assignment: Vec<u32> = (0..n)
        .map(|i| {
            if graph.has_out_links(i) {
                partition.modules[i]
            } else {
                next_own += 1;
                next_own - 1
            }
        })
        .collect();
    number_by_size(&assignment)
}

/// Renumbers arbitrary cluster ids `0..` by decreasing cluster size, ties by smallest member.
pub fn number_by_size(assignment: &[u32]) -> Vec<u32> {
    let count = assignment.iter().map(|&a| a as usize + 1).max().unwrap_or(0);
    let mut size = vec![0u32; count];
    let mut first = vec![u32::MAX; count];
    for (i, &a) in assignment.iter().enumerate() {
        size[a as usize] += 1;
        first[a as usize] = first[a as usize].min(i as u32);
    }
    let mut order: Vec<u32> = (0..count as u32).filter(|&c| size[c as usize] > 0).collect();
    order.sort_unstable_by_key(|&c| (std::cmp::Reverse(size[c as usize]), first[c as usize]));
    let mut rank = vec![0u32; count];
    for (r, &c) in order.iter().enumerate() {
        rank[c as usize] = r as u32;
    }
    assignment.iter().map(|&a| rank[a as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_numbered_by_size_then_first_row() {
        assert_eq!(number_by_size(&[7, 3, 3, 9, 7, 7, 9]), vec![0, 1, 1, 2, 0, 0, 2]);
        assert_eq!(number_by_size(&[5, 4]), vec![0, 1]);
        assert_eq!(number_by_size(&[]), Vec::<u32>::new());
    }

    #[test]
    fn invalid_parameters_are_named() {
        let base = RunConfig { features: Some("f.npy".into()), ..RunConfig::default() };
        assert!(base.validate().is_ok());
        let e = RunConfig { min_sim: MinSim::Fixed(1.5), ..base.clone() }.validate().unwrap_err();
        assert!(e.to_string().starts_with("invalid --min-sim"), "{e}");
        let e = RunConfig { knn: KnnConfig { k: 0, ..KnnConfig::default() }, ..base.clone() }.validate().unwrap_err();
        assert!(e.to_string().starts_with("invalid --k"), "{e}");
        let e = RunConfig { features: None, ..base }.validate().unwrap_err();
        assert!(e.to_string().contains("FEATS"), "{e}");
    }
}
