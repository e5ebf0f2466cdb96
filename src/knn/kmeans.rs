//! The self-join's coarse quantizer: spherical k-means of a bounded, evenly strided sample, whose
//! last iteration is the assignment of every row.
//!
//! Each iteration assigns every sample row to its most similar centroid and moves each centroid
//! to the normalised sum of its rows. The assignment of all `n` rows that the join needs is the
//! last iteration, run on all rows instead of the sample: its lists *are* the inverted lists,
//! the centroids it leaves are their means, and it also gives each row its second most similar
//! centroid, which the join uses for rows on a list's edge. So the assignment costs no pass of
//! its own, and the centroids the probe sets are chosen by describe the lists they stand for.
//!
//! # Assignment
//!
//! Below [`GROUPED_MIN_LISTS`] lists a row is compared with every centroid (blocks of rows
//! against all centroids, one [`inner_products`] call each, then an arg-max per row): `2 d
//! nlist` flops per row. With more lists that would cost more than the join itself (at 584,000
//! rows and 4,096 lists, 1.2e12 flops for the last iteration alone), so the centroids are
//! grouped by a small k-means of their own into about `sqrt(nlist)` groups, each row is
//! compared with the groups' centroids and then with the centroids of its [`NEAR_GROUPS`]
//! nearest groups only: about `2 d 5 sqrt(nlist)` flops per row. A row whose most similar
//! centroid lies in none of those groups gets a near one instead; measured on the synthetic
//! sets, this costs nothing in the recall of the links the graph keeps, which the join's use of
//! each row's second list makes up for (docs/scale.md).
//!
//! Deterministic: the initial centroids are sample rows drawn with a fixed seed, the blocks of
//! rows have a fixed size whatever the thread count (one BLAS thread per block), ties go to the
//! lower centroid, and each centroid sums its rows in row order.

use rayon::prelude::*;

use super::gemm::inner_products;
use crate::rng::Rng;

/// Rows per [`inner_products`] call of an assignment: large enough for `sgemm` to run at its
/// speed, small enough that one block's products stay in the caches of one core for the
/// arg-max.
const ASSIGN_BLOCK_ROWS: usize = 256;

/// The seed of the draw of the initial centroids (faiss's k-means default, 1234).
const INIT_SEED: u64 = 1234;

/// Lists from which rows are compared with the centroids of their nearest groups only.
pub const GROUPED_MIN_LISTS: usize = 256;

/// Groups of centroids each row is compared with, when the centroids are grouped.
const NEAR_GROUPS: usize = 4;

/// k-means iterations that group the centroids.
const GROUP_ITERATIONS: usize = 4;

/// The result of [`train_and_assign`].
pub(super) struct Quantizer {
    /// `nlist` unit rows of `d` values: the normalised mean of each list's rows (a list left
    /// empty keeps its last trained centroid).
    pub(super) centroids: Vec<f32>,
    /// The list of every row, `0..nlist`.
    pub(super) list_of: Vec<u32>,
    /// The list of every row's second most similar centroid (its own when `nlist` is 1).
    pub(super) second_of: Vec<u32>,
    /// Floating-point operations of the products (`2 d` per row-centroid pair).
    pub(super) flops: f64,
}

/// Trains `nlist` centroids on `sample` (rows of `d` values) for `iterations - 1` iterations,
/// then runs the last one on all rows of `data`: the lists of that assignment and their means.
///
/// `nlist` must be at least 1 and at most the sample's rows; `iterations` at least 1.
pub(super) fn train_and_assign(data: &[f32], sample: &[f32], d: usize, nlist: usize, iterations: usize) -> Quantizer {
    debug_assert!(nlist >= 1 && nlist <= sample.len() / d && iterations >= 1);
    let groups = centroid_groups(nlist);
    let assign_any = |rows: &[f32], centroids: &[f32], labels: &mut [u32], seconds: &mut [u32]| {
        if groups == 1 {
            assign(rows, centroids, d, labels, Some(seconds))
        } else {
            assign_near(rows, centroids, d, groups, labels, seconds)
        }
    };
    let mut centroids = initial_centroids(sample, d, nlist, INIT_SEED);
    let mut flops = 0.0;
    let m = sample.len() / d;
    let (mut labels, mut seconds) = (vec![0u32; m], vec![0u32; m]);
    for _ in 1..iterations {
        flops += assign_any(sample, &centroids, &mut labels, &mut seconds);
        update(sample, &labels, d, &mut centroids, true);
    }
    drop((labels, seconds));
    let n = data.len() / d;
    let (mut list_of, mut second_of) = (vec![0u32; n], vec![0u32; n]);
    flops += assign_any(data, &centroids, &mut list_of, &mut second_of);
    update(data, &list_of, d, &mut centroids, false);
    Quantizer { centroids, list_of, second_of, flops }
}

