//! Tests of the `.npy` readers, and `.npy` builders for other tests.

use super::*;
use std::io;

/// A `.npy` file with the given version, header text (padded here) and data.
pub(crate) fn npy_bytes(version: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let length_bytes = if version == 1 { 2 } else { 4 };
    let unpadded = 8 + length_bytes + header.len() + 1;
    let padded_header = format!("{header}{}\n", " ".repeat((64 - unpadded % 64) % 64));
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[version, 0]);
    let len = padded_header.len() as u32;
    if version == 1 {
        out.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(padded_header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn header(descr: &str, fortran: bool, shape: &str) -> String {
    let fortran = if fortran { "True" } else { "False" };
    format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}")
}

/// A little-endian float32 C-order `.npy` file.
pub(crate) fn npy_f32(shape: &str, values: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_bytes(1, &header("<f4", false, shape), &data)
}

fn p() -> &'static Path {
    Path::new("feats.npy")
}

fn parse(bytes: &[u8]) -> Result<Array2<f32>> {
    parse_npy_features(bytes, p())
}

/// Reads as a stream whose size is unknown, as stdin is.
fn parse_stream(bytes: &[u8]) -> Result<Array2<f32>> {
    read_npy_features(bytes, p(), None)
}

/// Asserts a format error naming the file whose message contains `needle`.
#[track_caller]
fn assert_format_error<T: std::fmt::Debug>(result: Result<T>, needle: &str) {
    let e = result.unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e}");
    let message = e.to_string();
    assert!(message.starts_with("feats.npy: "), "{message}");
    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    assert!(!message.contains('\n'), "{message:?}");
}

const ROWS: [f32; 6] = [1.0, -2.0, 0.5, 65504.0, 3.0, -0.25];

#[test]
fn reads_f4_c_order() {
    let a = parse(&npy_f32("(2, 3)", &ROWS)).unwrap();
    assert_eq!(a.dim(), (2, 3));
    assert_eq!(a.as_standard_layout().as_slice().unwrap(), &ROWS);
    assert_eq!(parse_stream(&npy_f32("(2, 3)", &ROWS)).unwrap(), a);
}

fn encoded(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Array2<f32> {
    let bytes = npy_bytes(1, &header(descr, fortran, shape), data);
    let a = parse(&bytes).unwrap();
    assert_eq!(parse_stream(&bytes).unwrap(), a);
    a
}

#[test]
fn reads_every_float_dtype_in_both_byte_orders() {
    let expected = Array2::from_shape_vec((2, 3), ROWS.to_vec()).unwrap();
    let f4be: Vec<u8> = ROWS.iter().flat_map(|v| v.to_be_bytes()).collect();
    let f8le: Vec<u8> = ROWS.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
    let f8be: Vec<u8> = ROWS.iter().flat_map(|&v| f64::from(v).to_be_bytes()).collect();
    // float16 bits of 1, -2, 0.5, 65504, 3, -0.25.
    let halves: [u16; 6] = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x4200, 0xb400];
    let f2le: Vec<u8> = halves.iter().flat_map(|v| v.to_le_bytes()).collect();
    let f2be: Vec<u8> = halves.iter().flat_map(|v| v.to_be_bytes()).collect();
    let f4le: Vec<u8> = ROWS.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (descr, data) in [
        (">f4", &f4be),
        ("<f8", &f8le),
        (">f8", &f8be),
        ("<f2", &f2le),
        (">f2", &f2be),
        ("=f4", &f4le),
        ("|f4", &f4le),
        ("f4", &f4le),
    ] {
        assert_eq!(encoded(descr, false, "(2, 3)", data), expected, "{descr}");
    }
}

#[test]
fn f64_values_are_rounded_to_f32() {
    let data: Vec<u8> = [0.1f64, 1e300].iter().flat_map(|v| v.to_le_bytes()).collect();
    let a = encoded("<f8", false, "(1, 2)", &data);
    assert_eq!(a[[0, 0]], 0.1f32);
    assert_eq!(a[[0, 1]], f32::INFINITY, "out of range becomes infinity");
}

