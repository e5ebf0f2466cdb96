//! Tests of the generator and its files.

use super::*;
use crate::config::{FeatureFormat, LoadOptions};
use crate::io::{load_features, read_labels};
use std::fs;

fn small(seed: u64) -> SynthConfig {
    SynthConfig { n: 3000, dim: 64, seed, ..SynthConfig::default() }
}

#[test]
fn same_seed_same_output_other_seed_differs() {
    let a = generate(&small(7)).unwrap();
    let b = generate(&small(7)).unwrap();
    assert_eq!(a, b);
    let c = generate(&small(8)).unwrap();
    assert_ne!(a.features, c.features);
    assert_ne!(a.identity_sizes, c.identity_sizes);
}

#[test]
fn output_does_not_depend_on_the_thread_count() {
    let config = SynthConfig { n: 5 * ROWS_PER_BLOCK + 17, dim: 16, ..SynthConfig::default() };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| generate(&config));
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(|| generate(&config));
    assert_eq!(one.unwrap(), four.unwrap());
}

#[test]
fn shapes_labels_and_unit_rows() {
    let s = generate(&small(1)).unwrap();
    assert_eq!(s.features.dim(), (3000, 64));
    assert_eq!(s.labels.len(), 3000);
    assert!(s.labels.windows(2).all(|w| w[1] == w[0] || w[1] == w[0] + 1), "labels are grouped, in order");
    assert_eq!(*s.labels.last().unwrap() as usize + 1, s.stats.identities);
    assert_eq!(s.identity_sizes.iter().map(|&x| x as usize).sum::<usize>(), 3000);
    for row in s.features.rows() {
        let norm = row.dot(&row).sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }
}

#[test]
fn statistics_are_in_the_expected_ranges() {
    let s = generate(&SynthConfig { n: 200_000, dim: 8, ..SynthConfig::default() }).unwrap();
    let st = &s.stats;
    // About 200000 / 68 = 2941 identities with a lognormal(sigma 0.8) law.
    assert!((2600..3300).contains(&st.identities), "{st:?}");
    assert!((60.0..76.0).contains(&st.mean_identity_size), "{st:?}");
    assert!((40..60).contains(&st.median_identity_size), "median about 68 exp(-0.32) = 49: {st:?}");
    assert!(st.max_identity_size > 300 && st.max_identity_size < 2000, "{st:?}");
    assert!(st.min_identity_size < 10, "{st:?}");
    let share = |count: usize| count as f64 / st.n as f64;
    assert!((0.008..0.012).contains(&share(st.junk_rows)), "{st:?}");
    assert!((0.017..0.023).contains(&share(st.mislabelled_rows)), "{st:?}");
    let lookalikes = st.lookalike_identities as f64 / st.identities as f64;
    assert!((0.07..0.13).contains(&lookalikes), "{st:?}");
    // Sources agree with the counts: junk rows have none, mislabelled rows another's.
    assert_eq!(s.sources.iter().filter(|&&x| x == JUNK).count(), st.junk_rows);
    let other = s.sources.iter().zip(&s.labels).filter(|(&x, &l)| x != JUNK && x != l).count();
    assert_eq!(other, st.mislabelled_rows);
    assert!(s.sources.iter().all(|&x| x == JUNK || (x as usize) < st.identities));
}

#[test]
fn similarities_look_like_arcface_embeddings() {
    let s = generate(&SynthConfig { n: 20_000, ..SynthConfig::default() }).unwrap();
    let sims = s.similarity_summary(20_000, 1);
    let (same, diff) = (&sims.same_label, &sims.different_label);
    assert_eq!((same.pairs, diff.pairs), (20_000, 20_000));
    assert!((0.62..0.76).contains(&same.p50), "{same:?}");
    // Junk and mislabelled rows (3 %) make the low tail of same-label pairs.
    assert!(same.p01 < 0.2 && same.p95 < 0.9, "{same:?}");
    // Near 0, with a tail from identities of one attribute group and look-alikes.
    assert!(diff.mean.abs() < 0.02 && diff.p50.abs() < 0.02, "{diff:?}");
    assert!(diff.p99 > 0.15 && diff.p99 < 0.35 && diff.p01 > -0.25, "{diff:?}");
}

#[test]
fn lookalike_centres_sit_at_the_drawn_cosine() {
    // Noise-free images are their centres: every pair is the cosine of two centres.
    let config = SynthConfig {
        n: 400,
        dim: 128,
        mean_identity_size: 1.0,
        identity_size_sigma: 0.0,
        noise: 0.0,
        group_sim: 0.0,
        lookalike_fraction: 1.0,
        lookalike_min_sim: 0.6,
        lookalike_max_sim: 0.6,
        junk_fraction: 0.0,
        mislabel_fraction: 0.0,
        ..SynthConfig::default()
    };
    let s = generate(&config).unwrap();
    assert_eq!((s.stats.identities, s.stats.lookalike_identities), (400, 399));
    // Each identity i > 0 has one earlier identity at cosine 0.6.
    for i in 1..400 {
        let best = (0..i).map(|j| s.features.row(i).dot(&s.features.row(j))).fold(f32::MIN, f32::max);
        assert!((best - 0.6).abs() < 1e-4, "identity {i}: closest earlier centre at {best}");
    }
}

