//! Picking `min_sim` from the data alone: the valley of the single-linkage merge heights.
//!
//! Useful thresholds depend on the embedding model (ArcFace-style 256-d features work near
//! 0.55, dlib's 128-d descriptors near 0.95), so one default cannot serve. [`auto_min_sim`]
//! reads the answer off the k-NN table, with no labels:
//!
//! 1. Add the table's links (first `k` slots of each row, self excluded) from the most similar
//!    down, joining their rows' connected components (Kruskal's order, union-find). Every link
//!    that joins two components is a *merge*, at a *height*: its similarity. There are at most
//!    `n - 1` merges; the number of components left at threshold `t` is `n` minus the merges at
//!    heights `>= t`. (These are the heights of the single-linkage dendrogram.)
//! 2. Merges come in two kinds. Images of one person join their identity's component at high
//!    similarity; whole identities join each other, or a lone image joins a stranger, lower
//!    down. The density of merge heights is therefore two-humped, and where it dips the number
//!    of components stays nearly constant over a range of thresholds: the partition into
//!    connected components is most stable there, and the count is the best guess of the number
//!    of people the graph can tell apart.
//! 3. The density is a Gaussian kernel estimate on a grid ([`GRID_POINTS`] points spanning the
//!    heights), with bandwidth `h = (q98 - q2) / 40` from the 2% and 98% quantiles of the
//!    heights: wide enough to smooth the noise of a few hundred merges, narrow enough to keep a
//!    dip of a fiftieth of the range.
//! 4. The threshold is the bottom of the most *prominent* valley between the 2% and 98%
//!    quantiles of the heights: the grid point `t` that maximises `min(max density below t,
//!    max density above t) - density(t)`, both maxima taken within that range. The lowest 2%
//!    are left out of the search because they are where junk joins: an image of no one (a
//!    failed detection) merges with whatever is least far, and a hump of such merges, or of
//!    whole groups of people joining, can sit below the valley of interest. A dip between a
//!    hump and a stray bump scores by the bump's height, so noise does not win, and the ends of
//!    the range never do (one side has no hump). A dip whose density is more than
//!    [`MAX_VALLEY_RATIO`] of the lower hump beside it is a ripple, not a valley; with no valley
//!    at all (one hump) the threshold keeps every link, and [`AutoMinSim::valley_ratio`] is 1.
//!
//! On the data of this repository the valley lands where a sweep with ground truth finds the
//! best threshold: 0.954 on `data/lfw-a` (best fixed 0.95), 0.949 on `data/att-orl` (best
//! 0.94-0.945), 0.48 on 20,000 synthetic rows (best 0.54, flat from 0.46 to 0.60); see
//! `docs/quality-issue9.md` for the figures and their pairwise F.
//!
//! With fewer than [`MIN_MERGES`] merges there is no density to speak of; the threshold is
//! then the middle of the largest gap between consecutive merge heights (the widest range of
//! thresholds with a constant number of components), and with fewer than two merges it keeps
//! every link there is.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::config::Similarity;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::knn::{Knn, KnnRows, NONE};

/// Points of the density grid.
pub const GRID_POINTS: usize = 4096;

/// Fewest merges for the density estimate; below this, the largest gap decides.
pub const MIN_MERGES: usize = 16;

/// The bandwidth is the spread of the heights between these quantiles over
/// [`BANDWIDTH_DIVISOR`].
const SPREAD_QUANTILES: (f64, f64) = (0.02, 0.98);
const BANDWIDTH_DIVISOR: f64 = 40.0;

/// A valley counts only where its density is at most this share of the lower hump beside it;
/// shallower dips are ripples of the kernel estimate.
pub const MAX_VALLEY_RATIO: f64 = 0.8;

/// A threshold picked by [`auto_min_sim`], with what it was read from.
///
/// [`AutoMinSim::similarity`] is the threshold as the graph takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoMinSim {
    /// The threshold.
    pub min_sim: f32,
    /// Merges (links that joined two components) seen in the table.
    pub merges: usize,
    /// Connected components left at the threshold.
    pub components: usize,
    /// Kernel bandwidth of the density, in similarity units (0 when the gap rule decided).
    pub bandwidth: f64,
    /// Merge-height density at the threshold over the lower of the two humps around it: 0 for
    /// a clean gap, near 1 for no real valley (then the threshold is a guess).
    pub valley_ratio: f64,
}

impl AutoMinSim {
    /// The threshold as a [`Similarity`] (within `[-1, 1]`: it can only fall outside by
    /// rounding, when every link is kept).
    pub fn similarity(&self) -> Similarity {
        Similarity::clamped(self.min_sim)
    }
}

