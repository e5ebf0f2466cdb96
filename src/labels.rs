//! Cluster labels from Infomap's modules, what becomes of rows left alone, and cluster sizes.
//!
//! Clusters are numbered `0..` by decreasing size, ties by smallest member row
//! ([`number_by_size`]). The seed makes every row without a kept out-link a cluster of its own,
//! whatever Infomap did with it ([`Lonely::Own`]). Two more rules:
//!
//! - [`Lonely::Infomap`] keeps Infomap's module for every row. Under directed flow a row whose
//!   only links point *into* a module can sit in it.
//! - [`Lonely::Attach`] starts from the seed's labels and moves every row that ends up alone in
//!   its cluster but has kept out-links into the cluster of its strongest out-link's target.
//!   Under directed flow, Infomap gives a row that no other row links to zero flow: nothing is
//!   gained by placing it anywhere, so it stays a module of its own even though it points
//!   firmly at one cluster. Attaching follows that pointer. Chains (a lonely row pointing at
//!   another) are followed to their end, so no cluster is split and no two are merged: each
//!   lonely row has one pointer, and a chain ends in one cluster or closes on itself (a few
//!   lonely rows pointing at each other become one cluster).
//! - [`Lonely::Nearest`] (issue 17's default) is the seed's rule here; after the merge step
//!   below, [`attach_nearest`] moves a row alone in its cluster to its nearest row's cluster
//!   when that row is close to the threshold and clearly nearer than the second nearest.
//!
//! And one step over whole clusters, [`merge_clusters`] (issue 17's default): Infomap cuts a
//! person whose photos come in distinct sessions into groups of sessions, whose rows still
//! link across; two clusters whose rows mostly link into each other are joined.

use crate::config::Lonely;
use crate::graph::Graph;
use crate::infomap::Partition;

/// What the label steps read of a graph: which rows kept out-links, each row's strongest, and
/// the targets of its links. [`Graph`] has it; so does any network kept row by row (a saved
/// clustering).
pub trait OutLinks {
    /// Number of rows.
    fn n(&self) -> usize;
    /// Whether row `i` kept at least one out-link.
    fn has_out_links(&self, i: usize) -> bool;
    /// The target of row `i`'s strongest out-link (its first, in k-NN order), if any.
    fn strongest_target(&self, i: usize) -> Option<u32>;
    /// Calls `visit` with the target of each of row `i`'s out-links, in k-NN order.
    fn for_each_target(&self, i: usize, visit: impl FnMut(u32));
}

impl OutLinks for Graph {
    fn n(&self) -> usize {
        Graph::n(self)
    }

    fn has_out_links(&self, i: usize) -> bool {
        Graph::has_out_links(self, i)
    }

    fn strongest_target(&self, i: usize) -> Option<u32> {
        self.out_links(i).0.first().copied()
    }

    fn for_each_target(&self, i: usize, visit: impl FnMut(u32)) {
        self.out_links(i).0.iter().copied().for_each(visit);
    }
}

/// Cluster labels, numbered `0..` by decreasing cluster size (ties by smallest member row).
///
/// # Complexity
///
/// `O(n α(n))` plus the numbering's sort of the clusters.
pub fn assign_labels(partition: &Partition, graph: &impl OutLinks, lonely: Lonely) -> Vec<u32> {
    let n = graph.n();
    let modules = partition.num_modules as u32;
    let mut next_own = modules;
    let mut own = |_| {
        next_own += 1;
        next_own - 1
    };
    let base: Vec<u32> = match lonely {
        Lonely::Infomap => partition.modules.clone(),
        Lonely::Own | Lonely::Attach | Lonely::Nearest => {
            (0..n).map(|i| if graph.has_out_links(i) { partition.modules[i] } else { own(i) }).collect()
        }
    };
    if lonely != Lonely::Attach {
        return number_by_size(&base);
    }
    let count = base.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let mut size = vec![0u32; count];
    base.iter().for_each(|&c| size[c as usize] += 1);
    // Union-find over rows: a lonely row with out-links joins its strongest target.
    let mut parent: Vec<u32> = (0..n as u32).collect();
    for i in 0..n {
        if size[base[i] as usize] == 1 {
            if let Some(target) = graph.strongest_target(i) {
                union(&mut parent, i as u32, target);
            }
        }
    }
    // Each set holds at most one non-lonely row's cluster (see the module docs): label a set by
    // that cluster, or by its root's own cluster.
    let mut set_cluster = vec![u32::MAX; n];
    for i in 0..n {
        if size[base[i] as usize] > 1 {
            let root = find(&mut parent, i as u32) as usize;
            set_cluster[root] = base[i];
        }
    }
    let labels: Vec<u32> = (0..n)
        .map(|i| {
            let root = find(&mut parent, i as u32) as usize;
            if set_cluster[root] != u32::MAX {
                set_cluster[root]
            } else {
                base[root]
            }
        })
        .collect();
    number_by_size(&labels)
}

