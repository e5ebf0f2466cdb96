//! The k-NN stage (`knn::build_knn`) on the synthetic face-like sets of `face-cluster synth`
//! (256-d, seed 1, generated in memory), k = 50:
//!
//! - `flat/20k`: exact search (`Flat`), all rows against all rows: a 20,000 x 20,000 x 256
//!   matrix product and a top-50 selection per row;
//! - `join/100k`: the inverted-file self-join as `--index auto` resolves it at 100,000 rows
//!   (`IVFJoin1024`, nprobe 4), quantizer included: the search a user gets there, on a fixed
//!   set. Before timing, it prints the search's GFLOPS (the report's `knn_speed`) once, to set
//!   beside the `sgemm` peak of `bench/scale/sgemm.c` (docs/scale.md).
//!
//! Run with `cargo bench --bench knn`; thread count: `RAYON_NUM_THREADS`, `OMP_NUM_THREADS`,
//! `OPENBLAS_NUM_THREADS`. The binary's start-up check of OpenBLAS's kernels does not run in a
//! bench: on a CPU that Debian's OpenBLAS 0.3.21 does not know, set `OPENBLAS_CORETYPE`
//! (`face-cluster knn` prints the core it uses with `OPENBLAS_VERBOSE=2`).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use face_cluster::config::{KnnConfig, K};
use face_cluster::knn::{build_knn, resolve, search_knn};
use face_cluster::progress::NoProgress;
use face_cluster::synth::{generate, SynthConfig};
use face_cluster::Features;

const K_SLOTS: usize = 50;

fn data(n: usize) -> Features {
    let synth = generate(&SynthConfig { n, dim: 256, seed: 1, ..SynthConfig::default() }).expect("valid parameters");
    Features::new(synth.features, Path::new("synth"), true).expect("synthetic rows are unit vectors")
}

fn bench_knn(c: &mut Criterion) {
    let mut group = c.benchmark_group("knn");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(40));
    for (name, n, index) in [("flat", 20_000, "Flat"), ("join", 100_000, "auto")] {
        let features = data(n);
        let config = KnnConfig { k: K::new(K_SLOTS).expect("50"), index: index.to_string(), ..KnnConfig::default() };
        let config = resolve(&config, n);
        let (_, stats) = search_knn(&features, &config, &NoProgress).expect("search of synthetic rows");
        eprintln!(
            "knn/{name}: {} nprobe {:?}: build {:.2}s ({:.1} GFLOPS), search {:.2}s ({:.1} GFLOPS)",
            config.index,
            config.nprobe,
            stats.build_secs,
            stats.build_gflops().unwrap_or(f64::NAN),
            stats.search_secs,
            stats.search_gflops().unwrap_or(f64::NAN)
        );
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new(name, format!("{}k", n / 1000)), &features, |b, f| {
            b.iter(|| build_knn(black_box(f), &config, &NoProgress).expect("search of synthetic rows"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_knn);
criterion_main!(benches);