/// Picks `min_sim` as the most prominent valley of the single-linkage merge heights of the
/// first `k` slots of each row (see the [module documentation](self)).
///
/// # Errors
///
/// [`Error::InvalidParameter`] for `k == 0` or `k > knn.k()` (`--k`).
///
/// # Complexity
///
/// `O(L log L)` for `L <= n (k - 1)` links (a parallel sort of their positions), `O(L α(n))`
/// for the union-find and `O(GRID_POINTS h)` for the density. Memory: 4 bytes per link (8 when
/// the table has more than 2^32 slots).
///
/// # Example
///
/// ```
/// use face_cluster::knn::Knn;
/// use face_cluster::threshold::auto_min_sim;
///
/// // Two tight pairs (0.9) joined by one weak link (0.3): the valley is between.
/// let knn = Knn::from_rows(
///     3,
///     vec![0, 1, 2, 1, 0, 3, 2, 3, 0, 3, 2, 1],
///     vec![1.0, 0.9, 0.3, 1.0, 0.9, 0.2, 1.0, 0.9, 0.3, 1.0, 0.9, 0.2],
/// )?;
/// let auto = auto_min_sim(&knn, 3)?;
/// assert!(auto.min_sim > 0.3 && auto.min_sim < 0.9, "{auto:?}");
/// assert_eq!(auto.components, 2);
/// # Ok::<(), face_cluster::Error>(())
/// ```
pub fn auto_min_sim(knn: &Knn, k: usize) -> Result<AutoMinSim> {
    knn.check_slots(k)?;
    let heights = if knn.n() * knn.k() <= u32::MAX as usize + 1 {
        merge_heights::<u32>(knn, k)
    } else {
        merge_heights::<u64>(knn, k)
    };
    Ok(pick(&heights, knn.n()))
}

/// The similarities at which links join two components, most similar first.
fn merge_heights<P>(knn: &Knn, k: usize) -> Vec<f32>
where
    P: Copy + Send + Sync + Ord + TryFrom<usize> + Into<u64>,
    <P as TryFrom<usize>>::Error: std::fmt::Debug,
{
    let slot = |p: P| -> usize {
        let p: u64 = p.into();
        p as usize
    };
    let (ids, sims) = (knn.ids(), knn.sims());
    // Each link as (descending-similarity key, position): sorted by value, no lookups into the
    // table during the sort (an indirect comparison misses the cache on every read).
    let mut links: Vec<(u32, P)> = (0..knn.n())
        .into_par_iter()
        .flat_map_iter(|i| {
            let (ids, _) = knn.row(i);
            ids[..k].iter().enumerate().filter(move |(_, &j)| j != NONE && j as usize != i).map(move |(s, _)| {
                let p = i * knn.k() + s;
                (descending_key(sims[p]), P::try_from(p).expect("the caller checked that positions fit"))
            })
        })
        .collect();
    // Descending similarity (`total_cmp`), ties by position: a total order, so the result is
    // deterministic.
    links.par_sort_unstable();
    let mut parent: Vec<u32> = (0..knn.n() as u32).collect();
    let mut heights = Vec::new();
    for &(_, p) in &links {
        let p = slot(p);
        let (a, b) = ((p / knn.k()) as u32, ids[p]);
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        if ra != rb {
            parent[ra as usize] = rb;
            heights.push(sims[p]);
            if heights.len() + 1 == knn.n() {
                break; // one component: nothing more can merge
            }
        }
    }
    heights
}

/// A key whose ascending order is `f32::total_cmp`'s descending order.
fn descending_key(x: f32) -> u32 {
    let bits = x.to_bits();
    // total_cmp's order as unsigned integers: negative values have every bit flipped, others
    // only the sign bit.
    let ascending = if bits >> 31 == 1 { !bits } else { bits | 0x8000_0000 };
    !ascending
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let up = parent[parent[x as usize] as usize];
        parent[x as usize] = up;
        x = up;
    }
    x
}

/// The threshold from merge heights sorted descending, for `n` rows.
fn pick(heights: &[f32], n: usize) -> AutoMinSim {
    let merges = heights.len();
    let components_at = |t: f32| n - heights.partition_point(|&h| h >= t);
    if merges < 2 {
        // Nothing to compare: keep whatever link there is.
        let min_sim = heights.first().copied().unwrap_or(1.0);
        return AutoMinSim { min_sim, merges, components: components_at(min_sim), bandwidth: 0.0, valley_ratio: 1.0 };
    }
    if merges < MIN_MERGES {
        // The widest range of thresholds with a constant number of components.
        let (gap, at) = heights
            .windows(2)
            .map(|w| (f64::from(w[0]) - f64::from(w[1]), (f64::from(w[0]) + f64::from(w[1])) / 2.0))
            .fold((f64::NEG_INFINITY, 0.0), |best, c| if c.0 > best.0 { c } else { best });
        let min_sim = at as f32;
        let valley_ratio = if gap > 0.0 { 0.0 } else { 1.0 };
        return AutoMinSim { min_sim, merges, components: components_at(min_sim), bandwidth: 0.0, valley_ratio };
    }
    let d = Density::of(heights, Rounding::HalfAway, false);
    // The lowest point wins a tie, so with no valley at all (one hump) every link is kept.
    let mut best = (f64::NEG_INFINITY, d.from, 1.0f64);
    for (g, sides) in d.sides() {
        let depth = sides - d.values[g];
        if depth > best.0 {
            best = (depth, g, if sides > 0.0 { d.values[g] / sides } else { 1.0 });
        }
    }
    if best.2 > MAX_VALLEY_RATIO {
        // No valley: keep every link.
        best = (0.0, 0, 1.0);
    }

    let min_sim = d.at(best.1) as f32;
    AutoMinSim { min_sim, merges, components: components_at(min_sim), bandwidth: d.h, valley_ratio: best.2 }
}

