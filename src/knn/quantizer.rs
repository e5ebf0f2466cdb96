//! What an `IVFJoin` search's quantizer decided, kept so that rows added later are searched
//! the same way (`face-cluster add`, issue 15).
//!
//! The join (`join.rs`) searches the rows of each inverted list among the rows of the lists
//! nearest that list's centroid, its *probe set*. A [`Quantizer`] holds the centroids, each
//! list's probe set and each row's list. [`super::search_added`] assigns added rows to their
//! nearest centroid and searches them as the join would have: an added row among the rows of
//! its list's probe set, and it enters an old row's neighbour list only when its list is in the
//! probe set of the old row's list. The centroids stay as trained: a collection that grows far
//! beyond the size they were trained for has longer lists, and is better searched again.

/// The coarse quantizer of an `IVFJoin` search: centroids, probe sets and each row's list.
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
}

impl Quantizer {
    /// A quantizer from its parts: `centroids` (`nlist x dim`), the probe set of each list
    /// and the list of each row.
    ///
    /// # Errors
    ///
    /// A description of the problem when the parts do not fit together: centroids that are not
    /// `dim` values each, a list number or probe outside `0..nlist`, a probe set without its
    /// own list, or a centroid that is not finite.
    pub fn new(dim: usize, centroids: Vec<f32>, probe_sets: &[Vec<u32>], lists: Vec<u32>) -> Result<Self, String> {
        if dim == 0 || centroids.len() % dim != 0 || centroids.len() / dim != probe_sets.len() || probe_sets.is_empty()
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
        if let Some(bad) = lists.iter().find(|&&l| l as usize >= nlist) {
            return Err(format!("row in list {bad} of {nlist}"));
        }
        Ok(Quantizer { dim, centroids, probe_offsets, probes, lists })
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

    /// The list of every row.
    pub fn lists(&self) -> &[u32] {
        &self.lists
    }

    /// The list nearest `row` by inner product (ties to the lower list), as the join assigns
    /// rows.
    pub fn nearest(&self, row: &[f32]) -> u32 {
        let mut best = (f32::NEG_INFINITY, 0u32);
        for (c, centroid) in self.centroids.chunks_exact(self.dim).enumerate() {
            let s = super::dot(row, centroid);
            if s > best.0 {
                best = (s, c as u32);
            }
        }
        best.1
    }

    /// Assigns appended rows (`dim` values each) to their nearest lists.
    pub fn extend(&mut self, rows: &[f32]) {
        use rayon::prelude::*;
        let lists: Vec<u32> = rows.par_chunks(self.dim).map(|row| self.nearest(row)).collect();
        self.lists.extend(lists);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_checked_and_rows_go_to_the_nearest_centroid() {
        let centroids = vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0];
        let probes = vec![vec![0, 1], vec![1, 0], vec![2]];
        let mut q = Quantizer::new(2, centroids.clone(), &probes, vec![0, 2]).unwrap();
        assert_eq!((q.nlist(), q.probe_set(1), q.lists()), (3, &[1u32, 0][..], &[0u32, 2][..]));
        q.extend(&[0.1, 0.9, -0.8, 0.1, 0.5, 0.5]);
        assert_eq!(q.lists(), [0, 2, 1, 2, 0]);
        assert!(Quantizer::new(2, centroids.clone(), &[vec![0], vec![1]], vec![]).is_err());
        assert!(Quantizer::new(2, centroids.clone(), &[vec![1], vec![1], vec![2]], vec![]).is_err());
        assert!(Quantizer::new(2, centroids, &probes, vec![3]).is_err());
    }
}
