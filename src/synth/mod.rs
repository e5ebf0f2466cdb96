//! Synthetic face-like embeddings with identity labels, for tests, benchmarks and tuning.
//!
//! Real face-clustering benchmarks (MS-Celeb-1M `part1_test`: 584K ArcFace-style 256-d
//! embeddings of 8,573 people) cannot be shipped, and small real sets (`data/`) are too small to
//! time anything. [`generate`] draws a data set of any size with the properties that make face
//! clustering hard, from a seed, in a few seconds per million rows.
//!
//! # The model
//!
//! Every vector is a unit vector in `dim` dimensions; inner product is cosine similarity.
//!
//! 1. **Identity sizes** follow a discretised lognormal law: `max(1, round(exp(mu + sigma z)))`
//!    with `z` standard normal, `sigma` = [`SynthConfig::identity_size_sigma`] and `mu` chosen
//!    so that the mean is [`SynthConfig::mean_identity_size`] (68, as in `part1_test`). Sizes are
//!    drawn until they cover [`SynthConfig::n`] rows; the last identity is cut to fit.
//! 2. **Identity centres** mix a shared and an own direction: every identity belongs to one of
//!    [`SynthConfig::groups`] attribute groups (sex, age band, ethnicity), drawn uniformly, and
//!    its centre is `normalize(sqrt(group_sim) a + sqrt(1 - group_sim) e)`, with `a` its
//!    group's random unit vector, `e` its own and `group_sim` = [`SynthConfig::group_sim`]. Two
//!    centres of one group meet at cosine about `group_sim`, of different groups at about
//!    `0 ± 1/sqrt(dim)` (random directions in high dimension are nearly orthogonal).
//! 3. **Look-alikes**: each identity but the first is, with probability
//!    [`SynthConfig::lookalike_fraction`], moved near the centre of an earlier identity picked
//!    at random, at a cosine drawn uniformly from [`SynthConfig::lookalike_min_sim`] to
//!    [`SynthConfig::lookalike_max_sim`] (relatives, or people the model confuses). Chains
//!    (a look-alike of a look-alike) happen, as in families.
//! 4. **Images**: an image of an identity with centre `c` is `normalize(c + s g / sqrt(dim))`,
//!    with `g` standard normal in `dim` dimensions. Its cosine with `c` is close to
//!    `1 / sqrt(1 + s²)`, and two images with noise `s1`, `s2` meet at about
//!    `1 / sqrt((1 + s1²)(1 + s2²))` times the cosine of their centres. The **quality** of an
//!    image is its noise scale `s`, drawn per image as `noise * exp(quality_sigma z)`
//!    ([`SynthConfig::noise`], [`SynthConfig::quality_sigma`]): most images are typical, a tail
//!    is blurred, occluded or in profile and sits far from everything.
//! 5. **Label noise**: a fraction [`SynthConfig::junk_fraction`] of rows are *junk* (a random
//!    unit vector: a failed detection, a non-face) that keep their identity's label, and a
//!    fraction [`SynthConfig::mislabel_fraction`] are *mislabelled*: an image of another
//!    identity, drawn at random, carrying this identity's label.
//!
//! With the defaults (256-d), two images of one identity have cosine about 0.72 (5th to 95th
//! percentile 0.55 to 0.84, label noise aside), two images of different identities 0 on
//! average but about 0.2 within a group (up to 0.45 for the closest of thousands) and 0.35 to
//! 0.55 for look-alikes: the picture of ArcFace-style 256-d embeddings, where the
//! face-cluster-by-infomap threshold `min_sim` 0.58 works. On 20,000 rows (seed 1),
//! `face-cluster --k 50 --min-sim 0.58` scores pairwise F 0.95 (P 0.97, R 0.93), and a sweep
//! finds the best threshold at 0.56 (on 100,000 rows: F 0.9545 at 0.58, best 0.9550 at 0.52);
//! the seed's figure on MS-Celeb-1M `part1_test` is 0.94.
//!
//! # The harder families
//!
//! Real face sets are harder than this in ways the base model leaves out (issue 17): a few
//! people with hundreds or thousands of photos, photos taken in sessions, the same photo saved
//! several times, junk that is not random, and models whose similarities all sit near 0.9.
//! Five additions model them; each is off at its default and then draws nothing, so the base
//! model's output is byte for byte what it was before they existed. [`Family`] names the
//! presets (`face-cluster synth --family NAME`) that the research prototype measured.
//!
//! 1. **Heavy head** ([`SynthConfig::head_identities`] H, [`SynthConfig::head_min_size`],
//!    [`SynthConfig::head_max_size`]): the first H identities get sizes drawn log-uniformly in
//!    `[head_min_size, head_max_size]` (celebrities, an album's owner, a video's subject), each
//!    cut to the rows left; the remaining rows get the lognormal sizes. With
//!    [`SynthConfig::identities_total`] set there is no lognormal tail: exactly that many
//!    identities, all log-uniform in that range, and the rows are their sum (a personal
//!    album; `n` is ignored).
//! 2. **Sessions** ([`SynthConfig::session_mean_size`] S, [`SynthConfig::session_noise`]
//!    `σs`): an identity's images come in sessions (an event, a video, a shoot) of geometric
//!    size with mean S, the last cut to fit. A session's centre is
//!    `normalize(c + σs g / sqrt(dim))` around the identity centre `c`, and its images are
//!    drawn around it as above. Two images of one session meet at about `1 / (1 + s²)`, of two
//!    sessions at about `1 / ((1 + s²)(1 + σs²))`: a large identity becomes a chain of tight
//!    groups, which a small k fails to connect. A mislabelled row is an image from a new
//!    session of its source identity.
//! 3. **Near-duplicate bursts** ([`SynthConfig::dup_fraction`],
//!    [`SynthConfig::dup_burst_mean`], [`SynthConfig::dup_noise_max`]): the last
//!    `floor(dup_fraction × size)` rows of each identity of two rows or more are re-encodings
//!    of its other rows (the *originals*), in bursts of geometric size with mean
//!    `dup_burst_mean`, each copying one original chosen uniformly (an image, junk or a
//!    mislabelled row alike). A copy is `normalize(x + d g / sqrt(dim))` with `d` uniform in
//!    `[0, dup_noise_max]`: cosine about `1 / sqrt(1 + d²)` to its original, at least 0.98
//!    for 0.2. [`Synth::copy_of`] names the original.
//! 4. **Clustered junk** ([`SynthConfig::junk_clustered`], [`SynthConfig::junk_noise`]): that
//!    share of the junk rows are drawn around one shared junk centre `j`, as
//!    `normalize(j + junk_noise g / sqrt(dim))`, instead of uniformly (failed detections and
//!    non-faces that a model maps near one direction); two of them meet at about
//!    `1 / (1 + junk_noise²)`, 0.34 for the default 1.4.
//! 5. **Compressed similarity scale** ([`SynthConfig::common_sim`] ρ,
//!    [`SynthConfig::common_sim_spread`]): dlib's descriptors put every pair of faces at
//!    cosine 0.8-0.9 and pairs of one person at 0.92-0.99. Every final row `x`, made orthogonal
//!    to one shared unit vector `m`, becomes `sqrt(ρi) m + sqrt(1 - ρi) x`, with `ρi` drawn
//!    per row uniformly in `ρ ± spread` (cut to [0, 1]). Two rows meet at
//!    `sqrt(ρi ρj) + sqrt((1 - ρi)(1 - ρj)) cos(xi, xj)`: without a spread the increasing
//!    affine map `ρ + (1 - ρ) cos` (ranks unchanged, thresholds moved: 0 goes to ρ, 0.72 to
//!    `ρ + 0.72 (1 - ρ)`); with one, rows with a large `ρi` (low-quality faces pulled toward
//!    the "mean face") are a little closer to everything, as dlib's are.
//!
//! The additions are a port of the research prototype (`bench/quality/synth_families.py` of
//! issue 17), equal in distribution, not in bits: that one draws from numpy's PCG64.
//! `docs/synth.md` compares the two family by family.
//!
//! # Layout and determinism
//!
//! Rows are grouped by identity, identities in order (labels `0, 0, ..., 1, 1, ...`), like the
//! learn-to-cluster files; within an identity, near-duplicates come after the originals. Every
//! random stream is derived from [`SynthConfig::seed`] with [`Rng::derive`]: one stream for
//! the sizes (one more for the head), one per identity for its centre, its sessions and its
//! near-duplicates, one per block of [`ROWS_PER_BLOCK`] rows for the images and one per block
//! for the compression. Blocks (and, for near-duplicates, identities) are generated in
//! parallel straight into the output matrix, and the result depends on the seed and the
//! parameters only, never on the number of threads.

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use crate::config::not_a_similarity;
use crate::error::{Error, Param, Result};
use crate::rng::Rng;

