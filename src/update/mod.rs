//! `face-cluster add STATE NEW`: adds rows to a saved clustering without starting over
//! (issue 15).
//!
//! ```text
//! State::open -> load NEW -> knn::search_added -> relink (k-NN rows, links, Rates::relink)
//!   -> Rates::settle -> Infomap::refine -> cluster::label_rows -> ids::carry_ids -> State::write
//! ```
//!
//! 1. The added rows are searched against all rows, old and added, the way the state was
//!    searched ([`crate::knn::search_added`]): exactly, or as its `IVFJoin` with the quantizer
//!    it kept. An added row that ranks before an old row's `k`-th neighbour enters that row's
//!    k-NN list and pushes its last neighbour out.
//! 2. The links of every changed row are made again by the state's rule; the flow follows the
//!    changed links ([`crate::infomap::Rates`]: residual pushes, local to the change).
//! 3. The *affected* rows are the added rows, the old rows whose links changed, and the
//!    targets of every new link (a row that only lost an in-link keeps its module; its flow
//!    follows through the rates). [`crate::infomap::Infomap::refine`] re-optimises
//!    their modules from the saved partition (added rows start alone): core-loop moves of the
//!    affected rows and their modules' members, module moves, fine-tune rounds. Every other
//!    module stays as it was, though moving rows may join it.
//! 4. Rows are grouped into clusters by the main job's rules, as saved
//!    ([`crate::cluster::label_rows`]: rows alone, then the default preset's merge of clusters
//!    and attaching of lone rows to their nearest row, over all rows), and each cluster takes
//!    the id of the old cluster it continues ([`ids`]): untouched clusters keep theirs, new
//!    clusters get new ones, merges and splits are reported.
//! 5. The state is rewritten by generation ([`crate::state`]): the new rows, the changed k-NN
//!    rows and the per-row arrays, committed with the labels and the report in one group.
//!
//! # Drift
//!
//! A warm start only moves what the change touched, so over many updates the partition can
//! drift from what a whole re-optimisation would find. `--check-drift` also re-optimises every
//! row from the same start (same moves, same seed) and reports both codelengths; `--full` does
//! the same and keeps the whole re-optimisation.

pub mod ids;
mod report;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use report::{AddReport, AddTimings, ClusterChanges, DriftReport, FlowReport, SearchReport, UpdateInfomapReport};

use crate::cluster::{label_rows, score, LabelRules, Refined};
use crate::config::{FeatureFormat, LoadOptions};
use crate::error::{Error, Param, Result};
use crate::infomap::{Infomap, InfomapConfig, LinkSource, Partition, Rates, NO_MODULE};
use crate::io::{load_features, read_labels, AtomicFile};
use crate::knn::{parse_ivf_join, search_added, MAX_ROWS, NONE};
use crate::labels::{cluster_sizes, ClusterCounts, OutLinks};
use crate::measure::{peak_rss_bytes, Stages};
use crate::state::{Change, PendingState, State, Table, TableNetwork};
use crate::threshold::nearest_two;

/// How much of the partition an update re-optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The modules of the affected rows (the default).
    #[default]
    Update,
    /// The same, and also every row from the same start, to report the drift; keeps the
    /// update (`--check-drift`).
    CheckDrift,
    /// Every row, from the saved partition; reports the update's drift too (`--full`).
    Full,
}

/// `face-cluster add`: what to add to which state.
#[derive(Debug, Clone, PartialEq)]
pub struct AddJob {
    /// The state folder.
    pub state: PathBuf,
    /// The rows to add (`-` = stdin).
    pub features: PathBuf,
    /// Their format; `None` takes it from the extension.
    pub format: Option<FeatureFormat>,
    /// Row length of a raw `.bin` file; `None` takes the state's.
    pub dim: Option<NonZeroUsize>,
    /// Ground truth for all rows after the update, old first.
    pub truth: Option<PathBuf>,
    /// How much to re-optimise.
    pub scope: Scope,
}

