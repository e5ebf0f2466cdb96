//! `metrics::evaluate` on 1M labels: 100K ground-truth clusters of about 10 items, and a
//! prediction that keeps 80% of the labels, splits 10% off into a twin cluster and scatters
//! 10% at random.
//!
//! `dense` uses the labels as generated (ids below 210K, renamed through a lookup table);
//! `spread` maps the same partitions over the whole `i64` range, which forces the hash-based
//! renaming. Run with `cargo bench --bench metrics`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use face_cluster::metrics::evaluate;
use face_cluster::rng::Rng;

const N: usize = 1_000_000;
const TRUE_CLUSTERS: u64 = 100_000;

/// `next_u64() % bound`: the labels only need to be the same on every run.
fn below(rng: &mut Rng, bound: u64) -> i64 {
    (rng.next_u64() % bound) as i64
}

fn labels() -> (Vec<i64>, Vec<i64>) {
    let mut rng = Rng::new(7);
    (0..N)
        .map(|_| {
            let t = below(&mut rng, TRUE_CLUSTERS);
            let p = match below(&mut rng, 10) {
                0..=7 => t,
                8 => t + TRUE_CLUSTERS as i64,
                _ => below(&mut rng, TRUE_CLUSTERS + TRUE_CLUSTERS / 10),
            };
            (t, p)
        })
        .unzip()
}

fn bench_evaluate(c: &mut Criterion) {
    let (truth, pred) = labels();
    // An odd multiplier is a bijection on i64, so the partitions stay the same.
    let spread = |v: &[i64]| -> Vec<i64> { v.iter().map(|&l| l.wrapping_mul(0x5851_F42D_4C95_7F2D)).collect() };
    let spread_pair = (spread(&truth), spread(&pred));
    let dense_pair = (truth, pred);

    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(30);
    for (name, (truth, pred)) in [("dense", &dense_pair), ("spread", &spread_pair)] {
        group.bench_with_input(BenchmarkId::new(name, N), &(), |b, ()| {
            b.iter(|| evaluate(black_box(truth), black_box(pred)).expect("equal, non-empty lengths"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_evaluate);
criterion_main!(benches);