#[test]
fn identities_of_one_group_share_its_direction() {
    let config = SynthConfig {
        n: 100,
        dim: 256,
        mean_identity_size: 1.0,
        identity_size_sigma: 0.0,
        noise: 0.0,
        groups: 1,
        group_sim: 0.5,
        lookalike_fraction: 0.0,
        junk_fraction: 0.0,
        mislabel_fraction: 0.0,
        ..SynthConfig::default()
    };
    let s = generate(&config).unwrap();
    let sims = s.similarity_summary(1000, 2).different_label;
    assert!((sims.mean - 0.5).abs() < 0.02 && sims.p01 > 0.35 && sims.p99 < 0.65, "{sims:?}");
    let independent = generate(&SynthConfig { group_sim: 0.0, ..config }).unwrap();
    let sims = independent.similarity_summary(1000, 2).different_label;
    assert!(sims.mean.abs() < 0.02 && sims.p99 < 0.2, "{sims:?}");
}

#[test]
fn no_noise_means_one_point_per_identity() {
    let config = SynthConfig { n: 500, dim: 32, noise: 0.0, junk_fraction: 0.0, mislabel_fraction: 0.0, ..small(3) };
    let s = generate(&config).unwrap();
    for (i, row) in s.features.rows().into_iter().enumerate().skip(1) {
        if s.labels[i] == s.labels[i - 1] {
            assert_eq!(row, s.features.row(i - 1));
        }
    }
}

#[test]
fn files_round_trip_through_the_readers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("new").join("synth");
    let s = generate(&SynthConfig { n: 777, dim: 24, ..SynthConfig::default() }).unwrap();
    SynthFiles::create(&out).unwrap().write(&s).unwrap();
    let keep = LoadOptions { normalize: false, ..LoadOptions::default() };
    let npy = load_features(&out.join("feats.npy"), &keep).unwrap();
    assert_eq!(npy.view(), s.features.view());
    let bin_options = LoadOptions {
        format: Some(FeatureFormat::Bin),
        dim: std::num::NonZeroUsize::new(24).unwrap(),
        normalize: false,
    };
    let bin = load_features(&out.join("feats.bin"), &bin_options).unwrap();
    assert_eq!(bin.view(), s.features.view());
    let labels = read_labels(&out.join("labels.meta")).unwrap();
    assert_eq!(labels, s.labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>());
    let npy_bytes = fs::read(out.join("feats.npy")).unwrap();
    assert_eq!((npy_bytes.len() - 777 * 24 * 4) % 64, 0, "data starts on a 64-byte boundary");
    let sources = read_labels(&out.join("sources.meta")).unwrap();
    let identities = s.identity_sizes.len();
    let junk = s.sources.iter().filter(|&&x| x == JUNK).count();
    assert!(junk > 0, "the default junk share draws some junk rows in 777");
    for (row, (&written, &source)) in sources.iter().zip(&s.sources).enumerate() {
        let expected = if source == JUNK { identities + row } else { source as usize };
        assert_eq!(written, expected as i64, "row {row}");
    }
    assert_eq!(fs::read_dir(&out).unwrap().count(), 4, "no temporary files left");
}

#[test]
fn dropped_files_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    drop(SynthFiles::create(dir.path()).unwrap());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bad_parameters_are_named() {
    let cases: [(SynthConfig, &str); 10] = [
        (SynthConfig { n: 0, ..small(1) }, "--n"),
        (SynthConfig { dim: 1, ..small(1) }, "--dim"),
        (SynthConfig { mean_identity_size: 0.5, ..small(1) }, "--mean-identity-size"),
        (SynthConfig { noise: f64::NAN, ..small(1) }, "--noise"),
        (SynthConfig { quality_sigma: -1.0, ..small(1) }, "--quality-sigma"),
        (SynthConfig { groups: 0, ..small(1) }, "--groups"),
        (SynthConfig { group_sim: 1.0, ..small(1) }, "--group-sim"),
        (SynthConfig { junk_fraction: 1.5, ..small(1) }, "--junk-fraction"),
        (SynthConfig { junk_fraction: 0.6, mislabel_fraction: 0.6, ..small(1) }, "--mislabel-fraction"),
        (SynthConfig { lookalike_min_sim: 0.8, lookalike_max_sim: 0.7, ..small(1) }, "--lookalike-max-sim"),
    ];
    for (config, option) in cases {
        let e = generate(&config).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { param, .. } if param.flag() == option), "{option}: {e}");
    }
}

#[test]
fn one_identity_has_no_mislabelled_rows() {
    let config = SynthConfig { n: 50, dim: 8, mean_identity_size: 1000.0, identity_size_sigma: 0.0, ..small(1) };
    let s = generate(&config).unwrap();
    assert_eq!((s.stats.identities, s.stats.mislabelled_rows), (1, 0));
    let sims = s.similarity_summary(10, 0);
    assert_eq!((sims.same_label.pairs, sims.different_label.pairs), (10, 0));
}
