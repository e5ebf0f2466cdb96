//! The best `k` candidates of each row of a list, kept while the join offers it blocks of
//! products: one bounded heap per row, with a floor that rejects most candidates in one
//! comparison.
//!
//! A row's heap holds its best candidates so far by `(sim desc, id asc)`, a strict total order
//! (a row is offered each candidate once), with the worst at the root. Once the heap is full,
//! the root's similarity is the row's *floor*: a candidate below it cannot enter, and the scans
//! below test whole runs of products against the floors before looking at any one of them.
//! Since the floor only rises, a candidate rejected early would have been rejected at the end
//! too, so the heap ends holding exactly the `k` best of all candidates offered, *whatever the
//! order of the offers*: the join may offer blocks in any order, from any thread.
//!
//! Only the row's own `k`-th best is a safe floor: the table must hold `k` neighbours per row
//! whenever the row has them (it is saved, read by `--min-sim auto`, and the shared-neighbour
//! pruning of [`crate::edges`] looks at links below `min_sim`), so a fixed `min_sim` does not
//! raise the floor.

/// Products tested against the floors at once before any is looked at alone.
const RUN: usize = 16;

/// Candidates of one offer pushed one by one; more are merged with one selection.
const PUSH_AT_MOST: usize = 8;

/// A candidate as one integer that orders as `(sim asc, id desc)`: the larger key is the better
/// candidate, and keys compare in one instruction.
#[inline]
fn key(sim: f32, id: u32) -> u64 {
    let bits = sim.to_bits();
    // Flip the negatives, set the sign bit of the rest: unsigned order is float order.
    let ordered = if bits & 0x8000_0000 != 0 { !bits } else { bits | 0x8000_0000 };
    (u64::from(ordered) << 32) | u64::from(u32::MAX - id)
}

/// The similarity of a [`key`].
#[inline]
fn sim_of(key: u64) -> f32 {
    let ordered = (key >> 32) as u32;
    f32::from_bits(if ordered & 0x8000_0000 != 0 { ordered & 0x7fff_ffff } else { !ordered })
}

/// The id of a [`key`].
#[inline]
fn id_of(key: u64) -> u32 {
    u32::MAX - key as u32
}

/// Bounded heaps of the rows of one list (rows `0..rows`, in the list's order).
#[derive(Debug)]
pub(super) struct Heaps {
    k: usize,
    /// Row `r`'s heap is `keys[r * k..][..len[r]]`, a min-heap of [`key`]s: the worst first.
    keys: Vec<u64>,
    len: Vec<u32>,
    /// `-inf` while the row's heap has room, then its worst similarity.
    floor: Vec<f32>,
}

impl Heaps {
    /// Empty heaps of `k` slots for `rows` rows.
    pub(super) fn new(rows: usize, k: usize) -> Heaps {
        Heaps { k, keys: vec![0; rows * k], len: vec![0; rows], floor: vec![f32::NEG_INFINITY; rows] }
    }

    /// Offers row `r` the candidates `ids[j]` with similarities `sims[j]`. `scratch` is a
    /// buffer of the caller's, for the candidates that pass the floor.
    pub(super) fn offer_row(&mut self, r: usize, sims: &[f32], ids: &[u32], scratch: &mut Vec<u64>) {
        debug_assert_eq!(sims.len(), ids.len());
        let floor = self.floor[r];
        scratch.clear();
        let mut start = 0;
        for run in sims.chunks(RUN) {
            if any_at_least(run, floor) {
                for (j, &sim) in run.iter().enumerate() {
                    if sim >= floor {
                        scratch.push(key(sim, ids[start + j]));
                    }
                }
            }
            start += run.len();
        }
        if scratch.len() <= PUSH_AT_MOST {
            for &candidate in scratch.iter() {
                self.push(r, candidate);
            }
        } else {
            self.merge(r, scratch);
        }
    }

    /// Offers every row `r` the candidate `id` with similarity `sims[r]` (`sims` holds one
    /// value per row: a column of the products, seen from the other list).
    pub(super) fn offer_column(&mut self, sims: &[f32], id: u32) {
        debug_assert_eq!(sims.len(), self.len.len());
        for (run_index, run) in sims.chunks(RUN).enumerate() {
            let first = run_index * RUN;
            if !any_reaches(run, &self.floor[first..first + run.len()]) {
                continue;
            }
            for (j, &sim) in run.iter().enumerate() {
                let r = first + j;
                if sim >= self.floor[r] {
                    self.push(r, key(sim, id));
                }
            }
        }
    }

