//! The files of `face-cluster synth`, and the command itself.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use super::{generate, SimilarityQuantiles, SimilaritySummary, Synth, SynthConfig, SynthStats, JUNK};
use crate::error::{Error, Result};
use crate::io::AtomicFile;
use crate::measure::Stages;

/// The four output files of `face-cluster synth`, created before the data is drawn so that a
/// bad folder fails at once, and committed together.
///
/// - `feats.npy`: NumPy `float32`, shape `(n, dim)`, C order;
/// - `feats.bin`: the same values as raw little-endian `float32`, row after row (the
///   learn-to-cluster layout; read it with `--dim`);
/// - `labels.meta`: one integer label per line;
/// - `sources.meta`: the identity each row is an image of ([`Synth::sources`]), one per line,
///   each junk row a label of its own (`identities + row`). Scoring it against `labels.meta`
///   with `face-cluster eval` gives the best scores any clustering can reach on the features.
///
/// On request ([`SynthFiles::with_kinds`]) a fifth, `kinds.meta`, gives the kind of every row
/// ([`Synth::kinds`]: 0 an image, 1 a near-duplicate, 2 junk, 3 mislabelled), as the Python
/// prototype of the harder families wrote it.
///
/// Each is written through [`AtomicFile`], so no partial file is ever left behind.
#[derive(Debug)]
pub struct SynthFiles {
    npy: AtomicFile,
    bin: AtomicFile,
    labels: AtomicFile,
    sources: AtomicFile,
    kinds: Option<AtomicFile>,
}

impl SynthFiles {
    /// Creates `dir` (and its parents) when missing, and the temporary files in it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the folder or file that cannot be created.
    pub fn create(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(SynthFiles {
            npy: AtomicFile::create(&dir.join("feats.npy"))?,
            bin: AtomicFile::create(&dir.join("feats.bin"))?,
            labels: AtomicFile::create(&dir.join("labels.meta"))?,
            sources: AtomicFile::create(&dir.join("sources.meta"))?,
            kinds: None,
        })
    }

    /// Also writes `dir/kinds.meta`, the kind of every row.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be created.
    pub fn with_kinds(mut self) -> Result<Self> {
        let dir = self.labels.target().parent().expect("created in a folder").to_path_buf();
        self.kinds = Some(AtomicFile::create(&dir.join("kinds.meta"))?);
        Ok(self)
    }

    /// Writes `synth` and renames the four files into place.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file that cannot be written.
    pub fn write(mut self, synth: &Synth) -> Result<()> {
        let (n, dim) = synth.features.dim();
        let values = synth.features.as_slice().expect("generate() builds a standard-layout matrix");
        let npy_path = self.npy.target().to_path_buf();
        write_npy_header(&mut self.npy, n, dim).map_err(|e| Error::io(&npy_path, e))?;
        // Each block is converted to bytes once and written to both feature files.
        let mut bytes = vec![0u8; WRITE_BLOCK_VALUES * 4];
        for block in values.chunks(WRITE_BLOCK_VALUES) {
            let bytes = &mut bytes[..block.len() * 4];
            for (out, value) in bytes.chunks_exact_mut(4).zip(block) {
                out.copy_from_slice(&value.to_le_bytes());
            }
            self.npy.write_all(bytes).map_err(|e| Error::io(&npy_path, e))?;
            let bin = &mut self.bin;
            bin.write_all(bytes).map_err(|e| Error::io(bin.target(), e))?;
        }
        let labels = &mut self.labels;
        crate::io::labels::write_text_labels(labels, &synth.labels).map_err(|e| Error::io(labels.target(), e))?;
        let sources = &mut self.sources;
        crate::io::labels::write_text_labels(sources, &sources_with_junk_apart(synth))
            .map_err(|e| Error::io(sources.target(), e))?;
        if let Some(kinds) = &mut self.kinds {
            let values: Vec<u32> = synth.kinds().into_iter().map(|k| k as u32).collect();
            crate::io::labels::write_text_labels(kinds, &values).map_err(|e| Error::io(kinds.target(), e))?;
        }
        self.npy.commit()?;
        self.bin.commit()?;
        self.labels.commit()?;
        self.sources.commit()?;
        self.kinds.map_or(Ok(()), AtomicFile::commit)
    }
}

/// [`Synth::sources`] with each junk row its own label, `identities + row`: an image of no one
/// is a cluster of its own in the best clustering, not one cluster of all junk. A near-duplicate
/// of a junk row takes its original's label (the same photo).
pub(super) fn sources_with_junk_apart(synth: &Synth) -> Vec<u32> {
    let identities = synth.identity_sizes.len();
    let apart = |(row, &source): (usize, &u32)| {
        if source == JUNK {
            let original = synth.copy_of[row] as usize;
            u32::try_from(identities + original).expect("identities and rows are counted in u32")
        } else {
            source
        }
    };
    synth.sources.iter().enumerate().map(apart).collect()
}