/// Joins clusters `A != B` (each of at least 2 rows) when at least `min_share` of `A`'s rows have
/// a kept out-link into `B` and at least `min_share` of `B`'s rows one into `A`; every such
/// pair of one round at once (union-find), rounds repeated until no pair qualifies (a merged
/// cluster can qualify anew). Returns the labels, numbered by size, and the number of merges.
///
/// `labels` are dense (`0..`), one per row of `graph` (a [`Graph`], or a saved clustering's
/// network).
///
/// # Complexity
///
/// Per round, `O(L)` over the graph's links plus a sort of the distinct (row, other cluster)
/// pairs; rounds are few (1-3 on the data measured).
pub fn merge_clusters(labels: &[u32], graph: &impl OutLinks, min_share: f64) -> (Vec<u32>, usize) {
    let mut labels = number_by_size(labels);
    let mut merges = 0;
    loop {
        let (next, merged) = merge_round(&labels, graph, min_share);
        if merged == 0 {
            return (labels, merges);
        }
        merges += merged;
        labels = next;
    }
}

/// One round of [`merge_clusters`].
fn merge_round(labels: &[u32], graph: &impl OutLinks, min_share: f64) -> (Vec<u32>, usize) {
    let sizes = cluster_sizes(labels);
    // (A, B) once per row of A with a link into B.
    let mut pairs: Vec<u64> = Vec::new();
    let mut targets: Vec<u32> = Vec::new();
    for (i, &a) in labels.iter().enumerate() {
        if sizes[a as usize] < 2 {
            continue;
        }
        targets.clear();
        graph.for_each_target(i, |j| {
            let b = labels[j as usize];
            if b != a && sizes[b as usize] >= 2 {
                targets.push(b);
            }
        });
        targets.sort_unstable();
        targets.dedup();
        pairs.extend(targets.iter().map(|&b| (u64::from(a) << 32) | u64::from(b)));
    }
    pairs.sort_unstable();
    let mut counts: Vec<(u64, u32)> = Vec::new();
    for p in pairs {
        match counts.last_mut() {
            Some(last) if last.0 == p => last.1 += 1,
            _ => counts.push((p, 1)),
        }
    }
    let share = |a: u32, rows: u32| f64::from(rows) / sizes[a as usize] as f64;
    // A share exactly at min_share counts, whatever the rounding of min_share (2/3 in f32).
    let enough = |s: f64| s >= min_share - 1e-6;
    let mut parent: Vec<u32> = (0..sizes.len() as u32).collect();
    let mut merged = 0;
    for &(p, rows) in &counts {
        let (a, b) = ((p >> 32) as u32, p as u32);
        if a > b || !enough(share(a, rows)) {
            continue;
        }
        let back = (u64::from(b) << 32) | u64::from(a);
        let Ok(at) = counts.binary_search_by_key(&back, |c| c.0) else { continue };
        if enough(share(b, counts[at].1)) && find(&mut parent, a) != find(&mut parent, b) {
            union(&mut parent, a, b);
            merged += 1;
        }
    }
    let joined: Vec<u32> = labels.iter().map(|&c| find(&mut parent, c)).collect();
    (number_by_size(&joined), merged)
}

