//! `edges::build_edges` with the seed's rule (the default [`EdgeConfig`], what the main job
//! runs) on a k-NN table of 100,000 rows x k = 50, the size of the comparison
//! with the seed (`bench/compare/pipeline_compare.py`), without a search: the table is drawn so
//! that pruning does the work it does on face data.
//!
//! Row `i` holds itself (similarity 1) and 49 distinct neighbours, mostly rows of its own block of 70
//! (an identity), a few anywhere, with similarities falling from about 0.9 to 0.5 along the
//! row, so that about 80% pass `min_sim` = 0.58, as on the synthetic sets. Cases:
//!
//! - `k50`: all 50 slots, `min_sim` 0.58 (the seed's setting);
//! - `k30`: the first 30 slots of the same table (re-clustering from a cached, larger table);
//! - `none_kept`: `min_sim` 0.99, nothing passes (the counting pass alone, no link written).
//!
//! Run with `cargo bench --bench graph`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use face_cluster::config::{EdgeConfig, Similarity};
use face_cluster::edges::build_edges;
use face_cluster::error::Param;
use face_cluster::knn::Knn;
use face_cluster::rng::Rng;

const N: usize = 100_000;
const K: usize = 50;
const BLOCK: u64 = 70;

fn table() -> Knn {
    let mut rng = Rng::new(11);
    let mut ids = Vec::with_capacity(N * K);
    let mut sims = Vec::with_capacity(N * K);
    for i in 0..N as u64 {
        let block_start = i - i % BLOCK;
        let mut row: Vec<(f32, u32)> = vec![(1.0, i as u32)];
        for slot in 1..K {
            // Distinct neighbours other than the row itself, as a search returns them.
            let j = loop {
                let j = if rng.below(10) < 9 {
                    (block_start + rng.below(BLOCK)).min(N as u64 - 1)
                } else {
                    rng.below(N as u64)
                };
                if !row.iter().any(|r| u64::from(r.1) == j) {
                    break j;
                }
            };
            let sim = 0.9 - 0.4 * slot as f64 / K as f64 + 0.05 * rng.normal();
            row.push((sim.min(0.95) as f32, j as u32));
        }
        // Canonical order, as build_knn leaves it: similarity descending, then id.
        row[1..].sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ids.extend(row.iter().map(|r| r.1));
        sims.extend(row.iter().map(|r| r.0));
    }
    Knn::from_rows(K, ids, sims).expect("canonical rows")
}

fn bench_build_edges(c: &mut Criterion) {
    let knn = table();
    let mut group = c.benchmark_group("build_edges");
    group.sample_size(30);
    let seed = EdgeConfig::default();
    for (name, k, min_sim) in [("k50", K, 0.58f32), ("k30", 30, 0.58), ("none_kept", K, 0.99)] {
        let min_sim = Similarity::new(Param::MinSim, min_sim).expect("a similarity");
        let links = build_edges(&knn, k, min_sim, &seed).expect("valid k").num_links();
        eprintln!("build_edges {name}: {N} rows, k={k}, min_sim={min_sim}: {links} links");
        group.throughput(Throughput::Elements((N * k) as u64));
        group.bench_with_input(BenchmarkId::new(name, N), &(k, min_sim), |b, &(k, min_sim)| {
            b.iter(|| build_edges(black_box(&knn), k, min_sim, &seed).expect("valid k"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_build_edges);
criterion_main!(benches);
