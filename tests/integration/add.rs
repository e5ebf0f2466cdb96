//! `--save STATE` and `face-cluster add STATE NEW` through the binary: labels of all rows with
//! stable ids, the state updated in place, one-line errors for states that are not ours, and
//! a state that survives Ctrl-C (a real SIGINT) and a crash (SIGKILL) during `add` unchanged.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Every file of a folder with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), fs::read(e.path()).unwrap())
        })
        .collect()
}

fn labels(path: &Path) -> Vec<u32> {
    fs::read_to_string(path).unwrap().lines().map(|l| l.parse().unwrap()).collect()
}

/// `clusters` tight clusters of `per` rows in `dim` dimensions, cluster by cluster.
fn rows(clusters: usize, per: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..dim).map(|_| rng.next_f32()).collect()).collect();
    (0..clusters * per).map(|i| centres[i % clusters].iter().map(|c| c + 0.08 * rng.next_f32()).collect()).collect()
}

#[test]
fn save_then_add_labels_every_row_and_keeps_the_ids_of_untouched_clusters() {
    let s = Scratch::new();
    // 12 clusters of 20; the added rows belong to clusters 0-3 only.
    let all = rows(12, 20, 16, 3);
    let (mut old, mut old_cluster, mut new, mut new_cluster) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, row) in all.into_iter().enumerate() {
        if i < 180 || i % 12 >= 4 {
            old.push(row);
            old_cluster.push(i % 12);
        } else {
            new.push(row);
            new_cluster.push(i % 12);
        }
    }
    s.file("old.npy", npy_f32(&old));
    s.file("new.npy", npy_f32(&new));
    assert_success(&s.run(&["old.npy", "--k", "10", "--min-sim", "0.9", "--save", "state", "-o", "before.txt", "-q"]));
    let names: Vec<String> = snapshot(&s.path().join("state")).into_keys().collect();
    assert_eq!(names, ["knn-0.bin", "lock", "nodes-0.bin", "rows-0.bin", "state.json"]);
    let out = s.run(&["add", "state", "new.npy", "-o", "after.txt", "--report", "add.json"]);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("added {} rows to {}", new.len(), old.len())), "{stderr}");
    let (before, after) = (labels(&s.path().join("before.txt")), labels(&s.path().join("after.txt")));
    assert_eq!(after.len(), old.len() + new.len());
    // Rows of clusters 4-11 (no added row) keep their ids; added rows join their clusters.
    for (i, &c) in old_cluster.iter().enumerate() {
        if c >= 4 {
            assert_eq!(after[i], before[i], "row {i}");
        }
    }
    for (j, &c) in new_cluster.iter().enumerate() {
        let cluster_row = old_cluster.iter().position(|&o| o == c).unwrap();
        assert_eq!(after[old.len() + j], after[cluster_row], "added row {j}");
    }
    let report: serde_json::Value = serde_json::from_slice(&fs::read(s.path().join("add.json")).unwrap()).unwrap();
    assert_eq!(report["rows"], old.len() + new.len());
    assert_eq!(report["generation"], 1);
    assert_eq!(report["clusters"]["new"], 0);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(s.path().join("state/state.json")).unwrap()).unwrap();
    assert_eq!((manifest["rows"].as_u64(), manifest["generation"].as_u64()), (Some(240), Some(1)));
    assert_eq!(old.len() + new.len(), 240);
    let names: Vec<String> = snapshot(&s.path().join("state")).into_keys().collect();
    assert_eq!(names, ["knn-0.bin", "knn-1.bin", "lock", "nodes-1.bin", "rows-0.bin", "rows-1.bin", "state.json"]);
}

