//! Tests of the GPU search: on every machine (the probe fails cleanly, inputs are checked), and
//! with a GPU (`gpu_device_*`, ignored unless asked for).

use super::*;

#[test]
fn open_fails_cleanly_without_cuda_or_succeeds() {
    match Gpu::open() {
        Ok(gpu) => assert!(!gpu.info().device_name.is_empty()),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
            assert!(!matches!(e, Unavailable::Panicked(_)), "{msg}");
            if !ffi::libraries_present().0 {
                assert_eq!(e, Unavailable::NoDriver);
                assert_eq!(msg, "libcuda.so not found (no NVIDIA driver)");
            }
        }
    }
    // Twice: probing leaves nothing half-done behind.
    let _ = Gpu::open();
}

#[test]
fn a_gpu_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Gpu>();
}

#[test]
fn messages_are_one_line() {
    let all = [
        Unavailable::NoDriver,
        Unavailable::Driver("CUDA_ERROR_UNKNOWN: unknown error".into()),
        Unavailable::NoDevice,
        Unavailable::OldDriver { supports: "11.4".into() },
        Unavailable::Context("x".into()),
        Unavailable::NoCublas,
        Unavailable::Cublas("CUBLAS_STATUS_NOT_INITIALIZED".into()),
        Unavailable::NoNvrtc,
        Unavailable::Nvrtc("x".into()),
        Unavailable::Compile(ffi::one_line("error: a\n\n  b\nc\nd\ne")),
        Unavailable::Load("x".into()),
        Unavailable::SelfCheck("x".into()),
        Unavailable::Panicked("x".into()),
    ];
    for e in all {
        let msg = e.to_string();
        assert!(!msg.contains('\n') && !msg.ends_with('.'), "{msg}");
    }
    assert_eq!(
        Unavailable::OldDriver { supports: "11.4".into() }.to_string(),
        "driver supports CUDA 11.4, need 12.0 or newer"
    );
    assert_eq!(ffi::one_line("error: a\n\n  b\nc\nd\ne"), "error: a; b; c; d");
    let e = GpuError::OutOfMemory { what: "the similarity tile", bytes: 8, free: 4 };
    assert_eq!(e.to_string(), "out of GPU memory allocating the similarity tile (8 bytes, 4 bytes were free)");
}

#[test]
fn validation_names_the_problem() {
    let data = check_rows(10, 4, 1);
    assert_eq!(validate(&data, 10, 4, 3).map(|s| (s - 1.0).abs() < 1e-6), Ok(true));
    assert_eq!(validate(&data, 10, 4, 0), Err(GpuError::ZeroM));
    assert_eq!(validate(&data, 10, 4, 11), Err(GpuError::TooFewRows { m: 11, n: 10 }));
    assert!(validate(&data, 10, 4, 10).is_ok());
    assert_eq!(validate(&data, 9, 4, 3), Err(GpuError::BadShape { len: 40, n: 9, d: 4 }));
    assert_eq!(validate(&data, 10, 0, 3), Err(GpuError::BadDimension { d: 0, max: MAX_D }));
    assert_eq!(validate(&vec![0.0; 5000], 1, 5000, 1), Err(GpuError::BadDimension { d: 5000, max: MAX_D }));
    let big = check_rows(1100, 2, 1);
    assert_eq!(validate(&big, 1100, 2, 1025), Err(GpuError::MTooLarge { m: 1025, max: MAX_M }));
    let mut bad = data.clone();
    bad[9] = f32::NAN;
    assert_eq!(validate(&bad, 10, 4, 3), Err(GpuError::NonFinite { row: 2 }));
    let mut bad = data.clone();
    bad[13] *= 2.0;
    assert!(matches!(validate(&bad, 10, 4, 3), Err(GpuError::NotUnitNorm { row: 3, .. })));
}

