//! Fuzzing the input readers with proptest: `.npy` features and labels, raw `.bin` features and
//! text labels, each over bytes in memory (the `parse_*` entry points, size known) and as a
//! stream of unknown size.
//!
//! Four families of input: (a) random bytes and label-like text, (b) a well-formed `.npy` header
//! followed by random data, (c) valid files mutated by bit flips, truncations, insertions,
//! removals and overwrites, (d) headers claiming shapes up to 2^64 per dimension. For every
//! input and reader the properties are: no panic; an error is one line naming the file; the
//! largest allocation is backed by the input (at most 8 bytes per input byte, as for `int8`
//! labels widened to i64, plus 16 MiB for the streaming readers' first block), so a lying
//! header fails fast without trying to reserve what it claims; and the in-memory and streaming
//! readers agree on whether the input is valid, and on its values when it is.
//!
//! The default run is small enough for `cargo test`; the `#[ignore]`d long run feeds a million
//! inputs (`cargo test --release -- --ignored fuzz_long --nocapture`). `cargo fuzz` would need a
//! nightly toolchain, which CI does not have.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use face_cluster::io::bin::{parse_bin_features, read_bin_features};
use face_cluster::io::labels::{parse_text_labels, read_text_labels};
use face_cluster::io::npy::{parse_npy_features, parse_npy_labels, read_npy_features, read_npy_labels};
use face_cluster::{Error, Features};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use crate::alloc::largest_allocation;
use crate::common::npy_bytes;

/// The name the readers are given; every error message must start with it.
const NAME: &str = "fuzz.npy";

/// Allocation allowed beyond 8 bytes per input byte: the streaming readers reserve one block
/// (1 MiB of input, 8 MiB once widened to i64 labels) before the data backs it.
const ALLOCATION_SLACK: usize = 16 << 20;

/// Row lengths the `.bin` reader is tried with.
const BIN_DIMS: [usize; 4] = [1, 3, 8, 256];

/// Checks one reader's outcome on `bytes`: no over-allocation, a one-line error naming the file.
fn check<T>(bytes: &[u8], what: &str, read: impl FnOnce() -> Result<T, Error>) -> Result<Option<T>, TestCaseError> {
    let (result, largest) = largest_allocation(read);
    let allowed = 8 * bytes.len() + ALLOCATION_SLACK;
    prop_assert!(largest <= allowed, "{what}: allocated {largest} bytes for {} input bytes", bytes.len());
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) => {
            let message = e.to_string();
            prop_assert!(!message.contains('\n'), "{what}: multi-line error {message:?}");
            prop_assert!(
                message.starts_with(&format!("{NAME}: ")),
                "{what}: error does not name the file: {message:?}"
            );
            Ok(None)
        }
    }
}

/// Feeds `bytes` to every reader, in memory and as a stream.
fn feed(bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = Path::new(NAME);
    let known = check(bytes, "npy features", || parse_npy_features(bytes, path))?;
    let streamed = check(bytes, "npy features (stream)", || read_npy_features(bytes, path, None))?;
    match (&known, &streamed) {
        (Some(a), Some(b)) => {
            prop_assert_eq!(a.dim(), b.dim());
            prop_assert!(a.iter().zip(b.iter()).all(|(x, y)| x.to_bits() == y.to_bits()), "npy values differ");
            // The row checks (NaN, infinity, zero rows) on whatever parsed.
            check(bytes, "features", || Features::new(a.clone(), path, true))?;
        }
        (None, None) => {}
        _ => prop_assert!(false, "npy features: in-memory {} but streamed {}", ok(&known), ok(&streamed)),
    }

    let known = check(bytes, "npy labels", || parse_npy_labels(bytes, path))?;
    let streamed = check(bytes, "npy labels (stream)", || read_npy_labels(bytes, path, None))?;
    prop_assert_eq!(known.is_some(), streamed.is_some(), "npy labels: in-memory and streamed disagree");
    if let (Some(a), Some(b)) = (known, streamed) {
        prop_assert_eq!(a, b);
    }

    for dim in BIN_DIMS {
        let nonzero = std::num::NonZeroUsize::new(dim).expect("BIN_DIMS are positive");
        let known = check(bytes, "bin", || parse_bin_features(bytes, path, nonzero))?;
        let streamed = check(bytes, "bin (stream)", || read_bin_features(bytes, path, nonzero, None))?;
        prop_assert_eq!(known.is_some(), streamed.is_some(), "bin dim {}: in-memory and streamed disagree", dim);
        prop_assert_eq!(known.is_some(), !bytes.is_empty() && bytes.len().is_multiple_of(4 * dim));
    }

    let known = check(bytes, "text labels", || parse_text_labels(bytes, path))?;
    let streamed = check(bytes, "text labels (stream)", || read_text_labels(bytes, path))?;
    prop_assert_eq!(known, streamed);
    Ok(())
}