/// Values converted and written per step: 1 MiB of bytes.
const WRITE_BLOCK_VALUES: usize = 1 << 18;

/// A version 1.0 `.npy` header for a C-order little-endian float32 `(n, dim)` array: magic,
/// version, header length, then the dict padded with spaces so that the data starts at a
/// multiple of 64 bytes, as NumPy writes it.
fn write_npy_header(out: &mut impl Write, n: usize, dim: usize) -> io::Result<()> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {dim}), }}");
    let unpadded = 10 + dict.len() + 1; // magic, version, length; dict; newline
    let total = unpadded.div_ceil(64) * 64;
    let header_len = u16::try_from(total - 10).expect("a 2-D shape's header is far below 64 KiB");
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&header_len.to_le_bytes())?;
    out.write_all(dict.as_bytes())?;
    out.write_all(&vec![b' '; total - unpadded])?;
    out.write_all(b"\n")
}

/// What `face-cluster synth` did: the data drawn, its similarities and the time taken.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthRun {
    /// The output folder.
    pub dir: std::path::PathBuf,
    /// What was drawn.
    pub stats: SynthStats,
    /// Cosine quantiles of same- and different-label pairs.
    pub similarities: SimilaritySummary,
    /// Seconds drawing.
    pub generate_secs: f64,
    /// Seconds writing the files.
    pub write_secs: f64,
}

impl SynthRun {
    /// Three lines: the data, and the cosine quantiles of same- and different-label pairs.
    pub fn summary(&self) -> String {
        let s = &self.stats;
        let show = |name: &str, q: &SimilarityQuantiles| {
            format!(
                "{name} cosine: mean {:.3}, p1 {:.3}, p5 {:.3}, median {:.3}, p95 {:.3}, p99 {:.3} ({} pairs)",
                q.mean, q.p01, q.p05, q.p50, q.p95, q.p99, q.pairs
            )
        };
        // What the harder families add, said only when there is some, so that the base
        // model's summary reads as before.
        let mut extra = String::new();
        if s.sessions > 0 {
            extra += &format!("; {} sessions", s.sessions);
        }
        if s.near_duplicate_rows > 0 {
            extra += &format!("; {} near-duplicate rows", s.near_duplicate_rows);
        }
        if s.clustered_junk_rows > 0 {
            extra += &format!("; {} of the junk rows clustered", s.clustered_junk_rows);
        }
        let near_duplicates = self.similarities.near_duplicate_to_nearest.as_ref().map_or(String::new(), |q| {
            format!(
                "\nnear-duplicate to its nearest same-label row: p5 {:.3}, median {:.3}, p95 {:.3} ({} rows)",
                q.p05, q.p50, q.p95, q.pairs
            )
        });
        format!(
            "{} rows x {} in {}: {} identities, sizes min {} median {} mean {:.1} max {}; {} look-alike identities, \
             {} junk and {} mislabelled rows{extra}; generate {:.2}s, write {:.2}s\n{}\n{}{near_duplicates}",
            s.n,
            s.dim,
            self.dir.display(),
            s.identities,
            s.min_identity_size,
            s.median_identity_size,
            s.mean_identity_size,
            s.max_identity_size,
            s.lookalike_identities,
            s.junk_rows,
            s.mislabelled_rows,
            self.generate_secs,
            self.write_secs,
            show("same-label", &self.similarities.same_label),
            show("different-label", &self.similarities.different_label),
        )
    }
}

/// `face-cluster synth`: checks `config`, creates the files in `dir` ([`SynthFiles`], so a bad
/// folder fails before anything is drawn; `kinds.meta` too when `kinds`), draws the data and
/// writes it.
///
/// # Errors
///
/// [`Error::InvalidParameter`] from [`SynthConfig::validate`], [`Error::Io`] naming the folder or
/// file that cannot be written.
pub fn write_synth(config: &SynthConfig, dir: &Path, kinds: bool, stages: &mut Stages<'_>) -> Result<SynthRun> {
    config.validate()?;
    let files = SynthFiles::create(dir)?;
    let files = if kinds { files.with_kinds()? } else { files };
    let (data, generated) = stages.run(Some(("generate", None)), || generate(config));
    let data = data?;
    let (written, write) = stages.run(Some(("write", None)), || files.write(&data));
    written?;
    Ok(SynthRun {
        dir: dir.to_path_buf(),
        stats: data.stats.clone(),
        similarities: data.similarity_summary(100_000, config.seed),
        generate_secs: generated.secs,
        write_secs: write.secs,
    })
}
