use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::*;
use crate::cluster::{label_rows, LabelRules, Refined};
use crate::config::{InputConfig, KnnConfig, Lonely, MinSim, Preset, RunConfig, Share, Similarity, K};
use crate::edges::build_edges;
use crate::error::Param;
use crate::infomap::Infomap;
use crate::knn::build_knn;
use crate::labels::{assign_labels, number_by_size};
use crate::pipeline;
use crate::progress::NoProgress;
use crate::rng::Rng;
use crate::threshold::nearest_two;
use crate::Features;

/// A little-endian float32 `.npy` of `rows` rows of `dim` values.
fn write_npy(path: &Path, values: &[f32], dim: usize) {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}", values.len() / dim);
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

/// Synthetic faces, shuffled, with their identities.
fn faces(n: usize, dim: usize, seed: u64) -> (Vec<f32>, Vec<i64>) {
    let s = crate::synth::generate(&crate::synth::SynthConfig {
        n,
        dim,
        seed,
        mean_identity_size: 30.0,
        ..Default::default()
    })
    .unwrap();
    let mut order: Vec<usize> = (0..n).collect();
    Rng::new(seed).shuffle(&mut order);
    let data = s.features.as_slice().unwrap();
    let rows = order.iter().flat_map(|&i| data[i * dim..(i + 1) * dim].iter().copied()).collect();
    (rows, order.iter().map(|&i| i64::from(s.labels[i])).collect())
}

/// Saves the first `base` rows of `rows` to `dir/state` with `index`, and writes the rest as
/// batches of `batch` rows (`dir/batch-B.npy`); returns the main job's labels.
fn save_and_split(dir: &Path, rows: &[f32], dim: usize, base: usize, batch: usize, index: &str) -> Vec<u32> {
    save_and_split_with(Preset::Seed, dir, rows, dim, base, batch, index)
}

/// [`save_and_split`] with `preset`: the seed's method at k 20 and min_sim 0.5, or the default
/// preset at k 40 (its two tiers both in use), with its own threshold, merge and attach.
fn save_and_split_with(
    preset: Preset,
    dir: &Path,
    rows: &[f32],
    dim: usize,
    base: usize,
    batch: usize,
    index: &str,
) -> Vec<u32> {
    save_and_split_merging(preset, None, dir, rows, dim, base, batch, index)
}

/// [`save_and_split_with`], clusters merged at `merge` when given.
#[allow(clippy::too_many_arguments)]
fn save_and_split_merging(
    preset: Preset,
    merge: Option<f32>,
    dir: &Path,
    rows: &[f32],
    dim: usize,
    base: usize,
    batch: usize,
    index: &str,
) -> Vec<u32> {
    write_npy(&dir.join("base.npy"), &rows[..base * dim], dim);
    for (b, chunk) in rows[base * dim..].chunks(batch * dim).enumerate() {
        write_npy(&dir.join(format!("batch-{b}.npy")), chunk, dim);
    }
    let mut config = RunConfig::preset(preset, InputConfig::features(dir.join("base.npy")));
    let k = if preset == Preset::Default { 40 } else { 20 };
    config.knn = KnnConfig { k: K::new(k).unwrap(), index: index.to_string(), ..KnnConfig::default() };
    if preset != Preset::Default {
        config.min_sim = MinSim::Fixed(Similarity::new(Param::MinSim, 0.5).unwrap());
    }
    if let Some(share) = merge {
        config.strategy.merge = Some(Share::new(Param::Merge, share).unwrap());
    }
    config.save = Some(dir.join("state"));
    let out = pipeline::run(&config, &mut Stages::quiet()).unwrap();
    out.state.unwrap().commit(Vec::new()).unwrap();
    out.labels
}

fn add_batch(dir: &Path, b: usize, scope: Scope) -> AddOutput {
    let job = AddJob {
        state: dir.join("state"),
        features: dir.join(format!("batch-{b}.npy")),
        format: None,
        dim: None,
        truth: None,
        scope,
    };
    add(&job, &mut Stages::quiet()).unwrap()
}