/// Rows generated from one random stream; the unit of parallel work. Fixed, so that the output
/// does not depend on the number of threads.
pub const ROWS_PER_BLOCK: usize = 1024;

/// [`Synth::sources`] of a junk row (a random vector, an image of no identity).
pub const JUNK: u32 = u32::MAX;

/// Parameters of the generator. See the [module documentation](self) for the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthConfig {
    /// Rows (images). Default 100000.
    pub n: usize,
    /// Embedding dimension. At least 2. Default 256.
    pub dim: usize,
    /// Seed of every random stream. Default 123.
    pub seed: u64,
    /// Mean images per identity (before the last identity is cut to fit `n`). At least 1.
    /// Default 68, as in MS-Celeb-1M `part1_test`.
    pub mean_identity_size: f64,
    /// Shape of the lognormal identity-size law: the standard deviation of `ln(size)`. 0 gives
    /// every identity the mean size. Default 0.8 (median about 0.73 × the mean, a long tail of
    /// identities several times the mean).
    pub identity_size_sigma: f64,
    /// Median noise scale `s` of an image around its identity's centre: cosine with the centre
    /// about `1 / sqrt(1 + s²)`. Default 0.6.
    pub noise: f64,
    /// Spread of image quality: the standard deviation of `ln(s)`. Default 0.3.
    pub quality_sigma: f64,
    /// Attribute groups: every identity belongs to one, drawn uniformly. Identities of a group
    /// share part of their centre, as people of one sex, age band and ethnicity share part of
    /// their embeddings. At least 1. Default 32.
    pub groups: usize,
    /// Cosine between the centres of two identities of one group (the shared part). In
    /// [0, 1); 0 makes centres independent. Default 0.3.
    pub group_sim: f64,
    /// Share of identities placed near an earlier identity. In [0, 1]. Default 0.1.
    pub lookalike_fraction: f64,
    /// Smallest cosine between a look-alike's centre and its model's. Default 0.5.
    pub lookalike_min_sim: f64,
    /// Largest cosine between a look-alike's centre and its model's. Default 0.75.
    pub lookalike_max_sim: f64,
    /// Share of rows that are random unit vectors keeping their identity's label. In [0, 1].
    /// Default 0.01.
    pub junk_fraction: f64,
    /// Share of rows that are images of another identity carrying this identity's label. In
    /// [0, 1], and `junk_fraction + mislabel_fraction <= 1`. Default 0.02.
    pub mislabel_fraction: f64,
    /// Heavy head: the first `head_identities` identities get sizes drawn log-uniformly in
    /// [`head_min_size`](Self::head_min_size), [`head_max_size`](Self::head_max_size), each cut
    /// to the rows left; the rest of the rows get the lognormal sizes. Default 0 (no head).
    pub head_identities: usize,
    /// Smallest size of a head identity (and of every identity with
    /// [`identities_total`](Self::identities_total)). At least 1. Default 300.
    pub head_min_size: usize,
    /// Largest size of a head identity. At least `head_min_size`. Default 2000.
    pub head_max_size: usize,
    /// A closed album: when not 0, exactly this many identities, all of log-uniform size in
    /// [`head_min_size`](Self::head_min_size), [`head_max_size`](Self::head_max_size), and
    /// [`n`](Self::n) is ignored (the rows are their sum). Default 0 (off).
    pub identities_total: usize,
    /// Photo sessions: when not 0, an identity's images come in sessions of geometric size
    /// with this mean, each around its own centre. 0 or at least 1. Default 0 (off).
    pub session_mean_size: f64,
    /// Spread of a session's centre around its identity's centre, as `noise` is for an image:
    /// images of one session meet at about `1 / (1 + noise²)`, of two sessions at about
    /// `1 / ((1 + noise²)(1 + session_noise²))`. Default 0.5.
    pub session_noise: f64,
    /// Share of each identity's rows (rounded down; none for an identity of one row) that are
    /// near-duplicates of its other rows, in bursts. In [0, 1). Default 0 (off).
    pub dup_fraction: f64,
    /// Mean size of a burst of near-duplicates of one image (geometric). At least 1. Default 5.
    pub dup_burst_mean: f64,
    /// Largest noise of a near-duplicate around its original, drawn uniformly from 0 to this:
    /// cosine to the original about `1 / sqrt(1 + d²)`, at least 0.98 for 0.2. Default 0.2.
    pub dup_noise_max: f64,
    /// Share of the junk rows drawn around one shared junk centre instead of uniformly
    /// (non-faces that a model maps near one direction). In [0, 1]. Default 0.
    pub junk_clustered: f64,
    /// Noise of clustered junk around the junk centre: two such rows meet at about
    /// `1 / (1 + junk_noise²)`. Default 1.4 (0.34).
    pub junk_noise: f64,
    /// dlib-like compressed similarity scale: every row is pulled toward one shared direction
    /// so that cosine `c` becomes about `common_sim + (1 - common_sim) c`. In [0, 1). Default 0
    /// (off).
    pub common_sim: f64,
    /// Per-row spread of [`common_sim`](Self::common_sim): each row's is drawn uniformly within
    /// `common_sim ± common_sim_spread` (cut to [0, 1]). At least 0. Default 0.
    pub common_sim_spread: f64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            n: 100_000,
            dim: 256,
            seed: 123,
            mean_identity_size: 68.0,
            identity_size_sigma: 0.8,
            noise: 0.6,
            quality_sigma: 0.3,
            groups: 32,
            group_sim: 0.3,
            lookalike_fraction: 0.1,
            lookalike_min_sim: 0.5,
            lookalike_max_sim: 0.75,
            junk_fraction: 0.01,
            mislabel_fraction: 0.02,
            head_identities: 0,
            head_min_size: 300,
            head_max_size: 2000,
            identities_total: 0,
            session_mean_size: 0.0,
            session_noise: 0.5,
            dup_fraction: 0.0,
            dup_burst_mean: 5.0,
            dup_noise_max: 0.2,
            junk_clustered: 0.0,
            junk_noise: 1.4,
            common_sim: 0.0,
            common_sim_spread: 0.0,
        }
    }
}

