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
//! # Layout and determinism
//!
//! Rows are grouped by identity, identities in order (labels `0, 0, ..., 1, 1, ...`), like the
//! learn-to-cluster files. Every random stream is derived from [`SynthConfig::seed`] with
//! [`Rng::derive`]: one stream for the sizes, one per identity for its centre, one per block of
//! [`ROWS_PER_BLOCK`] rows for the images. Blocks are generated in parallel straight into the
//! output matrix, and the result depends on the seed and the parameters only, never on the
//! number of threads.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::io::AtomicFile;
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
            return Err(Error::invalid("--n", "must be at least 1"));
        }
        if self.n > u32::MAX as usize {
            return Err(Error::invalid("--n", format!("{} is more than {} rows", self.n, u32::MAX)));
        }
        if self.dim < 2 {
            return Err(Error::invalid("--dim", "must be at least 2"));
        }
        if self.n.checked_mul(self.dim).and_then(|v| v.checked_mul(4)).is_none() {
            return Err(Error::invalid("--n", format!("{} x {} values do not fit in memory", self.n, self.dim)));
        }
        let finite_at_least = |name: &'static str, value: f64, min: f64| {
            if value.is_finite() && value >= min {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("{value} must be a number at least {min}")))
            }
        };
        finite_at_least("--mean-identity-size", self.mean_identity_size, 1.0)?;
        finite_at_least("--identity-size-sigma", self.identity_size_sigma, 0.0)?;
        finite_at_least("--noise", self.noise, 0.0)?;
        finite_at_least("--quality-sigma", self.quality_sigma, 0.0)?;
        if self.groups == 0 {
            return Err(Error::invalid("--groups", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.group_sim) {
            return Err(Error::invalid("--group-sim", format!("{} is not in [0, 1)", self.group_sim)));
        }
        let share = |name: &'static str, value: f64| {
            if (0.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("{value} is not a share in [0, 1]")))
            }
        };
        share("--lookalike-fraction", self.lookalike_fraction)?;
        share("--junk-fraction", self.junk_fraction)?;
        share("--mislabel-fraction", self.mislabel_fraction)?;
        if self.junk_fraction + self.mislabel_fraction > 1.0 {
            return Err(Error::invalid(
                "--mislabel-fraction",
                "junk and mislabelled rows add up to more than all rows",
            ));
        }
        let cosine = |name: &'static str, value: f64| {
            if (-1.0..=1.0).contains(&value) {
                Ok(())
            } else {
                Err(Error::invalid(name, format!("{value} is not a cosine similarity in [-1, 1]")))
            }
        };
        cosine("--lookalike-min-sim", self.lookalike_min_sim)?;
        cosine("--lookalike-max-sim", self.lookalike_max_sim)?;
        if self.lookalike_min_sim > self.lookalike_max_sim {
            return Err(Error::invalid(
                "--lookalike-max-sim",
                format!("{} is below --lookalike-min-sim {}", self.lookalike_max_sim, self.lookalike_min_sim),
            ));
        }
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
    /// What was drawn.
    pub stats: SynthStats,
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
}

/// Sub-stream tags, so that the streams of different stages never coincide.
const SIZES_STREAM: u64 = 1;
const CENTRES_STREAM: u64 = 2;
const ROWS_STREAM: u64 = 3;
const GROUPS_STREAM: u64 = 4;

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
/// `O(n dim)` time, in parallel over blocks of [`ROWS_PER_BLOCK`] rows; memory: the output
/// (`4 n dim` bytes) and the identity centres (`4 dim n / mean_identity_size` bytes).
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
    let (n, dim) = (config.n, config.dim);
    let identity_sizes = identity_sizes(config);
    let labels: Vec<u32> = identity_sizes
        .iter()
        .enumerate()
        .flat_map(|(id, &size)| std::iter::repeat_n(id as u32, size as usize))
        .collect();
    let (centres, lookalike_identities) = centres(config, identity_sizes.len());

    let rows_seed = stream_seed(config.seed, ROWS_STREAM);
    let mut data = vec![0f32; n * dim];
    let mut sources = vec![0u32; n];
    let (junk_rows, mislabelled_rows) = data
        .par_chunks_mut(ROWS_PER_BLOCK * dim)
        .zip(labels.par_chunks(ROWS_PER_BLOCK))
        .zip(sources.par_chunks_mut(ROWS_PER_BLOCK))
        .enumerate()
        .map(|(block, ((out, block_labels), block_sources))| {
            let mut rng = Rng::derive(rows_seed, block as u64);
            draw_rows(config, &centres, block_labels, out, block_sources, &mut rng)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));

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
        junk_rows,
        mislabelled_rows,
    };
    let features = Array2::from_shape_vec((n, dim), data).expect("n * dim values were allocated");
    Ok(Synth { features, labels, identity_sizes, sources, stats })
}

