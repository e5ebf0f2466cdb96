//! The configuration of a run, at the bottom of the flow: every choice the stages take, in
//! types that hold only valid values.
//!
//! A value with a range has a checked type ([`Similarity`], [`Share`], [`K`],
//! [`std::num::NonZeroUsize`]): it is checked once, when it is made (by the command line's
//! parsing, or by a library user), and every stage downstream takes it as it is. Each range's
//! message is written once, in this module. Structural choices are enums, so that impossible
//! combinations cannot be written down: a run reads either features or a cached k-NN table
//! ([`Source`]), and only a search can have its recall checked.
//!
//! The stages own their algorithms, this module their settings:
//!
//! | setting | used by |
//! |---|---|
//! | [`LoadOptions`] | [`crate::io::load_features`] |
//! | [`KnnConfig`] | [`crate::knn::search_knn`] |
//! | [`MinSim`] | [`crate::threshold`] (when `Auto`) |
//! | [`EdgeConfig`] | [`crate::edges::build_edges`] |
//! | [`Lonely`] | [`crate::labels::assign_labels`] |
//! | [`Optimizer`] + [`Strategy::flow`] | [`crate::infomap::Infomap`] |
//! | [`RunConfig`] | [`crate::pipeline::run`], the main job |
//! | [`crate::update::AddJob`] | [`crate::update::add`] (its settings come from the saved state) |
//!
//! [`Preset`] names three complete sets of choices:
//!
//! | preset | k | min_sim | links kept | weights | flow | after Infomap |
//! |---|---|---|---|---|---|---|
//! | `default` | 256 (`n - 1` if fewer rows) | auto ([`AutoRule::Robust`]) | two tiers (20 near slots, far beta 0.7) | similarity | directed | merge at 2/3, clear nearest row attached |
//! | `best` | 50 | auto ([`AutoRule::Valley`]) | threshold | similarity | directed | own cluster |
//! | `seed` | 50 | 0.58 | threshold | similarity | directed | own cluster |
//!
//! `seed` is face-cluster-by-infomap's setting, exactly. `default` is issue 17's label-free
//! default (`docs/quality.md`): a search of 256 neighbours, the threshold from the merge-height
//! and link-similarity valleys with near-duplicate valleys skipped ([`crate::threshold`]), a
//! two-tier graph ([`crate::edges`]), and two steps after Infomap ([`crate::labels`]). `best`
//! is the previous default (issue 9): the seed's graph at the merge-height valley. The other
//! strategies (adaptive cuts, shared-neighbour scores, normalised weights, undirected flow,
//! attaching lonely rows) are available as options; the document gives their scores.

mod values;

use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub(crate) use values::not_a_similarity;
pub use values::{at_least_one, Share, Similarity, K};

use crate::error::{Error, Param, Result};
use crate::infomap::{FlowModel, InfomapConfig};

/// Feature file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureFormat {
    /// NumPy `.npy`, 2-D; see [`crate::io::npy`].
    Npy,
    /// Raw little-endian float32 rows of [`LoadOptions::dim`] values; see [`crate::io::bin`].
    Bin,
}

/// How to read a feature file.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// Explicit format; `None` picks it from the extension (`.npy` or `.bin`). Required for stdin.
    pub format: Option<FeatureFormat>,
    /// Row length of a raw `.bin` file, in float32 values (`--dim`). Default 256.
    pub dim: NonZeroUsize,
    /// Scale rows to unit L2 norm. Default true.
    pub normalize: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { format: None, dim: NonZeroUsize::new(256).expect("256 is not 0"), normalize: true }
    }
}

/// Where the k-NN search runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// A GPU when one can be used and the index is exact (`auto` or `Flat`), else the CPU.
    #[default]
    Auto,
    /// The CPU (faiss and this crate's own join).
    Cpu,
    /// A GPU, or an error saying why none can be used; searches exactly.
    Gpu,
}

impl Device {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Device::Auto => "auto",
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
        }
    }
}

/// The [`KnnConfig::index`] that picks the index from the number of rows (see
/// [`crate::knn::resolve`]).
pub const AUTO_INDEX: &str = "auto";

