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
    #[error("invalid {name}: {problem}")]
    InvalidParameter {
        /// The parameter, as the command line spells it (`--k`, `--min-sim`).
        name: &'static str,
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
    /// faiss reported an error.
    #[error("faiss: {context}: {message}")]
    Faiss {
        /// What we were doing (index string, n, d, k).
        context: String,
        /// faiss's own message.
        message: String,
    },
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
    pub fn invalid(name: &'static str, problem: impl Into<String>) -> Self {
        Error::InvalidParameter { name, problem: problem.into() }
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
