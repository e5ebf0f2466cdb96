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

use crate::config::Lonely;
use crate::graph::Graph;
use crate::infomap::Partition;

/// What the rules for rows alone read of a graph: which rows kept out-links, and each row's
/// strongest. [`Graph`] has it; so does any network kept row by row (a saved clustering).
pub trait OutLinks {
    /// Number of rows.
    fn n(&self) -> usize;
    /// Whether row `i` kept at least one out-link.
    fn has_out_links(&self, i: usize) -> bool;
    /// The target of row `i`'s strongest out-link (its first, in k-NN order), if any.
    fn strongest_target(&self, i: usize) -> Option<u32>;
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
        Lonely::Own | Lonely::Attach => {
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
}