#[test]
fn fortran_order_is_column_major() {
    // The 2 x 3 matrix [[1, 2, 3], [4, 5, 6]] stored column after column.
    let data: Vec<u8> = [1.0f32, 4.0, 2.0, 5.0, 3.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let a = encoded("<f4", true, "(2, 3)", &data);
    assert_eq!(a.dim(), (2, 3));
    assert_eq!(a.row(0).to_vec(), vec![1.0, 2.0, 3.0]);
    assert_eq!(a.row(1).to_vec(), vec![4.0, 5.0, 6.0]);
    let features = crate::Features::new(a, p(), false).unwrap();
    assert_eq!(features.as_slice(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
}

#[test]
fn reads_versions_2_and_3() {
    let data: Vec<u8> = ROWS.iter().flat_map(|v| v.to_le_bytes()).collect();
    for version in [2, 3] {
        let bytes = npy_bytes(version, &header("<f4", false, "(3, 2)"), &data);
        assert_eq!(parse(&bytes).unwrap().dim(), (3, 2), "version {version}");
    }
}

#[test]
fn header_syntax_variants_are_accepted() {
    let data = [0u8; 8];
    for text in [
        "{'shape': (1, 2), 'fortran_order': False, 'descr': '<f4'}",
        "{ \"descr\" : \"<f4\" ,\"fortran_order\":False,'shape':(1,2,),}",
        "{'descr':'<f4','fortran_order':False,'shape':(1L, 2L), 'extra': [None, {}]}",
        "{'descr': '<f4', 'fortran_order': True, 'shape': [1, 2], 'descr': '<f4'}",
        "\t{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}\n\n",
    ] {
        let bytes = npy_bytes(1, text, &data);
        assert_eq!(parse(&bytes).unwrap().dim(), (1, 2), "{text}");
    }
}

#[test]
fn header_parser_reads_python_literals() {
    let h = parse_header("{'descr': '<f2', 'fortran_order': True, 'shape': (5,), }").unwrap();
    assert_eq!(h, Header { descr: "<f2".into(), fortran_order: true, shape: vec![5] });
    assert_eq!(parse_header("{'descr':'<f4','fortran_order':False,'shape':()}").unwrap().shape, Vec::<u64>::new());
    let e = parse_header("{'descr':'<f4','fortran_order':False,'shape':(5)}").unwrap_err();
    assert!(e.contains("'shape' must be a tuple, got an integer"), "{e}");
    let e = parse_header("{'descr':'<f4','fortran_order':False,'shape':(-5,)}").unwrap_err();
    assert!(e.contains("bad dimension -5"), "{e}");
}

#[test]
fn bad_magic() {
    assert_format_error(parse(b"PK\x03\x04 this is a zip"), "not a .npy file");
    assert_format_error(parse(b"\x93NUM"), "does not start with the \\x93NUMPY magic");
    assert_format_error(parse(b""), "not a .npy file (the file is empty)");
    assert_format_error(parse(b"\x93NUMPY\x01"), "truncated .npy header");
}

#[test]
fn unsupported_version() {
    let mut bytes = npy_f32("(1, 1)", &[1.0]);
    bytes[6] = 4;
    assert_format_error(parse(&bytes), "unsupported .npy version 4.0 (supported: 1.0, 2.0, 3.0)");
    bytes[6] = 1;
    bytes[7] = 1;
    assert_format_error(parse(&bytes), "unsupported .npy version 1.1");
}

#[test]
fn unparsable_headers() {
    for (text, needle) in [
        ("{'descr': '<f4' 'fortran_order': False, 'shape': (1, 1)}", "expected ',' or '}'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)", "found the end"),
        ("['descr', '<f4']", "not a dict"),
        ("{'descr': '<f4', 'fortran_order': false, 'shape': (1, 1)}", "unknown name \"false\""),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "unexpected text after"),
        ("{'descr: '<f4'}", "expected ':'"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (1.5, 1)}", "expected ',' or ')'"),
        ("{'descr': '<f4', 'fortran_order': 0, 'shape': (1, 1)}", "must be True or False"),
        ("{'descr': 4, 'fortran_order': False, 'shape': (1, 1)}", "'descr' must be a string"),
        ("", "found the end of the header"),
    ] {
        let bytes = npy_bytes(1, text, &[]);
        assert_format_error(parse(&bytes), "cannot parse the .npy header");
        assert_format_error(parse(&bytes), needle);
    }
    // Beyond i128: 40 digits.
    let text = header("<f4", false, &format!("({},)", "9".repeat(40)));
    assert_format_error(parse(&npy_bytes(1, &text, &[])), "number too large");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let text = format!("{{'descr': {}", "(".repeat(100_000));
    let bytes = npy_bytes(2, &text, &[]);
    assert_format_error(parse(&bytes), "nested more than 32 deep");
}

#[test]
fn missing_keys() {
    for (text, key) in [
        ("{'fortran_order': False, 'shape': (1, 1)}", "descr"),
        ("{'descr': '<f4', 'shape': (1, 1)}", "fortran_order"),
        ("{'descr': '<f4', 'fortran_order': False}", "shape"),
    ] {
        let bytes = npy_bytes(1, text, &[0; 4]);
        assert_format_error(parse(&bytes), &format!("no '{key}' key"));
    }
}

#[test]
fn shapes_other_than_2d() {
    for (shape, needle) in [
        ("(5,)", "got a 1-D array of shape (5,)"),
        ("(2, 1, 3)", "got a 3-D array of shape (2, 1, 3)"),
        ("()", "got a 0-D array of shape ()"),
    ] {
        let bytes = npy_bytes(1, &header("<f4", false, shape), &[0; 24]);
        assert_format_error(parse(&bytes), "features must be a 2-D array (rows, dim)");
        assert_format_error(parse(&bytes), needle);
    }
}

#[test]
fn unsupported_feature_dtypes() {
    for (descr, name) in [
        ("<i4", "'<i4' (int32)"),
        ("|u1", "'|u1' (uint8)"),
        ("|b1", "'|b1' (bool)"),
        ("<c8", "'<c8' (complex64)"),
        ("|O", "'|O' (Python object)"),
        ("<U10", "'<U10' (unicode string)"),
        ("|S5", "'|S5' (byte string)"),
        ("<f16", "'<f16' (float128)"),
        ("<M8[ns]", "'<M8[ns]' (datetime)"),
    ] {
        let bytes = npy_bytes(1, &header(descr, false, "(1, 1)"), &[0; 16]);
        assert_format_error(parse(&bytes), &format!("dtype {name} is not supported for features"));
        assert_format_error(parse(&bytes), "use float32 ('<f4'), float64 ('<f8') or float16");
    }
    let structured = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1, 1)}";
    assert_format_error(parse(&npy_bytes(1, structured, &[0; 4])), "structured dtypes");
    for bad in ["<", "", "<4", "4"] {
        let bytes = npy_bytes(1, &header(bad, false, "(1, 1)"), &[0; 4]);
        assert_format_error(parse(&bytes), "is not a valid dtype string");
    }
}

