//! The crate's error type.
//!
//! Every variant's `Display` is the complete one-line message the command-line tool prints
//! after `face-cluster: error: `. Messages name the file (or the parameter) and the problem,
//! are lower-case and carry no trailing period. Causes are folded into the message rather than
//! returned from `source()`, so printing with `{:#}` never repeats them.

use std::fmt;
use std::path::{Path, PathBuf};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Opening, reading or writing a file failed at the operating-system level.
    #[error("{}: {cause}", DisplayPath(.path))]
    Io {
        /// The file (`-` for stdin or stdout).
        path: PathBuf,
        /// What the operating system said.
        cause: std::io::Error,
    },
    /// A file's content is not what its format requires (header, dtype, shape, size, syntax).
    #[error("{}: {problem}", DisplayPath(.path))]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. `dtype '<i4' is not supported (need float32 or float64)`.
        problem: String,
    },
    /// One row of a feature matrix cannot be used (non-finite or all-zero).
    #[error("{}: row {row} {problem}", DisplayPath(.path))]
    BadRow {
        /// The feature file.
        path: PathBuf,
        /// 0-based row index of the first bad row.
        row: usize,
        /// What is wrong with it.
        problem: RowProblem,
    },
    /// Two inputs that must have one entry per row disagree in length.
    #[error("{}: has {got} {what} but {expected} were expected ({reason})", DisplayPath(.path))]
    CountMismatch {
        /// The file whose count is off.
        path: PathBuf,
        /// What is counted (`labels`, `rows`).
        what: &'static str,
        /// How many the file has.
        got: usize,
        /// How many were expected.
        expected: usize,
        /// Where the expectation comes from.
        reason: String,
    },
    /// A parameter is out of its valid range.
    #[error("invalid {param}: {problem}")]
    InvalidParameter {
        /// The parameter.
        param: Param,
        /// Why it is invalid.
        problem: String,
    },
    /// Ground truth and prediction given to [`crate::metrics::evaluate`] differ in length, or
    /// are both empty. Callers that read the labels from files add the file names.
    #[error("{}", LabelCountProblem(*.truth, *.pred))]
    LabelCount {
        /// Number of ground-truth labels.
        truth: usize,
        /// Number of predicted labels.
        pred: usize,
    },
    /// `--device gpu` was asked for and no GPU can be used, or a GPU search failed.
    #[error("--device gpu: {problem}")]
    Gpu {
        /// What is missing or failed, e.g. `libcuda.so not found (no NVIDIA driver)`.
        problem: String,
    },
    /// faiss reported an error.
    #[error("faiss: {context}: {message}")]
    Faiss {
        /// What we were doing (index string, n, d, k).
        context: String,
        /// faiss's own message.
        message: String,
    },
}

/// A parameter of the library, named in [`Error::InvalidParameter`].
///
/// The library checks parameters by what they are, not by where they came from; this enum is the
/// one place that spells each as the command line does (its `Display`), so that a message reads
/// `invalid --k: must be at least 1` whichever function found the problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Param {
    /// The feature file (`FEATS`).
    Features,
    /// Row length of a raw `.bin` file (`--dim`), or the dimension of synthetic data.
    Dim,
    /// Neighbours per row, self included (`--k`).
    K,
    /// The similarity threshold (`--min-sim`).
    MinSim,
    /// The shared-neighbour threshold (`--min-snn`).
    MinSnn,
    /// The share at which clusters merge (`--merge`).
    Merge,
    /// The link rules of a sweep (`--edges`).
    Edges,
    /// Infomap trials (`--trials`).
    Trials,
    /// Rows sampled by the recall check (`--check-recall`).
    CheckRecall,
    /// Lists probed by an inverted-file search (`--nprobe`).
    Nprobe,
    /// HNSW's candidate list size (`--ef-search`).
    EfSearch,
    /// Where the search runs (`--device`).
    Device,
    /// Query rows per faiss call (no option: a library setting).
    BatchRows,
    /// Ground-truth labels (`--labels`).
    Labels,
    /// The size of an input (rows, dimension) the search cannot take.
    Input,
    /// A labelling given to the scores (too many items).
    LabelData,
    /// The sweep's plot (`--plot`).
    Plot,
    /// Rows of synthetic data (`--n`).
    Rows,
    /// Mean identity size of synthetic data (`--mean-identity-size`).
    MeanIdentitySize,
    /// Spread of identity sizes (`--identity-size-sigma`).
    IdentitySizeSigma,
    /// Image noise of synthetic data (`--noise`).
    Noise,
    /// Spread of image quality (`--quality-sigma`).
    QualitySigma,
    /// Attribute groups (`--groups`).
    Groups,
    /// Cosine of centres within a group (`--group-sim`).
    GroupSim,
    /// Share of look-alike identities (`--lookalike-fraction`).
    LookalikeFraction,
    /// Smallest look-alike cosine (`--lookalike-min-sim`).
    LookalikeMinSim,
    /// Largest look-alike cosine (`--lookalike-max-sim`).
    LookalikeMaxSim,
    /// Share of junk rows (`--junk-fraction`).
    JunkFraction,
    /// Share of mislabelled rows (`--mislabel-fraction`).
    MislabelFraction,
    /// The saved clustering of the main job (`--save`).
    Save,
    /// Smallest head identity (`--head-min-size`).
    HeadMinSize,
    /// Largest head identity (`--head-max-size`).
    HeadMaxSize,
    /// Identities of a closed album (`--identities-total`).
    IdentitiesTotal,
    /// Mean photo-session size (`--session-mean-size`).
    SessionMeanSize,
    /// Spread of session centres (`--session-noise`).
    SessionNoise,
    /// Share of near-duplicate rows (`--dup-fraction`).
    DupFraction,
    /// Mean near-duplicate burst (`--dup-burst-mean`).
    DupBurstMean,
    /// Largest near-duplicate noise (`--dup-noise-max`).
    DupNoiseMax,
    /// Share of junk rows around one junk centre (`--junk-clustered`).
    JunkClustered,
    /// Noise of clustered junk (`--junk-noise`).
    JunkNoise,
    /// Compressed similarity scale (`--common-sim`).
    CommonSim,
    /// Per-row spread of the compression (`--common-sim-spread`).
    CommonSimSpread,
}

