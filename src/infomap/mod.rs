//! Two-level Infomap.