#[test]
fn truncated_data() {
    let full = npy_f32("(2, 3)", &ROWS);
    let cut = &full[..full.len() - 5];
    let expected = "truncated data: got 19 bytes, expected 24 for shape (2, 3) of '<f4'";
    assert_format_error(parse(cut), expected);
    assert_format_error(parse_stream(cut), expected);
}

#[test]
fn trailing_bytes() {
    let mut bytes = npy_f32("(2, 3)", &ROWS);
    bytes.extend_from_slice(&[0; 3]);
    let expected = "3 unexpected bytes after the data (shape (2, 3) of '<f4' takes 24 bytes)";
    assert_format_error(parse(&bytes), expected);
    assert_format_error(parse_stream(&bytes), expected);
}

#[test]
fn endless_trailing_stream_is_counted_up_to_a_limit() {
    let bytes = npy_f32("(1, 1)", &[1.0]);
    let stream = (&bytes[..]).chain(io::repeat(0));
    let e = read_npy_features(stream, p(), None).unwrap_err();
    assert!(e.to_string().contains("at least 1048576 unexpected bytes"), "{e}");
}

#[test]
fn lying_header_fails_fast_without_allocating() {
    // 10^12 x 256 float32 would be 1 PB; only 100 bytes follow the header.
    let bytes = npy_bytes(1, &header("<f4", false, "(1000000000000, 256)"), &[0; 100]);
    assert_format_error(parse(&bytes), "truncated data: got 100 bytes, expected 1024000000000000");
    // Without a size hint the reader reserves at most one block and then finds the end.
    assert_format_error(parse_stream(&bytes), "truncated data: got 100 bytes, expected 1024000000000000");
    // A size that overflows u64 is caught before any arithmetic wraps.
    let bytes = npy_bytes(1, &header("<f8", false, "(4294967296, 4294967296)"), &[]);
    assert_format_error(parse(&bytes), "is too large to load");
    assert_format_error(parse_stream(&bytes), "is too large to load");
}

