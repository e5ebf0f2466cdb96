//! Cluster face embeddings into identities, with no training.
//!
//! The pipeline is a straight line of library functions, each with a typed input and output:
//!
//! ```text
//! io::load_features -> knn::build_knn -> [threshold::auto_min_sim] -> edges::build_edges
//!     -> infomap::Infomap::run -> lonely::assign_labels -> labels
//!                                 metrics::evaluate (given ground truth)
//! ```
//!
//! 1. [`io`] reads `.npy` or raw float32 `.bin` features into [`Features`] (finite, non-zero,
//!    L2-normalised rows), and label files.
//! 2. [`knn`] finds each row's nearest neighbours by inner product (cosine) with faiss.
//! 3. [`threshold`] picks `min_sim` from the k-NN table when it is not given.
//! 4. [`graph`] keeps the links `i -> j` with `j != i` and similarity at least `min_sim` (the
//!    seed's rule); [`edges`] adds per-row adaptive cuts, shared-neighbour scores and
//!    normalised weights.
//! 5. [`infomap`] partitions the link network with the two-level map equation. It knows
//!    networks, not faces, and serves any weighted link list.
//! 6. [`lonely`] turns modules into cluster labels and decides what becomes of rows left alone.
//! 7. [`metrics`] scores a clustering against ground truth (pairwise, BCubed, NMI).
//!
//! [`strategy`] names the choices between the table and the labels, and the presets `seed` and
//! `best`; [`pipeline`] runs the main job; [`sweep`] runs the stages after the search over a
//! grid of `(k, strategy, min_sim)` and scores each cell; [`synth`] draws synthetic face-like
//! embeddings with identity labels, of any size.

pub mod blas;
mod buckets;
pub mod edges;
pub mod error;
pub mod features;
pub mod gpu;
pub mod graph;
pub mod infomap;
pub mod io;
pub mod knn;
pub mod lonely;
pub mod metrics;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod rng;
pub mod strategy;
pub mod sweep;
pub mod synth;
pub mod threshold;

pub use error::{Error, Result};
pub use features::Features;
