//! The secondary commands: search and save a k-NN table, score a labelling, run Infomap on a
//! link list.

use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::{KnnConfig, LoadOptions, Optimizer, Similarity};
use crate::error::{Error, Result};
use crate::infomap::{FlowModel, Infomap, LinkSource, Partition};
use crate::io::network::{read_clu, read_link_list, write_clu};
use crate::io::{load_features, read_labels, AtomicFile};
use crate::knn::{check_recall, search_knn, Recall, SearchStats};
use crate::labels::cluster_sizes;
use crate::measure::Stages;
use crate::metrics::{evaluate, Scores};
use crate::report::{InfomapReport, NetworkReport, NetworkTimings};

/// `face-cluster knn`: search a feature file and save the table.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnJob {
    /// The feature file (`-` = stdin).
    pub features: PathBuf,
    /// How to read it.
    pub load: LoadOptions,
    /// The search.
    pub knn: KnnConfig,
    /// Where the table goes ([`crate::knn::Knn::save`]).
    pub output: PathBuf,
    /// Also measure the table's recall: sampled rows, their seed, and the threshold of the
    /// links that count.
    pub recall: Option<(NonZeroUsize, u64, Similarity)>,
}

/// What [`knn_table`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnJobOutput {
    /// Rows.
    pub n: usize,
    /// Slots per row.
    pub k: usize,
    /// The search as it ran, and its times.
    pub search: SearchStats,
    /// The recall check, when asked for.
    pub recall: Option<Recall>,
    /// Seconds from start to saved.
    pub total_secs: f64,
}

impl KnnJobOutput {
    /// A line or two: what was searched and written where, and the recall.
    pub fn summary(&self, output: &Path) -> String {
        let r = &self.search.resolved;
        let params: String = [("nprobe", r.nprobe), ("efSearch", r.ef_search)]
            .iter()
            .filter_map(|(name, value)| value.map(|v| format!(" {name}={v}")))
            .collect();
        let speed = match self.search.search_gflops() {
            Some(gflops) => format!(" at {gflops:.0} GFLOPS"),
            None => String::new(),
        };
        let mut s = format!(
            "{} rows, k={}, index {}{params}: k-NN table written to {} in {:.2}s (index {:.2}s, search {:.2}s{speed})",
            self.n,
            self.k,
            r.index,
            output.display(),
            self.total_secs,
            self.search.build_secs,
            self.search.search_secs,
        );
        if let Some(recall) = &self.recall {
            s.push('\n');
            s.push_str(&recall.summary());
        }
        if let Some(line) = self.search.device.summary() {
            s.push('\n');
            s.push_str(&line);
        }
        s
    }
}

/// Searches `job.features` and saves the table to `job.output`. The output path is checked
/// (created and removed) before the features are read, so a bad path fails at once.
///
/// # Errors
///
/// Any input, parameter, faiss or output error, naming the file or option.
pub fn knn_table(job: &KnnJob, stages: &mut Stages<'_>) -> Result<KnnJobOutput> {
    drop(AtomicFile::create(&job.output)?);
    let started = Instant::now();
    let (features, _) = stages.run(Some(("load", None)), || load_features(&job.features, &job.load));
    let features = features?;
    let (knn, stats) = search_knn(&features, &job.knn, stages.progress())?;
    let recall = match job.recall {
        Some((sample, seed, min_sim)) => {
            Some(check_recall(&features, &knn, knn.k(), sample, seed, min_sim.get(), stages.progress())?)
        }
        None => None,
    };
    drop(features);
    let (saved, _) = stages.run(Some(("save", None)), || knn.save(&job.output));
    saved?;
    Ok(KnnJobOutput { n: knn.n(), k: knn.k(), search: stats, recall, total_secs: started.elapsed().as_secs_f64() })
}

/// `face-cluster eval`: scores the labels of `pred` against those of `truth`.
///
/// # Errors
///
/// Reading errors naming the file; [`Error::CountMismatch`] naming `pred` when the files differ
/// in length.
pub fn evaluate_files(truth: &Path, pred: &Path) -> Result<Scores> {
    let truth_labels = read_labels(truth)?;
    let pred_labels = read_labels(pred)?;
    if pred_labels.len() != truth_labels.len() {
        return Err(Error::CountMismatch {
            path: pred.to_path_buf(),
            what: "labels",
            got: pred_labels.len(),
            expected: truth_labels.len(),
            reason: format!("one per line of {}", truth.display()),
        });
    }
    evaluate(&truth_labels, &pred_labels)
}

/// `face-cluster infomap`: Infomap on a link list.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkJob {
    /// The link list (`source target [weight]` per line; `-` = stdin).
    pub links: PathBuf,
    /// Flow model.
    pub flow: FlowModel,
    /// Trials and seed.
    pub optimizer: Optimizer,
    /// Evaluate the partition in this `.clu` file instead of optimising (as the reference's
    /// `--no-infomap --cluster-data`).
    pub cluster_data: Option<PathBuf>,
}

/// What [`partition_network`] found.
#[derive(Debug, Clone)]
pub struct NetworkOutput {
    /// External node ids, ascending; index `i` is the partition's node `i`.
    pub ids: Vec<u64>,
    /// The partition.
    pub partition: Partition,
    /// The report (`--json`).
    pub report: NetworkReport,
    /// The header of the `.clu` file: tool, version, input, trials and seed.
    header: String,
}

impl NetworkOutput {
    /// Writes the partition in the reference's `.clu` format ([`write_clu`]).
    ///
    /// # Errors
    ///
    /// The writer's error.
    pub fn write_clu(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write_clu(out, &self.ids, &self.partition, &self.header)
    }
}

/// Reads `job.links` and partitions it (or evaluates `job.cluster_data`).
///
/// # Errors
///
/// Reading errors naming the file and line.
pub fn partition_network(job: &NetworkJob, stages: &mut Stages<'_>) -> Result<NetworkOutput> {
    let (links, read) = stages.run(None, || read_link_list(&job.links));
    let links = links?;
    let infomap = Infomap::new(job.optimizer.infomap(job.flow));
    let partition = match &job.cluster_data {
        Some(clu) => infomap.codelength_of(&links.network, &read_clu(clu, &links.ids)?),
        None => infomap.run(&links.network),
    };
    // Modules are numbered 0.. densely.
    let sizes = cluster_sizes(&partition.modules);
    let report = NetworkReport {
        tool: "face-cluster".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        links_file: job.links.display().to_string(),
        nodes: links.network.num_nodes(),
        links: links.network.num_links(),
        non_trivial_modules: sizes.iter().filter(|&&s| s > 1).count(),
        infomap: InfomapReport::new(&partition),
        timings_secs: NetworkTimings { read: read.secs, flow: partition.flow_secs, search: partition.search_secs },
        peak_rss_bytes: stages.peak_rss(),
    };
    let header = format!(
        "face-cluster {} infomap {}\n{} trials, seed {}",
        env!("CARGO_PKG_VERSION"),
        job.links.display(),
        job.optimizer.trials,
        job.optimizer.seed
    );
    Ok(NetworkOutput { ids: links.ids, partition, report, header })
}
