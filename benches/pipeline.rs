//! The main job without file I/O, on the synthetic face-like sets of `face-cluster synth`
//! (256-d, seed 1, generated in memory), at the seed's setting k = 50, min_sim = 0.58:
//!
//! - `after_knn/20k`, `after_knn/100k`: [`cluster::cluster`], the main job's stages after the
//!   search (graph, Infomap, cluster labels and evaluation), from a k-NN table searched once
//!   beforehand: everything the seed does in Python, which is where face-cluster's advantage
//!   over it comes from (`bench/compare/pipeline_compare.py`);
//! - `end_to_end/20k`: the same plus the exact faiss search (`Flat`), which dominates.
//!
//! Setting up the 100k case searches 100,000 rows (about a minute on 2 cores). Run with
//! `cargo bench --bench pipeline`; thread count: `RAYON_NUM_THREADS`, `OMP_NUM_THREADS`,
//! `OPENBLAS_NUM_THREADS`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use face_cluster::cluster::{self, ClusterParams};
use face_cluster::config::{KnnConfig, Optimizer, Similarity, Strategy, K};
use face_cluster::knn::{build_knn, Knn};
use face_cluster::measure::Stages;
use face_cluster::metrics::Scores;
use face_cluster::progress::NoProgress;
use face_cluster::synth::{generate, SynthConfig};
use face_cluster::Features;

const K_SLOTS: usize = 50;

fn data(n: usize) -> (Features, Vec<i64>) {
    let synth = generate(&SynthConfig { n, dim: 256, seed: 1, ..SynthConfig::default() }).expect("valid parameters");
    let truth = synth.labels.iter().map(|&l| i64::from(l)).collect();
    let features = Features::new(synth.features, Path::new("synth"), true).expect("synthetic rows are unit vectors");
    (features, truth)
}

fn search(features: &Features) -> Knn {
    let k = K::new(K_SLOTS).expect("50");
    build_knn(features, &KnnConfig { k, index: "Flat".to_string(), ..KnnConfig::default() }, &NoProgress)
        .expect("exact search of synthetic rows")
}

/// Graph, Infomap, labels, scores: the stages after the search, as the main job runs them at
/// the seed's setting.
fn cluster(knn: &Knn, truth: &[i64]) -> Scores {
    let params = ClusterParams {
        k: K_SLOTS,
        min_sim: Similarity::SEED,
        strategy: Strategy::default(),
        optimizer: Optimizer::default(),
        bandwidth: None,
    };
    let clustering = cluster::cluster(std::borrow::Cow::Borrowed(knn), &params, Some(truth), &mut Stages::quiet())
        .expect("k fits the table, one label per row");
    clustering.eval.expect("ground truth was given")
}

fn bench_pipeline(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(20));
    for n in [20_000, 100_000] {
        let (features, truth) = data(n);
        let knn = search(&features);
        let scores = cluster(&knn, &truth);
        eprintln!("pipeline {n}: pairwise F {:.4}", scores.pairwise.f);
        let id = format!("{}k", n / 1000);
        group.bench_with_input(BenchmarkId::new("after_knn", &id), &knn, |b, knn| {
            b.iter(|| cluster(black_box(knn), &truth))
        });
        if n == 20_000 {
            group.measurement_time(Duration::from_secs(40));
            group.bench_with_input(BenchmarkId::new("end_to_end", &id), &features, |b, features| {
                b.iter(|| cluster(&search(black_box(features)), &truth))
            });
            group.measurement_time(Duration::from_secs(20));
        }
    }
    group.finish();
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
