//! Cluster face embeddings into identities, with no training.
//!
//! The pipeline is a straight line of library functions, each with a typed input and output:
//!
//! ```text
//! io::load_features -> knn::search_knn -> [threshold::choose_min_sim | threshold::auto_min_sim]
//!     -> cluster::cluster (edges::build_edges -> infomap::Infomap::run -> labels::assign_labels
//!                          -> [labels::merge_clusters] -> [labels::attach_nearest]
//!                          -> metrics::evaluate, given ground truth) -> report::Report
//! ```
//!
//! 1. [`config`] holds every setting, in types that hold only valid values ([`config::RunConfig`]
//!    for the main job); it sits at the bottom, so every stage can take its settings from it.
//! 2. [`io`] reads `.npy` or raw float32 `.bin` features into [`Features`] (finite, non-zero,
//!    L2-normalised rows), and label files.
//! 3. [`knn`] finds each row's nearest neighbours by inner product (cosine) with faiss.
//! 4. [`threshold`] picks `min_sim` from the k-NN table when it is not given (the default's
//!    rule: the higher of the merge-height and link-similarity valleys, near-duplicate valleys
//!    skipped; `--preset best`'s: the merge-height valley).
//! 5. [`edges`] keeps the links `i -> j` with `j != i` and similarity at least `min_sim` (the
//!    seed's rule), the default's two tiers, or per-row adaptive cuts and shared-neighbour
//!    scores, into a [`graph::Graph`].
//! 6. [`infomap`] partitions the link network with the two-level map equation. It knows
//!    networks, not faces, and serves any weighted link list.
//! 7. [`labels`] turns modules into cluster labels, merges clusters whose rows link into each
//!    other (the default) and decides what becomes of rows left alone.
//! 8. [`metrics`] scores a clustering against ground truth (pairwise, BCubed, NMI).
//!
//! [`gpu`] finds the candidates of an exact k-NN search on an NVIDIA GPU, with CUDA loaded at run
//! time. [`cluster`] is steps 5-8 written once; [`pipeline`] runs the main job (and the secondary
//! commands), [`sweep`] runs [`cluster`] over a grid of `(k, strategy, min_sim)` on one table;
//! [`report`] says what a run did; [`measure`] times and meters its stages; [`synth`] draws
//! synthetic face-like embeddings with identity labels, of any size.
//!
//! # Layers
//!
//! Each module imports only modules of lower layers (`tests/integration/architecture.rs` checks
//! it on every `cargo test`); `infomap` imports nothing of the crate but `rng` and `buckets`, and
//! `gpu` nothing at all:
//!
//! | layer | modules |
//! |---|---|
//! | 0 | `error`, `rng`, `buckets`, `progress`, `blas` |
//! | 1 | `infomap`, `gpu` |
//! | 2 | `config` |
//! | 3 | `features`, `metrics`, `measure` |
//! | 4 | `io` |
//! | 5 | `knn`, `synth` |
//! | 6 | `graph`, `threshold` |
//! | 7 | `edges` |
//! | 8 | `labels`, `state` |
//! | 9 | `cluster` |
//! | 10 | `report` |
//! | 11 | `pipeline`, `update` |
//! | 12 | `sweep` |
//! | 13 | the binary (`main`, `cli`, `convert`, `commands`, `term`) |

pub mod blas;
mod buckets;
pub mod cluster;
pub mod config;
pub mod edges;
pub mod error;
pub mod features;
pub mod gpu;
pub mod graph;
pub mod infomap;
pub mod io;
pub mod knn;
pub mod labels;
pub mod measure;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod rng;
pub mod state;
pub mod sweep;
pub mod synth;
pub mod threshold;
pub mod update;

pub use error::{Error, Result};
pub use features::Features;
