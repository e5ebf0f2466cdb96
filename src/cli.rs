//! Command-line arguments (clap derive). Only `main.rs` uses this module: clap stays out of the
//! library's API. Validation beyond types happens in the library's config constructors.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use face_cluster::config::{MinSim, Similarity, K};
use face_cluster::sweep::{parse_ks, parse_min_sim_grid};

/// Cluster face embeddings into identities: faiss k-NN graph + two-level Infomap.
///
/// Reads features (.npy, or raw float32 .bin with --dim), builds the cosine k-NN graph, keeps
/// links with similarity >= --min-sim (picked from the data unless given), partitions it with
/// the map equation and writes one cluster label per input row (stdout by default). Given
/// ground truth (--labels), it also reports pairwise and BCubed precision/recall/F and NMI.
///
/// With no option it runs the default preset (docs/quality.md): 256 neighbours, the threshold
/// read off the data (with a warning when the data gives no clear answer), a two-tier graph,
/// and clusters merged and lonely rows attached after Infomap. `--preset seed` (k 50, min_sim
/// 0.58) is face-cluster-by-infomap's method exactly; `--preset best` is the previous default.
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
    /// Cluster and score over a grid of k and min_sim values, searching the k-NN only once.
    Sweep(SweepArgs),
    /// Write a synthetic face-embedding data set with identity labels (feats.npy, feats.bin,
    /// labels.meta, and sources.meta: the identity each row is an image of).
    Synth(SynthArgs),
    /// Add rows to a clustering saved with --save, re-optimising only where the network
    /// changed; cluster ids of untouched clusters stay.
    Add(AddArgs),
}

/// `face-cluster add`.
///
/// Searches the new rows against all rows (as the saved clustering was searched), adds their
/// links and the links they make for old rows, and re-optimises the modules those links touch,
/// warm-started from the saved partition. Writes the labels of all rows (old rows first, in
/// their order, then the new rows) with stable cluster ids: clusters no new row touched keep
/// theirs, new clusters get new ones; merges and splits are in the summary and the report.
/// The state is updated in place; an interrupted or failed `add` leaves it as it was.
#[derive(Debug, Args)]
#[command(after_help = "Example: face-cluster add state new.npy -o labels.txt --report add.json")]
pub struct AddArgs {
    /// The saved clustering (a folder written by the main job's --save).
    #[arg(value_name = "STATE")]
    pub state: PathBuf,

    /// The rows to add: .npy or raw float32 .bin (`-` = stdin with --format), of the state's
    /// dimension; scaled to unit length as the state's rows were.
    #[arg(value_name = "NEW")]
    pub features: PathBuf,

    /// Feature format; by default taken from the extension.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,

    /// Row length of a raw .bin file. Default: the state's dimension.
    #[arg(long)]
    pub dim: Option<usize>,

    /// Write the labels of all rows here (`-` = stdout, the default).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Ground-truth labels of all rows after the addition (old rows first): adds the
    /// evaluation.
    #[arg(long, value_name = "GT")]
    pub labels: Option<PathBuf>,

    /// Write the report (what changed, codelengths, timings by stage) as JSON.
    #[arg(long, value_name = "FILE.json")]
    pub report: Option<PathBuf>,

    /// Also re-optimise every row from the saved partition and report the codelength next to
    /// the update's (the drift); keeps the update.
    #[arg(long, conflicts_with = "full")]
    pub check_drift: bool,

    /// Re-optimise every row from the saved partition and keep that (slower; use when the
    /// drift is large, see the README).
    #[arg(long)]
    pub full: bool,
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
    /// smaller than the number of rows. Default: the preset's (256 for the default preset,
    /// lowered to the number of rows - 1 for small inputs; 50 for `seed` and `best`, and for
    /// `face-cluster knn`).
    #[arg(short = 'k', long = "k")]
    pub k: Option<usize>,

    /// Index options.
    #[command(flatten)]
    pub index: IndexArgs,
}

