//! The `face-cluster` binary: parse arguments, call the library, print, map errors to exit codes.

mod cli;
mod commands;
mod term;

use std::process::ExitCode;

use clap::Parser;
use face_cluster::io::AtomicFile;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

fn main() -> ExitCode {
    let cli = cli::Cli::parse(); // usage errors exit with status 2
    if let Err(err) = handle_signals() {
        eprintln!("face-cluster: error: cannot install the signal handler: {err}");
        return ExitCode::from(1);
    }
    match commands::dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("face-cluster: error: {err:#}");
            ExitCode::from(1)
        }
    }
}

/// A closed stdout (`face-cluster ... | head`) ends the run quietly, as ripgrep does.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().or_else(|| match cause.downcast_ref::<face_cluster::Error>() {
            Some(face_cluster::Error::Io { cause, .. }) => Some(cause),
            _ => None,
        });
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP remove the temporary files of unfinished outputs, so an
/// interrupted run leaves no partial file and an older file of the same name untouched, then end
/// the process with status 128 + the signal number (130 for Ctrl-C), as a shell reports it.
///
/// The handler runs on a thread of its own (signal-hook's iterator), not in signal context, so
/// it may lock and delete files. It exits with `_exit`: no destructor runs while the other
/// threads (faiss's, rayon's) are still working.
fn handle_signals() -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new().name("signals".to_string()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            AtomicFile::abort_all();
            signal_hook::low_level::exit(128 + signal);
        }
    })?;
    Ok(())
}