    /// Row `r`'s candidates, in no particular order.
    pub(super) fn ids(&self, r: usize) -> impl Iterator<Item = u32> + '_ {
        self.keys[r * self.k..r * self.k + self.len[r] as usize].iter().map(|&key| id_of(key))
    }

    /// Keeps the best `k` of row `r`'s heap and `more` (keys), which is left in an unspecified
    /// state: one selection instead of a push per candidate.
    fn merge(&mut self, r: usize, more: &mut Vec<u64>) {
        let k = self.k;
        let len = self.len[r] as usize;
        let heap = &mut self.keys[r * k..(r + 1) * k];
        more.extend_from_slice(&heap[..len]);
        if more.len() > k {
            // The k largest keys to the front.
            more.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
            more.truncate(k);
        }
        let len = more.len();
        heap[..len].copy_from_slice(more);
        for at in (0..len / 2).rev() {
            let item = heap[at];
            sift_down(&mut heap[..len], at, item);
        }
        self.len[r] = len as u32;
        if len == k {
            self.floor[r] = sim_of(heap[0]);
        }
    }

    /// Puts `candidate` into row `r`'s heap if it beats the worst there (or there is room).
    fn push(&mut self, r: usize, candidate: u64) {
        let k = self.k;
        let heap = &mut self.keys[r * k..(r + 1) * k];
        let len = self.len[r] as usize;
        if len < k {
            // Sift up from the new leaf.
            let mut at = len;
            while at > 0 {
                let parent = (at - 1) / 2;
                if candidate >= heap[parent] {
                    break;
                }
                heap[at] = heap[parent];
                at = parent;
            }
            heap[at] = candidate;
            self.len[r] += 1;
            if len + 1 == k {
                self.floor[r] = sim_of(heap[0]);
            }
        } else if candidate > heap[0] {
            sift_down(heap, 0, candidate);
            self.floor[r] = sim_of(heap[0]);
        }
    }
}

/// Puts `item` at `at` of the min-heap `heap`, moving it down past every smaller child: the
/// heap below `at` must be in order.
#[inline]
fn sift_down(heap: &mut [u64], mut at: usize, item: u64) {
    let len = heap.len();
    loop {
        let left = 2 * at + 1;
        if left >= len {
            break;
        }
        let right = left + 1;
        let child = if right < len && heap[right] < heap[left] { right } else { left };
        if heap[child] >= item {
            break;
        }
        heap[at] = heap[child];
        at = child;
    }
    heap[at] = item;
}

/// Whether any value of `run` is at least `floor` (written to compile to a few vector
/// comparisons).
#[inline]
fn any_at_least(run: &[f32], floor: f32) -> bool {
    run.iter().fold(false, |hit, &s| hit | (s >= floor))
}

/// Whether any `run[j] >= floors[j]`.
#[inline]
fn any_reaches(run: &[f32], floors: &[f32]) -> bool {
    run.iter().zip(floors).fold(false, |hit, (&s, &f)| hit | (s >= f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The `k` best of `(sim, id)` pairs by (sim desc, id asc), as sorted ids.
    fn best(mut all: Vec<(f32, u32)>, k: usize) -> Vec<u32> {
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut ids: Vec<u32> = all.iter().take(k).map(|p| p.1).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn heaps_keep_the_best_whatever_the_order_of_the_offers() {
        let mut rng = Rng::new(4);
        let (rows, k, n) = (5, 7, 300);
        // Few distinct values: many ties, broken by id.
        let sims: Vec<Vec<f32>> = (0..rows).map(|_| (0..n).map(|_| rng.below(20) as f32 / 20.0).collect()).collect();
        for split in [1, 13, 64, n] {
            let mut heaps = Heaps::new(rows, k);
            let mut order: Vec<u32> = (0..n as u32).collect();
            rng.shuffle(&mut order);
            // Half of the candidates offered by row, the other half by column, in runs.
            for (c, chunk) in order.chunks(split).enumerate() {
                if c % 2 == 0 {
                    for (r, row) in sims.iter().enumerate() {
                        let s: Vec<f32> = chunk.iter().map(|&j| row[j as usize]).collect();
                        heaps.offer_row(r, &s, chunk, &mut Vec::new());
                    }
                } else {
                    for &j in chunk {
                        let column: Vec<f32> = sims.iter().map(|row| row[j as usize]).collect();
                        heaps.offer_column(&column, j);
                    }
                }
            }
            for (r, row) in sims.iter().enumerate() {
                let mut got: Vec<u32> = heaps.ids(r).collect();
                got.sort_unstable();
                let all = row.iter().enumerate().map(|(j, &s)| (s, j as u32)).collect();
                assert_eq!(got, best(all, k), "row {r}, runs of {split}");
            }
        }
    }

    #[test]
    fn keys_order_as_sim_then_id_and_keep_both() {
        let sims = [f32::NEG_INFINITY, -1.0, -0.5, -0.0, 0.0, 1e-30, 0.25, 1.0];
        for pair in sims.windows(2) {
            assert!(key(pair[0], 7) < key(pair[1], 7), "{pair:?}");
        }
        assert!(key(0.5, 3) > key(0.5, 4), "the lower id is the better");
        for &sim in &sims {
            assert_eq!((sim_of(key(sim, 9)).to_bits(), id_of(key(sim, 9))), (sim.to_bits(), 9));
        }
    }

    #[test]
    fn rows_with_fewer_candidates_than_slots_keep_them_all() {
        let mut heaps = Heaps::new(2, 10);
        heaps.offer_row(0, &[0.5, -0.25, 0.75], &[3, 8, 1], &mut Vec::new());
        let mut got: Vec<u32> = heaps.ids(0).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 3, 8]);
        assert_eq!(heaps.ids(1).count(), 0);
    }
}
