//! Integration tests: one test binary (each file directly under `tests/` would be a separate
//! binary linking a static faiss).

mod oracle;
mod synth_sweep;
