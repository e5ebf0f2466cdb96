//! Runs the real CUDA source of the kernels on the CPU, and compares it with the model.
//!
//! The model (`model.rs`) is the kernels' specification, but a test of the model does not run
//! the kernels' code. This test does: it compiles `kernels.rs`'s source with `g++` behind a
//! small emulation of the CUDA features the kernels use, and runs it on data whose answer the
//! model knows. Each thread block runs as `THREADS` cooperative threads (`ucontext`
//! coroutines) on one OS thread; a thread runs until it reaches a barrier (`__syncthreads`,
//! `__syncthreads_or`, or a warp shuffle), and the runnable threads go in a random order
//! between barriers. So a read of shared memory that another thread may write in the same
//! barrier interval (a race on the GPU) shows up as a wrong answer for some order; a barrier
//! not reached by every thread is reported; shared memory stays a per-function `static`, so
//! blocks (run one after the other) see the previous block's leftovers, as on the GPU; UBSan
//! catches out-of-bounds indexing of the fixed-size shared arrays.
//!
//! What it cannot show: the GPU's memory model beyond barriers (warps run in lockstep or not,
//! the hardware's `atomicAdd`), NVRTC's own compiler, and speed.
//!
//! The kernels are compiled twice: with the real constants (`THREADS` 256, `CAP` 2048), and
//! with small ones (`THREADS` 32, `PER_THREAD` 2, `CAP` 128, so `MAX_W` 64) under which the
//! same code compacts often on small data; the model is run with the same constants.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The emulation of the CUDA built-ins the kernels use, and the driver `main`.
const HARNESS: &str = r#"
#include <ucontext.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(x)
#define __shared__ static

struct Idx { unsigned x = 0, y = 0, z = 0; };
enum St { RUN, BAR, WARP, DONE };
static int g_cur, g_nthr;
static St g_st[1024];
static Idx g_tid[1024];
static Idx blockIdx;
static ucontext_t g_ctx[1024], g_main;
static std::vector<char> g_stacks;
static std::function<void()> g_body;
static std::mt19937_64 g_rng;
static int g_or[1024];
static float g_xchg[1024];
#define threadIdx (g_tid[g_cur])

static void fail(const char* what) { std::fprintf(stderr, "emulation: %s\n", what); std::exit(3); }
static void yield_main() { swapcontext(&g_ctx[g_cur], &g_main); }
void __syncthreads() { g_st[g_cur] = BAR; yield_main(); }
int __syncthreads_or(int p) {
    g_or[g_cur] = p != 0;
    __syncthreads();
    int r = 0;
    for (int i = 0; i < g_nthr; ++i) r |= g_or[i];
    __syncthreads();
    return r;
}
static void warp_sync() { g_st[g_cur] = WARP; yield_main(); }
float __shfl_xor_sync(unsigned, float v, int off) {
    g_xchg[g_cur] = v;
    warp_sync();
    float r = g_xchg[(g_cur & ~31) | ((g_cur & 31) ^ off)];
    warp_sync();
    return r;
}
// Threads are never preempted between barriers: a read-modify-write is atomic.
int atomicAdd(int* p, int v) { int old = *p; *p = old + v; return old; }
float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }

static void trampoline() { g_body(); g_st[g_cur] = DONE; swapcontext(&g_ctx[g_cur], &g_main); }

// Runs one block of `nthr` threads of `body`, in a random order between barriers.
static void run_block(unsigned bx, int nthr, std::function<void()> body) {
    const size_t stack = 1 << 16;
    blockIdx.x = bx;
    g_nthr = nthr;
    g_body = body;
    g_stacks.resize(stack * nthr);
    for (int t = 0; t < nthr; ++t) {
        g_st[t] = RUN;
        g_tid[t].x = t;
        getcontext(&g_ctx[t]);
        g_ctx[t].uc_stack.ss_sp = g_stacks.data() + stack * t;
        g_ctx[t].uc_stack.ss_size = stack;
        g_ctx[t].uc_link = &g_main;
        makecontext(&g_ctx[t], trampoline, 0);
    }
    std::vector<int> order;
    for (;;) {
        order.clear();
        for (int t = 0; t < nthr; ++t) if (g_st[t] == RUN) order.push_back(t);
        if (order.empty()) {
            int done = 0, bar = 0;
            for (int t = 0; t < nthr; ++t) { done += g_st[t] == DONE; bar += g_st[t] == BAR; }
            if (done == nthr) return;
            bool released = false;
            for (int w = 0; w * 32 < nthr; ++w) {
                bool all = true;
                for (int t = w * 32; t < nthr && t < w * 32 + 32; ++t) all = all && g_st[t] == WARP;
                if (all) { released = true; for (int t = w * 32; t < nthr && t < w * 32 + 32; ++t) g_st[t] = RUN; }
            }
            if (released) continue;
            if (bar != nthr) fail("a barrier not reached by every thread of the block");
            for (int t = 0; t < nthr; ++t) g_st[t] = RUN;
            continue;
        }
        std::shuffle(order.begin(), order.end(), g_rng);
        for (int t : order) { g_cur = t; swapcontext(&g_main, &g_ctx[t]); }
    }
}