fn ok<T>(r: &Option<T>) -> &'static str {
    if r.is_some() {
        "accepted it"
    } else {
        "rejected it"
    }
}

/// Dtypes, valid for features or labels or neither.
const DESCRS: [&str; 20] = [
    "<f4", ">f4", "=f4", "<f8", ">f8", "<f2", ">f2", "|i1", "|u1", "<i2", ">u2", "<i4", ">i4", "<u8", ">i8", "<c8",
    "|b1", "<U3", "|O", "<f16",
];

/// Bytes per item of a descr (0 when it gives none).
fn item_size(descr: &str) -> u64 {
    descr.trim_start_matches(['<', '>', '=', '|']).get(1..).and_then(|d| d.parse().ok()).unwrap_or(0)
}

/// A `.npy` of any version with the given header text and data.
fn npy_with_version(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = npy_bytes(header, data);
    if version > 1 {
        // Versions 2.0 and 3.0 have a 4-byte header length.
        let len = u16::from_le_bytes([bytes[8], bytes[9]]);
        bytes.splice(6..10, [version, 0].into_iter().chain(u32::from(len).to_le_bytes()));
    }
    bytes
}

fn header_text(descr: &str, fortran: bool, shape: &[u64]) -> String {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let comma = if shape.len() == 1 { "," } else { "" };
    let fortran = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({}{comma}), }}", dims.join(", "))
}

/// (a) Random bytes, and random text made of the characters of label files.
fn random_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..600),
        "[-+0-9 \t\r\nx.]{0,200}".prop_map(String::into_bytes),
        // Random bytes after the magic, so the header parser sees them.
        vec(any::<u8>(), 0..300).prop_map(|tail| [&b"\x93NUMPY"[..], &tail].concat()),
    ]
}

/// (b) A well-formed header with a small random shape and dtype, then data that is exactly as
/// long as the header says (so some inputs are valid) or of random length.
fn header_then_data() -> impl Strategy<Value = Vec<u8>> {
    (select(&DESCRS[..]), any::<bool>(), vec(0u64..7, 0..4), 1u8..=3, any::<bool>()).prop_flat_map(
        |(descr, fortran, shape, version, exact)| {
            let bytes = shape.iter().product::<u64>() * item_size(descr);
            let data = if exact { vec(any::<u8>(), bytes as usize) } else { vec(any::<u8>(), 0..400) };
            data.prop_map(move |data| npy_with_version(version, &header_text(descr, fortran, &shape), &data))
        },
    )
}

/// A valid `.npy` of the given dtypes and number of dimensions.
fn valid_npy(descrs: &'static [&'static str], dims: usize) -> impl Strategy<Value = Vec<u8>> {
    (select(descrs), any::<bool>(), vec(1u64..6, dims)).prop_flat_map(|(descr, fortran, shape)| {
        let bytes = shape.iter().product::<u64>() * item_size(descr);
        vec(any::<u8>(), bytes as usize).prop_map(move |data| npy_bytes(&header_text(descr, fortran, &shape), &data))
    })
}

/// Valid inputs of each reader: `.npy` features, `.npy` labels (every value fits i64), raw
/// floats (any length works with `--dim 1`), label text.
fn valid_inputs() -> [BoxedStrategy<Vec<u8>>; 4] {
    [
        valid_npy(&DESCRS[..7], 2).boxed(),
        valid_npy(&["|i1", "|u1", "<i2", ">u2", "<i4", ">i4", "<i8", ">i8"], 1).boxed(),
        vec(-2.0f32..2.0, 1..64).prop_map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect()).boxed(),
        vec(any::<i64>(), 1..40)
            .prop_map(|labels| labels.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes())
            .boxed(),
    ]
}

/// A valid input of some reader.
fn valid_input() -> impl Strategy<Value = Vec<u8>> {
    let [features, labels, floats, text] = valid_inputs();
    prop_oneof![features, labels, floats, text]
}

/// One edit of a file.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Overwrite(Index, u8),
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len) };
        match self {
            Mutation::FlipBit(i, bit) if !bytes.is_empty() => {
                let p = at(i, bytes.len());
                bytes[p] ^= 1 << (bit % 8);
            }
            Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len() + 1)),
            Mutation::Insert(i, new) => {
                let p = at(i, bytes.len() + 1);
                bytes.splice(p..p, new.iter().copied());
            }
            Mutation::Remove(i, n) if !bytes.is_empty() => {
                let p = at(i, bytes.len());
                let end = (p + n).min(bytes.len());
                bytes.drain(p..end);
            }
            Mutation::Overwrite(i, b) if !bytes.is_empty() => {
                let p = at(i, bytes.len());
                bytes[p] = *b;
            }
            _ => {}
        }
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), vec(any::<u8>(), 1..16)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        (any::<Index>(), select(&b"0123456789(),' \n\x00\xff-LTFe"[..])).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
    ]
}

