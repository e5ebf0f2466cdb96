//! NumPy `.npy` files: 2-D float feature matrices and 1-D integer label arrays.
//!
//! This is a small reader of its own rather than `ndarray-npy`, for three reasons: it must
//! accept what face-embedding pipelines actually produce (float16 and float64 as well as
//! float32, big-endian files, Fortran order), it must turn every malformed or hostile file into
//! a one-line [`Error`] naming the file, and it must never allocate on the word of a header
//! alone.
//!
//! # The format
//!
//! A file is the magic `\x93NUMPY`, a two-byte version, the header length (a little-endian u16
//! in version 1.0, u32 in 2.0 and 3.0), a header that is a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 256), }`, padded with spaces and a
//! newline, and then the raw array data. The header is parsed as a Python literal, so key
//! order, spacing, quotes, a trailing comma, a 1-tuple `(5,)` and Python 2's `5L` do not matter.
//! Unknown keys are ignored.
//!
//! # Dtypes
//!
//! Features: float32 (`f4`), float64 (`f8`, rounded to f32) and float16 (`f2`, widened exactly).
//! Labels: `i1`, `i2`, `i4`, `i8`, `u1`, `u2`, `u4`, `u8`, read as i64. The byte order `<` is
//! little-endian; `>` is big-endian, converted (byte-swapped) while reading; `=` and `|` mean the
//! machine's native order, as in NumPy. Everything else (bool, complex, strings, objects,
//! structured dtypes) is rejected with a message saying what is supported. A float64 beyond the
//! f32 range becomes an infinity, which [`Features::new`](crate::Features::new) then reports as
//! a non-finite row.
//!
//! # Sizes
//!
//! The data must be exactly `product(shape) * itemsize` bytes: shorter is reported as truncated
//! (with the byte counts), longer as trailing bytes. That size is computed with overflow checks
//! and, when the input's size is known, compared with it before anything is allocated, so a
//! header claiming 10^12 rows fails at once. On a stream of unknown size the data is read in
//! blocks and the buffer grows only as data arrives.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use ndarray::{Array2, ShapeBuilder};

use super::{count_rest, decode_with, read_full, read_items, vec_with_room, CHUNK_BYTES};
use crate::error::{Error, Result};

/// The first six bytes of every `.npy` file.
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Largest header accepted. A 2-D array's header is about 70 bytes; NumPy itself refuses
/// headers over 10 000 bytes unless told otherwise. The limit keeps a corrupt length field from
/// causing a large read.
const MAX_HEADER_BYTES: u32 = 1 << 20;

/// How deeply the header's literals may nest; keeps the recursive parser's stack bounded.
const MAX_NESTING: usize = 32;

/// How many trailing bytes are counted on a stream before the count is reported as a minimum.
const TRAILING_COUNT_LIMIT: u64 = 1 << 20;

