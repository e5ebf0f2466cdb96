//! Command-line arguments (clap derive). Only `main.rs` uses this module: clap stays out of the
//! library's API. Validation beyond types happens in the library's config constructors.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Cluster face embeddings into identities: faiss k-NN graph + two-level Infomap.
///
/// Reads features (.npy, or raw float32 .bin with --dim), builds the cosine k-NN graph, keeps
/// links with similarity >= --min-sim, partitions it with the map equation and writes one
/// cluster label per input row (stdout by default). Given ground truth (--labels), it also
/// reports pairwise and BCubed precision/recall/F and NMI.
///
/// Exit status: 0 on success (also when stdout is closed early, as by `| head`), 1 on a runtime
/// or input error, 2 on a usage error, 128 + the signal number when interrupted (130 for Ctrl-C;
/// no partial output file is left).
#[derive(Debug, Parser)]
#[command(
    name = "face-cluster",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Example: face-cluster --k 50 --min-sim 0.58 feats.npy -o labels.txt --report run.json"
)]
pub struct Cli {
    /// Secondary tasks; without one, the main clustering job runs.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The main clustering job.
    #[command(flatten)]
    pub run: RunArgs,

    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Worker threads (rayon and faiss's OpenMP); 0 means one per core.
    #[arg(short = 'j', long, global = true, default_value_t = 0)]
    pub threads: usize,

    /// No progress or summary on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Secondary commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compute and save the k-NN table of a feature file, to re-cluster later with --knn.
    Knn(KnnArgs),
    /// Score predicted labels against ground truth (pairwise, BCubed, NMI).
    Eval(EvalArgs),
    /// Run the Infomap optimiser on a link list (`source target [weight]` per line).
    Infomap(InfomapArgs),
}

/// How to read a feature file.
#[derive(Debug, Args, Clone)]
pub struct FeatureArgs {
    /// Feature format; by default taken from the extension.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Row length of a raw .bin feature file.
    #[arg(long, default_value_t = 256)]
    pub dim: usize,

    /// Use the features as they are instead of scaling rows to unit length.
    #[arg(long)]
    pub no_normalize: bool,
}

/// Feature file formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// NumPy .npy.
    Npy,
    /// Raw little-endian float32 rows.
    Bin,
}

/// k-NN search options.
#[derive(Debug, Args, Clone)]
pub struct SearchArgs {
    /// Neighbours searched per row, the row itself included (as in the seed); at least 1 and
    /// smaller than the number of rows.
    #[arg(short = 'k', long = "k", default_value_t = 50)]
    pub k: usize,

    /// faiss index_factory string: `Flat` is exact; e.g. `IVF1024,Flat` or `HNSW32` for
    /// large inputs.
    #[arg(long, default_value = "Flat")]
    pub index: String,
}

/// Infomap search options.
#[derive(Debug, Args, Clone)]
pub struct OptimizerArgs {
    /// Flow model: directed (PageRank, as the seed) or undirected.
    #[arg(long, value_enum, default_value_t = FlowArg::Directed)]
    pub flow: FlowArg,

    /// Independent Infomap trials; the lowest codelength wins.
    #[arg(long, default_value_t = 1)]
    pub trials: usize,

    /// Random seed; trial t uses seed + t.
    #[arg(long, default_value_t = 123)]
    pub seed: u64,
}

/// Flow models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlowArg {
    /// Links are one-way; PageRank with teleportation (the reference's --directed).
    Directed,
    /// Links carry flow both ways.
    Undirected,
}

/// The main job.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Feature file: .npy (2-D float32/float64/float16) or raw little-endian float32 .bin;
    /// `-` reads stdin (needs --format).
    #[arg(value_name = "FEATS", required_unless_present = "knn")]
    pub features: Option<PathBuf>,

    /// How to read the features.
    #[command(flatten)]
    pub feature_format: FeatureArgs,

    /// k-NN search.
    #[command(flatten)]
    pub search: SearchArgs,

    /// Keep links with cosine similarity at least this.
    #[arg(long, default_value_t = 0.58, allow_hyphen_values = true)]
    pub min_sim: f32,

    /// Read the k-NN table from this file (written by `face-cluster knn`) instead of searching.
    #[arg(long, value_name = "KNN.npz")]
    pub knn: Option<PathBuf>,

    /// Infomap.
    #[command(flatten)]
    pub optimizer: OptimizerArgs,

    /// Write labels here (`-` = stdout, the default): one integer per input row.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Ground-truth labels (one integer per line, or .npy): adds the evaluation.
    #[arg(long, value_name = "GT")]
    pub labels: Option<PathBuf>,

    /// Write the run report (parameters, counts, timings, peak memory, scores) as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,
}

