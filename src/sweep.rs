//! Parameter sweeps: one k-NN search, then a clustering and its scores for every
//! `(k, min_sim, strategy)`.
//!
//! The search dominates the cost of a run, and its table serves every smaller `k`: the first
//! `k'` slots of a row are what a search with `k'` returns (see [`crate::knn`]). [`run`]
//! therefore reads the inputs once through [`pipeline::load_inputs`], searching with the
//! largest `k` of the grid (or reading a cached table), and [`sweep`] then builds the graph
//! ([`build_edges`] uses the first `k` slots), runs [`Infomap`], numbers the clusters
//! ([`assign_labels`]) and scores them ([`crate::metrics::evaluate`]) for every cell: `k` by
//! `k`, then strategy by strategy ([`Strategy`]: links kept, weights, flow, rows alone), then
//! `min_sim` ascending, and last the automatic threshold ([`auto_min_sim`]) when asked for. The
//! best cell is the one with the highest pairwise F (the first on a tie).
//!
//! [`SweepOutput`] serialises to one JSON object (`face-cluster sweep --json`), renders as a
//! Markdown table ([`SweepOutput::markdown`]) and as an SVG plot ([`plot::write_svg`]).
//!
//! # Grid syntax
//!
//! [`parse_ks`] and [`parse_min_sims`] read the command line's lists: comma-separated items,
//! each a single value or an inclusive range `START:STOP:STEP` (`0.50:0.70:0.02` is eleven
//! values, `0.70` included: the stop counts when it is within a millionth of a step of the
//! grid). The values are sorted ascending and repeats dropped. [`parse_min_sim_grid`] also
//! takes the item `auto`.

pub mod plot;

use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

use crate::edges::build_edges;
use crate::error::{Error, Result};
use crate::infomap::{Infomap, InfomapConfig};
use crate::knn::Knn;
use crate::lonely::assign_labels;
use crate::metrics::Scores;
use crate::pipeline::{self, RunConfig};
use crate::progress::Progress;
use crate::report::Timings;
use crate::strategy::Strategy;
use crate::threshold::auto_min_sim;

/// The most values one grid axis may hold: a typo such as `0:1:0.0001` fails instead of
/// running for hours.
pub const MAX_GRID_VALUES: usize = 10_000;

/// What to sweep over.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// The inputs and fixed settings, as for the main job. `inputs.truth` is required.
    /// `inputs.knn.k`, `inputs.min_sim`, `inputs.edges`, `inputs.lonely` and
    /// `inputs.infomap.flow_model` are not used: the search takes the largest of `ks` (a cached
    /// table must hold at least that many slots), and each cell its own choices.
    pub inputs: RunConfig,
    /// Neighbours per row (self included), each at least 1.
    pub ks: Vec<usize>,
    /// Similarity thresholds, each in `[-1, 1]`.
    pub min_sims: Vec<f32>,
    /// Also one cell per `k` and strategy at the threshold [`auto_min_sim`] picks.
    pub auto_min_sim: bool,
    /// Strategies (at least one).
    pub strategies: Vec<Strategy>,
}

/// The result of one `(k, min_sim)` cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepCell {
    /// Neighbour slots used, self included.
    pub k: usize,
    /// Similarity threshold.
    pub min_sim: f32,
    /// Whether the threshold was picked by [`auto_min_sim`].
    pub min_sim_auto: bool,
    /// Links kept, weights, flow, rows alone.
    pub strategy: Strategy,
    /// Directed links kept.
    pub links: usize,
    /// Rows without a kept link (each its own cluster).
    pub nodes_without_links: usize,
    /// Infomap's modules.
    pub modules: usize,
    /// Infomap's codelength.
    pub codelength_bits: f64,
    /// Clusters in the output.
    pub clusters: usize,
    /// Clusters of one row.
    pub singleton_clusters: usize,
    /// Scores against the ground truth.
    pub eval: Scores,
    /// Seconds for the graph, Infomap, labels and scores of this cell, and for picking the
    /// threshold when it was picked.
    pub secs: f64,
    /// Whether this is the best cell (highest pairwise F).
    pub best: bool,
}