/// How to search.
///
/// The defaults are those of the face-cluster-by-infomap method, 50 neighbours (the row itself
/// included), with the index chosen by size ([`AUTO_INDEX`]).
#[derive(Debug, Clone, PartialEq)]
pub struct KnnConfig {
    /// Neighbours per row, the row itself included (faiss returns it first), as in the seed.
    /// Must also be smaller than the number of rows, which the search checks. Default 50.
    pub k: K,
    /// faiss `index_factory` string, `IVFJoin<nlist>` (the crate's inverted-file self-join), or
    /// [`AUTO_INDEX`] (the default) to choose by size. `Flat` is exact. Examples:
    /// `IVF1024,Flat`, `HNSW32`.
    pub index: String,
    /// Inverted lists probed per query by IVF indexes (faiss's `nprobe`; faiss's own default
    /// is 1), or per list by `IVFJoin`. `None` leaves the index's default. Setting it for an
    /// index without inverted lists is an error.
    pub nprobe: Option<NonZeroUsize>,
    /// Candidate list size of HNSW searches (faiss's `efSearch`; faiss's own default is 16).
    /// `None` leaves faiss's value. Setting it for an index that is not HNSW is an error.
    pub ef_search: Option<NonZeroUsize>,
    /// Query rows per faiss search call. Bounds the memory of faiss's output (12 bytes per
    /// neighbour) and sets the progress granularity. Default 16384.
    pub batch_rows: NonZeroUsize,
    /// Training rows for indexes that need training (IVF, PQ, ...): all rows when there are
    /// at most this many, else an evenly strided subsample of this size. Default 1048576.
    pub max_train_rows: usize,
    /// Where to search. Default [`Device::Auto`].
    pub device: Device,
    /// On a GPU, screen with TF32 products and re-score the candidates in FP32 (the result is
    /// the FP32 one; rows the screen cannot prove are searched again in FP32). Default true.
    pub gpu_screen: bool,
}

impl Default for KnnConfig {
    fn default() -> Self {
        KnnConfig {
            k: K::SEED,
            index: AUTO_INDEX.to_string(),
            nprobe: None,
            ef_search: None,
            batch_rows: NonZeroUsize::new(16384).expect("16384 is not 0"),
            max_train_rows: 1 << 20,
            device: Device::Auto,
            gpu_screen: true,
        }
    }
}

/// Which rule [`MinSim::Auto`] reads the threshold with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoRule {
    /// The most prominent valley of the single-linkage merge heights
    /// ([`crate::threshold::auto_min_sim`], issue 9; the `best` preset).
    #[default]
    Valley,
    /// The higher of the merge-height valley (near-duplicate valleys skipped) and the
    /// link-similarity valley ([`crate::threshold::choose_min_sim`], issue 17; the default).
    Robust,
}

impl AutoRule {
    /// The name in the report.
    pub fn name(self) -> &'static str {
        match self {
            AutoRule::Valley => "valley",
            AutoRule::Robust => "robust",
        }
    }
}

/// How `min_sim` is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinSim {
    /// This value.
    Fixed(Similarity),
    /// Read off the k-NN table ([`crate::threshold::auto_min_sim`]).
    Auto,
}

impl Default for MinSim {
    /// The seed's 0.58.
    fn default() -> Self {
        MinSim::Fixed(Similarity::SEED)
    }
}

impl MinSim {
    /// Reads `auto` or a cosine similarity in `[-1, 1]`: [`MinSim::parse_number`], then
    /// [`MinSim::from_number`].
    ///
    /// # Errors
    ///
    /// As those two.
    pub fn parse(text: &str) -> Result<MinSim> {
        MinSim::from_number(MinSim::parse_number(text)?)
    }

    /// Reads `auto` (`None`, any letter case) or a number, without checking its range: the
    /// syntax step of [`MinSim::parse`], for parsers that report syntax and range apart.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for [`Param::MinSim`]: `'x' is neither 'auto' nor a number`.
    pub fn parse_number(text: &str) -> Result<Option<f32>> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("auto") {
            return Ok(None);
        }
        text.parse::<f32>()
            .map(Some)
            .map_err(|_| Error::invalid(Param::MinSim, format!("'{text}' is neither 'auto' nor a number")))
    }

    /// `Auto` for `None`, else the number as a [`Similarity`].
    ///
    /// # Errors
    ///
    /// The range message of [`Similarity::new`].
    pub fn from_number(value: Option<f32>) -> Result<MinSim> {
        match value {
            None => Ok(MinSim::Auto),
            Some(v) => Similarity::new(Param::MinSim, v).map(MinSim::Fixed),
        }
    }
}

impl fmt::Display for MinSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MinSim::Fixed(v) => write!(f, "{v}"),
            MinSim::Auto => f.write_str("auto"),
        }
    }
}