impl SynthConfig {
    /// Checks every parameter.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the `face-cluster synth` option of the first parameter
    /// out of range.
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(Error::invalid(Param::Rows, "must be at least 1"));
        }
        if self.head_min_size == 0 {
            return Err(Error::invalid(Param::HeadMinSize, "must be at least 1"));
        }
        if self.head_max_size < self.head_min_size {
            return Err(Error::invalid(
                Param::HeadMaxSize,
                format!("{} is below --head-min-size {}", self.head_max_size, self.head_min_size),
            ));
        }
        // The most rows there can be: n, or every identity of an album at its largest size.
        let (rows_param, max_rows) = if self.identities_total > 0 {
            (Param::IdentitiesTotal, self.identities_total.saturating_mul(self.head_max_size))
        } else {
            (Param::Rows, self.n)
        };
        if max_rows > u32::MAX as usize {
            return Err(Error::invalid(rows_param, format!("{max_rows} is more than {} rows", u32::MAX)));
        }
        if self.dim < 2 {
            return Err(Error::invalid(Param::Dim, "must be at least 2"));
        }
        if max_rows.checked_mul(self.dim).and_then(|v| v.checked_mul(4)).is_none() {
            return Err(Error::invalid(rows_param, format!("{max_rows} x {} values do not fit in memory", self.dim)));
        }
        let finite_at_least = |name: Param, value: f64, min: f64| {
            if value.is_finite() && value >= min {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("{value} must be a number at least {min}")))
            }
        };
        finite_at_least(Param::MeanIdentitySize, self.mean_identity_size, 1.0)?;
        finite_at_least(Param::IdentitySizeSigma, self.identity_size_sigma, 0.0)?;
        finite_at_least(Param::Noise, self.noise, 0.0)?;
        finite_at_least(Param::QualitySigma, self.quality_sigma, 0.0)?;
        if self.groups == 0 {
            return Err(Error::invalid(Param::Groups, "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.group_sim) {
            return Err(Error::invalid(Param::GroupSim, format!("{} is not in [0, 1)", self.group_sim)));
        }
        let share = |name: Param, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("{value} is not a share in [0, 1]")))
            }
        };
        share(Param::LookalikeFraction, self.lookalike_fraction)?;
        share(Param::JunkFraction, self.junk_fraction)?;
        share(Param::MislabelFraction, self.mislabel_fraction)?;
        if self.junk_fraction + self.mislabel_fraction > 1.0 {
            return Err(Error::invalid(
                Param::MislabelFraction,
                "junk and mislabelled rows add up to more than all rows",
            ));
        }
        for (param, value) in
            [(Param::LookalikeMinSim, self.lookalike_min_sim), (Param::LookalikeMaxSim, self.lookalike_max_sim)]
        {
            if !(-1.0..=1.0).contains(&value) {
                return Err(not_a_similarity(param, value));
            }
        }
        if self.lookalike_min_sim > self.lookalike_max_sim {
            return Err(Error::invalid(
                Param::LookalikeMaxSim,
                format!("{} is below --lookalike-min-sim {}", self.lookalike_max_sim, self.lookalike_min_sim),
            ));
        }
        if self.session_mean_size != 0.0 {
            finite_at_least(Param::SessionMeanSize, self.session_mean_size, 1.0)?;
        }
        finite_at_least(Param::SessionNoise, self.session_noise, 0.0)?;
        if !(0.0..1.0).contains(&self.dup_fraction) {
            return Err(Error::invalid(Param::DupFraction, format!("{} is not in [0, 1)", self.dup_fraction)));
        }
        finite_at_least(Param::DupBurstMean, self.dup_burst_mean, 1.0)?;
        finite_at_least(Param::DupNoiseMax, self.dup_noise_max, 0.0)?;
        share(Param::JunkClustered, self.junk_clustered)?;
        finite_at_least(Param::JunkNoise, self.junk_noise, 0.0)?;
        if !(0.0..1.0).contains(&self.common_sim) {
            return Err(Error::invalid(Param::CommonSim, format!("{} is not in [0, 1)", self.common_sim)));
        }
        finite_at_least(Param::CommonSimSpread, self.common_sim_spread, 0.0)?;
        Ok(())
    }
}

