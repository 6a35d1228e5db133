//! The hot loops, as free functions over slices, each with a plain scalar reference that the
//! SIMD paths sit beside and are tested against.
//!
//! Every matrix is row-major. A weight matrix `W` is (rows = out, cols = in), as
//! [`Linear`](crate::nn::Linear) stores it, and every "GEMM" here computes `Y = X·Ŵᵀ` for a batch
//! `X` of shape (batch, cols), giving `Y` of shape (batch, rows):
//!
//! - [`int8`]: `i8 × i8 → i32` dot products and GEMM (the integer part of integer-arithmetic
//!   inference, Jacob et al. 2018), and int8 weights × f32 activations where each weight is
//!   dequantized `ŵ = s·(q − z)` per element inside the loop.
//! - [`int4`]: int4 weights packed two per byte (low nibble = even column), unpacked inside the
//!   kernel, with one scale (and zero point) per group of columns.
//! - [`w4a8`]: symmetric int4 weights × int8 activations quantized per 32 columns, batch 1
//!   (`vpdpbusd` on the nibbles).
//! - [`float`]: f32, f16 and bf16 weights (the `half` crate) converted to f32 in the dot
//!   product.
//! - [`sparse`]: CSR rows × a dense vector (scalar loads); [`sparse_packed`]: the same product on
//!   16-row × 32-column packed steps with in-register lookups (AVX-512); [`quantize`]: activation
//!   range and int8 quantization.
//!
//! Scales and zero points are laid out by a [`GroupLayout`]: one per tensor, per row, or per
//! group of `group` consecutive columns of each row.
//!
//! Batch 1 (the memory-bound decode case) fuses dequantization into the dot products. The dense
//! kernels run four weight rows per pass, one from each quarter of a block of up to 128 rows,
//! so each activation load feeds four rows and four weight streams far apart are in flight
//! (`passes.rs`; the NEON int8 × int8 GEMV still takes four adjacent rows); int4 codes become
//! f32 weights by an in-register table lookup on AVX-512 (`x86/int4.rs`). Batch ≥ one vector
//! of rows packs `Xᵀ` once per call, tile by tile, and runs a broadcast micro-kernel (6 weight
//! rows × 2 vectors of batch); non-f32 weights are converted 128 columns at a time into a small
//! panel reused by the whole batch (never the whole matrix). Results at batch 1 and batch N may
//! differ in the last bits.
//!
//! Every public kernel checks its arguments once per call, before it allocates or indexes
//! anything, and returns an error instead of truncating, panicking or reading out of bounds:
//! [`crate::error::Error::TooLarge`] when a product of its dimensions overflows `usize` (every
//! size product goes through the checked `limits::product`; the SIMD paths read through raw
//! pointers, so a wrapped product that happened to match a slice's length would let them read
//! past it), [`crate::error::Error::ShapeMismatch`] when a slice's length differs,
//! [`crate::error::Error::InvalidParam`] for a bad group layout, path or thread count, and
//! [`crate::error::Error::NonFinite`] for NaN or infinite activations given to the int8
//! quantizers.
//!
//! ## Instruction sets and threads
//!
//! Each kernel has the scalar reference and SIMD paths (x86_64: AVX2 + FMA, AVX-512, AVX-VNNI
//! and AVX-512-VNNI for the int8 × int8 products; aarch64: NEON, and NEON + `dotprod` for the
//! int8 × int8 products; other targets run the scalar kernels only), chosen once at run time
//! ([`Isa::best`]); the `*_on` variants take an [`Isa`] explicitly so tests and benchmarks can
//! run each path the CPU has. Integer products are exact on every path; float paths accumulate
//! in a different order than the scalar reference (vector lanes, panels of columns), so they
//! agree with it to rounding (the tests use a relative bound of 1e-5 on the sum of absolute
//! products). The int4 batch-1 SIMD paths and W4A8 fold the zero point out of the sum
//! (`Σ s·u·x − s·z·Σx`), so their bound is on `Σ|s·x|·(u + z)`: with activations spanning many
//! orders of magnitude the small terms can vanish in the rounding of the two large halves.
//!
//! With the default `threads` feature, output rows are split over rayon's pool in fixed blocks;
//! each output is computed by one thread in a fixed order, so results do not depend on the
//! thread count ([`with_threads`] limits it).

#[cfg(target_arch = "aarch64")]
mod arm;
mod blocks;
mod dispatch;
pub mod float;
pub mod int4;
pub mod int8;
mod par;
mod passes;
pub mod quantize;
mod simd;
pub mod sparse;
pub mod sparse_packed;
pub mod w4a8;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod wrappers;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use dispatch::Isa;
pub use par::{current_threads, with_threads};
pub use simd::KC;

use crate::error::{Error, Result};

/// Where the scales of a quantized (rows × cols) weight matrix apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupLayout {
    /// Number of rows (output features).
    pub rows: usize,
    /// Number of columns (input features).
    pub cols: usize,
    /// Columns per group; `cols` for per-tensor and per-row scales. Must divide `cols`.
    pub group: usize,
    /// One scale for the whole matrix (then `group == cols`).
    pub per_tensor: bool,
}