/// (c) A valid input with one to four edits.
fn mutated_input() -> impl Strategy<Value = Vec<u8>> {
    (valid_input(), vec(mutation(), 1..5)).prop_map(|(mut bytes, edits)| {
        for edit in &edits {
            edit.apply(&mut bytes);
        }
        bytes
    })
}

/// (d) A header claiming a huge (or overflowing) shape, with a little data.
fn huge_shape() -> impl Strategy<Value = Vec<u8>> {
    let dim = prop_oneof![
        0u64..4,
        (1u64 << 20)..(1u64 << 40),
        any::<u64>(),
        Just(u64::MAX),
        Just(1u64 << 62),
        Just(i64::MAX as u64)
    ];
    (select(&["<f4", ">f8", "<f2", "|i1", "<u8", "<i4"][..]), vec(dim, 1..4), vec(any::<u8>(), 0..256))
        .prop_map(|(descr, shape, data)| npy_bytes(&header_text(descr, false, &shape), &data))
}

/// Inputs fed so far, over all families.
static INPUTS: AtomicU64 = AtomicU64::new(0);

/// Runs `cases` inputs of `strategy` through [`feed`]. Deterministic runs use a fixed seed (the
/// same inputs every time, for CI); the long run draws a new seed.
fn run_family(name: &str, cases: u32, deterministic: bool, strategy: impl Strategy<Value = Vec<u8>>) {
    let mut config = Config::with_cases(cases);
    config.failure_persistence = None;
    let mut runner = if deterministic {
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    } else {
        TestRunner::new(config)
    };
    let started = Instant::now();
    runner
        .run(&strategy, |bytes| {
            INPUTS.fetch_add(1, Ordering::Relaxed);
            feed(&bytes)
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("fuzz {name}: {cases} inputs in {:.1}s", started.elapsed().as_secs_f64());
}

fn fuzz_all(cases_per_family: u32, deterministic: bool) {
    run_family("random bytes", cases_per_family, deterministic, random_input());
    run_family("header + random data", cases_per_family, deterministic, header_then_data());
    run_family("mutated valid files", cases_per_family, deterministic, mutated_input());
    run_family("huge shapes", cases_per_family, deterministic, huge_shape());
}

#[test]
fn fuzz_readers() {
    fuzz_all(500, true);
}

/// A million inputs, with a fresh seed: run once by hand, not in CI.
#[test]
#[ignore = "long: a million inputs; run with --ignored"]
fn fuzz_long() {
    let started = Instant::now();
    let before = INPUTS.load(Ordering::Relaxed);
    fuzz_all(250_000, false);
    let inputs = INPUTS.load(Ordering::Relaxed) - before;
    eprintln!("fuzz_long: {inputs} inputs, no failure, in {:.0}s", started.elapsed().as_secs_f64());
}

#[test]
fn the_families_produce_valid_inputs_too() {
    // The properties above are only as strong as the inputs: the valid files that the mutations
    // start from are accepted by their reader, and some exact-size headers give valid files.
    let mut runner = TestRunner::new_with_rng(Config::with_cases(1), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let path = Path::new(NAME);
    let readers: [fn(&[u8]) -> bool; 4] = [
        |b| parse_npy_features(b, Path::new(NAME)).is_ok(),
        |b| parse_npy_labels(b, Path::new(NAME)).is_ok(),
        |b| parse_bin_features(b, Path::new(NAME), std::num::NonZeroUsize::MIN).is_ok(),
        |b| parse_text_labels(b, Path::new(NAME)).is_ok(),
    ];
    for (strategy, accepts) in valid_inputs().iter().zip(readers) {
        for _ in 0..100 {
            let bytes = strategy.new_tree(&mut runner).unwrap().current();
            assert!(accepts(&bytes), "a valid input was rejected: {bytes:?}");
        }
    }
    let mut accepted = 0;
    for _ in 0..300 {
        let bytes = header_then_data().new_tree(&mut runner).unwrap().current();
        accepted += usize::from(parse_npy_features(&bytes, path).is_ok() || parse_npy_labels(&bytes, path).is_ok());
    }
    assert!(accepted >= 15, "only {accepted} of 300 header + data inputs were valid");
}
