//! QAT (to come).