/// The number of groups of `nlist` centroids: the power of two nearest `sqrt(nlist)` (so that
/// groups and centroids per group are about as many), or 1 (no groups) below
/// [`GROUPED_MIN_LISTS`].
fn centroid_groups(nlist: usize) -> usize {
    if nlist < GROUPED_MIN_LISTS {
        return 1;
    }
    1 << ((nlist as f64).log2() / 2.0).round() as u32
}

/// A row's two most similar centroids among some: `(sim, centroid, sim, centroid)`, the second
/// `(-inf, _)` when there was one centroid.
type BestTwo = (f32, u32, f32, u32);

/// Writes each row's most similar centroid and the next into `labels` and `seconds`, searching
/// only the centroids near the row: the centroids are grouped by a small k-means of their own
/// (`groups` groups), each row is compared with the groups' centroids, and then with the
/// centroids of its [`NEAR_GROUPS`] nearest groups. Returns the flops spent.
fn assign_near(
    rows: &[f32],
    centroids: &[f32],
    d: usize,
    groups: usize,
    labels: &mut [u32],
    seconds: &mut [u32],
) -> f64 {
    let nlist = centroids.len() / d;
    let near = NEAR_GROUPS.min(groups);
    let (tops, mut flops) = kmeans(centroids, d, groups, GROUP_ITERATIONS, INIT_SEED);
    let mut group_of_centroid = vec![0u32; nlist];
    flops += assign(centroids, &tops, d, &mut group_of_centroid, None);
    let (centroid_offsets, centroids_of_group) = crate::buckets::group_by_key(&group_of_centroid, groups);
    let n = rows.len() / d;
    // Each row's `near` nearest groups: entry `i * near + p`.
    let mut row_groups = vec![0u32; n * near];
    rows.par_chunks(ASSIGN_BLOCK_ROWS * d).zip(row_groups.par_chunks_mut(ASSIGN_BLOCK_ROWS * near)).for_each_init(
        || (Vec::new(), Vec::new()),
        |(products, order): &mut (Vec<f32>, Vec<u32>), (block, out)| {
            let m = block.len() / d;
            products.resize(m * groups, 0.0);
            inner_products(block, &tops, d, products);
            for (sims, out) in products.chunks_exact(groups).zip(out.chunks_exact_mut(near)) {
                order.clear();
                order.extend(0..groups as u32);
                let nearer = |a: &u32, b: &u32| sims[*b as usize].total_cmp(&sims[*a as usize]).then(a.cmp(b));
                if near < groups {
                    order.select_nth_unstable_by(near - 1, nearer);
                }
                out.copy_from_slice(&order[..near]);
            }
        },
    );
    flops += 2.0 * (n * groups * d) as f64;
    // Entries by group; each entry's best two centroids of that group, then the best two of
    // each row's entries.
    let (offsets, entries) = crate::buckets::group_by_key(&row_groups, groups);
    let found: Vec<(Vec<BestTwo>, f64)> = (0..groups)
        .into_par_iter()
        .map(|g| {
            let group_entries = &entries[offsets[g]..offsets[g + 1]];
            let lists = &centroids_of_group[centroid_offsets[g]..centroid_offsets[g + 1]];
            if group_entries.is_empty() || lists.is_empty() {
                return (vec![(f32::NEG_INFINITY, 0, f32::NEG_INFINITY, 0); group_entries.len()], 0.0);
            }
            let mut candidates = Vec::with_capacity(lists.len() * d);
            for &c in lists {
                candidates.extend_from_slice(&centroids[c as usize * d..(c as usize + 1) * d]);
            }
            let (mut block, mut products) = (Vec::new(), Vec::new());
            let mut best = Vec::with_capacity(group_entries.len());
            for chunk in group_entries.chunks(ASSIGN_BLOCK_ROWS) {
                block.clear();
                for &e in chunk {
                    let i = e as usize / near;
                    block.extend_from_slice(&rows[i * d..(i + 1) * d]);
                }
                products.resize(chunk.len() * lists.len(), 0.0);
                inner_products(&block, &candidates, d, &mut products);
                for sims in products.chunks_exact(lists.len()) {
                    let (first, second) = best_two(sims);
                    let second_sim = if second == first { f32::NEG_INFINITY } else { sims[second] };
                    best.push((sims[first], lists[first], second_sim, lists[second]));
                }
            }
            (best, 2.0 * (group_entries.len() * lists.len() * d) as f64)
        })
        .collect();
    let mut per_entry = vec![(f32::NEG_INFINITY, 0u32, f32::NEG_INFINITY, 0u32); n * near];
    for (g, (best, f)) in found.into_iter().enumerate() {
        flops += f;
        for (&e, b) in entries[offsets[g]..offsets[g + 1]].iter().zip(best) {
            per_entry[e as usize] = b;
        }
    }
    labels.par_iter_mut().zip(seconds.par_iter_mut()).zip(per_entry.par_chunks_exact(near)).for_each(
        |((label, second), entries)| {
            // The best two of the entries' candidates (sim desc, centroid asc).
            let better = |a: (f32, u32), b: (f32, u32)| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
            let (mut first, mut next) = ((f32::NEG_INFINITY, u32::MAX), (f32::NEG_INFINITY, u32::MAX));
            for &(s1, c1, s2, c2) in entries {
                for cand in [(s1, c1), (s2, c2)] {
                    if cand.0 == f32::NEG_INFINITY {
                        continue;
                    }
                    if better(cand, first) {
                        next = first;
                        first = cand;
                    } else if better(cand, next) {
                        next = cand;
                    }
                }
            }
            *label = first.1;
            *second = if next.1 == u32::MAX { first.1 } else { next.1 };
        },
    );
    flops
}

