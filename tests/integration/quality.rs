//! Presets, strategies and the automatic threshold through the binary, on the shipped ORL faces
//! (400 rows: fast, and every identity is recoverable).

use std::path::Path;
use std::process::Output;

use face_cluster::report::Report;

use face_cluster::config::{AutoRule, LoadOptions, Lonely, Pruning};
use face_cluster::threshold::ChosenBy;

use crate::common::{data_dir, face_cluster, npy_f32, SplitMix64};

fn run(args: &[&str]) -> Output {
    let out = face_cluster().args(args).output().expect("the binary runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The main job on `feats` scored against `truth`, with `extra` options, in `dir`: its report
/// and stderr (the run must succeed).
fn run_scored(dir: &Path, feats: &Path, truth: &Path, extra: &[&str]) -> (Report, String) {
    let report = dir.join("run.json");
    let out = face_cluster()
        .arg(feats)
        .arg("--labels")
        .arg(truth)
        .args(extra)
        .args(["-o", "/dev/null", "--report"])
        .arg(&report)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{extra:?}: {stderr}");
    (serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap(), stderr)
}

fn orl(file: &str) -> String {
    data_dir().join("att-orl").join(file).to_str().expect("UTF-8 path").to_string()
}

/// The labels (stdout) and the report of one main-job run on ORL with ground truth.
fn cluster(extra: &[&str]) -> (String, Report, String) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("run.json");
    let (feats, labels) = (orl("feats.npy"), orl("labels.meta"));
    let mut args = vec![feats.as_str(), "--labels", labels.as_str(), "--report", report.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args);
    let report: Report = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    (String::from_utf8(out.stdout).unwrap(), report, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Issue 17's default: k 256, the robust threshold (on ORL the merge valley, 0.9489, above the
/// link valley, 0.9435: `docs/quality.md`), the two-tier graph, merge and attach.
#[test]
fn the_default_picks_min_sim_and_says_so() {
    let (_, report, stderr) = cluster(&[]);
    let p = &report.params;
    assert!(p.min_sim_auto);
    assert_eq!(
        (p.k, p.auto_rule, p.edges.pruning, p.lonely),
        (256, Some(AutoRule::Robust), Pruning::Tiered, Lonely::Nearest)
    );
    assert!((0.9485..0.9495).contains(&p.min_sim), "{}", p.min_sim);
    assert!(report.auto_min_sim.is_none());
    let c = report.min_sim_choice.as_ref().expect("the rule's details in the report");
    assert_eq!(c.chosen_by, ChosenBy::Merge);
    assert!((c.link_valley.unwrap() - 0.9435).abs() < 5e-4, "{c:?}");
    assert!(
        stderr.contains("min_sim rule: merge valley 0.9489, link valley 0.9435, chosen: the merge valley"),
        "{stderr}"
    );
    assert!(stderr.contains("note: min_sim 0.9489 from the merge valley"), "{stderr}");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let eval = report.eval.unwrap();
    assert_eq!((eval.pairwise.f, eval.pred_clusters), (1.0, 40));
}

/// Reads ORL's features (unit rows) and labels.
fn orl_rows() -> (Vec<Vec<f32>>, Vec<String>) {
    let features = face_cluster::io::load_features(std::path::Path::new(&orl("feats.npy")), &LoadOptions::default())
        .expect("ORL reads");
    let rows = (0..features.n()).map(|i| features.row(i).to_vec()).collect();
    let labels = std::fs::read_to_string(orl("labels.meta")).unwrap().lines().map(str::to_string).collect();
    (rows, labels)
}

/// An album-like case (issue 17): ORL with the first photo of each person re-encoded 4 times
/// (cosine about 0.999 to it). The near-duplicates make the most prominent valley of the merge
/// heights, where more than half the rows have no neighbour: issue 9's rule (`--preset best`)
/// takes it and splits everyone; the default does not.
#[test]
fn near_duplicates_do_not_fool_the_default() {
    let (mut rows, mut labels) = orl_rows();
    let mut rng = SplitMix64(1);
    let dim = rows[0].len();
    for person in 0..40 {
        for _ in 0..4 {
            let original = rows[person * 10].clone();
            // Uniform noise of variance 1/3 scaled to unit variance, at an amplitude up to 0.05.
            let d = 0.025 * (rng.next_f32() + 1.0) * 3f32.sqrt() / (dim as f32).sqrt();
            rows.push(original.iter().map(|x| x + d * rng.next_f32()).collect());
            labels.push(labels[person * 10].clone());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (feats, truth) = (dir.path().join("album.npy"), dir.path().join("album.meta"));
    std::fs::write(&feats, npy_f32(&rows)).unwrap();
    std::fs::write(&truth, labels.join("\n") + "\n").unwrap();
    let score = |preset: &str| run_scored(dir.path(), &feats, &truth, &["--preset", preset]).0;
    let best = score("best");
    assert!(best.params.min_sim > 0.99, "issue 9's rule takes the near-duplicate valley: {}", best.params.min_sim);
    assert!(best.eval.unwrap().pairwise.f < 0.5);
    let default = score("default");
    assert!((0.94..0.955).contains(&default.params.min_sim), "{}", default.params.min_sim);
    let eval = default.eval.unwrap();
    assert!(eval.pairwise.f > 0.99 && eval.bcubed.f > 0.99, "{eval:?}");
}

/// A user with 30 photos needs no --k: the default's 256 is lowered to 29, with a note; a k
/// the user gave that does not fit stays an error.
#[test]
fn small_inputs_lower_the_default_k_and_say_so() {
    let (rows, labels) = orl_rows();
    let dir = tempfile::tempdir().unwrap();
    let (feats, truth) = (dir.path().join("small.npy"), dir.path().join("small.meta"));
    std::fs::write(&feats, npy_f32(&rows[..30])).unwrap();
    std::fs::write(&truth, labels[..30].join("\n") + "\n").unwrap();
    let (report, stderr) = run_scored(dir.path(), &feats, &truth, &[]);
    assert!(stderr.contains("note: k lowered from 256 to 29: the input has 30 rows"), "{stderr}");
    assert_eq!(report.params.k, 29);
    // Three people of ten photos: all found (the Silverman floor keeps the density smooth).
    let eval = report.eval.unwrap();
    assert_eq!((eval.pairwise.f, eval.pred_clusters), (1.0, 3), "min_sim {}", report.params.min_sim);
    let out = face_cluster().arg(&feats).args(["--k", "256", "-o", "/dev/null"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--k"), "{}", String::from_utf8_lossy(&out.stderr));
    // One row: the file's problem, not a k the user never gave; no output written.
    std::fs::write(&feats, npy_f32(&rows[..1])).unwrap();
    let labels_out = dir.path().join("one.txt");
    let out = face_cluster().arg(&feats).arg("-o").arg(&labels_out).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("small.npy: one row: nothing to cluster") && !stderr.contains("--k"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!labels_out.exists());
}

#[test]
fn explicit_k_and_min_sim_are_the_seed_and_so_is_the_seed_preset() {
    let (seed_labels, seed, _) = cluster(&["--k", "50", "--min-sim", "0.58"]);
    assert!(!seed.params.min_sim_auto && seed.auto_min_sim.is_none());
    assert_eq!((seed.params.k, seed.params.min_sim), (50, 0.58));
    assert_eq!(seed.params.edges, face_cluster::config::EdgeConfig::default());
    assert_eq!(seed.params.lonely, face_cluster::config::Lonely::Own);
    let (preset_labels, preset, _) = cluster(&["--preset", "seed"]);
    assert_eq!(preset_labels, seed_labels);
    assert_eq!((preset.params.min_sim, preset.params.min_sim_auto), (0.58, false));
    // And the seed preset takes a threshold when given one, like the design card's command.
    let (labels_094, _, _) = cluster(&["--preset", "seed", "--min-sim", "0.94"]);
    let (plain_094, _, _) = cluster(&["--k", "50", "--min-sim", "0.94"]);
    assert_eq!(labels_094, plain_094);
    // A threshold alone replaces the default's: the default's other steps stay.
    let (_, given, stderr) = cluster(&["--min-sim", "0.94"]);
    assert_eq!((given.params.k, given.params.edges.pruning, given.params.min_sim_auto), (256, Pruning::Tiered, false));
    assert!(stderr.contains("note: min_sim 0.94 given; the default rule would pick 0.9489"), "{stderr}");
}

#[test]
fn strategy_options_reach_the_report() {
    let (_, report, stderr) = cluster(&[
        "--edges",
        "snn",
        "--weights",
        "normalized",
        "--lonely",
        "attach",
        "--min-snn",
        "0.3",
        "--flow",
        "undirected",
        "--min-sim",
        "0.94",
        "--preset",
        "best",
    ]);
    let p = &report.params;
    assert_eq!(p.edges.pruning, face_cluster::config::Pruning::Snn);
    assert_eq!(p.edges.weighting, face_cluster::config::Weighting::Normalized);
    assert_eq!(p.edges.min_snn.get(), 0.3);
    assert_eq!(p.lonely, face_cluster::config::Lonely::Attach);
    assert_eq!(p.flow, face_cluster::infomap::FlowModel::Undirected);
    assert!(stderr.contains("strategy: links snn, weights normalized, rows alone: attach"), "{stderr}");
    // ORL's people are far apart: this strategy recovers them too.
    assert!(report.eval.unwrap().pairwise.f > 0.99);
}

#[test]
fn bad_min_snn_is_a_parameter_error() {
    let out = face_cluster().args([orl("feats.npy").as_str(), "--min-snn", "2", "-o", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: invalid --min-snn: 2 is not in [0, 1]"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn sweep_over_strategies_and_the_automatic_threshold() {
    let (feats, labels) = (orl("feats.npy"), orl("labels.meta"));
    let out = run(&[
        "sweep",
        &feats,
        "--labels",
        &labels,
        "--k",
        "20",
        "--min-sim",
        "0.93,0.94,auto",
        "--flow",
        "directed,undirected",
        "--json",
        "-q",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells = json["cells"].as_array().unwrap();
    let shape: Vec<(String, bool)> = cells
        .iter()
        .map(|c| (c["strategy"]["flow"].as_str().unwrap().to_string(), c["min_sim_auto"] == true))
        .collect();
    let d = |auto| ("directed".to_string(), auto);
    let u = |auto| ("undirected".to_string(), auto);
    assert_eq!(shape, [d(false), d(false), d(true), u(false), u(false), u(true)]);
    assert_eq!(json["params"]["auto_min_sim"], true);
    assert_eq!(json["params"]["strategies"].as_array().unwrap().len(), 2);
    let auto = cells[2]["min_sim"].as_f64().unwrap();
    assert!((0.94..0.955).contains(&auto), "{auto}");
    assert_eq!(cells[2]["eval"]["pairwise"]["f"], 1.0);

    let out = run(&[
        "sweep",
        &feats,
        "--labels",
        &labels,
        "--k",
        "20",
        "--min-sim",
        "auto",
        "--edges",
        "threshold,snn",
        "-q",
    ]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("| k | strategy | min_sim |"), "{table}");
    assert!(table.contains("snn/sim/directed/own") && table.contains("(auto)"), "{table}");
}

/// `--preset best` is the previous default (issue 9): the seed's graph at k 50 and the
/// merge-height valley, reported as before.
#[test]
fn the_best_preset_is_the_seed_graph_at_the_merge_valley() {
    let (_, default, _) = cluster(&[]);
    let (_, best, stderr) = cluster(&["--preset", "best"]);
    assert!(best.params.min_sim_auto);
    assert_eq!((best.params.k, best.params.auto_rule, best.params.merge_share), (50, Some(AutoRule::Valley), None));
    assert!((0.94..0.955).contains(&best.params.min_sim), "{}", best.params.min_sim);
    let auto = best.auto_min_sim.as_ref().expect("auto details in the report");
    assert_eq!(auto.min_sim, best.params.min_sim);
    assert_eq!(auto.components, 40, "one component per person at the valley");
    assert!(
        stderr.contains(&format!("min_sim={} (auto: valley of 399 merge heights", best.params.min_sim)),
        "{stderr}"
    );
    assert_eq!(best.eval.unwrap().pred_clusters, 40);
    // The default's steps after Infomap under `best`'s threshold: the robust rule runs for the
    // attach window's bandwidth only, and says so.
    let (_, mixed, stderr) = cluster(&["--preset", "best", "--lonely", "nearest", "--merge", "0.667"]);
    assert_eq!(mixed.params.min_sim, best.params.min_sim);
    assert!(mixed.min_sim_choice.is_some() && !mixed.min_sim_decided);
    assert!(stderr.contains("not used, h "), "{stderr}");
    assert!(stderr.contains("picked by the valley rule; the default rule would pick 0.9489"), "{stderr}");
    // Given the seed's threshold, `best` is the seed: the two presets differ only in min_sim.
    let (seed_labels, seed, _) = cluster(&["--preset", "seed"]);
    let (best_058, report, _) = cluster(&["--preset", "best", "--min-sim", "0.58"]);
    assert_eq!(best_058, seed_labels);
    assert_eq!((report.params.k, report.params.min_sim_auto), (50, false));
    // On ORL the seed's 0.58 (made for ArcFace features) keeps every link and merges people;
    // the picked threshold finds all 40.
    assert!(seed.eval.unwrap().pred_clusters < 20);
    assert_eq!(default.eval.unwrap().pred_clusters, 40);
}

/// Every links rule, weighting, flow model and rule for rows alone runs end to end with the
/// picked threshold, labels every row, and names itself on stderr and in the report; on ORL,
/// where the 40 people are far apart, each recovers nearly all of them.
#[test]
fn each_strategy_runs_end_to_end() {
    let cases: &[(&[&str], &str)] = &[
        (&["--edges", "adaptive"], "links adaptive, weights sim, rows alone: own"),
        (
            &["--edges", "adaptive", "--weights", "normalized", "--flow", "undirected"],
            "links adaptive, weights normalized",
        ),
        (&["--edges", "snn"], "links snn, weights sim"),
        (&["--edges", "snn", "--weights", "snn"], "links snn, weights snn"),
        (&["--weights", "normalized"], "links threshold, weights normalized"),
        (&["--lonely", "infomap"], "rows alone: infomap"),
        (&["--lonely", "attach", "--flow", "undirected"], "rows alone: attach"),
    ];
    for (extra, says) in cases {
        let mut extra = extra.to_vec();
        extra.extend(["--preset", "best"]);
        let (labels, report, stderr) = cluster(&extra);
        assert_eq!(labels.lines().count(), 400, "{extra:?}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
        assert!(report.params.min_sim_auto, "{extra:?}");
        let eval = report.eval.unwrap();
        assert!(eval.pairwise.f > 0.95 && eval.bcubed.f > 0.95, "{extra:?}: {eval:?}");
        assert!((38..=44).contains(&eval.pred_clusters), "{extra:?}: {}", eval.pred_clusters);
    }
}

/// LFW half A: 6,878 dlib descriptors of 2,943 people (most with one or two images), a
/// different shape of data from ORL. The picked threshold lands near the best fixed one (0.95,
/// found by `sweep`, docs/quality.md) and scores within a point of it.
#[test]
fn auto_on_lfw_is_within_a_point_of_the_best_fixed_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let feats = data_dir().join("lfw-a/feats.npy");
    let labels = data_dir().join("lfw-a/labels.meta");
    let score = |min_sim: &str| {
        let (report, _) = run_scored(dir.path(), &feats, &labels, &["--min-sim", min_sim]);
        (report.params.min_sim, report.eval.unwrap().pairwise.f)
    };
    let (picked, auto_f) = score("auto");
    let (_, fixed_f) = score("0.95");
    assert!((0.945..0.96).contains(&picked), "{picked}");
    assert!(auto_f > fixed_f - 0.01, "auto {auto_f} vs 0.95 {fixed_f}");
}

/// Mostly one-off people (ORL's first photo of each of 40 people, and all 10 of one person):
/// the threshold still finds every person, and the summary warns that most rows are alone
/// (so a lonely row is not attached to anyone).
#[test]
fn most_rows_alone_is_a_warning() {
    let (rows, labels) = orl_rows();
    let pick: Vec<usize> = (0..40).map(|p| p * 10).chain(1..10).collect();
    let dir = tempfile::tempdir().unwrap();
    let (feats, truth) = (dir.path().join("oneoff.npy"), dir.path().join("oneoff.meta"));
    let sub: Vec<Vec<f32>> = pick.iter().map(|&i| rows[i].clone()).collect();
    std::fs::write(&feats, npy_f32(&sub)).unwrap();
    std::fs::write(&truth, pick.iter().map(|&i| labels[i].as_str()).collect::<Vec<_>>().join("\n") + "\n").unwrap();
    let (report, stderr) = run_scored(dir.path(), &feats, &truth, &[]);
    let line = format!(
        "warning: 80% of rows have no neighbour above min_sim {:.4}; if few photos are of one-off people, set --min-sim lower",
        report.params.min_sim
    );
    assert!(stderr.contains(&line), "{stderr}");
    assert!(report.refine.attach_skipped && report.refine.attached == 0);
    let eval = report.eval.unwrap();
    assert_eq!((eval.pairwise.f, eval.pred_clusters), (1.0, 40));
}

/// A sweep's `auto` cell under `--preset default` is the main job's default: the same stages
/// after the search (threshold rule, two-tier graph, merge, attach), the same scores.
#[test]
fn the_sweep_runs_the_default_as_the_main_job_does() {
    let (_, default, _) = cluster(&[]);
    let (feats, labels) = (orl("feats.npy"), orl("labels.meta"));
    let out = run(&[
        "sweep",
        &feats,
        "--labels",
        &labels,
        "--preset",
        "default",
        "--k",
        "256",
        "--min-sim",
        "0.93,auto",
        "--json",
        "-q",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    let auto = &cells[1];
    assert_eq!(auto["min_sim_auto"], true);
    assert_eq!(auto["min_sim"].as_f64().unwrap() as f32, default.params.min_sim);
    assert_eq!(auto["strategy"]["edges"]["pruning"], "tiered");
    assert_eq!(auto["strategy"]["lonely"], "nearest");
    assert_eq!(auto["links"].as_u64().unwrap() as usize, default.graph.links);
    let eval = default.eval.unwrap();
    assert_eq!(auto["eval"]["pairwise"]["f"].as_f64().unwrap(), eval.pairwise.f);
    assert_eq!(auto["clusters"].as_u64().unwrap() as usize, default.clusters);
}