static void get(void* p, size_t bytes) { if (std::fread(p, 1, bytes, stdin) != bytes) fail("short input"); }
template <class T> static std::vector<T> getv(size_t n) { std::vector<T> v(n); get(v.data(), n * sizeof(T)); return v; }
template <class T> static void put(const std::vector<T>& v) { std::fwrite(v.data(), sizeof(T), v.size(), stdout); }

int main() {
    uint32_t mode, seed;
    get(&mode, 4);
    get(&seed, 4);
    g_rng.seed(seed);
    if (mode == 1) {
        // Selection: rows x cols similarities, tiles of b columns, state of w.
        uint32_t rows, cols, w, b;
        get(&rows, 4); get(&cols, 4); get(&w, 4); get(&b, 4);
        std::vector<float> s = getv<float>((size_t)rows * cols);
        std::vector<float> st_s((size_t)rows * w, NAN);
        std::vector<unsigned> st_id((size_t)rows * w, 7);
        for (uint32_t c0 = 0; c0 < cols; c0 += b) {
            int len = (int)std::min(b, cols - c0);
            for (uint32_t r = 0; r < rows; ++r)
                run_block(r, THREADS, [&] { fc_select_tile(s.data() + c0, cols, len, c0, st_s.data(), st_id.data(), (int)w, c0 == 0); });
        }
        put(st_s);
        put(st_id);
    } else if (mode == 2) {
        // Screen: re-score over base blocks of b rows, then finalize.
        uint32_t rows, n, d, w, m, check, b;
        float eps;
        get(&rows, 4); get(&n, 4); get(&d, 4); get(&w, 4); get(&m, 4); get(&check, 4); get(&b, 4); get(&eps, 4);
        std::vector<float> xq = getv<float>((size_t)rows * d), xb = getv<float>((size_t)n * d);
        std::vector<float> scr = getv<float>((size_t)rows * w);
        std::vector<unsigned> ids = getv<unsigned>((size_t)rows * w);
        std::vector<float> r((size_t)rows * w, NAN), out_s((size_t)rows * m, NAN);
        std::vector<unsigned> out_id((size_t)rows * m, 7), acc(rows, 7);
        for (uint32_t b0 = 0; b0 < n; b0 += b) {
            unsigned blen = std::min(b, n - b0);
            for (uint32_t q = 0; q < rows; ++q)
                run_block(q, THREADS, [&] { fc_rescore(xq.data(), xb.data() + (size_t)b0 * d, (int)d, b0, blen, ids.data(), r.data(), (int)w); });
        }
        for (uint32_t q = 0; q < rows; ++q)
            run_block(q, THREADS, [&] { fc_finalize(scr.data(), ids.data(), r.data(), (int)w, (int)m, (int)check, eps, out_s.data(), out_id.data(), acc.data()); });
        put(r);
        put(out_s);
        put(out_id);
        put(acc);
    } else {
        fail("unknown mode");
    }
    return 0;
}
"#;

/// Compiles the kernels' source with `#define`s for the given constants (instead of the
/// model's) and the harness; returns the executable.
fn build(dir: &Path, threads: usize, per_thread: usize, cap: usize) -> PathBuf {
    let src = super::kernels::source();
    let body = src.split_once("#define MAX_D 4096\n").expect("the source starts with its defines").1;
    let defines = format!(
        "#define THREADS {threads}\n#define PER_THREAD {per_thread}\n#define CAP {cap}\n#define MAX_D {}\n",
        super::model::MAX_D
    );
    let (head, main) = HARNESS.split_once("int main()").unwrap();
    let cpp = dir.join(format!("emulate_{threads}.cpp"));
    std::fs::write(&cpp, format!("{defines}{head}{body}\nint main(){main}")).unwrap();
    let exe = dir.join(format!("emulate_{threads}"));
    let out = Command::new("g++")
        .args(["-std=c++17", "-O1", "-w", "-fsanitize=undefined", "-fno-sanitize-recover=all", "-o"])
        .arg(&exe)
        .arg(&cpp)
        .output()
        .expect("g++ runs (the faiss build needs it too)");
    assert!(out.status.success(), "g++ failed:\n{}", String::from_utf8_lossy(&out.stderr));
    exe
}