/// Spherical k-means of `sample` into `k` centroids: `k` sample rows drawn with `seed`, then
/// `iterations` rounds of assignment and update. Returns the centroids and the flops spent.
fn kmeans(sample: &[f32], d: usize, k: usize, iterations: usize, seed: u64) -> (Vec<f32>, f64) {
    let mut centroids = initial_centroids(sample, d, k, seed);
    let mut labels = vec![0u32; sample.len() / d];
    let mut flops = 0.0;
    for _ in 0..iterations {
        flops += assign(sample, &centroids, d, &mut labels, None);
        update(sample, &labels, d, &mut centroids, true);
    }
    (centroids, flops)
}

/// `nlist` distinct rows of `sample`, drawn uniformly with `seed` (Floyd's algorithm), in draw
/// order.
fn initial_centroids(sample: &[f32], d: usize, nlist: usize, seed: u64) -> Vec<f32> {
    let m = sample.len() / d;
    let mut rng = Rng::new(seed);
    let mut chosen = std::collections::HashSet::with_capacity(nlist);
    let mut order = Vec::with_capacity(nlist);
    for j in m - nlist..m {
        let t = rng.below(j as u64 + 1) as usize;
        let pick = if chosen.insert(t) { t } else { j };
        chosen.insert(pick);
        order.push(pick);
    }
    order.iter().flat_map(|&i| sample[i * d..(i + 1) * d].iter().copied()).collect()
}

