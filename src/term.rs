//! Progress and summaries on stderr.
//!
//! On a terminal, a stage shows a live `stage: done/total (pct%, ETA)` line; off a terminal
//! (logs, CI), one line per finished stage with its elapsed time. `-q` silences both.
//!
//! A stage's "done" line is held back until the next stage starts or a note is printed: a stage
//! ends (and `finish` is called) whether or not its work succeeded, so a run that fails ends with
//! its one error line rather than with a line claiming the failed stage was done.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use face_cluster::progress::Progress;

/// Renders [`Progress`] on stderr.
pub struct StderrProgress {
    quiet: bool,
    tty: bool,
    state: Mutex<Option<Stage>>,
    done: AtomicU64,
    /// The "done" line of the last finished stage, not yet printed.
    pending: Mutex<Option<String>>,
}

struct Stage {
    name: String,
    total: Option<u64>,
    started: Instant,
    last_draw: Instant,
}

impl StderrProgress {
    /// A renderer; `quiet` turns it off.
    pub fn new(quiet: bool) -> Self {
        StderrProgress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            state: Mutex::new(None),
            done: AtomicU64::new(0),
            pending: Mutex::new(None),
        }
    }

    /// Prints a line unless quiet.
    pub fn note(&self, line: &str) {
        if !self.quiet {
            self.print_pending();
            eprintln!("{line}");
        }
    }

    /// Prints the held-back "done" line of the last stage, if any.
    fn print_pending(&self) {
        if let Some(line) = self.pending.lock().expect("progress lock").take() {
            eprintln!("{line}");
        }
    }
}

impl Progress for StderrProgress {
    fn start(&self, stage: &str, total: Option<u64>) {
        if self.quiet {
            return;
        }
        self.print_pending();
        self.done.store(0, Ordering::Relaxed);
        let now = Instant::now();
        *self.state.lock().expect("progress lock") =
            Some(Stage { name: stage.to_string(), total, started: now, last_draw: now });
    }

    fn advance(&self, units: u64) {
        if self.quiet || !self.tty {
            return;
        }
        let done = self.done.fetch_add(units, Ordering::Relaxed) + units;
        let mut guard = self.state.lock().expect("progress lock");
        let Some(stage) = guard.as_mut() else { return };
        if stage.last_draw.elapsed().as_millis() < 200 {
            return;
        }
        stage.last_draw = Instant::now();
        let secs = stage.started.elapsed().as_secs_f64();
        let line = match stage.total {
            Some(total) if total > 0 && done > 0 => {
                let eta = secs * (total.saturating_sub(done)) as f64 / done as f64;
                format!("{}: {done}/{total} ({:.0}%, ETA {eta:.0}s)", stage.name, 100.0 * done as f64 / total as f64)
            }
            _ => format!("{}: {done} ({secs:.0}s)", stage.name),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.quiet {
            return;
        }
        if let Some(stage) = self.state.lock().expect("progress lock").take() {
            let secs = stage.started.elapsed().as_secs_f64();
            if self.tty {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K");
                let _ = err.flush();
            }
            *self.pending.lock().expect("progress lock") = Some(format!("{}: done in {secs:.2}s", stage.name));
        }
    }
}
