//! Parameter sweeps: one k-NN search, then a clustering and its scores for every
//! `(k, min_sim, strategy)`.
//!
//! The search dominates the cost of a run, and its table serves every smaller `k`: the first
//! `k'` slots of a row are what a search with `k'` returns (see [`crate::knn`]). [`run`]
//! therefore reads the inputs once through [`load_inputs`], searching with the largest `k` of
//! the grid (or reading a cached table), and [`sweep`] then runs the main job's stages after
//! the search ([`cluster`]: graph, Infomap, labels, scores) for every cell: `k` by
//! `k`, then strategy by strategy ([`Strategy`]: links kept, weights, flow, rows alone), then
//! `min_sim` ascending, and last the automatic threshold ([`auto_min_sim`]) when asked for. The
//! best cell is the one with the highest pairwise F (the first on a tie).
//!
//! [`SweepOutput`] serialises to one JSON object (`face-cluster sweep --json`), renders as a
//! Markdown table ([`SweepOutput::markdown`]) and as an SVG plot ([`plot::write_svg`]).
//!
//! # Grid syntax
//!
//! [`parse_ks`] and [`parse_min_sims`] (in `grid.rs`) read the command line's lists: comma-separated items,
//! each a single value or an inclusive range `START:STOP:STEP` (`0.50:0.70:0.02` is eleven
//! values, `0.70` included: the stop counts when it is within a millionth of a step of the
//! grid). The values are sorted ascending and repeats dropped. [`parse_min_sim_grid`] also
//! takes the item `auto`.

mod grid;
pub mod plot;

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Instant;

use serde::Serialize;

pub use grid::{parse_ks, parse_min_sim_grid, parse_min_sims, MAX_GRID_VALUES};

use crate::cluster::{cluster, ClusterParams};
use crate::config::{AutoRule, InputConfig, KnnConfig, Optimizer, Similarity, Strategy, K};
use crate::error::{Error, Param, Result};
use crate::knn::Knn;
use crate::measure::Stages;
use crate::metrics::Scores;
use crate::pipeline::{load_inputs, Inputs};
use crate::progress::{NoProgress, Stage};
use crate::report::InputReport;
use crate::threshold::{auto_min_sim, choose_min_sim};

/// What to sweep over.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepConfig {
    /// The inputs, as for the main job. `input.truth` is required.
    pub input: InputConfig,
    /// The search; its `k` is not used: the search takes the largest of the grid's (a cached
    /// table must hold at least that many slots).
    pub knn: KnnConfig,
    /// Infomap's trials and seed, for every cell.
    pub optimizer: Optimizer,
    /// The cells.
    pub grid: Grid,
}

/// The axes of a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Neighbour slots per row, self included.
    pub ks: Vec<K>,
    /// Fixed thresholds.
    pub min_sims: Vec<Similarity>,
    /// Also a cell at the automatic threshold ([`auto_min_sim`]), per `k` and strategy.
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
/// `input` is the main job's report's object ([`InputReport`]); `eval` is the object of
/// `face-cluster eval --json`; `best` indexes `cells` (null with no cells); `dim` is null with a
/// cached k-NN table. A strategy is `{"edges": {"pruning": "threshold", "weighting": "sim",
/// "min_snn": 0.2, "min_cut_z": 3.0}, "flow": "directed", "lonely": "own"}` ([`Strategy`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepOutput {
    /// Always `face-cluster`.
    pub tool: String,
    /// Version of the tool.
    pub version: String,
    /// The inputs.
    pub input: InputReport,
    /// Parameters.
    pub params: SweepParams,
    /// Seconds per stage.
    pub timings_secs: SweepTimings,
    /// Index of the best cell in `cells`.
    pub best: Option<usize>,
    /// One cell per `(k, min_sim)`, `k` by `k`, `min_sim` ascending.
    pub cells: Vec<SweepCell>,
}

