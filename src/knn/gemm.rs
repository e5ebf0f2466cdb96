//! Blocks of inner products as one BLAS `sgemm` call: the only arithmetic of the self-join and
//! its quantizer that is not done in Rust.
//!
//! faiss-sys links the system BLAS (`-lblas`: OpenBLAS on Debian and Ubuntu), so its Fortran
//! `sgemm_` is always in the binary; calling it directly avoids faiss's per-query heaps around
//! each product. Which thread pool runs the call is the caller's business: the join runs many
//! products side by side, each on one BLAS thread (see `join.rs`).

use std::os::raw::{c_char, c_int};

extern "C" {
    // The reference BLAS interface (column-major, every argument by pointer).
    fn sgemm_(
        transa: *const c_char,
        transb: *const c_char,
        m: *const c_int,
        n: *const c_int,
        k: *const c_int,
        alpha: *const f32,
        a: *const f32,
        lda: *const c_int,
        b: *const f32,
        ldb: *const c_int,
        beta: *const f32,
        c: *mut f32,
        ldc: *const c_int,
    );
}

/// The inner products of every row of `a` with every row of `b`, both row-major with `d`
/// columns: `out[i * nb + j] = a_i . b_j`, with `nb = b.len() / d`.
///
/// The bits of each product depend on the BLAS, its kernels and the shape of the call, never on
/// the thread that makes the call; callers that need the same result on any thread count keep
/// the shapes of their calls independent of it.
///
/// # Panics
///
/// When `d` is 0, the slices are not whole rows, `out` is not `na * nb` long, or a size
/// overflows a BLAS `int`.
#[allow(unsafe_code)] // One call to BLAS sgemm on slices whose sizes are checked here.
pub(super) fn inner_products(a: &[f32], b: &[f32], d: usize, out: &mut [f32]) {
    assert!(d > 0 && a.len().is_multiple_of(d) && b.len().is_multiple_of(d), "rows of {d} values");
    let (na, nb) = (a.len() / d, b.len() / d);
    assert_eq!(out.len(), na * nb, "an {na} x {nb} output");
    if na == 0 || nb == 0 {
        return;
    }
    let int = |v: usize| c_int::try_from(v).expect("a product of BLAS-sized blocks");
    let (m, n, k) = (int(nb), int(na), int(d));
    let _ = int(na * nb);
    let (alpha, beta) = (1f32, 0f32);
    // Column-major, out^T (nb x na) = b (d x nb, transposed) times a (d x na): the row-major
    // out (na x nb) faiss's IndexFlatIP computes the same way.
    // SAFETY: sgemm_ reads nb * d floats of b (lda = d >= k), na * d of a (ldb = d) and writes
    // nb * na floats of out (ldc = nb), all within the slices checked above; the scalars are
    // read only during the call, and sgemm_ keeps no pointer after it returns.
    unsafe {
        sgemm_(
            c"T".as_ptr(),
            c"N".as_ptr(),
            &m,
            &n,
            &k,
            &alpha,
            b.as_ptr(),
            &k,
            a.as_ptr(),
            &k,
            &beta,
            out.as_mut_ptr(),
            &m,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn::table::dot;

    #[test]
    fn products_are_the_inner_products_of_the_rows() {
        let d = 19;
        let a: Vec<f32> = (0..7 * d).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let b: Vec<f32> = (0..5 * d).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
        let mut out = vec![f32::NAN; 7 * 5];
        inner_products(&a, &b, d, &mut out);
        for i in 0..7 {
            for j in 0..5 {
                let want = dot(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d]);
                assert!((out[i * 5 + j] - want).abs() < 1e-4, "({i}, {j}): {} vs {want}", out[i * 5 + j]);
            }
        }
        // Empty blocks are fine.
        inner_products(&a[..0], &b, d, &mut []);
        inner_products(&a, &b[..0], d, &mut []);
    }
}
