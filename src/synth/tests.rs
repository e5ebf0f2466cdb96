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
    let cases: [(SynthConfig, &str); 23] = [
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
        (SynthConfig { head_min_size: 0, ..small(1) }, "--head-min-size"),
        (SynthConfig { head_min_size: 30, head_max_size: 20, ..small(1) }, "--head-max-size"),
        (SynthConfig { identities_total: usize::MAX / 4, ..small(1) }, "--identities-total"),
        (SynthConfig { session_mean_size: 0.5, ..small(1) }, "--session-mean-size"),
        (SynthConfig { session_noise: -0.1, ..small(1) }, "--session-noise"),
        (SynthConfig { dup_fraction: 1.0, ..small(1) }, "--dup-fraction"),
        (SynthConfig { dup_burst_mean: 0.0, ..small(1) }, "--dup-burst-mean"),
        (SynthConfig { dup_noise_max: f64::INFINITY, ..small(1) }, "--dup-noise-max"),
        (SynthConfig { junk_clustered: 1.1, ..small(1) }, "--junk-clustered"),
        (SynthConfig { junk_noise: -1.0, ..small(1) }, "--junk-noise"),
        (SynthConfig { common_sim: 1.0, ..small(1) }, "--common-sim"),
        (SynthConfig { common_sim: -0.1, ..small(1) }, "--common-sim"),
        (SynthConfig { common_sim_spread: f64::NAN, ..small(1) }, "--common-sim-spread"),
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

// ---- The harder families. ----

/// FNV-1a over bytes: a fingerprint of the output, to pin it.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

#[test]
fn base_model_output_is_unchanged_by_the_new_knobs() {
    // Fingerprints of `face-cluster synth --n 3000 --dim 64 --seed 5` (feats.bin, and
    // sources.meta as u32) written by the binary before the harder families existed: with their
    // knobs off, no draw may be added, moved or changed.
    let s = generate(&SynthConfig { n: 3000, dim: 64, seed: 5, ..SynthConfig::default() }).unwrap();
    let features = fnv1a(s.features.iter().flat_map(|v| v.to_le_bytes()));
    let sources = fnv1a(files::sources_with_junk_apart(&s).iter().flat_map(|v| v.to_le_bytes()));
    assert_eq!((features, sources), (0x846f_c50b_726f_99f2, 0xdb64_31c6_56bc_6451));
    assert!(s.copy_of.iter().enumerate().all(|(i, &c)| c as usize == i));
    assert_eq!((s.stats.sessions, s.stats.near_duplicate_rows, s.stats.clustered_junk_rows), (0, 0, 0));
}

fn cosine(s: &Synth, i: usize, j: usize) -> f32 {
    s.features.row(i).dot(&s.features.row(j))
}

#[test]
fn near_duplicates_sit_at_0_98_or_more_from_their_original_in_bursts() {
    let config = SynthConfig { n: 6000, dim: 256, seed: 4, dup_fraction: 0.3, ..SynthConfig::default() };
    let s = generate(&config).unwrap();
    let expected: usize =
        s.identity_sizes.iter().map(|&n| if n > 1 { (0.3 * f64::from(n)).floor() as usize } else { 0 }).sum();
    assert_eq!(s.stats.near_duplicate_rows, expected);
    let copies: Vec<usize> = (0..s.stats.n).filter(|&i| s.copy_of[i] as usize != i).collect();
    assert_eq!(copies.len(), expected);
    let mut sims = Vec::new();
    for &i in &copies {
        let original = s.copy_of[i] as usize;
        assert_eq!(s.copy_of[original] as usize, original, "a copy copies an original");
        assert_eq!((s.labels[original], s.sources[original]), (s.labels[i], s.sources[i]), "row {i}");
        sims.push(cosine(&s, i, original));
    }
    let q = SimilarityQuantiles::of(sims);
    // d <= 0.2: cosine about 1/sqrt(1 + d²) >= 0.981, give or take the norm of the noise.
    assert!(q.p01 >= 0.975 && q.p05 >= 0.98 && q.p50 > 0.99, "{q:?}");
    // Bursts: runs of copies of one original, mean 5 (cut at each identity's end).
    let bursts = 1 + copies.windows(2).filter(|w| w[1] != w[0] + 1 || s.copy_of[w[0]] != s.copy_of[w[1]]).count();
    let mean = copies.len() as f64 / bursts as f64;
    assert!((3.5..6.0).contains(&mean), "mean burst {mean}");
    let summary = s.similarity_summary(1000, 1).near_duplicate_to_nearest.unwrap();
    assert!(summary.p05 >= 0.98 && summary.pairs == copies.len().min(2000), "{summary:?}");
}

#[test]
fn copies_of_junk_keep_their_original_apart_in_sources() {
    let config = SynthConfig { n: 3000, dim: 32, junk_fraction: 0.3, dup_fraction: 0.5, ..small(2) };
    let s = generate(&config).unwrap();
    let written = files::sources_with_junk_apart(&s);
    let junk_copies = (0..s.stats.n).filter(|&i| s.copy_of[i] as usize != i && s.sources[i] == JUNK);
    let mut seen = 0;
    for i in junk_copies {
        assert_eq!(written[i], written[s.copy_of[i] as usize], "row {i}");
        seen += 1;
    }
    assert!(seen > 100, "{seen} copies of junk");
}

#[test]
fn head_identities_have_sizes_in_the_configured_range() {
    let config = SynthConfig {
        n: 30_000,
        dim: 8,
        head_identities: 6,
        head_min_size: 300,
        head_max_size: 3000,
        mean_identity_size: 30.0,
        ..SynthConfig::default()
    };
    let s = generate(&config).unwrap();
    let head = &s.identity_sizes[..6];
    assert!(head.iter().all(|&n| (300..=3000).contains(&n)), "{head:?}");
    let tail = &s.identity_sizes[6..];
    let tail_mean = tail.iter().map(|&n| f64::from(n)).sum::<f64>() / tail.len() as f64;
    assert!((26.0..34.0).contains(&tail_mean) && tail.iter().all(|&n| n < 300 * 2), "tail mean {tail_mean}");
    assert_eq!(s.stats.n, 30_000);
    // Log-uniform: median sqrt(100 x 1000) = 316, no pile-up at either end.
    let many =
        SynthConfig { n: 500_000, head_identities: 400, head_min_size: 100, head_max_size: 1000, ..config.clone() };
    let mut head = generate(&many).unwrap().identity_sizes[..400].to_vec();
    head.sort_unstable();
    assert!((270..370).contains(&head[200]), "median {}", head[200]);
    assert!(head[0] < 110 && head[399] > 950, "{} .. {}", head[0], head[399]);
    let ends = head.iter().filter(|&&n| n == 100 || n == 1000).count();
    assert!(ends < 8, "{ends} head sizes at an end of the range");
    // The head is cut to the rows there are.
    let s = generate(&SynthConfig { n: 500, ..config.clone() }).unwrap();
    assert_eq!((s.identity_sizes.iter().sum::<u32>(), s.stats.n), (500, 500));
    assert!(s.identity_sizes.len() <= 2, "{:?}", s.identity_sizes);
}

#[test]
fn an_album_has_exactly_its_identities_and_their_rows() {
    let config =
        SynthConfig { identities_total: 24, head_min_size: 22, head_max_size: 936, dim: 16, ..SynthConfig::default() };
    let s = generate(&config).unwrap();
    assert_eq!(s.stats.identities, 24);
    assert!(s.identity_sizes.iter().all(|&n| (22..=936).contains(&n)), "{:?}", s.identity_sizes);
    let rows = s.identity_sizes.iter().sum::<u32>() as usize;
    assert_eq!((s.stats.n, s.labels.len(), s.features.nrows()), (rows, rows, rows));
    assert_ne!(rows, config.n, "n is ignored");
    // Log-uniform over 22..936: the median is about sqrt(22 x 936) = 144, far below the middle.
    assert!(s.stats.median_identity_size < 400, "{:?}", s.stats);
}

#[test]
fn geometric_draws_have_the_configured_mean() {
    let mut rng = Rng::new(9);
    let draws: Vec<usize> = (0..40_000).map(|_| harder::geometric(&mut rng, 20.0)).collect();
    let mean = draws.iter().sum::<usize>() as f64 / draws.len() as f64;
    assert!((19.5..20.5).contains(&mean), "{mean}");
    assert_eq!(draws.iter().min(), Some(&1));
    assert_eq!(harder::geometric(&mut rng, 1.0), 1);
}

#[test]
fn sessions_split_an_identity_into_tighter_groups() {
    // No quality spread, no label noise: images of one session meet at 1/(1+s²) = 0.8, of two
    // sessions at 1/((1+s²)(1+sigma_s²)) = 0.4.
    let base = SynthConfig {
        n: 4000,
        dim: 256,
        noise: 0.5,
        quality_sigma: 0.0,
        session_noise: 1.0,
        junk_fraction: 0.0,
        mislabel_fraction: 0.0,
        ..small(6)
    };
    let one_session = generate(&SynthConfig { session_mean_size: 1e9, ..base.clone() }).unwrap();
    let same = one_session.similarity_summary(5000, 1).same_label;
    assert_eq!(one_session.stats.sessions, one_session.stats.identities);
    assert!((same.mean - 0.8).abs() < 0.02, "{same:?}");
    let own_sessions = generate(&SynthConfig { session_mean_size: 1.0, ..base.clone() }).unwrap();
    let same = own_sessions.similarity_summary(5000, 1).same_label;
    assert_eq!(own_sessions.stats.sessions, 4000);
    assert!((same.mean - 0.4).abs() < 0.03, "{same:?}");
    let twenty = generate(&SynthConfig { session_mean_size: 20.0, ..base }).unwrap();
    let per_session = 4000.0 / twenty.stats.sessions as f64;
    // Geometric sessions of mean 20, the last of each identity cut to fit.
    assert!((13.0..21.0).contains(&per_session), "{per_session}");
}

#[test]
fn clustered_junk_rows_meet_at_one_over_one_plus_noise_squared() {
    let config = SynthConfig { n: 3000, dim: 256, junk_fraction: 0.2, junk_clustered: 1.0, ..small(3) };
    let junk_mean = |s: &Synth| {
        let junk: Vec<usize> = (0..s.stats.n).filter(|&i| s.sources[i] == JUNK).collect();
        let pairs: Vec<f32> = junk.windows(2).map(|w| cosine(s, w[0], w[1])).collect();
        pairs.iter().sum::<f32>() / pairs.len() as f32
    };
    let s = generate(&config).unwrap();
    assert_eq!(s.stats.clustered_junk_rows, s.stats.junk_rows);
    let mean = junk_mean(&s);
    assert!((mean - 1.0 / (1.0 + 1.4 * 1.4)).abs() < 0.03, "{mean}");
    let uniform = generate(&SynthConfig { junk_clustered: 0.0, ..config.clone() }).unwrap();
    assert_eq!(uniform.stats.clustered_junk_rows, 0);
    assert!(junk_mean(&uniform).abs() < 0.02);
    let half = generate(&SynthConfig { junk_clustered: 0.5, ..config }).unwrap();
    let share = half.stats.clustered_junk_rows as f64 / half.stats.junk_rows as f64;
    assert!((0.4..0.6).contains(&share), "{share}");
}

#[test]
fn compressed_scale_maps_cosine_c_to_rho_plus_one_minus_rho_c() {
    let base = SynthConfig { n: 2000, dim: 128, ..small(11) };
    let plain = generate(&base).unwrap();
    let squeezed = generate(&SynthConfig { common_sim: 0.85, ..base.clone() }).unwrap();
    assert_eq!(plain.labels, squeezed.labels);
    let mut rng = Rng::new(1);
    let mut worst = 0f32;
    for _ in 0..5000 {
        let (i, j) = (rng.below(2000) as usize, rng.below(2000) as usize);
        let expected = 0.85 + 0.15 * cosine(&plain, i, j);
        worst = worst.max((cosine(&squeezed, i, j) - expected).abs());
    }
    assert!(worst < 0.01, "{worst}");
    for row in squeezed.features.rows() {
        assert!((row.dot(&row) - 1.0).abs() < 1e-5);
    }
    // A per-row spread keeps the centre of the scale and widens it.
    let spread = generate(&SynthConfig { common_sim: 0.85, common_sim_spread: 0.03, ..base }).unwrap();
    let (tight, wide) =
        (squeezed.similarity_summary(5000, 2).different_label, spread.similarity_summary(5000, 2).different_label);
    assert!((tight.mean - 0.85).abs() < 0.01 && (wide.mean - 0.85).abs() < 0.01, "{tight:?} {wide:?}");
    assert!(wide.p95 - wide.p05 > tight.p95 - tight.p05, "{tight:?} {wide:?}");
}

#[test]
fn every_knob_on_is_deterministic_whatever_the_thread_count() {
    let config = SynthConfig {
        n: 5 * ROWS_PER_BLOCK + 17,
        dim: 16,
        common_sim: 0.8,
        common_sim_spread: 0.05,
        ..Family::Mixed.config()
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| generate(&config));
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(|| generate(&config));
    let (one, four) = (one.unwrap(), four.unwrap());
    assert_eq!(one, four);
    let s = &one.stats;
    assert!(s.sessions > 0 && s.near_duplicate_rows > 0 && s.clustered_junk_rows > 0, "{s:?}");
    assert_ne!(one, generate(&SynthConfig { seed: config.seed + 1, ..config }).unwrap());
}

#[test]
fn families_are_valid_and_named() {
    for family in Family::ALL {
        family.config().validate().unwrap();
        assert_eq!(family.name().parse::<Family>(), Ok(family));
        assert_ne!(family.config(), SynthConfig::default(), "{family}");
    }
    let e = "nope".parse::<Family>().unwrap_err().to_string();
    assert!(e.contains("nope") && e.contains("album"), "{e}");
    assert_eq!(Family::Dlib.config().dim, 128);
    assert_eq!(Family::Sessions.config().head_identities, Family::Head.config().head_identities);
}

#[test]
fn album_family_draws_everything_it_names() {
    let s = generate(&Family::Album.config()).unwrap();
    let st = &s.stats;
    assert_eq!((st.identities, st.dim), (24, 128));
    let dups = st.near_duplicate_rows as f64 / st.n as f64;
    assert!((0.22..0.26).contains(&dups), "{st:?}");
    let sims = s.similarity_summary(5000, 1);
    // dlib's scale: different people at 0.82-0.88, the same at 0.93-0.98.
    let (same, diff) = (&sims.same_label, &sims.different_label);
    assert!((0.84..0.87).contains(&diff.p50) && (0.93..0.97).contains(&same.p50), "{same:?} {diff:?}");
    assert!(sims.near_duplicate_to_nearest.unwrap().p05 > 0.99);
}

#[test]
fn kinds_agree_with_the_counts_and_their_file() {
    let config = SynthConfig { n: 4000, dim: 16, ..Family::Mixed.config() };
    let s = generate(&config).unwrap();
    let kinds = s.kinds();
    let count = |kind: RowKind| kinds.iter().filter(|&&k| k == kind).count();
    let st = &s.stats;
    assert_eq!(count(RowKind::NearDuplicate), st.near_duplicate_rows);
    // Junk and mislabelled rows are counted as drawn; a near-duplicate of one is a
    // near-duplicate (with its original's source).
    assert_eq!((count(RowKind::Junk), count(RowKind::Mislabelled)), (st.junk_rows, st.mislabelled_rows));
    let junk_copies = (0..st.n).filter(|&i| kinds[i] == RowKind::NearDuplicate && s.sources[i] == JUNK).count();
    assert!(junk_copies > 0 && s.sources.iter().filter(|&&x| x == JUNK).count() == st.junk_rows + junk_copies);
    assert!(count(RowKind::Image) > st.n / 2);

    let dir = tempfile::tempdir().unwrap();
    SynthFiles::create(dir.path()).unwrap().with_kinds().unwrap().write(&s).unwrap();
    let written = read_labels(&dir.path().join("kinds.meta")).unwrap();
    assert_eq!(written, kinds.iter().map(|&k| k as i64).collect::<Vec<_>>());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 5);
}
