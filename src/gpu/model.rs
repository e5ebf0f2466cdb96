//! The CPU model of the GPU kernels: the specification of `kernels.rs`, run by the tests.
//!
//! Every function here does, one row at a time and in plain Rust, exactly what a thread block
//! of the matching CUDA kernel in [`super::kernels`] does: the same chunking of a tile row, the
//! same buffer capacity and compaction rule, the same strict threshold, the same bitonic
//! network and the same tie rule. Keep the two side by side: a change to one is a change to the
//! other, and the tests of this file (which run everywhere, CI has no GPU) are then the tests
//! of the kernel's logic. What the model cannot show is what only the hardware does (memory
//! ordering inside a block, the order of appends through the shared atomic counter); the model
//! lets a test shuffle the appends of each chunk to show that this order does not matter.
//!
//! # The selection (kernel `fc_select_tile`)
//!
//! Each query row owns `w` slots of state, kept best first (similarity descending, then id
//! ascending), with the valid entries a prefix and padding `(-inf, NONE)` after them. Base
//! tiles arrive in increasing column order. For one tile row:
//!
//! 1. The state's valid entries are copied into a buffer of [`CAP`] entries. The threshold is
//!    the `w`-th best similarity when all `w` slots are valid, else `-inf`.
//! 2. The row is scanned in chunks of [`CHUNK`] columns. Before a chunk, if the buffer could
//!    overflow (`count + CHUNK > CAP`), it is sorted, cut to its best `w` entries, and the
//!    threshold becomes the `w`-th similarity. Within a chunk, each element with similarity
//!    strictly above the threshold is appended (in any order).
//! 3. After the row, the buffer is sorted and its best `w` entries (padded) are the new state.
//!
//! Why this is exact: an element is dropped only when `w` entries rank before it. If it is not
//! appended, its similarity is at most the threshold, the `w`-th best at the last compaction,
//! and every kept entry has a smaller id (columns arrive in increasing id order), so even at an
//! equal similarity `w` entries rank before it. If it is cut at a compaction, the `w` kept
//! entries rank before it. The final state is therefore the top `w` of the row by (similarity
//! descending, id ascending), whatever the append order.
//!
//! The buffer never overflows: after a compaction `count = w <= CAP - CHUNK` ([`MAX_W`]), and
//! a chunk appends at most `CHUNK` entries.
//!
//! # The screen's last step (kernel `fc_finalize`)
//!
//! See [`finalize_row`]: the `w` candidates chosen by screened similarity are ranked by their
//! FP32 re-scored similarity, the best `m` kept, and the row accepted when the `m`-th re-scored
//! similarity exceeds the lowest screened similarity among the candidates plus the error bound.

// Compiled in every build so it cannot rot, but run only by the tests (and `screen_eps`).
#![cfg_attr(not(test), allow(dead_code))]

use std::cmp::Ordering;

/// Threads per block of the selection and finalize kernels (`THREADS` in the kernel source).
pub(crate) const THREADS: usize = 256;

/// Tile elements each thread loads per chunk (`PER_THREAD`).
pub(crate) const PER_THREAD: usize = 4;

/// Columns scanned between two overflow checks (`CHUNK`): one element per thread and load.
pub(crate) const CHUNK: usize = THREADS * PER_THREAD;

/// Candidate buffer capacity in entries (`CAP`, a power of two): 16 KiB of shared memory.
pub(crate) const CAP: usize = 2048;

/// The largest selection width `w` (`CAP - CHUNK`), so that a compacted buffer plus one chunk
/// always fits.
pub(crate) const MAX_W: usize = CAP - CHUNK;

/// The largest dimension: the re-scoring kernel keeps the query row in shared memory
/// (`MAX_D` floats, 16 KiB).
pub(crate) const MAX_D: usize = 4096;

/// An empty slot's id (`NONE_ID`).
pub(crate) const NONE: u32 = u32::MAX;

/// A (similarity, id) pair of the selection buffer.
pub(crate) type Entry = (f32, u32);

/// Reorders one chunk's appended entries (the test's stand-in for the shared atomic counter).
pub(crate) type Reorder<'a> = dyn FnMut(&mut [Entry]) + 'a;

