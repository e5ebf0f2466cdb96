//! `face-cluster add` (issue 15): one batch of 1,000 rows added to a saved clustering of
//! 20,000 and of 100,000 rows, on the synthetic face-like sets of `face-cluster synth` (256-d,
//! seed 1, rows shuffled so that a batch holds faces of many identities, as a camera roll
//! does), with the main job's defaults (k = 50, `--min-sim auto`, `--index auto`:
//! `IVFJoin128` at 20,000 rows, `IVFJoin1024` at 100,000; nprobe 4).
//!
//! Each iteration runs [`update::add`] on the saved state, every stage from reading the state
//! to writing its new files, and drops the result uncommitted (the temporary files go, the
//! state stays as saved), so every iteration adds the same batch to the same state; only the
//! final renames are left out. Setting up saves the state with the main job (a few seconds at
//! 100,000 rows on 2 cores). Run with `cargo bench --bench add`; `bench/add/run.sh speed` times
//! the binary at larger sizes (docs/add.md).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use face_cluster::config::{InputConfig, Preset, RunConfig};
use face_cluster::measure::Stages;
use face_cluster::pipeline;
use face_cluster::rng::Rng;
use face_cluster::synth::{generate, SynthConfig};
use face_cluster::update::{add, AddJob, Scope};
use ndarray::Array2;

const BATCH: usize = 1000;
const DIM: usize = 256;

/// Writes `n` shuffled synthetic rows as `dir/base.npy` and the next [`BATCH`] as
/// `dir/batch.npy`, and saves the main job's clustering of the base to `dir/state`.
fn saved(dir: &Path, n: usize) {
    let synth =
        generate(&SynthConfig { n: n + BATCH, dim: DIM, seed: 1, ..SynthConfig::default() }).expect("valid parameters");
    let mut order: Vec<usize> = (0..n + BATCH).collect();
    Rng::new(7).shuffle(&mut order);
    let rows = |ids: &[usize]| {
        let mut out = Array2::<f32>::zeros((ids.len(), DIM));
        for (r, &i) in ids.iter().enumerate() {
            out.row_mut(r).assign(&synth.features.row(i));
        }
        out
    };
    ndarray_npy::write_npy(dir.join("base.npy"), &rows(&order[..n])).expect("base.npy written");
    ndarray_npy::write_npy(dir.join("batch.npy"), &rows(&order[n..])).expect("batch.npy written");
    let mut config = RunConfig::preset(Preset::Best, InputConfig::features(dir.join("base.npy")));
    config.save = Some(dir.join("state"));
    let out = pipeline::run(&config, &mut Stages::quiet()).expect("the main job on synthetic rows");
    out.state.expect("--save").commit(Vec::new()).expect("state committed");
}

fn bench_add(c: &mut Criterion) {
    let mut group = c.benchmark_group("add_1000_rows");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for n in [20_000usize, 100_000] {
        let tmp = tempfile::tempdir().expect("a temporary folder");
        saved(tmp.path(), n);
        let job = AddJob {
            state: tmp.path().join("state"),
            features: tmp.path().join("batch.npy"),
            format: None,
            dim: None,
            truth: None,
            scope: Scope::Update,
        };
        group.bench_with_input(BenchmarkId::from_parameter(n), &job, |b, job| {
            b.iter(|| black_box(add(job, &mut Stages::quiet()).expect("a batch of synthetic rows")).labels.len())
        });
    }
    group.finish();
}

criterion_group!(benches, bench_add);
criterion_main!(benches);
