//! The main job without file I/O, on the synthetic face-like sets of `face-cluster synth`
//! (256-d, seed 1, generated in memory), at the seed's setting k = 50, min_sim = 0.58:
//!
//! - `after_knn/20k`, `after_knn/100k`: graph, Infomap, cluster labels and evaluation from a
//!   k-NN table searched once beforehand: everything the seed does in Python, which is where
//!   face-cluster's advantage over it comes from (`bench/compare/pipeline_compare.py`);
//! - `end_to_end/20k`: the same plus the exact faiss search (`Flat`), which dominates.
//!
//! Setting up the 100k case searches 100,000 rows (about a minute on 2 cores). Run with
//! `cargo bench --bench pipeline`; thread count: `RAYON_NUM_THREADS`, `OMP_NUM_THREADS`,
//! `OPENBLAS_NUM_THREADS`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use face_cluster::graph::build_graph;
use face_cluster::infomap::{Infomap, InfomapConfig};
use face_cluster::knn::{build_knn, Knn, KnnConfig};
use face_cluster::metrics::{evaluate, Scores};
use face_cluster::pipeline::cluster_labels;
use face_cluster::progress::NoProgress;
use face_cluster::synth::{generate, SynthConfig};
use face_cluster::Features;

const K: usize = 50;
const MIN_SIM: f32 = 0.58;

fn data(n: usize) -> (Features, Vec<i64>) {
    let synth = generate(&SynthConfig { n, dim: 256, seed: 1, ..SynthConfig::default() }).expect("valid parameters");
    let truth = synth.labels.iter().map(|&l| i64::from(l)).collect();
    let features = Features::new(synth.features, Path::new("synth"), true).expect("synthetic rows are unit vectors");
    (features, truth)
}

fn search(features: &Features) -> Knn {
    build_knn(features, &KnnConfig { k: K, index: "Flat".to_string(), ..KnnConfig::default() }, &NoProgress)
        .expect("exact search of synthetic rows")
}

/// Graph, Infomap, labels, scores: the stages after the search.
fn cluster(knn: &Knn, truth: &[i64]) -> Scores {
    let graph = build_graph(knn, K, MIN_SIM).expect("k fits the table");
    let partition = Infomap::new(InfomapConfig::default()).run(&graph);
    let labels = cluster_labels(&partition, &graph);
    let pred: Vec<i64> = labels.iter().map(|&l| i64::from(l)).collect();
    evaluate(truth, &pred).expect("one label per row")
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
