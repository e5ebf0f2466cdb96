//! Progress and summaries on stderr.
//!
//! On a terminal, a running stage shows an `indicatif` progress bar with its ETA when the stage
//! counts work units (the k-NN search counts rows), else a spinner with the elapsed time; a
//! finished stage leaves one `stage: done in 1.23s` line. Off a terminal (logs, CI, tests)
//! there are no bars, only those lines. `-q` silences both.
//!
//! A stage's "done" line is held back until the next stage starts or a note is printed: a stage
//! ends (and `finish` is called) whether or not its work succeeded, so a run that fails ends with
//! its one error line rather than with a line claiming the failed stage was done.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use face_cluster::progress::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Renders [`Progress`] on stderr.
pub struct StderrProgress {
    quiet: bool,
    tty: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The running stage: its name, start and bar (on a terminal).
    stage: Option<(String, Instant, Option<ProgressBar>)>,
    /// The "done" line of the last finished stage, not yet printed.
    pending: Option<String>,
}

impl StderrProgress {
    /// A renderer; `quiet` turns it off.
    pub fn new(quiet: bool) -> Self {
        StderrProgress { quiet, tty: std::io::stderr().is_terminal(), state: Mutex::new(State::default()) }
    }

    /// Prints a line unless quiet.
    pub fn note(&self, line: &str) {
        if self.quiet {
            return;
        }
        let mut state = self.state.lock().expect("progress lock");
        if let Some(pending) = state.pending.take() {
            eprintln!("{pending}");
        }
        match state.stage.as_ref().and_then(|(_, _, bar)| bar.as_ref()) {
            // A note while a bar runs goes above the bar.
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn bar(stage: &str, total: Option<u64>) -> ProgressBar {
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template(
                    "{prefix}: [{bar:32}] {human_pos}/{human_len} ({percent}%, {elapsed} elapsed, ETA {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
                .with_style(ProgressStyle::with_template("{prefix}: {spinner} {elapsed}").expect("valid template")),
        };
        bar.set_prefix(stage.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl Progress for StderrProgress {
    fn start(&self, stage: &str, total: Option<u64>) {
        if self.quiet {
            return;
        }
        let mut state = self.state.lock().expect("progress lock");
        if let Some(pending) = state.pending.take() {
            eprintln!("{pending}");
        }
        let bar = self.tty.then(|| Self::bar(stage, total));
        state.stage = Some((stage.to_string(), Instant::now(), bar));
    }

    fn advance(&self, units: u64) {
        if self.quiet || !self.tty {
            return;
        }
        let state = self.state.lock().expect("progress lock");
        if let Some((_, _, Some(bar))) = &state.stage {
            bar.inc(units);
        }
    }

    fn finish(&self) {
        if self.quiet {
            return;
        }
        let mut state = self.state.lock().expect("progress lock");
        if let Some((name, started, bar)) = state.stage.take() {
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            state.pending = Some(format!("{name}: done in {:.2}s", started.elapsed().as_secs_f64()));
        }
    }
}