#[test]
fn lying_header_length() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[2, 0]);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    bytes.extend_from_slice(b"{'descr'");
    assert_format_error(parse(&bytes), "the .npy header claims 4294967295 bytes");
    let mut bytes = MAGIC.to_vec();
    bytes.extend_from_slice(&[1, 0, 200, 0]);
    bytes.extend_from_slice(b"{'descr'");
    assert_format_error(parse(&bytes), "truncated .npy header (it should be 200 bytes, the file holds 8)");
}

#[test]
fn garbage_never_panics() {
    // Every prefix of a valid file, and single-byte corruptions of it.
    let valid = npy_f32("(2, 3)", &ROWS);
    for end in 0..valid.len() {
        assert!(parse(&valid[..end]).is_err());
        assert!(parse_stream(&valid[..end]).is_err());
    }
    for i in 0..valid.len() {
        for byte in [0u8, b' ', b'(', b'\'', b'9', 0xff] {
            let mut bad = valid.clone();
            bad[i] = byte;
            let _ = parse(&bad);
            let _ = parse_npy_labels(&bad, p());
        }
    }
}

#[test]
fn f16_conversion_matches_the_definition_for_every_value() {
    for bits in 0..=u16::MAX {
        let sign = if bits >> 15 == 1 { -1.0 } else { 1.0 };
        let exponent = i32::from((bits >> 10) & 0x1f);
        let mantissa = f64::from(bits & 0x3ff);
        let got = f16_to_f32(bits);
        match exponent {
            0x1f if mantissa == 0.0 => assert_eq!(got, sign as f32 * f32::INFINITY),
            0x1f => assert!(got.is_nan(), "{bits:#x}"),
            _ => {
                let value = if exponent == 0 {
                    sign * mantissa * 2f64.powi(-24)
                } else {
                    sign * (1.0 + mantissa / 1024.0) * 2f64.powi(exponent - 15)
                };
                assert_eq!(f64::from(got), value, "{bits:#x}");
                assert_eq!(got.is_sign_negative(), sign < 0.0, "{bits:#x}");
            }
        }
    }
}

fn labels_npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    npy_bytes(1, &header(descr, false, shape), data)
}

fn parse_labels(bytes: &[u8]) -> Result<Vec<i64>> {
    let labels = parse_npy_labels(bytes, p());
    if let Ok(l) = &labels {
        assert_eq!(&read_npy_labels(bytes, p(), None).unwrap(), l);
    }
    labels
}

#[test]
fn reads_labels_of_every_integer_dtype() {
    let values = [0i64, 1, 7, 100];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("|i1", values.iter().map(|&v| v as u8).collect()),
        ("|u1", values.iter().map(|&v| v as u8).collect()),
        ("<i2", values.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect()),
        (">i2", values.iter().flat_map(|&v| (v as i16).to_be_bytes()).collect()),
        ("<u2", values.iter().flat_map(|&v| (v as u16).to_le_bytes()).collect()),
        (">u2", values.iter().flat_map(|&v| (v as u16).to_be_bytes()).collect()),
        ("<i4", values.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect()),
        (">i4", values.iter().flat_map(|&v| (v as i32).to_be_bytes()).collect()),
        ("<u4", values.iter().flat_map(|&v| (v as u32).to_le_bytes()).collect()),
        (">u4", values.iter().flat_map(|&v| (v as u32).to_be_bytes()).collect()),
        ("<i8", values.iter().flat_map(|&v| v.to_le_bytes()).collect()),
        (">i8", values.iter().flat_map(|&v| v.to_be_bytes()).collect()),
        ("<u8", values.iter().flat_map(|&v| (v as u64).to_le_bytes()).collect()),
        (">u8", values.iter().flat_map(|&v| (v as u64).to_be_bytes()).collect()),
        ("=i8", values.iter().flat_map(|&v| v.to_ne_bytes()).collect()),
    ];
    for (descr, data) in cases {
        assert_eq!(parse_labels(&labels_npy(descr, "(4,)", &data)).unwrap(), values, "{descr}");
        assert_eq!(parse_labels(&labels_npy(descr, "(4, 1)", &data)).unwrap(), values, "{descr}");
    }
}

