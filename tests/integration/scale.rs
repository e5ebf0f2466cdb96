//! Issue 5 (scale): the index `auto` resolves to and its report, the edge-recall check, the
//! determinism of an IVF search and of the IVF self-join, and the restart with faster OpenBLAS
//! kernels.

use std::fs;
use std::path::Path;

#[cfg(target_arch = "x86_64")]
use face_cluster::blas::{better_core, CpuLevel};
use face_cluster::report::Report;

use crate::common::*;

/// Runs the main job on LFW half A (6,878 rows) with `args`; returns the parsed report and the
/// labels.
fn cluster_lfw(dir: &Path, args: &[&str]) -> (Report, Vec<u8>) {
    let data = data_dir().join("lfw-a");
    let out = face_cluster()
        .current_dir(dir)
        .arg(data.join("feats.npy"))
        .args(["--k", "30", "--min-sim", "0.95", "-q", "-o", "labels.txt", "--report", "run.json"])
        .args(args)
        .output()
        .unwrap();
    assert_success(&out);
    let report: Report = serde_json::from_slice(&fs::read(dir.join("run.json")).unwrap()).unwrap();
    (report, fs::read(dir.join("labels.txt")).unwrap())
}

#[test]
fn auto_is_exact_on_small_inputs_and_the_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = cluster_lfw(dir.path(), &["--check-recall", "300"]);
    assert_eq!(report.params.index, "Flat", "auto resolves to Flat for 6,878 rows");
    assert_eq!((report.params.nprobe, report.params.ef_search), (None, None));
    let recall = report.recall.expect("--check-recall fills the report's recall");
    assert_eq!((recall.sample_rows, recall.k, recall.min_sim, recall.seed), (300, 30, 0.95, 123));
    assert_eq!((recall.topk_recall, recall.kept_link_recall), (1.0, 1.0));
    assert!(recall.exact_kept_links > 0 && recall.found_kept_links == recall.exact_kept_links);
    let stages = &report.peak_rss_bytes_by_stage;
    for (stage, rss) in
        [("load", stages.load), ("knn", stages.knn), ("recall", stages.recall), ("infomap", stages.infomap)]
    {
        let rss = rss.unwrap_or_else(|| panic!("no peak RSS for {stage}"));
        assert!(rss > 1 << 20 && rss <= report.peak_rss_bytes.unwrap(), "{stage}: {rss}");
    }
}

#[test]
fn auto_joins_inverted_lists_above_ten_thousand_rows_the_same_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let synth = face_cluster()
        .current_dir(dir.path())
        .args(["synth", "--n", "12000", "--dim", "64", "--seed", "3", "-o", "data"])
        .output()
        .unwrap();
    assert_success(&synth);
    let runs: Vec<(Report, Vec<u8>)> = ["1", "2"]
        .iter()
        .map(|threads| {
            let out = face_cluster()
                .current_dir(dir.path())
                .args(["data/feats.npy", "--min-sim", "0.58", "--labels", "data/labels.meta", "-q"])
                .args(["--check-recall", "500", "-j", threads, "-o", "labels.txt", "--report", "run.json"])
                .output()
                .unwrap();
            assert_success(&out);
            let report: Report = serde_json::from_slice(&fs::read(dir.path().join("run.json")).unwrap()).unwrap();
            (report, fs::read(dir.path().join("labels.txt")).unwrap())
        })
        .collect();
    let (report, labels) = &runs[0];
    // 12000 / 128 = 94: 128 lists, 4 probed.
    assert_eq!((report.params.index.as_str(), report.params.nprobe), ("IVFJoin128", Some(4)));
    let speed = report.knn_speed.as_ref().unwrap();
    assert!(speed.search_flops.unwrap() > 0.0 && speed.search_gflops.unwrap() > 0.0, "{speed:?}");
    let recall = report.recall.as_ref().unwrap();
    assert!(recall.kept_link_recall >= 0.99 && recall.exact_kept_links > 10_000, "{recall:?}");
    assert!(report.timings_secs.knn_build > 0.0 && report.timings_secs.knn_build <= report.timings_secs.knn);
    assert!(labels == &runs[1].1, "labels differ between -j 1 and -j 2 with IVFJoin");
    assert_eq!((&report.graph, &report.infomap), (&runs[1].0.graph, &runs[1].0.infomap));
}

#[test]
fn an_ivf_search_is_reported_with_its_parameters_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = cluster_lfw(dir.path(), &["--index", "IVF64,Flat", "--nprobe", "2", "--check-recall", "500"]);
    assert_eq!((report.params.index.as_str(), report.params.nprobe), ("IVF64,Flat", Some(2)));
    let recall = report.recall.unwrap();
    // 2 of 64 lists: some neighbours are missed, the close ones mostly not.
    assert!(recall.topk_recall < 1.0, "{recall:?}");
    assert!(recall.kept_link_recall > 0.5 && recall.kept_link_recall <= 1.0, "{recall:?}");
    assert!(report.timings_secs.knn_build > 0.0 && report.timings_secs.knn_build <= report.timings_secs.knn);
}