/// Which faiss index searches, and its search parameters.
#[derive(Debug, Args, Clone)]
pub struct IndexArgs {
    /// Index: `auto` (exact up to 10,000 rows, the inverted-file self-join above), `Flat`
    /// (exact), `IVFJoin<nlist>`, or any faiss index_factory string, e.g. `IVF4096,Flat`, `HNSW32`.
    ///
    /// `auto` resolves to `Flat` for inputs of up to 10,000 rows and above to `IVFJoin<nlist>`
    /// (nlist the power of two nearest rows / 128, nprobe 4): rows are split into lists by a
    /// k-means quantizer trained on an evenly strided sample, and each list's rows are searched
    /// exactly among the rows of the lists it probes or that probe it (and rows on a list's edge
    /// also in their second list), as BLAS products. Edge recall measured 0.998 or more from
    /// 100,000 to a million rows; the report records what auto resolved to. See docs/scale.md
    /// for the measurements behind the choice.
    #[arg(long, default_value = "auto")]
    pub index: String,

    /// Inverted lists an IVF index probes per query (faiss's nprobe), or an `IVFJoin` index per
    /// list; more is slower and closer to exact. Default: 4 for `auto` and `IVFJoin`, faiss's
    /// 1 for an explicit faiss IVF index.
    #[arg(long, value_name = "N")]
    pub nprobe: Option<usize>,

    /// Candidate list size of an HNSW search (faiss's efSearch); more is slower and closer to
    /// exact. Default: faiss's 16.
    #[arg(long, value_name = "N")]
    pub ef_search: Option<usize>,

    /// Where to search: `auto` (a GPU when one can be used, for an exact-capable index above
    /// 10,000 rows; else the CPU, saying why in the summary), `cpu`, or `gpu` (exact search on
    /// the GPU, or an error saying why none can be used).
    ///
    /// The GPU is found at run time: the NVIDIA driver, cuBLAS and NVRTC (CUDA 12 or 13) must be
    /// on the loader's path (e.g. LD_LIBRARY_PATH); nothing CUDA is needed to build or to run
    /// on the CPU. The GPU search is exact, like `--index Flat`, and gives the same table and
    /// labels; `--device gpu` with an approximate index (`IVFJoin...`, `HNSW32`, `--nprobe`) is
    /// an error.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceArg,

    /// On a GPU, screen with TF32 products and re-score the candidates in FP32 (`on`), or
    /// multiply in FP32 throughout (`off`). Both give the FP32 result: rows the screen cannot
    /// prove are searched again in FP32.
    #[arg(long, value_enum, default_value = "on", value_name = "on|off")]
    pub gpu_screen: Switch,
}

/// Where to search.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// A GPU when one can be used, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// A GPU, or an error.
    Gpu,
}

/// An on/off setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// Infomap search options.
#[derive(Debug, Args, Clone)]
pub struct OptimizerArgs {
    /// Flow model: directed (PageRank, as the seed) or undirected. Default: the preset's
    /// (directed).
    #[arg(long, value_enum)]
    pub flow: Option<FlowArg>,

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

/// Named sets of choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    /// Issue 17's label-free default (docs/quality.md): k 256, the robust automatic threshold,
    /// two-tier links, clusters merged, lonely rows attached to a clear nearest row.
    Default,
    /// The previous default: the seed's graph at k 50 with the merge-height valley.
    Best,
    /// face-cluster-by-infomap exactly: k 50, min_sim 0.58, threshold links weighted by
    /// similarity, directed flow, rows without links on their own.
    Seed,
}

/// Which links of a k-NN row are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EdgesArg {
    /// Every neighbour with similarity >= min_sim (the seed's rule).
    Threshold,
    /// Neighbours before the row's own drop in similarity (and >= min_sim).
    Adaptive,
    /// Neighbours (>= min_sim) sharing at least --min-snn of their neighbour lists.
    Snn,
    /// Two tiers: the 19 nearest down to min_sim, farther ones only down to
    /// 1 - 0.7 (1 - min_sim).
    Tiered,
}