/// Runs the emulation with `input` on stdin; returns stdout.
fn run(exe: &Path, input: &[u8]) -> Vec<u8> {
    let mut child =
        Command::new(exe).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "emulation failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn push_u32(buf: &mut Vec<u8>, v: &[u32]) {
    v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
}
fn push_f32(buf: &mut Vec<u8>, v: &[f32]) {
    v.iter().for_each(|x| buf.extend_from_slice(&x.to_le_bytes()));
}
fn take_u32(buf: &mut &[u8], n: usize) -> Vec<u32> {
    let (head, rest) = buf.split_at(4 * n);
    *buf = rest;
    head.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}
fn take_f32(buf: &mut &[u8], n: usize) -> Vec<f32> {
    take_u32(buf, n).into_iter().map(f32::from_bits).collect()
}

/// The kernel's re-score, bit for bit: per lane a fused multiply-add chain over the
/// coordinates `lane, lane + 32, ...`, then the xor butterfly.
fn warp_dot(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0f32; 32];
    for (lane, a) in acc.iter_mut().enumerate() {
        for i in (lane..x.len()).step_by(32) {
            *a = x[i].mul_add(y[i], *a);
        }
    }
    for off in [16, 8, 4, 2, 1] {
        let prev = acc;
        for (lane, a) in acc.iter_mut().enumerate() {
            *a = prev[lane] + prev[lane ^ off];
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::super::model::tests::Mix;
    use super::super::model::{self, finalize_row, NONE};
    use super::*;

    /// The model's selection with other constants: the same algorithm as
    /// `model::select_row`, with `chunk` and `cap` as parameters (the kernel takes them from
    /// its `#define`s), checked against `model::select_row` for the real ones below.
    fn model_select(row: &[f32], b: usize, w: usize, chunk: usize, cap: usize) -> (Vec<f32>, Vec<u32>) {
        let (mut st_s, mut st_id) = (vec![0f32; w], vec![0u32; w]);
        for (t, c0) in (0..row.len()).step_by(b).enumerate() {
            let tile = &row[c0..(c0 + b).min(row.len())];
            let mut buf: Vec<(f32, u32)> = Vec::new();
            if t > 0 {
                buf.extend(st_s.iter().copied().zip(st_id.iter().copied()).filter(|e| e.1 != NONE));
            }
            let mut thr = if buf.len() == w { buf[w - 1].0 } else { f32::NEG_INFINITY };
            for k0 in (0..tile.len()).step_by(chunk) {
                if buf.len() + chunk > cap {
                    model::bitonic_sort(&mut buf);
                    buf.truncate(w);
                    thr = buf[w - 1].0;
                }
                for (k, &v) in tile.iter().enumerate().skip(k0).take(chunk) {
                    if v > thr {
                        buf.push((v, (c0 + k) as u32));
                    }
                }
            }
            model::bitonic_sort(&mut buf);
            for i in 0..w {
                (st_s[i], st_id[i]) = buf.get(i).copied().unwrap_or((f32::NEG_INFINITY, NONE));
            }
        }
        (st_s, st_id)
    }

    fn tie_rows(rng: &mut Mix, rows: usize, cols: usize, levels: usize) -> Vec<f32> {
        (0..rows * cols).map(|_| rng.below(levels) as f32 / levels as f32 - 0.3).collect()
    }

    /// Selection: the emulated kernel against the model, exactly.
    fn check_select(
        exe: &Path,
        rng: &mut Mix,
        cases: &[(usize, usize, usize, usize, usize)],
        chunk: usize,
        cap: usize,
    ) {
        for &(rows, cols, w, b, levels) in cases {
            let s = tie_rows(rng, rows, cols, levels);
            let mut input = Vec::new();
            push_u32(&mut input, &[1, rng.next() as u32, rows as u32, cols as u32, w as u32, b as u32]);
            push_f32(&mut input, &s);
            let out = run(exe, &input);
            let mut out = out.as_slice();
            let (got_s, got_id) = (take_f32(&mut out, rows * w), take_u32(&mut out, rows * w));
            for r in 0..rows {
                let (want_s, want_id) = model_select(&s[r * cols..(r + 1) * cols], b, w, chunk, cap);
                let case = format!("rows {rows} cols {cols} w {w} b {b} levels {levels}, row {r}");
                assert_eq!(&got_id[r * w..(r + 1) * w], &want_id[..], "{case}");
                let same = got_s[r * w..(r + 1) * w].iter().zip(&want_s).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{case}");
            }
        }
    }

    /// Re-score and finalize: the emulated kernels against `warp_dot` and the model.
    fn check_screen(exe: &Path, rng: &mut Mix, cases: &[(usize, usize, usize, usize, usize, usize)]) {
        for &(rows, n, d, w, m, b) in cases {
            let xq: Vec<f32> = (0..rows * d).map(|_| rng.unit() as f32 - 0.5).collect();
            let xb: Vec<f32> = (0..n * d).map(|_| (rng.below(5) as f32 - 2.0) / 4.0).collect();
            let mut ids = vec![NONE; rows * w];
            let mut scr = vec![f32::NEG_INFINITY; rows * w];
            for q in 0..rows {
                let mut all: Vec<u32> = (0..n as u32).collect();
                rng.shuffle(&mut all);
                let valid = if q % 3 == 2 { w.min(n).min(m + rng.below(w - m + 1)) } else { w.min(n) };
                let mut cand: Vec<(f32, u32)> =
                    all[..valid].iter().map(|&id| ((rng.below(7) as f32) / 7.0, id)).collect();
                cand.sort_by(model::rank_cmp);
                for (j, &(s, id)) in cand.iter().enumerate() {
                    (scr[q * w + j], ids[q * w + j]) = (s, id);
                }
            }
            let check = (rows % 2 == 0) as u32;
            let eps = 0.05f32;
            let mut input = Vec::new();
            push_u32(&mut input, &[2, rng.next() as u32, rows as u32, n as u32, d as u32, w as u32, m as u32, check]);
            push_u32(&mut input, &[b as u32]);
            push_f32(&mut input, &[eps]);
            push_f32(&mut input, &xq);
            push_f32(&mut input, &xb);
            push_f32(&mut input, &scr);
            push_u32(&mut input, &ids);
            let out = run(exe, &input);
            let mut out = out.as_slice();
            let r = take_f32(&mut out, rows * w);
            let (out_s, out_id, acc) =
                (take_f32(&mut out, rows * m), take_u32(&mut out, rows * m), take_u32(&mut out, rows));
            for q in 0..rows {
                let case = format!("rows {rows} n {n} d {d} w {w} m {m} b {b}, row {q}");
                let row = q * w..(q + 1) * w;
                let mut want_r = vec![f32::NAN; w];
                for j in 0..w {
                    let id = ids[q * w + j];
                    if id != NONE {
                        want_r[j] = warp_dot(&xq[q * d..(q + 1) * d], &xb[id as usize * d..(id as usize + 1) * d]);
                        assert_eq!(r[q * w + j].to_bits(), want_r[j].to_bits(), "{case}, candidate {j}");
                    }
                }
                let (s, id, ok) = finalize_row(&scr[row.clone()], &ids[row], &want_r, m, check == 1, eps);
                assert_eq!(&out_id[q * m..(q + 1) * m], &id[..], "{case}");
                assert!(out_s[q * m..(q + 1) * m].iter().zip(&s).all(|(a, b)| a.to_bits() == b.to_bits()), "{case}");
                assert_eq!(acc[q], ok as u32, "{case}");
            }
        }
    }

    #[test]
    fn emulated_kernels_match_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = Mix(11);

        // Small constants: THREADS 32, PER_THREAD 2 (CHUNK 64), CAP 128 (MAX_W 64).
        let small = build(dir.path(), 32, 2, 128);
        let cases = [
            (3, 1, 1, 1, 2),
            (4, 200, 64, 200, 3),  // the largest w: a compaction before every chunk
            (4, 500, 10, 37, 5),   // many tiles
            (3, 300, 30, 7, 1000), // tiles narrower than w
            (5, 700, 1, 700, 2),
            (3, 64, 64, 64, 1), // w = row length, one value
        ];
        check_select(&small, &mut rng, &cases, 64, 128);
        check_screen(&small, &mut rng, &[(4, 90, 40, 20, 7, 30), (3, 10, 33, 10, 10, 4), (2, 50, 1, 9, 3, 50)]);

        // The real constants, on a few rows.
        let real = build(dir.path(), model::THREADS, model::PER_THREAD, model::CAP);
        let cases =
            [(2, 5000, 58, 5000, 7), (2, 3000, 1024, 1500, 50), (2, 2100, 100, 512, 1 << 20), (1, 40, 300, 40, 2)];
        check_select(&real, &mut rng, &cases, model::CHUNK, model::CAP);
        check_screen(&real, &mut rng, &[(2, 300, 256, 116, 58, 100), (3, 200, 70, 200, 100, 200)]);
    }

    #[test]
    fn the_parameterised_model_is_the_model() {
        let mut rng = Mix(12);
        for (cols, w, b) in [(5000, 58, 5000), (3000, 1024, 1500), (300, 30, 7)] {
            let row = tie_rows(&mut rng, 1, cols, 9);
            let (mut st_s, mut st_id) = (vec![0f32; w], vec![0u32; w]);
            let mut noop = |_: &mut [(f32, u32)]| {};
            for (t, c0) in (0..cols).step_by(b).enumerate() {
                let tile = &row[c0..(c0 + b).min(cols)];
                model::select_row(tile, c0 as u32, &mut st_s, &mut st_id, t == 0, &mut noop);
            }
            assert_eq!(model_select(&row, b, w, model::CHUNK, model::CAP), (st_s, st_id));
        }
    }
}
