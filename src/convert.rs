//! From the command line's arguments to the library's configurations: each setting is checked
//! by the library type that holds it ([`face_cluster::config`]), once, before any file is read.

use face_cluster::config::{
    at_least_one, Device, EdgeConfig, FeatureFormat, InputConfig, KnnConfig, LoadOptions, Lonely, MinSim, Optimizer,
    Preset, Pruning, RunConfig, Share, Similarity, Source, Strategy, Weighting, K,
};
use face_cluster::error::{Error, Param, Result};
use face_cluster::infomap::FlowModel;
use face_cluster::pipeline::{KnnJob, NetworkJob};
use face_cluster::sweep::{Grid, SweepConfig};
use face_cluster::synth::{Family, SynthConfig};
use face_cluster::update::{AddJob, Scope};

use crate::cli::{
    AddArgs, DeviceArg, EdgesArg, FamilyArg, FeatureArgs, FlowArg, FormatArg, IndexArgs, InfomapArgs, KnnArgs,
    LonelyArg, MinSimArg, OptimizerArgs, PresetArg, RunArgs, StrategyArgs, SweepArgs, Switch, SynthArgs, WeightsArg,
};

impl TryFrom<&FeatureArgs> for LoadOptions {
    type Error = Error;
    fn try_from(args: &FeatureArgs) -> Result<Self> {
        Ok(LoadOptions {
            format: args.format.map(|f| match f {
                FormatArg::Npy => FeatureFormat::Npy,
                FormatArg::Bin => FeatureFormat::Bin,
            }),
            dim: at_least_one(Param::Dim, args.dim)?,
            normalize: !args.no_normalize,
        })
    }
}

/// The search `index` and `k` name.
fn knn_config(k: K, index: &IndexArgs) -> Result<KnnConfig> {
    let positive = |param, value: Option<usize>| value.map(|v| at_least_one(param, v)).transpose();
    Ok(KnnConfig {
        k,
        index: index.index.clone(),
        nprobe: positive(Param::Nprobe, index.nprobe)?,
        ef_search: positive(Param::EfSearch, index.ef_search)?,
        device: match index.device {
            DeviceArg::Auto => Device::Auto,
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Gpu => Device::Gpu,
        },
        gpu_screen: index.gpu_screen == Switch::On,
        ..KnnConfig::default()
    })
}

fn flow_model(flow: FlowArg) -> FlowModel {
    match flow {
        FlowArg::Directed => FlowModel::Directed,
        FlowArg::Undirected => FlowModel::Undirected,
    }
}

fn pruning(arg: EdgesArg) -> Pruning {
    match arg {
        EdgesArg::Threshold => Pruning::Threshold,
        EdgesArg::Adaptive => Pruning::Adaptive,
        EdgesArg::Snn => Pruning::Snn,
        EdgesArg::Tiered => Pruning::Tiered,
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
        LonelyArg::Nearest => Lonely::Nearest,
    }
}

fn optimizer(trials: usize, seed: u64) -> Result<Optimizer> {
    Ok(Optimizer { trials: at_least_one(Param::Trials, trials)?, seed })
}

/// The preset's strategy, with every option given overriding it.
fn strategy(preset: Preset, given: &StrategyArgs, flow: Option<FlowArg>) -> Result<Strategy> {
    let mut s = preset.strategy();
    if let Some(rule) = given.edges {
        s.edges.pruning = pruning(rule);
    }
    if let Some(weights) = given.weights {
        s.edges.weighting = weighting(weights);
    }
    if let Some(min_snn) = given.min_snn {
        s.edges.min_snn = Share::new(Param::MinSnn, min_snn)?;
    }
    if let Some(lonely) = given.lonely {
        s.lonely = lonely_rule(lonely);
    }
    if let Some(flow) = flow {
        s.flow = flow_model(flow);
    }
    if let Some(merge) = given.merge {
        s.merge = merge.0.map(|m| Share::new(Param::Merge, m)).transpose()?;
    }
    Ok(s)
}

