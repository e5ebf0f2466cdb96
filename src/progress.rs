//! Progress reporting from long stages.
//!
//! The library never prints. Long stages report through a [`Progress`] that the caller passes
//! in; the binary renders it on stderr, tests and library users pass [`NoProgress`].

/// Receives progress of the pipeline's stages. Implementations must be cheap: `advance` is
/// called once per batch of work, from any thread.
pub trait Progress: Sync {
    /// A stage starts. `total` is the number of work units when known.
    fn start(&self, stage: &str, total: Option<u64>);
    /// `units` more work units are done.
    fn advance(&self, units: u64);
    /// The current stage is over.
    fn finish(&self);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _stage: &str, _total: Option<u64>) {}
    fn advance(&self, _units: u64) {}
    fn finish(&self) {}
}

/// A stage shown on a [`Progress`] that ends when dropped, so it ends on every return path.
pub struct Stage<'a>(&'a dyn Progress);

impl<'a> Stage<'a> {
    /// Starts stage `name` with `total` work units (when known) on `progress`.
    pub fn start(progress: &'a dyn Progress, name: &str, total: Option<u64>) -> Self {
        progress.start(name, total);
        Stage(progress)
    }
}

impl Drop for Stage<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}
