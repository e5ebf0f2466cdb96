//! `--device`: the GPU when there is one, the CPU otherwise, and clear errors. These run on
//! every machine; where a GPU is usable (the GPU check machine) they check that it was used.

use serde_json::Value;

use crate::common::{assert_error, assert_success, npy_f32, Scratch, SplitMix64};

/// `n` random 8-d rows.
fn random_rows(n: usize) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64(11);
    (0..n).map(|_| (0..8).map(|_| rng.next_f32() - 0.5).collect()).collect()
}

fn report(s: &Scratch) -> Value {
    serde_json::from_str(&std::fs::read_to_string(s.path().join("out/run.json")).unwrap()).unwrap()
}

/// Above 10,000 rows `auto` looks for a GPU: it uses one, or searches on the CPU and says why,
/// in one line of the summary and in the report.
#[test]
fn auto_uses_a_gpu_or_says_why_it_did_not() {
    let s = Scratch::new();
    s.file("feats.npy", npy_f32(&random_rows(10_500)));
    let out = s.run_main(&["feats.npy", "--k", "5", "--min-sim", "0.9", "--index", "Flat"]);
    assert_success(&out);
    let device = &report(&s)["device"];
    assert_eq!(device["requested"], "auto");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if device["used"] == "gpu" {
        assert_eq!(device["backend"], "gpu-exact");
        assert!(device["gpu"]["device_name"].is_string(), "{device}");
        assert!(stderr.contains("device: gpu "), "{stderr}");
    } else {
        assert_eq!((&device["used"], &device["backend"]), (&Value::from("cpu"), &Value::from("faiss")));
        let why = device["fallback"].as_str().expect("a fallback reason");
        assert!(!why.is_empty());
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("device: ")).collect();
        assert_eq!(lines, [format!("device: cpu (no GPU used: {why})")], "{stderr}");
    }
}

/// Small inputs and explicit CPU indexes never look for a GPU.
#[test]
fn small_inputs_and_cpu_indexes_stay_on_the_cpu_quietly() {
    let s = Scratch::new();
    s.good_inputs();
    assert_success(&s.run_main(&["feats.npy", "--k", "5", "--min-sim", "0.9"]));
    let device = report(&s)["device"].clone();
    assert_eq!((&device["used"], &device["fallback"]), (&Value::from("cpu"), &Value::Null), "{device}");
    s.file("big.npy", npy_f32(&random_rows(10_500)));
    let out = s.run_main(&["big.npy", "--k", "5", "--min-sim", "0.9", "--index", "IVF16,Flat", "--nprobe", "4"]);
    assert_success(&out);
    let device = report(&s)["device"].clone();
    assert_eq!(
        (&device["used"], &device["backend"], &device["fallback"]),
        (&"cpu".into(), &"faiss".into(), &Value::Null)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("device: "));
}

/// `--device gpu` without a usable GPU is an error saying why, with no output file; with one,
/// it searches on it.
#[test]
fn gpu_without_a_gpu_is_an_error_naming_the_reason() {
    let s = Scratch::new();
    s.good_inputs();
    let out = s.run_main(&["feats.npy", "--k", "5", "--min-sim", "0.9", "--device", "gpu"]);
    if out.status.success() {
        assert_eq!(report(&s)["device"]["used"], "gpu");
    } else {
        assert_error(&out, 1, &["--device gpu: no usable GPU: "]);
        s.assert_outputs_untouched();
    }
}

/// The GPU search is exact: asking for it with an approximate CPU index is an error, before
/// anything is searched.
#[test]
fn gpu_with_an_approximate_index_is_an_error() {
    let s = Scratch::new();
    s.good_inputs();
    for extra in [&["--index", "HNSW32"][..], &["--index", "IVFJoin8"], &["--nprobe", "4"]] {
        let mut args = vec!["feats.npy", "--k", "5", "--min-sim", "0.9", "--device", "gpu"];
        args.extend(extra);
        assert_error(&s.run_main(&args), 1, &["invalid --device: the GPU search is exact"]);
        s.assert_outputs_untouched();
    }
}
