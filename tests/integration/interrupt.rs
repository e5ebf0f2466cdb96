//! Interruption and closed pipes: Ctrl-C (or SIGTERM) mid-run leaves no partial output and the
//! older file of the same name untouched, with status 128 + signal; a stdout closed early
//! (`face-cluster ... | head`) ends the run quietly with status 0.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use face_cluster::knn::{Knn, NONE};

use crate::common::*;

/// Features whose exact k-NN search takes seconds (30,000 random 8-d rows: the search is
/// quadratic), so that a signal sent once the outputs exist arrives mid-run.
fn slow_features(s: &Scratch) {
    let mut rng = SplitMix64(11);
    let rows: Vec<Vec<f32>> = (0..30_000).map(|_| (0..8).map(|_| rng.next_f32()).collect()).collect();
    s.file("feats.npy", npy_f32(&rows));
}

fn send(signal: &str, child: &Child) {
    let status = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill {signal}");
}

/// Waits until `dir` holds a temporary file for each of `targets` (`.NAME.tmp...`).
fn wait_for_temp_files(dir: &Path, targets: &[&str], child: &mut Child) {
    let started = Instant::now();
    loop {
        let names: Vec<String> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        if targets.iter().all(|t| names.iter().any(|n| n.starts_with(&format!(".{t}.tmp")))) {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("face-cluster ended ({status}) before its outputs were created");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no temporary files in {}", dir.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn interrupt_the_main_job(signal: &str, expected_status: i32) {
    let s = Scratch::new();
    slow_features(&s);
    let mut child = face_cluster()
        .current_dir(s.path())
        .args(["feats.npy", "--k", "2", "--min-sim", "0.99", "-o", "out/labels.txt", "--report", "out/run.json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_temp_files(&s.path().join("out"), &["labels.txt", "run.json"], &mut child);
    send(signal, &child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(expected_status), "{status}");
    s.assert_outputs_untouched();
}

#[test]
fn ctrl_c_leaves_no_partial_output_and_exits_130() {
    interrupt_the_main_job("-INT", 130);
}

#[test]
fn sigterm_leaves_no_partial_output_and_exits_143() {
    interrupt_the_main_job("-TERM", 143);
}

#[test]
fn ctrl_c_during_a_knn_search_leaves_the_older_table() {
    let s = Scratch::new();
    slow_features(&s);
    let mut child = face_cluster()
        .current_dir(s.path())
        .args(["knn", "feats.npy", "-k", "2", "-o", "out/knn.npz"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The load stage's line is printed when the next stage, the search, starts.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("load: done") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "stderr ended before the search started");
    }
    send("-INT", &child);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status}");
    s.assert_outputs_untouched();
}

#[test]
fn closed_stdout_ends_the_run_quietly_with_status_0() {
    // 200,000 rows without links from a cached table (no search: quick), so the labels (1.3 MB)
    // are far more than a pipe holds and the writer meets the closed pipe.
    let s = Scratch::new();
    let n = 200_000;
    let ids = (0..n as u32).flat_map(|i| [i, NONE]).collect();
    let sims = (0..n).flat_map(|_| [1.0, f32::NEG_INFINITY]).collect();
    Knn::from_rows(2, ids, sims).unwrap().save(&s.path().join("cache.npz")).unwrap();

    let mut child = face_cluster()
        .current_dir(s.path())
        .args(["--knn", "cache.npz", "--k", "2", "--min-sim", "0.99", "-q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(first, "0\n");
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "stderr must be empty: {}", String::from_utf8_lossy(&out.stderr));
}