#[test]
fn an_exact_state_keeps_the_exact_table_and_a_consistent_flow_and_codelength() {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 24;
    let (rows, _) = faces(2400, dim, 3);
    save_and_split(tmp.path(), &rows, dim, 2000, 200, "Flat");
    for b in 0..2 {
        let out = add_batch(tmp.path(), b, Scope::Update);
        assert_eq!(out.labels.len(), 2200 + 200 * b);
        out.commit(Vec::new()).unwrap();
    }
    let state = State::open(&tmp.path().join("state")).unwrap();
    let n = state.n();
    assert_eq!(n, 2400);
    // The k-NN table is the exact table of all rows, as a fresh search finds it.
    let values: Vec<f32> = state.features.values_from(0).flatten().copied().collect();
    let all =
        Features::new(ndarray::Array2::from_shape_vec((n, dim), values).unwrap(), Path::new("all"), false).unwrap();
    let fresh = build_knn(
        &all,
        &KnnConfig { k: K::new(20).unwrap(), index: "Flat".into(), ..KnnConfig::default() },
        &NoProgress,
    )
    .unwrap();
    for i in 0..n {
        assert_eq!(state.table.row(i), fresh.row(i), "row {i}");
    }
    // The flow kept up to date is the flow of the network, solved afresh.
    let network = state.network();
    let config = crate::infomap::InfomapConfig::default();
    let solved = Rates::compute(&network, &config);
    let (kept, exact) = (state.rates.view(), solved.view());
    for v in 0..n {
        let (a, b) = (kept.node_flow(v), exact.node_flow(v));
        assert!((a - b).abs() <= 1e-3 * b + 1e-12, "node {v}: {a} vs {b}");
    }
    // The codelength saved is the partition's on that network.
    let full = Infomap::new(config).codelength_of(&network, &state.modules).codelength;
    let saved = state.manifest.codelength_bits;
    assert!((saved - full).abs() < 1e-5 * full, "{saved} vs {full}");
}

#[test]
fn clusters_no_added_row_touched_keep_their_ids_and_rows() {
    untouched_clusters_keep_their_ids(Preset::Seed);
}

#[test]
fn clusters_no_added_row_touched_keep_their_ids_and_rows_with_the_default_preset() {
    untouched_clusters_keep_their_ids(Preset::Default);
}

fn untouched_clusters_keep_their_ids(preset: Preset) {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 32;
    let (rows, labels) = faces(3000, dim, 5);
    // New rows of a third of the identities only.
    let (mut base, mut added) = (Vec::new(), Vec::new());
    for (i, &l) in labels.iter().enumerate() {
        let row = &rows[i * dim..(i + 1) * dim];
        if i >= 2400 && l % 3 == 0 {
            added.extend_from_slice(row);
        } else if i < 2400 {
            base.extend_from_slice(row);
        }
    }
    let base_rows = base.len() / dim;
    base.extend_from_slice(&added);
    let before = save_and_split_with(preset, tmp.path(), &base, dim, base_rows, added.len() / dim, "IVFJoin16");
    let out = add_batch(tmp.path(), 0, Scope::Update);
    let after = &out.labels;
    let r = &out.report;
    let attached_rows = r.clusters.attached_rows;
    assert!(r.clusters.touched > 0 && r.infomap.active_rows < base_rows, "{:?}", r.infomap);
    // Which old clusters did an added row touch: link to or from one of their rows, or
    // change one of their rows' links?
    let state = State::open(&tmp.path().join("state"));
    assert!(state.is_err(), "the state is locked until the update is committed or dropped");
    drop(state);
    let pending_labels = after.clone();
    out.commit(Vec::new()).unwrap();
    let state = State::open(&tmp.path().join("state")).unwrap();
    let network = state.network();
    let mut touched_rows = HashSet::new();
    let mut links = Vec::new();
    for x in base_rows..state.n() {
        links.clear();
        network.links(x, &mut links);
        touched_rows.extend(links.iter().map(|l| l.0));
    }
    for i in 0..base_rows {
        links.clear();
        network.links(i, &mut links);
        if links.iter().any(|l| l.0 as usize >= base_rows) {
            touched_rows.insert(i as u32);
        }
        // With the default preset, a lone row may also attach to an added row that became one
        // of its nearest two, below the threshold.
        let nearest = state.table.row(i).0.iter().filter(|&&j| j != NONE && j as usize != i).take(2);
        if preset == Preset::Default && nearest.clone().any(|&j| j as usize >= base_rows) {
            touched_rows.insert(i as u32);
        }
    }
    let touched: HashSet<u32> =
        touched_rows.iter().filter(|&&i| (i as usize) < base_rows).map(|&i| before[i as usize]).collect();
    let mut members: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, &c) in before.iter().enumerate() {
        members.entry(c).or_default().push(i);
    }
    let mut untouched = 0;
    for (c, rows) in &members {
        if touched.contains(c) {
            continue;
        }
        untouched += 1;
        for &i in rows {
            assert_eq!(pending_labels[i], *c, "row {i} of untouched cluster {c}");
        }
        // Rows may join it (an added row, or a re-optimised row of a touched cluster, moving
        // into a neighbouring module), but none of an untouched cluster.
        for (i, &l) in pending_labels.iter().enumerate() {
            if l == *c && i < base_rows && before[i] != *c {
                assert!(touched.contains(&before[i]), "row {i} of untouched cluster {} joined {c}", before[i]);
            }
        }
    }
    assert!(untouched > members.len() / 3, "{untouched} of {} clusters untouched", members.len());
    if preset == Preset::Default {
        // The steps after Infomap ran, and the labels are theirs.
        assert_eq!(state.manifest.params.lonely, Lonely::Nearest);
        assert!(state.manifest.params.merge.is_some() && state.manifest.params.bandwidth.is_some());
        assert!(attached_rows > 0, "no row attached");
    }
    // Old rows keep their place; added rows of untouched identities are few or none.
    assert_eq!(pending_labels.len(), state.n());
}

