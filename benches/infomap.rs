//! Infomap (flow + search, one trial) on k-NN graphs of planted clusters, the graphs of the
//! reference comparison (`bench/compare/infomap_compare.py`):
//!
//! - `20k`: 20,000 x 64-D points in 8 equal clusters, noise 0.15, k = 20, min_sim = 0.3
//!   (about 380K links), the recipe of the Infomap spec's §9.2;
//! - `100k`: 100,000 x 64-D points in 1,000 clusters of long-tailed sizes, noise 0.15, k = 41,
//!   min_sim = 0.3 (about 4M links).
//!
//! The graphs are built once per run with exact faiss search (the 100k one takes about a
//! minute on 2 cores). Run with `cargo bench --bench infomap`; `-j`-style thread control is
//! `RAYON_NUM_THREADS`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use face_cluster::config::{EdgeConfig, KnnConfig, Similarity, K};
use face_cluster::edges::build_edges;
use face_cluster::error::Param;
use face_cluster::graph::Graph;
use face_cluster::infomap::{Infomap, InfomapConfig};
use face_cluster::knn::build_knn;
use face_cluster::progress::NoProgress;
use face_cluster::rng::Rng;
use face_cluster::Features;
use ndarray::Array2;

/// `n` points around `clusters` random unit centres in `dim` dimensions; cluster sizes follow
/// 1/rank^0.8 when `long_tail`, else are equal in expectation.
fn planted(n: usize, clusters: usize, dim: usize, noise: f64, long_tail: bool, seed: u64) -> Features {
    let mut rng = Rng::new(seed);
    let mut centres = vec![0f64; clusters * dim];
    for c in centres.chunks_mut(dim) {
        c.iter_mut().for_each(|x| *x = rng.normal());
        let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        c.iter_mut().for_each(|x| *x /= norm);
    }
    let weights: Vec<f64> = (1..=clusters).map(|r| if long_tail { (r as f64).powf(-0.8) } else { 1.0 }).collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = Vec::with_capacity(clusters);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cumulative.push(acc);
    }
    let mut data = Array2::<f32>::zeros((n, dim));
    for mut row in data.rows_mut() {
        let u = rng.unit_f64();
        let c = cumulative.partition_point(|&x| x < u).min(clusters - 1);
        for (j, x) in row.iter_mut().enumerate() {
            *x = (centres[c * dim + j] + noise * rng.normal()) as f32;
        }
    }
    Features::new(data, Path::new("planted"), true).expect("planted rows are finite and non-zero")
}

fn knn_graph(features: &Features, k: usize, min_sim: f32) -> Graph {
    let config = KnnConfig { k: K::new(k).expect("k >= 1"), ..KnnConfig::default() };
    let knn = build_knn(features, &config, &NoProgress).expect("exact search of planted points");
    let min_sim = Similarity::new(Param::MinSim, min_sim).expect("a similarity");
    build_edges(&knn, k, min_sim, &EdgeConfig::default()).expect("k fits the table")
}

fn bench_infomap(c: &mut Criterion) {
    let mut group = c.benchmark_group("infomap");
    group.sample_size(10).measurement_time(Duration::from_secs(30)).warm_up_time(Duration::from_secs(1));
    let graphs = [
        ("20k", knn_graph(&planted(20_000, 8, 64, 0.15, false, 0), 20, 0.3)),
        ("100k", knn_graph(&planted(100_000, 1000, 64, 0.15, true, 1), 41, 0.3)),
    ];
    for (name, graph) in &graphs {
        eprintln!("graph {name}: {} nodes, {} links", graph.n(), graph.num_links());
        let infomap = Infomap::new(InfomapConfig::default());
        group.bench_with_input(BenchmarkId::new("run", name), graph, |b, g| b.iter(|| black_box(infomap.run(g))));
    }
    group.finish();
}

criterion_group!(benches, bench_infomap);
criterion_main!(benches);