/// Link weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WeightsArg {
    /// Cosine similarity (the seed's).
    Sim,
    /// Similarity over the sum of the row's kept similarities.
    Normalized,
    /// Shared-neighbour score.
    Snn,
}

/// What becomes of rows left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LonelyArg {
    /// A row without kept links is a cluster of its own (the seed's rule).
    Own,
    /// Every row takes Infomap's module.
    Infomap,
    /// Rows alone in their cluster join their strongest link's cluster.
    Attach,
    /// Rows alone in their cluster join a clear nearest row's cluster (within 2 bandwidths
    /// below min_sim, 1 bandwidth nearer than the second nearest).
    Nearest,
}

/// Strategy options of the main job; each overrides the preset.
#[derive(Debug, Args, Clone)]
pub struct StrategyArgs {
    /// Named set of choices: `default` (k 256, robust automatic threshold, two-tier links,
    /// merge and attach), `best` (the previous default: the seed's graph at k 50 with the
    /// merge-height valley) or `seed` (face-cluster-by-infomap exactly, k 50, min_sim 0.58).
    /// Options given explicitly override the preset: a --k replaces its k (and is never
    /// lowered), a --min-sim its threshold (the other steps stay).
    #[arg(long, value_enum)]
    pub preset: Option<PresetArg>,

    /// Which links to keep: threshold (the seed's), adaptive (per-row cut) or snn
    /// (shared-neighbour score). Default: the preset's (threshold).
    #[arg(long, value_enum)]
    pub edges: Option<EdgesArg>,

    /// Link weights: sim (the seed's), normalized (per row) or snn. Default: the preset's (sim).
    #[arg(long, value_enum)]
    pub weights: Option<WeightsArg>,

    /// Rows left alone: own (own cluster, the seed's), infomap (Infomap's module), attach
    /// (join the strongest link's cluster) or nearest (join a clear nearest row's cluster).
    /// Default: the preset's (nearest for `default`, own otherwise).
    #[arg(long, value_enum)]
    pub lonely: Option<LonelyArg>,

    /// Merge two clusters when at least this share of each one's rows link into the other,
    /// in [0, 1], or `off`. Default: the preset's (0.667 for `default`, off otherwise).
    #[arg(long, value_name = "SHARE|off", value_parser = parse_merge)]
    pub merge: Option<MergeArg>,

    /// Shared-neighbour score a link needs with --edges snn, in [0, 1].
    #[arg(long, value_name = "SCORE")]
    pub min_snn: Option<f32>,
}

/// `--merge` as typed: a share, or `None` for `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MergeArg(pub Option<f32>);

fn parse_merge(text: &str) -> Result<MergeArg, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(MergeArg(None));
    }
    text.trim().parse::<f32>().map(|v| MergeArg(Some(v))).map_err(|_| format!("'{text}' is neither 'off' nor a number"))
}

/// `--min-sim` as typed: `auto` or a number whose range is checked with the other settings
/// (so that an out-of-range value is reported like every other bad setting, with status 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinSimArg(pub Option<f32>);

/// clap's adapter for [`MinSim::parse_number`].
fn parse_min_sim(text: &str) -> Result<MinSimArg, String> {
    MinSim::parse_number(text).map(MinSimArg).map_err(|e| problem_of(&e))
}

