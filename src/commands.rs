//! One function per command: convert the arguments ([`crate::convert`]), call the library,
//! print the results.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use face_cluster::config::RunConfig;
use face_cluster::error::Error;
use face_cluster::io::labels::write_text_labels;
use face_cluster::io::{commit_all, is_std_stream, AtomicFile};
use face_cluster::knn::set_faiss_threads;
use face_cluster::measure::{PeakReset, Stages};
use face_cluster::pipeline::{self, KnnJob, NetworkJob};
use face_cluster::sweep::{self, SweepConfig};
use face_cluster::synth::{self, SynthConfig};
use face_cluster::update::{self, AddJob};

use crate::cli::{AddArgs, Cli, Command, EvalArgs, InfomapArgs, KnnArgs, RunArgs, SweepArgs, SynthArgs};
use crate::term::StderrProgress;

/// Runs the command `cli` asks for.
pub fn dispatch(cli: Cli) -> Result<()> {
    if cli.global.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cli.global.threads)
            .build_global()
            .context("cannot start the thread pool")?;
        // faiss's OpenMP setting is per calling thread: this one runs the search.
        set_faiss_threads(cli.global.threads);
    }
    let progress = StderrProgress::new(cli.global.quiet);
    // A program may reset its own memory high-water mark: each stage reports its own peak.
    let mut stages = Stages::new(&progress, PeakReset::PerStage);
    match cli.command {
        None => run(&cli.run, &progress, &mut stages),
        Some(Command::Knn(args)) => knn(&args, &progress, &mut stages),
        Some(Command::Eval(args)) => eval(&args),
        Some(Command::Infomap(args)) => infomap(&args, &progress, &mut stages),
        Some(Command::Sweep(args)) => sweep(&args, &mut stages),
        Some(Command::Synth(args)) => synth(&args, &progress, &mut stages),
        Some(Command::Add(args)) => add(&args, &progress, &mut stages),
    }
}

/// An output created before the work starts (so a bad path fails fast) and filled at the end.
enum Output {
    Stdout,
    File(AtomicFile),
}

impl Output {
    fn create(path: &Path) -> Result<Self> {
        Ok(if is_std_stream(path) { Output::Stdout } else { Output::File(AtomicFile::create(path)?) })
    }

    /// Fills the output without putting it in place: a file stays temporary (for a group
    /// commit, [`finish`]), stdout's text is kept to be printed after it.
    fn fill(self, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<Filled> {
        Ok(match self {
            Output::Stdout => {
                let mut text = Vec::new();
                fill(&mut text).map_err(|e| Error::io("<stdout>", e))?;
                Filled::Stdout(text)
            }
            Output::File(mut file) => {
                let target = file.target().to_path_buf();
                fill(&mut file).map_err(|e| Error::io(target, e))?;
                Filled::File(file)
            }
        })
    }

    fn write(self, fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                fill(&mut out).and_then(|()| out.flush()).map_err(|e| Error::io("<stdout>", e))?;
            }
            Output::File(mut file) => {
                let target = file.target().to_path_buf();
                fill(&mut file).map_err(|e| Error::io(target, e))?;
                file.commit()?;
            }
        }
        Ok(())
    }
}

/// An output filled but not yet in place.
enum Filled {
    Stdout(Vec<u8>),
    File(AtomicFile),
}

/// Puts filled outputs in place: the files in one group, through `commit` (which may add files
/// of its own, a saved clustering's, renamed with them), then stdout's text.
fn finish(outputs: Vec<Filled>, commit: impl FnOnce(Vec<AtomicFile>) -> face_cluster::Result<()>) -> Result<()> {
    let mut files = Vec::new();
    let mut texts = Vec::new();
    for output in outputs {
        match output {
            Filled::File(file) => files.push(file),
            Filled::Stdout(text) => texts.push(text),
        }
    }
    commit(files)?;
    let mut out = std::io::stdout().lock();
    for text in texts {
        out.write_all(&text).map_err(|e| Error::io("<stdout>", e))?;
    }
    out.flush().map_err(|e| Error::io("<stdout>", e))?;
    Ok(())
}

/// The labels and, when asked for, the report of a run: created before any input is read.
fn create_outputs(output: Option<&Path>, report: Option<&Path>) -> Result<(Output, Option<Output>)> {
    let labels_path = output.map_or_else(|| PathBuf::from("-"), Path::to_path_buf);
    if report.is_some_and(is_std_stream) && is_std_stream(&labels_path) {
        bail!("--report - and the labels both want stdout; give the labels a file with -o");
    }
    let labels_out = Output::create(&labels_path)?;
    let report_out = report.map(Output::create).transpose()?;
    Ok((labels_out, report_out))
}

