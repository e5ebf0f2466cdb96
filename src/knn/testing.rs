//! Helpers for the tests of the search and of the stages after it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ndarray::Array2;

use super::{build_knn, Knn, NONE};
use crate::config::{KnnConfig, K};
use crate::features::Features;
use crate::progress::{NoProgress, Progress};
use crate::rng::Rng;

/// Uniform in [-1, 1), 24 random bits.
pub(crate) fn uniform_f32(rng: &mut Rng) -> f32 {
    ((rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
}

/// `n x d` random unit rows.
pub(crate) fn random_features(n: usize, d: usize, seed: u64) -> Features {
    let mut rng = Rng::new(seed);
    let data = Array2::from_shape_fn((n, d), |_| uniform_f32(&mut rng));
    Features::new(data, Path::new("random"), true).unwrap()
}

/// A search with `index` and `k`, the other settings their defaults.
pub(crate) fn config(index: &str, k: usize) -> KnnConfig {
    KnnConfig { k: K::new(k).unwrap(), index: index.to_string(), ..KnnConfig::default() }
}

/// A table with padded rows: an IVF search probing one of 16 lists for 300 neighbours.
pub(crate) fn padded_knn() -> Knn {
    let f = random_features(2000, 16, 11);
    let c = KnnConfig { nprobe: std::num::NonZeroUsize::new(1), ..config("IVF16,Flat", 300) };
    build_knn(&f, &c, &NoProgress).unwrap()
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
}

/// Checks `knn` against an exact search in f64: per row, the sims equal the true top-k
/// sims slot by slot, and every id is one whose true sim ties the slot's (ties may swap).
pub(crate) fn assert_matches_brute_force(f: &Features, knn: &Knn) {
    const TOL: f64 = 1e-5;
    assert_eq!(knn.n(), f.n());
    let mut all: Vec<(f64, u32)> = Vec::with_capacity(f.n());
    for i in 0..f.n() {
        all.clear();
        all.extend((0..f.n()).map(|j| (dot64(f.row(i), f.row(j)), j as u32)));
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let (ids, sims) = knn.row(i);
        let mut seen = std::collections::HashSet::new();
        for slot in 0..knn.k() {
            let (want_sim, want_id) = all[slot];
            let (id, sim) = (ids[slot], f64::from(sims[slot]));
            assert!((sim - want_sim).abs() <= TOL, "row {i} slot {slot}: sim {sim} vs {want_sim}");
            assert_ne!(id, NONE, "row {i} slot {slot} is empty");
            let true_sim = dot64(f.row(i), f.row(id as usize));
            assert!(
                id == want_id || (true_sim - want_sim).abs() <= TOL,
                "row {i} slot {slot}: id {id} (sim {true_sim}) instead of {want_id} ({want_sim})"
            );
            assert!((true_sim - sim).abs() <= TOL, "row {i} slot {slot}: sim of id {id} is off");
            assert!(seen.insert(id), "row {i}: id {id} twice");
        }
        assert_canonical_row(ids, sims);
    }
}

/// Sorted by (sim desc, id asc), padding only at the end.
pub(crate) fn assert_canonical_row(ids: &[u32], sims: &[f32]) {
    let filled = ids.iter().take_while(|&&id| id != NONE).count();
    assert!(ids[filled..].iter().all(|&id| id == NONE), "{ids:?}");
    assert!(sims[filled..].iter().all(|&s| s == f32::NEG_INFINITY), "{sims:?}");
    for s in 1..filled {
        let ok = sims[s - 1] > sims[s] || (sims[s - 1] == sims[s] && ids[s - 1] < ids[s]);
        assert!(ok, "slots {} and {s} out of order: {ids:?} {sims:?}", s - 1);
    }
}

/// Every row full (no padding), canonical and holding itself.
pub(crate) fn assert_full_rows(knn: &Knn) {
    for i in 0..knn.n() {
        let (ids, sims) = knn.row(i);
        assert_canonical_row(ids, sims);
        assert!(!ids.contains(&NONE), "row {i} is padded: {ids:?}");
        assert!(ids.contains(&(i as u32)), "row {i} misses itself");
    }
}

/// A [`Progress`] that records what it was told.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) stages: Mutex<Vec<(String, Option<u64>)>>,
    pub(crate) advanced: AtomicU64,
    pub(crate) finished: AtomicU64,
}

impl Progress for Recorder {
    fn start(&self, stage: &str, total: Option<u64>) {
        self.stages.lock().unwrap().push((stage.to_string(), total));
    }
    fn advance(&self, units: u64) {
        self.advanced.fetch_add(units, Ordering::Relaxed);
    }
    fn finish(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }
}
