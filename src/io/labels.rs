//! Text label files: one integer per line, the `.meta` format of the learn-to-cluster
//! benchmarks, and the format this tool writes its clustering in.
//!
//! Reading is strict about the middle of a file and lenient about its edges. Surrounding
//! whitespace on a line (including a Windows `\r`) is ignored, and so are blank lines at the end
//! (an editor's final newline, or several). A blank line anywhere else is an error rather than
//! being skipped: labels are matched to feature rows by position, so a skipped line would shift
//! every label after it onto the wrong row.

use std::io::{self, Read, Write};
use std::num::IntErrorKind;
use std::path::Path;

use super::quote;
use crate::error::{Error, Result};

/// Bytes of formatted labels collected before they are handed to the writer.
const WRITE_BLOCK_BYTES: usize = 64 * 1024;

/// Reads text labels to the end of `reader`; see [`parse_text_labels`].
///
/// # Errors
///
/// As [`parse_text_labels`], and [`Error::Io`] naming `path` when reading fails.
pub fn read_text_labels<R: Read>(mut reader: R, path: &Path) -> Result<Vec<i64>> {
    let mut bytes = Vec::new();
    reader.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
    parse_text_labels(&bytes, path)
}

/// Parses one integer (i64) per line. `path` only names the input in messages.
///
/// Lines may carry surrounding whitespace and end in `\n` or `\r\n`; blank lines at the end are
/// ignored, and a UTF-8 byte-order mark at the start is skipped.
///
/// # Errors
///
/// [`Error::Format`] naming `path` when there are no labels, for a blank line before the last
/// label, and for a line that is not an integer or is out of the i64 range (the message gives
/// the 1-based line number and the line's text, shortened).
pub fn parse_text_labels(bytes: &[u8], path: &Path) -> Result<Vec<i64>> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    // One label per line at most: counting newlines first sizes the vector exactly.
    let mut labels = Vec::with_capacity(bytes.iter().filter(|&&b| b == b'\n').count() + 1);
    let mut first_blank = None;
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let text = line.trim_ascii();
        if text.is_empty() {
            first_blank.get_or_insert(index + 1);
            continue;
        }
        if let Some(blank) = first_blank {
            return Err(Error::format(path, format!("line {blank} is blank (expected one integer label per line)")));
        }
        labels.push(
            parse_label(text)
                .map_err(|problem| Error::format(path, format!("line {}: {} {problem}", index + 1, quote(text))))?,
        );
    }
    if labels.is_empty() {
        return Err(Error::format(path, "no labels (empty file)"));
    }
    Ok(labels)
}

/// Writes `labels` one per line in decimal, in blocks of about 64 KiB, each ending in a newline.
/// Does not flush `writer`.
///
/// # Errors
///
/// Whatever `writer` returns.
pub fn write_text_labels<W: Write + ?Sized>(writer: &mut W, labels: &[u32]) -> io::Result<()> {
    // Room for one more line past the block size: u32::MAX is 10 digits and a newline.
    let mut block = vec![0u8; WRITE_BLOCK_BYTES + 11];
    let mut len = 0;
    for &label in labels {
        len += write_line(&mut block[len..], label);
        if len >= WRITE_BLOCK_BYTES {
            writer.write_all(&block[..len])?;
            len = 0;
        }
    }
    writer.write_all(&block[..len])
}

/// `"00" "01" ... "99"`: two digits per division halves the divisions.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Writes `value` in decimal and a newline at the start of `out` (which has room for 11 bytes);
/// returns the bytes written.
fn write_line(out: &mut [u8], mut value: u32) -> usize {
    let digits = value.checked_ilog10().unwrap_or(0) as usize + 1;
    let line = &mut out[..digits + 1];
    line[digits] = b'\n';
    let mut end = digits;
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        line[end - 2..end].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        end -= 2;
    }
    if value >= 10 {
        let pair = value as usize * 2;
        line[end - 2..end].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        line[end - 1] = b'0' + value as u8;
    }
    digits + 1
}

