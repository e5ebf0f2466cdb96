//! Helpers shared by the integration tests: running the binary, and writing input files by hand.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test, with stdin closed.
pub fn face_cluster() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_face-cluster"));
    cmd.stdin(std::process::Stdio::null());
    cmd
}

/// The shipped data folder.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// A `.npy` file (version 1.0) with the given header dict and data, the header padded as NumPy
/// pads it.
pub fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut text = header.to_string();
    while !(10 + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&u16::try_from(text.len()).expect("short header").to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// The header dict of an array with this dtype and shape (given as Python writes it).
pub fn npy_header(descr: &str, shape: &str) -> String {
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}")
}

/// A little-endian float32 `.npy` of `rows`.
pub fn npy_f32(rows: &[Vec<f32>]) -> Vec<u8> {
    let dim = rows.first().map_or(0, Vec::len);
    let data: Vec<u8> = rows.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes(&npy_header("<f4", &format!("({}, {dim})", rows.len())), &data)
}

/// The same array as [`npy_f32`], big-endian.
pub fn npy_f32_be(rows: &[Vec<f32>]) -> Vec<u8> {
    let dim = rows.first().map_or(0, Vec::len);
    let data: Vec<u8> = rows.iter().flatten().flat_map(|v| v.to_be_bytes()).collect();
    npy_bytes(&npy_header(">f4", &format!("({}, {dim})", rows.len())), &data)
}

/// Raw little-endian float32 bytes of `rows` (the `.bin` format).
pub fn bin_f32(rows: &[Vec<f32>]) -> Vec<u8> {
    rows.iter().flatten().flat_map(|v| v.to_le_bytes()).collect()
}

/// splitmix64, for test data.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// `clusters * per_cluster` rows of dimension `dim`: each cluster a unit axis plus noise of
/// amplitude 0.05, rows in cluster order. Clean enough that every row's neighbours within
/// cosine 0.9 are exactly its cluster.
pub fn clustered_rows(clusters: usize, per_cluster: usize, dim: usize) -> Vec<Vec<f32>> {
    assert!(clusters <= dim);
    let mut rng = SplitMix64(7);
    (0..clusters * per_cluster)
        .map(|i| (0..dim).map(|j| if j == i / per_cluster { 1.0 } else { 0.0 } + 0.05 * rng.next_f32()).collect())
        .collect()
}

/// A folder to run a failing command in: inputs are written at its top level, and `out/`
/// holds an older `labels.txt`, `run.json` and `knn.npz` that a failed run must leave alone.
pub struct Scratch {
    dir: tempfile::TempDir,
}

/// The files `out/` holds before a run.
pub const OLD_OUTPUTS: [(&str, &str); 3] =
    [("knn.npz", "old k-NN table\n"), ("labels.txt", "old labels\n"), ("run.json", "old report\n")];

impl Scratch {
    /// An empty folder with `out/` and its older outputs.
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().expect("temporary folder");
        fs::create_dir(dir.path().join("out")).unwrap();
        for (name, text) in OLD_OUTPUTS {
            fs::write(dir.path().join("out").join(name), text).unwrap();
        }
        Scratch { dir }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `bytes` to `name` (relative to the folder) and returns `name`.
    pub fn file<'a>(&self, name: &'a str, bytes: impl AsRef<[u8]>) -> &'a str {
        fs::write(self.path().join(name), bytes).unwrap();
        name
    }

    /// A good 40-row, 8-d feature file `feats.npy` (4 clusters of 10) and its ground truth
    /// `gt.meta`.
    pub fn good_inputs(&self) {
        self.file("feats.npy", npy_f32(&clustered_rows(4, 10, 8)));
        let truth: String = (0..40).map(|i| format!("{}\n", i / 10)).collect();
        self.file("gt.meta", truth);
    }

    /// Runs the binary in the folder with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        face_cluster().current_dir(self.path()).args(args).output().expect("run face-cluster")
    }

    /// Runs the main job with `args`, writing labels and report into `out/`.
    pub fn run_main(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["-o", "out/labels.txt", "--report", "out/run.json"]);
        self.run(&all)
    }

    /// The files in `out/` and their contents.
    pub fn outputs(&self) -> BTreeMap<String, String> {
        fs::read_dir(self.path().join("out"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                let text = String::from_utf8_lossy(&fs::read(e.path()).unwrap()).into_owned();
                (name, text)
            })
            .collect()
    }

    /// Asserts that `out/` holds exactly its older outputs, untouched: no new file, no
    /// temporary file.
    #[track_caller]
    pub fn assert_outputs_untouched(&self) {
        let expected: BTreeMap<String, String> =
            OLD_OUTPUTS.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        assert_eq!(self.outputs(), expected, "out/ must be as it was");
    }
}

/// Asserts that `output` is a failure with status `code`, nothing on stdout and exactly one
/// stderr line, `face-cluster: error: ...`, containing every needle; returns that line.
#[track_caller]
pub fn assert_error(output: &Output, code: i32, needles: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "exit status; stderr:\n{stderr}");
    assert!(output.stdout.is_empty(), "stdout must be empty, got {:?}", String::from_utf8_lossy(&output.stdout));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one stderr line, got:\n{stderr}");
    let line = lines[0];
    assert!(line.starts_with("face-cluster: error: "), "{line}");
    for needle in needles {
        assert!(line.contains(needle), "{line:?} should contain {needle:?}");
    }
    line.to_string()
}

/// Asserts that `output` is a success; returns its stdout.
#[track_caller]
pub fn assert_success(output: &Output) -> Vec<u8> {
    assert!(
        output.status.success(),
        "status {:?}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout.clone()
}
