//! The host side of a search, written once over a [`Backend`]: the CUDA device in
//! `device.rs`, or in the tests a CPU backend made of the kernels' model.
//!
//! Query rows are taken in blocks of `Q`. For each block, the base tiles are swept in
//! increasing column order: product (GEMM) then selection into the block's state. Without
//! the screen the state (`w = m`) is the answer. With it, the sweep runs in TF32 with
//! `w = M'`, the candidates are re-scored in FP32 (one pass over the base rows, which are
//! uploaded again when they are not resident), and `finalize` keeps the best `m` and accepts or
//! rejects each row. Rejected rows are searched again in FP32, in blocks gathered from the
//! input, after the main pass.

use std::time::Instant;

use super::model::{screen_eps, NONE};
use super::plan::{Plan, Shape};
use super::GpuError;

/// Arithmetic of a tile's products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    /// Plain FP32 (`cublasSgemm`).
    Fp32,
    /// TF32 tensor cores with FP32 accumulation (`cublasGemmEx`, `CUBLAS_COMPUTE_32F_FAST_TF32`).
    Tf32,
}

/// The device operations of a search. Sizes are given in rows; the buffers behind them were
/// sized by the [`Plan`]. Operations may run asynchronously until [`Backend::sync`] or a read.
pub(crate) trait Backend {
    /// Copies `q` query rows (row-major, `q * d` floats) into the query buffer.
    fn load_queries(&mut self, rows: &[f32], q: usize) -> Result<(), GpuError>;
    /// Makes base rows `b0 .. b0 + len` the current base block (an upload when `X` is not
    /// resident).
    fn load_base(&mut self, b0: usize, len: usize) -> Result<(), GpuError>;
    /// The tile of similarities of the `q` query rows with the current base block.
    fn product(&mut self, q: usize, precision: Precision) -> Result<(), GpuError>;
    /// Merges the tile into the best `w` of each of the `q` rows (`first`: the state starts
    /// empty).
    fn select(&mut self, q: usize, w: usize, first: bool) -> Result<(), GpuError>;
    /// FP32 re-scores of the candidates (state ids) that lie in the current base block.
    fn rescore(&mut self, q: usize, w: usize) -> Result<(), GpuError>;
    /// The best `m` re-scored candidates of each row, and the acceptance flags.
    fn finalize(&mut self, q: usize, w: usize, m: usize, check: bool, eps: f32) -> Result<(), GpuError>;
    /// Waits for the queued work.
    fn sync(&mut self) -> Result<(), GpuError>;
    /// Reads the state of `q` rows selected with `w = m`.
    fn read_state(&mut self, q: usize, m: usize, ids: &mut [u32], sims: &mut [f32]) -> Result<(), GpuError>;
    /// Reads the output of [`Backend::finalize`].
    fn read_final(
        &mut self,
        q: usize,
        m: usize,
        ids: &mut [u32],
        sims: &mut [f32],
        accepted: &mut [u32],
    ) -> Result<(), GpuError>;
}

/// What a search returns besides the backend's own figures.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    /// `n * m` ids, row-major, best first.
    pub ids: Vec<u32>,
    /// `n * m` device similarities.
    pub sims: Vec<f32>,
    /// Product + selection steps run.
    pub tiles: u64,
    /// Rows the screen rejected (searched again in FP32).
    pub fallback_rows: usize,
    /// Seconds in uploads (after waiting for the device).
    pub upload_secs: f64,
    /// Seconds in reads (after waiting for the device).
    pub download_secs: f64,
    /// Seconds in everything else: products, selections, waits.
    pub compute_secs: f64,
    /// The screen's error bound (0 without the screen).
    pub eps: f32,
}

