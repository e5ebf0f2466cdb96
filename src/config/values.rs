//! Checked values: numbers with a range, which exist only inside it.

use std::fmt;
use std::num::NonZeroUsize;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Param, Result};

/// A cosine similarity: a number in `[-1, 1]`, never NaN.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f32", into = "f32")]
pub struct Similarity(f32);

impl Similarity {
    /// The seed's threshold, 0.58.
    pub const SEED: Similarity = Similarity(0.58);

    /// `value`, when it is a cosine similarity; `param` names it in the error.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`]: `1.5 is not a cosine similarity in [-1, 1]` (NaN included).
    pub fn new(param: Param, value: f32) -> Result<Self> {
        if (-1.0..=1.0).contains(&value) {
            Ok(Similarity(value))
        } else {
            Err(not_a_similarity(param, value))
        }
    }

    /// `value` brought into `[-1, 1]`, for thresholds computed from similarities (whose
    /// rounding can step an ulp outside); NaN, which no computation here yields, becomes 1.
    pub(crate) fn clamped(value: f32) -> Self {
        Similarity(if value.is_nan() { 1.0 } else { value.clamp(-1.0, 1.0) })
    }

    /// The value.
    pub fn get(self) -> f32 {
        self.0
    }
}

/// The error for a value outside `[-1, 1]`, shared by every similarity-valued parameter (also
/// those held as `f64`).
pub(crate) fn not_a_similarity(param: Param, value: impl fmt::Display) -> Error {
    Error::invalid(param, format!("{value} is not a cosine similarity in [-1, 1]"))
}

impl TryFrom<f32> for Similarity {
    type Error = Error;
    fn try_from(value: f32) -> Result<Self> {
        Similarity::new(Param::MinSim, value)
    }
}

impl From<Similarity> for f32 {
    fn from(s: Similarity) -> f32 {
        s.0
    }
}

impl fmt::Display for Similarity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A share: a number in `[0, 1]`, never NaN (the shared-neighbour threshold `min_snn`).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f32", into = "f32")]
pub struct Share(f32);

impl Share {
    /// The default shared-neighbour threshold, 0.2.
    pub const MIN_SNN: Share = Share(0.2);
    /// The default preset's merge share, 2/3 ([`super::MERGE_SHARE`]).
    pub const MERGE: Share = Share(super::MERGE_SHARE);

    /// `value`, when it is in `[0, 1]`; `param` names it in the error.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`]: `2 is not in [0, 1]` (NaN included).
    pub fn new(param: Param, value: f32) -> Result<Self> {
        if (0.0..=1.0).contains(&value) {
            Ok(Share(value))
        } else {
            Err(Error::invalid(param, format!("{value} is not in [0, 1]")))
        }
    }

    /// The value.
    pub fn get(self) -> f32 {
        self.0
    }
}

impl TryFrom<f32> for Share {
    type Error = Error;
    fn try_from(value: f32) -> Result<Self> {
        Share::new(Param::MinSnn, value)
    }
}

impl From<Share> for f32 {
    fn from(s: Share) -> f32 {
        s.0
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Neighbours searched per row, the row itself included: at least 1. Whether it is also below
/// the number of rows, as it must be, only the data can tell: the search checks that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct K(pub(super) NonZeroUsize);

impl K {
    /// The seed's 50.
    pub const SEED: K = K(NonZeroUsize::new(50).expect("50 is not 0"));

    /// `k`, when it is at least 1.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for [`Param::K`]: `must be at least 1`.
    pub fn new(k: usize) -> Result<Self> {
        at_least_one(Param::K, k).map(K)
    }

    /// The value.
    pub fn get(self) -> usize {
        self.0.get()
    }
}

impl fmt::Display for K {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `value` as a [`NonZeroUsize`]; `param` names it in the error.
///
/// # Errors
///
/// [`Error::InvalidParameter`]: `must be at least 1` (`must be at least 1 row` for the recall
/// sample).
pub fn at_least_one(param: Param, value: usize) -> Result<NonZeroUsize> {
    NonZeroUsize::new(value).ok_or_else(|| {
        let unit = if param == Param::CheckRecall { " row" } else { "" };
        Error::invalid(param, format!("must be at least 1{unit}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_outside_their_range_do_not_exist() {
        assert_eq!(Similarity::new(Param::MinSim, -1.0).unwrap().get(), -1.0);
        assert_eq!(Similarity::new(Param::MinSim, 1.0).unwrap().get(), 1.0);
        for bad in [1.01, -1.5, f32::NAN, f32::INFINITY] {
            let e = Similarity::new(Param::MinSim, bad).unwrap_err();
            assert!(matches!(e, Error::InvalidParameter { param: Param::MinSim, .. }), "{e}");
        }
        assert_eq!(
            Similarity::new(Param::LookalikeMinSim, 3.0).unwrap_err().to_string(),
            "invalid --lookalike-min-sim: 3 is not a cosine similarity in [-1, 1]"
        );
        assert_eq!(Share::new(Param::MinSnn, 2.0).unwrap_err().to_string(), "invalid --min-snn: 2 is not in [0, 1]");
        assert!(Share::new(Param::MinSnn, f32::NAN).is_err());
        assert_eq!(K::new(0).unwrap_err().to_string(), "invalid --k: must be at least 1");
        assert_eq!(K::new(7).unwrap().get(), 7);
        assert_eq!(
            at_least_one(Param::CheckRecall, 0).unwrap_err().to_string(),
            "invalid --check-recall: must be at least 1 row"
        );
        assert_eq!(at_least_one(Param::Trials, 0).unwrap_err().to_string(), "invalid --trials: must be at least 1");
    }

    #[test]
    fn serde_keeps_the_number_and_checks_it() {
        assert_eq!(serde_json::to_string(&Similarity::SEED).unwrap(), "0.58");
        assert_eq!(serde_json::from_str::<Share>("0.2").unwrap(), Share::MIN_SNN);
        assert!(serde_json::from_str::<Similarity>("1.5").is_err());
        assert!(serde_json::from_str::<Share>("-0.1").is_err());
    }
}
