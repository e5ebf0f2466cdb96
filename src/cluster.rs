//! Everything after the search, written once: the k-NN table's links become a graph, Infomap
//! partitions it, modules become cluster labels, and labels are scored against ground truth.
//!
//! ```text
//! Knn --edges::build_edges--> Graph --Infomap::run--> Partition --labels::assign_labels--> labels
//!                                                                   --metrics::evaluate--> Scores
//! ```
//!
//! The main job ([`crate::pipeline::run`]) runs [`cluster`] once on the table it searched or
//! read; a sweep ([`crate::sweep`]) runs it once per cell of its grid on one table. The
//! threshold is resolved before ([`crate::threshold::auto_min_sim`] for `auto`): the same
//! table gives the same threshold, so it is computed once per table and `k`.

use std::borrow::Cow;

use crate::config::{Optimizer, Similarity, Strategy};
use crate::edges::build_edges;
use crate::error::Result;
use crate::infomap::{Infomap, Partition};
use crate::knn::Knn;
use crate::labels::{assign_labels, ClusterCounts};
use crate::measure::{Measured, Stages};
use crate::metrics::{evaluate, Scores};

/// What the stages after the search take, besides the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterParams {
    /// Slots of each k-NN row used, self included (at most the table's).
    pub k: usize,
    /// Links kept have at least this similarity.
    pub min_sim: Similarity,
    /// Links kept, weights, flow model, rows alone.
    pub strategy: Strategy,
    /// Infomap's trials and seed.
    pub optimizer: Optimizer,
}

/// A clustering and what it took.
#[derive(Debug, Clone)]
pub struct Clustering {
    /// Cluster label of every row, numbered `0..` by decreasing cluster size.
    pub labels: Vec<u32>,
    /// Directed links the graph kept.
    pub links: usize,
    /// Rows left without any out-link.
    pub nodes_without_links: usize,
    /// Infomap's partition of the graph (modules before rows alone are decided on).
    pub partition: Partition,
    /// Counts of the clusters.
    pub counts: ClusterCounts,
    /// Scores against the ground truth, when given.
    pub eval: Option<Scores>,
    /// Building the graph.
    pub graph_stage: Measured,
    /// Infomap.
    pub infomap_stage: Measured,
    /// Seconds numbering the clusters.
    pub labels_secs: f64,
    /// Seconds scoring (zero without ground truth).
    pub eval_secs: f64,
}

/// Builds the graph of `knn`'s first `params.k` slots, partitions it, numbers the clusters and,
/// given `truth` (one label per row), scores them. The stages `graph` and `infomap` are shown
/// on `stages`' progress. An owned table is dropped as soon as the graph is built, before
/// Infomap allocates its own structures.
///
/// # Errors
///
/// [`crate::Error::InvalidParameter`] (`--k`) when `params.k` does not fit the table;
/// [`crate::Error::LabelCount`] when `truth` does not have one label per row.
///
/// # Complexity
///
/// `O(n k)` for the graph (`O(n k²)` with shared-neighbour scores), Infomap's search, `O(n)`
/// for the labels and the scores.
pub fn cluster(
    knn: Cow<'_, Knn>,
    params: &ClusterParams,
    truth: Option<&[i64]>,
    stages: &mut Stages<'_>,
) -> Result<Clustering> {
    let (graph, graph_stage) =
        stages.run(Some(("graph", None)), || build_edges(&knn, params.k, params.min_sim, &params.strategy.edges));
    let graph = graph?;
    drop(knn);
    let infomap = Infomap::new(params.optimizer.infomap(params.strategy.flow));
    let (partition, infomap_stage) = stages.run(Some(("infomap", None)), || infomap.run(&graph));
    let (labels, labels_secs) = stages.time(|| assign_labels(&partition, &graph, params.strategy.lonely));
    let (eval, eval_secs) = match truth {
        Some(truth) => {
            let (scores, secs) = stages.time(|| score(truth, &labels));
            (Some(scores?), secs)
        }
        None => (None, 0.0),
    };
    Ok(Clustering {
        links: graph.num_links(),
        nodes_without_links: graph.num_singletons(),
        counts: ClusterCounts::of(&labels),
        labels,
        partition,
        eval,
        graph_stage,
        infomap_stage,
        labels_secs,
        eval_secs,
    })
}

/// Scores cluster labels against ground truth.
///
/// # Errors
///
/// As [`evaluate`].
pub fn score(truth: &[i64], labels: &[u32]) -> Result<Scores> {
    let pred: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    evaluate(truth, &pred)
}