/// Identity sizes: discretised lognormal with the configured mean, the last cut to fill `n`.
fn identity_sizes(config: &SynthConfig) -> Vec<u32> {
    let sigma = config.identity_size_sigma;
    let mu = config.mean_identity_size.ln() - sigma * sigma / 2.0;
    let mut rng = Rng::derive(stream_seed(config.seed, SIZES_STREAM), 0);
    let mut sizes = Vec::with_capacity(config.n / config.mean_identity_size as usize + 1);
    let mut left = config.n;
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

/// Draws the rows of one block into `out` and their identities into `sources`; returns the
/// numbers of junk and mislabelled rows.
fn draw_rows(
    config: &SynthConfig,
    centres: &[f32],
    labels: &[u32],
    out: &mut [f32],
    sources: &mut [u32],
    rng: &mut Rng,
) -> (usize, usize) {
    let dim = config.dim;
    let identities = centres.len() / dim;
    let inv_sqrt_dim = 1.0 / (dim as f64).sqrt();
    let (mut junk, mut mislabelled) = (0, 0);
    for ((row, &label), row_source) in out.chunks_exact_mut(dim).zip(labels).zip(sources) {
        let kind = rng.unit_f64();
        fill_normal(rng, row);
        if kind < config.junk_fraction {
            junk += 1;
            *row_source = JUNK;
            normalize(row);
            continue;
        }
        let source = if kind < config.junk_fraction + config.mislabel_fraction && identities > 1 {
            mislabelled += 1;
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
        let scale = (config.noise * (config.quality_sigma * rng.normal()).exp() * inv_sqrt_dim) as f32;
        let centre = &centres[source * dim..(source + 1) * dim];
        row.iter_mut().zip(centre).for_each(|(x, &c)| *x = c + scale * *x);
        normalize(row);
    }
    (junk, mislabelled)
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
        }
    }
}

/// The four output files of `face-cluster synth`, created before the data is drawn so that a
/// bad folder fails at once, and committed together.
///
/// - `feats.npy`: NumPy `float32`, shape `(n, dim)`, C order;
/// - `feats.bin`: the same values as raw little-endian `float32`, row after row (the
///   learn-to-cluster layout; read it with `--dim`);
/// - `labels.meta`: one integer label per line;
/// - `sources.meta`: the identity each row is an image of ([`Synth::sources`]), one per line,
///   each junk row a label of its own (`identities + row`). Scoring it against `labels.meta`
///   with `face-cluster eval` gives the best scores any clustering can reach on the features.
///
/// Each is written through [`AtomicFile`], so no partial file is ever left behind.
#[derive(Debug)]
pub struct SynthFiles {
    npy: AtomicFile,
    bin: AtomicFile,
    labels: AtomicFile,
    sources: AtomicFile,
}

impl SynthFiles {
    /// Creates `dir` (and its parents) when missing, and the temporary files in it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the folder or file that cannot be created.
    pub fn create(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(SynthFiles {
            npy: AtomicFile::create(&dir.join("feats.npy"))?,
            bin: AtomicFile::create(&dir.join("feats.bin"))?,
            labels: AtomicFile::create(&dir.join("labels.meta"))?,
            sources: AtomicFile::create(&dir.join("sources.meta"))?,
        })
    }