/// Reads a 2-D float `.npy` array as f32, in the file's memory order (C or Fortran).
///
/// `path` only names the input in messages. `size_hint` is the total number of bytes `reader`
/// will yield (header included) when known, e.g. a regular file's length; with it, a wrong data
/// size is rejected before the data is read. Without it, the data is read in blocks and memory
/// grows only with the bytes actually received.
///
/// # Errors
///
/// [`Error::Format`] naming `path` for a bad magic, an unsupported version, an unparsable
/// header or one missing `descr`, `fortran_order` or `shape`, a shape that is not 2-D, a dtype
/// other than float16/32/64, truncated data and trailing bytes; [`Error::Io`] when reading fails.
pub fn read_npy_features<R: Read>(mut reader: R, path: &Path, size_hint: Option<u64>) -> Result<Array2<f32>> {
    let reader: &mut dyn Read = &mut reader;
    let (header, header_bytes) = read_header(reader, path)?;
    let dtype = Dtype::parse(&header.descr).map_err(|problem| Error::format(path, problem))?;
    if dtype.kind != 'f' || !matches!(dtype.size, 2 | 4 | 8) {
        return Err(Error::format(
            path,
            format!(
                "dtype {} is not supported for features; use float32 ('<f4'), float64 ('<f8') \
                 or float16 ('<f2'), either byte order",
                dtype.describe()
            ),
        ));
    }
    let &[rows, cols] = header.shape.as_slice() else {
        return Err(Error::format(
            path,
            format!(
                "features must be a 2-D array (rows, dim), got a {}-D array of shape {}",
                header.shape.len(),
                format_shape(&header.shape)
            ),
        ));
    };
    let layout = DataLayout::new(&header, &dtype, path, header_bytes, size_hint)?;

    let (size, big) = (dtype.size, dtype.big_endian);
    let mut values = vec_with_room(layout.reserve_items);
    read_data(reader, path, &layout, &mut values, |bytes, out| {
        match (size, big) {
            (4, false) => decode_with::<4, _>(bytes, out, f32::from_le_bytes),
            (4, true) => decode_with::<4, _>(bytes, out, f32::from_be_bytes),
            (8, false) => decode_with::<8, _>(bytes, out, |b| f64::from_le_bytes(b) as f32),
            (8, true) => decode_with::<8, _>(bytes, out, |b| f64::from_be_bytes(b) as f32),
            (2, false) => decode_with::<2, _>(bytes, out, |b| f16_to_f32(u16::from_le_bytes(b))),
            _ => decode_with::<2, _>(bytes, out, |b| f16_to_f32(u16::from_be_bytes(b))),
        }
        Ok(())
    })?;

    let too_large = || Error::format(path, format!("shape {} is too large", format_shape(&header.shape)));
    let rows = usize::try_from(rows).map_err(|_| too_large())?;
    let cols = usize::try_from(cols).map_err(|_| too_large())?;
    let shape = (rows, cols).set_f(header.fortran_order);
    Array2::from_shape_vec(shape, values).map_err(|e| Error::format(path, e.to_string()))
}

/// [`read_npy_features`] over bytes already in memory: the entry point for fuzzing.
///
/// # Errors
///
/// As [`read_npy_features`].
pub fn parse_npy_features(bytes: &[u8], path: &Path) -> Result<Array2<f32>> {
    read_npy_features(bytes, path, Some(bytes.len() as u64))
}

/// Reads a `.npy` array of integer labels: shape `(n,)`, or `(n, 1)`; dtypes `i1` to `i8` and
/// `u1` to `u8`, either byte order, read as i64.
///
/// `path` and `size_hint` are as in [`read_npy_features`].
///
/// # Errors
///
/// [`Error::Format`] naming `path` for the header problems [`read_npy_features`] reports, a
/// float or other non-integer dtype, another shape, an empty array, a `u8` value above
/// `i64::MAX`, truncated data and trailing bytes; [`Error::Io`] when reading fails.
pub fn read_npy_labels<R: Read>(mut reader: R, path: &Path, size_hint: Option<u64>) -> Result<Vec<i64>> {
    let reader: &mut dyn Read = &mut reader;
    let (header, header_bytes) = read_header(reader, path)?;
    let dtype = Dtype::parse(&header.descr).map_err(|problem| Error::format(path, problem))?;
    if !matches!(dtype.kind, 'i' | 'u') || !matches!(dtype.size, 1 | 2 | 4 | 8) {
        return Err(Error::format(
            path,
            format!(
                "dtype {} is not supported for labels; use an integer dtype (int8 to int64 or \
                 uint8 to uint64)",
                dtype.describe()
            ),
        ));
    }
    let n = match header.shape.as_slice() {
        &[n] | &[n, 1] => n,
        _ => {
            return Err(Error::format(
                path,
                format!(
                    "labels must be a 1-D array (or 2-D with one column), got shape {}",
                    format_shape(&header.shape)
                ),
            ))
        }
    };
    if n == 0 {
        return Err(Error::format(path, "no labels (the array is empty)"));
    }
    let layout = DataLayout::new(&header, &dtype, path, header_bytes, size_hint)?;

    let (size, big, signed) = (dtype.size, dtype.big_endian, dtype.kind == 'i');
    let mut labels = vec_with_room(layout.reserve_items);
    read_data(reader, path, &layout, &mut labels, |bytes, out| {
        match (size, big, signed) {
            (1, _, true) => decode_with::<1, _>(bytes, out, |b| i64::from(i8::from_le_bytes(b))),
            (1, _, false) => decode_with::<1, _>(bytes, out, |b| i64::from(b[0])),
            (2, false, true) => decode_with::<2, _>(bytes, out, |b| i64::from(i16::from_le_bytes(b))),
            (2, true, true) => decode_with::<2, _>(bytes, out, |b| i64::from(i16::from_be_bytes(b))),
            (2, false, false) => decode_with::<2, _>(bytes, out, |b| i64::from(u16::from_le_bytes(b))),
            (2, true, false) => decode_with::<2, _>(bytes, out, |b| i64::from(u16::from_be_bytes(b))),
            (4, false, true) => decode_with::<4, _>(bytes, out, |b| i64::from(i32::from_le_bytes(b))),
            (4, true, true) => decode_with::<4, _>(bytes, out, |b| i64::from(i32::from_be_bytes(b))),
            (4, false, false) => decode_with::<4, _>(bytes, out, |b| i64::from(u32::from_le_bytes(b))),
            (4, true, false) => decode_with::<4, _>(bytes, out, |b| i64::from(u32::from_be_bytes(b))),
            (_, false, true) => decode_with::<8, _>(bytes, out, i64::from_le_bytes),
            (_, true, true) => decode_with::<8, _>(bytes, out, i64::from_be_bytes),
            (_, _, false) => {
                for chunk in bytes.chunks_exact(8) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(chunk);
                    let v = if big { u64::from_be_bytes(b) } else { u64::from_le_bytes(b) };
                    let label = i64::try_from(v).map_err(|_| {
                        Error::format(
                            path,
                            format!(
                                "label {v} at index {} is larger than the largest supported \
                                 label ({})",
                                out.len(),
                                i64::MAX
                            ),
                        )
                    })?;
                    out.push(label);
                }
            }
        }
        Ok(())
    })?;
    Ok(labels)
}