/// A generated data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Synth {
    /// `n x dim` unit rows, row-major, grouped by label.
    pub features: Array2<f32>,
    /// The identity label of every row: `0..identities`, non-decreasing.
    pub labels: Vec<u32>,
    /// Rows per identity, in label order.
    pub identity_sizes: Vec<u32>,
    /// The identity each row is an image of: its label, another identity for a mislabelled
    /// row, [`JUNK`] for a junk row. Clustering by this is the best any method can do on the
    /// features; scoring it against `labels` gives the ceiling of the scores.
    pub sources: Vec<u32>,
    /// The row each row is a near-duplicate of ([`SynthConfig::dup_fraction`]), or its own
    /// index for an original row. A near-duplicate has its original's source.
    pub copy_of: Vec<u32>,
    /// What was drawn.
    pub stats: SynthStats,
}

/// What a row of [`Synth`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RowKind {
    /// An image of its source identity (its label's, unless mislabelled).
    Image = 0,
    /// A near-duplicate of another row ([`Synth::copy_of`]), whatever that row is.
    NearDuplicate = 1,
    /// A junk row: a random vector, or one near the junk centre.
    Junk = 2,
    /// An image of another identity than its label's.
    Mislabelled = 3,
}

impl Synth {
    /// The kind of every row.
    pub fn kinds(&self) -> Vec<RowKind> {
        (0..self.labels.len())
            .map(|i| {
                if self.copy_of[i] as usize != i {
                    RowKind::NearDuplicate
                } else if self.sources[i] == JUNK {
                    RowKind::Junk
                } else if self.sources[i] != self.labels[i] {
                    RowKind::Mislabelled
                } else {
                    RowKind::Image
                }
            })
            .collect()
    }
}