/// Which links of a k-NN row to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pruning {
    /// Every neighbour with similarity `>= min_sim` (the seed's rule).
    #[default]
    Threshold,
    /// Neighbours before the row's own cut ([`crate::edges::adaptive_cut`]), and `>= min_sim`.
    Adaptive,
    /// Neighbours `>= min_sim` whose shared-neighbour score is `>= min_snn`.
    Snn,
    /// Two tiers ([`crate::edges`]): the slots before [`EdgeConfig::near_slots`] down to
    /// `min_sim`, farther slots only down to the stricter `1 - far_beta (1 - min_sim)`.
    Tiered,
}

impl Pruning {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Pruning::Threshold => "threshold",
            Pruning::Adaptive => "adaptive",
            Pruning::Snn => "snn",
            Pruning::Tiered => "tiered",
        }
    }
}

/// The weight of a kept link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    /// Cosine similarity (the seed's weight).
    #[default]
    Sim,
    /// Similarity divided by the sum of the row's kept similarities.
    Normalized,
    /// Shared-neighbour score (see [`crate::edges`]).
    Snn,
}

impl Weighting {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Weighting::Sim => "sim",
            Weighting::Normalized => "normalized",
            Weighting::Snn => "snn",
        }
    }
}

/// How [`crate::edges::build_edges`] turns a k-NN table into links, besides `k` and `min_sim`.
/// The default is the seed's rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Which links to keep. Default [`Pruning::Threshold`].
    pub pruning: Pruning,
    /// Their weights. Default [`Weighting::Sim`].
    pub weighting: Weighting,
    /// [`Pruning::Snn`] keeps links scoring at least this. Default 0.2.
    pub min_snn: Share,
    /// [`Pruning::Adaptive`] cuts only where the drop stands out of the tail by at least this
    /// many standard deviations; rows without such a drop keep every neighbour above `min_sim`.
    /// Default 3.
    pub min_cut_z: f32,
    /// [`Pruning::Tiered`]: slots `0..near_slots` of a row (slot 0 is the row itself) are kept
    /// down to `min_sim`. Default 20.
    pub near_slots: usize,
    /// [`Pruning::Tiered`]: slots from `near_slots` on need `1 - sim <= far_beta (1 - min_sim)`.
    /// Default 0.7.
    pub far_beta: f64,
}

/// [`EdgeConfig::near_slots`]'s default, issue 17's K0.
pub const NEAR_SLOTS: usize = 20;
/// [`EdgeConfig::far_beta`]'s default, issue 17's BETA.
pub const FAR_BETA: f64 = 0.7;

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            pruning: Pruning::Threshold,
            weighting: Weighting::Sim,
            min_snn: Share::MIN_SNN,
            min_cut_z: 3.0,
            near_slots: NEAR_SLOTS,
            far_beta: FAR_BETA,
        }
    }
}

/// What becomes of rows left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lonely {
    /// A row without kept out-links is a cluster of its own (the seed's rule).
    #[default]
    Own,
    /// Every row takes Infomap's module.
    Infomap,
    /// The seed's rule, then rows alone in their cluster that have out-links join their
    /// strongest out-link's cluster.
    Attach,
    /// The seed's rule, then a row alone in its cluster joins the cluster of its nearest row
    /// when that row is within `2 h` below `min_sim` and at least `h` more similar than the
    /// second nearest (`h` the merge heights' bandwidth), unless most rows are alone
    /// ([`crate::labels::attach_nearest`]).
    Nearest,
}

impl Lonely {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Lonely::Own => "own",
            Lonely::Infomap => "infomap",
            Lonely::Attach => "attach",
            Lonely::Nearest => "nearest",
        }
    }
}

/// The choices after the k-NN table that a sweep varies, besides `k` and `min_sim`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    /// Which links are kept and their weights.
    pub edges: EdgeConfig,
    /// Infomap's flow model.
    pub flow: FlowModel,
    /// What becomes of rows left alone.
    pub lonely: Lonely,
    /// Merge two clusters when at least this share of each one's rows has a kept link into
    /// the other ([`crate::labels::merge_clusters`]). Default none.
    pub merge: Option<Share>,
    /// How `min_sim = auto` is read off the table. Default [`AutoRule::Valley`].
    pub auto_rule: AutoRule,
}