/// Moves every row alone in its cluster to its nearest row's cluster when that row's
/// similarity is at least `min_sim` and exceeds the second nearest's by at least `min_gap`
/// (issue 17's attach: `min_sim = t - 2h`, `min_gap = h`). `nearest[i]` is row `i`'s nearest
/// other row, its similarity and the second nearest's ([`crate::threshold::nearest_two`]).
/// Chains of lonely rows are followed as [`Lonely::Attach`] does. Returns the labels, numbered
/// by size, and the number of rows that qualified.
///
/// # Complexity
///
/// `O(n α(n))` plus the numbering.
pub fn attach_nearest(labels: &[u32], nearest: &[(u32, f32, f32)], min_sim: f64, min_gap: f64) -> (Vec<u32>, usize) {
    let n = labels.len();
    let sizes = cluster_sizes(labels);
    let lonely = |i: usize| sizes[labels[i] as usize] == 1;
    let mut parent: Vec<u32> = (0..n as u32).collect();
    let mut attached = 0;
    for (i, &(j, s1, s2)) in nearest.iter().enumerate() {
        // In f32, as the prototype compares (thresholds rounded to the nearest f32).
        if lonely(i) && j != crate::knn::NONE && s1 >= min_sim as f32 && s1 - s2 >= min_gap as f32 {
            attached += 1;
            union(&mut parent, i as u32, j);
        }
    }
    if attached == 0 {
        return (labels.to_vec(), 0);
    }
    // A set holds at most one non-lonely row (only lonely rows point): it takes that row's
    // cluster, else its root's own.
    let mut set_cluster = vec![u32::MAX; n];
    for (i, &label) in labels.iter().enumerate() {
        if !lonely(i) {
            let root = find(&mut parent, i as u32) as usize;
            if set_cluster[root] == u32::MAX {
                set_cluster[root] = label;
            }
        }
    }
    let out: Vec<u32> = (0..n)
        .map(|i| {
            let root = find(&mut parent, i as u32) as usize;
            if set_cluster[root] != u32::MAX {
                set_cluster[root]
            } else {
                labels[root]
            }
        })
        .collect();
    (number_by_size(&out), attached)
}

/// Renumbers arbitrary cluster ids `0..` by decreasing cluster size, ties by smallest member.
pub fn number_by_size(assignment: &[u32]) -> Vec<u32> {
    let count = assignment.iter().map(|&a| a as usize + 1).max().unwrap_or(0);
    let mut size = vec![0u32; count];
    let mut first = vec![u32::MAX; count];
    for (i, &a) in assignment.iter().enumerate() {
        size[a as usize] += 1;
        first[a as usize] = first[a as usize].min(i as u32);
    }
    let mut order: Vec<u32> = (0..count as u32).filter(|&c| size[c as usize] > 0).collect();
    order.sort_unstable_by_key(|&c| (std::cmp::Reverse(size[c as usize]), first[c as usize]));
    let mut rank = vec![0u32; count];
    for (r, &c) in order.iter().enumerate() {
        rank[c as usize] = r as u32;
    }
    assignment.iter().map(|&a| rank[a as usize]).collect()
}

/// The size of every cluster of dense labels `0..`: `sizes[c]` rows carry label `c`.
pub fn cluster_sizes(labels: &[u32]) -> Vec<usize> {
    let count = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut sizes = vec![0usize; count];
    labels.iter().for_each(|&l| sizes[l as usize] += 1);
    sizes
}

/// Counts of a clustering with dense labels numbered by decreasing size ([`number_by_size`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterCounts {
    /// Clusters.
    pub clusters: usize,
    /// Clusters of one row.
    pub singletons: usize,
    /// Rows in the largest cluster.
    pub largest: usize,
}

impl ClusterCounts {
    /// The counts of `labels` (numbered by decreasing size, so cluster 0 is the largest).
    pub fn of(labels: &[u32]) -> Self {
        let sizes = cluster_sizes(labels);
        ClusterCounts {
            clusters: sizes.len(),
            singletons: sizes.iter().filter(|&&s| s == 1).count(),
            largest: sizes.first().copied().unwrap_or(0),
        }
    }
}

fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let up = parent[parent[x as usize] as usize];
        parent[x as usize] = up;
        x = up;
    }
    x
}