/// Writes the most similar centroid of each row of `rows` into `labels` (ties: the lower
/// centroid), and the second most similar into `seconds` when given; returns the flops spent.
pub(super) fn assign(
    rows: &[f32],
    centroids: &[f32],
    d: usize,
    labels: &mut [u32],
    seconds: Option<&mut [u32]>,
) -> f64 {
    let nlist = centroids.len() / d;
    let mut none = Vec::new();
    let (seconds, want_second) = match seconds {
        Some(s) => (s, true),
        None => {
            none.resize(labels.len(), 0);
            (&mut none[..], false)
        }
    };
    rows.par_chunks(ASSIGN_BLOCK_ROWS * d)
        .zip(labels.par_chunks_mut(ASSIGN_BLOCK_ROWS))
        .zip(seconds.par_chunks_mut(ASSIGN_BLOCK_ROWS))
        .for_each_init(Vec::new, |products, ((block, block_labels), block_seconds)| {
            products.resize(block_labels.len() * nlist, 0.0);
            inner_products(block, centroids, d, products);
            for ((label, second), sims) in block_labels.iter_mut().zip(block_seconds).zip(products.chunks_exact(nlist))
            {
                let (best, next) = if want_second { best_two(sims) } else { (arg_max(sims), 0) };
                *label = best as u32;
                *second = next as u32;
            }
        });
    2.0 * (rows.len() / d) as f64 * nlist as f64 * d as f64
}

