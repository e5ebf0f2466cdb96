//! The stages of the harder families: heavy-head layout, photo sessions, near-duplicate
//! bursts, clustered junk and the compressed similarity scale. Each is off at its default, and
//! then draws nothing, so that the base model's output is unchanged.

use rayon::prelude::*;

use super::{
    fill_normal, normalize, stream_seed, SynthConfig, COMPRESS_STREAM, DUPS_STREAM, JUNK_CENTRE_STREAM, ROWS_PER_BLOCK,
    SESSIONS_STREAM,
};
use crate::rng::Rng;

/// Where each identity's rows lie: identity `id` owns rows `starts[id]..starts[id + 1]`, the
/// first `originals[id]` of them drawn as images, the rest near-duplicates of those.
#[derive(Debug)]
pub(super) struct Layout {
    starts: Vec<usize>,
    originals: Vec<usize>,
}

impl Layout {
    /// The layout of identities of these sizes: `floor(dup_fraction * size)` copies each,
    /// none for an identity of one row (a copy needs an original beside it).
    pub(super) fn new(config: &SynthConfig, sizes: &[u32]) -> Self {
        let mut starts = Vec::with_capacity(sizes.len() + 1);
        starts.push(0);
        let originals = sizes
            .iter()
            .map(|&size| {
                let size = size as usize;
                starts.push(starts[starts.len() - 1] + size);
                let copies = if size > 1 { (config.dup_fraction * size as f64).floor() as usize } else { 0 };
                size - copies.min(size - 1)
            })
            .collect();
        Layout { starts, originals }
    }

    /// Whether row `row` of identity `label` is a near-duplicate.
    #[inline]
    pub(super) fn is_copy(&self, row: usize, label: u32) -> bool {
        let id = label as usize;
        row - self.starts[id] >= self.originals[id]
    }

    fn identities(&self) -> usize {
        self.originals.len()
    }

    fn rows(&self, id: usize) -> std::ops::Range<usize> {
        self.starts[id]..self.starts[id + 1]
    }
}

/// A draw from the geometric law on 1, 2, ... with the given mean (at least 1): the number of
/// trials up to the first success, each with probability `1 / mean`.
pub(super) fn geometric(rng: &mut Rng, mean: f64) -> usize {
    if mean <= 1.0 {
        return 1;
    }
    let u = 1.0 - rng.unit_f64(); // (0, 1]
                                  // `as` saturates a huge draw; callers cut it to the rows left.
    (u.ln() / (-1.0 / mean).ln_1p()).floor() as usize + 1
}

/// Photo sessions: the centre of every session and the session of every original row.
#[derive(Debug)]
pub(super) struct Sessions {
    /// `sessions x dim`, row-major.
    centres: Vec<f32>,
    /// The session of every row; `u32::MAX` for a near-duplicate (it copies a row instead).
    of_row: Vec<u32>,
    /// Sessions drawn.
    count: usize,
}

impl Sessions {
    /// Sessions drawn.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// The centre of the session of original row `row`.
    pub(super) fn centre_of_row(&self, row: usize, dim: usize) -> &[f32] {
        let s = self.of_row[row] as usize;
        &self.centres[s * dim..(s + 1) * dim]
    }
}

/// A new session centre around `identity_centre`: `normalize(c + session_noise g / sqrt(dim))`.
pub(super) fn session_centre(config: &SynthConfig, identity_centre: &[f32], rng: &mut Rng, out: &mut [f32]) {
    fill_normal(rng, out);
    let scale = (config.session_noise / (config.dim as f64).sqrt()) as f32;
    out.iter_mut().zip(identity_centre).for_each(|(x, &c)| *x = c + scale * *x);
    normalize(out);
}

/// Splits each identity's original rows, in order, into sessions of geometric size (mean
/// `session_mean_size`, the last cut to fit) around centres of their own; `None` when sessions
/// are off. One stream per identity, so the result does not depend on the thread count.
pub(super) fn sessions(config: &SynthConfig, centres: &[f32], layout: &Layout) -> Option<Sessions> {
    if config.session_mean_size == 0.0 {
        return None;
    }
    let dim = config.dim;
    let seed = stream_seed(config.seed, SESSIONS_STREAM);
    let per_identity: Vec<(Vec<f32>, Vec<usize>)> = (0..layout.identities())
        .into_par_iter()
        .map(|id| {
            let mut rng = Rng::derive(seed, id as u64);
            let (mut session_centres, mut lengths) = (Vec::new(), Vec::new());
            let mut left = layout.originals[id];
            let mut centre = vec![0f32; dim];
            while left > 0 {
                let length = geometric(&mut rng, config.session_mean_size).min(left);
                session_centre(config, &centres[id * dim..(id + 1) * dim], &mut rng, &mut centre);
                session_centres.extend_from_slice(&centre);
                lengths.push(length);
                left -= length;
            }
            (session_centres, lengths)
        })
        .collect();
    let total: usize = per_identity.iter().map(|(_, lengths)| lengths.len()).sum();
    let mut all_centres = Vec::with_capacity(total * dim);
    let mut of_row = vec![u32::MAX; layout.starts[layout.identities()]];
    let mut session = 0u32; // sessions <= rows <= u32::MAX
    for (id, (session_centres, lengths)) in per_identity.into_iter().enumerate() {
        all_centres.extend_from_slice(&session_centres);
        let mut row = layout.starts[id];
        for length in lengths {
            of_row[row..row + length].fill(session);
            row += length;
            session += 1;
        }
    }
    Some(Sessions { centres: all_centres, of_row, count: total })
}