/// What a library error says, without the parameter's name (clap names the option).
fn problem_of(e: &face_cluster::Error) -> String {
    match e {
        face_cluster::Error::InvalidParameter { problem, .. } => problem.clone(),
        e => e.to_string(),
    }
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

    /// Keep links with cosine similarity at least this, or `auto`: pick it from the k-NN table
    /// (the most prominent valley of the single-linkage merge heights) and print it. Default:
    /// auto (0.58 with --preset seed).
    #[arg(long, value_name = "SIM|auto", allow_hyphen_values = true, value_parser = parse_min_sim)]
    pub min_sim: Option<MinSimArg>,

    /// Presets and strategies.
    #[command(flatten)]
    pub strategy: StrategyArgs,

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

    /// Also measure the search's edge recall on this many random rows (exact search of just
    /// those rows), into the summary and the report.
    #[arg(long, value_name = "ROWS")]
    pub check_recall: Option<usize>,

    /// Also save the clustering to this folder (made if missing; a saved clustering there is
    /// replaced), so that `face-cluster add STATE NEW` can add rows later without starting
    /// over. Keeps the features, the k-NN table and the partition (docs/state.md).
    #[arg(long, value_name = "STATE")]
    pub save: Option<PathBuf>,
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

    /// Also measure the table's recall on this many random rows against an exact search of
    /// those rows: top-k recall, and the recall of the links with similarity >= --min-sim.
    #[arg(long, value_name = "ROWS")]
    pub check_recall: Option<usize>,

    /// Similarity threshold of the links whose recall --check-recall reports.
    #[arg(long, default_value_t = 0.58, allow_hyphen_values = true, requires = "check_recall")]
    pub min_sim: f32,

    /// Seed of --check-recall's row sample.
    #[arg(long, default_value_t = 123, requires = "check_recall")]
    pub seed: u64,
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

/// A list of grid values, parsed from `1,2` or `START:STOP:STEP` items.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid<T>(pub Vec<T>);

/// clap's adapter for the library's list parsers: clap names the option, so only the problem
/// is kept from the library's message.
fn grid_parser<T: 'static>(
    parse: fn(&str) -> face_cluster::Result<Vec<T>>,
) -> impl Fn(&str) -> Result<Grid<T>, String> + Clone + Send + Sync + 'static {
    move |spec| parse(spec).map(Grid).map_err(|e| problem_of(&e))
}

/// A `--min-sim` grid of the sweep: fixed values, and whether `auto` was listed.
#[derive(Debug, Clone, PartialEq)]
pub struct MinSimGrid {
    /// Fixed thresholds, ascending.
    pub values: Vec<Similarity>,
    /// Whether `auto` was among the items.
    pub auto: bool,
}

fn min_sim_grid_parser(spec: &str) -> Result<MinSimGrid, String> {
    parse_min_sim_grid(spec).map(|(values, auto)| MinSimGrid { values, auto }).map_err(|e| problem_of(&e))
}

/// `face-cluster sweep`: the grid is every k x strategy (edges x weights x flow x lonely) x
/// min_sim.
#[derive(Debug, Args)]
#[command(
    after_help = "Example: face-cluster sweep feats.npy --labels labels.meta --k 50,80 --min-sim 0.50:0.70:0.02,auto \
    --flow directed,undirected --plot sweep.svg"
)]
pub struct SweepArgs {
    /// Feature file (.npy or .bin; `-` = stdin with --format).
    #[arg(value_name = "FEATS", required_unless_present = "knn")]
    pub features: Option<PathBuf>,

    /// How to read the features.
    #[command(flatten)]
    pub feature_format: FeatureArgs,

    /// Ground-truth labels (one integer per line, or .npy).
    #[arg(long, value_name = "GT", required = true)]
    pub labels: PathBuf,

    /// k values: a comma list and/or inclusive START:STOP:STEP ranges, e.g. 50,80 or 10:100:10.
    /// The k-NN table is searched once, with the largest.
    #[arg(short = 'k', long = "k", value_name = "LIST", default_value = "50", value_parser = grid_parser(parse_ks))]
    pub ks: Grid<K>,