impl Strategy {
    /// A short name: `pruning/weighting/flow/lonely`, e.g. `threshold/sim/directed/own`, with
    /// `+merge<share>` when clusters are merged.
    pub fn label(&self) -> String {
        let merge = self.merge.map(|m| format!("+merge{m:.2}")).unwrap_or_default();
        format!(
            "{}/{}/{}/{}{merge}",
            self.edges.pruning.name(),
            self.edges.weighting.name(),
            self.flow,
            self.lonely.name()
        )
    }

    /// Whether the stages after Infomap need the merge heights' bandwidth
    /// ([`Lonely::Nearest`]).
    pub fn needs_bandwidth(&self) -> bool {
        self.lonely == Lonely::Nearest
    }
}

/// Infomap's search effort: independent trials and the seed of the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Optimizer {
    /// Independent trials; the lowest codelength wins. Default 1.
    pub trials: NonZeroUsize,
    /// Random seed; trial `t` uses `seed + t`. Default 123.
    pub seed: u64,
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer { trials: NonZeroUsize::MIN, seed: 123 }
    }
}

impl Optimizer {
    /// Infomap's settings for `flow`, with these trials and seed and the reference's defaults
    /// for the rest.
    pub fn infomap(&self, flow: FlowModel) -> InfomapConfig {
        InfomapConfig { flow_model: flow, trials: self.trials.get(), seed: self.seed, ..InfomapConfig::default() }
    }
}

/// A named, complete set of choices (see the [module documentation](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// face-cluster-by-infomap exactly: k 50, min_sim 0.58, the seed's graph, directed flow,
    /// rows without links on their own.
    #[default]
    Seed,
    /// Issue 9's default: the seed's graph at the merge-height valley ([`AutoRule::Valley`]).
    Best,
    /// Issue 17's label-free default: k 256, [`AutoRule::Robust`], two-tier links, clusters
    /// merged at a share of 2/3, lonely rows attached to a clear nearest row.
    Default,
}

/// The default preset's `k` (issue 17's K).
pub const DEFAULT_K: K = K(match NonZeroUsize::new(256) {
    Some(k) => k,
    None => unreachable!(),
});

/// The default preset's merge share (issue 17's MERGE_SHARE), 2/3.
pub const MERGE_SHARE: f32 = 2.0 / 3.0;

impl Preset {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Seed => "seed",
            Preset::Best => "best",
            Preset::Default => "default",
        }
    }

    /// Neighbour slots per row, self included.
    pub fn k(self) -> K {
        match self {
            Preset::Seed | Preset::Best => K::SEED,
            Preset::Default => DEFAULT_K,
        }
    }

    /// The threshold.
    pub fn min_sim(self) -> MinSim {
        match self {
            Preset::Seed => MinSim::Fixed(Similarity::SEED),
            Preset::Best | Preset::Default => MinSim::Auto,
        }
    }

    /// Links, flow, lonely rows and the steps after Infomap.
    pub fn strategy(self) -> Strategy {
        match self {
            Preset::Seed | Preset::Best => Strategy::default(),
            Preset::Default => Strategy {
                edges: EdgeConfig { pruning: Pruning::Tiered, ..EdgeConfig::default() },
                lonely: Lonely::Nearest,
                merge: Some(Share::MERGE),
                auto_rule: AutoRule::Robust,
                ..Strategy::default()
            },
        }
    }
}

/// Where the k-NN table comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Search the rows of this feature file (`-` = stdin).
    Features {
        /// The feature file.
        path: PathBuf,
        /// Also measure the search's edge recall on this many sampled rows
        /// ([`crate::knn::check_recall`], seeded with the Infomap seed).
        recall_sample: Option<NonZeroUsize>,
    },
    /// Read the table from a file written by `face-cluster knn` ([`crate::knn::Knn::save`]).
    KnnCache(PathBuf),
}

/// The inputs of a run: the table's source, how features are read, and the ground truth.
#[derive(Debug, Clone, PartialEq)]
pub struct InputConfig {
    /// Features to search, or a cached table.
    pub source: Source,
    /// How to read the features (unused with a cached table, but reported).
    pub load: LoadOptions,
    /// Ground-truth labels for the evaluation.
    pub truth: Option<PathBuf>,
}

impl InputConfig {
    /// Reads `path` with the default options, no ground truth.
    pub fn features(path: impl Into<PathBuf>) -> Self {
        InputConfig {
            source: Source::Features { path: path.into(), recall_sample: None },
            load: LoadOptions::default(),
            truth: None,
        }
    }