/// How a quantile's position `(len - 1) q` is rounded: issue 9's rule rounds halves away from
/// zero; issue 17's rule rounds them to even, as its numpy prototype (`bench/quality/valley.py`)
/// does, so that both give the same bandwidth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounding {
    HalfAway,
    HalfEven,
}

impl Rounding {
    fn index(self, len: usize, q: f64) -> usize {
        let at = (len - 1) as f64 * q;
        match self {
            Rounding::HalfAway => at.round() as usize,
            Rounding::HalfEven => at.round_ties_even() as usize,
        }
    }
}

/// Below this many values, [`choose_min_sim`]'s density takes at least Silverman's bandwidth.
pub const SILVERMAN_BELOW: usize = 2000;

/// The binned Gaussian kernel density of a set of values on [`GRID_POINTS`] points, and the
/// searched range between the 2% and 98% quantiles.
struct Density {
    /// Grid point 0.
    lo: f64,
    /// Grid spacing.
    step: f64,
    /// Density at each grid point.
    values: Vec<f64>,
    /// Kernel bandwidth.
    h: f64,
    /// First and last grid points of the searched range.
    from: usize,
    to: usize,
}

impl Density {
    /// The density of `descending` (at least one value). With `silverman` and fewer than
    /// [`SILVERMAN_BELOW`] values the bandwidth is at least Silverman's rule of thumb.
    fn of(descending: &[f32], rounding: Rounding, silverman: bool) -> Density {
        let ascending: Vec<f64> = descending.iter().rev().map(|&h| f64::from(h)).collect();
        let quantile = |q: f64| ascending[rounding.index(ascending.len(), q)];
        let (q_lo, q_hi) = (quantile(SPREAD_QUANTILES.0), quantile(SPREAD_QUANTILES.1));
        let (first, last) = (ascending[0], ascending[ascending.len() - 1]);
        // A floor keeps the kernel finite when (almost) every merge has the same height.
        let mut h = ((q_hi - q_lo) / BANDWIDTH_DIVISOR).max((last - first) / GRID_POINTS as f64).max(1e-7);
        if silverman && ascending.len() < SILVERMAN_BELOW {
            h = h.max(silverman_bandwidth(&ascending, rounding));
        }
        let (lo, hi) = (first - 3.0 * h, last + 3.0 * h);
        let step = (hi - lo) / (GRID_POINTS - 1) as f64;
        // Binned kernel estimate: linear binning onto the grid, then a Gaussian of h truncated at 4h.
        let mut bins = vec![0f64; GRID_POINTS];
        for &x in &ascending {
            let pos = (x - lo) / step;
            let at = (pos.floor() as usize).min(GRID_POINTS - 2);
            let frac = pos - at as f64;
            bins[at] += 1.0 - frac;
            bins[at + 1] += frac;
        }
        let reach = ((4.0 * h / step).ceil() as usize).max(1);
        let kernel: Vec<f64> = (0..=reach).map(|d| (-0.5 * (d as f64 * step / h).powi(2)).exp()).collect();
        let values: Vec<f64> = (0..GRID_POINTS)
            .into_par_iter()
            .map(|g| {
                let (from, to) = (g.saturating_sub(reach), (g + reach).min(GRID_POINTS - 1));
                (from..=to).map(|b| bins[b] * kernel[b.abs_diff(g)]).sum()
            })
            .collect();
        let from = ((q_lo - lo) / step).ceil() as usize;
        let to = (((q_hi - lo) / step).floor() as usize).min(GRID_POINTS - 1);
        Density { lo, step, values, h, from, to }
    }

    /// The similarity at grid point `g`.
    fn at(&self, g: usize) -> f64 {
        self.lo + g as f64 * self.step
    }