    /// min_sim values: a comma list and/or inclusive START:STOP:STEP ranges, e.g.
    /// 0.50:0.70:0.02; the item `auto` adds a cell at the threshold picked from the data (by
    /// the rule of --preset).
    #[arg(long = "min-sim", value_name = "LIST", default_value = "0.58", allow_hyphen_values = true,
          value_parser = min_sim_grid_parser)]
    pub min_sims: MinSimGrid,

    /// The search's index.
    #[command(flatten)]
    pub index: IndexArgs,

    /// Read the k-NN table from this file (written by `face-cluster knn`, with at least the
    /// largest k) instead of searching.
    #[arg(long, value_name = "KNN.npz")]
    pub knn: Option<PathBuf>,

    /// The strategy the lists below vary: `best` (the seed's strategy, with the merge-height
    /// valley for `auto`) or `default` (two-tier links, merge, nearest attach and the robust
    /// automatic threshold, unless the lists say otherwise); `seed` is `best` here.
    #[arg(long, value_enum, default_value = "best")]
    pub preset: PresetArg,

    /// Link rules to sweep (comma list): threshold, adaptive, snn, tiered. Default: the
    /// preset's.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub edges: Vec<EdgesArg>,

    /// Link weights to sweep (comma list): sim, normalized, snn.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sim")]
    pub weights: Vec<WeightsArg>,

    /// Flow models to sweep (comma list): directed, undirected.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "directed")]
    pub flow: Vec<FlowArg>,

    /// Rules for rows left alone to sweep (comma list): own, infomap, attach, nearest.
    /// Default: the preset's.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub lonely: Vec<LonelyArg>,

    /// Shared-neighbour score a link needs with --edges snn, in [0, 1].
    #[arg(long, value_name = "SCORE", default_value_t = 0.2)]
    pub min_snn: f32,

    /// Independent Infomap trials; the lowest codelength wins.
    #[arg(long, default_value_t = 1)]
    pub trials: usize,

    /// Random seed; trial t uses seed + t.
    #[arg(long, default_value_t = 123)]
    pub seed: u64,

    /// Print one JSON object instead of the Markdown table.
    #[arg(long)]
    pub json: bool,

    /// Also write an SVG plot of pairwise precision, recall and F against min_sim, per k.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// `face-cluster synth`: every parameter of the generator. A knob not given takes the value of
/// `--family` when one is given, else the library's default (shown as `[default: ...]`).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  face-cluster synth --n 1000000 --dim 256 --seed 1 -o synth-1m\n  \
                        face-cluster synth --family mixed --n 20000 --seed 1 -o mixed\n  \
                        face-cluster synth --dup-fraction 0.3 --session-mean-size 20 -o dups")]
pub struct SynthArgs {
    /// Output folder (created if missing): feats.npy, feats.bin, labels.meta and sources.meta.
    #[arg(short, long, value_name = "DIR", required = true)]
    pub output: PathBuf,

    /// A preset of the harder families (the base model with some knobs set); knobs given beside
    /// it override its values.
    #[arg(long, value_name = "NAME")]
    pub family: Option<FamilyArg>,

    /// Also write DIR/kinds.meta: the kind of every row (0 an image, 1 a near-duplicate, 2
    /// junk, 3 mislabelled).
    #[arg(long)]
    pub kinds: bool,

    /// Rows (images). [default: 100000]
    #[arg(long)]
    pub n: Option<usize>,

    /// Embedding dimension. [default: 256]
    #[arg(long)]
    pub dim: Option<usize>,

    /// Random seed: the same seed and parameters give the same files. [default: 123]
    #[arg(long)]
    pub seed: Option<u64>,

    /// Mean images per identity (identity sizes are lognormal). [default: 68]
    #[arg(long)]
    pub mean_identity_size: Option<f64>,

    /// Spread of identity sizes: standard deviation of ln(size). [default: 0.8]
    #[arg(long)]
    pub identity_size_sigma: Option<f64>,

    /// Median noise of an image around its identity's (or session's) centre (cosine to it
    /// about 1/sqrt(1+noise²)). [default: 0.6]
    #[arg(long)]
    pub noise: Option<f64>,

    /// Spread of image quality: standard deviation of ln(noise) across images. [default: 0.3]
    #[arg(long)]
    pub quality_sigma: Option<f64>,