/// [`read_npy_labels`] over bytes already in memory: the entry point for fuzzing.
///
/// # Errors
///
/// As [`read_npy_labels`].
pub fn parse_npy_labels(bytes: &[u8], path: &Path) -> Result<Vec<i64>> {
    read_npy_labels(bytes, path, Some(bytes.len() as u64))
}

/// Converts an IEEE 754 half-precision value (given as its bits) to f32, exactly: every f16 is
/// representable as f32. NaN stays NaN (with its payload shifted into place).
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match exponent {
        // Zero or subnormal: mantissa * 2^-24, exact in f32 (the mantissa has 10 bits).
        0 => (mantissa as f32 * (1.0 / 16_777_216.0)).to_bits(),
        // Infinity or NaN.
        0x1f => 0x7f80_0000 | (mantissa << 13),
        // Normal: rebias the exponent from 15 to 127.
        _ => ((exponent + 127 - 15) << 23) | (mantissa << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// The fields of a `.npy` header this reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    /// The dtype string, e.g. `<f4`.
    descr: String,
    /// Whether the data is column-major.
    fortran_order: bool,
    /// The array's dimensions.
    shape: Vec<u64>,
}

/// Reads the magic, version, header length and header; returns the header and the number of
/// bytes they took.
fn read_header(reader: &mut dyn Read, path: &Path) -> Result<(Header, u64)> {
    let io_error = |e| Error::io(path, e);
    let mut preamble = [0u8; 8];
    let got = read_full(reader, &mut preamble).map_err(io_error)?;
    if got == 0 {
        return Err(Error::format(path, "not a .npy file (the file is empty)"));
    }
    if got < MAGIC.len() || &preamble[..MAGIC.len()] != MAGIC {
        return Err(Error::format(path, "not a .npy file (it does not start with the \\x93NUMPY magic)"));
    }
    if got < preamble.len() {
        return Err(Error::format(path, format!("truncated .npy header (the file ends after {got} bytes)")));
    }
    let (major, minor) = (preamble[6], preamble[7]);
    let length_bytes = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(Error::format(
                path,
                format!("unsupported .npy version {major}.{minor} (supported: 1.0, 2.0, 3.0)"),
            ))
        }
    };
    let mut length = [0u8; 4];
    let got = read_full(reader, &mut length[..length_bytes]).map_err(io_error)?;
    if got < length_bytes {
        return Err(Error::format(path, format!("truncated .npy header (the file ends after {} bytes)", 8 + got)));
    }
    let header_len = u32::from_le_bytes(length);
    if header_len > MAX_HEADER_BYTES {
        return Err(Error::format(
            path,
            format!(
                "the .npy header claims {header_len} bytes, more than the {MAX_HEADER_BYTES} \
                 this reader accepts (corrupt file?)"
            ),
        ));
    }
    // Read through `take` so the buffer grows with the bytes that exist, not the claimed length.
    let mut text = Vec::with_capacity((header_len as usize).min(4096));
    reader.take(u64::from(header_len)).read_to_end(&mut text).map_err(io_error)?;
    if text.len() < header_len as usize {
        return Err(Error::format(
            path,
            format!("truncated .npy header (it should be {header_len} bytes, the file holds {})", text.len()),
        ));
    }
    // Version 3.0 headers are UTF-8, earlier ones latin-1; anything beyond ASCII can only sit
    // in names of structured dtypes, which are rejected anyway, so a lossy decode is enough.
    let text = String::from_utf8_lossy(&text);
    let header = parse_header(&text).map_err(|problem| {
        Error::format(
            path,
            format!("cannot parse the .npy header: {problem} (header: {})", shorten(text.trim_end(), 100)),
        )
    })?;
    Ok((header, 8 + length_bytes as u64 + u64::from(header_len)))
}