#[test]
fn the_default_preset_saves_and_adds_with_its_steps_after_infomap() {
    let s = Scratch::new();
    // 12 tight clusters of 20 and 6 rows that are alone; the added rows belong to clusters 0-3.
    let mut all = rows(12, 20, 16, 3);
    all.extend(rows(6, 1, 16, 99));
    let (mut old, mut old_cluster, mut new, mut new_cluster) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, row) in all.into_iter().enumerate() {
        if !(180..240).contains(&i) || i % 12 >= 4 {
            old.push(row);
            old_cluster.push(if i < 240 { i % 12 } else { i });
        } else {
            new.push(row);
            new_cluster.push(i % 12);
        }
    }
    s.file("old.npy", npy_f32(&old));
    s.file("new.npy", npy_f32(&new));
    // The default preset (no option): k fitted to the rows, its own threshold, merge, attach.
    assert_success(&s.run(&["old.npy", "--save", "state", "-o", "before.txt", "--report", "save.json", "-q"]));
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(s.path().join("state/state.json")).unwrap()).unwrap();
    let params = &manifest["params"];
    assert_eq!((params["lonely"].as_str(), manifest["version"].as_u64()), (Some("nearest"), Some(3)));
    assert!((params["merge"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-6, "{params}");
    assert!(params["bandwidth"].as_f64().unwrap() > 0.0, "{params}");
    let out = s.run(&["add", "state", "new.npy", "-o", "after.txt", "--report", "add.json"]);
    assert_success(&out);
    let (before, after) = (labels(&s.path().join("before.txt")), labels(&s.path().join("after.txt")));
    assert_eq!(after.len(), old.len() + new.len());
    for (i, &c) in old_cluster.iter().enumerate() {
        if c >= 4 {
            assert_eq!(after[i], before[i], "row {i}");
        }
    }
    for (j, &c) in new_cluster.iter().enumerate() {
        let cluster_row = old_cluster.iter().position(|&o| o == c).unwrap();
        assert_eq!(after[old.len() + j], after[cluster_row], "added row {j}");
    }
    let report: serde_json::Value = serde_json::from_slice(&fs::read(s.path().join("add.json")).unwrap()).unwrap();
    let clusters = &report["clusters"];
    assert_eq!(report["params"]["lonely"], "nearest");
    for field in ["merged_by_share", "attached_rows", "attach_skipped"] {
        assert!(!clusters[field].is_null(), "{field}: {clusters}");
    }
    let saved: serde_json::Value = serde_json::from_slice(&fs::read(s.path().join("save.json")).unwrap()).unwrap();
    assert_eq!(clusters["clusters"], saved["clusters"], "{clusters}");
}

#[test]
fn states_that_are_not_ours_and_bad_requests_are_one_line_errors() {
    let s = Scratch::new();
    s.good_inputs();
    let cases: [(&[&str], &[&str]); 3] = [
        (&["add", "nothing", "feats.npy"], &["nothing: No such file or directory"]),
        (&["add", "out", "feats.npy"], &["out: not a saved clustering (no state.json)"]),
        (&["add", "feats.npy", "feats.npy"], &["feats.npy: not a saved clustering (a file, not a folder)"]),
    ];
    for (args, needles) in cases {
        assert_error(&s.run(args), 1, needles);
    }
    fs::create_dir(s.path().join("foreign")).unwrap();
    s.file("foreign/state.json", r#"{"format": "something else", "version": 1}"#);
    assert_error(
        &s.run(&["add", "foreign", "feats.npy"]),
        1,
        &["foreign/state.json: not a face-cluster state manifest"],
    );
    s.file("foreign/state.json", r#"{"format": "face-cluster state", "version": 7}"#);
    assert_error(
        &s.run(&["add", "foreign", "feats.npy"]),
        1,
        &["foreign/state.json: state format version 7; this face-cluster reads version 3"],
    );
    // --save needs features, a row-local rule, and a folder that is empty or a state.
    s.run(&["knn", "feats.npy", "-k", "5", "-o", "knn.npz"]);
    assert_error(
        &s.run(&["--knn", "knn.npz", "--k", "5", "--save", "st", "-o", "out/labels.txt"]),
        1,
        &["invalid --save: needs the feature file"],
    );
    assert_error(
        &s.run(&["feats.npy", "--k", "5", "--edges", "snn", "--save", "st", "-o", "out/labels.txt"]),
        1,
        &["invalid --save: needs links made from each row alone"],
    );
    assert_error(
        &s.run(&["feats.npy", "--k", "5", "--preset", "best", "--save", "out", "-o", "labels.txt"]),
        1,
        &["out: is a folder that holds files but no saved clustering; refusing to write into it"],
    );
    s.assert_outputs_untouched();
    assert!(!s.path().join("st").exists(), "a failed --save leaves no folder");
    // A state of other rows' dimension.
    assert_success(&s.run(&["feats.npy", "--k", "5", "--min-sim", "0.9", "--save", "st", "-o", "l.txt", "-q"]));
    s.file("wide.npy", npy_f32(&rows(2, 3, 9, 1)));
    assert_error(
        &s.run(&["add", "st", "wide.npy", "-o", "l2.txt"]),
        1,
        &["wide.npy: rows of dimension 9, but the state's rows have 8"],
    );
    assert!(!s.path().join("l2.txt").exists());
}

/// A state of 30,000 random 8-d rows searched exactly, and 20,000 more to add: the exact
/// search of the added rows takes seconds.
fn slow_state(s: &Scratch) {
    let mut rng = SplitMix64(5);
    let mut random = |n: usize| -> Vec<Vec<f32>> { (0..n).map(|_| (0..8).map(|_| rng.next_f32()).collect()).collect() };
    s.file("old.npy", npy_f32(&random(30_000)));
    s.file("new.npy", npy_f32(&random(20_000)));
    assert_success(&s.run(&[
        "old.npy",
        "--k",
        "10",
        "--min-sim",
        "0.97",
        "--index",
        "Flat",
        "--save",
        "state",
        "-o",
        "out/base.txt",
        "-q",
    ]));
}

fn send(signal: &str, child: &Child) {
    let status = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill {signal}");
}

/// Starts `add` and waits until it reports that `stage` started (stage lines are printed when
/// the next stage starts, so this waits for the line of the stage before).
fn start_add(s: &Scratch, after: &str) -> Child {
    let mut child = face_cluster()
        .current_dir(s.path())
        .args(["add", "state", "new.npy", "-o", "out/added.txt", "--report", "out/added.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with(after) {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "stderr ended before {after:?}");
    }
    // Keep reading stderr, so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    child
}

#[test]
fn ctrl_c_during_add_leaves_the_state_as_it_was() {
    let s = Scratch::new();
    slow_state(&s);
    let before = snapshot(&s.path().join("state"));
    // The state's load line is printed when the search of the added rows starts.
    let mut child = start_add(&s, "load state: done");
    send("-INT", &child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    assert_eq!(snapshot(&s.path().join("state")), before, "the state must be byte for byte as it was");
    assert!(!s.path().join("out/added.txt").exists() && !s.path().join("out/added.json").exists());
    // And it is still usable.
    assert_success(&s.run(&["add", "state", "new.npy", "-o", "out/added.txt", "-q"]));
    assert_eq!(labels(&s.path().join("out/added.txt")).len(), 50_000);
}

#[test]
fn a_crash_during_add_leaves_the_old_state_readable() {
    let s = Scratch::new();
    slow_state(&s);
    let before = snapshot(&s.path().join("state"));
    // Killed at several points: mid-search, while writing, around the commit.
    let mut seen_new = false;
    for delay_ms in [0u64, 1000, 3000, 3600, 3900, 4200] {
        let mut child = start_add(&s, "load state: done");
        std::thread::sleep(Duration::from_millis(delay_ms));
        send("-KILL", &child);
        child.wait().unwrap();
        let now = snapshot(&s.path().join("state"));
        let manifest: serde_json::Value = serde_json::from_slice(&now["state.json"]).unwrap();
        if manifest["generation"] == 0 {
            // The old state, whole: every file it names is as it was (a killed process may
            // leave a temporary file of its own, which the next update removes).
            for (name, bytes) in &before {
                assert_eq!(now.get(name), Some(bytes), "{name} after a kill at {delay_ms} ms");
            }
            for name in now.keys().filter(|n| !before.contains_key(*n)) {
                assert!(name.starts_with('.') && name.contains(".tmp"), "stray {name} after a kill at {delay_ms} ms");
            }
        } else {
            // Killed after the commit: the new state, whole.
            seen_new = true;
            assert_eq!(manifest["rows"], 50_000);
            break;
        }
        // The state opens and can be updated (the last loop round does that anyway).
        let probe = s.run(&["add", "state", "missing.npy"]);
        assert_error(&probe, 1, &["missing.npy: No such file or directory"]);
    }
    let _ = seen_new;
    // Whatever happened, one more add works and leaves no stray file.
    if serde_json::from_slice::<serde_json::Value>(&fs::read(s.path().join("state/state.json")).unwrap()).unwrap()
        ["generation"]
        == 0
    {
        assert_success(&s.run(&["add", "state", "new.npy", "-o", "out/added.txt", "-q"]));
    }
    let names: Vec<String> = snapshot(&s.path().join("state")).into_keys().collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    let started = Instant::now();
    assert_success(&s.run(&["add", "state", "new.npy", "-o", "out/again.txt", "-q"]));
    assert!(started.elapsed() < Duration::from_secs(120));
}