    /// Attribute groups (sex, age band, ethnicity): identities of one group share part of
    /// their centre. [default: 32]
    #[arg(long)]
    pub groups: Option<usize>,

    /// Cosine between the centres of two identities of one group. [default: 0.3]
    #[arg(long)]
    pub group_sim: Option<f64>,

    /// Share of identities placed near an earlier identity (look-alikes). [default: 0.1]
    #[arg(long)]
    pub lookalike_fraction: Option<f64>,

    /// Smallest cosine between a look-alike's centre and its model's. [default: 0.5]
    #[arg(long, allow_hyphen_values = true)]
    pub lookalike_min_sim: Option<f64>,

    /// Largest cosine between a look-alike's centre and its model's. [default: 0.75]
    #[arg(long, allow_hyphen_values = true)]
    pub lookalike_max_sim: Option<f64>,

    /// Share of rows that are junk (random vectors) keeping their identity's label.
    /// [default: 0.01]
    #[arg(long)]
    pub junk_fraction: Option<f64>,

    /// Share of rows that are images of another identity carrying this identity's label.
    /// [default: 0.02]
    #[arg(long)]
    pub mislabel_fraction: Option<f64>,

    /// Heavy head: the first H identities get sizes log-uniform in --head-min-size ..
    /// --head-max-size (celebrities, an album's owner); the other rows get lognormal sizes.
    /// [default: 0]
    #[arg(long, value_name = "H")]
    pub head_identities: Option<usize>,

    /// Smallest head identity (and album identity). [default: 300]
    #[arg(long)]
    pub head_min_size: Option<usize>,

    /// Largest head identity (and album identity). [default: 2000]
    #[arg(long)]
    pub head_max_size: Option<usize>,

    /// A closed album: exactly this many identities, all of log-uniform size in
    /// --head-min-size .. --head-max-size; --n is then ignored (rows are their sum); 0 is off.
    /// [default: 0]
    #[arg(long)]
    pub identities_total: Option<usize>,

    /// Photo sessions: an identity's images come in sessions of geometric size with this mean,
    /// each around its own centre; 0 is off. [default: 0]
    #[arg(long)]
    pub session_mean_size: Option<f64>,

    /// Spread of a session's centre around its identity's: images of two sessions meet at
    /// about 1/((1+noise²)(1+session_noise²)), of one session 1/(1+noise²). [default: 0.5]
    #[arg(long)]
    pub session_noise: Option<f64>,

    /// Share of each identity's rows that are near-duplicates (the same photo re-encoded) of
    /// its other rows, in bursts; 0 is off. [default: 0]
    #[arg(long)]
    pub dup_fraction: Option<f64>,

    /// Mean size of a burst of near-duplicates of one photo (geometric). [default: 5]
    #[arg(long)]
    pub dup_burst_mean: Option<f64>,

    /// Largest noise of a near-duplicate around its photo, drawn uniformly from 0 to this
    /// (cosine to it about 1/sqrt(1+d²): at least 0.98 for 0.2). [default: 0.2]
    #[arg(long)]
    pub dup_noise_max: Option<f64>,

    /// Share of the junk rows drawn around one shared junk centre instead of uniformly
    /// (non-faces a model maps near one direction). [default: 0]
    #[arg(long)]
    pub junk_clustered: Option<f64>,

    /// Noise of clustered junk around its centre: two such rows meet at about
    /// 1/(1+junk_noise²). [default: 1.4]
    #[arg(long)]
    pub junk_noise: Option<f64>,

    /// dlib-like compressed similarity scale: cosine c becomes about common_sim + (1 -
    /// common_sim) c (dlib: 0.85); 0 is off. [default: 0]
    #[arg(long, value_name = "RHO")]
    pub common_sim: Option<f64>,

    /// Per-row spread of --common-sim: each row's is uniform in common_sim ± this.
    /// [default: 0]
    #[arg(long)]
    pub common_sim_spread: Option<f64>,
}