/// A sweep's inputs, parameters, timings and cells.
///
/// Serialises (`face-cluster sweep --json`) as
///
/// ```text
/// {"tool": "face-cluster", "version": "0.1.0",
///  "input": {"features": "feats.npy", "knn_cache": null, "labels": "labels.meta", "n": 6878, "dim": 128},
///  "params": {"ks": [50, 80], "min_sims": [0.9, 0.91], "auto_min_sim": false, "strategies": [{..}],
///             "knn_k": 80, "index": "Flat", "normalize": true, "trials": 1, "seed": 123, "threads": 2},
///  "timings_secs": {"load": 0.01, "knn": 0.4, "cells": 3.2, "total": 3.6},
///  "best": 1,
///  "cells": [{"k": 50, "min_sim": 0.9, "min_sim_auto": false, "strategy": {..}, "links": ..,
///             "nodes_without_links": .., "modules": .., "codelength_bits": .., "clusters": ..,
///             "singleton_clusters": .., "eval": {..}, "secs": .., "best": false}, ..]}
/// ```
///
/// `eval` is the object of `face-cluster eval --json`; `best` indexes `cells` (null with no
/// cells); `dim` is null with a cached k-NN table. A strategy is
/// `{"edges": {"pruning": "threshold", "weighting": "sim", "min_snn": 0.2, "min_cut_z": 3.0},
/// "flow": "directed", "lonely": "own"}` ([`Strategy`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepOutput {
    /// Always `face-cluster`.
    pub tool: String,
    /// Version of the tool.
    pub version: String,
    /// The inputs.
    pub input: SweepInput,
    /// Parameters.
    pub params: SweepParams,
    /// Seconds per stage.
    pub timings_secs: SweepTimings,
    /// Index of the best cell in `cells`.
    pub best: Option<usize>,
    /// One cell per `(k, min_sim)`, `k` by `k`, `min_sim` ascending.
    pub cells: Vec<SweepCell>,
}

/// The inputs of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepInput {
    /// Feature file, if read.
    pub features: Option<String>,
    /// Cached k-NN table, if used.
    pub knn_cache: Option<String>,
    /// Ground-truth labels.
    pub labels: Option<String>,
    /// Rows.
    pub n: usize,
    /// Feature dimension (unknown with a cached table).
    pub dim: Option<usize>,
}

/// The parameters of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepParams {
    /// The grid's k values.
    pub ks: Vec<usize>,
    /// The grid's thresholds.
    pub min_sims: Vec<f32>,
    /// Whether each `k` and strategy also has a cell at the automatic threshold.
    pub auto_min_sim: bool,
    /// The strategies.
    pub strategies: Vec<Strategy>,
    /// Slots per row of the k-NN table used.
    pub knn_k: usize,
    /// faiss index string (of the search; unused with a cache).
    pub index: String,
    /// Whether rows were L2-normalised.
    pub normalize: bool,
    /// Infomap trials.
    pub trials: usize,
    /// Infomap seed.
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
}

/// Seconds per stage of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepTimings {
    /// Reading the features (or the cached table).
    pub load: f64,
    /// The one k-NN search (0 with a cache).
    pub knn: f64,
    /// All cells.
    pub cells: f64,
    /// Everything.
    pub total: f64,
}

/// Reads the inputs once, searches once with the largest `k`, and sweeps the grid.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for an empty grid (`--k`, `--min-sim`, no strategy), a `k` of 0
/// or a `min_sim` outside `[-1, 1]`, and missing ground truth (`--labels`); then everything
/// [`pipeline::load_inputs`] and [`sweep`] return.
pub fn run(config: &SweepConfig, progress: &dyn Progress) -> Result<SweepOutput> {
    let started = Instant::now();
    check_grid(&config.ks, &config.min_sims, config.auto_min_sim, &config.strategies)?;
    if config.inputs.truth.is_none() {
        return Err(Error::invalid("--labels", "a sweep needs ground-truth labels to score its cells"));
    }
    let mut inputs = config.inputs.clone();
    inputs.knn.k = *config.ks.iter().max().expect("check_grid rejects an empty grid");
    let mut timings = Timings::default();
    let loaded = pipeline::load_inputs(&inputs, &mut timings, progress)?;
    let truth = loaded.truth.as_deref().expect("ground truth was required above");
    let t = Instant::now();
    let grid = Grid {
        ks: &config.ks,
        min_sims: &config.min_sims,
        auto_min_sim: config.auto_min_sim,
        strategies: &config.strategies,
    };
    let cells = sweep(&loaded.knn, truth, &grid, &inputs.infomap, progress)?;
    let cells_secs = t.elapsed().as_secs_f64();

    let show = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    Ok(SweepOutput {
        tool: "face-cluster".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        input: SweepInput {
            features: if inputs.knn_cache.is_some() { None } else { show(&inputs.features) },
            knn_cache: show(&inputs.knn_cache),
            labels: show(&inputs.truth),
            n: loaded.knn.n,
            dim: loaded.dim,
        },
        params: SweepParams {
            ks: config.ks.clone(),
            min_sims: config.min_sims.clone(),
            auto_min_sim: config.auto_min_sim,
            strategies: config.strategies.clone(),
            knn_k: loaded.knn.k,
            index: loaded.search.as_ref().map_or_else(|| inputs.knn.index.clone(), |s| s.resolved.index.clone()),
            normalize: inputs.load.normalize,
            trials: inputs.infomap.trials,
            seed: inputs.infomap.seed,
            threads: rayon::current_num_threads(),
        },
        timings_secs: SweepTimings {
            load: timings.load,
            knn: timings.knn,
            cells: cells_secs,
            total: started.elapsed().as_secs_f64(),
        },
        best: best_cell(&cells),
        cells,
    })
}