/// The main job.
fn run(args: &RunArgs, progress: &StderrProgress, stages: &mut Stages<'_>) -> Result<()> {
    let config = RunConfig::try_from(args)?;
    let (labels_out, report_out) = create_outputs(args.output.as_deref(), args.report.as_deref())?;

    let result = pipeline::run(&config, stages)?;
    let mut outputs = vec![labels_out.fill(|w| write_text_labels(w, &result.labels))?];
    if let Some(out) = report_out {
        let json = serde_json::to_string_pretty(&result.report)?;
        outputs.push(out.fill(|w| writeln!(w, "{json}"))?);
    }
    match result.state {
        Some(state) => finish(outputs, |files| state.commit(files))?,
        None => finish(outputs, commit_all)?,
    }
    progress.note(&result.report.summary());
    if let Some(dir) = &config.save {
        progress.note(&format!("clustering saved to {} (add rows with: face-cluster add {0} NEW)", dir.display()));
    }
    Ok(())
}

/// `face-cluster add`: rows into a saved clustering.
fn add(args: &AddArgs, progress: &StderrProgress, stages: &mut Stages<'_>) -> Result<()> {
    let job = AddJob::try_from(args)?;
    let (labels_out, report_out) = create_outputs(args.output.as_deref(), args.report.as_deref())?;
    let result = update::add(&job, stages)?;
    let mut outputs = vec![labels_out.fill(|w| write_text_labels(w, &result.labels))?];
    if let Some(out) = report_out {
        let json = serde_json::to_string_pretty(&result.report)?;
        outputs.push(out.fill(|w| writeln!(w, "{json}"))?);
    }
    let summary = result.report.summary();
    finish(outputs, |files| result.commit(files))?;
    progress.note(&summary);
    Ok(())
}

/// `face-cluster knn`: search and save the table.
fn knn(args: &KnnArgs, progress: &StderrProgress, stages: &mut Stages<'_>) -> Result<()> {
    let job = KnnJob::try_from(args)?;
    let done = pipeline::knn_table(&job, stages)?;
    progress.note(&done.summary(&job.output));
    Ok(())
}

/// `face-cluster eval`.
fn eval(args: &EvalArgs) -> Result<()> {
    let scores = pipeline::evaluate_files(&args.gt, &args.pred)?;
    let text = if args.json { format!("{}\n", serde_json::to_string(&scores)?) } else { scores.table() };
    print(&text)
}

/// `face-cluster infomap`: the optimiser on a link list.
fn infomap(args: &InfomapArgs, progress: &StderrProgress, stages: &mut Stages<'_>) -> Result<()> {
    let job = NetworkJob::try_from(args)?;
    if args.json && args.output.as_deref().is_some_and(is_std_stream) {
        bail!("--json and -o - both want stdout; write the .clu to a file");
    }
    let output = args.output.as_deref().map(Output::create).transpose()?;
    let done = pipeline::partition_network(&job, stages)?;
    if let Some(out) = output {
        out.write(|w| done.write_clu(w))?;
    }
    progress.note(&done.report.summary());
    if args.json {
        print(&format!("{}\n", serde_json::to_string(&done.report)?))?;
    }
    Ok(())
}

/// `face-cluster sweep`: one search, a clustering and its scores per grid cell.
fn sweep(args: &SweepArgs, stages: &mut Stages<'_>) -> Result<()> {
    let config = SweepConfig::try_from(args)?;
    let plot = args.plot.as_deref().map(AtomicFile::create).transpose()?;
    let output = sweep::run(&config, stages)?;
    if let Some(mut file) = plot {
        let svg = sweep::plot::render_svg(&output)?;
        let target = file.target().to_path_buf();
        file.write_all(svg.as_bytes()).map_err(|e| Error::io(target, e))?;
        file.commit()?;
    }
    print(&if args.json { format!("{}\n", serde_json::to_string(&output)?) } else { output.markdown() })
}

/// `face-cluster synth`: draw a data set and write its files.
fn synth(args: &SynthArgs, progress: &StderrProgress, stages: &mut Stages<'_>) -> Result<()> {
    let done = synth::write_synth(&SynthConfig::from(args), &args.output, args.kinds, stages)?;
    progress.note(&done.summary());
    Ok(())
}

/// Writes `text` to stdout; a closed stdout is an [`Error::Io`] of kind `BrokenPipe`, which
/// `main` turns into a quiet exit.
fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| Error::io("<stdout>", e))?;
    Ok(())
}