#[test]
fn the_same_update_on_one_and_two_threads() {
    same_update_on_one_and_two_threads(Preset::Seed);
}

#[test]
fn the_same_update_on_one_and_two_threads_with_the_default_preset() {
    same_update_on_one_and_two_threads(Preset::Default);
}

fn same_update_on_one_and_two_threads(preset: Preset) {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 16;
    let (rows, _) = faces(2600, dim, 9);
    save_and_split_with(preset, tmp.path(), &rows, dim, 2300, 300, "IVFJoin16");
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(tmp.path().join("state")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let run = |threads: usize, dir: &str| {
        let job = AddJob {
            state: tmp.path().join(dir),
            features: tmp.path().join("batch-0.npy"),
            format: None,
            dim: None,
            truth: None,
            scope: Scope::CheckDrift,
        };
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| add(&job, &mut Stages::quiet()).unwrap())
    };
    let (one, two) = (run(1, "state"), run(2, "copy"));
    assert_eq!(one.labels, two.labels);
    assert_eq!(one.report.clusters, two.report.clusters);
    assert_eq!(one.report.infomap, two.report.infomap);
    assert_eq!(one.report.drift, two.report.drift);
    let drift = one.report.drift.as_ref().unwrap();
    assert!(drift.drift.abs() < 0.01 && drift.kept == "update", "{drift:?}");
}

/// A state saved with the default preset and updated: its labels are those the main job's
/// steps after Infomap ([`label_rows`]) give for the partition kept on the same network, built
/// the main job's way from a fresh exact search of all rows; with the update alone and with
/// `--full`.
#[test]
fn a_default_state_labels_its_rows_as_the_main_job_does() {
    default_state_labels_its_rows_as_the_main_job_does(None);
}

/// The same with clusters merged at a share low enough that merges happen on this data.
#[test]
fn a_default_state_merging_more_labels_its_rows_as_the_main_job_does() {
    default_state_labels_its_rows_as_the_main_job_does(Some(0.1));
}

