//! `face-cluster synth` and `face-cluster sweep` through the binary.

use std::path::Path;
use std::process::{Command, Output};

fn face_cluster(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_face-cluster")).args(args).output().expect("the binary runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

#[test]
fn synth_then_sweep_with_json_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = face_cluster(&["synth", "--n", "1500", "--dim", "32", "--seed", "3", "-o", path(&data)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1500 rows x 32") && stderr.contains("identities"), "{stderr}");
    for file in ["feats.npy", "feats.bin", "labels.meta", "sources.meta"] {
        assert!(data.join(file).is_file(), "{file}");
    }
    // Same seed, same bytes.
    let again = dir.path().join("again");
    let out = face_cluster(&["synth", "--n", "1500", "--dim", "32", "--seed", "3", "-o", path(&again), "-q"]);
    assert!(out.status.success() && out.stderr.is_empty());
    assert_eq!(std::fs::read(data.join("feats.npy")).unwrap(), std::fs::read(again.join("feats.npy")).unwrap());

    let plot = dir.path().join("sweep.svg");
    let feats = data.join("feats.npy");
    let labels = data.join("labels.meta");
    let out = face_cluster(&[
        "sweep",
        path(&feats),
        "--labels",
        path(&labels),
        "--k",
        "10,20",
        "--min-sim",
        "0.5:0.6:0.05",
        "--json",
        "--plot",
        path(&plot),
        "-q",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells = json["cells"].as_array().unwrap();
    let grid: Vec<(u64, f64)> =
        cells.iter().map(|c| (c["k"].as_u64().unwrap(), (c["min_sim"].as_f64().unwrap() * 100.0).round())).collect();
    assert_eq!(grid, [(10, 50.0), (10, 55.0), (10, 60.0), (20, 50.0), (20, 55.0), (20, 60.0)]);
    let best = json["best"].as_u64().unwrap() as usize;
    assert_eq!(cells[best]["best"], true);
    assert_eq!(json["params"]["knn_k"], 20);
    assert!(std::fs::read_to_string(&plot).unwrap().contains("</svg>"));

    // The Markdown table, from a cached k-NN table.
    let knn = dir.path().join("knn.npz");
    let out = face_cluster(&["knn", path(&feats), "-k", "20", "-o", path(&knn), "-q"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = face_cluster(&["sweep", "--knn", path(&knn), "--labels", path(&labels), "--k", "10,20", "-q"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("| k | min_sim | pairwise P |"), "{table}");
    assert_eq!(table.lines().filter(|l| l.starts_with("| ")).count(), 3, "{table}");
    assert!(table.contains("Best pairwise F"), "{table}");

    // A cache with fewer slots than the largest k is an error naming --k, and no plot appears.
    let plot2 = dir.path().join("none.svg");
    let out =
        face_cluster(&["sweep", "--knn", path(&knn), "--labels", path(&labels), "--k", "30", "--plot", path(&plot2)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("face-cluster: error: invalid --k"), "{stderr}");
    assert!(!plot2.exists());
}

#[test]
fn bad_grids_are_usage_errors() {
    let out = face_cluster(&["sweep", "f.npy", "--labels", "gt", "--min-sim", "0.5:0.7"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--min-sim") && stderr.contains("START:STOP:STEP"), "{stderr}");
}

#[test]
fn synth_errors_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let out = face_cluster(&["synth", "--n", "10", "-o", path(&blocker.join("sub"))]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("face-cluster: error: ") && stderr.contains("sub"), "{stderr}");

    let out = face_cluster(&["synth", "--n", "10", "--junk-fraction", "2", "-o", path(&dir.path().join("d"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --junk-fraction"));
    assert!(!dir.path().join("d").exists(), "parameters are checked before the folder is made");
}

/// The lines of a text file of integers.
fn numbers(file: &Path) -> Vec<u64> {
    std::fs::read_to_string(file).unwrap().lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn synth_family_files_agree_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let album = ["synth", "--family", "album", "--seed", "2", "--kinds", "-q", "-o"];
    let out = face_cluster(&[&album[..], &[path(&one), "-j", "1"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = face_cluster(&[&album[..], &[path(&two), "-j", "2"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for file in ["feats.npy", "feats.bin", "labels.meta", "sources.meta", "kinds.meta"] {
        assert_eq!(std::fs::read(one.join(file)).unwrap(), std::fs::read(two.join(file)).unwrap(), "{file}");
    }
    // 24 people, rows grouped by label; 128-d; sources name a person or a junk row of its own.
    let labels = numbers(&one.join("labels.meta"));
    let sources = numbers(&one.join("sources.meta"));
    let rows = labels.len();
    assert_eq!(sources.len(), rows);
    assert!(labels.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1) && labels[rows - 1] == 23);
    assert_eq!(std::fs::metadata(one.join("feats.bin")).unwrap().len(), (rows * 128 * 4) as u64);
    assert!(sources.iter().all(|&s| s < 24 || (24..24 + rows as u64).contains(&s)));
    let agree = labels.iter().zip(&sources).filter(|(l, s)| l == s).count();
    assert!(agree as f64 > 0.97 * rows as f64, "{agree} of {rows}");
    // Kinds: junk rows are their own source; a quarter of the album is near-duplicates.
    let kinds = numbers(&one.join("kinds.meta"));
    assert_eq!(kinds.len(), rows);
    for ((&kind, &label), &source) in kinds.iter().zip(&labels).zip(&sources) {
        match kind {
            0 => assert_eq!(source, label),
            2 => assert!(source >= 24),
            3 => assert!(source < 24 && source != label),
            _ => assert_eq!(kind, 1),
        }
    }
    let copies = kinds.iter().filter(|&&k| k == 1).count() as f64 / rows as f64;
    assert!((0.2..0.26).contains(&copies), "{copies}");
}

#[test]
fn synth_family_summary_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = face_cluster(&["synth", "--family", "mixed", "--n", "3000", "--dim", "32", "-o", path(&data)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for needle in
        ["3000 rows x 32", "sessions", "near-duplicate rows", "of the junk rows clustered", "near-duplicate to"]
    {
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(!data.join("kinds.meta").exists(), "kinds.meta only on request");
    let out = face_cluster(&["synth", "--family", "nope", "-o", path(&data)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope") && stderr.contains("album"), "{stderr}");
    let out = face_cluster(&["synth", "--dup-fraction", "1", "-o", path(&dir.path().join("e"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --dup-fraction"));
}
