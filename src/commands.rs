//! One function per command: turn parsed arguments into library calls and print the results.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use face_cluster::edges::{EdgeConfig, Pruning, Weighting};
use face_cluster::error::Error;
use face_cluster::infomap::{FlowModel, Infomap, InfomapConfig, LinkSource};
use face_cluster::io::network::{read_clu, read_link_list, write_clu};
use face_cluster::io::{labels::write_text_labels, load_features, read_labels, AtomicFile, FeatureFormat, LoadOptions};
use face_cluster::knn::{check_recall, search_knn, set_faiss_threads, KnnConfig};
use face_cluster::lonely::Lonely;
use face_cluster::metrics::{evaluate, Scores};
use face_cluster::pipeline::{self, RunConfig};
use face_cluster::progress::Progress;
use face_cluster::strategy::{Preset, Strategy};
use face_cluster::sweep::{self, SweepConfig};
use face_cluster::synth::{self, SynthConfig, SynthFiles};

use crate::cli::{
    Cli, Command, EdgesArg, EvalArgs, FeatureArgs, FlowArg, FormatArg, IndexArgs, InfomapArgs, KnnArgs, LonelyArg,
    PresetArg, RunArgs, SearchArgs, StrategyArgs, SweepArgs, SynthArgs, WeightsArg,
};
use crate::term::StderrProgress;

/// Runs the command `cli` asks for.
pub fn dispatch(cli: Cli) -> Result<()> {
    if cli.global.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cli.global.threads)
            .build_global()
            .context("cannot start the thread pool")?;
        // faiss's OpenMP setting is per calling thread: this one runs the search.
        set_faiss_threads(cli.global.threads);
    }
    let progress = StderrProgress::new(cli.global.quiet);
    match cli.command {
        None => run(&cli.run, &progress),
        Some(Command::Knn(args)) => knn(&args, &progress),
        Some(Command::Eval(args)) => eval(&args),
        Some(Command::Infomap(args)) => infomap(&args, &progress),
        Some(Command::Sweep(args)) => sweep(&args, &progress),
        Some(Command::Synth(args)) => synth(&args, &progress),
    }
}

fn load_options(args: &FeatureArgs) -> LoadOptions {
    LoadOptions {
        format: args.format.map(|f| match f {
            FormatArg::Npy => FeatureFormat::Npy,
            FormatArg::Bin => FeatureFormat::Bin,
        }),
        dim: args.dim,
        normalize: !args.no_normalize,
    }
}

fn knn_config(args: &SearchArgs) -> KnnConfig {
    KnnConfig { k: args.k, ..index_config(&args.index) }
}

fn index_config(args: &IndexArgs) -> KnnConfig {
    KnnConfig { index: args.index.clone(), nprobe: args.nprobe, ef_search: args.ef_search, ..KnnConfig::default() }
}

fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// An output created before the work starts (so a bad path fails fast) and filled at the end.
enum Output {
    Stdout,
    File(AtomicFile),
}

impl Output {
    fn create(path: &Path) -> Result<Self> {
        Ok(if is_stdout(path) { Output::Stdout } else { Output::File(AtomicFile::create(path)?) })
    }

    fn write(self, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                fill(&mut out).and_then(|()| out.flush()).map_err(|e| Error::io("<stdout>", e))?;
            }
            Output::File(mut file) => {
                let target = file.target().to_path_buf();
                fill(&mut file).map_err(|e| Error::io(target, e))?;
                file.commit()?;
            }
        }
        Ok(())
    }
}

/// The main job's configuration: the preset (`best` unless named), then every option given.
fn run_config(args: &RunArgs) -> RunConfig {
    let mut config = RunConfig {
        features: args.features.clone(),
        load: load_options(&args.feature_format),
        knn_cache: args.knn.clone(),
        truth: args.labels.clone(),
        recall_sample: args.check_recall,
        ..RunConfig::default()
    };
    let given = &args.strategy;
    preset(given.preset.unwrap_or(PresetArg::Best)).apply(&mut config);
    // --k keeps its own default (every preset uses 50).
    config.knn = knn_config(&args.search);
    if let Some(min_sim) = args.min_sim {
        config.min_sim = min_sim;
    }
    override_edges(&mut config.edges, given);
    if let Some(lonely) = given.lonely {
        config.lonely = lonely_rule(lonely);
    }
    if let Some(flow) = args.optimizer.flow {
        config.infomap.flow_model = flow_model(flow);
    }
    config.infomap.trials = args.optimizer.trials;
    config.infomap.seed = args.optimizer.seed;
    config
}

