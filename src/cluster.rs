//! Everything after the search, written once: the k-NN table's links become a graph, Infomap
//! partitions it, modules become cluster labels, and labels are scored against ground truth.
//!
//! ```text
//! Knn --edges::build_edges--> Graph --Infomap::run--> Partition --labels::assign_labels--> labels
//!     --labels::merge_clusters (Strategy::merge)--> --labels::attach_nearest (Lonely::Nearest)-->
//!                                                                   --metrics::evaluate--> Scores
//! ```
//!
//! The two steps after the labels are issue 17's: they run for the main job, every sweep cell
//! and `face-cluster add` alike, in [`label_rows`] and nowhere else.
//!
//! The main job ([`crate::pipeline::run`]) runs [`cluster`] once on the table it searched or
//! read; a sweep ([`crate::sweep`]) runs it once per cell of its grid on one table. The
//! threshold is resolved before ([`crate::threshold::auto_min_sim`] for `auto`): the same
//! table gives the same threshold, so it is computed once per table and `k`.

use std::borrow::Cow;

use crate::config::{Lonely, Optimizer, Pruning, Share, Similarity, Strategy};
use crate::edges::{build_edges, far_min_sim, reach_share};
use crate::error::Result;
use crate::infomap::{Infomap, Partition};
use crate::knn::Knn;
use crate::labels::{assign_labels, attach_nearest, merge_clusters, ClusterCounts, OutLinks};
use crate::measure::{Measured, Stages};
use crate::metrics::{evaluate, Scores};
use crate::threshold::{alone_share, nearest_two, MAX_ALONE};

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
    /// `h`, the merge heights' bandwidth ([`crate::threshold::MinSimChoice::bandwidth`]): the
    /// unit of [`Lonely::Nearest`]'s window. Without it, that rule attaches nothing.
    pub bandwidth: Option<f64>,
}

/// How far below `min_sim` [`Lonely::Nearest`] looks, in bandwidths (issue 17's ATTACH_BELOW).
pub const ATTACH_BELOW: f64 = 2.0;
/// How much nearer than the second nearest the nearest row must be, in bandwidths (ATTACH_GAP).
pub const ATTACH_GAP: f64 = 1.0;

/// What the steps after Infomap did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Refined {
    /// Pairs of clusters joined by [`merge_clusters`].
    pub merges: usize,
    /// Lonely rows attached to their nearest row's cluster ([`attach_nearest`]).
    pub attached: usize,
    /// Whether attaching was skipped because most rows have no link at `min_sim` (then a lonely
    /// row is most likely a one-photo person).
    pub attach_skipped: bool,
    /// The far tier's threshold ([`Pruning::Tiered`]).
    pub far_min_sim: Option<f32>,
    /// Share of rows whose last slot holds a link at or above the far threshold
    /// ([`crate::edges::reach_share`]; [`Pruning::Tiered`]).
    pub reach_share: Option<f64>,
    /// Share of rows with no neighbour at or above `min_sim`.
    pub alone_share: f64,
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
    /// What the steps after Infomap did.
    pub refined: Refined,
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
    let strategy = &params.strategy;
    let mut refined = Refined::default();
    if strategy.edges.pruning == Pruning::Tiered {
        let far = far_min_sim(params.min_sim, strategy.edges.far_beta);
        refined.far_min_sim = Some(far);
        refined.reach_share = Some(reach_share(&knn, params.k, far));
    }
    // Only the nearest two of each row outlive the table (12 bytes a row).
    let nearest = nearest_two(knn.as_ref());
    drop(knn);
    let infomap = Infomap::new(params.optimizer.infomap(strategy.flow));
    let (partition, infomap_stage) = stages.run(Some(("infomap", None)), || infomap.run(&graph));
    let rules = LabelRules {
        lonely: strategy.lonely,
        merge: strategy.merge,
        min_sim: params.min_sim,
        bandwidth: params.bandwidth,
    };
    let (labels, labels_secs) = stages.time(|| label_rows(&partition, &graph, &nearest, &rules, &mut refined));
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
        refined,
        labels,
        partition,
        eval,
        graph_stage,
        infomap_stage,
        labels_secs,
        eval_secs,
    })
}

/// The rules [`label_rows`] applies after Infomap.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelRules {
    /// What becomes of rows alone ([`assign_labels`]; [`Lonely::Nearest`] also attaches).
    pub lonely: Lonely,
    /// The share at which clusters are merged ([`merge_clusters`]), if they are.
    pub merge: Option<Share>,
    /// The threshold the links were kept at.
    pub min_sim: Similarity,
    /// `h`, the unit of [`Lonely::Nearest`]'s window ([`ClusterParams::bandwidth`]).
    pub bandwidth: Option<f64>,
}

/// Cluster labels from Infomap's `partition` of the network `links`: [`assign_labels`], then
/// [`merge_clusters`] when `rules.merge` is set, then, for [`Lonely::Nearest`],
/// [`attach_nearest`] in the window `min_sim - 2h` with gap `h` ([`ATTACH_BELOW`],
/// [`ATTACH_GAP`]) unless more than [`MAX_ALONE`] of the rows have no neighbour at `min_sim`.
/// `nearest` is each row's nearest two ([`nearest_two`]). The main job ([`cluster`]) and
/// `face-cluster add` (on a saved clustering's network) both label their rows here, so a
/// saved clustering updated in full gets the labels the main job would give.
///
/// Fills `refined`'s `merges`, `attached`, `attach_skipped` and `alone_share`.
///
/// # Complexity
///
/// That of [`assign_labels`], plus `O(L)` per merge round and `O(n α(n))` for attaching.
pub fn label_rows(
    partition: &Partition,
    links: &impl OutLinks,
    nearest: &[(u32, f32, f32)],
    rules: &LabelRules,
    refined: &mut Refined,
) -> Vec<u32> {
    let t = f64::from(rules.min_sim.get());
    refined.alone_share = alone_share(nearest, t);
    let mut labels = assign_labels(partition, links, rules.lonely);
    if let Some(share) = rules.merge {
        (labels, refined.merges) = merge_clusters(&labels, links, f64::from(share.get()));
    }
    if rules.lonely == Lonely::Nearest {
        // When most rows are alone, a lonely row is most likely a one-photo person.
        refined.attach_skipped = refined.alone_share > MAX_ALONE;
        if let (Some(h), false) = (rules.bandwidth, refined.attach_skipped) {
            (labels, refined.attached) = attach_nearest(&labels, nearest, t - ATTACH_BELOW * h, ATTACH_GAP * h);
        }
    }
    labels
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