#[test]
fn verify_accepts_the_brute_force_and_rejects_a_miss() {
    let (n, d, m) = (50, 8, 5);
    let data = check_rows(n, d, 2);
    let (mut ids, mut sims) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut row: Vec<(f32, u32)> = (0..n)
            .map(|j| {
                let s: f64 = (0..d).map(|c| data[i * d + c] as f64 * data[j * d + c] as f64).sum();
                (s as f32, j as u32)
            })
            .collect();
        row.sort_by(model::rank_cmp);
        ids.extend(row[..m].iter().map(|e| e.1));
        sims.extend(row[..m].iter().map(|e| e.0));
    }
    verify(&data, n, d, m, &ids, &sims).unwrap();
    let mut wrong = ids.clone();
    wrong[0] = if wrong[0] == 49 { 48 } else { 49 };
    assert!(verify(&data, n, d, m, &wrong, &sims).is_err());
    let mut swapped = ids.clone();
    swapped.swap(0, 1);
    assert!(verify(&data, n, d, m, &swapped, &sims).is_err());
}

// The tests below need a GPU: they are run deliberately, with `--ignored gpu_device_`, and
// fail (never skip) when no GPU can be opened.

fn gpu() -> Gpu {
    Gpu::open_without_self_check().unwrap_or_else(|e| panic!("no GPU: {e}"))
}

fn check(gpu: &Gpu, data: &[f32], n: usize, d: usize, m: usize, opts: &GpuSearchOptions) -> GpuSearchStats {
    let done = std::sync::Mutex::new(Vec::new());
    let found = gpu
        .knn_candidates(data, n, d, m, opts, &|r| done.lock().unwrap().push(r))
        .unwrap_or_else(|e| panic!("{opts:?}: {e}"));
    verify(data, n, d, m, &found.ids, &found.sims).unwrap_or_else(|e| panic!("n {n} d {d} m {m} {opts:?}: {e}"));
    assert_eq!(done.into_inner().unwrap().last(), Some(&n));
    eprintln!("n {n} d {d} m {m} {opts:?}: {}", serde_json::to_string(&found.stats).unwrap());
    found.stats
}

#[test]
#[ignore = "needs a GPU"]
fn gpu_device_info() {
    let gpu = gpu();
    println!("{}", serde_json::to_string_pretty(gpu.info()).unwrap());
    assert!(gpu.info().total_memory_bytes > 0);
}

#[test]
#[ignore = "needs a GPU"]
fn gpu_device_open_passes_its_self_check() {
    let gpu = Gpu::open().unwrap_or_else(|e| panic!("{e}"));
    assert!(gpu.info().kernel_binary.starts_with("cubin"), "{}", gpu.info().kernel_binary);
}

#[test]
#[ignore = "needs a GPU"]
fn gpu_device_fp32_matches_brute_force() {
    let gpu = gpu();
    for (n, d, m, seed) in [(3000, 64, 10, 1), (4000, 256, 100, 2), (2500, 128, 37, 3)] {
        let data = check_rows(n, d, seed);
        let stats = check(&gpu, &data, n, d, m, &GpuSearchOptions::default());
        assert!(stats.resident && !stats.screen && stats.fallback_rows == 0);
    }
}

#[test]
#[ignore = "needs a GPU"]
fn gpu_device_screen_matches_brute_force() {
    let gpu = gpu();
    for (n, d, m, seed) in [(3000, 64, 10, 4), (4000, 256, 100, 5), (2500, 128, 37, 6)] {
        let data = check_rows(n, d, seed);
        let opts = GpuSearchOptions { screen: true, ..Default::default() };
        let stats = check(&gpu, &data, n, d, m, &opts);
        assert!(stats.screen && stats.screen_candidates == 2 * m);
        assert!(stats.fallback_rows < n / 2, "the screen proves most rows: {stats:?}");
        // Width m proves nothing: every row falls back, and the result is still exact.
        let opts = GpuSearchOptions { screen: true, screen_factor: 1, ..Default::default() };
        let stats = check(&gpu, &data, n, d, m, &opts);
        assert_eq!(stats.fallback_rows, n);
    }
}

