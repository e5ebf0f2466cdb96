//! The `face-cluster` binary: parse arguments, call the library, print, map errors to exit codes.

mod cli;
mod commands;
mod convert;
mod term;

use std::process::ExitCode;

use clap::Parser;
use face_cluster::io::AtomicFile;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

fn main() -> ExitCode {
    #[cfg(all(unix, target_arch = "x86_64"))]
    use_fast_blas_kernels();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    give_large_buffers_back();
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

/// Fixes glibc's mmap threshold at its default of 128 KiB, so that every buffer above it is a
/// mapping of its own, given back to the system as soon as it is freed.
///
/// Left alone, glibc raises the threshold after each large free, up to 32 MiB: the mid-size
/// buffers allocated later (the k-NN join's per-list heaps, the graph's per-chunk vectors)
/// then come from the heap, which keeps them resident once freed. At a million rows that
/// kept about 1 GB through the graph and Infomap, and the k-NN join's heaps, freed list by
/// list while the table is written, would not have left memory at all (docs/scale.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)] // mallopt(3), one call.
fn give_large_buffers_back() {
    const THRESHOLD: libc::c_int = 128 * 1024;
    // SAFETY: mallopt only sets a parameter of glibc's allocator, under the allocator's own
    // lock, before this program allocates anything large. On failure (it returns 0) glibc
    // keeps its dynamic threshold and the run goes on.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
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

/// Set in the environment of the process [`use_fast_blas_kernels`] starts, to the core OpenBLAS
/// had picked: that process never starts another.
#[cfg(all(unix, target_arch = "x86_64"))]
const BLAS_REEXEC_GUARD: &str = "FACE_CLUSTER_OPENBLAS_REEXEC";

/// For tests only: treat a set `OPENBLAS_CORETYPE` as OpenBLAS's own detection rather than the
/// user's choice, to simulate a CPU that OpenBLAS does not recognise.
#[cfg(all(unix, target_arch = "x86_64"))]
const BLAS_SIMULATE_DETECTED: &str = "FACE_CLUSTER_OPENBLAS_SIMULATE_DETECTED";

/// When OpenBLAS fell back to a generic core on a CPU that can run its AVX2 or AVX-512
/// kernels, starts this program again, once, with `OPENBLAS_CORETYPE` naming the faster core
/// (`face_cluster::blas`). OpenBLAS reads the variable only when it loads, hence the new
/// process; `exec` keeps the pid, the arguments and the open files. A user's own
/// `OPENBLAS_CORETYPE` is left alone, and on any failure the run goes on with the kernels it has.
///
/// See: issue 5, Debian's OpenBLAS 0.3.21 running `Prescott` kernels on CPUs it does not know.
#[cfg(all(unix, target_arch = "x86_64"))]
fn use_fast_blas_kernels() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os(BLAS_REEXEC_GUARD).is_some() {
        return;
    }
    let simulated = std::env::var_os(BLAS_SIMULATE_DETECTED).is_some();
    if std::env::var_os("OPENBLAS_CORETYPE").is_some() && !simulated {
        return;
    }
    let Some(core) = face_cluster::blas::openblas_core() else { return };
    let Some(better) = face_cluster::blas::better_core(&core, face_cluster::blas::CpuLevel::detect()) else { return };
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // exec only returns on failure; then the run continues as it is.
    let _ = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env("OPENBLAS_CORETYPE", better)
        .env(BLAS_REEXEC_GUARD, &core)
        .env_remove(BLAS_SIMULATE_DETECTED)
        .exec();
}