/// The position of the largest value (the first of equal ones).
fn arg_max(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate().skip(1) {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// The positions of the largest value and of the next (the first of equal ones; the same
/// position twice for a single value).
fn best_two(values: &[f32]) -> (usize, usize) {
    let (mut best, mut next) = (0, usize::MAX);
    for (i, &v) in values.iter().enumerate().skip(1) {
        if v > values[best] {
            next = best;
            best = i;
        } else if next == usize::MAX || v > values[next] {
            next = i;
        }
    }
    (best, if next == usize::MAX { best } else { next })
}

/// Moves each centroid to the normalised sum of its rows (summed in row order, in `f64`).
/// A centroid without rows is, when `split_empty`, made a slightly perturbed copy of the
/// centroid of the largest list, which keeps the other half of that list's rows (faiss's
/// rule); else it stays where it is.
fn update(rows: &[f32], labels: &[u32], d: usize, centroids: &mut [f32], split_empty: bool) {
    let nlist = centroids.len() / d;
    let (offsets, members) = crate::buckets::group_by_key(labels, nlist);
    centroids.par_chunks_exact_mut(d).enumerate().for_each_init(
        || vec![0f64; d],
        |sum, (c, centroid)| {
            let list = &members[offsets[c]..offsets[c + 1]];
            if list.is_empty() {
                return;
            }
            sum.fill(0.0);
            for &i in list {
                for (s, &x) in sum.iter_mut().zip(&rows[i as usize * d..(i as usize + 1) * d]) {
                    *s += f64::from(x);
                }
            }
            normalise(sum, centroid);
        },
    );
    if !split_empty {
        return;
    }
    let mut sizes: Vec<usize> = (0..nlist).map(|c| offsets[c + 1] - offsets[c]).collect();
    for empty in 0..nlist {
        if sizes[empty] > 0 {
            continue;
        }
        // The largest list, the first of equal ones.
        let big = (0..nlist).fold(0, |best, c| if sizes[c] > sizes[best] { c } else { best });
        if sizes[big] < 2 {
            break; // Fewer rows than lists: nothing left to split.
        }
        const EPS: f64 = 1.0 / 1024.0;
        let source: Vec<f64> = centroids[big * d..(big + 1) * d].iter().map(|&x| f64::from(x)).collect();
        let nudged = |sign: f64| -> Vec<f64> {
            source
                .iter()
                .enumerate()
                .map(|(j, &x)| x * if j % 2 == 0 { 1.0 + sign * EPS } else { 1.0 - sign * EPS })
                .collect()
        };
        normalise(&nudged(1.0), &mut centroids[empty * d..(empty + 1) * d]);
        normalise(&nudged(-1.0), &mut centroids[big * d..(big + 1) * d]);
        sizes[empty] = sizes[big] / 2;
        sizes[big] -= sizes[empty];
    }
}

/// `out = v / |v|` (unchanged when `v` is zero).
fn normalise(v: &[f64], out: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        for (o, &x) in out.iter_mut().zip(v) {
            *o = (x / norm) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::testing::random_features;

    #[test]
    fn separated_groups_get_a_list_each() {
        // Four tight groups around the axes of 8 dimensions: k-means with 4 lists finds them.
        let d = 8;
        let f = random_features(400, d, 21);
        let mut data = Vec::new();
        for i in 0..400 {
            let mut row: Vec<f32> = f.row(i).iter().map(|x| 0.05 * x).collect();
            row[i % 4] += 1.0;
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            data.extend(row.iter().map(|x| x / norm));
        }
        let q = train_and_assign(&data, &data[..200 * d], d, 4, 5);
        for i in 0..400 {
            assert_eq!(q.list_of[i], q.list_of[i % 4], "row {i}");
        }
        let lists: std::collections::BTreeSet<u32> = q.list_of[..4].iter().copied().collect();
        assert_eq!(lists.len(), 4);
        for c in 0..4 {
            let norm: f32 = q.centroids[c * d..(c + 1) * d].iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-5);
        }
        assert_eq!(q.flops, 2.0 * (4.0 * 200.0 + 400.0) * 4.0 * d as f64);
    }

    #[test]
    fn is_the_same_on_one_and_two_threads() {
        let f = random_features(3000, 16, 22);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| train_and_assign(f.as_slice(), &f.as_slice()[..1000 * 16], 16, 40, 4))
        };
        let (one, two) = (run(1), run(2));
        assert_eq!((one.centroids, one.list_of), (two.centroids, two.list_of));
    }

    #[test]
    fn grouped_assignment_finds_the_most_similar_centroid_of_nearly_every_row() {
        // 300 lists: the centroids are grouped (16 groups) and rows compared with 4 of them.
        let d = 16;
        let f = random_features(12_000, d, 23);
        let data = f.as_slice();
        assert_eq!(centroid_groups(300), 16);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| train_and_assign(data, &data[..9000 * d], d, 300, 3))
        };
        let q = run(1);
        let two = run(2);
        assert_eq!((&q.centroids, &q.list_of, &q.second_of), (&two.centroids, &two.list_of, &two.second_of));
        // Against the centroids of the last assignment (before the last update): retrain to
        // get them, then compare every row with every centroid.
        let mut best = 0;
        for i in 0..12_000 {
            let row = &data[i * d..(i + 1) * d];
            let sims: Vec<f32> =
                (0..300).map(|c| crate::knn::table::dot(row, &q.centroids[c * d..(c + 1) * d])).collect();
            let own = sims[q.list_of[i] as usize];
            best += usize::from(sims.iter().filter(|&&s| s > own).count() <= 2);
            assert_ne!(q.list_of[i], q.second_of[i], "row {i}");
        }
        // Among its three nearest means (the means moved after the assignment).
        assert!(best > 11_000, "{best} of 12000");
    }

    #[test]
    fn empty_lists_are_split_from_the_largest() {
        // Ten copies of two points, four lists: the initial centroids repeat, so some lists are
        // empty after the first assignment and are split off the largest.
        let d = 4;
        let mut data = Vec::new();
        for i in 0..20 {
            data.extend_from_slice(if i % 2 == 0 { &[1.0, 0.0, 0.0, 0.0] } else { &[0.0, 1.0, 0.0, 0.0] });
        }
        let q = train_and_assign(&data, &data, d, 4, 3);
        assert!(q.list_of.iter().all(|&l| l < 4));
        assert!(q.centroids.iter().all(|x| x.is_finite()));
        assert_ne!(q.list_of[0], q.list_of[1]);
        assert_eq!(arg_max(&[0.5, 2.0, 2.0, 1.0]), 1);
        assert_eq!(best_two(&[0.5, 2.0, 2.0, 1.0]), (1, 2));
        assert_eq!(best_two(&[3.0, 2.0, 0.0, 2.5]), (0, 3));
        assert_eq!(best_two(&[0.0, 1.0, 2.0, 3.0]), (3, 2));
        assert_eq!(best_two(&[7.0]), (0, 0));
    }
}
