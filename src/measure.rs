//! Where a run's time and memory go: one bracket per stage, with a timer, the peak resident
//! memory within the stage and, optionally, the stage shown on a [`Progress`].
//!
//! [`Stages`] is that bracket, written once. The peak within a stage is only measurable where
//! the operating system can reset its high-water mark: on Linux, writing `5` to
//! `/proc/self/clear_refs` resets `VmHWM` to the current resident size. That write changes the
//! whole process, so the library never does it on its own: the caller chooses
//! [`PeakReset::PerStage`] (the command-line tool does), and with [`PeakReset::Never`] each
//! stage's figure is the peak so far. After resets, the peak the operating system reports for
//! the process (`getrusage`, `/usr/bin/time`) is the last metered stage's; [`Stages::peak_rss`]
//! keeps the overall one. Short steps whose memory nobody reports are only timed
//! ([`Stages::time`]), so they do not reset the mark.

use std::time::Instant;

use crate::progress::{NoProgress, Progress, Stage};

/// Peak resident set size of this process so far, in bytes (Linux `VmHWM`); `None` where the
/// platform does not tell.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Whether [`Stages`] may reset the process's memory high-water mark between stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeakReset {
    /// Never touch it: a stage's peak is the process's peak so far.
    #[default]
    Never,
    /// Reset it as each stage begins (Linux), so each stage reports its own peak. A
    /// process-wide side effect: for programs, not for libraries embedded in other programs.
    PerStage,
}

/// A finished stage's time and peak memory.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measured {
    /// Wall-clock seconds.
    pub secs: f64,
    /// Peak resident memory within the stage (see [`PeakReset`]); `None` where the platform
    /// does not tell.
    pub peak_rss: Option<u64>,
}

/// Runs a run's stages, each timed and metered, and keeps the process's overall peak memory.
pub struct Stages<'p> {
    progress: &'p dyn Progress,
    reset: PeakReset,
    overall: Option<u64>,
}

impl<'p> Stages<'p> {
    /// Stages shown on `progress`, with the memory high-water mark reset as `reset` says.
    pub fn new(progress: &'p dyn Progress, reset: PeakReset) -> Self {
        Stages { progress, reset, overall: peak_rss_bytes() }
    }

    /// Stages shown nowhere, with no reset: for tests and library users who measure nothing.
    pub fn quiet() -> Stages<'static> {
        Stages::new(&NoProgress, PeakReset::Never)
    }

    /// Where stages are shown: for functions that report their own stages.
    pub fn progress(&self) -> &'p dyn Progress {
        self.progress
    }

    /// Runs `work` as one stage: shown as `show = (name, units)` on the progress (not shown
    /// when `None`, for work that reports its own stages), timed, and metered.
    pub fn run<T>(&mut self, show: Option<(&str, Option<u64>)>, work: impl FnOnce() -> T) -> (T, Measured) {
        self.overall = max_option(self.overall, peak_rss_bytes());
        if self.reset == PeakReset::PerStage {
            // Refused writes (other platforms, restricted /proc) leave the peak so far.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
        }
        let started = Instant::now();
        let shown = show.map(|(name, units)| Stage::start(self.progress, name, units));
        let result = work();
        drop(shown);
        let secs = started.elapsed().as_secs_f64();
        let peak_rss = peak_rss_bytes();
        self.overall = max_option(self.overall, peak_rss);
        (result, Measured { secs, peak_rss })
    }

    /// Runs `work`, timed but not metered or shown: for short steps inside a stage.
    pub fn time<T>(&mut self, work: impl FnOnce() -> T) -> (T, f64) {
        let started = Instant::now();
        let result = work();
        (result, started.elapsed().as_secs_f64())
    }

    /// The process's peak over every stage and before.
    pub fn peak_rss(&mut self) -> Option<u64> {
        self.overall = max_option(self.overall, peak_rss_bytes());
        self.overall
    }
}

fn max_option(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn peak_rss_is_known_on_linux() {
        let rss = peak_rss_bytes().expect("VmHWM on Linux");
        assert!(rss > 1 << 20, "a test process uses more than 1 MiB: {rss}");
    }

    #[test]
    fn a_stage_returns_its_result_time_and_memory() {
        let mut stages = Stages::quiet();
        let (value, m) = stages.run(Some(("work", None)), || vec![1u8; 1 << 20].len());
        assert_eq!(value, 1 << 20);
        assert!(m.secs >= 0.0);
        if cfg!(target_os = "linux") {
            assert!(m.peak_rss.is_some() && stages.peak_rss() >= m.peak_rss);
        }
    }
}