/// The axes of a sweep.
#[derive(Debug, Clone, Copy)]
pub struct Grid<'a> {
    /// Neighbour slots per row, self included.
    pub ks: &'a [usize],
    /// Fixed thresholds.
    pub min_sims: &'a [f32],
    /// Also a cell at the automatic threshold, per `k` and strategy.
    pub auto_min_sim: bool,
    /// Strategies.
    pub strategies: &'a [Strategy],
}

/// Clusters and scores every cell of the grid on one k-NN table: for each `k` in `grid.ks`
/// (outer), each strategy, each `min_sim` in `grid.min_sims` in the order given, then the
/// automatic threshold if asked for. Marks the best cell (see [`best_cell`]). Reports stage
/// `sweep` with one unit per cell.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for an empty grid, a `k` of 0 or above `knn.k` (`--k`), a
/// `min_sim` outside `[-1, 1]` (`--min-sim`); [`Error::LabelCount`] when `truth` does not have
/// one label per row.
///
/// # Complexity
///
/// Per cell, the main job's stages after the search: `O(n k)` for the graph (`O(n k²)` with
/// shared-neighbour scores), Infomap's search, `O(n)` for the scores; per `k`, `O(n k log(n k))`
/// for the automatic threshold.
pub fn sweep(
    knn: &Knn,
    truth: &[i64],
    grid: &Grid<'_>,
    infomap: &InfomapConfig,
    progress: &dyn Progress,
) -> Result<Vec<SweepCell>> {
    check_grid(grid.ks, grid.min_sims, grid.auto_min_sim, grid.strategies)?;
    if truth.len() != knn.n {
        return Err(Error::LabelCount { truth: truth.len(), pred: knn.n });
    }
    let per_k = grid.strategies.len() * (grid.min_sims.len() + usize::from(grid.auto_min_sim));
    progress.start("sweep", Some((grid.ks.len() * per_k) as u64));
    let finish = FinishOnDrop(progress);
    let mut cells = Vec::with_capacity(grid.ks.len() * per_k);
    for &k in grid.ks {
        if k > knn.k {
            return Err(Error::invalid("--k", format!("{k} is more than the {} neighbours of the k-NN table", knn.k)));
        }
        let t = Instant::now();
        let auto = if grid.auto_min_sim { Some(auto_min_sim(knn, k)?.min_sim) } else { None };
        let auto_secs = t.elapsed().as_secs_f64();
        for strategy in grid.strategies {
            let infomap = Infomap::new(InfomapConfig { flow_model: strategy.flow, ..infomap.clone() });
            let fixed = grid.min_sims.iter().map(|&m| (m, false));
            for (min_sim, min_sim_auto) in fixed.chain(auto.map(|m| (m, true))) {
                let t = Instant::now();
                let graph = build_edges(knn, k, min_sim, &strategy.edges)?;
                let partition = infomap.run(&graph);
                let labels = assign_labels(&partition, &graph, strategy.lonely);
                let eval = pipeline::score(truth, &labels)?;
                let mut sizes = vec![0u32; eval.pred_clusters];
                labels.iter().for_each(|&l| sizes[l as usize] += 1);
                cells.push(SweepCell {
                    k,
                    min_sim,
                    min_sim_auto,
                    strategy: *strategy,
                    links: graph.num_links(),
                    nodes_without_links: graph.num_singletons(),
                    modules: partition.num_modules,
                    codelength_bits: partition.codelength,
                    clusters: eval.pred_clusters,
                    singleton_clusters: sizes.iter().filter(|&&s| s == 1).count(),
                    eval,
                    secs: t.elapsed().as_secs_f64() + if min_sim_auto { auto_secs } else { 0.0 },
                    best: false,
                });
                progress.advance(1);
            }
        }
    }
    drop(finish);
    if let Some(best) = best_cell(&cells) {
        cells[best].best = true;
    }
    Ok(cells)
}

