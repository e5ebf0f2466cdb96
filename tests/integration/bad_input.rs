//! Bad input: each case ends with status 1 (2 for usage errors), one stderr line
//! `face-cluster: error: <file>: <problem>` naming the file (or the option) and the problem,
//! nothing on stdout, and the output folder as it was: no new file, no temporary file, and the
//! older outputs of the same names untouched.
//!
//! Every run asks for labels and a report in `out/` (see [`Scratch::run_main`]), so a leftover
//! from either would show.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use face_cluster::knn::Knn;

use crate::common::*;

/// Whether this process can write where permissions say it cannot (root can).
fn permissions_are_bypassed(dir: &std::path::Path) -> bool {
    let probe = dir.join(".probe");
    let bypassed = fs::write(&probe, b"").is_ok();
    let _ = fs::remove_file(probe);
    bypassed
}

#[test]
fn missing_feature_file() {
    let s = Scratch::new();
    let out = s.run_main(&["nope.npy"]);
    assert_error(&out, 1, &["error: nope.npy: ", "No such file or directory"]);
    s.assert_outputs_untouched();
}

#[test]
fn feature_path_that_is_a_directory() {
    let s = Scratch::new();
    fs::create_dir(s.path().join("feats.npy")).unwrap();
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: is a directory, not a file"]);
    s.assert_outputs_untouched();
}

#[test]
fn unreadable_feature_file() {
    let s = Scratch::new();
    s.good_inputs();
    let path = s.path().join("feats.npy");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::read(&path).is_ok() {
        eprintln!("skipped: permissions do not stop this user from reading");
        return;
    }
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: ", "Permission denied"]);
    s.assert_outputs_untouched();
}

#[test]
fn empty_npy_file() {
    let s = Scratch::new();
    s.file("feats.npy", b"");
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: not a .npy file (the file is empty)"]);
    s.assert_outputs_untouched();
}

#[test]
fn empty_bin_file() {
    let s = Scratch::new();
    s.file("feats.bin", b"");
    let out = s.run_main(&["feats.bin", "--dim", "8"]);
    assert_error(&out, 1, &["error: feats.bin: empty file (no feature rows)"]);
    s.assert_outputs_untouched();
}

#[test]
fn npy_with_no_rows() {
    let s = Scratch::new();
    s.file("feats.npy", npy_bytes(&npy_header("<f4", "(0, 8)"), &[]));
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: no rows (empty input)"]);
    s.assert_outputs_untouched();
}

#[test]
fn npy_with_a_bad_magic() {
    let s = Scratch::new();
    s.file("feats.npy", b"PK\x03\x04 a zip, not an npy");
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: not a .npy file (it does not start with the \\x93NUMPY magic)"]);
    s.assert_outputs_untouched();
}

#[test]
fn npy_with_an_unparsable_header() {
    let s = Scratch::new();
    s.file("feats.npy", npy_bytes("{'descr': '<f4' 'fortran_order': False, 'shape': (2, 2)}", &[0; 16]));
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: cannot parse the .npy header: expected ',' or '}'"]);
    s.assert_outputs_untouched();
}

#[test]
fn npy_with_a_header_missing_the_shape() {
    let s = Scratch::new();
    s.file("feats.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False}", &[0; 16]));
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: cannot parse the .npy header: no 'shape' key"]);
    s.assert_outputs_untouched();
}

#[test]
fn npy_of_one_dimension() {
    let s = Scratch::new();
    s.file("feats.npy", npy_bytes(&npy_header("<f4", "(8,)"), &[0; 32]));
    let out = s.run_main(&["feats.npy"]);
    assert_error(
        &out,
        1,
        &["error: feats.npy: features must be a 2-D array (rows, dim), got a 1-D array of shape (8,)"],
    );
    s.assert_outputs_untouched();
}

#[test]
fn npy_of_three_dimensions() {
    let s = Scratch::new();
    s.file("feats.npy", npy_bytes(&npy_header("<f4", "(2, 2, 2)"), &[0; 32]));
    let out = s.run_main(&["feats.npy"]);
    assert_error(
        &out,
        1,
        &["error: feats.npy: features must be a 2-D array (rows, dim), got a 3-D array of shape (2, 2, 2)"],
    );
    s.assert_outputs_untouched();
}

