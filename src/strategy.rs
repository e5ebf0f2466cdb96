//! The choices between the k-NN table and the labels, and the named presets of them.
//!
//! A clustering strategy is: `k` (neighbour slots per row), the threshold `min_sim` (a number or
//! [`MinSim::Auto`]), which links are kept and how they are weighted ([`EdgeConfig`]), the flow
//! model, and what becomes of rows left alone ([`Lonely`]). [`Preset`] names two complete sets:
//!
//! | preset | k | min_sim | links kept | weights | flow | rows alone |
//! |---|---|---|---|---|---|---|
//! | `seed` | 50 | 0.58 | threshold | similarity | directed | own cluster |
//! | `best` | 50 | auto | threshold | similarity | directed | own cluster |
//!
//! `seed` is face-cluster-by-infomap's setting, exactly. `best` is the combination that scored
//! best across the data sets measured in `docs/quality.md` (all of them, not one): the seed's
//! graph at a threshold read off the data ([`crate::threshold`]). The other strategies
//! (adaptive cuts, shared-neighbour scores, normalised weights, undirected flow, attaching lonely
//! rows) are available as options; the document gives their scores and why none won.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::edges::EdgeConfig;
use crate::error::{Error, Result};
use crate::infomap::FlowModel;
use crate::lonely::Lonely;
use crate::pipeline::RunConfig;

/// How `min_sim` is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinSim {
    /// This value.
    Fixed(f32),
    /// Read off the k-NN table ([`crate::threshold::auto_min_sim`]).
    Auto,
}

impl Default for MinSim {
    /// The seed's 0.58.
    fn default() -> Self {
        MinSim::Fixed(0.58)
    }
}

impl MinSim {
    /// Reads `auto` or a number. The range is checked with the rest of the configuration
    /// ([`RunConfig::validate`]), so that an out-of-range value is reported like every other
    /// bad parameter.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming `--min-sim` for anything else.
    pub fn parse(text: &str) -> Result<MinSim> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("auto") {
            return Ok(MinSim::Auto);
        }
        text.parse::<f32>()
            .map(MinSim::Fixed)
            .map_err(|_| Error::invalid("--min-sim", format!("'{text}' is neither 'auto' nor a number")))
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
}

impl Strategy {
    /// A short name: `pruning/weighting/flow/lonely`, e.g. `threshold/sim/directed/own`.
    pub fn label(&self) -> String {
        let flow = match self.flow {
            FlowModel::Directed => "directed",
            FlowModel::Undirected => "undirected",
        };
        format!("{}/{}/{flow}/{}", self.edges.pruning.name(), self.edges.weighting.name(), self.lonely.name())
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
    /// The strongest combination measured: the seed's graph at an automatic threshold.
    Best,
}

impl Preset {
    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Seed => "seed",
            Preset::Best => "best",
        }
    }

    /// Neighbour slots per row, self included.
    pub fn k(self) -> usize {
        50
    }

    /// The threshold.
    pub fn min_sim(self) -> MinSim {
        match self {
            Preset::Seed => MinSim::Fixed(0.58),
            Preset::Best => MinSim::Auto,
        }
    }

    /// Links, flow and lonely rows.
    pub fn strategy(self) -> Strategy {
        Strategy::default()
    }

    /// Sets every choice the preset makes in `config` (`knn.k`, `min_sim`, `edges`, `lonely`,
    /// `infomap.flow_model`), leaving the rest alone.
    pub fn apply(self, config: &mut RunConfig) {
        let strategy = self.strategy();
        config.knn.k = self.k();
        config.min_sim = self.min_sim();
        config.edges = strategy.edges;
        config.lonely = strategy.lonely;
        config.infomap.flow_model = strategy.flow;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_sim_parses_auto_and_numbers() {
        assert_eq!(MinSim::parse("auto").unwrap(), MinSim::Auto);
        assert_eq!(MinSim::parse(" AUTO ").unwrap(), MinSim::Auto);
        assert_eq!(MinSim::parse("0.58").unwrap(), MinSim::Fixed(0.58));
        assert_eq!(MinSim::parse("-0.2").unwrap(), MinSim::Fixed(-0.2));
        assert_eq!(MinSim::parse("1.5").unwrap(), MinSim::Fixed(1.5), "the range is checked later");
        for bad in ["x", "", "0.5.1"] {
            let e = MinSim::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid --min-sim"), "{bad}: {e}");
        }
        assert_eq!(MinSim::Auto.to_string(), "auto");
        assert_eq!(MinSim::Fixed(0.95).to_string(), "0.95");
    }

    #[test]
    fn seed_preset_is_the_library_default() {
        let mut config = RunConfig { knn: crate::knn::KnnConfig { k: 7, ..Default::default() }, ..Default::default() };
        Preset::Seed.apply(&mut config);
        assert_eq!(config, RunConfig::default());
        Preset::Best.apply(&mut config);
        assert_eq!(config.min_sim, MinSim::Auto);
        assert_eq!(Strategy::default().label(), "threshold/sim/directed/own");
    }
}