/// Calls [`Progress::finish`] when dropped, so the stage ends on every return path.
struct FinishOnDrop<'a>(&'a dyn Progress);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// The index of the cell with the highest pairwise F, the first of equals; `None` for no
/// cells.
pub fn best_cell(cells: &[SweepCell]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, cell) in cells.iter().enumerate() {
        if best.is_none_or(|b| cell.eval.pairwise.f > cells[b].eval.pairwise.f) {
            best = Some(i);
        }
    }
    best
}

fn check_grid(ks: &[usize], min_sims: &[f32], auto: bool, strategies: &[Strategy]) -> Result<()> {
    if ks.is_empty() {
        return Err(Error::invalid("--k", "no value to sweep"));
    }
    if min_sims.is_empty() && !auto {
        return Err(Error::invalid("--min-sim", "no value to sweep"));
    }
    if strategies.is_empty() {
        return Err(Error::invalid("--edges", "no strategy to sweep"));
    }
    if let Some(bad) = strategies.iter().find(|s| !(0.0..=1.0).contains(&s.edges.min_snn)) {
        return Err(Error::invalid("--min-snn", format!("{} is not in [0, 1]", bad.edges.min_snn)));
    }
    if ks.contains(&0) {
        return Err(Error::invalid("--k", "k = 0: every k must be at least 1"));
    }
    if let Some(bad) = min_sims.iter().find(|s| !(-1.0..=1.0).contains(*s)) {
        return Err(Error::invalid("--min-sim", format!("{bad} is not a cosine similarity in [-1, 1]")));
    }
    Ok(())
}

impl SweepOutput {
    /// The cells as a Markdown table, one row per cell, the best cell's row in bold, followed by
    /// a line naming the best cell.
    pub fn markdown(&self) -> String {
        // The strategy column appears when the sweep is not of the seed's strategy alone.
        let strategies =
            self.params.strategies.len() > 1 || self.params.strategies.iter().any(|s| *s != Strategy::default());
        let mut s = String::new();
        s.push_str(if strategies { "| k | strategy | min_sim |" } else { "| k | min_sim |" });
        s.push_str(
            " pairwise P | pairwise R | pairwise F | BCubed P | BCubed R | BCubed F | NMI | clusters | singletons | secs |\n",
        );
        s.push_str(if strategies { "|--:|:--|--:|" } else { "|--:|--:|" });
        s.push_str("--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for cell in &self.cells {
            let e = &cell.eval;
            let mut values = vec![cell.k.to_string()];
            if strategies {
                values.push(cell.strategy.label());
            }
            values.extend([
                min_sim_text(cell),
                format!("{:.4}", e.pairwise.precision),
                format!("{:.4}", e.pairwise.recall),
                format!("{:.4}", e.pairwise.f),
                format!("{:.4}", e.bcubed.precision),
                format!("{:.4}", e.bcubed.recall),
                format!("{:.4}", e.bcubed.f),
                format!("{:.4}", e.nmi),
                cell.clusters.to_string(),
                cell.singleton_clusters.to_string(),
                format!("{:.2}", cell.secs),
            ]);
            s.push('|');
            for value in values {
                let _ = if cell.best { write!(s, " **{value}** |") } else { write!(s, " {value} |") };
            }
            s.push('\n');
        }
        if let Some(best) = self.best.map(|b| &self.cells[b]) {
            let strategy = if strategies { format!(" ({})", best.strategy.label()) } else { String::new() };
            let _ = writeln!(
                s,
                "\nBest pairwise F {:.4} at k={}, min_sim={}{strategy} ({} rows, {} true clusters; k-NN {:.2}s, cells {:.2}s).",
                best.eval.pairwise.f,
                best.k,
                min_sim_text(best),
                self.input.n,
                best.eval.true_clusters,
                self.timings_secs.knn,
                self.timings_secs.cells
            );
        }
        s
    }
}