fn preset(arg: PresetArg) -> Preset {
    match arg {
        PresetArg::Default => Preset::Default,
        PresetArg::Best => Preset::Best,
        PresetArg::Seed => Preset::Seed,
    }
}

/// The main job: the preset (`default` unless named), then every option given. Settings are
/// checked in the order `--k`, `--min-sim`, `--min-snn`, `--trials`, `--dim`, `--nprobe`,
/// `--ef-search`, `--check-recall`.
impl TryFrom<&RunArgs> for RunConfig {
    type Error = Error;
    fn try_from(args: &RunArgs) -> Result<Self> {
        // `face-cluster --k 50 --min-sim 0.58 feats.npy` is the seed's command (the design
        // card's): with both a k and a fixed threshold and no preset, the seed's method runs.
        let both_given = args.search.k.is_some() && matches!(args.min_sim, Some(MinSimArg(Some(_))));
        let fallback = if both_given { PresetArg::Seed } else { PresetArg::Default };
        let preset = preset(args.strategy.preset.unwrap_or(fallback));
        // A k the user gave is never lowered to fit the input; the preset's is.
        let k = match args.search.k {
            Some(k) => K::new(k)?,
            None => preset.k(),
        };
        let min_sim = match args.min_sim {
            Some(given) => MinSim::from_number(given.0)?,
            None => preset.min_sim(),
        };
        let strategy = strategy(preset, &args.strategy, args.optimizer.flow)?;
        let optimizer = run_optimizer(&args.optimizer)?;
        let load = LoadOptions::try_from(&args.feature_format)?;
        let knn = knn_config(k, &args.search.index)?;
        let recall_sample = args.check_recall.map(|rows| at_least_one(Param::CheckRecall, rows)).transpose()?;
        let source = match (&args.knn, &args.features) {
            (Some(_), _) if recall_sample.is_some() => {
                return Err(Error::invalid(
                    Param::CheckRecall,
                    "measures a search; it cannot check a cached table (--knn)",
                ));
            }
            (Some(cache), _) => Source::KnnCache(cache.clone()),
            (None, Some(path)) => Source::Features { path: path.clone(), recall_sample },
            (None, None) => {
                return Err(Error::invalid(Param::Features, "give a feature file (or a cached k-NN table with --knn)"))
            }
        };
        Ok(RunConfig {
            input: InputConfig { source, load, truth: args.labels.clone() },
            knn,
            min_sim,
            strategy,
            optimizer,
            fit_k: args.search.k.is_none() && preset == Preset::Default,
            save: args.save.clone(),
        })
    }
}

fn run_optimizer(args: &OptimizerArgs) -> Result<Optimizer> {
    optimizer(args.trials, args.seed)
}

/// `face-cluster knn`: `--k`, `--check-recall`, `--min-sim`, `--dim`, `--nprobe`, `--ef-search`.
/// `face-cluster add`. Checked: `--dim`.
impl TryFrom<&AddArgs> for AddJob {
    type Error = Error;
    fn try_from(args: &AddArgs) -> Result<Self> {
        let scope = match (args.full, args.check_drift) {
            (true, _) => Scope::Full,
            (false, true) => Scope::CheckDrift,
            (false, false) => Scope::Update,
        };
        Ok(AddJob {
            state: args.state.clone(),
            features: args.features.clone(),
            format: args.format.map(|f| match f {
                FormatArg::Npy => FeatureFormat::Npy,
                FormatArg::Bin => FeatureFormat::Bin,
            }),
            dim: args.dim.map(|d| at_least_one(Param::Dim, d)).transpose()?,
            truth: args.labels.clone(),
            scope,
        })
    }
}