/// Runs a search of `shape` (rows in `data`) on `be` with the tiles of `plan`.
/// `max_norm_sq` is the largest squared row norm (for the screen's bound). `progress` gets
/// the number of rows done after each query block of the main pass.
pub(crate) fn run<B: Backend>(
    be: &mut B,
    data: &[f32],
    shape: Shape,
    plan: &Plan,
    max_norm_sq: f64,
    progress: &dyn Fn(usize),
) -> Result<Outcome, GpuError> {
    let Shape { n, d, m, w, screen } = shape;
    let start = Instant::now();
    let mut out = Outcome {
        ids: vec![NONE; n * m],
        sims: vec![f32::NEG_INFINITY; n * m],
        eps: if screen { screen_eps(d, max_norm_sq) } else { 0.0 },
        ..Outcome::default()
    };
    let bases: Vec<(usize, usize)> = (0..n).step_by(plan.b).map(|b0| (b0, plan.b.min(n - b0))).collect();
    let mut accepted = vec![0u32; plan.q];
    let mut failed: Vec<usize> = Vec::new();

    for q0 in (0..n).step_by(plan.q) {
        let q = plan.q.min(n - q0);
        upload(be, &mut out, |be| be.load_queries(&data[q0 * d..(q0 + q) * d], q))?;
        let (ids, sims) = (&mut out.ids[q0 * m..(q0 + q) * m], &mut out.sims[q0 * m..(q0 + q) * m]);
        if screen {
            out.tiles += sweep(be, &bases, plan.resident, q, w, Precision::Tf32, &mut out.upload_secs)?;
            if plan.resident {
                be.load_base(0, n)?;
                be.rescore(q, w)?;
            } else {
                for &(b0, len) in &bases {
                    be.sync()?;
                    let t = Instant::now();
                    be.load_base(b0, len)?;
                    out.upload_secs += t.elapsed().as_secs_f64();
                    be.rescore(q, w)?;
                }
            }
            be.finalize(q, w, m, w < n, out.eps)?;
            be.sync()?;
            let t = Instant::now();
            be.read_final(q, m, ids, sims, &mut accepted[..q])?;
            out.download_secs += t.elapsed().as_secs_f64();
            failed.extend((0..q).filter(|&i| accepted[i] == 0).map(|i| q0 + i));
        } else {
            out.tiles += sweep(be, &bases, plan.resident, q, m, Precision::Fp32, &mut out.upload_secs)?;
            be.sync()?;
            let t = Instant::now();
            be.read_state(q, m, ids, sims)?;
            out.download_secs += t.elapsed().as_secs_f64();
        }
        progress(q0 + q);
    }

    out.fallback_rows = failed.len();
    if !failed.is_empty() {
        let mut rows = Vec::with_capacity(plan.q * d);
        let mut ids = vec![0u32; plan.q * m];
        let mut sims = vec![0f32; plan.q * m];
        for chunk in failed.chunks(plan.q) {
            let q = chunk.len();
            rows.clear();
            for &i in chunk {
                rows.extend_from_slice(&data[i * d..(i + 1) * d]);
            }
            upload(be, &mut out, |be| be.load_queries(&rows, q))?;
            out.tiles += sweep(be, &bases, plan.resident, q, m, Precision::Fp32, &mut out.upload_secs)?;
            be.sync()?;
            let t = Instant::now();
            be.read_state(q, m, &mut ids[..q * m], &mut sims[..q * m])?;
            out.download_secs += t.elapsed().as_secs_f64();
            for (k, &i) in chunk.iter().enumerate() {
                out.ids[i * m..(i + 1) * m].copy_from_slice(&ids[k * m..(k + 1) * m]);
                out.sims[i * m..(i + 1) * m].copy_from_slice(&sims[k * m..(k + 1) * m]);
            }
        }
    }
    out.compute_secs = (start.elapsed().as_secs_f64() - out.upload_secs - out.download_secs).max(0.0);
    Ok(out)
}

