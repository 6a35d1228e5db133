//! Sparse storage of pruned weights and the sparse layer that computes on it.