#[test]
#[ignore = "needs a GPU"]
fn gpu_device_streaming_matches_brute_force() {
    let gpu = gpu();
    let (n, d, m) = (3000, 64, 50);
    let data = check_rows(n, d, 7);
    for screen in [false, true] {
        // A budget below twice X forces streaming; here with tiles narrower than m.
        let opts =
            GpuSearchOptions { screen, max_device_bytes: Some(100_000), max_base_rows: Some(29), ..Default::default() };
        let stats = check(&gpu, &data, n, d, m, &opts);
        assert!(!stats.resident && stats.device_bytes <= 100_000, "{stats:?}");
        assert!(stats.base_rows_per_tile == 29, "{stats:?}");
        let opts = GpuSearchOptions { screen, max_device_bytes: Some(600_000), ..Default::default() };
        let stats = check(&gpu, &data, n, d, m, &opts);
        assert!(!stats.resident && stats.tiles > 10, "{stats:?}");
    }
}

#[test]
#[ignore = "needs a GPU"]
fn gpu_device_tie_heavy_and_edge_shapes() {
    let gpu = gpu();
    // Quantised coordinates: many exactly equal similarities; duplicate rows.
    let (n, d) = (2000, 96);
    let mut data = check_rows(n, d, 8);
    for row in data.chunks_mut(d) {
        row.iter_mut().for_each(|v| *v = (*v * 4.0).round());
        if row.iter().all(|&v| v == 0.0) {
            row[0] = 1.0;
        }
        let norm = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
    }
    for screen in [false, true] {
        for m in [1, 64, 512] {
            let opts = GpuSearchOptions { screen, ..Default::default() };
            check(&gpu, &data, n, d, m, &opts);
            let opts =
                GpuSearchOptions { screen, max_query_rows: Some(33), max_base_rows: Some(700), ..Default::default() };
            check(&gpu, &data, n, d, m, &opts);
        }
    }
    // m = n, a tiny input, and the largest m.
    let data = check_rows(300, 20, 9);
    check(&gpu, &data, 300, 20, 300, &GpuSearchOptions::default());
    check(&gpu, &data, 300, 20, 300, &GpuSearchOptions { screen: true, ..Default::default() });
    let data = check_rows(1, 3, 10);
    check(&gpu, &data, 1, 3, 1, &GpuSearchOptions::default());
    let data = check_rows(2000, 32, 11);
    check(&gpu, &data, 2000, 32, MAX_M, &GpuSearchOptions::default());
    check(&gpu, &data, 2000, 32, MAX_M / 2, &GpuSearchOptions { screen: true, ..Default::default() });
    // The largest d.
    let data = check_rows(500, MAX_D, 12);
    check(&gpu, &data, 500, MAX_D, 20, &GpuSearchOptions { screen: true, ..Default::default() });
}

/// Timing on `FC_GPU_BENCH_ROWS` rows (default 200,000) of dimension 256, `m = 58`, FP32 and
/// screened: prints the figures as JSON, and checks the two agree up to rounding ties.
#[test]
#[ignore = "needs a GPU"]
fn gpu_device_timing() {
    let gpu = gpu();
    let n: usize = std::env::var("FC_GPU_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let (d, m) = (256, 58);
    let data = check_rows(n, d, 13);
    let mut results = Vec::new();
    for screen in [false, true] {
        let opts = GpuSearchOptions { screen, ..Default::default() };
        let found = gpu.knn_candidates(&data, n, d, m, &opts, &|_| {}).unwrap_or_else(|e| panic!("{e}"));
        println!("gpu_device_timing n={n} screen={screen} {}", serde_json::to_string(&found.stats).unwrap());
        results.push(found);
    }
    // Rows whose sets differ must differ only at the cut, by a rounding tie.
    let tol = 8.0 * d as f32 * 2f32.powi(-24);
    let mut differ = 0;
    for i in 0..n {
        let (a, b) = (&results[0].ids[i * m..(i + 1) * m], &results[1].ids[i * m..(i + 1) * m]);
        if a != b {
            differ += 1;
            let (sa, sb) = (&results[0].sims[i * m..(i + 1) * m], &results[1].sims[i * m..(i + 1) * m]);
            assert!((sa[m - 1] - sb[m - 1]).abs() <= tol, "row {i}: m-th {} vs {}", sa[m - 1], sb[m - 1]);
        }
    }
    println!("gpu_device_timing rows whose FP32 and screened sets differ: {differ}");
}