impl Param {
    /// The parameter as the command line spells it.
    pub fn flag(self) -> &'static str {
        match self {
            Param::Features => "FEATS",
            Param::Dim => "--dim",
            Param::K => "--k",
            Param::MinSim => "--min-sim",
            Param::MinSnn => "--min-snn",
            Param::Merge => "--merge",
            Param::Edges => "--edges",
            Param::Trials => "--trials",
            Param::CheckRecall => "--check-recall",
            Param::Nprobe => "--nprobe",
            Param::EfSearch => "--ef-search",
            Param::Device => "--device",
            Param::BatchRows => "batch_rows",
            Param::Labels => "--labels",
            Param::Input => "input",
            Param::LabelData => "labels",
            Param::Plot => "--plot",
            Param::Rows => "--n",
            Param::MeanIdentitySize => "--mean-identity-size",
            Param::IdentitySizeSigma => "--identity-size-sigma",
            Param::Noise => "--noise",
            Param::QualitySigma => "--quality-sigma",
            Param::Groups => "--groups",
            Param::GroupSim => "--group-sim",
            Param::LookalikeFraction => "--lookalike-fraction",
            Param::Save => "--save",
            Param::LookalikeMinSim => "--lookalike-min-sim",
            Param::LookalikeMaxSim => "--lookalike-max-sim",
            Param::JunkFraction => "--junk-fraction",
            Param::MislabelFraction => "--mislabel-fraction",
            Param::HeadMinSize => "--head-min-size",
            Param::HeadMaxSize => "--head-max-size",
            Param::IdentitiesTotal => "--identities-total",
            Param::SessionMeanSize => "--session-mean-size",
            Param::SessionNoise => "--session-noise",
            Param::DupFraction => "--dup-fraction",
            Param::DupBurstMean => "--dup-burst-mean",
            Param::DupNoiseMax => "--dup-noise-max",
            Param::JunkClustered => "--junk-clustered",
            Param::JunkNoise => "--junk-noise",
            Param::CommonSim => "--common-sim",
            Param::CommonSimSpread => "--common-sim-spread",
        }
    }
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.flag())
    }
}

/// What is wrong with a feature row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowProblem {
    /// The row holds NaN or an infinity.
    NonFinite,
    /// Every value of the row is zero, so it has no direction.
    Zero,
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RowProblem::NonFinite => "contains NaN or infinity",
            RowProblem::Zero => "is all zeros (a zero vector has no direction)",
        })
    }
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<Path>, cause: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().to_path_buf(), cause }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl AsRef<Path>, problem: impl Into<String>) -> Self {
        Error::Format { path: path.as_ref().to_path_buf(), problem: problem.into() }
    }

    /// An [`Error::InvalidParameter`].
    pub fn invalid(param: Param, problem: impl Into<String>) -> Self {
        Error::InvalidParameter { param, problem: problem.into() }
    }
}

/// The message of [`Error::LabelCount`]: (ground-truth count, predicted count).
struct LabelCountProblem(usize, usize);

impl fmt::Display for LabelCountProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LabelCountProblem(0, 0) => f.write_str("no labels to evaluate"),
            LabelCountProblem(truth, pred) => {
                write!(f, "ground truth has {truth} labels but the prediction has {pred}")
            }
        }
    }
}

/// Shows `-` as `<stdin>`, other paths as they are.
struct DisplayPath<'a>(&'a Path);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.as_os_str() == "-" {
            f.write_str("<stdin>")
        } else {
            write!(f, "{}", self.0.display())
        }
    }
}
