//! Integration tests: one test binary (each file directly under `tests/` would be a separate
//! binary linking a static faiss).

mod add;
mod alloc;
mod architecture;
mod bad_input;
mod common;
mod determinism;
mod fuzz;
mod gpu;
mod interrupt;
mod oracle;
mod quality;
mod reproduce;
mod scale;
mod synth_sweep;