/// The parameters of a sweep: its grid, and the settings every cell shares.
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
/// [`Error::InvalidParameter`] for an empty grid (`--k`, `--min-sim`, no strategy) and missing
/// ground truth (`--labels`); then everything [`load_inputs`] and [`sweep`] return.
pub fn run(config: &SweepConfig, stages: &mut Stages<'_>) -> Result<SweepOutput> {
    let started = Instant::now();
    check_grid(&config.grid)?;
    if config.input.truth.is_none() {
        return Err(Error::invalid(Param::Labels, "a sweep needs ground-truth labels to score its cells"));
    }
    let largest = *config.grid.ks.iter().max().expect("check_grid rejects an empty grid");
    let knn = KnnConfig { k: largest, ..config.knn.clone() };
    let Inputs { knn: table, dim, truth, search, timings, .. } =
        load_inputs(&config.input, &knn, false, false, stages)?;
    let truth = truth.expect("ground truth was required above");
    let t = Instant::now();
    let cells = sweep(&table, &truth, &config.grid, &config.optimizer, stages.progress())?;
    let cells_secs = t.elapsed().as_secs_f64();

    let grid = &config.grid;
    Ok(SweepOutput {
        tool: "face-cluster".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        input: InputReport::new(&config.input, table.n(), dim),
        params: SweepParams {
            ks: grid.ks.iter().map(|k| k.get()).collect(),
            min_sims: grid.min_sims.iter().map(|m| m.get()).collect(),
            auto_min_sim: grid.auto_min_sim,
            strategies: grid.strategies.clone(),
            knn_k: table.k(),
            index: search.as_ref().map_or_else(|| knn.index.clone(), |s| s.resolved.index.clone()),
            normalize: config.input.load.normalize,
            trials: config.optimizer.trials.get(),
            seed: config.optimizer.seed,
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

/// Clusters and scores every cell of `grid` on one k-NN table: for each `k` in `grid.ks`
/// (outer), each strategy, each `min_sim` in `grid.min_sims` in the order given, then the
/// automatic threshold if asked for. Marks the best cell (see [`best_cell`]). Reports stage
/// `sweep` with one unit per cell.
///
/// # Errors
///
/// [`Error::InvalidParameter`] for an empty grid and a `k` above `knn.k()` (`--k`);
/// [`Error::LabelCount`] when `truth` does not have one label per row.
///
/// # Complexity
///
/// Per cell, the main job's stages after the search ([`cluster`]); per `k`,
/// `O(n k log(n k))` for the automatic threshold.
pub fn sweep(
    knn: &Knn,
    truth: &[i64],
    grid: &Grid,
    optimizer: &Optimizer,
    progress: &dyn crate::progress::Progress,
) -> Result<Vec<SweepCell>> {
    check_grid(grid)?;
    if truth.len() != knn.n() {
        return Err(Error::LabelCount { truth: truth.len(), pred: knn.n() });
    }
    let per_k = grid.strategies.len() * (grid.min_sims.len() + usize::from(grid.auto_min_sim));
    let _stage = Stage::start(progress, "sweep", Some((grid.ks.len() * per_k) as u64));
    // The cells' own stages are not shown: the sweep's bar counts cells.
    let mut quiet = Stages::new(&NoProgress, crate::measure::PeakReset::Never);
    let mut cells = Vec::with_capacity(grid.ks.len() * per_k);
    for k in grid.ks.iter().map(|k| k.get()) {
        if k > knn.k() {
            return Err(Error::invalid(
                Param::K,
                format!("{k} is more than the {} neighbours of the k-NN table", knn.k()),
            ));
        }
        // Each rule's threshold once per k, for the strategies that use it.
        let uses = |rule| grid.auto_min_sim && grid.strategies.iter().any(|s| s.auto_rule == rule);
        let t = Instant::now();
        let valley = if uses(AutoRule::Valley) { Some(auto_min_sim(knn, k)?.similarity()) } else { None };
        let valley_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let choice = if uses(AutoRule::Robust) || grid.strategies.iter().any(Strategy::needs_bandwidth) {
            Some(choose_min_sim(knn, k)?)
        } else {
            None
        };
        let robust_secs = t.elapsed().as_secs_f64();
        for strategy in &grid.strategies {
            let (auto, auto_secs) = match strategy.auto_rule {
                AutoRule::Valley => (valley, valley_secs),
                AutoRule::Robust => (choice.as_ref().map(|c| c.similarity()), robust_secs),
            };
            let auto = auto.filter(|_| grid.auto_min_sim);
            let bandwidth = choice.as_ref().map(|c| c.bandwidth);
            let fixed = grid.min_sims.iter().map(|&m| (m, false));
            for (min_sim, min_sim_auto) in fixed.chain(auto.map(|m| (m, true))) {
                let t = Instant::now();
                let params = ClusterParams { k, min_sim, strategy: *strategy, optimizer: *optimizer, bandwidth };
                let c = cluster(Cow::Borrowed(knn), &params, Some(truth), &mut quiet)?;
                cells.push(SweepCell {
                    k,
                    min_sim: min_sim.get(),
                    min_sim_auto,
                    strategy: *strategy,
                    links: c.links,
                    nodes_without_links: c.nodes_without_links,
                    modules: c.partition.num_modules,
                    codelength_bits: c.partition.codelength,
                    clusters: c.counts.clusters,
                    singleton_clusters: c.counts.singletons,
                    eval: c.eval.expect("ground truth was given"),
                    secs: t.elapsed().as_secs_f64() + if min_sim_auto { auto_secs } else { 0.0 },
                    best: false,
                });
                progress.advance(1);
            }
        }
    }
    if let Some(best) = best_cell(&cells) {
        cells[best].best = true;
    }
    Ok(cells)
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

fn check_grid(grid: &Grid) -> Result<()> {
    if grid.ks.is_empty() {
        return Err(Error::invalid(Param::K, "no value to sweep"));
    }
    if grid.min_sims.is_empty() && !grid.auto_min_sim {
        return Err(Error::invalid(Param::MinSim, "no value to sweep"));
    }
    if grid.strategies.is_empty() {
        return Err(Error::invalid(Param::Edges, "no strategy to sweep"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EdgeConfig, Lonely, Pruning, RunConfig, Weighting};
    use crate::infomap::FlowModel as InfomapFlow;
    use crate::knn::build_knn;
    use crate::synth::{generate, SynthConfig};
    use crate::Features;
    use std::path::Path;

    fn ks(ks: &[usize]) -> Vec<K> {
        ks.iter().map(|&k| K::new(k).unwrap()).collect()
    }

    fn sims(sims: &[f32]) -> Vec<Similarity> {
        sims.iter().map(|&m| Similarity::new(Param::MinSim, m).unwrap()).collect()
    }

    fn grid(k: &[usize], min_sims: &[f32]) -> Grid {
        Grid { ks: ks(k), min_sims: sims(min_sims), auto_min_sim: false, strategies: vec![Strategy::default()] }
    }

    fn invalid_param(e: Error) -> Param {
        match e {
            Error::InvalidParameter { param, .. } => param,
            e => panic!("not an invalid parameter: {e}"),
        }
    }

    fn synth_knn(k: usize) -> (Knn, Vec<i64>) {
        let s =
            generate(&SynthConfig { n: 1500, dim: 64, mean_identity_size: 30.0, seed: 5, ..SynthConfig::default() })
                .unwrap();
        let features = Features::new(s.features, Path::new("synth"), false).unwrap();
        let knn =
            build_knn(&features, &KnnConfig { k: K::new(k).unwrap(), ..KnnConfig::default() }, &NoProgress).unwrap();
        (knn, s.labels.iter().map(|&l| i64::from(l)).collect())
    }

    fn optimizer() -> Optimizer {
        Optimizer::default()
    }

    #[test]
    fn sweep_covers_the_grid_and_marks_the_best_cell() {
        let (knn, truth) = synth_knn(20);
        let cells = sweep(&knn, &truth, &grid(&[10, 20], &[0.0, 0.5, 0.6, 0.99]), &optimizer(), &NoProgress).unwrap();
        let shape: Vec<(usize, f32)> = cells.iter().map(|c| (c.k, c.min_sim)).collect();
        assert_eq!(shape, [(10, 0.0), (10, 0.5), (10, 0.6), (10, 0.99), (20, 0.0), (20, 0.5), (20, 0.6), (20, 0.99)]);
        let best = best_cell(&cells).unwrap();
        assert_eq!(cells.iter().filter(|c| c.best).count(), 1);
        assert!(cells[best].best);
        assert!(cells.iter().all(|c| c.eval.pairwise.f <= cells[best].eval.pairwise.f));
        assert!(cells[best].eval.pairwise.f > 0.8, "{:?}", cells[best].eval);
        // min_sim 0.99 keeps no link: every row is its own cluster.
        let none = &cells[3];
        assert_eq!((none.links, none.nodes_without_links, none.clusters), (0, 1500, 1500));
        assert_eq!(none.singleton_clusters, 1500);
    }

    #[test]
    fn a_cell_is_what_the_main_job_computes() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate(&SynthConfig { n: 800, dim: 32, mean_identity_size: 20.0, ..SynthConfig::default() }).unwrap();
        crate::synth::SynthFiles::create(dir.path()).unwrap().write(&s).unwrap();
        let mut input = InputConfig::features(dir.path().join("feats.npy"));
        input.truth = Some(dir.path().join("labels.meta"));
        let mut run = RunConfig::seed(input.clone());
        run.knn.k = K::new(15).unwrap();
        run.min_sim = crate::config::MinSim::Fixed(Similarity::new(Param::MinSim, 0.5).unwrap());
        let job = crate::pipeline::run(&run, &mut Stages::quiet()).unwrap();
        let config =
            SweepConfig { input, knn: KnnConfig::default(), optimizer: optimizer(), grid: grid(&[15], &[0.5]) };
        let out = super::run(&config, &mut Stages::quiet()).unwrap();
        assert_eq!(Some(&out.cells[0].eval), job.report.eval.as_ref());
        assert_eq!(out.cells[0].links, job.report.graph.links);
        assert_eq!(out.input, job.report.input);
    }

    #[test]
    fn sweep_rejects_what_the_table_cannot_answer() {
        let (knn, truth) = synth_knn(10);
        let e = sweep(&knn, &truth, &grid(&[5, 11], &[0.5]), &optimizer(), &NoProgress).unwrap_err();
        assert_eq!(invalid_param(e), Param::K);
        let e = sweep(&knn, &truth, &grid(&[], &[0.5]), &optimizer(), &NoProgress).unwrap_err();
        assert_eq!(invalid_param(e), Param::K);
        let e = sweep(&knn, &truth, &grid(&[5], &[]), &optimizer(), &NoProgress).unwrap_err();
        assert_eq!(invalid_param(e), Param::MinSim);
        let e = sweep(&knn, &truth[1..], &grid(&[5], &[0.5]), &optimizer(), &NoProgress).unwrap_err();
        assert!(matches!(e, Error::LabelCount { .. }), "{e}");
    }

    #[test]
    fn strategies_and_the_automatic_threshold_add_cells() {
        let (knn, truth) = synth_knn(20);
        let seed = Strategy::default();
        let other = Strategy {
            edges: EdgeConfig { pruning: Pruning::Snn, weighting: Weighting::Normalized, ..EdgeConfig::default() },
            flow: InfomapFlow::Undirected,
            lonely: Lonely::Own,
            ..Strategy::default()
        };
        let g = Grid { ks: ks(&[10, 20]), min_sims: sims(&[0.5]), auto_min_sim: true, strategies: vec![seed, other] };
        let cells = sweep(&knn, &truth, &g, &optimizer(), &NoProgress).unwrap();
        let shape: Vec<(usize, bool, bool)> = cells.iter().map(|c| (c.k, c.strategy == seed, c.min_sim_auto)).collect();
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
            input: InputReport { features: None, knn_cache: None, labels: None, n: knn.n(), dim: None },
            params: SweepParams {
                ks: vec![10, 20],
                min_sims: vec![0.5],
                auto_min_sim: true,
                strategies: g.strategies.clone(),
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
    fn best_cell_takes_the_first_of_equals() {
        let (knn, truth) = synth_knn(5);
        let mut cells = sweep(&knn, &truth, &grid(&[5], &[0.99, 1.0]), &optimizer(), &NoProgress).unwrap();
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
        let mut input = InputConfig::features(dir.path().join("feats.npy"));
        input.truth = Some(dir.path().join("labels.meta"));
        let config =
            SweepConfig { input, knn: KnnConfig::default(), optimizer: optimizer(), grid: grid(&[5, 15], &[0.4, 0.6]) };
        let out = run(&config, &mut Stages::quiet()).unwrap();
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

        let mut no_truth = config.clone();
        no_truth.input.truth = None;
        let e = run(&no_truth, &mut Stages::quiet()).unwrap_err();
        assert_eq!(invalid_param(e), Param::Labels);
    }
}
