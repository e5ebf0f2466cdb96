//! Same input, parameters and seed give byte-identical labels and the same report (timings,
//! peak memory and the thread count aside), whatever the number of threads.
//!
//! `-j` sets rayon's pool and faiss's OpenMP threads. OpenBLAS, which does the matrix products
//! of the exact search, sizes its own pool from `OPENBLAS_NUM_THREADS` (see `src/knn/mod.rs`), which
//! `-j` does not control. faiss's similarities differ in the last bit between
//! `OPENBLAS_NUM_THREADS=1` and `=2` (Debian's OpenBLAS 0.3, pthreads), so the k-NN stage recomputes
//! every kept neighbour's similarity in a fixed order; the last test checks that the table no
//! longer depends on OpenBLAS's thread count either.

use std::fs;

use face_cluster::knn::Knn;

use crate::common::*;

/// Runs the main job on LFW half A with `threads` threads; returns the labels and the report
/// without its run-dependent fields.
fn cluster_lfw(threads: &str) -> (Vec<u8>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir().join("lfw-a");
    let out = face_cluster()
        .current_dir(dir.path())
        .env_remove("OPENBLAS_NUM_THREADS")
        .env_remove("OMP_NUM_THREADS")
        .arg(data.join("feats.npy"))
        .args(["--k", "50", "--min-sim", "0.95", "--trials", "3", "--seed", "7", "-j", threads, "-q"])
        .arg("--labels")
        .arg(data.join("labels.meta"))
        .args(["-o", "labels.txt", "--report", "run.json"])
        .output()
        .unwrap();
    assert_success(&out);
    let labels = fs::read(dir.path().join("labels.txt")).unwrap();
    let mut report: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("run.json")).unwrap()).unwrap();
    let object = report.as_object_mut().unwrap();
    object.remove("timings_secs").expect("timings in the report");
    object.remove("peak_rss_bytes").expect("peak RSS in the report");
    object.remove("peak_rss_bytes_by_stage").expect("peak RSS per stage in the report");
    // The work of the search is the same on any thread count, its speed is not.
    let speed = object["knn_speed"].as_object_mut().expect("the search's speed in the report");
    assert!(speed["search_flops"].as_f64().unwrap() > 0.0);
    speed.remove("search_gflops");
    speed.remove("build_gflops");
    assert_eq!(object["params"]["threads"].as_u64().unwrap().to_string(), threads);
    object["params"].as_object_mut().unwrap().remove("threads");
    (labels, report)
}

#[test]
fn labels_and_report_do_not_depend_on_the_thread_count() {
    let (labels_1, report_1) = cluster_lfw("1");
    let (labels_1b, report_1b) = cluster_lfw("1");
    let (labels_2, report_2) = cluster_lfw("2");
    let (labels_2b, report_2b) = cluster_lfw("2");
    assert!(labels_1 == labels_1b && report_1 == report_1b, "two runs with -j 1 differ");
    assert!(labels_2 == labels_2b && report_2 == report_2b, "two runs with -j 2 differ");
    assert!(labels_1 == labels_2, "labels differ between -j 1 and -j 2");
    assert_eq!(report_1, report_2, "reports differ between -j 1 and -j 2");
    // Not a trivial clustering: LFW half A has 2,943 identities, most of one image.
    assert_eq!(report_1["input"]["n"], 6878);
    let clusters = report_1["clusters"].as_u64().unwrap();
    assert!((2000..5000).contains(&clusters), "{clusters} clusters");
    assert_eq!(report_1["infomap"]["trial_codelengths_bits"].as_array().unwrap().len(), 3);
}

/// The exact k-NN table (k = 30) of LFW half A, computed with `-j threads` and, when given,
/// `OPENBLAS_NUM_THREADS=openblas`.
fn lfw_knn(threads: &str, openblas: Option<&str>) -> Knn {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("knn.npz");
    let mut command = face_cluster();
    command.env_remove("OPENBLAS_NUM_THREADS").env_remove("OMP_NUM_THREADS");
    if let Some(openblas) = openblas {
        command.env("OPENBLAS_NUM_THREADS", openblas);
    }
    let out = command
        .arg("knn")
        .arg(data_dir().join("lfw-a/feats.npy"))
        .args(["-k", "30", "-j", threads, "-q", "-o"])
        .arg(&path)
        .output()
        .unwrap();
    assert_success(&out);
    Knn::load(&path).unwrap()
}

#[test]
fn the_exact_knn_table_does_not_depend_on_the_thread_count() {
    let (one, two) = (lfw_knn("1", None), lfw_knn("2", None));
    assert_eq!(one.n(), 6878);
    // Bit-equal similarities as well as ids (no NaN in a loaded table, so == is exact).
    assert!(one == two, "k-NN tables differ between -j 1 and -j 2");
}

#[test]
fn the_exact_knn_table_does_not_depend_on_openblas_threads() {
    let (one, two) = (lfw_knn("2", Some("1")), lfw_knn("2", Some("2")));
    assert!(one == two, "k-NN tables differ between OPENBLAS_NUM_THREADS=1 and =2");
}
