#!/usr/bin/env bash
# Runs Miri (undefined-behaviour checker) on the scalar kernels, int4 packing, the sparse
# products and the model loaders: tests/miri_smoke.rs (tiny shapes; Miri runs ~1000x slower)
# and the library's own unit tests of those modules. Under Miri `Isa::available()` holds only
# `Isa::Scalar` (Miri cannot run the SIMD intrinsics; see src/kernels/dispatch.rs), so the
# SIMD paths are not checked here: the fuzz targets (scripts/fuzz.sh) run them under
# AddressSanitizer instead.
#
#   scripts/miri.sh [extra cargo-miri test args...]
#
# Needs the nightly `miri` and `rust-src` components
# (rustup +nightly component add miri rust-src).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly miri --version >/dev/null 2>&1; then
  echo "miri.sh: needs Miri: rustup +nightly component add miri rust-src" >&2
  exit 2
fi
# No file or clock access is needed (isolation stays on); the test harness's threads are
# fine under Miri.
export MIRIFLAGS="${MIRIFLAGS:-}"

cargo +nightly miri setup >/dev/null
echo "== miri: tests/miri_smoke.rs"
cargo +nightly miri test --test miri_smoke "$@"
# The library's unit tests of the kernels, the loaders and the sparse layers, except one
# whose shapes (up to 261 x 384) take minutes under Miri (tests/miri_smoke.rs runs W4A8).
echo "== miri: library unit tests (kernels, io, sparse)"
cargo +nightly miri test --lib "$@" -- kernels:: io:: sparse:: \
  --skip kernels::w4a8::tests::matches_the_f32_kernel_on_dequantized_activations