fn preset(arg: PresetArg) -> Preset {
    match arg {
        PresetArg::Best => Preset::Best,
        PresetArg::Seed => Preset::Seed,
    }
}

fn override_edges(edges: &mut EdgeConfig, given: &StrategyArgs) {
    if let Some(rule) = given.edges {
        edges.pruning = pruning(rule);
    }
    if let Some(weights) = given.weights {
        edges.weighting = weighting(weights);
    }
    if let Some(min_snn) = given.min_snn {
        edges.min_snn = min_snn;
    }
}

fn pruning(arg: EdgesArg) -> Pruning {
    match arg {
        EdgesArg::Threshold => Pruning::Threshold,
        EdgesArg::Adaptive => Pruning::Adaptive,
        EdgesArg::Snn => Pruning::Snn,
    }
}

fn weighting(arg: WeightsArg) -> Weighting {
    match arg {
        WeightsArg::Sim => Weighting::Sim,
        WeightsArg::Normalized => Weighting::Normalized,
        WeightsArg::Snn => Weighting::Snn,
    }
}

fn lonely_rule(arg: LonelyArg) -> Lonely {
    match arg {
        LonelyArg::Own => Lonely::Own,
        LonelyArg::Infomap => Lonely::Infomap,
        LonelyArg::Attach => Lonely::Attach,
    }
}

/// The main job.
fn run(args: &RunArgs, progress: &StderrProgress) -> Result<()> {
    let config = run_config(args);
    config.validate()?;
    let labels_path = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    if args.report.as_deref().is_some_and(is_stdout) && is_stdout(&labels_path) {
        bail!("--report - and the labels both want stdout; give the labels a file with -o");
    }
    let labels_out = Output::create(&labels_path)?;
    let report_out = args.report.as_deref().map(Output::create).transpose()?;

    let result = pipeline::run(&config, progress)?;
    labels_out.write(|w| write_text_labels(w, &result.labels))?;
    if let Some(out) = report_out {
        let json = serde_json::to_string_pretty(&result.report)?;
        out.write(|w| writeln!(w, "{json}"))?;
    }
    progress.note(&result.report.summary());
    Ok(())
}

fn flow_model(flow: FlowArg) -> FlowModel {
    match flow {
        FlowArg::Directed => FlowModel::Directed,
        FlowArg::Undirected => FlowModel::Undirected,
    }
}

/// `face-cluster knn`: search and save the table.
fn knn(args: &KnnArgs, progress: &StderrProgress) -> Result<()> {
    // Fail on a bad parameter or output path before the search, not after it.
    if args.search.k == 0 {
        bail!(Error::invalid("--k", "must be at least 1"));
    }
    if args.check_recall == Some(0) {
        bail!(Error::invalid("--check-recall", "must be at least 1 row"));
    }
    if !(-1.0..=1.0).contains(&args.min_sim) {
        bail!(Error::invalid("--min-sim", format!("{} is not a cosine similarity in [-1, 1]", args.min_sim)));
    }
    let probe = AtomicFile::create(&args.output)?;
    drop(probe);
    let started = Instant::now();
    progress.start("load", None);
    let features = load_features(&args.features, &load_options(&args.feature_format));
    progress.finish();
    let features = features?;
    let (knn, stats) = search_knn(&features, &knn_config(&args.search), progress)?;
    let recall = match args.check_recall {
        Some(sample) => Some(check_recall(&features, &knn, knn.k, sample, args.seed, args.min_sim, progress)?),
        None => None,
    };
    drop(features);
    progress.start("save", None);
    let saved = knn.save(&args.output);
    progress.finish();
    saved?;
    let r = &stats.resolved;
    let params: String = [("nprobe", r.nprobe), ("efSearch", r.ef_search)]
        .iter()
        .filter_map(|(name, value)| value.map(|v| format!(" {name}={v}")))
        .collect();
    progress.note(&format!(
        "{} rows, k={}, index {}{params}: k-NN table written to {} in {:.2}s (index {:.2}s, search {:.2}s)",
        knn.n,
        knn.k,
        r.index,
        args.output.display(),
        started.elapsed().as_secs_f64(),
        stats.build_secs,
        stats.search_secs,
    ));
    if let Some(recall) = recall {
        progress.note(&recall.summary());
    }
    Ok(())
}