    /// Each grid point of the searched range with the lower of the highest densities on either
    /// side of it (itself included), within the range: the height of the humps around it.
    fn sides(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        let mut above = vec![0f64; GRID_POINTS];
        let mut running = 0f64;
        for g in (self.from..=self.to).rev() {
            running = running.max(self.values[g]);
            above[g] = running;
        }
        let mut below = 0f64;
        (self.from..=self.to).map(move |g| {
            below = below.max(self.values[g]);
            (g, below.min(above[g]))
        })
    }

    /// Every local minimum of the range's interior whose density is at most `max_ratio` of the
    /// humps beside it, from the highest similarity down.
    fn valleys(&self, max_ratio: f64) -> Vec<Valley> {
        let mut out: Vec<Valley> = self
            .sides()
            .filter(|&(g, sides)| {
                g > self.from
                    && g < self.to
                    && self.values[g] <= self.values[g - 1]
                    && self.values[g] < self.values[g + 1]
                    && sides > 0.0
                    && self.values[g] / sides <= max_ratio
            })
            .map(|(g, sides)| Valley {
                min_sim: self.at(g),
                ratio: self.values[g] / sides,
                depth: sides - self.values[g],
            })
            .collect();
        out.reverse();
        out
    }
}

/// Silverman's rule of thumb, `0.9 min(sd, IQR / 1.34) m^(-1/5)`, for `m` ascending values.
fn silverman_bandwidth(ascending: &[f64], rounding: Rounding) -> f64 {
    let m = ascending.len() as f64;
    let mean = ascending.iter().sum::<f64>() / m;
    let sd = (ascending.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m).sqrt();
    let iqr = ascending[rounding.index(ascending.len(), 0.75)] - ascending[rounding.index(ascending.len(), 0.25)];
    let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
    0.9 * spread * m.powf(-0.2)
}

/// A valley of a density: its bottom, its density over the humps beside it, and its depth.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Valley {
    min_sim: f64,
    ratio: f64,
    depth: f64,
}

/// Issue 17's `MAX_ALONE`: a merge valley that leaves more than this share of the rows without
/// any neighbour above it is made of near-duplicates (when the link valley is not).
pub const MAX_ALONE: f64 = 0.5;

/// Most values the link valley's density reads: a strided sample of the table's links.
pub const LINK_SAMPLE: usize = 2_000_000;

/// Which estimate [`choose_min_sim`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChosenBy {
    /// The merge-height valley (it is the higher, or the only one).
    Merge,
    /// The link-similarity valley.
    Link,
    /// Neither density has a valley: the deepest dip of the merge heights.
    Fallback,
}

impl ChosenBy {
    /// What the summary calls it.
    pub fn describe(self) -> &'static str {
        match self {
            ChosenBy::Merge => "the merge valley",
            ChosenBy::Link => "the link valley",
            ChosenBy::Fallback => "the deepest dip (no valley)",
        }
    }
}

/// A merge-height valley [`choose_min_sim`] skipped as made of near-duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkippedValley {
    /// Its bottom.
    pub min_sim: f64,
    /// The share of rows with no neighbour at or above it.
    pub alone_share: f64,
}

/// The threshold [`choose_min_sim`] picked, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinSimChoice {
    /// The threshold `t = max(merge_valley, link_valley)`, or the fallback.
    pub min_sim: f64,
    /// Which one it is.
    pub chosen_by: ChosenBy,
    /// The most prominent merge-height valley that is not near-duplicates, if any.
    pub merge_valley: Option<f64>,
    /// The link-similarity valley, if its density has one that leaves at most half the rows
    /// alone.
    pub link_valley: Option<f64>,
    /// Merge-height valleys skipped as near-duplicates, most prominent first.
    pub skipped: Vec<SkippedValley>,
    /// Merges (links that joined two components) among the first `min(50, k)` slots.
    pub merges: usize,
    /// Links in the link valley's sample.
    pub link_sample: usize,
    /// Bandwidth of the merge heights' density as the valley search used it (at least
    /// Silverman's rule below [`SILVERMAN_BELOW`] merges).
    pub merge_bandwidth: f64,
    /// `h`: the merge heights' bandwidth without the Silverman floor, the unit of the attach
    /// window ([`crate::labels::attach_nearest`]).
    pub bandwidth: f64,
    /// Share of rows whose nearest other row is below `min_sim` (no link at all).
    pub alone_share: f64,
}

impl MinSimChoice {
    /// The threshold as the graph takes it: `min_sim` rounded to the nearest `f32`, as the
    /// prototype's float32 comparisons round it.
    pub fn similarity(&self) -> Similarity {
        Similarity::clamped(self.min_sim as f32)
    }
}