/// `face-cluster synth --family`: the presets of [`face_cluster::synth::Family`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FamilyArg {
    /// 10 identities of 300-3000 rows, then a tail of mean 30; sessions of 20.
    Head,
    /// Sessions of 20; 30% of rows near-duplicates in bursts of 8.
    Dups,
    /// 10% junk, half of it around one junk centre.
    Junk,
    /// The base model, 128-d, 10,000 rows, on dlib's scale (common_sim 0.85 ± 0.03).
    Dlib,
    /// 24 people of 22-936 photos, sessions, 25% near-duplicates, dlib's scale, 128-d.
    Album,
    /// The head family with sessions of 60 and session noise 0.6.
    Sessions,
    /// Head, sessions, 20% near-duplicates, 5% junk (half clustered).
    Mixed,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use face_cluster::synth::SynthConfig;

    fn values(grid: &MinSimGrid) -> (Vec<f32>, bool) {
        (grid.values.iter().map(|v| v.get()).collect(), grid.auto)
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seed_usage_parses() {
        let cli = Cli::try_parse_from(["face-cluster", "--k", "50", "--min-sim", "0.58", "feats.npy"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.search.k, Some(50));
        assert_eq!(cli.run.min_sim, Some(MinSimArg(Some(0.58))));
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
    fn sweep_grids_parse() {
        let cli = Cli::try_parse_from([
            "face-cluster",
            "sweep",
            "f.npy",
            "--labels",
            "gt",
            "--k",
            "80,50",
            "--min-sim",
            "0.50:0.56:0.02",
        ])
        .unwrap();
        let Some(Command::Sweep(args)) = cli.command else { panic!("not a sweep") };
        assert_eq!(args.ks.0.iter().map(|k| k.get()).collect::<Vec<_>>(), [50, 80]);
        assert_eq!(values(&args.min_sims), (vec![0.5, 0.52, 0.54, 0.56], false));
        let cli = Cli::try_parse_from(["face-cluster", "sweep", "--knn", "c.npz", "--labels", "gt"]).unwrap();
        let Some(Command::Sweep(args)) = cli.command else { panic!("not a sweep") };
        assert_eq!((args.ks.0[0].get(), values(&args.min_sims)), (50, (vec![0.58], false)));
        assert!(Cli::try_parse_from(["face-cluster", "sweep", "f.npy"]).is_err(), "--labels is required");
    }

    #[test]
    fn bad_sweep_grids_are_usage_errors_naming_the_option() {
        for (option, value) in [("--k", "50,x"), ("--min-sim", "0.5:0.7"), ("--min-sim", "2")] {
            let e =
                Cli::try_parse_from(["face-cluster", "sweep", "f.npy", "--labels", "gt", option, value]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
            let text = e.to_string();
            assert!(text.contains(option) && text.contains(value), "{text}");
        }
    }

    #[test]
    fn synth_defaults_are_the_library_defaults() {
        let cli = Cli::try_parse_from(["face-cluster", "synth", "-o", "out"]).unwrap();
        let Some(Command::Synth(args)) = cli.command else { panic!("not synth") };
        assert_eq!(SynthConfig::from(&args), SynthConfig::default());
        assert!(Cli::try_parse_from(["face-cluster", "synth"]).is_err(), "-o is required");
    }

    #[test]
    fn synth_help_shows_the_library_defaults() {
        // Every knob is an Option (so that a family can tell a given knob from a default), so
        // its default is written in its help: check each against SynthConfig::default().
        let defaults = serde_json::to_value(SynthConfig::default()).unwrap();
        let mut command = Cli::command();
        let synth = command.find_subcommand_mut("synth").unwrap();
        let mut checked = 0;
        for arg in synth.get_arguments() {
            let Some(value) = defaults.get(arg.get_id().as_str()) else { continue };
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            let shown = help.split("[default: ").nth(1).and_then(|r| r.split(']').next());
            let shown: f64 =
                shown.unwrap_or_else(|| panic!("--{}: no default in {help:?}", arg.get_id())).parse().unwrap();
            assert_eq!(shown, value.as_f64().unwrap(), "--{}", arg.get_id());
            checked += 1;
        }
        assert_eq!(checked, defaults.as_object().unwrap().len(), "every knob is an option");
    }

    #[test]
    fn synth_family_values_yield_to_given_knobs() {
        let parse = |extra: &[&str]| {
            let args = ["face-cluster", "synth", "-o", "out"].iter().chain(extra).copied();
            let Some(Command::Synth(args)) = Cli::try_parse_from(args).unwrap().command else { panic!("not synth") };
            SynthConfig::from(&args)
        };
        let dlib = face_cluster::synth::Family::Dlib.config();
        assert_eq!(parse(&["--family", "dlib"]), dlib);
        assert_eq!(
            parse(&["--family", "dlib", "--n", "20000", "--seed", "1"]),
            SynthConfig { n: 20_000, seed: 1, ..dlib }
        );
        assert_eq!(parse(&["--dup-fraction", "0.3"]), SynthConfig { dup_fraction: 0.3, ..SynthConfig::default() });
        for family in face_cluster::synth::Family::ALL {
            assert_eq!(parse(&["--family", family.name()]), family.config(), "{family}");
        }
    }

    #[test]
    fn negative_min_sim_is_a_value() {
        let cli = Cli::try_parse_from(["face-cluster", "--min-sim", "-0.2", "f.npy"]).unwrap();
        assert_eq!(cli.run.min_sim, Some(MinSimArg(Some(-0.2))));
    }

    #[test]
    fn min_sim_auto_presets_and_strategies_parse() {
        let cli = Cli::try_parse_from(["face-cluster", "f.npy"]).unwrap();
        assert_eq!(cli.run.min_sim, None);
        assert_eq!(cli.run.strategy.preset, None);
        let cli = Cli::try_parse_from([
            "face-cluster",
            "--min-sim",
            "auto",
            "--preset",
            "seed",
            "--edges",
            "snn",
            "--weights",
            "normalized",
            "--lonely",
            "attach",
            "--min-snn",
            "0.3",
            "--flow",
            "undirected",
            "f.npy",
        ])
        .unwrap();
        assert_eq!(cli.run.min_sim, Some(MinSimArg(None)));
        let s = &cli.run.strategy;
        assert_eq!(
            (s.preset, s.edges, s.weights, s.lonely, s.min_snn),
            (
                Some(PresetArg::Seed),
                Some(EdgesArg::Snn),
                Some(WeightsArg::Normalized),
                Some(LonelyArg::Attach),
                Some(0.3)
            )
        );
        assert_eq!(cli.run.optimizer.flow, Some(FlowArg::Undirected));
        let e = Cli::try_parse_from(["face-cluster", "--min-sim", "often", "f.npy"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(e.to_string().contains("neither 'auto' nor a number"), "{e}");
    }

    #[test]
    fn sweep_strategy_lists_parse() {
        let cli = Cli::try_parse_from([
            "face-cluster",
            "sweep",
            "f.npy",
            "--labels",
            "gt",
            "--min-sim",
            "0.5,auto",
            "--edges",
            "threshold,snn",
            "--flow",
            "directed,undirected",
        ])
        .unwrap();
        let Some(Command::Sweep(args)) = cli.command else { panic!("not a sweep") };
        assert_eq!(values(&args.min_sims), (vec![0.5], true));
        assert_eq!(args.edges, [EdgesArg::Threshold, EdgesArg::Snn]);
        assert_eq!(args.flow, [FlowArg::Directed, FlowArg::Undirected]);
        // The lonely rule and the links rule default to the preset's (`best`: own, threshold).
        assert_eq!((args.weights.as_slice(), args.lonely.as_slice()), (&[WeightsArg::Sim][..], &[][..]));
        assert_eq!(args.preset, PresetArg::Best);
    }
}
