//! Evaluation: accuracy, macro-F1 and the confusion matrix of any [`Forward`](crate::Forward)
//! model, its latency, and the [`CompressionReport`] that puts stages side by side. Parameter counts and exact storage bytes come from
//! [`Forward::param_count`](crate::Forward::param_count) and
//! [`Forward::storage_bytes`](crate::Forward::storage_bytes).

mod latency;
mod metrics;
mod report;
mod sqnr;

pub use latency::{measure_latency, Latency, MAX_REPEATS};
pub use metrics::{accuracy, confusion_matrix, evaluate, macro_f1, Metrics};
pub use report::{CompressionReport, LayerStat, LayerStats, StageReport};
pub use sqnr::sqnr_db;