impl GroupLayout {
    /// Checks that the group is positive and divides `cols` (and equals it when per-tensor).
    /// A `rows · cols` that overflows `usize` is [`Error::TooLarge`]; a bad group
    /// [`Error::InvalidParam`].
    pub fn check(&self) -> Result<()> {
        crate::limits::product("layout", &[self.rows, self.cols])?;
        if self.group == 0 || !self.cols.is_multiple_of(self.group) {
            return Err(Error::param(
                "group",
                format!(
                    "group size {} must be positive and divide the width {}",
                    self.group, self.cols
                ),
            ));
        }
        if self.per_tensor && self.group != self.cols {
            return Err(Error::param(
                "group",
                format!(
                    "a per-tensor layout needs group == cols ({}), got {}",
                    self.cols, self.group
                ),
            ));
        }
        Ok(())
    }

    /// Groups in one row (`cols / group`; 0 for an empty row).
    pub fn groups_per_row(&self) -> usize {
        self.cols.checked_div(self.group).unwrap_or(0)
    }

    /// Number of scales the layout needs: 1 per tensor, otherwise `rows · groups_per_row`.
    pub fn n_scales(&self) -> usize {
        if self.per_tensor {
            1
        } else {
            self.rows.saturating_mul(self.groups_per_row())
        }
    }

    /// The range of scale indices for row `r`.
    pub(crate) fn row_scales(&self, r: usize) -> std::ops::Range<usize> {
        if self.per_tensor {
            0..1
        } else {
            let g = self.groups_per_row();
            r * g..(r + 1) * g
        }
    }
}

/// Errors unless `got == want`, naming the operand.
pub(crate) fn check_len(op: &'static str, want: usize, got: usize) -> Result<()> {
    if want == got {
        Ok(())
    } else {
        Err(Error::shape(op, want, got))
    }
}

/// The dimensions of a kernel product `Y = X·Ŵᵀ`: `X` is (batch × cols), `Ŵ` (rows × cols),
/// `Y` (batch × rows). Every GEMM/GEMV entry point checks its slices with [`Dims::check`] once
/// per call, before it allocates or indexes anything: the SIMD paths read through raw
/// pointers, so a length check on a product that wrapped around would let them read outside
/// the slices.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dims {
    pub(crate) batch: usize,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl Dims {
    /// Checks `x.len() == batch·cols`, `w.len() == rows·row_len` (`row_len` = elements or bytes
    /// of one stored weight row) and `out.len() == batch·rows`. A product that overflows
    /// `usize` (no slice can be that long) is [`Error::TooLarge`], checked for all three
    /// before any length; a length that differs is [`Error::ShapeMismatch`] naming the operand.
    pub(crate) fn check(
        self,
        op: &'static str,
        x: usize,
        row_len: usize,
        w: usize,
        out: usize,
    ) -> Result<()> {
        let Dims { batch, rows, cols } = self;
        let want = [
            (
                "x",
                [batch, cols],
                crate::limits::product(op, &[batch, cols])?,
                x,
            ),
            (
                "weight",
                [rows, row_len],
                crate::limits::product(op, &[rows, row_len])?,
                w,
            ),
            (
                "out",
                [batch, rows],
                crate::limits::product(op, &[batch, rows])?,
                out,
            ),
        ];
        for (what, [a, b], n, got) in want {
            if n != got {
                return Err(Error::ShapeMismatch {
                    op,
                    expected: format!("{what} of {a} x {b} = {n} elements"),
                    got: format!("{got} elements"),
                });
            }
        }
        Ok(())
    }
}

/// Most weight rows per parallel task at batch 1: a block's four row streams (see [`passes`])
/// lie a quarter of it apart.
const GEMV_ROWS: usize = 128;

/// Weight rows per task at batch 1 for a product of `rows` rows and `work` multiply-adds:
/// [`GEMV_ROWS`], or, when the product is large enough to split over threads, an eighth of the
/// rows (a multiple of 4) if that is smaller, so that layers of a few hundred rows still split.
/// (Small products run on one thread and keep whole blocks: fewer calls.) It depends on the
/// shape alone, never on the thread count: the pass a row falls in decides its
/// float summation order.
fn gemv_rows(rows: usize, work: usize) -> usize {
    if work < par::PAR_MIN_WORK {
        return GEMV_ROWS;
    }
    (rows / 8).next_multiple_of(4).clamp(4, GEMV_ROWS)
}

/// Weight rows per parallel task at batch ≥ 2 (a multiple of the 4-row and 6-row micro-tiles).
const GEMM_ROWS: usize = 48;