/// Each row's two nearest other rows: `(id, sim)` of the first, the similarity of the second
/// (`-inf` where missing; id [`NONE`] when the row lists no other row). `knn` is a searched
/// table or a saved clustering's.
pub fn nearest_two(knn: &impl KnnRows) -> Vec<(u32, f32, f32)> {
    (0..knn.num_rows())
        .into_par_iter()
        .map(|i| {
            let (ids, sims) = knn.knn_row(i);
            let mut others = ids.iter().zip(sims).filter(|(&j, _)| j != NONE && j as usize != i);
            let (id, s1) = others.next().map_or((NONE, f32::NEG_INFINITY), |(&j, &s)| (j, s));
            let s2 = others.next().map_or(f32::NEG_INFINITY, |(_, &s)| s);
            (id, s1, s2)
        })
        .collect()
}

/// The share of rows whose nearest other row is less similar than `x`.
pub fn alone_share(nearest: &[(u32, f32, f32)], x: f64) -> f64 {
    if nearest.is_empty() {
        return 0.0;
    }
    // In f32, as the prototype compares.
    let x = x as f32;
    nearest.iter().filter(|n| n.1 < x).count() as f64 / nearest.len() as f64
}

/// Picks `min_sim` with issue 17's rule (`docs/quality.md`), from the first `k` slots of each
/// row:
///
/// 1. the merge heights of the first `min(50, k)` slots, their density (bandwidth at least
///    Silverman's rule below [`SILVERMAN_BELOW`] merges) and all its valleys;
/// 2. the *link valley*: [`auto_min_sim`]'s pick over the similarities of all links in the
///    first `k` slots (a strided sample of at most [`LINK_SAMPLE`]), kept when its ratio is at
///    most [`MAX_VALLEY_RATIO`] and it leaves at most [`MAX_ALONE`] of the rows alone;
/// 3. the *merge valley*: the most prominent merge-height valley, skipping (as near-duplicates)
///    those that leave more than [`MAX_ALONE`] of the rows alone while a link valley exists;
/// 4. `t = max(merge valley, link valley)`; with neither, the deepest local minimum of the
///    merge-height density whatever its depth (or [`auto_min_sim`]'s rule on the heights).
///
/// # Errors
///
/// [`Error::InvalidParameter`] for `k == 0` or `k > knn.k()` (`--k`).
///
/// # Complexity
///
/// That of [`auto_min_sim`] on `min(50, k)` slots, plus `O(n k)` to sample the links and
/// `O(S log S)` to sort the sample (`S <= 2M`).
pub fn choose_min_sim(knn: &Knn, k: usize) -> Result<MinSimChoice> {
    knn.check_slots(k)?;
    let k_merge = k.min(crate::config::K::SEED.get());
    let heights = if knn.n() * knn.k() <= u32::MAX as usize + 1 {
        merge_heights::<u32>(knn, k_merge)
    } else {
        merge_heights::<u64>(knn, k_merge)
    };
    let nearest = nearest_two(knn);
    let alone = |x: f64| alone_share(&nearest, x);

    let mut sample = link_sample(knn, k, LINK_SAMPLE);
    sample.par_sort_unstable_by(|a, b| b.total_cmp(a));
    let link_sample = sample.len();
    let link = pick_with(&sample, Rounding::HalfEven, true);
    drop(sample);
    let link_valley = (link.valley_ratio <= MAX_VALLEY_RATIO && link_sample > 0)
        .then_some(link.min_sim_f64)
        .filter(|&t| alone(t) <= MAX_ALONE);

    let (mut merge_valley, mut skipped) = (None, Vec::new());
    let (mut merge_bandwidth, mut bandwidth) = (0.0, 0.0);
    let mut fallback = None;
    if !heights.is_empty() {
        let density = Density::of(&heights, Rounding::HalfEven, true);
        merge_bandwidth = density.h;
        bandwidth = Density::of(&heights, Rounding::HalfEven, false).h;
        let mut valleys = density.valleys(MAX_VALLEY_RATIO);
        // Stable: equal depths keep the higher similarity first.
        valleys.sort_by(|a, b| b.depth.total_cmp(&a.depth));
        for v in valleys {
            let share = alone(v.min_sim);
            if share > MAX_ALONE && link_valley.is_some() {
                skipped.push(SkippedValley { min_sim: v.min_sim, alone_share: share });
                continue;
            }
            merge_valley = Some(v.min_sim);
            break;
        }
        if merge_valley.is_none() && link_valley.is_none() {
            let mut dips = density.valleys(1.0);
            dips.sort_by(|a, b| b.depth.total_cmp(&a.depth));
            fallback = Some(match dips.first() {
                Some(v) => v.min_sim,
                None => pick_with(&heights, Rounding::HalfEven, true).min_sim_f64,
            });
        }
    }
    let (min_sim, chosen_by) = match (merge_valley, link_valley) {
        (Some(m), Some(l)) if l > m => (l, ChosenBy::Link),
        (Some(m), _) => (m, ChosenBy::Merge),
        (None, Some(l)) => (l, ChosenBy::Link),
        // No merge at all (every row alone in the table): keep every link.
        (None, None) => (fallback.unwrap_or(-1.0), ChosenBy::Fallback),
    };
    Ok(MinSimChoice {
        min_sim,
        chosen_by,
        merge_valley,
        link_valley,
        skipped,
        merges: heights.len(),
        link_sample,
        merge_bandwidth,
        bandwidth,
        alone_share: alone(min_sim),
    })
}