/// Whether `(sa, ia)` ranks before `(sb, ib)`: larger similarity first, then smaller id
/// (`ranks_before` in the kernel).
#[inline]
pub(crate) fn ranks_before(sa: f32, ia: u32, sb: f32, ib: u32) -> bool {
    sa > sb || (sa == sb && ia < ib)
}

/// The total order of [`ranks_before`], for `sort_by` (entries with distinct ids).
pub(crate) fn rank_cmp(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    if ranks_before(a.0, a.1, b.0, b.1) {
        Ordering::Less
    } else if ranks_before(b.0, b.1, a.0, a.1) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// The kernel's `sort_buffer`: pads the entries to the next power of two with `(-inf, NONE)`
/// sentinels and runs the bitonic network, best first. The stages are sequential here; in the
/// kernel each stage's compare-exchanges run in parallel, on disjoint pairs.
pub(crate) fn bitonic_sort(buf: &mut Vec<(f32, u32)>) {
    let c = buf.len();
    let p = c.next_power_of_two().max(1);
    buf.resize(p, (f32::NEG_INFINITY, NONE));
    let mut k = 2;
    while k <= p {
        let mut j = k >> 1;
        while j > 0 {
            for i in 0..p {
                let l = i ^ j;
                if l > i {
                    let (si, ii) = buf[i];
                    let (sl, il) = buf[l];
                    let best_first = i & k == 0;
                    let swap = if best_first { ranks_before(sl, il, si, ii) } else { ranks_before(si, ii, sl, il) };
                    if swap {
                        buf.swap(i, l);
                    }
                }
            }
            j >>= 1;
        }
        k <<= 1;
    }
    // Sentinels rank after every real entry (real ids are below NONE), so they are the tail.
    buf.truncate(c);
}

/// One block of `fc_select_tile`: merges one tile row (`tile_row[c]` is the similarity to base
/// row `col0 + c`) into the row's state (`state_s`, `state_id`, both `w` long). With `first`
/// the old state is ignored (the first base tile). `shuffle` reorders each chunk's appends, as
/// the shared atomic counter may.
pub(crate) fn select_row(
    tile_row: &[f32],
    col0: u32,
    state_s: &mut [f32],
    state_id: &mut [u32],
    first: bool,
    shuffle: &mut Reorder<'_>,
) {
    let w = state_s.len();
    debug_assert!((1..=MAX_W).contains(&w) && state_id.len() == w);
    let mut buf: Vec<(f32, u32)> = Vec::with_capacity(CAP);
    if !first {
        // The kernel takes count = 1 + the last valid slot followed by padding: the valid
        // entries must be a prefix.
        let count = state_id.iter().take_while(|&&id| id != NONE).count();
        debug_assert!(state_id[count..].iter().all(|&id| id == NONE));
        buf.extend(state_s[..count].iter().copied().zip(state_id[..count].iter().copied()));
    }
    let mut thr = if buf.len() == w { buf[w - 1].0 } else { f32::NEG_INFINITY };
    let cols = tile_row.len();
    let mut c0 = 0;
    while c0 < cols {
        if buf.len() + CHUNK > CAP {
            bitonic_sort(&mut buf);
            buf.truncate(w);
            thr = buf[w - 1].0;
        }
        let start = buf.len();
        for (c, &v) in tile_row.iter().enumerate().take((c0 + CHUNK).min(cols)).skip(c0) {
            if v > thr {
                buf.push((v, col0 + c as u32));
            }
        }
        assert!(buf.len() <= CAP, "the buffer never overflows");
        shuffle(&mut buf[start..]);
        c0 += CHUNK;
    }
    bitonic_sort(&mut buf);
    for i in 0..w {
        (state_s[i], state_id[i]) = buf.get(i).copied().unwrap_or((f32::NEG_INFINITY, NONE));
    }
}

/// One block of `fc_finalize`: ranks the `w` candidates of a row (`cand_id`, with screened
/// similarities `scr_s`, best first, as [`select_row`] leaves them) by their re-scored
/// similarities `r`, and returns the best `m` (similarities, ids) and whether the row is
/// accepted.
///
/// With `check` (some rows are not candidates, `w < n`): the row is accepted when the `m`-th
/// re-scored similarity is strictly above `L + eps`, `L` the lowest screened similarity among
/// the candidates. Every non-candidate has a screened similarity at most `L`, so (with `eps`
/// bounding the difference between screened and re-scored values) a re-scored similarity at
/// most `L + eps`: strictly below the `m`-th, so the `m` kept are the row's true top `m`.
pub(crate) fn finalize_row(
    scr_s: &[f32],
    cand_id: &[u32],
    r: &[f32],
    m: usize,
    check: bool,
    eps: f32,
) -> (Vec<f32>, Vec<u32>, bool) {
    let w = cand_id.len();
    let mut buf: Vec<(f32, u32)> =
        (0..w).map(|i| (if cand_id[i] == NONE { f32::NEG_INFINITY } else { r[i] }, cand_id[i])).collect();
    bitonic_sort(&mut buf);
    let out_s = buf[..m].iter().map(|e| e.0).collect();
    let out_id = buf[..m].iter().map(|e| e.1).collect();
    let mut ok = true;
    if check && cand_id[w - 1] != NONE {
        let lowest = scr_s[w - 1];
        ok = buf[m - 1].0 > lowest + eps;
    }
    (out_s, out_id, ok)
}

/// A rigorous bound on `|screened - re-scored|` for rows of squared norm at most `max_norm_sq`
/// in dimension `d`, as an `f32` that also covers the kernel's rounding of `L + eps`.
///
/// # Derivation
///
/// The TF32 GEMM rounds (or, on some hardware, truncates) each input to 10 explicit mantissa
/// bits: `x~ = x (1 + a)`, `|a| <= 2^-10`. A product then errs by
/// `|x~ y~ - x y| <= |x y| (2 * 2^-10 + 2^-20)`, so the exact sum of the rounded products errs by
/// at most `(2^-9 + 2^-20) * sum |x_i y_i| <= (2^-9 + 2^-20) * |x| |y|` (Cauchy-Schwarz).
/// Accumulating `d` products in FP32 in any order, with round-to-nearest or truncation
/// (`u <= 2^-23`), adds at most `d * u * sum |x~_i y~_i|`. Tensor cores need not add like IEEE
/// FP32: they may align a group of products to its largest exponent and truncate, before adding
/// the group to the accumulator. That is at most two rounding steps per product, each losing at
/// most `2^-23` of an operand no larger than `sum |x~_i y~_i|`: at most
/// `2 d * 2^-23 * (1 + 2^-8) |x| |y|`. The FP32 re-score (fused multiply-adds and a tree,
/// `u = 2^-24`) errs from the exact product by at most `d * 2^-24 * (1 + 2^-20) |x| |y|`. With
/// `|x| |y| <= max_norm_sq`:
///
/// `|screened - re-scored| <= max_norm_sq * (2^-9 + 2^-20 + d * 2^-23 * (2.008 + 0.501))`
///
/// which this rounds up to `max_norm_sq * (2^-9 + 2^-16 + d * 2^-21)` (a factor 1.6 on the
/// accumulation terms; the `2^-16` also absorbs subnormal products). The kernel compares
/// `r_m > L + eps` with `L + eps` rounded to nearest in FP32, which can lower it by half an ulp,
/// at most `2^-24 * |L + eps|`: adding `2^-23 * max(1, max_norm_sq)` covers it. For unit rows
/// and `d = 256`: about `2.09e-3`.
pub(crate) fn screen_eps(d: usize, max_norm_sq: f64) -> f32 {
    let base = max_norm_sq * (2f64.powi(-9) + 2f64.powi(-16) + d as f64 * 2f64.powi(-21));
    let eps = base + 2f64.powi(-23) * max_norm_sq.max(1.0);
    // Round up into f32.
    let e = eps as f32;
    if (e as f64) < eps {
        f32::from_bits(e.to_bits() + 1)
    } else {
        e
    }
}

/// Rounds `x` to TF32 by truncation (10 explicit mantissa bits): the CPU backend's screen.
#[cfg(test)]
pub(crate) fn tf32_truncate(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0xffff_e000)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small deterministic generator (splitmix64) for the tests.
    pub(crate) struct Mix(pub u64);
    impl Mix {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        pub(crate) fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
            for i in (1..v.len()).rev() {
                let j = self.below(i + 1);
                v.swap(i, j);
            }
        }
    }

    /// Brute-force top `w` of a row by (sim desc, id asc).
    fn brute_top(row: &[f32], w: usize) -> Vec<(f32, u32)> {
        let mut all: Vec<(f32, u32)> = row.iter().enumerate().map(|(c, &s)| (s, c as u32)).collect();
        all.sort_by(rank_cmp);
        all.truncate(w);
        all
    }

    /// Runs the model over a row cut into tiles of `b` columns.
    fn model_top(row: &[f32], w: usize, b: usize, rng: Option<&mut Mix>) -> Vec<(f32, u32)> {
        let mut st_s = vec![0.0; w];
        let mut st_id = vec![0; w];
        let mut noop = |_: &mut [(f32, u32)]| {};
        let mut rng = rng;
        for (t, c0) in (0..row.len()).step_by(b).enumerate() {
            let tile = &row[c0..(c0 + b).min(row.len())];
            match rng.as_deref_mut() {
                Some(r) => {
                    let mut sh = |v: &mut [(f32, u32)]| r.shuffle(v);
                    select_row(tile, c0 as u32, &mut st_s, &mut st_id, t == 0, &mut sh)
                }
                None => select_row(tile, c0 as u32, &mut st_s, &mut st_id, t == 0, &mut noop),
            }
        }
        st_s.into_iter().zip(st_id).filter(|e| e.1 != NONE).collect()
    }

    /// Tie-heavy rows: a few distinct values (quantised), some runs of equal values.
    fn tie_row(rng: &mut Mix, len: usize, levels: usize) -> Vec<f32> {
        (0..len).map(|_| rng.below(levels) as f32 / levels as f32 - 0.5).collect()
    }

    #[test]
    fn bitonic_sort_matches_a_plain_sort() {
        let mut rng = Mix(1);
        for len in [0, 1, 2, 3, 5, 8, 17, 64, 100, 1000, 2048] {
            for levels in [1, 3, 1000] {
                let mut ids: Vec<u32> = (0..len as u32).collect();
                rng.shuffle(&mut ids);
                let mut buf: Vec<(f32, u32)> = ids.iter().map(|&id| (rng.below(levels) as f32, id)).collect();
                let mut want = buf.clone();
                want.sort_by(rank_cmp);
                bitonic_sort(&mut buf);
                assert_eq!(buf, want, "len {len}, levels {levels}");
            }
        }
    }

    #[test]
    fn selection_matches_brute_force_on_tie_heavy_rows() {
        let mut rng = Mix(2);
        for &(len, w, b) in &[
            (1, 1, 1),
            (10, 10, 3),      // w = row length, tiles shorter than w
            (100, 37, 7),     // tiles shorter than w
            (5000, 50, 5000), // one tile, many compactions
            (5000, 50, 999),
            (5000, 1024, 1500), // the largest w
            (3000, 700, 64),
            (4096, 1, 1024),
        ] {
            for levels in [1, 2, 17, 1 << 20] {
                let row = tie_row(&mut rng, len, levels);
                let want = brute_top(&row, w);
                assert_eq!(model_top(&row, w, b, None), want, "len {len} w {w} b {b} levels {levels}");
                assert_eq!(model_top(&row, w, b, Some(&mut rng)), want, "shuffled appends");
            }
        }
    }

    #[test]
    fn selection_of_an_increasing_row_compacts_often() {
        // Every element beats the threshold: the worst case for compactions.
        let row: Vec<f32> = (0..20_000).map(|i| i as f32).collect();
        assert_eq!(model_top(&row, 100, 20_000, None), brute_top(&row, 100));
        let row: Vec<f32> = row.iter().rev().copied().collect();
        assert_eq!(model_top(&row, 100, 3000, None), brute_top(&row, 100));
    }

    #[test]
    fn finalize_keeps_the_best_rescored_and_checks_the_gap() {
        // Candidates chosen by screened value; re-scored values reorder them.
        let scr_s = [0.9, 0.8, 0.7, 0.6];
        let ids = [4, 2, 9, 1];
        let r = [0.85, 0.86, 0.7, 0.61];
        let (s, id, ok) = finalize_row(&scr_s, &ids, &r, 2, true, 0.01);
        assert_eq!(id, vec![2, 4]);
        assert_eq!(s, vec![0.86, 0.85]);
        assert!(ok, "0.85 > 0.6 + 0.01");
        let (_, _, ok) = finalize_row(&scr_s, &ids, &r, 2, true, 0.3);
        assert!(!ok, "0.85 <= 0.6 + 0.3");
        let (_, _, ok) = finalize_row(&scr_s, &ids, &r, 2, false, 0.3);
        assert!(ok, "no check when every row is a candidate");
        // Ties by id.
        let (_, id, _) = finalize_row(&scr_s, &ids, &[0.5, 0.5, 0.5, 0.5], 3, false, 0.0);
        assert_eq!(id, vec![1, 2, 4]);
    }

    /// The screen's acceptance rule against brute force: screened values anywhere within
    /// `eps` of the true ones (adversarially at the edges), selection of `w` by screened
    /// value, re-scoring with the true values, finalize. Accepted rows must hold the exact
    /// top `m`; some rows must be rejected, some accepted.
    #[test]
    fn screen_acceptance_is_never_wrong() {
        let mut rng = Mix(3);
        let (mut accepted, mut rejected) = (0, 0);
        for trial in 0..400 {
            let len = 50 + rng.below(3000);
            let m = 1 + rng.below(40);
            let w = (2 * m).min(len);
            let levels = [3, 50, 1000, 1 << 20][trial % 4];
            let eps = [1e-3f32, 1e-2, 0.05][trial % 3];
            let truth = tie_row(&mut rng, len, levels);
            let screened: Vec<f32> = truth
                .iter()
                .map(|&s| {
                    let e = match rng.below(3) {
                        0 => eps,
                        1 => -eps,
                        _ => (rng.unit() as f32 * 2.0 - 1.0) * eps,
                    };
                    s + e * 0.999
                })
                .collect();
            let b = 1 + rng.below(len);
            let cand = model_top(&screened, w, b, Some(&mut rng));
            let scr_s: Vec<f32> = cand.iter().map(|e| e.0).collect();
            let ids: Vec<u32> = cand.iter().map(|e| e.1).collect();
            let r: Vec<f32> = ids.iter().map(|&id| truth[id as usize]).collect();
            let (_, out_id, ok) = finalize_row(&scr_s, &ids, &r, m, w < len, eps);
            if ok {
                accepted += 1;
                let want: Vec<u32> = brute_top(&truth, m).iter().map(|e| e.1).collect();
                assert_eq!(out_id, want, "trial {trial}: an accepted row must be exact");
            } else {
                rejected += 1;
            }
        }
        assert!(accepted > 50 && rejected > 50, "both branches exercised: {accepted} accepted, {rejected} rejected");
    }

    #[test]
    fn screen_eps_covers_the_tf32_error() {
        let eps = screen_eps(256, 1.0);
        assert!(eps > 2.0e-3 && eps < 2.1e-3, "{eps}");
        assert!(screen_eps(4096, 1.0) > 4096.0 * 2f32.powi(-21));
        // Worst case for truncation: unit rows whose products all have the same sign and
        // entries just below a power of two.
        let mut rng = Mix(4);
        for d in [64usize, 256, 1024] {
            for _ in 0..20 {
                let mut x: Vec<f32> = (0..d).map(|_| 1.0 + rng.unit() as f32).collect();
                let norm = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
                x.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
                let exact: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
                let mut acc = 0f32;
                for &v in &x {
                    acc += tf32_truncate(v) * tf32_truncate(v);
                }
                assert!(((acc as f64) - exact).abs() < screen_eps(d, 1.0) as f64);
            }
        }
    }
}
