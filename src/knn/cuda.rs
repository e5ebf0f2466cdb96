//! The exact search on a GPU: [`crate::gpu`] finds each row's `k + EXACT_MARGIN` candidates,
//! which are re-ranked here by [`super::dot`] ([`rerank_rows`]), as the CPU's exact search
//! re-ranks faiss's, so both give the same table.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::table::{rerank_rows, Knn, NONE};
use super::{Job, EXACT_MARGIN};
use crate::gpu::{Gpu, GpuError, GpuSearchOptions, GpuSearchStats};
use crate::progress::{Progress, Stage};

/// Searches the job's rows exactly on `gpu`: the candidates of every row, re-ranked by
/// [`super::dot`] into the canonical table. Returns the table, the GPU's figures and the seconds
/// spent.
pub(super) fn search(
    job: &Job<'_>,
    gpu: &Gpu,
    progress: &dyn Progress,
) -> Result<(Knn, GpuSearchStats, f64), GpuError> {
    let (features, n, d, k) = (job.features, job.n(), job.d(), job.k());
    let m = (k + EXACT_MARGIN).min(n);
    let started = Instant::now();
    let _stage = Stage::start(progress, "knn", Some(n as u64));
    let done = AtomicUsize::new(0);
    let advance = |rows: usize| {
        let before = done.swap(rows, Ordering::Relaxed);
        progress.advance(rows.saturating_sub(before) as u64);
    };
    let options = GpuSearchOptions { screen: job.config.gpu_screen, ..GpuSearchOptions::default() };
    let found = gpu.knn_candidates(features.as_slice(), n, d, m, &options, &advance)?;
    let mut ids = vec![NONE; n * k];
    let mut sims = vec![f32::NEG_INFINITY; n * k];
    let candidates = |i: usize| found.ids[i * m..(i + 1) * m].iter().map(|&id| i64::from(id));
    rerank_rows(features, 0, k, candidates, &mut ids, &mut sims)
        .map_err(|_| GpuError::Internal("the GPU returned a neighbour id outside the rows"))?;
    Ok((Knn::from_search(n, k, ids, sims), found.stats, started.elapsed().as_secs_f64()))
}