/// A cell's threshold as the table shows it: the value, and `(auto)` when it was picked.
fn min_sim_text(cell: &SweepCell) -> String {
    if cell.min_sim_auto {
        format!("{:.4} (auto)", cell.min_sim)
    } else {
        cell.min_sim.to_string()
    }
}

/// Reads a `--min-sim` grid that may also hold the item `auto`: the fixed values (as
/// [`parse_min_sims`]) and whether `auto` was among the items.
///
/// # Errors
///
/// As [`parse_min_sims`]; a list of `auto` alone is fine.
pub fn parse_min_sim_grid(spec: &str) -> Result<(Vec<f32>, bool)> {
    let items = items(spec, "--min-sim")?;
    let auto = items.iter().any(|item| item.eq_ignore_ascii_case("auto"));
    let fixed: Vec<&str> = items.into_iter().filter(|item| !item.eq_ignore_ascii_case("auto")).collect();
    if fixed.is_empty() {
        return Ok((Vec::new(), auto));
    }
    Ok((parse_min_sims(&fixed.join(","))?, auto))
}

/// Reads a list of `k` values: comma-separated items, each an integer or an inclusive range
/// `START:STOP:STEP`, e.g. `50,80` or `10:100:10`. Sorted ascending, repeats dropped.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `--k` for an empty list or item, a value that is not a
/// positive integer, a range that is not `START:STOP:STEP` with `START <= STOP` and
/// `STEP >= 1`, and more than [`MAX_GRID_VALUES`] values.
pub fn parse_ks(spec: &str) -> Result<Vec<usize>> {
    const NAME: &str = "--k";
    let number = |text: &str| -> Result<usize> {
        match text.trim().parse::<usize>() {
            Ok(k) if k >= 1 => Ok(k),
            _ => Err(Error::invalid(NAME, format!("'{}' is not a positive integer", text.trim()))),
        }
    };
    let mut values = Vec::new();
    for item in items(spec, NAME)? {
        match range_parts(item, NAME)? {
            None => values.push(number(item)?),
            Some([start, stop, step]) => {
                let (start, stop, step) = (number(start)?, number(stop)?, number(step)?);
                if start > stop {
                    return Err(Error::invalid(NAME, format!("range '{item}' runs backwards (START > STOP)")));
                }
                let count = (stop - start) / step + 1;
                check_count(values.len() + count, NAME)?;
                values.extend((0..count).map(|i| start + i * step));
            }
        }
        check_count(values.len(), NAME)?;
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// Reads a list of similarity thresholds: comma-separated items, each a number or an
/// inclusive range `START:STOP:STEP`, e.g. `0.58` or `0.50:0.70:0.02`. The stop value is
/// included when it is on the grid within a millionth of a step; values are rounded to 9
/// decimals, so `0.50:0.70:0.02` gives exactly `0.5, 0.52, ..., 0.7`. Sorted ascending,
/// repeats dropped.
///
/// # Errors
///
/// [`Error::InvalidParameter`] naming `--min-sim` for an empty list or item, a value that is
/// not a number in `[-1, 1]`, a range that is not `START:STOP:STEP` with `START <= STOP` and
/// `STEP > 0`, and more than [`MAX_GRID_VALUES`] values.
pub fn parse_min_sims(spec: &str) -> Result<Vec<f32>> {
    const NAME: &str = "--min-sim";
    let number = |text: &str| -> Result<f64> {
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(Error::invalid(NAME, format!("'{}' is not a number", text.trim()))),
        }
    };
    let mut values: Vec<f64> = Vec::new();
    for item in items(spec, NAME)? {
        match range_parts(item, NAME)? {
            None => values.push(number(item)?),
            Some([start, stop, step]) => {
                let (start, stop, step) = (number(start)?, number(stop)?, number(step)?);
                if step <= 0.0 {
                    return Err(Error::invalid(NAME, format!("range '{item}' has a step that is not positive")));
                }
                if start > stop {
                    return Err(Error::invalid(NAME, format!("range '{item}' runs backwards (START > STOP)")));
                }
                let steps = ((stop - start) / step + 1e-6).floor();
                if steps + 1.0 > MAX_GRID_VALUES as f64 {
                    return Err(too_many(NAME));
                }
                let count = steps as usize + 1;
                check_count(values.len() + count, NAME)?;
                values.extend((0..count).map(|i| ((start + i as f64 * step) * 1e9).round() / 1e9));
            }
        }
        check_count(values.len(), NAME)?;
    }
    if let Some(bad) = values.iter().find(|v| !(-1.0..=1.0).contains(*v)) {
        return Err(Error::invalid(NAME, format!("{bad} is not a cosine similarity in [-1, 1]")));
    }
    let mut values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
    values.sort_unstable_by(f32::total_cmp);
    values.dedup();
    Ok(values)
}

/// The non-empty comma-separated items of `spec`.
fn items<'a>(spec: &'a str, name: &'static str) -> Result<Vec<&'a str>> {
    let items: Vec<&str> = spec.split(',').map(str::trim).collect();
    if items.iter().any(|item| item.is_empty()) {
        return Err(Error::invalid(name, format!("'{spec}' has an empty item (expected a list such as 1,2 or 1:9:2)")));
    }
    Ok(items)
}

/// `Some([start, stop, step])` for a range item, `None` for a single value.
fn range_parts<'a>(item: &'a str, name: &'static str) -> Result<Option<[&'a str; 3]>> {
    if !item.contains(':') {
        return Ok(None);
    }
    match item.split(':').collect::<Vec<_>>()[..] {
        [start, stop, step] => Ok(Some([start, stop, step])),
        _ => Err(Error::invalid(name, format!("range '{item}' is not START:STOP:STEP"))),
    }
}