/// What [`add`] produced: labels, report, and the state's new files, not yet in place.
#[derive(Debug)]
pub struct AddOutput {
    /// Cluster id of every row, old rows first in their order, then the added rows.
    pub labels: Vec<u32>,
    /// The report.
    pub report: AddReport,
    pending: PendingState,
}

impl AddOutput {
    /// Puts the state's new files in place together with `outputs` (the labels and report
    /// files), the manifest last ([`PendingState::commit`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file that failed; the state is then as it was.
    pub fn commit(self, outputs: Vec<AtomicFile>) -> Result<()> {
        self.pending.commit(outputs)
    }
}

/// The rule for rows alone reads the state's network.
struct StateLinks<'a> {
    network: TableNetwork<'a, Table>,
    rates: &'a Rates,
}

impl OutLinks for StateLinks<'_> {
    fn n(&self) -> usize {
        self.rates.num_nodes()
    }

    fn has_out_links(&self, i: usize) -> bool {
        self.rates.out_weight(i) > 0.0
    }

    fn strongest_target(&self, i: usize) -> Option<u32> {
        self.network.strongest_target(i)
    }

    fn for_each_target(&self, i: usize, mut visit: impl FnMut(u32)) {
        self.network.for_each_out_link(i, |j, _| visit(j));
    }
}