#[test]
fn npy_of_integers() {
    let s = Scratch::new();
    s.file("feats.npy", npy_bytes(&npy_header("<i4", "(2, 2)"), &[0; 16]));
    let out = s.run_main(&["feats.npy"]);
    assert_error(
        &out,
        1,
        &["error: feats.npy: dtype '<i4' (int32) is not supported for features; use float32 ('<f4')"],
    );
    s.assert_outputs_untouched();
}

#[test]
fn npy_of_complex_numbers() {
    let s = Scratch::new();
    s.file("feats.npy", npy_bytes(&npy_header("<c8", "(2, 2)"), &[0; 32]));
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: dtype '<c8' (complex64) is not supported for features"]);
    s.assert_outputs_untouched();
}

#[test]
fn big_endian_npy_is_converted() {
    let s = Scratch::new();
    let rows = clustered_rows(4, 10, 8);
    s.file("le.npy", npy_f32(&rows));
    s.file("be.npy", npy_f32_be(&rows));
    let args = ["--k", "10", "--min-sim", "0.9", "-q", "-o", "-"];
    let le = assert_success(&s.run(&[&["le.npy"], &args[..]].concat()));
    let be = assert_success(&s.run(&[&["be.npy"], &args[..]].concat()));
    assert_eq!(be, le, "big- and little-endian files give the same labels");
    let expected: String = (0..40).map(|i| format!("{}\n", i / 10)).collect();
    assert_eq!(String::from_utf8(be).unwrap(), expected, "the four clusters are found");
}

#[test]
fn npy_with_truncated_data() {
    let s = Scratch::new();
    let full = npy_f32(&clustered_rows(4, 10, 8));
    s.file("feats.npy", &full[..full.len() - 6]);
    let out = s.run_main(&["feats.npy"]);
    assert_error(
        &out,
        1,
        &["error: feats.npy: truncated data: got 1274 bytes, expected 1280 for shape (40, 8) of '<f4'"],
    );
    s.assert_outputs_untouched();
}

#[test]
fn npy_with_trailing_bytes() {
    let s = Scratch::new();
    let mut bytes = npy_f32(&clustered_rows(4, 10, 8));
    bytes.extend_from_slice(b"xyz");
    s.file("feats.npy", bytes);
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: 3 unexpected bytes after the data"]);
    s.assert_outputs_untouched();
}

#[test]
fn npy_whose_header_claims_a_huge_shape() {
    let s = Scratch::new();
    s.file("feats.npy", npy_bytes(&npy_header("<f4", "(1000000000000, 512)"), &[0; 64]));
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: truncated data: got 64 bytes, expected 2048000000000000"]);
    s.assert_outputs_untouched();
}

#[test]
fn bin_size_not_a_multiple_of_the_row() {
    let s = Scratch::new();
    let mut bytes = bin_f32(&clustered_rows(4, 10, 8));
    bytes.extend_from_slice(&[0; 5]);
    s.file("feats.bin", bytes);
    let out = s.run_main(&["feats.bin", "--dim", "8"]);
    assert_error(
        &out,
        1,
        &["error: feats.bin: size 1285 bytes is not a multiple of dim*4 = 8*4 = 32 (40 whole rows and 5 bytes over; is --dim right?)"],
    );
    s.assert_outputs_untouched();
}

#[test]
fn bin_read_with_the_wrong_dim() {
    let s = Scratch::new();
    s.file("feats.bin", bin_f32(&clustered_rows(4, 10, 8)));
    let out = s.run_main(&["feats.bin", "--dim", "256"]);
    assert_error(&out, 1, &["error: feats.bin: size 1280 bytes is not a multiple of dim*4 = 256*4 = 1024"]);
    s.assert_outputs_untouched();
}