impl TryFrom<&KnnArgs> for KnnJob {
    type Error = Error;
    fn try_from(args: &KnnArgs) -> Result<Self> {
        let k = K::new(args.search.k.unwrap_or(K::SEED.get()))?;
        let sample = args.check_recall.map(|rows| at_least_one(Param::CheckRecall, rows)).transpose()?;
        let min_sim = Similarity::new(Param::MinSim, args.min_sim)?;
        let recall = sample.map(|sample| (sample, args.seed, min_sim));
        Ok(KnnJob {
            features: args.features.clone(),
            load: LoadOptions::try_from(&args.feature_format)?,
            knn: knn_config(k, &args.search.index)?,
            output: args.output.clone(),
            recall,
        })
    }
}

/// `face-cluster sweep`: the grid is every k x strategy (edges x weights x flow x lonely) x
/// min_sim. Checked: `--min-snn`, `--trials`, `--dim`, `--nprobe`, `--ef-search`.
impl TryFrom<&SweepArgs> for SweepConfig {
    type Error = Error;
    fn try_from(args: &SweepArgs) -> Result<Self> {
        let min_snn = Share::new(Param::MinSnn, args.min_snn)?;
        let base = preset(args.preset).strategy();
        let edges = if args.edges.is_empty() {
            vec![base.edges.pruning]
        } else {
            args.edges.iter().map(|&e| pruning(e)).collect()
        };
        let lonely = if args.lonely.is_empty() {
            vec![base.lonely]
        } else {
            args.lonely.iter().map(|&l| lonely_rule(l)).collect()
        };
        let mut strategies = Vec::new();
        for &edges in &edges {
            for &weights in &args.weights {
                for &flow in &args.flow {
                    for &lonely in &lonely {
                        strategies.push(Strategy {
                            edges: EdgeConfig { pruning: edges, weighting: weighting(weights), min_snn, ..base.edges },
                            flow: flow_model(flow),
                            lonely,
                            ..base
                        });
                    }
                }
            }
        }
        let optimizer = optimizer(args.trials, args.seed)?;
        let load = LoadOptions::try_from(&args.feature_format)?;
        // The search's k is the grid's largest, set by the sweep.
        let knn = knn_config(K::SEED, &args.index)?;
        let source = match (&args.knn, &args.features) {
            (Some(cache), _) => Source::KnnCache(cache.clone()),
            (None, Some(path)) => Source::Features { path: path.clone(), recall_sample: None },
            (None, None) => {
                return Err(Error::invalid(Param::Features, "give a feature file (or a cached k-NN table with --knn)"))
            }
        };
        Ok(SweepConfig {
            input: InputConfig { source, load, truth: Some(args.labels.clone()) },
            knn,
            optimizer,
            grid: Grid {
                ks: args.ks.0.clone(),
                min_sims: args.min_sims.values.clone(),
                auto_min_sim: args.min_sims.auto,
                strategies,
            },
        })
    }
}

/// `face-cluster infomap`: `--trials`.
impl TryFrom<&InfomapArgs> for NetworkJob {
    type Error = Error;
    fn try_from(args: &InfomapArgs) -> Result<Self> {
        Ok(NetworkJob {
            links: args.links.clone(),
            flow: if args.undirected { FlowModel::Undirected } else { FlowModel::Directed },
            optimizer: optimizer(args.trials, args.seed)?,
            cluster_data: args.cluster_data.clone(),
        })
    }
}