/// Counts of what [`generate`] drew.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthStats {
    /// Rows.
    pub n: usize,
    /// Dimension.
    pub dim: usize,
    /// Identities (distinct labels).
    pub identities: usize,
    /// Smallest identity, in rows.
    pub min_identity_size: usize,
    /// Median identity size (the lower middle one for an even count).
    pub median_identity_size: usize,
    /// Mean identity size, `n / identities`.
    pub mean_identity_size: f64,
    /// Largest identity.
    pub max_identity_size: usize,
    /// Identities placed near an earlier identity.
    pub lookalike_identities: usize,
    /// Rows that are random vectors.
    pub junk_rows: usize,
    /// Rows that are images of another identity.
    pub mislabelled_rows: usize,
    /// Photo sessions drawn (0 without [`SynthConfig::session_mean_size`]).
    pub sessions: usize,
    /// Rows that are near-duplicates of another row.
    pub near_duplicate_rows: usize,
    /// Junk rows drawn around the shared junk centre (counted in `junk_rows` too).
    pub clustered_junk_rows: usize,
}

/// Sub-stream tags, so that the streams of different stages never coincide.
const SIZES_STREAM: u64 = 1;
const CENTRES_STREAM: u64 = 2;
const ROWS_STREAM: u64 = 3;
const GROUPS_STREAM: u64 = 4;
const HEAD_STREAM: u64 = 5;
const SESSIONS_STREAM: u64 = 6;
const DUPS_STREAM: u64 = 7;
const JUNK_CENTRE_STREAM: u64 = 8;
const COMPRESS_STREAM: u64 = 9;

/// The seed of one stage's family of streams.
fn stream_seed(seed: u64, stage: u64) -> u64 {
    Rng::derive(seed, stage).next_u64()
}

/// Draws a data set; see the [module documentation](self) for the model.
///
/// # Errors
///
/// [`Error::InvalidParameter`] from [`SynthConfig::validate`].
///
/// # Complexity
///
/// `O(n dim)` time, in parallel over blocks of [`ROWS_PER_BLOCK`] rows (near-duplicates: over
/// identities); memory: the output (`4 n dim` bytes), the identity centres (`4 dim n /
/// mean_identity_size` bytes) and, with sessions, their centres (`4 dim n / session_mean_size`).
///
/// # Example
///
/// ```
/// use face_cluster::synth::{generate, SynthConfig};
///
/// let synth = generate(&SynthConfig { n: 500, dim: 32, ..SynthConfig::default() })?;
/// assert_eq!(synth.features.dim(), (500, 32));
/// assert_eq!(synth.labels.len(), 500);
/// assert_eq!(synth.stats.identities, synth.identity_sizes.len());
/// # Ok::<(), face_cluster::Error>(())
/// ```
pub fn generate(config: &SynthConfig) -> Result<Synth> {
    config.validate()?;
    let dim = config.dim;
    let identity_sizes = identity_sizes(config);
    let n: usize = identity_sizes.iter().map(|&s| s as usize).sum();
    let labels: Vec<u32> = identity_sizes
        .iter()
        .enumerate()
        .flat_map(|(id, &size)| std::iter::repeat_n(id as u32, size as usize))
        .collect();
    let (centres, lookalike_identities) = centres(config, identity_sizes.len());
    let layout = harder::Layout::new(config, &identity_sizes);
    let sessions = harder::sessions(config, &centres, &layout);
    let junk_centre = (config.junk_clustered > 0.0).then(|| harder::junk_centre(config));
    let scene = Scene {
        config,
        centres: &centres,
        layout: &layout,
        sessions: sessions.as_ref(),
        junk_centre: junk_centre.as_deref(),
    };

    let rows_seed = stream_seed(config.seed, ROWS_STREAM);
    let mut data = vec![0f32; n * dim];
    let mut sources = vec![0u32; n];
    let counts = data
        .par_chunks_mut(ROWS_PER_BLOCK * dim)
        .zip(labels.par_chunks(ROWS_PER_BLOCK))
        .zip(sources.par_chunks_mut(ROWS_PER_BLOCK))
        .enumerate()
        .map(|(block, ((out, block_labels), block_sources))| {
            let mut rng = Rng::derive(rows_seed, block as u64);
            draw_rows(&scene, block * ROWS_PER_BLOCK, block_labels, out, block_sources, &mut rng)
        })
        .reduce(RowCounts::default, RowCounts::add);
    let mut copy_of: Vec<u32> = (0..n as u32).collect(); // n <= u32::MAX
    let near_duplicate_rows = harder::near_duplicates(config, &layout, &mut data, &mut sources, &mut copy_of);
    harder::compress(config, &mut data);

    let mut sorted = identity_sizes.clone();
    sorted.sort_unstable();
    let stats = SynthStats {
        n,
        dim,
        identities: identity_sizes.len(),
        min_identity_size: sorted[0] as usize,
        median_identity_size: sorted[(sorted.len() - 1) / 2] as usize,
        mean_identity_size: n as f64 / identity_sizes.len() as f64,
        max_identity_size: sorted[sorted.len() - 1] as usize,
        lookalike_identities,
        junk_rows: counts.junk,
        mislabelled_rows: counts.mislabelled,
        sessions: sessions.as_ref().map_or(0, harder::Sessions::count),
        near_duplicate_rows,
        clustered_junk_rows: counts.clustered_junk,
    };
    let features = Array2::from_shape_vec((n, dim), data).expect("n * dim values were allocated");
    Ok(Synth { features, labels, identity_sizes, sources, copy_of, stats })
}