#[test]
fn dim_zero() {
    let s = Scratch::new();
    s.file("feats.bin", bin_f32(&clustered_rows(4, 10, 8)));
    let out = s.run_main(&["feats.bin", "--dim", "0"]);
    assert_error(&out, 1, &["error: invalid --dim: must be at least 1"]);
    s.assert_outputs_untouched();
    let out = s.run(&["knn", "feats.bin", "--dim", "0", "-k", "5", "-o", "out/knn.npz"]);
    assert_error(&out, 1, &["error: invalid --dim: must be at least 1"]);
    s.assert_outputs_untouched();
}

/// Rows 0..40 of the good features with `row` replaced.
fn features_with_row(row: usize, values: Vec<f32>) -> Vec<Vec<f32>> {
    let mut rows = clustered_rows(4, 10, 8);
    rows[row] = values;
    rows
}

#[test]
fn nan_row() {
    let s = Scratch::new();
    let mut bad = vec![0.5; 8];
    bad[3] = f32::NAN;
    s.file("feats.npy", npy_f32(&features_with_row(17, bad)));
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: row 17 contains NaN or infinity"]);
    s.assert_outputs_untouched();
}

#[test]
fn infinite_row_in_a_bin_file() {
    let s = Scratch::new();
    let mut bad = vec![0.5; 8];
    bad[0] = f32::NEG_INFINITY;
    s.file("feats.bin", bin_f32(&features_with_row(3, bad)));
    let out = s.run_main(&["feats.bin", "--dim", "8"]);
    assert_error(&out, 1, &["error: feats.bin: row 3 contains NaN or infinity"]);
    s.assert_outputs_untouched();
}

#[test]
fn float64_beyond_the_f32_range_is_an_infinite_row() {
    let s = Scratch::new();
    let mut values = [1.0f64; 16];
    values[9] = 1e300;
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    s.file("feats.npy", npy_bytes(&npy_header("<f8", "(4, 4)"), &data));
    let out = s.run_main(&["feats.npy", "--k", "2"]);
    assert_error(&out, 1, &["error: feats.npy: row 2 contains NaN or infinity"]);
    s.assert_outputs_untouched();
}

#[test]
fn all_zero_row() {
    let s = Scratch::new();
    s.file("feats.npy", npy_f32(&features_with_row(5, vec![0.0; 8])));
    let out = s.run_main(&["feats.npy"]);
    assert_error(&out, 1, &["error: feats.npy: row 5 is all zeros"]);
    s.assert_outputs_untouched();
}

#[test]
fn labels_with_a_non_integer_line() {
    let s = Scratch::new();
    s.good_inputs();
    let truth: String = (0..40).map(|i| if i == 6 { "six\n".to_string() } else { format!("{}\n", i / 10) }).collect();
    s.file("gt.meta", truth);
    let out = s.run_main(&["feats.npy", "--labels", "gt.meta"]);
    assert_error(&out, 1, &["error: gt.meta: line 7: \"six\" is not an integer label"]);
    s.assert_outputs_untouched();
}

#[test]
fn labels_with_a_blank_line_in_the_middle() {
    let s = Scratch::new();
    s.good_inputs();
    s.file("gt.meta", "0\n0\n\n1\n");
    let out = s.run_main(&["feats.npy", "--labels", "gt.meta"]);
    assert_error(&out, 1, &["error: gt.meta: line 3 is blank"]);
    s.assert_outputs_untouched();
}

#[test]
fn empty_labels_file() {
    let s = Scratch::new();
    s.good_inputs();
    s.file("gt.meta", "");
    let out = s.run_main(&["feats.npy", "--labels", "gt.meta"]);
    assert_error(&out, 1, &["error: gt.meta: no labels (empty file)"]);
    s.assert_outputs_untouched();
}

#[test]
fn missing_labels_file() {
    let s = Scratch::new();
    s.good_inputs();
    let out = s.run_main(&["feats.npy", "--labels", "nope.meta"]);
    assert_error(&out, 1, &["error: nope.meta: No such file or directory"]);
    s.assert_outputs_untouched();
}

#[test]
fn labels_count_differs_from_the_rows() {
    let s = Scratch::new();
    s.good_inputs();
    let truth: String = (0..39).map(|i| format!("{}\n", i / 10)).collect();
    s.file("gt.meta", truth);
    let out = s.run_main(&["feats.npy", "--labels", "gt.meta"]);
    assert_error(&out, 1, &["error: gt.meta: has 39 labels but 40 were expected (one per row of feats.npy)"]);
    s.assert_outputs_untouched();
}