/// Parses the header dict and extracts `descr`, `fortran_order` and `shape`.
fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let mut parser = Parser { text: text.as_bytes(), pos: 0 };
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != parser.text.len() {
        return Err(format!("unexpected text after the dict at byte {}", parser.pos));
    }
    let Literal::Dict(entries) = value else {
        return Err("the header is not a dict".to_string());
    };
    // Python keeps the last of repeated keys.
    let get = |key: &str| {
        entries
            .iter()
            .rev()
            .find(|(k, _)| matches!(k, Literal::Str(s) if s == key))
            .map(|(_, v)| v)
            .ok_or_else(|| format!("no '{key}' key"))
    };
    let descr = match get("descr")? {
        Literal::Str(s) => s.clone(),
        Literal::List(_) => return Err("structured dtypes (a list 'descr') are not supported".to_string()),
        other => return Err(format!("'descr' must be a string, got {}", other.kind())),
    };
    let fortran_order = match get("fortran_order")? {
        Literal::Bool(b) => *b,
        other => return Err(format!("'fortran_order' must be True or False, got {}", other.kind())),
    };
    let shape = match get("shape")? {
        Literal::Tuple(items) | Literal::List(items) => items
            .iter()
            .map(|item| match item {
                Literal::Int(v) => u64::try_from(*v).map_err(|_| format!("shape has a bad dimension {v}")),
                other => Err(format!("shape holds {}, not integers", other.kind())),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
        other => return Err(format!("'shape' must be a tuple, got {}", other.kind())),
    };
    Ok(Header { descr, fortran_order, shape })
}

/// A Python literal, as far as `.npy` headers use them.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    Int(i128),
    Bool(bool),
    None,
    Tuple(Vec<Literal>),
    List(Vec<Literal>),
    Dict(Vec<(Literal, Literal)>),
}

impl Literal {
    /// What kind of value this is, for messages.
    fn kind(&self) -> &'static str {
        match self {
            Literal::Str(_) => "a string",
            Literal::Int(_) => "an integer",
            Literal::Bool(_) => "a boolean",
            Literal::None => "None",
            Literal::Tuple(_) => "a tuple",
            Literal::List(_) => "a list",
            Literal::Dict(_) => "a dict",
        }
    }
}