/// Identity sizes: the head (log-uniform), then discretised lognormal sizes with the configured
/// mean, the last cut to fill `n`; or, for a closed album, `identities_total` log-uniform sizes.
fn identity_sizes(config: &SynthConfig) -> Vec<u32> {
    let mut head = Rng::derive(stream_seed(config.seed, HEAD_STREAM), 0);
    let (lo, hi) = ((config.head_min_size as f64).ln(), (config.head_max_size as f64).ln());
    let mut log_uniform = || {
        let size = (lo + (hi - lo) * head.unit_f64()).exp().round() as usize;
        size.clamp(config.head_min_size, config.head_max_size)
    };
    if config.identities_total > 0 {
        // validate() checked that identities_total x head_max_size fits in u32.
        return (0..config.identities_total).map(|_| log_uniform() as u32).collect();
    }
    let mut sizes = Vec::with_capacity(config.n / config.mean_identity_size as usize + 1);
    let mut left = config.n;
    for _ in 0..config.head_identities {
        let size = log_uniform().min(left);
        if size > 0 {
            sizes.push(size as u32);
            left -= size;
        }
    }
    let sigma = config.identity_size_sigma;
    let mu = config.mean_identity_size.ln() - sigma * sigma / 2.0;
    let mut rng = Rng::derive(stream_seed(config.seed, SIZES_STREAM), 0);
    while left > 0 {
        // `as` saturates: a huge draw is simply cut to what is left.
        let size = ((mu + sigma * rng.normal()).exp().round() as usize).clamp(1, left);
        sizes.push(size as u32); // n <= u32::MAX
        left -= size;
    }
    sizes
}

/// Identity centres (`identities x dim`, row-major) and the number of look-alikes.
fn centres(config: &SynthConfig, identities: usize) -> (Vec<f32>, usize) {
    let dim = config.dim;
    let group_seed = stream_seed(config.seed, GROUPS_STREAM);
    let mut groups = vec![0f32; config.groups * dim];
    groups.par_chunks_mut(dim).enumerate().for_each(|(g, centre)| {
        fill_normal(&mut Rng::derive(group_seed, g as u64), centre);
        normalize(centre);
    });
    let seed = stream_seed(config.seed, CENTRES_STREAM);
    let mut centres = vec![0f32; identities * dim];
    // Each identity's own draws, in parallel: its group, its own direction, and, for a
    // look-alike, its model (an earlier identity) and the cosine to it. The centre is
    // sqrt(group_sim) * group + sqrt(1 - group_sim) * own, so two centres of one group meet at
    // cosine group_sim (plus the 0 ± 1/sqrt(dim) of the own parts).
    let (shared, own) = (config.group_sim.sqrt() as f32, (1.0 - config.group_sim).sqrt() as f32);
    let lookalikes: Vec<Option<(usize, f64)>> = centres
        .par_chunks_mut(dim)
        .enumerate()
        .map(|(id, centre)| {
            let mut rng = Rng::derive(seed, id as u64);
            fill_normal(&mut rng, centre);
            normalize(centre);
            let g = rng.below(config.groups as u64) as usize;
            let group = &groups[g * dim..(g + 1) * dim];
            centre.iter_mut().zip(group).for_each(|(x, &a)| *x = shared * a + own * *x);
            normalize(centre);
            (id > 0 && rng.unit_f64() < config.lookalike_fraction).then(|| {
                let model = rng.below(id as u64) as usize;
                let sim =
                    config.lookalike_min_sim + (config.lookalike_max_sim - config.lookalike_min_sim) * rng.unit_f64();
                (model, sim)
            })
        })
        .collect();
    // In identity order, so that a model's final centre is known before its look-alikes use it:
    // centre = sim * model + sqrt(1 - sim²) * (own direction made orthogonal to the model).
    let mut count = 0;
    for (id, lookalike) in lookalikes.iter().enumerate() {
        let Some((model, sim)) = *lookalike else { continue };
        count += 1;
        let (before, rest) = centres.split_at_mut(id * dim);
        let model = &before[model * dim..(model + 1) * dim];
        let centre = &mut rest[..dim];
        let along = dot(centre, model);
        centre.iter_mut().zip(model).for_each(|(x, &m)| *x -= along * m);
        normalize(centre);
        let (a, b) = (sim as f32, (1.0 - sim * sim).max(0.0).sqrt() as f32);
        centre.iter_mut().zip(model).for_each(|(x, &m)| *x = a * m + b * *x);
        normalize(centre);
    }
    (centres, count)
}

