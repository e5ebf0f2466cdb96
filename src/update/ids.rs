//! Stable cluster ids: the clusters after an update take the ids of the clusters they continue.
//!
//! The main job numbers clusters by size; after that, ids belong to clusters. An update
//! groups all rows anew ([`crate::labels::assign_labels`]) and [`carry_ids`] names each new
//! group:
//!
//! 1. a group whose old rows are exactly the rows of one old cluster (it may have gained added
//!    rows) keeps that cluster's id: every cluster the update did not touch, and most it did;
//! 2. an untouched old cluster (no row of it was re-optimised or has an added row among its
//!    nearest two, and not a lone row joined to others only now) keeps its id in the group
//!    that holds its rows, whatever joined it;
//! 3. the remaining old ids go to the remaining groups by overlap: the pair sharing the most
//!    old rows first (ties by lower id, then group);
//! 4. groups left without an id (new clusters, and parts split off) get new ids, counting up
//!    from the state's next id, in order of their first row; ids are never reused.
//!
//! Merges (a group holding old rows of several old clusters) and splits (an old cluster whose
//! rows went to several groups) are listed with how many rows each part holds.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Old clusters that became one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// The id of the cluster they are now.
    pub id: u32,
    /// Each old id and how many of its rows the cluster holds, most first.
    pub from: Vec<(u32, usize)>,
}

/// An old cluster whose rows went to several clusters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// The old id.
    pub id: u32,
    /// Each cluster now holding some of its rows, and how many, most first.
    pub into: Vec<(u32, usize)>,
}

/// The ids [`carry_ids`] gave, and what changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    /// Cluster id of every row.
    pub ids: Vec<u32>,
    /// The next new id.
    pub next_id: u32,
    /// Groups that got new ids.
    pub new_ids: Vec<u32>,
    /// Old ids no group took (merged into another cluster).
    pub retired: Vec<u32>,
    /// Merges, by id.
    pub merges: Vec<Merge>,
    /// Splits, by old id.
    pub splits: Vec<Split>,
    /// Old rows whose id changed.
    pub moved_rows: usize,
}