/// Adds the rows of `job.features` to the state `job.state`; see the [module docs](self).
/// Nothing is written until [`AddOutput::commit`].
///
/// # Errors
///
/// Reading errors naming the file (a state that is not one, of another format version,
/// damaged or locked; an unreadable feature file); [`Error::Format`] when the added rows'
/// dimension differs from the state's; [`Error::CountMismatch`] for ground truth of the wrong
/// length.
pub fn add(job: &AddJob, stages: &mut Stages<'_>) -> Result<AddOutput> {
    let started = Instant::now();
    let mut t = AddTimings::default();
    let truth = job.truth.as_deref().map(read_labels).transpose()?;
    // The added rows are read and checked against the manifest before the state is read.
    let manifest = State::manifest_of(&job.state)?;
    let state_dim = NonZeroUsize::new(manifest.dim).expect("a checked manifest's dimension is at least 1");
    let load =
        LoadOptions { format: job.format, dim: job.dim.unwrap_or(state_dim), normalize: manifest.params.normalize };
    let (new, measured) = stages.run(Some(("load", None)), || load_features(&job.features, &load));
    let new = new?;
    t.load = measured.secs;
    let dim = manifest.dim;
    if new.dim() != dim {
        return Err(Error::format(
            &job.features,
            format!("rows of dimension {}, but the state's rows have {dim}", new.dim()),
        ));
    }
    let (n_old, m) = (manifest.rows, new.n());
    let n = n_old + m;
    if n > MAX_ROWS {
        return Err(Error::invalid(Param::Input, format!("{n} rows is more than {MAX_ROWS}")));
    }
    if let Some(truth) = &truth {
        if truth.len() != n {
            let path = job.truth.as_deref().unwrap_or(Path::new("-"));
            return Err(Error::CountMismatch {
                path: path.to_path_buf(),
                what: "labels",
                got: truth.len(),
                expected: n,
                reason: format!("one per row of {} and {}", job.state.display(), job.features.display()),
            });
        }
    }
    let (state, measured) = stages.run(Some(("load state", None)), || State::open_with_room(&job.state, m));
    let mut state = state?;
    t.load_state = measured.secs;
    let params = state.manifest.params.clone();
    if state.n() != n_old || state.dim() != dim {
        return Err(Error::format(&job.state, "changed while it was read; try again"));
    }

    // 1. Search.
    let (added, measured) = stages.run(Some(("search", None)), || {
        state.features.append(new.as_slice());
        if let Some(q) = &mut state.quantizer {
            q.extend(new.as_slice());
        }
        search_added(&state.features, n_old, &state.table, state.quantizer.as_ref())
    });
    let added = added?;
    drop(new);
    t.search = measured.secs;

    // 2. k-NN rows and links.
    let (relink, measured) = stages.run(Some(("relink", None)), || relink(&mut state, n_old, &added));
    t.relink = measured.secs;
    let Relink { patched, affected, links_added, links_removed } = relink;
    let min_sim = params.min_sim()?;
    let (settled, measured) = stages.run(Some(("flow", None)), || {
        let network = TableNetwork::new(&state.table, min_sim, params.edges);
        state.rates.settle(&network)
    });
    t.flow = measured.secs;

    // 3. Re-optimise.
    let generation = state.manifest.generation + 1;
    let config = InfomapConfig {
        flow_model: params.flow,
        teleportation_probability: params.teleportation_probability,
        seed: params.seed.wrapping_add(generation),
        ..InfomapConfig::default()
    };
    let infomap = Infomap::new(config);
    let mut start = state.modules.clone();
    start.resize(n, NO_MODULE);
    let (refined, measured) =
        stages.run(Some(("infomap", None)), || infomap.refine(&state.network(), &state.rates, &start, &affected));
    t.infomap = measured.secs;
    let (fresh, measured) = stages.run(Some(("drift", None)), || match job.scope {
        Scope::Update => None,
        Scope::CheckDrift | Scope::Full => {
            let all: Vec<u32> = (0..n as u32).collect();
            Some(infomap.refine(&state.network(), &state.rates, &start, &all))
        }
    });
    t.drift = measured.secs;
    let drift = fresh.as_ref().map(|f| {
        let (update, fresh) = (refined.partition.codelength, f.partition.codelength);
        DriftReport {
            fresh_codelength_bits: fresh,
            update_codelength_bits: update,
            drift: (update - fresh) / fresh,
            kept: if job.scope == Scope::Full { "full" } else { "update" }.to_string(),
        }
    });
    let (kept, active): (&Partition, &[u32]) = match (&fresh, job.scope) {
        (Some(f), Scope::Full) => (&f.partition, &f.active),
        _ => (&refined.partition, &refined.active),
    };

    // 4. Clusters, by the main job's rules (`cluster::label_rows`), and their ids.
    let (carried, measured) = stages.run(Some(("labels", None)), || {
        let links = StateLinks { network: state.network(), rates: &state.rates };
        let nearest = nearest_two(&state.table);
        let rules = LabelRules { lonely: params.lonely, merge: params.merge, min_sim, bandwidth: params.bandwidth };
        let mut steps = Refined::default();
        let groups = label_rows(kept, &links, &nearest, &rules, &mut steps);
        let next = state.manifest.next_cluster_id;
        // Of the old rows whose k-NN rows changed, those with an added row among their nearest
        // two: what attaching reads (links are read by the merge, and changed links make a
        // row active).
        let near_added: Vec<u32> = patched
            .iter()
            .copied()
            .filter(|&i| {
                let (ids, _) = state.table.row(i as usize);
                ids.iter().filter(|&&j| j != NONE && j != i).take(2).any(|&j| j as usize >= n_old)
            })
            .collect();
        let touched = touched_clusters(&state.clusters, active, &near_added, &groups, next);
        let touched_count = touched.iter().filter(|&&t| t).count();
        (ids::carry_ids(&state.clusters, &groups, &touched, next), touched_count, steps)
    });
    t.labels = measured.secs;
    let (carried, touched, steps) = carried;
    let (eval, measured) = stages.run(None, || truth.as_ref().map(|truth| score(truth, &carried.ids)));
    t.eval = measured.secs;
    let eval = eval.transpose()?;

    // 5. The new state.
    let counts = ClusterCounts::of(&carried.ids);
    let codelength = kept.codelength;
    let infomap_report = UpdateInfomapReport {
        affected_rows: affected.len(),
        active_rows: refined.active.len(),
        active_modules: refined.active_modules,
        pinned_modules: refined.pinned_modules,
        start_codelength_bits: refined.start_codelength,
        codelength_bits: codelength,
        modules: kept.num_modules,
    };
    state.modules = kept.modules.clone();
    drop(fresh);
    drop(refined);
    let old_ids = std::mem::replace(&mut state.clusters, carried.ids.clone());
    drop(old_ids);
    let rows_since_full = if job.scope == Scope::Full { 0 } else { state.manifest.rows_since_full + m };
    let residual =
        state.rates.residual_norm() / (0..n).map(|v| state.rates.out_weight(v)).sum::<f64>().max(f64::MIN_POSITIVE);
    let change = Change {
        rows_before: n_old,
        patched: patched.clone(),
        full: job.scope == Scope::Full,
        next_cluster_id: carried.next_id,
        codelength_bits: codelength,
    };
    let state_dir = state.dir().display().to_string();
    let (pending, measured) = stages.run(Some(("write", None)), || state.write(&change));
    let pending = pending?;
    t.write = measured.secs;
    t.total = started.elapsed().as_secs_f64();
    let report = AddReport {
        tool: "face-cluster".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        state: state_dir,
        features: job.features.display().to_string(),
        labels: job.truth.as_ref().map(|p| p.display().to_string()),
        generation,
        rows_before: n_old,
        rows_added: m,
        rows: n,
        search: SearchReport {
            index: params.index.clone(),
            nprobe: if parse_ivf_join(&params.index).is_some() { params.nprobe } else { None },
            compared_pairs: added.compared,
            old_rows_relinked: patched.len(),
            links_added,
            links_removed,
        },
        params,
        flow: FlowReport { pushes: settled.pushes, rows_changed: settled.nodes, residual },
        infomap: infomap_report,
        drift,
        rows_since_full,
        clusters: ClusterChanges {
            clusters: counts.clusters,
            singleton_clusters: counts.singletons,
            largest_cluster: counts.largest,
            touched,
            merged_by_share: steps.merges,
            attached_rows: steps.attached,
            attach_skipped: steps.attach_skipped,
            new: carried.new_ids.len(),
            new_ids: carried.new_ids,
            retired_ids: carried.retired,
            merges: carried.merges,
            splits: carried.splits,
            moved_rows: carried.moved_rows,
        },
        timings_secs: t,
        peak_rss_bytes: peak_rss_bytes(),
        eval,
    };
    Ok(AddOutput { labels: carried.ids, report, pending })
}