/// Parses one trimmed, non-empty line; the error completes "line N: 'text' ...".
fn parse_label(text: &[u8]) -> std::result::Result<i64, &'static str> {
    // Fast path: up to 18 digits cannot overflow an i64, so no checks are needed.
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if !digits.is_empty() && digits.len() <= 18 && digits.iter().all(u8::is_ascii_digit) {
        let value = digits.iter().fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'));
        return Ok(if negative { -value } else { value });
    }
    // Everything else (long numbers, errors) goes through the standard parser.
    let text = std::str::from_utf8(text).map_err(|_| "is not an integer label")?;
    text.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => "is out of range for a 64-bit integer label",
        _ => "is not an integer label",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("labels.meta")
    }

    fn parse(text: &str) -> Result<Vec<i64>> {
        let labels = parse_text_labels(text.as_bytes(), p());
        let streamed = read_text_labels(text.as_bytes(), p());
        assert_eq!(format!("{labels:?}"), format!("{streamed:?}"), "bytes and reader agree");
        labels
    }

    #[track_caller]
    fn assert_error(text: &str, expected: &str) {
        let e = parse(text).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        assert_eq!(e.to_string(), format!("labels.meta: {expected}"));
    }

    #[test]
    fn reads_one_integer_per_line() {
        assert_eq!(parse("3\n1\n-4\n1\n").unwrap(), [3, 1, -4, 1]);
        assert_eq!(parse("3\n1").unwrap(), [3, 1], "no final newline");
        assert_eq!(parse("  7 \t\n+8\n").unwrap(), [7, 8], "whitespace and sign");
        assert_eq!(parse("1\r\n2\r\n").unwrap(), [1, 2], "CRLF");
        assert_eq!(parse("\u{feff}5\n").unwrap(), [5], "byte-order mark");
        assert_eq!(parse("9223372036854775807\n-9223372036854775808\n").unwrap(), [i64::MAX, i64::MIN]);
        assert_eq!(
            parse("999999999999999999\n-999999999999999999\n-0\n0000000000000000000042\n").unwrap(),
            [999_999_999_999_999_999, -999_999_999_999_999_999, 0, 42],
            "fast path limits, and long numbers through the standard parser"
        );
    }

    #[test]
    fn trailing_blank_lines_are_tolerated() {
        assert_eq!(parse("1\n2\n\n").unwrap(), [1, 2]);
        assert_eq!(parse("1\n2\n\n  \n\r\n\n").unwrap(), [1, 2]);
    }

    #[test]
    fn blank_line_in_the_middle_is_an_error() {
        assert_error("1\n2\n\n3\n", "line 3 is blank (expected one integer label per line)");
        assert_error("\n1\n", "line 1 is blank (expected one integer label per line)");
        assert_error("1\n \n\n2\n", "line 2 is blank (expected one integer label per line)");
    }

    #[test]
    fn non_integer_lines_are_named() {
        assert_error("1\n2\nthree\n", "line 3: \"three\" is not an integer label");
        assert_error("1.5\n", "line 1: \"1.5\" is not an integer label");
        assert_error("-\n", "line 1: \"-\" is not an integer label");
        assert_error("+\n", "line 1: \"+\" is not an integer label");
        assert_error("--5\n", "line 1: \"--5\" is not an integer label");
        assert_error("5-\n", "line 1: \"5-\" is not an integer label");
        assert_error("1 2\n", "line 1: \"1 2\" is not an integer label");
        assert_error(
            "0\n99999999999999999999\n",
            "line 2: \"99999999999999999999\" is out of range for a 64-bit integer label",
        );
        assert_error("1\n\u{7}bell\n", "line 2: \"\\u{7}bell\" is not an integer label");
        let e = parse_text_labels(b"1\n\xff\xfe\n", p()).unwrap_err();
        assert!(e.to_string().starts_with("labels.meta: line 2: \""), "{e}");
    }

    #[test]
    fn long_lines_are_shortened_in_messages() {
        let long = "x".repeat(5000);
        let e = parse(&format!("1\n{long}\n")).unwrap_err();
        let expected = format!("labels.meta: line 2: \"{}...\" is not an integer label", "x".repeat(40));
        assert_eq!(e.to_string(), expected);
    }

    #[test]
    fn empty_input_is_an_error() {
        assert_error("", "no labels (empty file)");
        assert_error("\n\n", "no labels (empty file)");
    }

    #[test]
    fn writes_one_decimal_per_line() {
        let mut out = Vec::new();
        write_text_labels(&mut out, &[0, 7, 10, 99, 100, 123_456, u32::MAX]).unwrap();
        assert_eq!(out, b"0\n7\n10\n99\n100\n123456\n4294967295\n");
        let edges = (0..10).flat_map(|p| {
            let v = 10u64.pow(p);
            [v - 1, v, v + 1]
        });
        for v in edges.filter_map(|v| u32::try_from(v).ok()) {
            let mut out = Vec::new();
            write_text_labels(&mut out, &[v]).unwrap();
            assert_eq!(out, format!("{v}\n").as_bytes());
        }
        let mut out = Vec::new();
        write_text_labels(&mut out, &[]).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn written_labels_read_back_across_blocks() {
        let labels: Vec<u32> = (0..50_000u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let mut out = Vec::new();
        write_text_labels(&mut out, &labels).unwrap();
        assert!(out.len() > WRITE_BLOCK_BYTES);
        let back = parse_text_labels(&out, p()).unwrap();
        assert_eq!(back, labels.iter().map(|&l| i64::from(l)).collect::<Vec<_>>());
    }

    #[test]
    fn write_errors_are_returned() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let e = write_text_labels(&mut Broken, &[1, 2]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