    /// The feature file, when the table is searched.
    pub fn features_path(&self) -> Option<&PathBuf> {
        match &self.source {
            Source::Features { path, .. } => Some(path),
            Source::KnnCache(_) => None,
        }
    }

    /// The cached table, when one is read.
    pub fn knn_cache(&self) -> Option<&PathBuf> {
        match &self.source {
            Source::KnnCache(path) => Some(path),
            Source::Features { .. } => None,
        }
    }
}

/// Everything the main job needs to know ([`crate::pipeline::run`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Features (or a cached table) and ground truth.
    pub input: InputConfig,
    /// The search; `knn.k` is also the number of slots used from a cached table.
    pub knn: KnnConfig,
    /// Keep links with similarity at least this, or pick it from the table.
    pub min_sim: MinSim,
    /// Links kept, weights, flow model, rows alone.
    pub strategy: Strategy,
    /// Infomap's trials and seed.
    pub optimizer: Optimizer,
    /// Lower `knn.k` to what the input can give (`n - 1`, or the slots of a cached table),
    /// with a note, instead of failing: set for a preset's `k`, not for one the user gave.
    pub fit_k: bool,
    /// Save the clustering to this folder, for `face-cluster add` (needs features, not a cached
    /// table, and a link rule made from each row alone).
    pub save: Option<PathBuf>,
}

impl RunConfig {
    /// The seed's method (k 50, min_sim 0.58, the seed's graph, directed flow, lonely rows on
    /// their own) on `input`.
    pub fn seed(input: InputConfig) -> Self {
        Self::preset(Preset::Seed, input)
    }

    /// The choices of `preset` on `input`, with the default search and optimiser.
    pub fn preset(preset: Preset, input: InputConfig) -> Self {
        RunConfig {
            input,
            knn: KnnConfig { k: preset.k(), ..KnnConfig::default() },
            min_sim: preset.min_sim(),
            strategy: preset.strategy(),
            optimizer: Optimizer::default(),
            fit_k: preset == Preset::Default,
            save: None,
        }
    }

    /// Infomap's settings for this run.
    pub fn infomap(&self) -> InfomapConfig {
        self.optimizer.infomap(self.strategy.flow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_sim_parses_auto_and_checks_numbers() {
        assert_eq!(MinSim::parse("auto").unwrap(), MinSim::Auto);
        assert_eq!(MinSim::parse(" AUTO ").unwrap(), MinSim::Auto);
        assert_eq!(MinSim::parse("0.58").unwrap(), MinSim::Fixed(Similarity::SEED));
        assert_eq!(MinSim::parse("-0.2").unwrap().to_string(), "-0.2");
        for (bad, message) in [
            ("x", "invalid --min-sim: 'x' is neither 'auto' nor a number"),
            ("", "invalid --min-sim: '' is neither 'auto' nor a number"),
            ("1.5", "invalid --min-sim: 1.5 is not a cosine similarity in [-1, 1]"),
            ("nan", "invalid --min-sim: NaN is not a cosine similarity in [-1, 1]"),
        ] {
            assert_eq!(MinSim::parse(bad).unwrap_err().to_string(), message, "{bad}");
        }
        assert_eq!(MinSim::Auto.to_string(), "auto");
    }

    #[test]
    fn presets() {
        let input = InputConfig::features("f.npy");
        let seed = RunConfig::seed(input.clone());
        assert_eq!((seed.knn.k.get(), seed.min_sim), (50, MinSim::Fixed(Similarity::SEED)));
        assert_eq!(seed.strategy, Strategy::default());
        assert!(!seed.fit_k);
        let best = RunConfig::preset(Preset::Best, input.clone());
        assert_eq!((best.knn.k.get(), best.min_sim, best.strategy), (50, MinSim::Auto, Strategy::default()));
        let default = RunConfig::preset(Preset::Default, input);
        assert_eq!((default.knn.k.get(), default.min_sim, default.fit_k), (256, MinSim::Auto, true));
        let s = default.strategy;
        assert_eq!((s.edges.pruning, s.edges.near_slots, s.edges.far_beta), (Pruning::Tiered, 20, 0.7));
        assert_eq!(
            (s.lonely, s.merge.map(Share::get), s.auto_rule),
            (Lonely::Nearest, Some(2.0 / 3.0), AutoRule::Robust)
        );
        assert_eq!(s.label(), "tiered/sim/directed/nearest+merge0.67");
        assert_eq!(Strategy::default().label(), "threshold/sim/directed/own");
        assert_eq!(seed.infomap(), InfomapConfig::default());
    }
}