#[test]
fn npy_labels_of_floats() {
    let s = Scratch::new();
    s.good_inputs();
    s.file("gt.npy", npy_bytes(&npy_header("<f4", "(40,)"), &[0; 160]));
    let out = s.run_main(&["feats.npy", "--labels", "gt.npy"]);
    assert_error(&out, 1, &["error: gt.npy: dtype '<f4' (float32) is not supported for labels"]);
    s.assert_outputs_untouched();
}

#[test]
fn a_bad_labels_file_is_reported_before_the_features_are_read() {
    // Both inputs are bad: the labels, read first, are the ones reported.
    let s = Scratch::new();
    s.file("feats.npy", b"");
    s.file("gt.meta", "x\n");
    let out = s.run_main(&["feats.npy", "--labels", "gt.meta"]);
    assert_error(&out, 1, &["error: gt.meta: line 1"]);
    s.assert_outputs_untouched();
}

#[test]
fn k_zero() {
    let s = Scratch::new();
    s.good_inputs();
    let out = s.run_main(&["feats.npy", "--k", "0"]);
    assert_error(&out, 1, &["error: invalid --k: must be at least 1"]);
    s.assert_outputs_untouched();
    let out = s.run(&["knn", "feats.npy", "-k", "0", "-o", "out/knn.npz"]);
    assert_error(&out, 1, &["error: invalid --k: must be at least 1"]);
    s.assert_outputs_untouched();
}

#[test]
fn k_not_smaller_than_the_rows() {
    let s = Scratch::new();
    s.good_inputs();
    for k in ["40", "41"] {
        let out = s.run_main(&["feats.npy", "--k", k]);
        let needle = format!("error: invalid --k: k = {k} must be at least 1 and smaller than the number of rows (40)");
        assert_error(&out, 1, &[&needle]);
        s.assert_outputs_untouched();
        let out = s.run(&["knn", "feats.npy", "-k", k, "-o", "out/knn.npz"]);
        assert_error(&out, 1, &[&needle]);
        s.assert_outputs_untouched();
    }
    // k = n - 1 is fine.
    assert_success(&s.run(&["feats.npy", "--k", "39", "-q", "-o", "labels.txt"]));
}

/// A k-NN table of 3 rows with 3 slots each (k = n), canonical: self first, then the others.
fn knn_table_with_k_equal_to_n() -> Knn {
    let ids = vec![0, 1, 2, 1, 0, 2, 2, 0, 1];
    let sims = vec![1.0, 0.5, 0.5, 1.0, 0.5, 0.5, 1.0, 0.5, 0.5];
    Knn::from_rows(3, ids, sims).unwrap()
}

#[test]
fn k_not_smaller_than_the_rows_of_a_cached_table() {
    let s = Scratch::new();
    knn_table_with_k_equal_to_n().save(&s.path().join("cache.npz")).unwrap();
    let out = s.run_main(&["--knn", "cache.npz", "--k", "3"]);
    assert_error(&out, 1, &["error: invalid --k: k = 3 must be smaller than the number of rows (3) of cache.npz"]);
    s.assert_outputs_untouched();
    let out = s.run_main(&["--knn", "cache.npz", "--k", "4"]);
    assert_error(&out, 1, &["error: invalid --k: 4 is more than the 3 neighbours stored in cache.npz"]);
    s.assert_outputs_untouched();
    assert_success(&s.run(&["--knn", "cache.npz", "--k", "2", "-q", "-o", "labels.txt"]));
}

#[test]
fn cached_table_that_is_not_an_npz() {
    let s = Scratch::new();
    s.file("cache.npz", "not a zip archive");
    let out = s.run_main(&["--knn", "cache.npz", "--k", "3"]);
    assert_error(&out, 1, &["error: cache.npz: not a NumPy .npz archive"]);
    s.assert_outputs_untouched();
}