/// The similarities of the links in the first `k` slots (self and padding dropped), row by
/// row; every `ceil(L / cap)`-th of the `L` links when there are more than `cap`.
fn link_sample(knn: &Knn, k: usize, cap: usize) -> Vec<f32> {
    let is_link = |i: usize, j: u32| j != NONE && j as usize != i;
    let counts: Vec<usize> =
        (0..knn.n()).into_par_iter().map(|i| knn.row(i).0[..k].iter().filter(|&&j| is_link(i, j)).count()).collect();
    let total: usize = counts.iter().sum();
    let stride = if total > cap { total.div_ceil(cap) } else { 1 };
    let mut out = Vec::with_capacity(total.div_ceil(stride));
    let mut at = 0usize;
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        // The next sampled position within this row, if any.
        let first = (stride - at % stride) % stride;
        if first < count {
            let (ids, sims) = knn.row(i);
            let links = ids[..k].iter().zip(&sims[..k]).filter(|(&j, _)| is_link(i, j)).map(|(_, &s)| s);
            out.extend(links.skip(first).step_by(stride));
        }
        at += count;
    }
    out
}

/// [`pick`] with a choice of quantile rounding and the Silverman floor; also returns the
/// threshold before its rounding to `f32`.
struct Picked {
    min_sim_f64: f64,
    valley_ratio: f64,
}