/// What the rows of every block are drawn from.
struct Scene<'a> {
    config: &'a SynthConfig,
    /// Identity centres, `identities x dim`.
    centres: &'a [f32],
    /// Where each identity's rows, originals and near-duplicates lie.
    layout: &'a harder::Layout,
    /// Session centres, when there are sessions.
    sessions: Option<&'a harder::Sessions>,
    /// The centre of clustered junk, when there is some.
    junk_centre: Option<&'a [f32]>,
}

/// Kinds of rows drawn by [`draw_rows`].
#[derive(Debug, Default, Clone, Copy)]
struct RowCounts {
    junk: usize,
    clustered_junk: usize,
    mislabelled: usize,
}

impl RowCounts {
    fn add(self, other: Self) -> Self {
        RowCounts {
            junk: self.junk + other.junk,
            clustered_junk: self.clustered_junk + other.clustered_junk,
            mislabelled: self.mislabelled + other.mislabelled,
        }
    }
}

/// Draws the original rows of one block, which starts at row `first`, into `out` and their
/// identities into `sources`; near-duplicate rows are left for [`harder::near_duplicates`].
///
/// Each draw a knob adds happens only when that knob is on, so that with the new knobs off the
/// stream, and the output, is the same as before they existed.
fn draw_rows(
    scene: &Scene<'_>,
    first: usize,
    labels: &[u32],
    out: &mut [f32],
    sources: &mut [u32],
    rng: &mut Rng,
) -> RowCounts {
    let config = scene.config;
    let dim = config.dim;
    let centres = scene.centres;
    let identities = centres.len() / dim;
    let inv_sqrt_dim = 1.0 / (dim as f64).sqrt();
    let mut counts = RowCounts::default();
    let mut session_centre = vec![0f32; dim];
    for (i, ((row, &label), row_source)) in out.chunks_exact_mut(dim).zip(labels).zip(sources).enumerate() {
        let index = first + i;
        if scene.layout.is_copy(index, label) {
            continue;
        }
        let kind = rng.unit_f64();
        fill_normal(rng, row);
        if kind < config.junk_fraction {
            counts.junk += 1;
            *row_source = JUNK;
            if let Some(junk_centre) = scene.junk_centre {
                if rng.unit_f64() < config.junk_clustered {
                    counts.clustered_junk += 1;
                    let scale = (config.junk_noise * inv_sqrt_dim) as f32;
                    row.iter_mut().zip(junk_centre).for_each(|(x, &c)| *x = c + scale * *x);
                }
            }
            normalize(row);
            continue;
        }
        let source = if kind < config.junk_fraction + config.mislabel_fraction && identities > 1 {
            counts.mislabelled += 1;
            // Any identity but the label's, uniformly.
            let other = rng.below(identities as u64 - 1) as u32;
            if other >= label {
                other + 1
            } else {
                other
            }
        } else {
            label
        };
        *row_source = source;
        let source = source as usize;
        let identity_centre = &centres[source * dim..(source + 1) * dim];
        let centre = match scene.sessions {
            None => identity_centre,
            Some(sessions) if source == label as usize => sessions.centre_of_row(index, dim),
            // A mislabelled row is an image from a session of the other identity: a new one.
            Some(_) => {
                harder::session_centre(config, identity_centre, rng, &mut session_centre);
                &session_centre
            }
        };
        let scale = (config.noise * (config.quality_sigma * rng.normal()).exp() * inv_sqrt_dim) as f32;
        row.iter_mut().zip(centre).for_each(|(x, &c)| *x = c + scale * *x);
        normalize(row);
    }
    counts
}

/// Fills `out` with independent standard normal deviates (Box-Muller, both of each pair used).
fn fill_normal(rng: &mut Rng, out: &mut [f32]) {
    let mut pairs = out.chunks_exact_mut(2);
    for pair in &mut pairs {
        let (a, b) = normal_pair(rng);
        pair[0] = a;
        pair[1] = b;
    }
    if let [last] = pairs.into_remainder() {
        *last = normal_pair(rng).0;
    }
}

