//! `scripts/reproduce.sh` on small synthetic files laid out as the learn-to-cluster data
//! (`features/NAME.bin`, 256-d raw float32, and `labels/NAME.meta`).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use face_cluster::synth::{generate, SynthConfig};

/// Writes `features/{name}.bin` and `labels/{name}.meta` of an `n`-row synthetic set of 256-d
/// rows (the dimension the script passes) into `dir`.
fn write_dataset(dir: &Path, name: &str, n: usize, seed: u64) {
    let synth = generate(&SynthConfig { n, dim: 256, seed, mean_identity_size: 60.0, ..SynthConfig::default() })
        .expect("valid synthetic parameters");
    fs::create_dir_all(dir.join("features")).unwrap();
    fs::create_dir_all(dir.join("labels")).unwrap();
    let bytes: Vec<u8> = synth.features.iter().flat_map(|v| v.to_le_bytes()).collect();
    fs::write(dir.join("features").join(format!("{name}.bin")), bytes).unwrap();
    let meta: String = synth.labels.iter().map(|l| format!("{l}\n")).collect();
    fs::write(dir.join("labels").join(format!("{name}.meta")), meta).unwrap();
}

fn reproduce(data: &Path, args: &[&str]) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join("reproduce.sh");
    Command::new("bash")
        .arg(script)
        .arg(data)
        .args(args)
        .env("FACE_CLUSTER", env!("CARGO_BIN_EXE_face-cluster"))
        .output()
        .expect("bash runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// The cells of the table row starting with `prefix`.
fn row<'a>(table: &'a str, prefix: &str) -> Vec<&'a str> {
    let line = table.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no row {prefix:?}:\n{table}"));
    line.trim_matches('|').split('|').map(str::trim).collect()
}

#[test]
fn three_data_sets_give_three_tables_with_the_published_figures() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // k = 400 for YouTube-Faces and DeepFashion needs more than 400 rows.
    write_dataset(&data, "part1_test", 300, 1);
    write_dataset(&data, "ytb_test", 420, 2);
    write_dataset(&data, "deepfashion_test", 410, 3);
    let out_dir = dir.path().join("out");
    let out = reproduce(&data, &["-o", path(&out_dir), "--", "-j", "2", "-q"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}\n{stderr}", out.status);
    let table = fs::read_to_string(out_dir.join("reproduce.md")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), table, "the table is also printed");

    let header = "| Method | Pairwise P | Pairwise R | Pairwise F | BCubed P | BCubed R | BCubed F | NMI | Time (s) |";
    assert_eq!(table.lines().filter(|l| *l == header).count(), 3, "{table}");
    assert_eq!(
        row(&table, "| Infomap, seed, published (k=50, min_sim=0.58)"),
        ["Infomap, seed, published (k=50, min_sim=0.58)", "95.50", "92.51", "93.98", "-", "-", "-", "-", "-"]
    );
    assert_eq!(
        row(&table, "| Infomap, seed, published (k=400, min_sim=0.56)")[3..8],
        ["92.82", "-", "-", "91.78", "98.04"]
    );
    assert_eq!(
        row(&table, "| Infomap, seed, published (k=400, min_sim=0.88)")[3..8],
        ["38.67", "-", "-", "60.48", "90.97"]
    );

    for (name, setting) in [
        ("part1_test", "k=50, min_sim=0.58"),
        ("ytb_test", "k=400, min_sim=0.56"),
        ("deepfashion_test", "k=400, min_sim=0.88"),
    ] {
        let cells = row(&table, &format!("| face-cluster ({setting})"));
        let report: serde_json::Value =
            serde_json::from_slice(&fs::read(out_dir.join(format!("{name}.report.json"))).unwrap()).unwrap();
        assert_eq!(report["params"]["index"], "Flat", "{name}: the search is exact");
        assert_eq!(report["input"]["dim"], 256, "{name}");
        let eval = &report["eval"];
        let expected = [
            &eval["pairwise"]["precision"],
            &eval["pairwise"]["recall"],
            &eval["pairwise"]["f"],
            &eval["bcubed"]["precision"],
            &eval["bcubed"]["recall"],
            &eval["bcubed"]["f"],
            &eval["nmi"],
        ]
        .map(|v| format!("{:.2}", 100.0 * v.as_f64().expect("a score")));
        assert_eq!(cells[1..8], expected, "{name}: the table shows the report's scores in percent");
        let secs: f64 = cells[8].parse().expect("seconds");
        assert!(secs >= 0.0);
        let labels = fs::read_to_string(out_dir.join(format!("{name}.labels"))).unwrap();
        assert_eq!(labels.lines().count(), report["input"]["n"].as_u64().unwrap() as usize, "{name}");
    }
}

#[test]
fn missing_data_sets_are_skipped_and_none_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_dataset(&data, "part1_test", 200, 4);
    let out_dir = dir.path().join("out");
    let out = reproduce(&data, &["-o", path(&out_dir), "--", "-q"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("YouTube-Faces: features/ytb_test.bin or labels/ytb_test.meta not found"), "{stderr}");
    assert!(stderr.contains("DeepFashion:"), "{stderr}");
    let table = fs::read_to_string(out_dir.join("reproduce.md")).unwrap();
    assert!(table.contains("## MS-Celeb-1M part1_test") && !table.contains("## YouTube-Faces"), "{table}");

    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let out_dir = dir.path().join("out2");
    let out = reproduce(&empty, &["-o", path(&out_dir)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reproduce: error: no data set found"), "{stderr}");
    assert!(!out_dir.exists(), "nothing is written when there is nothing to run");

    let out = reproduce(&empty, &["--bogus"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
}

#[test]
fn a_failing_run_fails_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_dataset(&data, "part1_test", 200, 5);
    // Three bytes short: not a whole number of 256-d rows.
    let feats = data.join("features").join("part1_test.bin");
    let mut bytes = fs::read(&feats).unwrap();
    bytes.truncate(bytes.len() - 3);
    fs::write(&feats, bytes).unwrap();
    let out_dir = dir.path().join("out");
    let out = reproduce(&data, &["-o", path(&out_dir)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("face-cluster: error: ") && stderr.contains("part1_test.bin"), "{stderr}");
    assert!(stderr.contains("reproduce: error: MS-Celeb-1M part1_test (584K): face-cluster failed"), "{stderr}");
    assert!(!out_dir.join("reproduce.md").exists());
}