    /// Writes `synth` and renames the four files into place.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file that cannot be written.
    pub fn write(mut self, synth: &Synth) -> Result<()> {
        let (n, dim) = synth.features.dim();
        let values = synth.features.as_slice().expect("generate() builds a standard-layout matrix");
        let npy_path = self.npy.target().to_path_buf();
        write_npy_header(&mut self.npy, n, dim).map_err(|e| Error::io(&npy_path, e))?;
        // Each block is converted to bytes once and written to both feature files.
        let mut bytes = vec![0u8; WRITE_BLOCK_VALUES * 4];
        for block in values.chunks(WRITE_BLOCK_VALUES) {
            let bytes = &mut bytes[..block.len() * 4];
            for (out, value) in bytes.chunks_exact_mut(4).zip(block) {
                out.copy_from_slice(&value.to_le_bytes());
            }
            self.npy.write_all(bytes).map_err(|e| Error::io(&npy_path, e))?;
            let bin = &mut self.bin;
            bin.write_all(bytes).map_err(|e| Error::io(bin.target(), e))?;
        }
        let labels = &mut self.labels;
        crate::io::labels::write_text_labels(labels, &synth.labels).map_err(|e| Error::io(labels.target(), e))?;
        let sources = &mut self.sources;
        crate::io::labels::write_text_labels(sources, &sources_with_junk_apart(synth))
            .map_err(|e| Error::io(sources.target(), e))?;
        self.npy.commit()?;
        self.bin.commit()?;
        self.labels.commit()?;
        self.sources.commit()
    }
}

/// [`Synth::sources`] with each junk row its own label, `identities + row`: an image of no one
/// is a cluster of its own in the best clustering, not one cluster of all junk.
fn sources_with_junk_apart(synth: &Synth) -> Vec<u32> {
    let identities = synth.identity_sizes.len();
    let apart = |(row, &source): (usize, &u32)| {
        if source == JUNK {
            u32::try_from(identities + row).expect("identities and rows are counted in u32")
        } else {
            source
        }
    };
    synth.sources.iter().enumerate().map(apart).collect()
}

/// Values converted and written per step: 1 MiB of bytes.
const WRITE_BLOCK_VALUES: usize = 1 << 18;