#[test]
fn labels_count_differs_from_the_rows_of_a_cached_table() {
    let s = Scratch::new();
    knn_table_with_k_equal_to_n().save(&s.path().join("cache.npz")).unwrap();
    s.file("gt.meta", "0\n1\n");
    let out = s.run_main(&["--knn", "cache.npz", "--k", "2", "--labels", "gt.meta"]);
    assert_error(&out, 1, &["error: gt.meta: has 2 labels but 3 were expected (one per row of cache.npz)"]);
    s.assert_outputs_untouched();
}

#[test]
fn min_sim_outside_the_cosine_range() {
    let s = Scratch::new();
    s.good_inputs();
    for (value, shown) in [("1.5", "1.5"), ("-1.01", "-1.01"), ("NaN", "NaN"), ("inf", "inf")] {
        let out = s.run_main(&["feats.npy", "--min-sim", value]);
        let needle = format!("error: invalid --min-sim: {shown} is not a cosine similarity in [-1, 1]");
        assert_error(&out, 1, &[&needle]);
        s.assert_outputs_untouched();
    }
}

#[test]
fn trials_zero() {
    let s = Scratch::new();
    s.good_inputs();
    let out = s.run_main(&["feats.npy", "--trials", "0"]);
    assert_error(&out, 1, &["error: invalid --trials: must be at least 1"]);
    s.assert_outputs_untouched();
}

#[test]
fn unknown_feature_extension() {
    let s = Scratch::new();
    s.file("feats.dat", bin_f32(&clustered_rows(4, 10, 8)));
    let out = s.run_main(&["feats.dat"]);
    assert_error(&out, 1, &["error: feats.dat: cannot tell the format from the extension; pass --format npy|bin"]);
    s.assert_outputs_untouched();
}

// Output paths. Each is checked before anything is read: the feature file here is bad too, and
// the output is what gets reported.

#[test]
fn labels_output_in_a_missing_folder() {
    let s = Scratch::new();
    s.file("feats.npy", b"");
    let out = s.run(&["feats.npy", "-o", "missing/labels.txt", "--report", "out/run.json"]);
    assert_error(&out, 1, &["error: missing/labels.txt: No such file or directory"]);
    s.assert_outputs_untouched();
}

#[test]
fn report_output_in_a_missing_folder() {
    // The labels' temporary file, created first, is removed again.
    let s = Scratch::new();
    s.file("feats.npy", b"");
    let out = s.run(&["feats.npy", "-o", "out/labels.txt", "--report", "missing/run.json"]);
    assert_error(&out, 1, &["error: missing/run.json: No such file or directory"]);
    s.assert_outputs_untouched();
}

#[test]
fn knn_output_in_a_missing_folder() {
    let s = Scratch::new();
    s.file("feats.npy", b"");
    let out = s.run(&["knn", "feats.npy", "-k", "5", "-o", "missing/knn.npz"]);
    assert_error(&out, 1, &["error: missing/knn.npz: No such file or directory"]);
    s.assert_outputs_untouched();
}

#[test]
fn output_under_a_path_that_is_a_file() {
    let s = Scratch::new();
    s.file("feats.npy", b"");
    s.file("plain", "a file, not a folder");
    let out = s.run(&["feats.npy", "-o", "plain/labels.txt"]);
    assert_error(&out, 1, &["error: plain/labels.txt: Not a directory"]);
    let out = s.run(&["knn", "feats.npy", "-k", "5", "-o", "plain/knn.npz"]);
    assert_error(&out, 1, &["error: plain/knn.npz: Not a directory"]);
    s.assert_outputs_untouched();
}

#[test]
fn output_that_is_a_directory() {
    let s = Scratch::new();
    s.file("feats.npy", b"");
    let out = s.run(&["feats.npy", "-o", "out"]);
    assert_error(&out, 1, &["error: out: is a directory, not a file"]);
    let out = s.run(&["feats.npy", "-o", "out/labels.txt", "--report", "out"]);
    assert_error(&out, 1, &["error: out: is a directory, not a file"]);
    let out = s.run(&["knn", "feats.npy", "-k", "5", "-o", "out"]);
    assert_error(&out, 1, &["error: out: is a directory, not a file"]);
    s.assert_outputs_untouched();
}

