//! The `face-cluster` binary: parse arguments, call the library, print, map errors to exit codes.

mod cli;
mod commands;
mod term;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse(); // usage errors exit with status 2
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