/// Names the groups `groups` (any labels, one per row; the first `old.len()` rows are the old
/// rows) after the old clusters `old` (their ids, all below `next_id`); `touched[c]` says
/// whether the update touched old cluster `c` (a row re-optimised, or relabelled by the steps
/// after Infomap). See the [module docs](self).
///
/// # Complexity
///
/// `O(n)` for the groups that continue one cluster, plus a hash map over the rows of the
/// others.
pub fn carry_ids(old: &[u32], groups: &[u32], touched: &[bool], next_id: u32) -> Carried {
    let n_old = old.len();
    let group_count = groups.iter().map(|&g| g as usize + 1).max().unwrap_or(0);
    let id_count = next_id as usize;
    const UNSET: u32 = u32::MAX;
    const MIXED: u32 = u32::MAX - 1;
    // The one old id of each group's old rows (or MIXED), and the one group of each old id.
    let mut group_id = vec![UNSET; group_count];
    let mut id_group = vec![UNSET; id_count];
    for (i, &c) in old.iter().enumerate() {
        let g = groups[i];
        let slot = &mut group_id[g as usize];
        *slot = if *slot == UNSET || *slot == c { c } else { MIXED };
        let slot = &mut id_group[c as usize];
        *slot = if *slot == UNSET || *slot == g { g } else { MIXED };
    }
    let mut name = vec![UNSET; group_count];
    let mut taken = vec![false; id_count];
    for g in 0..group_count {
        let c = group_id[g];
        if c < MIXED && id_group[c as usize] == g as u32 {
            name[g] = c;
            taken[c as usize] = true;
        }
    }
    // The rest: overlaps of groups and ids that are not one-to-one.
    let mut overlap: HashMap<(u32, u32), usize> = HashMap::new();
    for (i, &c) in old.iter().enumerate() {
        let g = groups[i];
        if name[g as usize] == UNSET {
            *overlap.entry((g, c)).or_insert(0) += 1;
        }
    }
    let mut pairs: Vec<((u32, u32), usize)> = overlap.into_iter().collect();
    pairs.sort_by(|a, b| {
        let untouched = |p: &((u32, u32), usize)| !touched.get(p.0 .1 as usize).copied().unwrap_or(true);
        untouched(b).cmp(&untouched(a)).then(b.1.cmp(&a.1)).then(a.0 .1.cmp(&b.0 .1)).then(a.0 .0.cmp(&b.0 .0))
    });
    for &((g, c), _) in &pairs {
        if name[g as usize] == UNSET && !taken[c as usize] {
            name[g as usize] = c;
            taken[c as usize] = true;
        }
    }
    // New ids, by first row.
    let mut next = next_id;
    let mut new_ids = Vec::new();
    for &g in groups {
        if name[g as usize] == UNSET {
            name[g as usize] = next;
            new_ids.push(next);
            next += 1;
        }
    }
    let ids: Vec<u32> = groups.iter().map(|&g| name[g as usize]).collect();
    // What changed, from the pairs that were not one-to-one.
    let mut from: HashMap<u32, Vec<(u32, usize)>> = HashMap::new();
    let mut into: HashMap<u32, Vec<(u32, usize)>> = HashMap::new();
    for &((g, c), count) in &pairs {
        from.entry(name[g as usize]).or_default().push((c, count));
        into.entry(c).or_default().push((name[g as usize], count));
    }
    let sorted = |mut parts: Vec<(u32, usize)>| {
        parts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        parts
    };
    let mut merges: Vec<Merge> =
        from.into_iter().filter(|(_, f)| f.len() > 1).map(|(id, f)| Merge { id, from: sorted(f) }).collect();
    merges.sort_by_key(|m| m.id);
    let mut splits: Vec<Split> =
        into.into_iter().filter(|(_, p)| p.len() > 1).map(|(id, p)| Split { id, into: sorted(p) }).collect();
    splits.sort_by_key(|s| s.id);
    let mut present = vec![false; id_count];
    for &c in old {
        present[c as usize] = true;
    }
    let retired = (0..next_id).filter(|&c| present[c as usize] && !taken[c as usize]).collect();
    let moved_rows = (0..n_old).filter(|&i| ids[i] != old[i]).count();
    Carried { ids, next_id: next, new_ids, retired, merges, splits, moved_rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_that_continue_keep_their_ids_and_new_ones_count_up() {
        // Old: clusters 4 (rows 0-2), 7 (3-4), 9 (5). Rows 6-7 are added: 6 joins 7, 7 is new.
        let old = [4, 4, 4, 7, 7, 9];
        let groups = [0, 0, 0, 1, 1, 2, 1, 3];
        let c = carry_ids(&old, &groups, &[false; 10], 10);
        assert_eq!(c.ids, [4, 4, 4, 7, 7, 9, 7, 10]);
        assert_eq!((c.next_id, c.new_ids.as_slice(), c.moved_rows), (11, &[10u32][..], 0));
        assert!(c.merges.is_empty() && c.splits.is_empty() && c.retired.is_empty());
    }

    #[test]
    fn merges_and_splits_are_reported_and_untouched_clusters_win() {
        // Cluster 1 (rows 0-3) merges with cluster 2 (rows 4-5, untouched): the merged group
        // keeps 2, the untouched id, though 1 has more rows there. Cluster 3 (rows 6-9) splits.
        let old = [1, 1, 1, 1, 2, 2, 3, 3, 3, 3];
        let groups = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2];
        let mut touched = vec![true; 5];
        touched[2] = false;
        let c = carry_ids(&old, &groups, &touched, 5);
        assert_eq!(c.ids, [2, 2, 2, 2, 2, 2, 3, 3, 3, 5]);
        assert_eq!(c.retired, [1]);
        assert_eq!(c.merges, [Merge { id: 2, from: vec![(1, 4), (2, 2)] }]);
        assert_eq!(c.splits, [Split { id: 3, into: vec![(3, 3), (5, 1)] }]);
        assert_eq!((c.moved_rows, c.new_ids.as_slice()), (5, &[5u32][..]));
        // Touched everywhere, the larger part wins.
        let c = carry_ids(&old, &groups, &[true; 5], 5);
        assert_eq!(&c.ids[..6], [1; 6]);
        assert_eq!(c.retired, [2]);
    }
}
