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
//! `docs/quality.md` for the figures and their pairwise F.
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
use crate::knn::{Knn, NONE};

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
    P: Copy + Send + Sync + TryFrom<usize> + Into<u64>,
    <P as TryFrom<usize>>::Error: std::fmt::Debug,
{
    let slot = |p: P| -> usize {
        let p: u64 = p.into();
        p as usize
    };
    let mut links: Vec<P> = (0..knn.n())
        .into_par_iter()
        .flat_map_iter(|i| {
            let (ids, _) = knn.row(i);
            ids[..k]
                .iter()
                .enumerate()
                .filter(move |(_, &j)| j != NONE && j as usize != i)
                .map(move |(s, _)| P::try_from(i * knn.k() + s).expect("the caller checked that positions fit"))
        })
        .collect();
    // Descending similarity, ties by position: a total order, so the result is deterministic.
    let (ids, sims) = (knn.ids(), knn.sims());
    links.par_sort_unstable_by(|&a, &b| sims[slot(b)].total_cmp(&sims[slot(a)]).then(slot(a).cmp(&slot(b))));
    let mut parent: Vec<u32> = (0..knn.n() as u32).collect();
    let mut heights = Vec::new();
    for &p in &links {
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
    // Ascending copy for quantiles.
    let ascending: Vec<f64> = heights.iter().rev().map(|&h| f64::from(h)).collect();
    let quantile = |q: f64| ascending[((ascending.len() - 1) as f64 * q).round() as usize];
    let (q_lo, q_hi) = (quantile(SPREAD_QUANTILES.0), quantile(SPREAD_QUANTILES.1));
    let (first, last) = (ascending[0], ascending[ascending.len() - 1]);
    // A floor keeps the kernel finite when (almost) every merge has the same height.
    let h = ((q_hi - q_lo) / BANDWIDTH_DIVISOR).max((last - first) / GRID_POINTS as f64).max(1e-7);
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
    let density: Vec<f64> = (0..GRID_POINTS)
        .into_par_iter()
        .map(|g| {
            let (from, to) = (g.saturating_sub(reach), (g + reach).min(GRID_POINTS - 1));
            (from..=to).map(|b| bins[b] * kernel[b.abs_diff(g)]).sum()
        })
        .collect();
    // Prominence of each point of the searched range as a valley: the lower of the highest
    // densities on either side within the range.
    let (from, to) = (((q_lo - lo) / step).ceil() as usize, ((q_hi - lo) / step).floor() as usize);
    let mut above = vec![0f64; GRID_POINTS];
    let mut running = 0f64;
    for g in (from..=to).rev() {
        running = running.max(density[g]);
        above[g] = running;
    }
    // The lowest point wins a tie, so with no valley at all (one hump) every link is kept.
    let mut best = (f64::NEG_INFINITY, from, 1.0f64);
    running = 0.0;
    for g in from..=to {
        running = running.max(density[g]);
        let sides = running.min(above[g]);
        let depth = sides - density[g];
        if depth > best.0 {
            best = (depth, g, if sides > 0.0 { density[g] / sides } else { 1.0 });
        }
    }
    if best.2 > MAX_VALLEY_RATIO {
        // No valley: keep every link.
        best = (0.0, 0, 1.0);
    }
    let min_sim = (lo + best.1 as f64 * step) as f32;
    AutoMinSim { min_sim, merges, components: components_at(min_sim), bandwidth: h, valley_ratio: best.2 }
}

#[cfg(test)]
mod tests {
    use super::*;
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
