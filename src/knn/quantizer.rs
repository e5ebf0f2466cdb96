//! What an `IVFJoin` search's quantizer decided, kept so that rows added later are searched
//! the same way (`face-cluster add`, issue 15).
//!
//! The join (`join.rs`) compares two rows when their lists are *joined* (either list probes
//! the other), or when one row's second list is the other's list and that second list is not
//! joined with its own (the *spill*). A [`Quantizer`] holds the centroids, each list's probe
//! set, each row's list and second list. [`Quantizer::extend`] assigns added rows to their two
//! most similar centroids and [`super::search_added`] compares them with the rows the join
//! would have compared them with, both ways. The centroids stay as trained: a collection that
//! grows far beyond the size they were trained for has longer lists, and is better searched
//! again (`face-cluster add --full` keeps the table; run the main job).

/// The coarse quantizer of an `IVFJoin` search: centroids, probe sets, each row's list and
/// second list.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantizer {
    dim: usize,
    /// `nlist x dim` centroids, row-major.
    centroids: Vec<f32>,
    /// Probe set of list `c`: `probes[probe_offsets[c]..probe_offsets[c + 1]]`, the list itself
    /// among them.
    probe_offsets: Vec<u32>,
    probes: Vec<u32>,
    /// The list of each row.
    lists: Vec<u32>,
    /// The list of each row's second most similar centroid.
    seconds: Vec<u32>,
    /// The lists joined with list `c` (probing it or probed by it, itself included),
    /// ascending: `joined[joined_offsets[c]..joined_offsets[c + 1]]`.
    joined_offsets: Vec<u32>,
    joined: Vec<u32>,
}

impl Quantizer {
    /// A quantizer from its parts: `centroids` (`nlist x dim`), the probe set of each list,
    /// and the list and second list of each row.
    ///
    /// # Errors
    ///
    /// A description of the problem when the parts do not fit together: centroids that are not
    /// `dim` values each, a list number or probe outside `0..nlist`, a probe set without its
    /// own list, lists and second lists of different lengths, or a centroid that is not finite.
    pub fn new(
        dim: usize,
        centroids: Vec<f32>,
        probe_sets: &[Vec<u32>],
        lists: Vec<u32>,
        seconds: Vec<u32>,
    ) -> Result<Self, String> {
        if dim == 0
            || !centroids.len().is_multiple_of(dim)
            || centroids.len() / dim != probe_sets.len()
            || probe_sets.is_empty()
        {
            return Err(format!(
                "{} centroid values and {} probe sets do not make lists of dimension {dim}",
                centroids.len(),
                probe_sets.len()
            ));
        }
        if centroids.iter().any(|c| !c.is_finite()) {
            return Err("a centroid that is not finite".to_string());
        }
        let nlist = probe_sets.len();
        let mut probe_offsets = vec![0u32];
        let mut probes = Vec::new();
        for (c, set) in probe_sets.iter().enumerate() {
            if set.iter().any(|&p| p as usize >= nlist) || !set.contains(&(c as u32)) {
                return Err(format!("probe set of list {c} is not a set of lists including itself"));
            }
            probes.extend_from_slice(set);
            probe_offsets.push(probes.len() as u32);
        }
        if let Some(bad) = lists.iter().chain(&seconds).find(|&&l| l as usize >= nlist) {
            return Err(format!("row in list {bad} of {nlist}"));
        }
        if lists.len() != seconds.len() {
            return Err(format!("{} rows with a list but {} with a second list", lists.len(), seconds.len()));
        }
        let mut joined_sets: Vec<Vec<u32>> = probe_sets.to_vec();
        for (c, set) in probe_sets.iter().enumerate() {
            for &p in set {
                joined_sets[p as usize].push(c as u32);
            }
        }
        let mut joined_offsets = vec![0u32];
        let mut joined = Vec::new();
        for mut set in joined_sets {
            set.sort_unstable();
            set.dedup();
            joined.extend_from_slice(&set);
            joined_offsets.push(joined.len() as u32);
        }
        Ok(Quantizer { dim, centroids, probe_offsets, probes, lists, seconds, joined_offsets, joined })
    }