fn check_count(count: usize, name: &'static str) -> Result<()> {
    if count > MAX_GRID_VALUES {
        Err(too_many(name))
    } else {
        Ok(())
    }
}

fn too_many(name: &'static str) -> Error {
    Error::invalid(name, format!("more than {MAX_GRID_VALUES} values"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::{build_knn, KnnConfig};
    use crate::progress::NoProgress;
    use crate::synth::{generate, SynthConfig};
    use crate::Features;
    use std::path::Path;

    const SEED: &[Strategy] = &[Strategy {
        edges: crate::edges::EdgeConfig {
            pruning: crate::edges::Pruning::Threshold,
            weighting: crate::edges::Weighting::Sim,
            min_snn: 0.2,
            min_cut_z: 3.0,
        },
        flow: crate::infomap::FlowModel::Directed,
        lonely: crate::lonely::Lonely::Own,
    }];

    fn grid<'a>(ks: &'a [usize], min_sims: &'a [f32]) -> Grid<'a> {
        Grid { ks, min_sims, auto_min_sim: false, strategies: SEED }
    }

    fn invalid_name(e: Error) -> &'static str {
        match e {
            Error::InvalidParameter { name, .. } => name,
            e => panic!("not an invalid parameter: {e}"),
        }
    }

    #[test]
    fn ks_lists_and_ranges() {
        assert_eq!(parse_ks("50").unwrap(), [50]);
        assert_eq!(parse_ks("80,50").unwrap(), [50, 80]);
        assert_eq!(parse_ks(" 10:40:10 , 25").unwrap(), [10, 20, 25, 30, 40]);
        assert_eq!(parse_ks("10:45:10").unwrap(), [10, 20, 30, 40]);
        assert_eq!(parse_ks("5:5:1,5").unwrap(), [5]);
    }

    #[test]
    fn min_sim_ranges_include_the_stop() {
        let v = parse_min_sims("0.50:0.70:0.02").unwrap();
        assert_eq!(v.len(), 11);
        assert_eq!(v[0], 0.5);
        assert_eq!(v[4], 0.58);
        assert_eq!(v[10], 0.7);
        let v = parse_min_sims("0.90:0.97:0.01").unwrap();
        assert_eq!(v, [0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97]);
        assert_eq!(parse_min_sims("0.1:0.35:0.1").unwrap(), [0.1, 0.2, 0.3]);
        assert_eq!(parse_min_sims("0.6,-0.2,0.6").unwrap(), [-0.2, 0.6]);
        assert_eq!(parse_min_sims("0.5:0.5:0.1").unwrap(), [0.5]);
    }

    #[test]
    fn bad_syntax_names_the_option() {
        for spec in ["", "50,", "a", "0", "-5", "1.5", "10:5:1", "10:20", "1:2:3:4", "10:20:0", "1:100000:1"] {
            assert_eq!(invalid_name(parse_ks(spec).unwrap_err()), "--k", "{spec:?}");
        }
        for spec in
            ["", ",0.5", "x", "nan", "inf", "0.7:0.5:0.01", "0.5:0.7", "0.5:0.7:0", "0.5:0.7:-0.1", "1.5", "0:1:1e-9"]
        {
            assert_eq!(invalid_name(parse_min_sims(spec).unwrap_err()), "--min-sim", "{spec:?}");
        }
        let e = parse_min_sims("0.5:0.7").unwrap_err();
        assert_eq!(e.to_string(), "invalid --min-sim: range '0.5:0.7' is not START:STOP:STEP");
        let e = parse_ks("5,x").unwrap_err();
        assert_eq!(e.to_string(), "invalid --k: 'x' is not a positive integer");
    }

    fn synth_knn(k: usize) -> (Knn, Vec<i64>) {
        let s =
            generate(&SynthConfig { n: 1500, dim: 64, mean_identity_size: 30.0, seed: 5, ..SynthConfig::default() })
                .unwrap();
        let features = Features::new(s.features, Path::new("synth"), false).unwrap();
        let knn = build_knn(&features, &KnnConfig { k, ..KnnConfig::default() }, &NoProgress).unwrap();
        (knn, s.labels.iter().map(|&l| i64::from(l)).collect())
    }

    #[test]
    fn sweep_covers_the_grid_and_marks_the_best_cell() {
        let (knn, truth) = synth_knn(20);
        let ks = [10, 20];
        let min_sims = [0.0, 0.5, 0.6, 0.99];
        let cells = sweep(&knn, &truth, &grid(&ks, &min_sims), &InfomapConfig::default(), &NoProgress).unwrap();
        let grid: Vec<(usize, f32)> = cells.iter().map(|c| (c.k, c.min_sim)).collect();
        assert_eq!(grid, [(10, 0.0), (10, 0.5), (10, 0.6), (10, 0.99), (20, 0.0), (20, 0.5), (20, 0.6), (20, 0.99)]);
        let best = best_cell(&cells).unwrap();
        assert_eq!(cells.iter().filter(|c| c.best).count(), 1);
        assert!(cells[best].best);
        assert!(cells.iter().all(|c| c.eval.pairwise.f <= cells[best].eval.pairwise.f));
        assert!(cells[best].eval.pairwise.f > 0.8, "{:?}", cells[best].eval);
        // min_sim 0.99 keeps no link: every row is its own cluster.
        let none = &cells[3];
        assert_eq!((none.links, none.nodes_without_links, none.clusters), (0, 1500, 1500));
        assert_eq!(none.singleton_clusters, 1500);
        // A cell is exactly what a main-job run with that k and min_sim computes.
        let graph = crate::graph::build_graph(&knn, 10, 0.5).unwrap();
        let labels = pipeline::cluster_labels(&Infomap::new(InfomapConfig::default()).run(&graph), &graph);
        assert_eq!(cells[1].eval, pipeline::score(&truth, &labels).unwrap());
    }

    #[test]
    fn sweep_rejects_what_the_table_cannot_answer() {
        let (knn, truth) = synth_knn(10);
        let config = InfomapConfig::default();
        let e = sweep(&knn, &truth, &grid(&[5, 11], &[0.5]), &config, &NoProgress).unwrap_err();
        assert_eq!(invalid_name(e), "--k");
        let e = sweep(&knn, &truth, &grid(&[], &[0.5]), &config, &NoProgress).unwrap_err();
        assert_eq!(invalid_name(e), "--k");
        let e = sweep(&knn, &truth, &grid(&[5], &[1.5]), &config, &NoProgress).unwrap_err();
        assert_eq!(invalid_name(e), "--min-sim");
        let e = sweep(&knn, &truth[1..], &grid(&[5], &[0.5]), &config, &NoProgress).unwrap_err();
        assert!(matches!(e, Error::LabelCount { .. }), "{e}");
    }

    #[test]
    fn strategies_and_the_automatic_threshold_add_cells() {
        use crate::edges::{Pruning, Weighting};
        let (knn, truth) = synth_knn(20);
        let mut strategies = SEED.to_vec();
        let mut other = SEED[0];
        other.edges.pruning = Pruning::Snn;
        other.edges.weighting = Weighting::Normalized;
        other.flow = crate::infomap::FlowModel::Undirected;
        strategies.push(other);
        let g = Grid { ks: &[10, 20], min_sims: &[0.5], auto_min_sim: true, strategies: &strategies };
        let cells = sweep(&knn, &truth, &g, &InfomapConfig::default(), &NoProgress).unwrap();
        let shape: Vec<(usize, bool, bool)> =
            cells.iter().map(|c| (c.k, c.strategy == SEED[0], c.min_sim_auto)).collect();
        assert_eq!(
            shape,
            [
                (10, true, false),
                (10, true, true),
                (10, false, false),
                (10, false, true),
                (20, true, false),
                (20, true, true),
                (20, false, false),
                (20, false, true)
            ]
        );
        // The automatic cell uses the threshold auto_min_sim picks for its k.
        assert_eq!(cells[1].min_sim, auto_min_sim(&knn, 10).unwrap().min_sim);
        assert_eq!(cells[1].min_sim, cells[3].min_sim);
        let out = SweepOutput {
            tool: String::new(),
            version: String::new(),
            input: SweepInput { features: None, knn_cache: None, labels: None, n: knn.n, dim: None },
            params: SweepParams {
                ks: vec![10, 20],
                min_sims: vec![0.5],
                auto_min_sim: true,
                strategies: strategies.clone(),
                knn_k: 20,
                index: "Flat".into(),
                normalize: true,
                trials: 1,
                seed: 1,
                threads: 1,
            },
            timings_secs: SweepTimings { load: 0.0, knn: 0.0, cells: 0.0, total: 0.0 },
            best: best_cell(&cells),
            cells,
        };
        let table = out.markdown();
        assert!(table.starts_with("| k | strategy | min_sim |"), "{table}");
        assert!(table.contains("snn/normalized/undirected/own") && table.contains("(auto)"), "{table}");
    }

    #[test]
    fn min_sim_grids_may_hold_auto() {
        assert_eq!(parse_min_sim_grid("0.5,auto").unwrap(), (vec![0.5], true));
        assert_eq!(parse_min_sim_grid("auto").unwrap(), (vec![], true));
        assert_eq!(parse_min_sim_grid("0.5:0.6:0.1").unwrap(), (vec![0.5, 0.6], false));
        assert!(parse_min_sim_grid("auto,").is_err());
        assert!(parse_min_sim_grid("autox").is_err());
    }

    #[test]
    fn best_cell_takes_the_first_of_equals() {
        let (knn, truth) = synth_knn(5);
        let mut cells = sweep(&knn, &truth, &grid(&[5], &[0.99, 1.0]), &InfomapConfig::default(), &NoProgress).unwrap();
        assert_eq!(best_cell(&cells), Some(0));
        assert!(cells[0].best && !cells[1].best);
        cells.clear();
        assert_eq!(best_cell(&cells), None);
    }

    #[test]
    fn run_reads_files_searches_once_and_renders() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate(&SynthConfig { n: 800, dim: 32, mean_identity_size: 20.0, ..SynthConfig::default() }).unwrap();
        crate::synth::SynthFiles::create(dir.path()).unwrap().write(&s).unwrap();
        let inputs = RunConfig {
            features: Some(dir.path().join("feats.npy")),
            truth: Some(dir.path().join("labels.meta")),
            ..RunConfig::default()
        };
        let config = SweepConfig {
            inputs,
            ks: vec![5, 15],
            min_sims: vec![0.4, 0.6],
            auto_min_sim: false,
            strategies: SEED.to_vec(),
        };
        let out = run(&config, &NoProgress).unwrap();
        assert_eq!((out.input.n, out.input.dim, out.params.knn_k), (800, Some(32), 15));
        assert_eq!(out.cells.len(), 4);
        let best = out.best.unwrap();
        assert!(out.cells[best].best);
        let table = out.markdown();
        assert_eq!(table.lines().filter(|l| l.starts_with("| ")).count(), 1 + 4, "{table}");
        assert_eq!(table.lines().filter(|l| l.contains("**")).count(), 1, "{table}");
        assert!(table.contains("Best pairwise F"), "{table}");
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json["cells"].as_array().unwrap().len(), 4);
        assert_eq!(json["best"], best);

        let e = run(
            &SweepConfig { inputs: RunConfig { truth: None, ..config.inputs.clone() }, ..config.clone() },
            &NoProgress,
        )
        .unwrap_err();
        assert_eq!(invalid_name(e), "--labels");
    }
}