/// `face-cluster knn`.
#[derive(Debug, Args)]
pub struct KnnArgs {
    /// Feature file (.npy or .bin; `-` = stdin with --format).
    #[arg(value_name = "FEATS")]
    pub features: PathBuf,

    /// How to read the features.
    #[command(flatten)]
    pub feature_format: FeatureArgs,

    /// Search.
    #[command(flatten)]
    pub search: SearchArgs,

    /// Output .npz file with arrays `ids` (int32, n x k, -1 = none) and `sims` (float32).
    #[arg(short, long, value_name = "KNN.npz", required = true)]
    pub output: PathBuf,
}

/// `face-cluster eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Ground-truth labels.
    #[arg(long, value_name = "GT")]
    pub gt: PathBuf,

    /// Predicted labels, one per row of GT.
    #[arg(long, value_name = "PRED")]
    pub pred: PathBuf,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `face-cluster infomap`.
#[derive(Debug, Args)]
pub struct InfomapArgs {
    /// Link list: `source target [weight]` per line, `#` comments (the reference's format).
    #[arg(value_name = "LINKS")]
    pub links: PathBuf,

    /// Links are directed (default).
    #[arg(long, conflicts_with = "undirected")]
    pub directed: bool,

    /// Links are undirected.
    #[arg(long)]
    pub undirected: bool,

    /// Independent trials; the lowest codelength wins.
    #[arg(long, default_value_t = 1)]
    pub trials: usize,

    /// Random seed; trial t uses seed + t.
    #[arg(long, default_value_t = 123)]
    pub seed: u64,

    /// Write the partition here in the reference's .clu format (`-` = stdout).
    #[arg(short, long, value_name = "FILE.clu")]
    pub output: Option<PathBuf>,

    /// Do not optimise: evaluate the partition in this .clu file (as the reference's
    /// --no-infomap --cluster-data).
    #[arg(long, value_name = "FILE.clu")]
    pub cluster_data: Option<PathBuf>,

    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seed_usage_parses() {
        let cli = Cli::try_parse_from(["face-cluster", "--k", "50", "--min-sim", "0.58", "feats.npy"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.search.k, 50);
        assert_eq!(cli.run.min_sim, 0.58);
        assert_eq!(cli.run.features.as_deref(), Some(std::path::Path::new("feats.npy")));
    }

    #[test]
    fn features_are_required_for_the_main_job_unless_a_knn_cache_is_given() {
        assert!(Cli::try_parse_from(["face-cluster", "--k", "5"]).is_err());
        let cli = Cli::try_parse_from(["face-cluster", "--knn", "cache.npz", "--min-sim", "0.9"]).unwrap();
        assert!(cli.run.features.is_none());
    }

    #[test]
    fn subcommands_parse() {
        let cli = Cli::try_parse_from(["face-cluster", "eval", "--gt", "a", "--pred", "b", "--json"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Eval(EvalArgs { json: true, .. }))));
        let cli = Cli::try_parse_from(["face-cluster", "infomap", "net.txt", "--undirected", "-j", "2"]).unwrap();
        assert_eq!(cli.global.threads, 2);
        assert!(matches!(cli.command, Some(Command::Infomap(InfomapArgs { undirected: true, .. }))));
        assert!(Cli::try_parse_from(["face-cluster", "infomap", "n", "--directed", "--undirected"]).is_err());
    }

    #[test]
    fn negative_min_sim_is_a_value() {
        let cli = Cli::try_parse_from(["face-cluster", "--min-sim", "-0.2", "f.npy"]).unwrap();
        assert_eq!(cli.run.min_sim, -0.2);
    }
}