fn default_state_labels_its_rows_as_the_main_job_does(merge: Option<f32>) {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 16;
    let (rows, _) = faces(2600, dim, 13);
    let saved = save_and_split_merging(Preset::Default, merge, tmp.path(), &rows, dim, 2200, 200, "Flat");
    let state = State::open(&tmp.path().join("state")).unwrap();
    assert_eq!(state.clusters, saved, "the state holds the main job's labels");
    drop(state);
    for (b, scope) in [(0, Scope::Update), (1, Scope::Full)] {
        let out = add_batch(tmp.path(), b, scope);
        let (labels, changes) = (out.labels.clone(), out.report.clusters.clone());
        out.commit(Vec::new()).unwrap();
        let state = State::open(&tmp.path().join("state")).unwrap();
        let n = state.n();
        assert_eq!((n, &state.clusters), (2200 + 200 * (b + 1), &labels), "the labels are the ids saved");
        // The main job's network of all rows.
        let p = &state.manifest.params;
        let values: Vec<f32> = state.features.values_from(0).flatten().copied().collect();
        let all =
            Features::new(ndarray::Array2::from_shape_vec((n, dim), values).unwrap(), Path::new("all"), false).unwrap();
        let knn_config = KnnConfig { k: K::new(p.k).unwrap(), index: "Flat".into(), ..KnnConfig::default() };
        let knn = build_knn(&all, &knn_config, &NoProgress).unwrap();
        let min_sim = p.min_sim().unwrap();
        let graph = build_edges(&knn, p.k, min_sim, &p.edges).unwrap();
        let partition = Infomap::new(crate::infomap::InfomapConfig::default()).codelength_of(&graph, &state.modules);
        let rules = LabelRules { lonely: p.lonely, merge: p.merge, min_sim, bandwidth: p.bandwidth };
        let mut steps = Refined::default();
        let expected = label_rows(&partition, &graph, &nearest_two(&knn), &rules, &mut steps);
        assert_eq!(number_by_size(&labels), expected, "batch {b}");
        assert_eq!(
            (changes.merged_by_share, changes.attached_rows, changes.attach_skipped),
            (steps.merges, steps.attached, steps.attach_skipped)
        );
        // The steps changed something: labels without them differ.
        assert!(steps.attached > 0, "{steps:?}");
        if merge.is_some() {
            assert!(steps.merges > 0, "{steps:?}");
        }
        assert_ne!(assign_labels(&partition, &graph, Lonely::Own), expected);
    }
}

#[test]
fn full_keeps_the_whole_reoptimisation_and_resets_the_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 16;
    let (rows, _) = faces(2200, dim, 11);
    save_and_split(tmp.path(), &rows, dim, 2000, 100, "Flat");
    add_batch(tmp.path(), 0, Scope::Update).commit(Vec::new()).unwrap();
    let out = add_batch(tmp.path(), 1, Scope::Full);
    let d = out.report.drift.clone().unwrap();
    assert_eq!(d.kept, "full");
    assert!((out.report.infomap.codelength_bits - d.fresh_codelength_bits).abs() < 1e-12);
    assert_eq!(out.report.rows_since_full, 0);
    out.commit(Vec::new()).unwrap();
    let state = State::open(&tmp.path().join("state")).unwrap();
    assert_eq!(state.manifest.rows_since_full, 0);
    let actions: Vec<&str> = state.manifest.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["save", "add", "add --full"]);
}

#[test]
fn rows_of_another_dimension_and_truth_of_another_length_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (rows, _) = faces(600, 8, 2);
    save_and_split(tmp.path(), &rows, 8, 500, 100, "Flat");
    write_npy(&tmp.path().join("wide.npy"), &[0.5; 40], 10);
    let job = |features: &str, truth: Option<&str>| AddJob {
        state: tmp.path().join("state"),
        features: tmp.path().join(features),
        format: None,
        dim: None,
        truth: truth.map(|t| tmp.path().join(t)),
        scope: Scope::Update,
    };
    let e = add(&job("wide.npy", None), &mut Stages::quiet()).unwrap_err().to_string();
    assert!(e.ends_with("wide.npy: rows of dimension 10, but the state's rows have 8"), "{e}");
    std::fs::write(tmp.path().join("gt.meta"), "1\n".repeat(500)).unwrap();
    let e = add(&job("batch-0.npy", Some("gt.meta")), &mut Stages::quiet()).unwrap_err().to_string();
    assert!(
        e.contains("gt.meta: has 500 labels but 600 were expected (one per row of ") && e.ends_with("batch-0.npy)"),
        "{e}"
    );
    // Nothing was written.
    let state = State::open(&tmp.path().join("state")).unwrap();
    assert_eq!((state.n(), state.manifest.generation), (500, 0));
}