/// An upload, timed after the device has drained its queue.
fn upload<B: Backend>(
    be: &mut B,
    out: &mut Outcome,
    f: impl FnOnce(&mut B) -> Result<(), GpuError>,
) -> Result<(), GpuError> {
    be.sync()?;
    let t = Instant::now();
    f(be)?;
    out.upload_secs += t.elapsed().as_secs_f64();
    Ok(())
}

/// Products and selections of the `q` current query rows with every base tile, in increasing
/// column order. Returns the number of tiles.
fn sweep<B: Backend>(
    be: &mut B,
    bases: &[(usize, usize)],
    resident: bool,
    q: usize,
    w: usize,
    precision: Precision,
    upload_secs: &mut f64,
) -> Result<u64, GpuError> {
    for (t, &(b0, len)) in bases.iter().enumerate() {
        if resident {
            be.load_base(b0, len)?;
        } else {
            be.sync()?;
            let start = Instant::now();
            be.load_base(b0, len)?;
            *upload_secs += start.elapsed().as_secs_f64();
        }
        be.product(q, precision)?;
        be.select(q, w, t == 0)?;
    }
    Ok(bases.len() as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;

    use super::super::model::tests::Mix;
    use super::super::model::{finalize_row, rank_cmp, select_row, tf32_truncate};
    use super::super::plan::plan;
    use super::*;

    /// Plain sequential FP32 dot: the CPU backend's product, and the brute force's.
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).fold(0f32, |acc, (x, y)| acc + x * y)
    }

    /// The CPU backend: the kernels' model behind the [`Backend`] interface.
    struct CpuBackend<'a> {
        data: &'a [f32],
        d: usize,
        xq: Vec<f32>,
        base: (usize, usize),
        s: Vec<f32>,
        st_s: Vec<f32>,
        st_id: Vec<u32>,
        r: Vec<f32>,
        out_s: Vec<f32>,
        out_id: Vec<u32>,
        acc: Vec<u32>,
        rng: Mix,
        /// Screened products are FP32 ones moved by up to this much (often to the edges); 0 means
        /// TF32 by truncation.
        perturb: f32,
    }

    impl<'a> CpuBackend<'a> {
        fn new(data: &'a [f32], d: usize, p: &Plan, perturb: f32) -> Self {
            CpuBackend {
                data,
                d,
                xq: vec![f32::NAN; p.q * d],
                base: (0, 0),
                s: vec![f32::NAN; p.q * p.b.max(1)],
                st_s: vec![f32::NAN; p.q * p.w],
                st_id: vec![7; p.q * p.w],
                r: vec![f32::NAN; p.q * p.w],
                out_s: vec![f32::NAN; p.q * p.w],
                out_id: vec![7; p.q * p.w],
                acc: vec![7; p.q],
                rng: Mix(99),
                perturb,
            }
        }
        fn row(&self, i: usize) -> &[f32] {
            &self.data[i * self.d..(i + 1) * self.d]
        }
    }

    impl Backend for CpuBackend<'_> {
        fn load_queries(&mut self, rows: &[f32], q: usize) -> Result<(), GpuError> {
            assert_eq!(rows.len(), q * self.d);
            self.xq[..rows.len()].copy_from_slice(rows);
            Ok(())
        }
        fn load_base(&mut self, b0: usize, len: usize) -> Result<(), GpuError> {
            self.base = (b0, len);
            Ok(())
        }
        fn product(&mut self, q: usize, precision: Precision) -> Result<(), GpuError> {
            let (b0, len) = self.base;
            let d = self.d;
            for i in 0..q {
                for j in 0..len {
                    let (x, y) = (&self.xq[i * d..(i + 1) * d], &self.data[(b0 + j) * d..(b0 + j + 1) * d]);
                    let v = match precision {
                        Precision::Fp32 => dot(x, y),
                        // TF32 by truncation, or the FP32 value moved by up to `perturb`.
                        Precision::Tf32 if self.perturb == 0.0 => {
                            x.iter().zip(y).fold(0f32, |a, (u, v)| a + tf32_truncate(*u) * tf32_truncate(*v))
                        }
                        Precision::Tf32 => {
                            let e = match self.rng.below(3) {
                                0 => 1.0,
                                1 => -1.0,
                                _ => self.rng.unit() as f32 * 2.0 - 1.0,
                            };
                            dot(x, y) + e * self.perturb
                        }
                    };
                    self.s[i * len + j] = v;
                }
            }
            Ok(())
        }
        fn select(&mut self, q: usize, w: usize, first: bool) -> Result<(), GpuError> {
            let (b0, len) = self.base;
            let rng = RefCell::new(Mix(self.rng.next()));
            let mut shuffle = |v: &mut [(f32, u32)]| rng.borrow_mut().shuffle(v);
            for i in 0..q {
                select_row(
                    &self.s[i * len..(i + 1) * len],
                    b0 as u32,
                    &mut self.st_s[i * w..(i + 1) * w],
                    &mut self.st_id[i * w..(i + 1) * w],
                    first,
                    &mut shuffle,
                );
            }
            Ok(())
        }
        fn rescore(&mut self, q: usize, w: usize) -> Result<(), GpuError> {
            let (b0, len) = self.base;
            let d = self.d;
            for i in 0..q {
                for j in 0..w {
                    let id = self.st_id[i * w + j];
                    if id != NONE && (b0..b0 + len).contains(&(id as usize)) {
                        self.r[i * w + j] = dot(&self.xq[i * d..(i + 1) * d], self.row(id as usize));
                    }
                }
            }
            Ok(())
        }
        fn finalize(&mut self, q: usize, w: usize, m: usize, check: bool, eps: f32) -> Result<(), GpuError> {
            for i in 0..q {
                let rows = i * w..(i + 1) * w;
                let (s, id, ok) =
                    finalize_row(&self.st_s[rows.clone()], &self.st_id[rows.clone()], &self.r[rows], m, check, eps);
                self.out_s[i * m..(i + 1) * m].copy_from_slice(&s);
                self.out_id[i * m..(i + 1) * m].copy_from_slice(&id);
                self.acc[i] = ok as u32;
            }
            Ok(())
        }
        fn sync(&mut self) -> Result<(), GpuError> {
            Ok(())
        }
        fn read_state(&mut self, q: usize, m: usize, ids: &mut [u32], sims: &mut [f32]) -> Result<(), GpuError> {
            ids.copy_from_slice(&self.st_id[..q * m]);
            sims.copy_from_slice(&self.st_s[..q * m]);
            Ok(())
        }
        fn read_final(
            &mut self,
            q: usize,
            m: usize,
            ids: &mut [u32],
            sims: &mut [f32],
            accepted: &mut [u32],
        ) -> Result<(), GpuError> {
            ids.copy_from_slice(&self.out_id[..q * m]);
            sims.copy_from_slice(&self.out_s[..q * m]);
            accepted.copy_from_slice(&self.acc[..q]);
            Ok(())
        }
    }

    /// Unit rows; with `levels`, coordinates quantised to that many values (many exact ties),
    /// and every third row a copy of an earlier one.
    pub(crate) fn unit_rows(n: usize, d: usize, levels: Option<usize>, seed: u64) -> Vec<f32> {
        let mut rng = Mix(seed);
        let mut data = vec![0f32; n * d];
        for i in 0..n {
            if levels.is_some() && i >= 3 && i % 3 == 0 {
                let j = rng.below(i);
                data.copy_within(j * d..(j + 1) * d, i * d);
                continue;
            }
            let row = &mut data[i * d..(i + 1) * d];
            loop {
                for v in row.iter_mut() {
                    *v = match levels {
                        Some(l) => rng.below(l) as f32 - (l / 2) as f32,
                        None => (rng.unit() * 2.0 - 1.0) as f32,
                    };
                }
                if row.iter().any(|&v| v != 0.0) {
                    break;
                }
            }
            let norm = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            row.iter_mut().for_each(|v| *v = (*v as f64 / norm) as f32);
        }
        data
    }

    /// Brute-force top `m` with the backend's FP32 product.
    fn brute(data: &[f32], n: usize, d: usize, m: usize) -> (Vec<u32>, Vec<f32>) {
        let (mut ids, mut sims) = (Vec::new(), Vec::new());
        for i in 0..n {
            let mut row: Vec<(f32, u32)> =
                (0..n).map(|j| (dot(&data[i * d..(i + 1) * d], &data[j * d..(j + 1) * d]), j as u32)).collect();
            row.sort_by(rank_cmp);
            ids.extend(row[..m].iter().map(|e| e.1));
            sims.extend(row[..m].iter().map(|e| e.0));
        }
        (ids, sims)
    }

    fn search(data: &[f32], shape: Shape, p: &Plan, perturb: f32) -> Outcome {
        let mut be = CpuBackend::new(data, shape.d, p, perturb);
        let done = RefCell::new(Vec::new());
        let out = run(&mut be, data, shape, p, 1.0, &|r| done.borrow_mut().push(r)).unwrap();
        let done = done.into_inner();
        assert!(done.windows(2).all(|w| w[0] < w[1]) && done.last() == Some(&shape.n), "{done:?}");
        out
    }

    #[test]
    fn the_fp32_search_is_the_brute_force_for_any_tiles() {
        for (n, d, m, levels) in
            [(300, 16, 10, None), (257, 8, 40, Some(3)), (200, 4, 200, Some(2)), (64, 3, 1, Some(2))]
        {
            let data = unit_rows(n, d, levels, n as u64);
            let (want_ids, want_sims) = brute(&data, n, d, m);
            let shape = Shape { n, d, m, w: m, screen: false };
            for (q, b) in [(n, n), (1, n), (7, 13), (n, 1), (64, m.max(2) - 1), (33, 100)] {
                let p = plan(shape, u64::MAX / 4, Some(q), Some(b)).unwrap();
                assert_eq!((p.q, p.b), (q.min(n), b.min(n)));
                let out = search(&data, shape, &p, 0.0);
                assert_eq!(out.ids, want_ids, "n {n} m {m} q {q} b {b}");
                assert_eq!(out.sims, want_sims);
                assert_eq!(out.tiles as usize, n.div_ceil(p.q) * n.div_ceil(p.b));
                assert_eq!(out.fallback_rows, 0);
            }
        }
    }

    #[test]
    fn the_screened_search_is_the_brute_force_with_its_fallback() {
        for (n, d, m, levels) in [(400, 32, 12, None), (300, 8, 20, Some(3)), (150, 16, 100, None)] {
            let data = unit_rows(n, d, levels, 7 + n as u64);
            let (want_ids, want_sims) = brute(&data, n, d, m);
            for factor in [1, 2, 3] {
                let w = (factor * m).min(n);
                let shape = Shape { n, d, m, w, screen: true };
                let eps = screen_eps(d, 1.0);
                // Realistic TF32 truncation, and adversarial errors just inside the bound.
                for perturb in [0.0, eps * 0.999] {
                    for (q, b) in [(n, n), (17, 29), (5, n)] {
                        let p = plan(shape, u64::MAX / 4, Some(q), Some(b)).unwrap();
                        let out = search(&data, shape, &p, perturb);
                        assert_eq!(out.ids, want_ids, "n {n} m {m} w {w} q {q} b {b} perturb {perturb}");
                        assert_eq!(out.sims, want_sims);
                        if w == m && w < n && levels.is_none() {
                            assert!(out.fallback_rows > 0, "w = m can never prove the m-th");
                        }
                        if w == n {
                            assert_eq!(out.fallback_rows, 0, "all rows are candidates");
                        }
                    }
                }
            }
        }
    }
}