/// A recursive-descent parser for the Python literals of a `.npy` header.
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// An error message for the byte at the current position.
    fn unexpected(&self, expected: &str) -> String {
        match self.peek() {
            None => format!("expected {expected}, found the end of the header"),
            Some(c) => format!("expected {expected}, found {:?} at byte {}", char::from(c), self.pos),
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Literal, String> {
        if depth > MAX_NESTING {
            return Err(format!("values nested more than {MAX_NESTING} deep"));
        }
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                loop {
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Literal::Dict(entries));
                    }
                    let key = self.value(depth + 1)?;
                    self.skip_whitespace();
                    if self.peek() != Some(b':') {
                        return Err(self.unexpected("':'"));
                    }
                    self.pos += 1;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                    if !self.separator(b'}')? {
                        return Ok(Literal::Dict(entries));
                    }
                }
            }
            Some(open @ (b'(' | b'[')) => {
                self.pos += 1;
                let close = if open == b'(' { b')' } else { b']' };
                let mut items = Vec::new();
                let mut comma = false;
                loop {
                    self.skip_whitespace();
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        break;
                    }
                    items.push(self.value(depth + 1)?);
                    if self.separator(close)? {
                        comma = true;
                    } else {
                        break;
                    }
                }
                Ok(match (open, items.len(), comma) {
                    (b'[', ..) => Literal::List(items),
                    // `(5)` is just 5 in Python; only `(5,)` is a 1-tuple.
                    (_, 1, false) => items.pop().unwrap_or(Literal::None),
                    _ => Literal::Tuple(items),
                })
            }
            Some(quote @ (b'\'' | b'"')) => self.string(quote),
            Some(b'-' | b'+' | b'0'..=b'9') => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                    self.pos += 1;
                }
                match &self.text[start..self.pos] {
                    b"True" => Ok(Literal::Bool(true)),
                    b"False" => Ok(Literal::Bool(false)),
                    b"None" => Ok(Literal::None),
                    word => Err(format!("unknown name {:?} at byte {start}", String::from_utf8_lossy(word))),
                }
            }
            _ => Err(self.unexpected("a value")),
        }
    }

    /// After an item: consumes `,` (returns true: more may follow) or `close` (returns false).
    fn separator(&mut self, close: u8) -> std::result::Result<bool, String> {
        self.skip_whitespace();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.unexpected(&format!("',' or '{}'", char::from(close)))),
        }
    }

    fn string(&mut self, quote: u8) -> std::result::Result<Literal, String> {
        let start = self.pos;
        self.pos += 1;
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None => return Err(format!("unclosed string starting at byte {start}")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(Literal::Str(String::from_utf8_lossy(&bytes).into_owned()));
                }
                Some(b'\\') => {
                    let escaped = self.text.get(self.pos + 1).copied();
                    match escaped {
                        Some(c @ (b'\\' | b'\'' | b'"')) => bytes.push(c),
                        Some(c) => bytes.extend_from_slice(&[b'\\', c]),
                        None => return Err(format!("unclosed string starting at byte {start}")),
                    }
                    self.pos += 2;
                }
                Some(c) => {
                    bytes.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn int(&mut self) -> std::result::Result<Literal, String> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.pos += 1;
        }
        let digits_start = self.pos;
        let mut value: i128 = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(i128::from(c - b'0')))
                .ok_or_else(|| format!("number too large at byte {start}"))?;
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(self.unexpected("a digit"));
        }
        // Python 2 wrote long integers as `5L`.
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        Ok(Literal::Int(if negative { -value } else { value }))
    }
}

/// A dtype string such as `<f4`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Dtype {
    /// The string as the header gives it.
    descr: String,
    /// NumPy's kind character: `f` float, `i` signed, `u` unsigned, `b` bool, `c` complex, ...
    kind: char,
    /// Bytes per item (0 when the string gives none, as in `|O`).
    size: usize,
    /// Whether multi-byte items are big-endian.
    big_endian: bool,
}

impl Dtype {
    fn parse(descr: &str) -> std::result::Result<Dtype, String> {
        let bad = || format!("dtype '{}' is not a valid dtype string", shorten(descr, 40));
        let mut chars = descr.chars().peekable();
        // `=` (or no prefix) is native order; `|` means "not applicable", which NumPy also
        // reads as native.
        let big_endian = match chars.peek() {
            Some('<') => false,
            Some('>') => true,
            _ => cfg!(target_endian = "big"),
        };
        if matches!(chars.peek(), Some('<' | '>' | '=' | '|')) {
            chars.next();
        }
        let kind = chars.next().filter(char::is_ascii_alphabetic).ok_or_else(bad)?;
        let digits: String = chars.take_while(char::is_ascii_digit).collect();
        let size = if digits.is_empty() { 0 } else { digits.parse().map_err(|_| bad())? };
        Ok(Dtype { descr: descr.to_string(), kind, size, big_endian })
    }

