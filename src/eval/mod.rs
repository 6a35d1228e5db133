//! Evaluation: metrics, sizes and latency.