#[test]
fn output_in_an_unwritable_folder() {
    let s = Scratch::new();
    s.file("feats.npy", b"");
    let locked = s.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    if permissions_are_bypassed(&locked) {
        eprintln!("skipped: permissions do not stop this user from writing");
        return;
    }
    for args in [
        &["feats.npy", "-o", "locked/labels.txt"][..],
        &["feats.npy", "-o", "out/labels.txt", "--report", "locked/run.json"],
        &["knn", "feats.npy", "-k", "5", "-o", "locked/knn.npz"],
    ] {
        let out = s.run(args);
        assert_error(&out, 1, &["error: locked/", "Permission denied"]);
    }
    s.assert_outputs_untouched();
    assert_eq!(fs::read_dir(&locked).unwrap().count(), 0);
}

#[test]
fn report_and_labels_both_on_stdout() {
    let s = Scratch::new();
    s.good_inputs();
    let out = s.run(&["feats.npy", "--report", "-"]);
    assert_error(&out, 1, &["error: --report - and the labels both want stdout"]);
}

#[test]
fn eval_with_labels_of_different_lengths() {
    let s = Scratch::new();
    s.file("gt.meta", "0\n0\n1\n1\n");
    s.file("pred.txt", "0\n0\n1\n");
    let out = s.run(&["eval", "--gt", "gt.meta", "--pred", "pred.txt"]);
    assert_error(&out, 1, &["error: pred.txt: has 3 labels but 4 were expected (one per line of gt.meta)"]);
    let out = s.run(&["eval", "--gt", "gt.meta", "--pred", "nope.txt", "--json"]);
    assert_error(&out, 1, &["error: nope.txt: No such file or directory"]);
    let out = s.run(&["eval", "--gt", "gt.meta", "--pred", "gt.meta", "--json"]);
    assert!(String::from_utf8(assert_success(&out)).unwrap().contains("\"nmi\":1.0"));
}

#[test]
fn infomap_with_a_missing_link_list_leaves_the_clu_alone() {
    let s = Scratch::new();
    s.file("out/old.clu", "old partition\n");
    let out = s.run(&["infomap", "nope.net", "-o", "out/old.clu"]);
    assert_error(&out, 1, &["error: nope.net: No such file or directory"]);
    assert_eq!(fs::read_to_string(s.path().join("out/old.clu")).unwrap(), "old partition\n");
    fs::remove_file(s.path().join("out/old.clu")).unwrap();
    s.assert_outputs_untouched();
}

#[test]
fn usage_errors_exit_with_status_2() {
    let s = Scratch::new();
    for args in [&["--k", "five", "feats.npy"][..], &["--no-such-flag", "feats.npy"], &[], &["--format", "csv", "x"]] {
        let out = s.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stdout.is_empty());
    }
    s.assert_outputs_untouched();
}

#[test]
fn help_lists_the_exit_codes() {
    let out = face_cluster().arg("--help").output().unwrap();
    let help = String::from_utf8(assert_success(&out)).unwrap();
    let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in ["Exit status: 0 on success", "1 on a runtime or input error", "2 on a usage error", "130 for Ctrl-C"]
    {
        assert!(flat.contains(needle), "--help should say {needle:?}:\n{help}");
    }
}

#[test]
fn a_successful_run_replaces_the_older_outputs_and_leaves_no_temporary_file() {
    let s = Scratch::new();
    s.good_inputs();
    let out = s.run_main(&["feats.npy", "--k", "10", "--min-sim", "0.9", "--labels", "gt.meta"]);
    assert_success(&out);
    let outputs = s.outputs();
    let names: Vec<&str> = outputs.keys().map(String::as_str).collect();
    assert_eq!(names, ["knn.npz", "labels.txt", "run.json"], "no temporary file left");
    let expected: String = (0..40).map(|i| format!("{}\n", i / 10)).collect();
    assert_eq!(outputs["labels.txt"], expected);
    assert!(outputs["run.json"].contains("\"clusters\": 4"), "{}", outputs["run.json"]);
}