/// Which old clusters (by id, below `next_id`) the update touched ([`ids::carry_ids`]): those
/// with a row that was re-optimised (`active`) or that has an added row among its nearest two
/// (`near_added`: what [`crate::labels::attach_nearest`] reads), and old clusters of one row
/// that the steps after Infomap no longer leave alone (a row attached or merged only now, as
/// when the share of rows alone crosses [`crate::threshold::MAX_ALONE`]). An untouched cluster
/// keeps its id in the group that holds its rows, whatever joined it: a lone row joining a
/// cluster must not give it its id.
fn touched_clusters(old: &[u32], active: &[u32], near_added: &[u32], groups: &[u32], next_id: u32) -> Vec<bool> {
    let n_old = old.len();
    let mut touched = vec![false; next_id as usize];
    for &v in active.iter().chain(near_added).filter(|&&v| (v as usize) < n_old) {
        touched[old[v as usize] as usize] = true;
    }
    let (old_sizes, group_sizes) = (cluster_sizes(old), cluster_sizes(groups));
    for (i, &c) in old.iter().enumerate() {
        if old_sizes[c as usize] == 1 && group_sizes[groups[i] as usize] > 1 {
            touched[c as usize] = true;
        }
    }
    touched
}

/// What [`relink`] changed.
struct Relink {
    /// Old rows whose k-NN rows changed, ascending.
    patched: Vec<u32>,
    /// Rows whose links changed, and the targets of the links they gained, ascending.
    affected: Vec<u32>,
    links_added: usize,
    links_removed: usize,
}