/// `face-cluster eval`.
fn eval(args: &EvalArgs) -> Result<()> {
    let truth = read_labels(&args.gt)?;
    let pred = read_labels(&args.pred)?;
    if pred.len() != truth.len() {
        return Err(Error::CountMismatch {
            path: args.pred.clone(),
            what: "labels",
            got: pred.len(),
            expected: truth.len(),
            reason: format!("one per line of {}", args.gt.display()),
        }
        .into());
    }
    let scores = evaluate(&truth, &pred)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&scores)?)?;
    } else {
        write!(out, "{}", score_table(&scores))?;
    }
    Ok(())
}

fn score_table(s: &Scores) -> String {
    format!(
        "n {}, true clusters {}, predicted clusters {}\n\
         {:<9} {:>9} {:>9} {:>9}\n\
         {:<9} {:>9.4} {:>9.4} {:>9.4}\n\
         {:<9} {:>9.4} {:>9.4} {:>9.4}\n\
         NMI {:.4}\n",
        s.n,
        s.true_clusters,
        s.pred_clusters,
        "",
        "precision",
        "recall",
        "F",
        "pairwise",
        s.pairwise.precision,
        s.pairwise.recall,
        s.pairwise.f,
        "bcubed",
        s.bcubed.precision,
        s.bcubed.recall,
        s.bcubed.f,
        s.nmi
    )
}

/// `face-cluster infomap`: the optimiser on a link list.
fn infomap(args: &InfomapArgs, progress: &StderrProgress) -> Result<()> {
    let output = args.output.as_deref().map(Output::create).transpose()?;
    if args.json && args.output.as_deref().is_some_and(is_stdout) {
        bail!("--json and -o - both want stdout; write the .clu to a file");
    }
    let started = Instant::now();
    let links = read_link_list(&args.links)?;
    let read_secs = started.elapsed().as_secs_f64();
    let n = links.network.num_nodes();
    let config = InfomapConfig {
        flow_model: if args.undirected { FlowModel::Undirected } else { FlowModel::Directed },
        trials: args.trials.max(1),
        seed: args.seed,
        ..InfomapConfig::default()
    };
    let infomap = Infomap::new(config);
    let partition = match &args.cluster_data {
        Some(clu) => infomap.codelength_of(&links.network, &read_clu(clu, &links.ids)?),
        None => infomap.run(&links.network),
    };
    let non_trivial = {
        let mut sizes = vec![0usize; partition.num_modules];
        partition.modules.iter().for_each(|&m| sizes[m as usize] += 1);
        sizes.iter().filter(|&&s| s > 1).count()
    };
    if let Some(out) = output {
        let header = format!(
            "face-cluster {} infomap {}\n{} trials, seed {}",
            env!("CARGO_PKG_VERSION"),
            args.links.display(),
            infomap.config().trials,
            infomap.config().seed
        );
        out.write(|w| write_clu(w, &links.ids, &partition, &header))?;
    }
    progress.note(&format!(
        "{n} nodes, {} links: {} modules ({non_trivial} non-trivial), codelength {:.10} bits \
         (one-level {:.10}); read {read_secs:.2}s, flow {:.2}s ({} iterations), search {:.2}s",
        links.network.num_links(),
        partition.num_modules,
        partition.codelength,
        partition.one_level_codelength,
        partition.flow_secs,
        partition.flow_iterations,
        partition.search_secs,
    ));
    if args.json {
        let summary = serde_json::json!({
            "nodes": n,
            "links": links.network.num_links(),
            "modules": partition.num_modules,
            "non_trivial_modules": non_trivial,
            "codelength": partition.codelength,
            "index_codelength": partition.index_codelength,
            "module_codelength": partition.module_codelength,
            "one_level_codelength": partition.one_level_codelength,
            "trial_codelengths": partition.trial_codelengths,
            "best_trial": partition.best_trial,
            "flow_iterations": partition.flow_iterations,
            "read_secs": read_secs,
            "flow_secs": partition.flow_secs,
            "search_secs": partition.search_secs,
            "peak_rss_bytes": face_cluster::report::peak_rss_bytes(),
        });
        writeln!(std::io::stdout().lock(), "{summary}")?;
    }
    Ok(())
}

