//! Pruning: the `Pruner` trait, masks, methods and schedules.