/// A row whose links changed: the row, its old links and its new ones.
type LinkChange = (usize, Vec<(u32, f64)>, Vec<(u32, f64)>);

/// Merges the added rows into the old rows' k-NN rows they enter, appends the added rows'
/// own, and tells the flow every change of links.
fn relink(state: &mut State, n_old: usize, added: &crate::knn::Added) -> Relink {
    let k = state.k();
    let m = added.ids.len() / k;
    let mut patched = Vec::new();
    let mut before: Vec<(Vec<u32>, Vec<f32>)> = Vec::new();
    let mut at = 0;
    let entries = &added.entries;
    let mut list: Vec<(f32, u32)> = Vec::with_capacity(2 * k);
    let (mut ids, mut sims) = (vec![NONE; k], vec![f32::NEG_INFINITY; k]);
    while at < entries.len() {
        let i = entries[at].0 as usize;
        let (old_ids, old_sims) = state.table.row(i);
        list.clear();
        list.extend(old_sims.iter().copied().zip(old_ids.iter().copied()));
        while at < entries.len() && entries[at].0 as usize == i {
            list.push((entries[at].2, entries[at].1));
            at += 1;
        }
        list.retain(|e| e.1 != NONE);
        list.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        list.dedup_by_key(|e| e.1);
        list.truncate(k);
        for s in 0..k {
            (sims[s], ids[s]) = list.get(s).copied().unwrap_or((f32::NEG_INFINITY, NONE));
        }
        if ids[..] != old_ids[..] {
            before.push((old_ids.to_vec(), old_sims.to_vec()));
            patched.push(i as u32);
            state.table.set_row(i, &ids, &sims);
        }
    }
    for x in 0..m {
        state.table.set_row(n_old + x, &added.ids[x * k..(x + 1) * k], &added.sims[x * k..(x + 1) * k]);
    }
    state.rates.add_nodes(m);

    let network = state.network();
    let mut affected = Vec::new();
    let (mut old_links, mut new_links) = (Vec::new(), Vec::new());
    let (mut links_added, mut links_removed) = (0, 0);
    let mut changes: Vec<LinkChange> = Vec::new();
    for (&i, (ids, sims)) in patched.iter().zip(&before) {
        let i = i as usize;
        old_links.clear();
        new_links.clear();
        network.links_of_slots(i, ids, sims, &mut old_links);
        network.links(i, &mut new_links);
        if old_links == new_links {
            continue;
        }
        // The row and the targets of its new links are affected; a target that lost its link
        // keeps its module (its flow follows, through the rates).
        affected.push(i as u32);
        for l in &old_links {
            if !new_links.iter().any(|x| x.0 == l.0) {
                links_removed += 1;
            }
        }
        for l in &new_links {
            if !old_links.iter().any(|x| x.0 == l.0) {
                affected.push(l.0);
                links_added += 1;
            }
        }
        let widen = |links: &[(u32, f32)]| links.iter().map(|&(j, w)| (j, f64::from(w))).collect::<Vec<_>>();
        changes.push((i, widen(&old_links), widen(&new_links)));
    }
    for x in n_old..n_old + m {
        new_links.clear();
        network.links(x, &mut new_links);
        affected.push(x as u32);
        affected.extend(new_links.iter().map(|l| l.0));
        links_added += new_links.len();
        changes.push((x, Vec::new(), new_links.iter().map(|&(j, w)| (j, f64::from(w))).collect()));
    }
    for (i, old, new) in &changes {
        state.rates.relink(*i, old, new);
    }
    affected.sort_unstable();
    affected.dedup();
    Relink { patched, affected, links_added, links_removed }
}

#[cfg(test)]
mod tests;