    /// `'<i4' (int32)`, for messages.
    fn describe(&self) -> String {
        let bits = self.size * 8;
        let name = match self.kind {
            'f' => format!("float{bits}"),
            'i' => format!("int{bits}"),
            'u' => format!("uint{bits}"),
            'c' => format!("complex{bits}"),
            'b' => "bool".to_string(),
            'O' => "Python object".to_string(),
            'S' | 'a' => "byte string".to_string(),
            'U' => "unicode string".to_string(),
            'V' => "raw bytes".to_string(),
            'M' => "datetime".to_string(),
            'm' => "timedelta".to_string(),
            _ => return format!("'{}'", shorten(&self.descr, 40)),
        };
        format!("'{}' ({name})", shorten(&self.descr, 40))
    }
}

/// Where the data of an array sits and how much of it there must be.
struct DataLayout {
    /// `product(shape) * itemsize`.
    bytes: u64,
    /// Bytes per item.
    item_size: usize,
    /// Items to reserve before reading: all of them once the input's size vouches for them,
    /// else at most one block's worth.
    reserve_items: usize,
    /// The shape and dtype, for messages.
    what: String,
}

impl DataLayout {
    /// Computes the data size with overflow checks and compares it with the bytes left after
    /// the header when the input's size is known.
    fn new(
        header: &Header,
        dtype: &Dtype,
        path: &Path,
        header_bytes: u64,
        size_hint: Option<u64>,
    ) -> Result<DataLayout> {
        let what = format!("shape {} of '{}'", format_shape(&header.shape), dtype.descr);
        let bytes = header
            .shape
            .iter()
            .try_fold(dtype.size as u64, |acc, &d| acc.checked_mul(d))
            .filter(|&b| usize::try_from(b).is_ok_and(|b| b <= isize::MAX as usize))
            .ok_or_else(|| Error::format(path, format!("{what} is too large to load")))?;
        let items = bytes / dtype.size as u64;
        let mut reserve_items = (CHUNK_BYTES / dtype.size).min(items as usize);
        if let Some(total) = size_hint {
            let available = total.saturating_sub(header_bytes);
            check_data_size(path, available, bytes, &what, false)?;
            reserve_items = items as usize;
        }
        Ok(DataLayout { bytes, item_size: dtype.size, reserve_items, what })
    }
}

/// The error for `got` data bytes where `expected` were due, if they differ. `at_least` marks
/// `got` as a lower bound (a stream counted only so far).
fn check_data_size(path: &Path, got: u64, expected: u64, what: &str, at_least: bool) -> Result<()> {
    if got < expected {
        return Err(Error::format(path, format!("truncated data: got {got} bytes, expected {expected} for {what}")));
    }
    if got > expected {
        let extra = got - expected;
        let at_least = if at_least { "at least " } else { "" };
        return Err(Error::format(
            path,
            format!("{at_least}{extra} unexpected bytes after the data ({what} takes {expected} bytes)"),
        ));
    }
    Ok(())
}

/// Reads exactly `layout.bytes` of data with `decode`, then checks that nothing follows.
fn read_data<T>(
    reader: &mut dyn Read,
    path: &Path,
    layout: &DataLayout,
    out: &mut Vec<T>,
    decode: impl FnMut(&[u8], &mut Vec<T>) -> Result<()>,
) -> Result<()> {
    let got = read_items(reader, path, layout.bytes, layout.item_size, out, decode)?;
    check_data_size(path, got, layout.bytes, &layout.what, false)?;
    let (extra, more) = count_rest(reader, path, TRAILING_COUNT_LIMIT)?;
    check_data_size(path, layout.bytes + extra, layout.bytes, &layout.what, more)
}

/// A shape as Python writes it: `()`, `(5,)`, `(2, 3)`.
fn format_shape(shape: &[u64]) -> String {
    let mut s = String::from("(");
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{d}");
    }
    if shape.len() == 1 {
        s.push(',');
    }
    s.push(')');
    s
}

/// `text` cut to at most `max` characters (with `...` when cut), control characters escaped so
/// that a message stays on one line.
fn shorten(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().take(max) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if text.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
