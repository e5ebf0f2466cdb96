//! Clustering scores against ground truth.
//!
//! TODO(helper metrics): implement.