#[test]
fn signed_labels_keep_their_sign() {
    assert_eq!(parse_labels(&labels_npy("|i1", "(2,)", &[0xff, 0x80])).unwrap(), [-1, -128]);
    assert_eq!(parse_labels(&labels_npy("|u1", "(2,)", &[0xff, 0x80])).unwrap(), [255, 128]);
    let data: Vec<u8> = [-5i32, i32::MIN].iter().flat_map(|v| v.to_be_bytes()).collect();
    assert_eq!(parse_labels(&labels_npy(">i4", "(2,)", &data)).unwrap(), [-5, i64::from(i32::MIN)]);
}

#[test]
fn u64_labels_above_i64_max_are_rejected() {
    let data: Vec<u8> = [1u64, 1 << 63].iter().flat_map(|v| v.to_le_bytes()).collect();
    let bytes = labels_npy("<u8", "(2,)", &data);
    let needle = "label 9223372036854775808 at index 1 is larger than the largest supported label";
    assert_format_error(parse_npy_labels(&bytes, p()), needle);
    assert_format_error(read_npy_labels(&bytes[..], p(), None), needle);
}

#[test]
fn bad_label_arrays() {
    for descr in ["<f4", "<f8", "|b1", "<c16"] {
        let bytes = labels_npy(descr, "(2,)", &[0; 32]);
        assert_format_error(parse_npy_labels(&bytes, p()), "is not supported for labels; use an integer dtype");
    }
    assert_format_error(
        parse_npy_labels(&labels_npy("<f4", "(1,)", &[0; 4]), p()),
        "dtype '<f4' (float32) is not supported for labels",
    );
    for shape in ["(2, 2)", "(1, 4)", "()", "(4, 1, 1)"] {
        let bytes = labels_npy("<i4", shape, &[0; 16]);
        assert_format_error(
            parse_npy_labels(&bytes, p()),
            &format!("labels must be a 1-D array (or 2-D with one column), got shape {shape}"),
        );
    }
    assert_format_error(parse_npy_labels(&labels_npy("<i4", "(0,)", &[]), p()), "no labels");
    assert_format_error(
        parse_npy_labels(&labels_npy("<i4", "(3,)", &[0; 8]), p()),
        "truncated data: got 8 bytes, expected 12",
    );
    assert_format_error(
        parse_npy_labels(&labels_npy("<i4", "(3,)", &[0; 13]), p()),
        "1 unexpected bytes after the data",
    );
}

#[test]
fn reads_files_written_by_numpy() {
    let a = parse(include_bytes!("../../../tests/data/npy/f4_c_3x4.npy")).unwrap();
    let expected: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    assert_eq!(a.dim(), (3, 4));
    assert_eq!(a.as_standard_layout().as_slice().unwrap(), &expected[..]);

    let a = parse(include_bytes!("../../../tests/data/npy/f8_fortran_3x4.npy")).unwrap();
    assert!(a.t().is_standard_layout(), "kept in Fortran order");
    assert_eq!(a.as_standard_layout().as_slice().unwrap(), &expected[..]);

    let a = parse(include_bytes!("../../../tests/data/npy/f2_be_2x3.npy")).unwrap();
    assert_eq!(a.as_standard_layout().as_slice().unwrap(), &[0.5, -1.0, 2.0, 1.5, 0.25, -3.0]);

    let labels = parse_npy_labels(include_bytes!("../../../tests/data/npy/labels_i8.npy"), p()).unwrap();
    assert_eq!(labels, [3, 1, 4, 1, 5, -9]);
}