fn pick_with(descending: &[f32], rounding: Rounding, silverman: bool) -> Picked {
    let merges = descending.len();
    if merges < 2 {
        return Picked { min_sim_f64: descending.first().map_or(1.0, |&h| f64::from(h)), valley_ratio: 1.0 };
    }
    if merges < MIN_MERGES {
        // As pick: the middle of the largest gap.
        let (gap, at) = descending
            .windows(2)
            .map(|w| (f64::from(w[0]) - f64::from(w[1]), (f64::from(w[0]) + f64::from(w[1])) / 2.0))
            .fold((f64::NEG_INFINITY, 0.0), |best, c| if c.0 > best.0 { c } else { best });
        return Picked { min_sim_f64: at, valley_ratio: if gap > 0.0 { 0.0 } else { 1.0 } };
    }
    let d = Density::of(descending, rounding, silverman);
    let mut best = (f64::NEG_INFINITY, d.from, 1.0f64);
    for (g, sides) in d.sides() {
        let depth = sides - d.values[g];
        if depth > best.0 {
            best = (depth, g, if sides > 0.0 { d.values[g] / sides } else { 1.0 });
        }
    }
    if best.2 > MAX_VALLEY_RATIO {
        // No valley: the bottom of the grid (every value kept).
        return Picked { min_sim_f64: d.at(0), valley_ratio: 1.0 };
    }
    Picked { min_sim_f64: d.at(best.1), valley_ratio: best.2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descending_keys_sort_as_total_cmp_descending() {
        let mut values =
            vec![0.5f32, -0.5, 0.0, -0.0, 1.0, -1.0, f32::INFINITY, f32::NEG_INFINITY, 1e-30, -1e-30, 0.25];
        let mut by_key = values.clone();
        values.sort_by(|a, b| b.total_cmp(a));
        by_key.sort_by_key(|&x| descending_key(x));
        assert_eq!(
            values.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            by_key.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
    use crate::error::Error;
    use crate::rng::Rng;

    /// A table of `groups` groups of `size` rows: neighbours within a group at `inner` ± noise,
    /// the rest of the row filled with rows of other groups at `outer` ± noise.
    fn grouped(rng: &mut Rng, groups: usize, size: usize, k: usize, inner: f32, outer: f32) -> Knn {
        let n = groups * size;
        let mut ids = Vec::new();
        let mut sims = Vec::new();
        for i in 0..n {
            let g = i / size;
            let mut row: Vec<(f32, u32)> = vec![(1.0, i as u32)];
            for j in g * size..(g + 1) * size {
                if j != i {
                    row.push((inner + 0.05 * (rng.unit_f64() as f32 - 0.5), j as u32));
                }
            }
            while row.len() < k {
                let j = rng.below(n as u64) as u32;
                if j as usize / size != g && !row.iter().any(|l| l.1 == j) {
                    row.push((outer + 0.05 * (rng.unit_f64() as f32 - 0.5), j));
                }
            }
            row.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            row.truncate(k);
            ids.extend(row.iter().map(|l| l.1));
            sims.extend(row.iter().map(|l| l.0));
        }
        Knn::from_rows(k, ids, sims).unwrap()
    }

    #[test]
    fn valley_between_identities_and_strangers() {
        let mut rng = Rng::new(41);
        for (inner, outer) in [(0.8, 0.3), (0.97, 0.9), (0.5, -0.2)] {
            let knn = grouped(&mut rng, 40, 10, 20, inner, outer);
            let auto = auto_min_sim(&knn, 20).unwrap();
            assert!(auto.min_sim > outer + 0.025 && auto.min_sim < inner - 0.025, "{inner} {outer}: {auto:?}");
            assert_eq!(auto.components, 40, "{auto:?}");
            assert_eq!(auto.merges, 399);
            assert!(auto.valley_ratio < 0.05, "{auto:?}");
        }
    }

    #[test]
    fn same_result_with_one_thread() {
        let mut rng = Rng::new(42);
        let knn = grouped(&mut rng, 300, 7, 12, 0.7, 0.4);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        assert_eq!(one.install(|| auto_min_sim(&knn, 12).unwrap()), auto_min_sim(&knn, 12).unwrap());
    }

    #[test]
    fn few_merges_use_the_largest_gap() {
        let heights = [0.95f32, 0.94, 0.93, 0.5, 0.45];
        let auto = pick(&heights, 6);
        assert!((auto.min_sim - 0.715).abs() < 1e-6, "{auto:?}");
        assert_eq!(auto.components, 3);
        assert_eq!(pick(&[0.7], 2).min_sim, 0.7);
        assert_eq!(
            pick(&[], 1),
            AutoMinSim { min_sim: 1.0, merges: 0, components: 1, bandwidth: 0.0, valley_ratio: 1.0 }
        );
    }

    #[test]
    fn no_valley_keeps_every_link() {
        // All merges at one height, or spread evenly: one hump, no valley.
        let same = vec![0.5f32; 100];
        let even: Vec<f32> = (0..100).map(|i| 0.9 - 0.004 * i as f32).collect();
        for heights in [same, even] {
            let auto = pick(&heights, 101);
            assert!(auto.min_sim <= heights[99], "{auto:?}");
            assert_eq!(auto.components, 1, "{auto:?}");
        }
    }

    /// A table of the `k` most similar rows (self first) under a similarity given for every pair.
    fn dense(n: usize, k: usize, sim: impl Fn(usize, usize) -> f32) -> Knn {
        let (mut ids, mut sims) = (Vec::new(), Vec::new());
        for i in 0..n {
            let mut row: Vec<(f32, u32)> =
                (0..n).map(|j| (if i == j { 1.0 } else { sim(i.min(j), i.max(j)) }, j as u32)).collect();
            row.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1 != i as u32).cmp(&(b.1 != i as u32))).then(a.1.cmp(&b.1)));
            row.truncate(k);
            ids.extend(row.iter().map(|l| l.1));
            sims.extend(row.iter().map(|l| l.0));
        }
        Knn::from_rows(k, ids, sims).unwrap()
    }

    /// A symmetric noise in `[-spread, spread]` for the pair `(i, j)`, from a hash.
    fn jitter(i: usize, j: usize, spread: f32) -> f32 {
        let mut rng = Rng::new((i * 100_003 + j) as u64);
        spread * (2.0 * rng.unit_f64() as f32 - 1.0)
    }

    /// `groups` people of `size` photos: same person at 0.7 ± 0.1, strangers at 0.2 ± 0.05;
    /// in each person, rows `0..dups` are re-encodings of rows `dups..2 dups` (0.99 ± 0.005).
    fn people(groups: usize, size: usize, dups: usize, k: usize) -> Knn {
        dense(groups * size, k, |i, j| {
            let (gi, gj, ri, rj) = (i / size, j / size, i % size, j % size);
            if gi != gj {
                0.2 + jitter(i, j, 0.05)
            } else if ri < dups && rj == ri + dups {
                0.99 + jitter(i, j, 0.005)
            } else {
                0.7 + jitter(i, j, 0.1)
            }
        })
    }

    #[test]
    fn a_near_duplicate_valley_is_skipped_for_the_one_between_people() {
        // 10 people of 40 photos, 8 of them re-encoded: the deepest merge-height valley lies
        // under the near-duplicates, and 60% of the rows have no neighbour above it.
        let knn = people(10, 40, 8, 100);
        let old = auto_min_sim(&knn, 50).unwrap();
        assert!(old.min_sim > 0.85, "issue 9's rule takes the near-duplicate valley: {old:?}");
        let c = choose_min_sim(&knn, 100).unwrap();
        // Between the strangers (<= 0.25) and the people's own merges (>= 0.75).
        assert!(c.min_sim > 0.25 && c.min_sim < 0.75, "{c:?}");
        assert_eq!(c.skipped.len(), 1, "{c:?}");
        assert!(c.skipped[0].min_sim > 0.85 && (c.skipped[0].alone_share - 0.6).abs() < 1e-9, "{c:?}");
        assert!(c.link_valley.is_some() && c.alone_share == 0.0, "{c:?}");
    }

    #[test]
    fn few_people_leave_no_merge_valley_and_the_link_valley_finds_them() {
        // 4 people: 3 merges between them, below the 2% quantile of the merge heights.
        let knn = people(4, 50, 0, 100);
        let old = auto_min_sim(&knn, 50).unwrap();
        assert!(old.components > 4, "issue 9's rule finds a ripple inside the people: {old:?}");
        let c = choose_min_sim(&knn, 100).unwrap();
        assert_eq!(c.chosen_by, ChosenBy::Link, "{c:?}");
        assert!(c.min_sim > 0.25 && c.min_sim < 0.75, "{c:?}");
    }

    #[test]
    fn the_higher_valley_wins() {
        // Many people: both densities have a valley between people and strangers; the
        // threshold is the higher, and is the merge valley here (ORL-like data).
        let knn = people(40, 10, 0, 60);
        let c = choose_min_sim(&knn, 60).unwrap();
        let (m, l) = (c.merge_valley.unwrap(), c.link_valley.unwrap());
        assert_eq!(c.min_sim, m.max(l), "{c:?}");
        assert_eq!(c.chosen_by, if m >= l { ChosenBy::Merge } else { ChosenBy::Link });
        assert!(c.min_sim > 0.25 && c.min_sim < 0.75, "{c:?}");
        assert!(c.skipped.is_empty());
    }

    #[test]
    fn the_silverman_floor_matches_the_prototype_below_2000_values() {
        // bench/quality/valley.py's density() and valleys() on the same 30 values.
        let mut x = vec![
            0.95f32, 0.94, 0.93, 0.92, 0.90, 0.89, 0.88, 0.85, 0.60, 0.55, 0.52, 0.50, 0.48, 0.47, 0.45, 0.40, 0.30,
            0.2, 0.1, 0.05, 0.5, 0.51, 0.49, 0.53, 0.54, 0.61, 0.62, 0.63, 0.64, 0.65,
        ];
        x.sort_by(|a, b| b.total_cmp(a));
        let floored = Density::of(&x, Rounding::HalfEven, true);
        assert!((floored.h - 0.10910086283406578).abs() < 1e-12, "{}", floored.h);
        assert!((Density::of(&x, Rounding::HalfEven, false).h - 0.020_999_999_903_142_45).abs() < 1e-12);
        assert!(floored.valleys(MAX_VALLEY_RATIO).is_empty());
        let dips = floored.valleys(1.0);
        assert_eq!(dips.len(), 1);
        assert!((dips[0].min_sim - 0.7788418730949853).abs() < 1e-9, "{dips:?}");
        // 2,000 values or more: no floor.
        let many: Vec<f32> = (0..2000).map(|i| 0.9 - 0.0001 * i as f32).collect();
        assert_eq!(Density::of(&many, Rounding::HalfEven, true).h, Density::of(&many, Rounding::HalfEven, false).h);
    }

    #[test]
    fn with_no_valley_anywhere_the_deepest_dip_is_taken() {
        // Every similarity spread evenly: neither density has a valley.
        let knn = dense(300, 40, |i, j| 0.9 - 0.8 * ((i * 7 + j * 13) % 1000) as f32 / 1000.0);
        let c = choose_min_sim(&knn, 40).unwrap();
        assert_eq!((c.chosen_by, c.merge_valley, c.link_valley), (ChosenBy::Fallback, None, None), "{c:?}");
    }

    #[test]
    fn the_link_sample_is_a_fixed_stride_of_all_links() {
        let knn = people(5, 20, 0, 30);
        let all: Vec<f32> = (0..knn.n())
            .flat_map(|i| {
                let (ids, sims) = knn.row(i);
                ids.iter().zip(sims).filter(move |(&j, _)| j as usize != i).map(|(_, &s)| s).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(link_sample(&knn, 30, all.len()), all);
        for cap in [1000, 999, 7, 1] {
            let stride = all.len().div_ceil(cap);
            let expected: Vec<f32> = all.iter().copied().step_by(stride).collect();
            assert_eq!(link_sample(&knn, 30, cap), expected, "cap {cap}");
        }
    }

    #[test]
    fn bad_k_is_an_error() {
        let knn = Knn::from_rows(2, vec![0, 1, 1, 0], vec![1.0, 0.5, 1.0, 0.5]).unwrap();
        for k in [0, 3] {
            assert!(matches!(
                auto_min_sim(&knn, k),
                Err(Error::InvalidParameter { param: crate::error::Param::K, .. })
            ));
        }
        assert_eq!(auto_min_sim(&knn, 2).unwrap().min_sim, 0.5);
        assert_eq!(auto_min_sim(&knn, 1).unwrap().merges, 0);
    }
}