fn union(parent: &mut [u32], a: u32, b: u32) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra as usize] = rb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infomap::{Infomap, InfomapConfig};

    fn graph(n: usize, links: &[(u32, u32, f32)]) -> Graph {
        let mut offsets = vec![0usize; n + 1];
        let mut sorted = links.to_vec();
        sorted.sort_by_key(|l| l.0);
        for &(s, _, _) in &sorted {
            offsets[s as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let (targets, weights) = (sorted.iter().map(|l| l.1).collect(), sorted.iter().map(|l| l.2).collect());
        Graph::from_csr(offsets, targets, weights).unwrap()
    }

    /// The seed's rule written naively: a row without out-links is its own cluster, the others
    /// take their module; numbered by size.
    fn seed_labels(partition: &Partition, graph: &Graph) -> Vec<u32> {
        let mut next_own = partition.num_modules as u32;
        let assignment: Vec<u32> = (0..graph.n())
            .map(|i| {
                if graph.has_out_links(i) {
                    partition.modules[i]
                } else {
                    next_own += 1;
                    next_own - 1
                }
            })
            .collect();
        number_by_size(&assignment)
    }

    #[test]
    fn clusters_are_numbered_by_size_then_first_row() {
        assert_eq!(number_by_size(&[7, 3, 3, 9, 7, 7, 9]), vec![0, 1, 1, 2, 0, 0, 2]);
        assert_eq!(number_by_size(&[5, 4]), vec![0, 1]);
        assert_eq!(number_by_size(&[]), Vec::<u32>::new());
        assert_eq!(cluster_sizes(&[0, 1, 0, 2, 0]), [3, 1, 1]);
        assert_eq!(ClusterCounts::of(&[0, 1, 0, 2, 0]), ClusterCounts { clusters: 3, singletons: 2, largest: 3 });
        assert_eq!(ClusterCounts::of(&[]), ClusterCounts::default());
    }

    fn partition(modules: &[u32]) -> Partition {
        let n = modules.len();
        let g = graph(n, &[]);
        let mut p = Infomap::new(InfomapConfig::default()).codelength_of(&g, modules);
        p.modules = modules.to_vec();
        p.num_modules = modules.iter().map(|&m| m as usize + 1).max().unwrap_or(0);
        p
    }

    #[test]
    fn own_is_the_seed_rule() {
        // Rows 0-2 a module; 3 has no out-link; 4 points at 0 but Infomap left it alone.
        let g = graph(5, &[(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (4, 0, 0.9), (0, 3, 0.5)]);
        let p = partition(&[0, 0, 0, 0, 1]);
        assert_eq!(assign_labels(&p, &g, Lonely::Own), seed_labels(&p, &g));
        assert_eq!(assign_labels(&p, &g, Lonely::Own), [0, 0, 0, 1, 2]);
        assert_eq!(assign_labels(&p, &g, Lonely::Infomap), [0, 0, 0, 0, 1]);
        assert_eq!(assign_labels(&p, &g, Lonely::Attach), [0, 0, 0, 1, 0]);
    }

    #[test]
    fn attach_follows_chains_and_closes_cycles() {
        // 0-1 a cluster; 2 -> 3 -> 0 a chain of lonely rows; 4 <-> 5 point at each other; 6 alone.
        let g = graph(7, &[(0, 1, 1.0), (1, 0, 1.0), (2, 3, 0.9), (2, 5, 0.5), (3, 0, 0.8), (4, 5, 0.7), (5, 4, 0.7)]);
        let p = partition(&[0, 0, 1, 2, 3, 4, 5]);
        assert_eq!(assign_labels(&p, &g, Lonely::Attach), [0, 0, 0, 0, 1, 1, 2]);
    }

    #[test]
    fn attach_never_merges_clusters() {
        // Two clusters of two; a lonely row pointing into each.
        let g = graph(6, &[(0, 1, 1.0), (1, 0, 1.0), (2, 3, 1.0), (3, 2, 1.0), (4, 0, 0.9), (5, 3, 0.9)]);
        let p = partition(&[0, 0, 1, 1, 2, 3]);
        assert_eq!(assign_labels(&p, &g, Lonely::Attach), [0, 0, 1, 1, 0, 1]);
    }

    #[test]
    fn clusters_merge_when_both_shares_reach_the_threshold() {
        // A = 0..3, B = 3..6, C = 6..9, D = 9 (one row). Every row of A links into B; 2 of 3
        // rows of B link back (2/3); C links into B with all rows but B into C with none; D
        // links into A.
        let mut links = vec![(0, 1, 1.0), (1, 2, 1.0), (2, 0, 1.0), (3, 4, 1.0), (4, 5, 1.0), (5, 3, 1.0)];
        links.extend([(6, 7, 1.0), (7, 8, 1.0), (8, 6, 1.0)]);
        links.extend([(0, 3, 0.5), (1, 4, 0.5), (2, 3, 0.5), (3, 0, 0.5), (4, 1, 0.5)]);
        links.extend([(6, 5, 0.5), (7, 5, 0.5), (8, 4, 0.5), (9, 0, 0.5)]);
        let g = graph(10, &links);
        let labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3];
        let (merged, merges) = merge_clusters(&labels, &g, 2.0 / 3.0);
        assert_eq!(merges, 1);
        assert_eq!(merged, [0, 0, 0, 0, 0, 0, 1, 1, 1, 2]);
        // At a share above 2/3, B's 2 of 3 rows are not enough.
        assert_eq!(merge_clusters(&labels, &g, 0.7), (number_by_size(&labels), 0));
        // 2/3 as an f32 (a hair above 2/3) still counts 2 of 3.
        assert_eq!(merge_clusters(&labels, &g, f64::from(2.0f32 / 3.0)).1, 1);
    }

    #[test]
    fn merges_repeat_until_no_pair_qualifies() {
        // A = {0, 1} and B = {2, 3} link both ways fully; C = {4, 5, 6, 7} links fully into A
        // and B but only A+B's rows 0..2 and 2..4 link back, each half of the merged cluster:
        // after A and B merge, 4 of 4 rows of AB link into C (a second round) only if they do.
        let mut links = vec![(0, 1, 1.0), (1, 0, 1.0), (2, 3, 1.0), (3, 2, 1.0)];
        links.extend([(4, 5, 1.0), (5, 6, 1.0), (6, 7, 1.0), (7, 4, 1.0)]);
        links.extend([(0, 2, 0.5), (1, 3, 0.5), (2, 0, 0.5), (3, 1, 0.5)]);
        // C's rows: 4, 5 link into A, 6, 7 into B (half of C into each: not enough alone).
        links.extend([(4, 0, 0.5), (5, 1, 0.5), (6, 2, 0.5), (7, 3, 0.5)]);
        // A's and B's rows all link into C.
        links.extend([(0, 4, 0.4), (1, 5, 0.4), (2, 6, 0.4), (3, 7, 0.4)]);
        let g = graph(8, &links);
        let labels = [1, 1, 2, 2, 0, 0, 0, 0];
        let (merged, merges) = merge_clusters(&labels, &g, 2.0 / 3.0);
        assert_eq!(merges, 2, "A+B first, then AB+C: {merged:?}");
        assert!(merged.iter().all(|&l| l == 0));
    }

    #[test]
    fn lonely_rows_attach_to_a_clear_nearest_row() {
        // Cluster 0 = {0, 1}; rows 2..6 alone. nearest: (id, s1, s2).
        let labels = [0, 0, 1, 2, 3, 4];
        let nearest = [
            (1, 0.99, 0.5),  // not lonely
            (0, 0.99, 0.5),  // not lonely
            (0, 0.90, 0.80), // within the window, clearly nearest: attached
            (2, 0.90, 0.89), // second nearest too close: stays (gap 0.01 < 0.05)
            (0, 0.70, 0.10), // too far below min_sim (0.8): stays
            (3, 0.95, 0.50), // points at row 3, which stays alone: the two form a cluster
        ];
        let (out, attached) = attach_nearest(&labels, &nearest, 0.8, 0.05);
        assert_eq!(attached, 2);
        assert_eq!(out, [0, 0, 0, 1, 2, 1]);
        // A chain 5 -> 3 -> 0 is followed to its end when 3 qualifies too.
        let mut chain = nearest;
        chain[3] = (0, 0.9, 0.5);
        let (out, attached) = attach_nearest(&labels, &chain, 0.8, 0.05);
        assert_eq!((out, attached), (vec![0, 0, 0, 0, 1, 0], 3));
        // Nothing qualifies: labels unchanged.
        assert_eq!(attach_nearest(&labels, &nearest, 0.99, 0.05), (labels.to_vec(), 0));
    }
}
