//! Named presets of the harder synthetic families.

use std::fmt;
use std::str::FromStr;

use super::SynthConfig;

/// A named family of synthetic data: the base model ([`SynthConfig::default`]) with some
/// knobs set, for robustness tests where real data is lacking. Knobs given beside a family
/// override its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// A few identities of hundreds to thousands of rows, in sessions, then a long tail: 10
    /// head identities of 300-3000 rows, tail mean 30 (sigma 1.0), sessions of 20 (session
    /// noise 0.5), image noise 0.45.
    Head,
    /// The base model with sessions of 20 (image noise 0.45) and 30 % of rows near-duplicates
    /// in bursts of mean 8 (noise up to 0.2).
    Dups,
    /// 10 % junk rows, half of them around one shared junk centre.
    Junk,
    /// The base model on dlib's compressed scale: 128-d, 10,000 rows, `common_sim` 0.85 ± 0.03.
    Dlib,
    /// A personal album on dlib's scale: 128-d, exactly 24 people of 22-936 photos, sessions
    /// of 25, 25 % near-duplicates (bursts of 6, noise up to 0.25), 1 % junk, 0.5 %
    /// mislabelled, `common_sim` 0.85 ± 0.03.
    Album,
    /// The head family with long, spread-out sessions (60 images, session noise 0.6):
    /// identities that are chains of distinct sub-clusters.
    Sessions,
    /// Everything at once on the ArcFace-style scale: 8 head identities of 300-2500, tail mean
    /// 25 (sigma 1.1), sessions of 20, 20 % near-duplicates (bursts of 6), 5 % junk, half of
    /// it clustered.
    Mixed,
}

impl Family {
    /// Every family, in the order of the documentation.
    pub const ALL: [Family; 7] =
        [Family::Head, Family::Dups, Family::Junk, Family::Dlib, Family::Album, Family::Sessions, Family::Mixed];

    /// The family's name, as `--family` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Head => "head",
            Family::Dups => "dups",
            Family::Junk => "junk",
            Family::Dlib => "dlib",
            Family::Album => "album",
            Family::Sessions => "sessions",
            Family::Mixed => "mixed",
        }
    }

    /// [`SynthConfig::default`] with the family's knobs.
    pub fn config(self) -> SynthConfig {
        let base = SynthConfig::default();
        // Sessions of 20 with tighter images, shared by several families.
        let sessions =
            SynthConfig { session_mean_size: 20.0, session_noise: 0.5, noise: 0.45, ..SynthConfig::default() };
        match self {
            Family::Head => SynthConfig {
                head_identities: 10,
                head_min_size: 300,
                head_max_size: 3000,
                mean_identity_size: 30.0,
                identity_size_sigma: 1.0,
                ..sessions
            },
            Family::Dups => SynthConfig { dup_fraction: 0.3, dup_burst_mean: 8.0, dup_noise_max: 0.2, ..sessions },
            Family::Junk => SynthConfig { junk_fraction: 0.10, junk_clustered: 0.5, ..base },
            Family::Dlib => SynthConfig { n: 10_000, dim: 128, common_sim: 0.85, common_sim_spread: 0.03, ..base },
            Family::Album => SynthConfig {
                dim: 128,
                identities_total: 24,
                head_min_size: 22,
                head_max_size: 936,
                session_mean_size: 25.0,
                dup_fraction: 0.25,
                dup_burst_mean: 6.0,
                dup_noise_max: 0.25,
                junk_fraction: 0.01,
                mislabel_fraction: 0.005,
                common_sim: 0.85,
                common_sim_spread: 0.03,
                ..sessions
            },
            Family::Sessions => SynthConfig { session_mean_size: 60.0, session_noise: 0.6, ..Family::Head.config() },
            Family::Mixed => SynthConfig {
                head_identities: 8,
                head_min_size: 300,
                head_max_size: 2500,
                mean_identity_size: 25.0,
                identity_size_sigma: 1.1,
                dup_fraction: 0.2,
                dup_burst_mean: 6.0,
                dup_noise_max: 0.2,
                junk_fraction: 0.05,
                junk_clustered: 0.5,
                ..sessions
            },
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown family name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFamily(pub String);

impl fmt::Display for UnknownFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Family::ALL.iter().map(|f| f.name()).collect();
        write!(f, "unknown family {:?}; one of {}", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownFamily {}

impl FromStr for Family {
    type Err = UnknownFamily;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Family::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| UnknownFamily(s.to_owned()))
    }
}
