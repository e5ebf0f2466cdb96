//! One function per command: convert the arguments ([`crate::convert`]), call the library,
//! print the results.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use face_cluster::config::RunConfig;
use face_cluster::error::Error;
use face_cluster::io::labels::write_text_labels;
use face_cluster::io::{is_std_stream, AtomicFile};
use face_cluster::knn::set_faiss_threads;
use face_cluster::measure::{PeakReset, Stages};
use face_cluster::pipeline::{self, KnnJob, NetworkJob};
use face_cluster::sweep::{self, SweepConfig};
use face_cluster::synth::{self, SynthConfig};

use crate::cli::{Cli, Command, EvalArgs, InfomapArgs, KnnArgs, RunArgs, SweepArgs, SynthArgs};
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

/// The main job.
fn run(args: &RunArgs, progress: &StderrProgress, stages: &mut Stages<'_>) -> Result<()> {
    let config = RunConfig::try_from(args)?;
    let labels_path = args.output.clone().unwrap_or_else(|| PathBuf::from("-"));
    if args.report.as_deref().is_some_and(is_std_stream) && is_std_stream(&labels_path) {
        bail!("--report - and the labels both want stdout; give the labels a file with -o");
    }
    let labels_out = Output::create(&labels_path)?;
    let report_out = args.report.as_deref().map(Output::create).transpose()?;

    let result = pipeline::run(&config, stages)?;
    labels_out.write(|w| write_text_labels(w, &result.labels))?;
    if let Some(out) = report_out {
        let json = serde_json::to_string_pretty(&result.report)?;
        out.write(|w| writeln!(w, "{json}"))?;
    }
    progress.note(&result.report.summary());
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
