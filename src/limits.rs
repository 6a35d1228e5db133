//! The crate's size limits, and the checked size arithmetic every public entry point uses.
//!
//! Sizes come from callers and from files, so any product of them can overflow `usize`, and a
//! product that fits can still ask for more memory than the machine has (Rust aborts the process
//! on a failed infallible allocation). Every constructor, generator and loader therefore sizes
//! what it will allocate with `elements` (a checked product bounded by [`MAX_ELEMENTS`]) before
//! allocating, and large buffers are taken with `try_zeroed`, which turns an allocation
//! failure into [`Error::TooLarge`]. Kernels over caller slices use `product`: a product that
//! fits `usize` and equals a slice's length describes memory that exists.

use crate::error::{Error, Result};

/// Most elements one tensor may hold: a weight matrix, an embedding table, a data set's
/// features, a batch of activations (2³² f32 values = 16 GiB). Larger requests are
/// [`Error::TooLarge`] before anything is allocated.
pub const MAX_ELEMENTS: usize = if usize::BITS > 32 {
    1 << (usize::BITS / 2)
} else {
    (isize::MAX as usize) / 4
};

/// Most parameters one model may hold in all its tensors together (the same 2³² as
/// [`MAX_ELEMENTS`]: 16 GiB of f32).
pub const MAX_PARAMS: usize = MAX_ELEMENTS;

/// Most kernel threads [`crate::kernels::with_threads`] accepts.
pub const MAX_THREADS: usize = 1024;

/// `dims[0] · dims[1] · …`, or [`Error::TooLarge`] naming `op` if the product overflows `usize`.
pub(crate) fn product(op: &'static str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::too_large(op, format!("{dims:?} overflows usize")))
}

/// The checked product of `dims`, bounded by [`MAX_ELEMENTS`].
pub(crate) fn elements(op: &'static str, dims: &[usize]) -> Result<usize> {
    let n = product(op, dims)?;
    if n > MAX_ELEMENTS {
        return Err(Error::too_large(
            op,
            format!("{dims:?} is {n} elements, above the limit of {MAX_ELEMENTS}"),
        ));
    }
    Ok(n)
}

/// `a + b` for parameter counts, bounded by [`MAX_PARAMS`].
pub(crate) fn add_params(op: &'static str, a: usize, b: usize) -> Result<usize> {
    match a.checked_add(b) {
        Some(n) if n <= MAX_PARAMS => Ok(n),
        _ => Err(Error::too_large(
            op,
            format!("{a} + {b} parameters, above the limit of {MAX_PARAMS}"),
        )),
    }
}

/// A vector of `n` default values (`n` bounded by [`MAX_ELEMENTS`]), or [`Error::TooLarge`] if
/// the allocator refuses the memory (instead of aborting the process).
pub(crate) fn try_zeroed<T: Clone + Default>(op: &'static str, n: usize) -> Result<Vec<T>> {
    elements(op, &[n])?;
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|e| Error::too_large(op, format!("cannot allocate {n} elements: {e}")))?;
    v.resize(n, T::default());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_that_overflow_or_exceed_the_limit_are_errors() {
        assert_eq!(product("t", &[3, 4, 5]).unwrap(), 60);
        assert_eq!(product("t", &[]).unwrap(), 1);
        assert!(matches!(
            product("t", &[2, 4, 1 << 62]),
            Err(Error::TooLarge { op: "t", .. })
        ));
        assert_eq!(elements("t", &[MAX_ELEMENTS]).unwrap(), MAX_ELEMENTS);
        assert!(matches!(
            elements("t", &[MAX_ELEMENTS, 2]),
            Err(Error::TooLarge { .. })
        ));
        assert!(add_params("t", MAX_PARAMS, 1).is_err());
        assert!(add_params("t", usize::MAX, 1).is_err());
        assert_eq!(add_params("t", 2, 3).unwrap(), 5);
    }

    #[test]
    fn try_zeroed_refuses_instead_of_aborting() {
        assert_eq!(try_zeroed::<f32>("t", 5).unwrap(), vec![0.0; 5]);
        assert!(try_zeroed::<f32>("t", MAX_ELEMENTS + 1).is_err());
    }
}