/// `face-cluster synth`: the family's values (or the defaults), then every knob given, checked
/// by [`SynthConfig::validate`] when the data is drawn.
impl From<&SynthArgs> for SynthConfig {
    fn from(args: &SynthArgs) -> Self {
        let base = args.family.map_or_else(SynthConfig::default, |f| Family::from(f).config());
        SynthConfig {
            n: args.n.unwrap_or(base.n),
            dim: args.dim.unwrap_or(base.dim),
            seed: args.seed.unwrap_or(base.seed),
            mean_identity_size: args.mean_identity_size.unwrap_or(base.mean_identity_size),
            identity_size_sigma: args.identity_size_sigma.unwrap_or(base.identity_size_sigma),
            noise: args.noise.unwrap_or(base.noise),
            quality_sigma: args.quality_sigma.unwrap_or(base.quality_sigma),
            groups: args.groups.unwrap_or(base.groups),
            group_sim: args.group_sim.unwrap_or(base.group_sim),
            lookalike_fraction: args.lookalike_fraction.unwrap_or(base.lookalike_fraction),
            lookalike_min_sim: args.lookalike_min_sim.unwrap_or(base.lookalike_min_sim),
            lookalike_max_sim: args.lookalike_max_sim.unwrap_or(base.lookalike_max_sim),
            junk_fraction: args.junk_fraction.unwrap_or(base.junk_fraction),
            mislabel_fraction: args.mislabel_fraction.unwrap_or(base.mislabel_fraction),
            head_identities: args.head_identities.unwrap_or(base.head_identities),
            head_min_size: args.head_min_size.unwrap_or(base.head_min_size),
            head_max_size: args.head_max_size.unwrap_or(base.head_max_size),
            identities_total: args.identities_total.unwrap_or(base.identities_total),
            session_mean_size: args.session_mean_size.unwrap_or(base.session_mean_size),
            session_noise: args.session_noise.unwrap_or(base.session_noise),
            dup_fraction: args.dup_fraction.unwrap_or(base.dup_fraction),
            dup_burst_mean: args.dup_burst_mean.unwrap_or(base.dup_burst_mean),
            dup_noise_max: args.dup_noise_max.unwrap_or(base.dup_noise_max),
            junk_clustered: args.junk_clustered.unwrap_or(base.junk_clustered),
            junk_noise: args.junk_noise.unwrap_or(base.junk_noise),
            common_sim: args.common_sim.unwrap_or(base.common_sim),
            common_sim_spread: args.common_sim_spread.unwrap_or(base.common_sim_spread),
        }
    }
}

