use std::num::NonZeroUsize;

use super::*;
use crate::config::{KnnConfig, K};
use crate::edges::build_edges;
use crate::infomap::{Infomap, InfomapConfig};
use crate::knn::{search_knn_keeping_quantizer, Knn};
use crate::labels::assign_labels;
use crate::progress::NoProgress;
use crate::Features;

/// A small clustering and everything a state keeps of it.
struct Fixture {
    features: Features,
    knn: Knn,
    quantizer: Option<Quantizer>,
    modules: Vec<u32>,
    clusters: Vec<u32>,
    rates: Rates,
    params: StateParams,
    codelength: f64,
}

fn fixture(index: &str) -> Fixture {
    let s =
        crate::synth::generate(&crate::synth::SynthConfig { n: 700, dim: 16, seed: 4, ..Default::default() }).unwrap();
    let features = Features::new(s.features, Path::new("synth"), true).unwrap();
    let config = KnnConfig {
        k: K::new(10).unwrap(),
        index: index.to_string(),
        nprobe: NonZeroUsize::new(4),
        ..KnnConfig::default()
    };
    let config = if index == "Flat" { KnnConfig { nprobe: None, ..config } } else { config };
    let (knn, stats, quantizer) = search_knn_keeping_quantizer(&features, &config, &NoProgress).unwrap();
    let min_sim = Similarity::new(Param::MinSim, 0.5).unwrap();
    let graph = build_edges(&knn, 10, min_sim, &EdgeConfig::default()).unwrap();
    let infomap = Infomap::new(InfomapConfig::default());
    let partition = infomap.run(&graph);
    let clusters = assign_labels(&partition, &graph, Lonely::Own);
    let rates = Rates::from_flow(&graph, &partition.node_flow, FlowModel::Directed, 0.15);
    let params = StateParams {
        k: 10,
        min_sim: 0.5,
        min_sim_auto: false,
        edges: EdgeConfig::default(),
        flow: FlowModel::Directed,
        lonely: Lonely::Own,
        merge: None,
        bandwidth: None,
        teleportation_probability: 0.15,
        seed: 123,
        trials: 1,
        index: stats.resolved.index.clone(),
        nprobe: stats.resolved.nprobe.map(NonZeroUsize::get),
        normalize: true,
    };
    Fixture {
        knn,
        features,
        quantizer,
        modules: partition.modules.clone(),
        clusters,
        rates,
        params,
        codelength: partition.codelength,
    }
}

