//! Switches shared by the fuzz targets (environment variables read once).

use std::sync::OnceLock;

fn flag(name: &str, default: bool) -> bool {
    std::env::var(name).map_or(default, |v| v != "0")
}

/// `SHRINK_FUZZ_ALLOW_NONFINITE=1`: do not fail when a model loaded from finite weights
/// returns `Ok` with NaN/Inf outputs (finite but huge weights overflow in the forward; the
/// crate should answer `Error::NonFinite`). Off by default: that is a bug of issue #13. Set it
/// to look for crashes past that finding.
#[allow(dead_code)]
pub fn allow_nonfinite() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| flag("SHRINK_FUZZ_ALLOW_NONFINITE", false))
}

/// `SHRINK_FUZZ_HUGE_DIMS=0`: the kernels target decodes only small dimensions (default on).
#[allow(dead_code)]
pub fn huge_dims() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| flag("SHRINK_FUZZ_HUGE_DIMS", true))
}

/// Asserts that an `Ok` output is finite (unless [`allow_nonfinite`]).
#[allow(dead_code)]
pub fn assert_finite<'a>(what: &str, values: impl IntoIterator<Item = &'a f32>) {
    if !allow_nonfinite() {
        assert!(
            values.into_iter().all(|v| v.is_finite()),
            "{what}: Ok with a non-finite output"
        );
    }
}