impl From<FamilyArg> for Family {
    fn from(arg: FamilyArg) -> Self {
        match arg {
            FamilyArg::Head => Family::Head,
            FamilyArg::Dups => Family::Dups,
            FamilyArg::Junk => Family::Junk,
            FamilyArg::Dlib => Family::Dlib,
            FamilyArg::Album => Family::Album,
            FamilyArg::Sessions => Family::Sessions,
            FamilyArg::Mixed => Family::Mixed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;
    use std::num::NonZeroUsize;

    fn nz(v: usize) -> NonZeroUsize {
        NonZeroUsize::new(v).expect("not 0")
    }

    fn run_config(args: &[&str]) -> Result<RunConfig> {
        let cli = Cli::try_parse_from(std::iter::once("face-cluster").chain(args.iter().copied())).unwrap();
        RunConfig::try_from(&cli.run)
    }

    fn message(args: &[&str]) -> String {
        run_config(args).unwrap_err().to_string()
    }

    #[test]
    fn the_default_is_the_default_preset_and_seed_is_the_seed() {
        let input = || InputConfig::features("f.npy");
        assert_eq!(run_config(&["f.npy"]).unwrap(), RunConfig::preset(Preset::Default, input()));
        let best = run_config(&["--preset", "best", "f.npy"]).unwrap();
        assert_eq!(best, RunConfig::preset(Preset::Best, input()));
        let seed = run_config(&["--preset", "seed", "f.npy"]).unwrap();
        assert_eq!(seed, RunConfig::seed(input()));
        // The design card's command is the seed's method, as issue 17 requires.
        assert_eq!(run_config(&["--k", "50", "--min-sim", "0.58", "f.npy"]).unwrap(), seed);
        // Either one alone replaces the default's value; a given k is never lowered.
        let k = run_config(&["--k", "100", "f.npy"]).unwrap();
        assert_eq!((k.knn.k.get(), k.fit_k, k.strategy), (100, false, Preset::Default.strategy()));
        let t = run_config(&["--min-sim", "0.5", "f.npy"]).unwrap();
        assert_eq!((t.knn.k.get(), t.fit_k, t.strategy), (256, true, Preset::Default.strategy()));
        assert_eq!(t.min_sim.to_string(), "0.5");
        assert_eq!(run_config(&["--merge", "off", "f.npy"]).unwrap().strategy.merge, None);
        assert_eq!(run_config(&["--merge", "0.8", "f.npy"]).unwrap().strategy.merge.map(Share::get), Some(0.8));
        assert_eq!(message(&["--merge", "1.5", "f.npy"]), "invalid --merge: 1.5 is not in [0, 1]");
    }

    #[test]
    fn given_options_override_the_preset() {
        let c = run_config(&[
            "--preset",
            "seed",
            "--min-sim",
            "auto",
            "--edges",
            "snn",
            "--min-snn",
            "0.3",
            "--flow",
            "undirected",
            "--trials",
            "3",
            "--nprobe",
            "8",
            "--check-recall",
            "100",
            "f.npy",
        ])
        .unwrap();
        assert_eq!(c.min_sim, MinSim::Auto);
        assert_eq!((c.strategy.edges.pruning, c.strategy.edges.min_snn.get()), (Pruning::Snn, 0.3));
        assert_eq!((c.strategy.flow, c.optimizer.trials), (FlowModel::Undirected, nz(3)));
        assert_eq!(c.knn.nprobe, Some(nz(8)));
        assert_eq!(c.input.source, Source::Features { path: "f.npy".into(), recall_sample: Some(nz(100)) });
    }

    #[test]
    fn each_bad_setting_has_its_one_message() {
        assert_eq!(message(&["--k", "0", "f.npy"]), "invalid --k: must be at least 1");
        assert_eq!(
            message(&["--min-sim", "1.5", "f.npy"]),
            "invalid --min-sim: 1.5 is not a cosine similarity in [-1, 1]"
        );
        assert_eq!(message(&["--min-snn", "2", "f.npy"]), "invalid --min-snn: 2 is not in [0, 1]");
        assert_eq!(message(&["--trials", "0", "f.npy"]), "invalid --trials: must be at least 1");
        assert_eq!(message(&["--dim", "0", "f.bin"]), "invalid --dim: must be at least 1");
        assert_eq!(message(&["--nprobe", "0", "f.npy"]), "invalid --nprobe: must be at least 1");
        assert_eq!(message(&["--check-recall", "0", "f.npy"]), "invalid --check-recall: must be at least 1 row");
        assert_eq!(
            message(&["--knn", "c.npz", "--check-recall", "5"]),
            "invalid --check-recall: measures a search; it cannot check a cached table (--knn)"
        );
        // The first bad setting, in the documented order, is the one reported.
        assert_eq!(message(&["--k", "0", "--min-sim", "2", "f.npy"]), "invalid --k: must be at least 1");
    }

    #[test]
    fn subcommands_are_checked_the_same_way() {
        let parse = |args: &[&str]| Cli::try_parse_from(std::iter::once("face-cluster").chain(args.iter().copied()));
        let Some(Command::Knn(knn)) = parse(&["knn", "f.npy", "-k", "0", "-o", "k.npz"]).unwrap().command else {
            panic!()
        };
        assert_eq!(KnnJob::try_from(&knn).unwrap_err().to_string(), "invalid --k: must be at least 1");
        let Some(Command::Infomap(infomap)) = parse(&["infomap", "n.txt", "--trials", "0"]).unwrap().command else {
            panic!()
        };
        assert_eq!(NetworkJob::try_from(&infomap).unwrap_err().to_string(), "invalid --trials: must be at least 1");
        let Some(Command::Sweep(sweep)) =
            parse(&["sweep", "f.npy", "--labels", "gt", "--trials", "0"]).unwrap().command
        else {
            panic!()
        };
        assert_eq!(SweepConfig::try_from(&sweep).unwrap_err().to_string(), "invalid --trials: must be at least 1");
    }
}