/// The shared centre of clustered junk: a random unit vector of its own stream.
pub(super) fn junk_centre(config: &SynthConfig) -> Vec<f32> {
    let mut centre = vec![0f32; config.dim];
    fill_normal(&mut Rng::derive(stream_seed(config.seed, JUNK_CENTRE_STREAM), 0), &mut centre);
    normalize(&mut centre);
    centre
}

/// Draws the near-duplicate rows of every identity, after its originals: bursts of geometric
/// size (mean `dup_burst_mean`, the last cut to fit), each copying one original chosen
/// uniformly, a copy being `normalize(x + d g / sqrt(dim))` with `d` uniform in
/// `[0, dup_noise_max]`. Sets their sources and `copy_of`; returns their number. One stream
/// per identity, in parallel over identities.
pub(super) fn near_duplicates(
    config: &SynthConfig,
    layout: &Layout,
    data: &mut [f32],
    sources: &mut [u32],
    copy_of: &mut [u32],
) -> usize {
    if config.dup_fraction == 0.0 {
        return 0;
    }
    let dim = config.dim;
    let seed = stream_seed(config.seed, DUPS_STREAM);
    let inv_sqrt_dim = 1.0 / (dim as f64).sqrt();
    // Each identity's rows, as disjoint mutable slices.
    let mut jobs = Vec::with_capacity(layout.identities());
    let (mut data, mut sources, mut copy_of) = (data, sources, copy_of);
    for id in 0..layout.identities() {
        let size = layout.rows(id).len();
        let (d, rest) = std::mem::take(&mut data).split_at_mut(size * dim);
        let (s, rest_s) = std::mem::take(&mut sources).split_at_mut(size);
        let (c, rest_c) = std::mem::take(&mut copy_of).split_at_mut(size);
        (data, sources, copy_of) = (rest, rest_s, rest_c);
        jobs.push((id, d, s, c));
    }
    jobs.into_par_iter()
        .map(|(id, rows, sources, copy_of)| {
            let (start, originals) = (layout.starts[id], layout.originals[id]);
            let size = sources.len();
            let mut rng = Rng::derive(seed, id as u64);
            let (originals_rows, copies) = rows.split_at_mut(originals * dim);
            let mut r = originals;
            while r < size {
                let burst = geometric(&mut rng, config.dup_burst_mean).min(size - r);
                let source = rng.below(originals as u64) as usize;
                let original = &originals_rows[source * dim..(source + 1) * dim];
                for copy in r..r + burst {
                    let row = &mut copies[(copy - originals) * dim..(copy - originals + 1) * dim];
                    let scale = (config.dup_noise_max * rng.unit_f64() * inv_sqrt_dim) as f32;
                    fill_normal(&mut rng, row);
                    row.iter_mut().zip(original).for_each(|(x, &o)| *x = o + scale * *x);
                    normalize(row);
                    sources[copy] = sources[source];
                    copy_of[copy] = (start + source) as u32; // rows <= u32::MAX
                }
                r += burst;
            }
            size - originals
        })
        .sum()
}

/// The compressed similarity scale: every row `x`, made orthogonal to one shared unit vector
/// `m`, becomes `sqrt(rho_i) m + sqrt(1 - rho_i) x`, with `rho_i` uniform in `common_sim ±
/// common_sim_spread`, cut to [0, 1]. Two rows then meet at `sqrt(rho_i rho_j) + sqrt((1 -
/// rho_i)(1 - rho_j)) cos(x_i, x_j)`: `rho + (1 - rho) cos` without a spread. Nothing is drawn
/// when `common_sim` is 0. One stream per block of [`ROWS_PER_BLOCK`] rows.
pub(super) fn compress(config: &SynthConfig, data: &mut [f32]) {
    if config.common_sim == 0.0 {
        return;
    }
    let dim = config.dim;
    let seed = stream_seed(config.seed, COMPRESS_STREAM);
    let mut shared = vec![0f32; dim];
    fill_normal(&mut Rng::derive(seed, 0), &mut shared);
    normalize(&mut shared);
    let (lo, hi) = (config.common_sim - config.common_sim_spread, config.common_sim + config.common_sim_spread);
    data.par_chunks_mut(ROWS_PER_BLOCK * dim).enumerate().for_each(|(block, rows)| {
        let mut rng = Rng::derive(seed, block as u64 + 1);
        for row in rows.chunks_exact_mut(dim) {
            let rho = (lo + (hi - lo) * rng.unit_f64()).clamp(0.0, 1.0);
            let along = row.iter().zip(&shared).map(|(&x, &m)| f64::from(x) * f64::from(m)).sum::<f64>() as f32;
            row.iter_mut().zip(&shared).for_each(|(x, &m)| *x -= along * m);
            normalize(row);
            let (a, b) = (rho.sqrt() as f32, (1.0 - rho).sqrt() as f32);
            row.iter_mut().zip(&shared).for_each(|(x, &m)| *x = a * m + b * *x);
            normalize(row);
        }
    });
}