/// Runs a product over output rows: at batch 1 `gemv(r0, out_block)` on blocks of `out`; at
/// batch ≥ 2 `gemm(r0, out_t_block)` on blocks of the transposed output (rows × batch), then
/// transposes into `out` (batch × rows). `cols == 0` gives zeros.
pub(crate) fn run_rows<T, V, M>(
    batch: usize,
    rows: usize,
    cols: usize,
    out: &mut [T],
    gemv: V,
    gemm: M,
) where
    T: Scratch,
    V: Fn(usize, &mut [T]) + Sync + Send,
    M: Fn(usize, &mut [T]) + Sync + Send,
{
    if cols == 0 || batch == 0 || rows == 0 {
        out.fill(T::default());
        return;
    }
    // (Only the threading threshold reads it; saturating keeps it meaningful at any size.)
    let work = batch.saturating_mul(rows).saturating_mul(cols);
    if batch == 1 {
        par::for_rows(out, 1, gemv_rows(rows, work), work, gemv);
        return;
    }
    T::with_scratch(rows * batch, |t| {
        par::for_rows(t, batch, GEMM_ROWS, work, gemm);
        transpose_into(t, rows, batch, out);
    });
}

/// `out[i·rows + r] = t[r·batch + i]`, in tiles of 16 rows so that the 16 rows read stay in
/// cache while each output row is written contiguously (element by element, the strided
/// writes took ~14% of an int4 1024² batch-32 product).
fn transpose_into<T: Copy>(t: &[T], rows: usize, batch: usize, out: &mut [T]) {
    const TILE: usize = 16;
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        let src = &t[r0 * batch..r1 * batch];
        for (i, orow) in out.chunks_exact_mut(rows).enumerate().take(batch) {
            for (o, r) in orow[r0..r1].iter_mut().zip(0..) {
                *o = src[r * batch + i];
            }
        }
    }
}

/// An element of the kernels' transposed batch-N output, with a per-thread buffer reused
/// across calls (a fresh zeroed buffer of ≥ 128 KiB is a fresh mapping: page faults and a
/// memset on every call).
pub(crate) trait Scratch: Copy + Default + Send + Sync + 'static {
    /// Runs `f` on a zeroed buffer of `n` elements: the calling thread's own when it is free
    /// (zeroing a warm buffer costs far less than mapping a fresh one), a fresh one otherwise.
    fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
}

macro_rules! scratch {
    ($T:ty) => {
        impl Scratch for $T {
            fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
                thread_local! {
                    static BUF: std::cell::RefCell<Vec<$T>> = const { std::cell::RefCell::new(Vec::new()) };
                }
                BUF.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut v) => {
                        v.clear();
                        v.resize(n, <$T>::default());
                        f(&mut v)
                    }
                    Err(_) => f(&mut vec![<$T>::default(); n]),
                })
            }
        }
    };
}
scratch!(f32);
scratch!(i32);

/// Elements per task of [`sum_f32_on`].
const SUM_CHUNK: usize = 1 << 20;

/// `Σ x` on path `isa`, split over threads in fixed chunks (the partial sums are added in
/// order, so the result does not depend on the thread count). Used as the read-bandwidth probe
/// of the benchmarks: one pass over memory, nothing else.
pub fn sum_f32_on(isa: Isa, x: &[f32]) -> Result<f32> {
    let isa = isa.check()?;
    let mut parts = vec![0.0f32; x.len().div_ceil(SUM_CHUNK)];
    par::for_rows(&mut parts, 1, 1, x.len(), |i, p| {
        let c = &x[i * SUM_CHUNK..((i + 1) * SUM_CHUNK).min(x.len())];
        p[0] = match isa.float_family() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `isa` was checked available.
            Isa::Avx512 => unsafe { x86::avx512::sum(c) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `isa` was checked available.
            Isa::Avx2 => unsafe { x86::avx2::sum(c) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Isa::Neon => unsafe { arm::neon::sum(c) },
            _ => c.iter().sum(),
        };
    });
    Ok(parts.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_n_products_equal_an_independent_dot_product_and_reuse_dirty_scratch() {
        // The scalar and SIMD paths share `run_rows` (and its transpose), so here the reference
        // is a plain triple loop; shapes straddle the 16-row transpose tile, and the second
        // call runs on the scratch buffer the first one dirtied.
        for &(batch, rows, cols) in &[(3usize, 17usize, 5usize), (2, 33, 9), (5, 16, 1)] {
            let x: Vec<f32> = (0..batch * cols).map(|v| (v % 7) as f32 - 3.0).collect();
            let w: Vec<f32> = (0..rows * cols).map(|v| (v % 5) as f32 - 2.0).collect();
            let mut want = vec![0.0f32; batch * rows];
            for i in 0..batch {
                for r in 0..rows {
                    want[i * rows + r] = (0..cols).map(|k| x[i * cols + k] * w[r * cols + k]).sum();
                }
            }
            for _ in 0..2 {
                for isa in Isa::available() {
                    let mut got = vec![f32::NAN; batch * rows];
                    float::gemm_f32_on(isa, &x, batch, &w, rows, cols, &mut got).unwrap();
                    assert_eq!(got, want, "{} ({batch}, {rows}, {cols})", isa.name());
                }
            }
        }
    }
}