    /// Number of lists.
    pub fn nlist(&self) -> usize {
        self.probe_offsets.len() - 1
    }

    /// Dimension of the centroids.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The centroids, `nlist x dim`, row-major.
    pub fn centroids(&self) -> &[f32] {
        &self.centroids
    }

    /// The lists probed for the rows of list `c`, itself included.
    pub fn probe_set(&self, c: usize) -> &[u32] {
        &self.probes[self.probe_offsets[c] as usize..self.probe_offsets[c + 1] as usize]
    }

    /// The lists joined with list `c` (either probes the other), itself included, ascending.
    pub fn joined(&self, c: usize) -> &[u32] {
        &self.joined[self.joined_offsets[c] as usize..self.joined_offsets[c + 1] as usize]
    }

    /// Whether lists `a` and `b` are joined.
    pub fn is_joined(&self, a: usize, b: usize) -> bool {
        self.joined(a).binary_search(&(b as u32)).is_ok()
    }

    /// The list of every row.
    pub fn lists(&self) -> &[u32] {
        &self.lists
    }

    /// The second list of every row.
    pub fn seconds(&self) -> &[u32] {
        &self.seconds
    }

    /// Whether the join compares rows `i` and `j`: their lists are joined, or one row's
    /// second list is the other's list and is not joined with its own list.
    pub fn compares(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.lists[i] as usize, self.lists[j] as usize);
        self.is_joined(a, b) || self.seconds[i] as usize == b || self.seconds[j] as usize == a
    }

    /// Assigns appended rows (`dim` values each) to their most similar and second most
    /// similar centroids (ties to the lower list), as the join's k-means assigns rows.
    pub fn extend(&mut self, rows: &[f32]) {
        let m = rows.len() / self.dim;
        let (mut lists, mut seconds) = (vec![0u32; m], vec![0u32; m]);
        super::kmeans::assign(rows, &self.centroids, self.dim, &mut lists, Some(&mut seconds));
        self.lists.extend(lists);
        self.seconds.extend(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_checked_and_rows_go_to_the_nearest_centroid() {
        let centroids = vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0];
        let probes = vec![vec![0], vec![1, 0], vec![2]];
        let mut q = Quantizer::new(2, centroids.clone(), &probes, vec![0, 2], vec![1, 0]).unwrap();
        assert_eq!((q.nlist(), q.probe_set(1), q.lists()), (3, &[1u32, 0][..], &[0u32, 2][..]));
        // List 1 probes list 0, so they are joined both ways.
        assert_eq!((q.joined(0), q.joined(1), q.joined(2)), (&[0u32, 1][..], &[0u32, 1][..], &[2u32][..]));
        q.extend(&[0.1, 0.9, -0.8, 0.1, 0.5, 0.4]);
        assert_eq!(q.lists(), [0, 2, 1, 2, 0]);
        assert_eq!(q.seconds(), [1, 0, 0, 1, 1]);
        // Rows 0 (list 0) and 2 (list 1): joined lists. Rows 1 (list 2, second 0) and 4 (list 0):
        // a spill. Rows 2 (list 1) and 3 (list 2, second 1): a spill the other way.
        assert!(q.compares(0, 2) && q.compares(1, 4) && q.compares(4, 1) && q.compares(2, 3));
        // Rows 2 (list 1, second 0) and 1 (list 2, second 0): neither.
        assert!(!q.compares(2, 1));
        assert!(Quantizer::new(2, centroids.clone(), &[vec![0], vec![1]], vec![], vec![]).is_err());
        assert!(Quantizer::new(2, centroids.clone(), &[vec![1], vec![1], vec![2]], vec![], vec![]).is_err());
        assert!(Quantizer::new(2, centroids.clone(), &probes, vec![0], vec![]).is_err());
        assert!(Quantizer::new(2, centroids, &probes, vec![3], vec![0]).is_err());
    }
}
