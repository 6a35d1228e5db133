//! The hot loops, as free functions over slices, each with a scalar reference.