fn save(f: &Fixture, dir: &Path) {
    let target = StateTarget::prepare(dir).unwrap();
    let new = NewState {
        params: f.params.clone(),
        features: f.features.as_slice(),
        dim: 16,
        knn: &f.knn,
        quantizer: f.quantizer.as_ref(),
        modules: &f.modules,
        clusters: &f.clusters,
        rates: &f.rates,
        codelength_bits: f.codelength,
    };
    target.write(new).unwrap().commit(Vec::new()).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_saved_state_reads_back_as_it_was_written() {
    for index in ["Flat", "IVFJoin8"] {
        let f = fixture(index);
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        save(&f, &dir);
        let state = State::open(&dir).unwrap();
        assert_eq!(state.features.values_from(0).flatten().copied().collect::<Vec<f32>>(), f.features.as_slice());
        for i in 0..700 {
            assert_eq!(state.table.row(i), f.knn.row(i));
        }
        assert_eq!(state.quantizer, f.quantizer, "{index}");
        assert_eq!(
            (state.modules.as_slice(), state.clusters.as_slice()),
            (f.modules.as_slice(), f.clusters.as_slice())
        );
        assert_eq!(state.rates.parts(), f.rates.parts());
        assert_eq!(state.manifest.params, f.params);
        assert_eq!((state.n(), state.k(), state.dim(), state.manifest.generation), (700, 10, 16, 0));
        let mut expected = vec!["knn-0.bin", "lock", "nodes-0.bin", "rows-0.bin", "state.json"];
        if index != "Flat" {
            expected.insert(3, "quantizer-0.bin");
        }
        assert_eq!(names(&dir), expected);
    }
}

#[test]
fn an_update_writes_only_what_changed_and_reads_back() {
    let f = fixture("IVFJoin8");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    save(&f, &dir);
    let mut state = State::open(&dir).unwrap();
    // Append 5 copies of rows 0..5, patch the k-NN row of row 7.
    let extra: Vec<f32> = state.features.values_from(0).next().unwrap()[..5 * 16].to_vec();
    state.features.append(&extra);
    state.quantizer.as_mut().unwrap().extend(&extra);
    for i in 0..5 {
        let (row_ids, row_sims) = state.table.row(i);
        let (row_ids, row_sims) = (row_ids.to_vec(), row_sims.to_vec());
        state.table.set_row(700 + i, &row_ids, &row_sims);
    }
    let (mut row_ids, row_sims) = (state.table.row(7).0.to_vec(), state.table.row(7).1.to_vec());
    row_ids[9] = 704;
    state.table.set_row(7, &row_ids, &row_sims);
    state.modules.extend([0, 0, 0, 0, 0]);
    state.clusters.extend([3, 3, 3, 3, 3]);
    state.rates.add_nodes(5);
    let change = Change { rows_before: 700, patched: vec![7], full: false, next_cluster_id: 999, codelength_bits: 4.5 };
    let rows_of = |s: &State| -> Vec<(Vec<u32>, Vec<f32>)> {
        (0..s.n()).map(|i| (s.table.row(i).0.to_vec(), s.table.row(i).1.to_vec())).collect()
    };
    let features_of = |s: &State| -> Vec<f32> { s.features.values_from(0).flatten().copied().collect() };
    let (rows, features) = (rows_of(&state), features_of(&state));
    state.write(&change).unwrap().commit(Vec::new()).unwrap();
    let back = State::open(&dir).unwrap();
    assert_eq!((rows_of(&back), features_of(&back)), (rows, features));
    assert_eq!((back.n(), back.manifest.generation, back.manifest.next_cluster_id), (705, 1, 999));
    assert_eq!(back.manifest.files.knn.iter().map(|e| e.records).collect::<Vec<_>>(), [700, 6]);
    assert_eq!(back.manifest.rows_since_full, 5);
    assert_eq!(back.quantizer.as_ref().unwrap().lists().len(), 705);
    assert_eq!(
        names(&dir),
        ["knn-0.bin", "knn-1.bin", "lock", "nodes-1.bin", "quantizer-0.bin", "rows-0.bin", "rows-1.bin", "state.json"]
    );
}

#[test]
fn foreign_old_damaged_and_locked_states_are_one_line_errors() {
    let f = fixture("Flat");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let error = |dir: &Path| State::open(dir).unwrap_err().to_string();
    assert!(error(&dir).ends_with("state: No such file or directory (os error 2)"), "{}", error(&dir));
    fs::write(tmp.path().join("file"), "x").unwrap();
    assert!(error(&tmp.path().join("file")).ends_with("file: not a saved clustering (a file, not a folder)"));
    fs::create_dir(&dir).unwrap();
    assert!(error(&dir).ends_with("state: not a saved clustering (no state.json)"));
    fs::write(dir.join("state.json"), "{\"hello\": 1}").unwrap();
    assert!(
        error(&dir).ends_with("state.json: not a face-cluster state manifest (no \"format\": \"face-cluster state\")")
    );
    fs::write(dir.join("state.json"), "\u{1}binary").unwrap();
    assert!(error(&dir).ends_with("state.json: not a face-cluster state manifest (not JSON)"));
    // A state of the previous version (before the steps after Infomap were saved).
    fs::write(dir.join("state.json"), "{\"format\": \"face-cluster state\", \"version\": 2}").unwrap();
    assert!(
        error(&dir).ends_with("state format version 2; this face-cluster reads version 3 (save the clustering again)")
    );
    fs::write(dir.join("state.json"), "{\"format\": \"face-cluster state\", \"version\": 0}").unwrap();
    assert!(error(&dir).ends_with(
        "state.json: state format version 0; this face-cluster reads version 3 (save the clustering again)"
    ));
    // A folder holding other files is not overwritten; one holding a state is.
    let e = StateTarget::prepare(&dir).unwrap_err().to_string();
    assert!(e.contains("state.json: not a face-cluster state manifest") || e.contains("version 0"), "{e}");
    fs::remove_file(dir.join("state.json")).unwrap();
    fs::write(dir.join("notes.txt"), "mine").unwrap();
    let e = StateTarget::prepare(&dir).unwrap_err().to_string();
    assert!(e.ends_with("holds files but no saved clustering; refusing to write into it"), "{e}");
    fs::remove_file(dir.join("notes.txt")).unwrap();
    save(&f, &dir);
    save(&f, &dir);
    assert_eq!(State::open(&dir).unwrap().manifest.generation, 1);
    assert_eq!(names(&dir), ["knn-1.bin", "lock", "nodes-1.bin", "rows-1.bin", "state.json"]);
    // Locked while open.
    let state = State::open(&dir).unwrap();
    assert!(error(&dir).ends_with("state: in use: another face-cluster process is writing this state"));
    drop(state);
    // Damaged files.
    let rows = dir.join("rows-1.bin");
    let bytes = fs::read(&rows).unwrap();
    fs::write(&rows, &bytes[..bytes.len() - 4]).unwrap();
    assert!(
        error(&dir).contains("rows-1.bin: is 44860 bytes but state.json says 44864; the state is damaged"),
        "{}",
        error(&dir)
    );
    let mut other = bytes.clone();
    other[0] = b'X';
    fs::write(&rows, &other).unwrap();
    assert!(error(&dir).ends_with("rows-1.bin: not a face-cluster state file (no FCSTATE header)"));
    fs::write(&rows, &bytes).unwrap();
    fs::remove_file(dir.join("knn-1.bin")).unwrap();
    assert!(error(&dir).ends_with("knn-1.bin: No such file or directory (os error 2)"));
}