/// Two independent standard normal deviates.
#[inline]
fn normal_pair(rng: &mut Rng) -> (f32, f32) {
    let radius = (-2.0 * (1.0 - rng.unit_f64()).ln()).sqrt(); // 1 - u is in (0, 1]
    let (sin, cos) = (std::f64::consts::TAU * rng.unit_f64()).sin_cos();
    ((radius * cos) as f32, (radius * sin) as f32)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Scales `v` to unit length. A zero vector (probability 0 for Gaussian draws) is left alone.
fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        let inv = (1.0 / norm) as f32;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

/// Quantiles of a sample of cosine similarities.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilarityQuantiles {
    /// Pairs sampled.
    pub pairs: usize,
    /// Mean.
    pub mean: f64,
    /// 1st percentile.
    pub p01: f64,
    /// 5th percentile.
    pub p05: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

impl SimilarityQuantiles {
    fn of(mut sims: Vec<f32>) -> Self {
        sims.sort_unstable_by(f32::total_cmp);
        let at = |q: f64| sims.get(((sims.len() as f64 - 1.0) * q).round() as usize).map_or(f64::NAN, |&s| s.into());
        let mean = sims.iter().map(|&s| f64::from(s)).sum::<f64>() / sims.len() as f64;
        SimilarityQuantiles {
            pairs: sims.len(),
            mean,
            p01: at(0.01),
            p05: at(0.05),
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
        }
    }
}

/// Cosine similarities of random pairs of rows with the same label and with different labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimilaritySummary {
    /// Pairs of distinct rows with the same label (junk and mislabelled rows included, as a
    /// clusterer sees them).
    pub same_label: SimilarityQuantiles,
    /// Pairs of rows with different labels.
    pub different_label: SimilarityQuantiles,
    /// Each near-duplicate row (up to 2000, evenly spaced) against the most similar other row
    /// of its label; `None` when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub near_duplicate_to_nearest: Option<SimilarityQuantiles>,
}

impl Synth {
    /// Samples `pairs` random same-label and `pairs` random different-label row pairs (fewer
    /// when the data has none: one identity, or only identities of one row) and summarises
    /// their cosine similarities. Deterministic for a `seed`.
    pub fn similarity_summary(&self, pairs: usize, seed: u64) -> SimilaritySummary {
        let n = self.labels.len();
        let mut offsets = Vec::with_capacity(self.identity_sizes.len() + 1);
        offsets.push(0usize);
        for &size in &self.identity_sizes {
            offsets.push(offsets[offsets.len() - 1] + size as usize);
        }
        let row = |i: usize| self.features.row(i);
        let sim = |i: usize, j: usize| row(i).dot(&row(j));
        let mut rng = Rng::derive(seed, 0);
        let mut same = Vec::with_capacity(pairs);
        let mut different = Vec::with_capacity(pairs);
        let has_pairs = self.identity_sizes.iter().any(|&s| s > 1);
        let several = self.identity_sizes.len() > 1;
        while (has_pairs && same.len() < pairs) || (several && different.len() < pairs) {
            let i = rng.below(n as u64) as usize;
            let id = self.labels[i] as usize;
            let (start, size) = (offsets[id], offsets[id + 1] - offsets[id]);
            if same.len() < pairs && size > 1 {
                let j = start + rng.below(size as u64 - 1) as usize;
                let j = if j >= i { j + 1 } else { j };
                same.push(sim(i, j));
            }
            if different.len() < pairs && several {
                let j = rng.below(n as u64) as usize;
                if self.labels[j] as usize != id {
                    different.push(sim(i, j));
                }
            }
        }
        SimilaritySummary {
            same_label: SimilarityQuantiles::of(same),
            different_label: SimilarityQuantiles::of(different),
            near_duplicate_to_nearest: self.near_duplicate_to_nearest(&offsets),
        }
    }

    /// Up to 2000 near-duplicate rows, evenly spaced, each against the most similar other row
    /// of its label (`offsets`: where each label's rows start).
    fn near_duplicate_to_nearest(&self, offsets: &[usize]) -> Option<SimilarityQuantiles> {
        let copies: Vec<usize> = (0..self.copy_of.len()).filter(|&i| self.copy_of[i] as usize != i).collect();
        if copies.is_empty() {
            return None;
        }
        let step = copies.len().div_ceil(2000);
        let nearest = copies
            .par_iter()
            .step_by(step)
            .map(|&i| {
                let id = self.labels[i] as usize;
                let row = self.features.row(i);
                (offsets[id]..offsets[id + 1])
                    .filter(|&j| j != i)
                    .map(|j| row.dot(&self.features.row(j)))
                    .fold(f32::MIN, f32::max)
            })
            .collect();
        Some(SimilarityQuantiles::of(nearest))
    }
}

mod family;
mod files;
mod harder;
#[cfg(test)]
mod tests;

pub use family::{Family, UnknownFamily};
pub use files::{write_synth, SynthFiles, SynthRun};