#[test]
fn ivf_labels_do_not_depend_on_the_thread_count() {
    let runs: Vec<(Report, Vec<u8>)> = ["1", "2", "1"]
        .iter()
        .map(|threads| {
            let dir = tempfile::tempdir().unwrap();
            cluster_lfw(dir.path(), &["--index", "IVF128,Flat", "--nprobe", "4", "-j", threads])
        })
        .collect();
    for (report, labels) in &runs[1..] {
        assert!(labels == &runs[0].1, "labels differ between -j 1 and -j 2 with IVF");
        assert_eq!(report.infomap, runs[0].0.infomap);
        assert_eq!(report.graph, runs[0].0.graph);
    }
}

#[test]
fn knn_check_recall_prints_the_recall_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = face_cluster()
        .current_dir(dir.path())
        .arg("knn")
        .arg(data_dir().join("lfw-a/feats.npy"))
        .args(["-k", "20", "--index", "IVF32,Flat", "--nprobe", "32", "--check-recall", "100", "--min-sim", "0.9"])
        .args(["-o", "knn.npz"])
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("index IVF32,Flat nprobe=32: k-NN table written to knn.npz"), "{stderr}");
    // Probing every list is exact.
    assert!(stderr.contains("edge recall 1.0000 (") && stderr.contains("top-20 recall 1.0000"), "{stderr}");
    assert!(stderr.contains("with sim >= 0.9 of 100 sampled rows"), "{stderr}");
}

#[test]
fn recall_options_are_checked() {
    let s = Scratch::new();
    s.good_inputs();
    let out = s.run_main(&["feats.npy", "--k", "5", "--check-recall", "0"]);
    assert_error(&out, 1, &["invalid --check-recall: must be at least 1 row"]);
    s.assert_outputs_untouched();
    let out = s.run(&["knn", "feats.npy", "-k", "5", "--min-sim", "0.5", "-o", "out/knn.npz"]);
    assert_eq!(out.status.code(), Some(2), "--min-sim of knn needs --check-recall");
    s.assert_outputs_untouched();
}

/// The `Core: NAME` lines OpenBLAS prints when it loads with `OPENBLAS_VERBOSE=2`, one per
/// process image (the restart prints a second one).
#[cfg(target_arch = "x86_64")]
fn openblas_cores(env: &[(&str, &str)]) -> Option<Vec<String>> {
    let data = data_dir().join("att-orl");
    let mut cmd = face_cluster();
    cmd.env_remove("OPENBLAS_CORETYPE").env("OPENBLAS_VERBOSE", "2");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let labels = data.join("labels.meta");
    let out = cmd.arg("eval").arg("--gt").arg(&labels).arg("--pred").arg(&labels).output().unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let cores: Vec<String> =
        stderr.lines().filter_map(|l| l.strip_prefix("Core: ")).map(|c| c.trim().to_string()).collect();
    (!cores.is_empty()).then_some(cores)
}

/// Whether the test can see the restart: a CPU with AVX2 and FMA, and an OpenBLAS built with
/// `DYNAMIC_ARCH` (it names its core when `OPENBLAS_VERBOSE=2`).
#[cfg(target_arch = "x86_64")]
fn restart_is_observable() -> bool {
    if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
        eprintln!("skipped: this CPU lacks AVX2 or FMA, so a generic OpenBLAS core is the right one");
        return false;
    }
    if openblas_cores(&[]).is_none() {
        eprintln!("skipped: the BLAS is not an OpenBLAS with DYNAMIC_ARCH (no 'Core:' line)");
        return false;
    }
    true
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_generic_openblas_core_is_replaced_by_a_fast_one() {
    if !restart_is_observable() {
        return;
    }
    // Simulates OpenBLAS falling back to Prescott on a CPU it does not know.
    let cores =
        openblas_cores(&[("OPENBLAS_CORETYPE", "Prescott"), ("FACE_CLUSTER_OPENBLAS_SIMULATE_DETECTED", "1")]).unwrap();
    assert_eq!(cores.len(), 2, "one restart: {cores:?}");
    assert_eq!(cores[0], "Prescott");
    // Haswell, or SkylakeX on a CPU with the AVX-512 subsets its kernels use.
    let expected = better_core("Prescott", CpuLevel::detect()).unwrap();
    assert_eq!(cores[1], expected);

    // The report names the kernels the run used.
    let dir = tempfile::tempdir().unwrap();
    let out = face_cluster()
        .current_dir(dir.path())
        .env("OPENBLAS_CORETYPE", "Prescott")
        .env("FACE_CLUSTER_OPENBLAS_SIMULATE_DETECTED", "1")
        .arg(data_dir().join("att-orl/feats.npy"))
        .args(["--k", "20", "--min-sim", "0.94", "-q", "-o", "labels.txt", "--report", "run.json"])
        .output()
        .unwrap();
    assert_success(&out);
    let report: Report = serde_json::from_slice(&fs::read(dir.path().join("run.json")).unwrap()).unwrap();
    assert_eq!(report.blas_core.as_deref(), Some(expected));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_user_set_openblas_core_is_left_alone() {
    if !restart_is_observable() {
        return;
    }
    assert_eq!(openblas_cores(&[("OPENBLAS_CORETYPE", "Prescott")]).unwrap(), ["Prescott"]);
    // And a fast core OpenBLAS picked itself is kept: no restart.
    assert_eq!(
        openblas_cores(&[("OPENBLAS_CORETYPE", "Haswell"), ("FACE_CLUSTER_OPENBLAS_SIMULATE_DETECTED", "1")]).unwrap(),
        ["Haswell"]
    );
}