/// `face-cluster sweep`: one search, a clustering and its scores per grid cell.
fn sweep(args: &SweepArgs, progress: &StderrProgress) -> Result<()> {
    let mut strategies = Vec::new();
    for &edges in &args.edges {
        for &weights in &args.weights {
            for &flow in &args.flow {
                for &lonely in &args.lonely {
                    strategies.push(Strategy {
                        edges: EdgeConfig {
                            pruning: pruning(edges),
                            weighting: weighting(weights),
                            min_snn: args.min_snn,
                            ..EdgeConfig::default()
                        },
                        flow: flow_model(flow),
                        lonely: lonely_rule(lonely),
                    });
                }
            }
        }
    }
    let config = SweepConfig {
        inputs: RunConfig {
            features: args.features.clone(),
            load: load_options(&args.feature_format),
            knn: index_config(&args.index),
            knn_cache: args.knn.clone(),
            infomap: InfomapConfig { trials: args.trials, seed: args.seed, ..InfomapConfig::default() },
            truth: Some(args.labels.clone()),
            ..RunConfig::default()
        },
        ks: args.ks.0.clone(),
        min_sims: args.min_sims.values.clone(),
        auto_min_sim: args.min_sims.auto,
        strategies,
    };
    let plot = args.plot.as_deref().map(AtomicFile::create).transpose()?;
    let output = sweep::run(&config, progress)?;
    if let Some(mut file) = plot {
        let svg = sweep::plot::render_svg(&output)?;
        let target = file.target().to_path_buf();
        file.write_all(svg.as_bytes()).map_err(|e| Error::io(target, e))?;
        file.commit()?;
    }
    let text = if args.json { format!("{}\n", serde_json::to_string(&output)?) } else { output.markdown() };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| Error::io("<stdout>", e))?;
    Ok(())
}

/// `face-cluster synth`: draw a data set and write its three files.
fn synth(args: &SynthArgs, progress: &StderrProgress) -> Result<()> {
    let config = SynthConfig {
        n: args.n,
        dim: args.dim,
        seed: args.seed,
        mean_identity_size: args.mean_identity_size,
        identity_size_sigma: args.identity_size_sigma,
        noise: args.noise,
        quality_sigma: args.quality_sigma,
        groups: args.groups,
        group_sim: args.group_sim,
        lookalike_fraction: args.lookalike_fraction,
        lookalike_min_sim: args.lookalike_min_sim,
        lookalike_max_sim: args.lookalike_max_sim,
        junk_fraction: args.junk_fraction,
        mislabel_fraction: args.mislabel_fraction,
    };
    config.validate()?;
    let files = SynthFiles::create(&args.output)?;
    let started = Instant::now();
    progress.start("generate", None);
    let data = synth::generate(&config);
    progress.finish();
    let data = data?;
    let generate_secs = started.elapsed().as_secs_f64();
    let t = Instant::now();
    progress.start("write", None);
    let written = files.write(&data);
    progress.finish();
    written?;
    let write_secs = t.elapsed().as_secs_f64();
    let s = &data.stats;
    progress.note(&format!(
        "{} rows x {} in {}: {} identities, sizes min {} median {} mean {:.1} max {}; {} look-alike identities, \
         {} junk and {} mislabelled rows; generate {generate_secs:.2}s, write {write_secs:.2}s",
        s.n,
        s.dim,
        args.output.display(),
        s.identities,
        s.min_identity_size,
        s.median_identity_size,
        s.mean_identity_size,
        s.max_identity_size,
        s.lookalike_identities,
        s.junk_rows,
        s.mislabelled_rows,
    ));
    let sims = data.similarity_summary(100_000, config.seed);
    let show = |name: &str, q: &synth::SimilarityQuantiles| {
        format!(
            "{name} cosine: mean {:.3}, p1 {:.3}, p5 {:.3}, median {:.3}, p95 {:.3}, p99 {:.3} ({} pairs)",
            q.mean, q.p01, q.p05, q.p50, q.p95, q.p99, q.pairs
        )
    };
    progress.note(&show("same-label", &sims.same_label));
    progress.note(&show("different-label", &sims.different_label));
    Ok(())
}