/// A version 1.0 `.npy` header for a C-order little-endian float32 `(n, dim)` array: magic,
/// version, header length, then the dict padded with spaces so that the data starts at a
/// multiple of 64 bytes, as NumPy writes it.
fn write_npy_header(out: &mut impl Write, n: usize, dim: usize) -> io::Result<()> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {dim}), }}");
    let unpadded = 10 + dict.len() + 1; // magic, version, length; dict; newline
    let total = unpadded.div_ceil(64) * 64;
    let header_len = u16::try_from(total - 10).expect("a 2-D shape's header is far below 64 KiB");
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&header_len.to_le_bytes())?;
    out.write_all(dict.as_bytes())?;
    out.write_all(&vec![b' '; total - unpadded])?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{load_features, read_labels, FeatureFormat, LoadOptions};

    fn small(seed: u64) -> SynthConfig {
        SynthConfig { n: 3000, dim: 64, seed, ..SynthConfig::default() }
    }

    #[test]
    fn same_seed_same_output_other_seed_differs() {
        let a = generate(&small(7)).unwrap();
        let b = generate(&small(7)).unwrap();
        assert_eq!(a, b);
        let c = generate(&small(8)).unwrap();
        assert_ne!(a.features, c.features);
        assert_ne!(a.identity_sizes, c.identity_sizes);
    }

    #[test]
    fn output_does_not_depend_on_the_thread_count() {
        let config = SynthConfig { n: 5 * ROWS_PER_BLOCK + 17, dim: 16, ..SynthConfig::default() };
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| generate(&config));
        let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(|| generate(&config));
        assert_eq!(one.unwrap(), four.unwrap());
    }

    #[test]
    fn shapes_labels_and_unit_rows() {
        let s = generate(&small(1)).unwrap();
        assert_eq!(s.features.dim(), (3000, 64));
        assert_eq!(s.labels.len(), 3000);
        assert!(s.labels.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1), "labels are grouped, in order");
        assert_eq!(*s.labels.last().unwrap() as usize + 1, s.stats.identities);
        assert_eq!(s.identity_sizes.iter().map(|&x| x as usize).sum::<usize>(), 3000);
        for row in s.features.rows() {
            let norm = row.dot(&row).sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        }
    }

    #[test]
    fn statistics_are_in_the_expected_ranges() {
        let s = generate(&SynthConfig { n: 200_000, dim: 8, ..SynthConfig::default() }).unwrap();
        let st = &s.stats;
        // About 200000 / 68 = 2941 identities with a lognormal(sigma 0.8) law.
        assert!((2600..3300).contains(&st.identities), "{st:?}");
        assert!((60.0..76.0).contains(&st.mean_identity_size), "{st:?}");
        assert!((40..60).contains(&st.median_identity_size), "median about 68 exp(-0.32) = 49: {st:?}");
        assert!(st.max_identity_size > 300 && st.max_identity_size < 2000, "{st:?}");
        assert!(st.min_identity_size < 10, "{st:?}");
        let share = |count: usize| count as f64 / st.n as f64;
        assert!((0.008..0.012).contains(&share(st.junk_rows)), "{st:?}");
        assert!((0.017..0.023).contains(&share(st.mislabelled_rows)), "{st:?}");
        let lookalikes = st.lookalike_identities as f64 / st.identities as f64;
        assert!((0.07..0.13).contains(&lookalikes), "{st:?}");
        // Sources agree with the counts: junk rows have none, mislabelled rows another's.
        assert_eq!(s.sources.iter().filter(|&&x| x == JUNK).count(), st.junk_rows);
        let other = s.sources.iter().zip(&s.labels).filter(|(&x, &l)| x != JUNK && x != l).count();
        assert_eq!(other, st.mislabelled_rows);
        assert!(s.sources.iter().all(|&x| x == JUNK || (x as usize) < st.identities));
    }

    #[test]
    fn similarities_look_like_arcface_embeddings() {
        let s = generate(&SynthConfig { n: 20_000, ..SynthConfig::default() }).unwrap();
        let sims = s.similarity_summary(20_000, 1);
        let (same, diff) = (&sims.same_label, &sims.different_label);
        assert_eq!((same.pairs, diff.pairs), (20_000, 20_000));
        assert!((0.62..0.76).contains(&same.p50), "{same:?}");
        // Junk and mislabelled rows (3 %) make the low tail of same-label pairs.
        assert!(same.p01 < 0.2 && same.p95 < 0.9, "{same:?}");
        // Near 0, with a tail from identities of one attribute group and look-alikes.
        assert!(diff.mean.abs() < 0.02 && diff.p50.abs() < 0.02, "{diff:?}");
        assert!(diff.p99 > 0.15 && diff.p99 < 0.35 && diff.p01 > -0.25, "{diff:?}");
    }

    #[test]
    fn lookalike_centres_sit_at_the_drawn_cosine() {
        // Noise-free images are their centres: every pair is the cosine of two centres.
        let config = SynthConfig {
            n: 400,
            dim: 128,
            mean_identity_size: 1.0,
            identity_size_sigma: 0.0,
            noise: 0.0,
            group_sim: 0.0,
            lookalike_fraction: 1.0,
            lookalike_min_sim: 0.6,
            lookalike_max_sim: 0.6,
            junk_fraction: 0.0,
            mislabel_fraction: 0.0,
            ..SynthConfig::default()
        };
        let s = generate(&config).unwrap();
        assert_eq!((s.stats.identities, s.stats.lookalike_identities), (400, 399));
        // Each identity i > 0 has one earlier identity at cosine 0.6.
        for i in 1..400 {
            let best = (0..i).map(|j| s.features.row(i).dot(&s.features.row(j))).fold(f32::MIN, f32::max);
            assert!((best - 0.6).abs() < 1e-4, "identity {i}: closest earlier centre at {best}");
        }
    }

    #[test]
    fn identities_of_one_group_share_its_direction() {
        let config = SynthConfig {
            n: 100,
            dim: 256,
            mean_identity_size: 1.0,
            identity_size_sigma: 0.0,
            noise: 0.0,
            groups: 1,
            group_sim: 0.5,
            lookalike_fraction: 0.0,
            junk_fraction: 0.0,
            mislabel_fraction: 0.0,
            ..SynthConfig::default()
        };
        let s = generate(&config).unwrap();
        let sims = s.similarity_summary(1000, 2).different_label;
        assert!((sims.mean - 0.5).abs() < 0.02 && sims.p01 > 0.35 && sims.p99 < 0.65, "{sims:?}");
        let independent = generate(&SynthConfig { group_sim: 0.0, ..config }).unwrap();
        let sims = independent.similarity_summary(1000, 2).different_label;
        assert!(sims.mean.abs() < 0.02 && sims.p99 < 0.2, "{sims:?}");
    }

    #[test]
    fn no_noise_means_one_point_per_identity() {
        let config =
            SynthConfig { n: 500, dim: 32, noise: 0.0, junk_fraction: 0.0, mislabel_fraction: 0.0, ..small(3) };
        let s = generate(&config).unwrap();
        for (i, row) in s.features.rows().into_iter().enumerate().skip(1) {
            if s.labels[i] == s.labels[i - 1] {
                assert_eq!(row, s.features.row(i - 1));
            }
        }
    }

    #[test]
    fn files_round_trip_through_the_readers() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new").join("synth");
        let s = generate(&SynthConfig { n: 777, dim: 24, ..SynthConfig::default() }).unwrap();
        SynthFiles::create(&out).unwrap().write(&s).unwrap();
        let keep = LoadOptions { normalize: false, ..LoadOptions::default() };
        let npy = load_features(&out.join("feats.npy"), &keep).unwrap();
        assert_eq!(npy.view(), s.features.view());
        let bin_options = LoadOptions { format: Some(FeatureFormat::Bin), dim: 24, normalize: false };
        let bin = load_features(&out.join("feats.bin"), &bin_options).unwrap();
        assert_eq!(bin.view(), s.features.view());
        let labels = read_labels(&out.join("labels.meta")).unwrap();
        assert_eq!(labels, s.labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>());
        let npy_bytes = fs::read(out.join("feats.npy")).unwrap();
        assert_eq!((npy_bytes.len() - 777 * 24 * 4) % 64, 0, "data starts on a 64-byte boundary");
        let sources = read_labels(&out.join("sources.meta")).unwrap();
        let identities = s.identity_sizes.len();
        let junk = s.sources.iter().filter(|&&x| x == JUNK).count();
        assert!(junk > 0, "the default junk share draws some junk rows in 777");
        for (row, (&written, &source)) in sources.iter().zip(&s.sources).enumerate() {
            let expected = if source == JUNK { identities + row } else { source as usize };
            assert_eq!(written, expected as i64, "row {row}");
        }
        assert_eq!(fs::read_dir(&out).unwrap().count(), 4, "no temporary files left");
    }

    #[test]
    fn dropped_files_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        drop(SynthFiles::create(dir.path()).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn bad_parameters_are_named() {
        let cases: [(SynthConfig, &str); 10] = [
            (SynthConfig { n: 0, ..small(1) }, "--n"),
            (SynthConfig { dim: 1, ..small(1) }, "--dim"),
            (SynthConfig { mean_identity_size: 0.5, ..small(1) }, "--mean-identity-size"),
            (SynthConfig { noise: f64::NAN, ..small(1) }, "--noise"),
            (SynthConfig { quality_sigma: -1.0, ..small(1) }, "--quality-sigma"),
            (SynthConfig { groups: 0, ..small(1) }, "--groups"),
            (SynthConfig { group_sim: 1.0, ..small(1) }, "--group-sim"),
            (SynthConfig { junk_fraction: 1.5, ..small(1) }, "--junk-fraction"),
            (SynthConfig { junk_fraction: 0.6, mislabel_fraction: 0.6, ..small(1) }, "--mislabel-fraction"),
            (SynthConfig { lookalike_min_sim: 0.8, lookalike_max_sim: 0.7, ..small(1) }, "--lookalike-max-sim"),
        ];
        for (config, option) in cases {
            let e = generate(&config).unwrap_err();
            assert!(matches!(e, Error::InvalidParameter { name, .. } if name == option), "{option}: {e}");
        }
    }

    #[test]
    fn one_identity_has_no_mislabelled_rows() {
        let config = SynthConfig { n: 50, dim: 8, mean_identity_size: 1000.0, identity_size_sigma: 0.0, ..small(1) };
        let s = generate(&config).unwrap();
        assert_eq!((s.stats.identities, s.stats.mislabelled_rows), (1, 0));
        let sims = s.similarity_summary(10, 0);
        assert_eq!((sims.same_label.pairs, sims.different_label.pairs), (10, 0));
    }
}
