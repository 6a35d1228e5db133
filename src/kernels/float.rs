//! Floating-point weights: f32, and f16 / bf16 (the `half` crate) converted to f32 inside the
//! dot product. The scalar reference converts a tile of [`TILE`] weights at a time through
//! `half`'s slice conversion and accumulates in f32 with eight independent lanes; the SIMD
//! paths convert in registers and accumulate in vector lanes.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

#[cfg(target_arch = "aarch64")]
use super::arm;
use super::simd::{pack_transpose, Acts};
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{check_len, run_rows, Dims, Isa};
use crate::error::Result;

/// Weights converted per step of the half-precision dot products.
pub const TILE: usize = 256;

/// `Σ x_k·w_k` converting `w` tile by tile with `conv` (lengths already equal).
#[inline]
fn dot_tiled<T>(x: &[f32], w: &[T], conv: impl Fn(&[T], &mut [f32])) -> f32 {
    let mut tile = [0.0f32; TILE];
    let mut total = 0.0;
    for (xt, wt) in x.chunks(TILE).zip(w.chunks(TILE)) {
        let t = &mut tile[..wt.len()];
        conv(wt, t);
        total += dot_f32_unchecked(xt, t);
    }
    total
}

fn conv_f16(w: &[f16], dst: &mut [f32]) {
    w.convert_to_f32_slice(dst);
}

fn conv_bf16(w: &[bf16], dst: &mut [f32]) {
    w.convert_to_f32_slice(dst);
}

fn conv_f32(w: &[f32], dst: &mut [f32]) {
    dst.copy_from_slice(w);
}

/// `Σ a_k·b_k` (lengths already equal).
#[inline]
pub(crate) fn dot_f32_unchecked(a: &[f32], b: &[f32]) -> f32 {
    dot_conv(a, b, |v| v)
}

#[inline]
fn dot_conv<T: Copy>(x: &[f32], w: &[T], conv: impl Fn(T) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (xc, wc) = (x.chunks_exact(8), w.chunks_exact(8));
    let (xr, wr) = (xc.remainder(), wc.remainder());
    for (xs, ws) in xc.zip(wc) {
        for l in 0..8 {
            lanes[l] += xs[l] * conv(ws[l]);
        }
    }
    let tail: f32 = xr.iter().zip(wr).map(|(&a, &b)| a * conv(b)).sum();
    lanes.iter().sum::<f32>() + tail
}

/// `Σ x_k·w_k` in f32.
pub fn dot_f32(x: &[f32], w: &[f32]) -> Result<f32> {
    check_len("dot_f32", x.len(), w.len())?;
    Ok(dot_f32_unchecked(x, w))
}

/// `Σ x_k·w_k` with f16 weights converted to f32 in the loop.
pub fn dot_f16(x: &[f32], w: &[f16]) -> Result<f32> {
    check_len("dot_f16", x.len(), w.len())?;
    Ok(dot_tiled(x, w, conv_f16))
}

/// `Σ x_k·w_k` with bf16 weights converted to f32 in the loop.
pub fn dot_bf16(x: &[f32], w: &[bf16]) -> Result<f32> {
    check_len("dot_bf16", x.len(), w.len())?;
    Ok(dot_tiled(x, w, conv_bf16))
}

/// A weight type of the float kernels and its per-path blocks.
trait FloatWeight: super::simd::Wt + Send {
    /// The kernel's name, for its errors.
    const OP: &'static str;
    /// Batch-1 block on a checked path.
    fn gemv(isa: Isa, x: &[f32], w: &[Self], cols: usize, r0: usize, out: &mut [f32]);
    /// Batch-N block (transposed output) on a checked path.
    fn gemm(isa: Isa, a: Acts<'_>, w: &[Self], cols: usize, r0: usize, o: &mut [f32]);
}

macro_rules! float_weight {
    ($T:ty, $op:literal, $conv:ident, $gemv:ident, $gemm:ident) => {
        impl FloatWeight for $T {
            const OP: &'static str = $op;
            fn gemv(isa: Isa, x: &[f32], w: &[Self], cols: usize, r0: usize, out: &mut [f32]) {
                match isa.float_family() {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `isa` was checked available; the driver checked
                    // x.len() == cols and w.len() == rows·cols, and blocks lie within rows.
                    Isa::Avx512 => unsafe { x86::avx512::$gemv(x, w, cols, r0, out) },
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: as above.
                    Isa::Avx2 => unsafe { x86::avx2::$gemv(x, w, cols, r0, out) },
                    #[cfg(target_arch = "aarch64")]
                    // SAFETY: as above.
                    Isa::Neon => unsafe { arm::neon::$gemv(x, w, cols, r0, out) },
                    _ => {
                        let w = &w[r0 * cols..(r0 + out.len()) * cols];
                        for (wr, o) in w.chunks_exact(cols).zip(out.iter_mut()) {
                            *o = dot_tiled(x, wr, $conv);
                        }
                    }
                }
            }
            fn gemm(isa: Isa, a: Acts<'_>, w: &[Self], cols: usize, r0: usize, o: &mut [f32]) {
                match isa.float_family() {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `isa` was checked available; the driver checked
                    // x.len() == batch·cols and w.len() == rows·cols, and blocks lie within
                    // rows.
                    Isa::Avx512 => unsafe { x86::avx512::$gemm(a, w, cols, r0, o) },
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: as above.
                    Isa::Avx2 => unsafe { x86::avx2::$gemm(a, w, cols, r0, o) },
                    #[cfg(target_arch = "aarch64")]
                    // SAFETY: as above.
                    Isa::Neon => unsafe { arm::neon::$gemm(a, w, cols, r0, o) },
                    _ => gemm_scalar_block(a.x, a.batch, w, cols, r0, o, $conv),
                }
            }
        }
    };
}
float_weight!(f32, "gemm_f32", conv_f32, gemv_f32, gemm_f32);
float_weight!(f16, "gemm_f16_f32", conv_f16, gemv_f16, gemm_f16);
float_weight!(bf16, "gemm_bf16_f32", conv_bf16, gemv_bf16, gemm_bf16);

/// The scalar batch-N reference over a block: one converted row at a time, reused across the
/// batch; writes `o[j·batch + i]`.
fn gemm_scalar_block<T: Copy>(
    x: &[f32],
    batch: usize,
    w: &[T],
    cols: usize,
    r0: usize,
    o: &mut [f32],
    conv: impl Fn(&[T], &mut [f32]),
) {
    let mut row = vec![0.0f32; cols];
    let n = o.len() / batch.max(1);
    for (j, ot) in o.chunks_exact_mut(batch).enumerate().take(n) {
        conv(&w[(r0 + j) * cols..(r0 + j + 1) * cols], &mut row);
        for (i, xi) in x.chunks_exact(cols).enumerate() {
            ot[i] = dot_f32_unchecked(xi, &row);
        }
    }
}

fn gemm_conv<T: FloatWeight>(
    isa: Isa,
    x: &[f32],
    batch: usize,
    w: &[T],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    let isa = isa.check()?;
    Dims { batch, rows, cols }.check(T::OP, x.len(), cols, w.len(), out.len())?;
    let xt = pack_transpose(x, batch, cols, isa.lanes());
    let a = Acts { x, batch, xt: &xt };
    run_rows(
        batch,
        rows,
        cols,
        out,
        |r0, o| T::gemv(isa, x, w, cols, r0, o),
        |r0, o| T::gemm(isa, a, w, cols, r0, o),
    );
    Ok(())
}

/// `out = X·Wᵀ` for f32 `x` (batch × cols) and f32 weights (rows × cols); `out` (batch × rows)
/// is overwritten. Runs on [`Isa::best`]; [`gemm_f32_on`] picks the path.
pub fn gemm_f32(
    x: &[f32],
    batch: usize,
    w: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(Isa::best(), x, batch, w, rows, cols, out)
}

/// [`gemm_f32`] on a chosen path (an error if the CPU lacks it). [`Isa::Scalar`] is the plain
/// reference the other kernels are compared with.
pub fn gemm_f32_on(
    isa: Isa,
    x: &[f32],
    batch: usize,
    w: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(isa, x, batch, w, rows, cols, out)
}

/// `out = X·Wᵀ` with f16 weights (rows × cols), converted in registers (F16C / AVX-512
/// `vcvtph2ps`).
pub fn gemm_f16_f32(
    x: &[f32],
    batch: usize,
    w: &[f16],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(Isa::best(), x, batch, w, rows, cols, out)
}

/// [`gemm_f16_f32`] on a chosen path.
pub fn gemm_f16_f32_on(
    isa: Isa,
    x: &[f32],
    batch: usize,
    w: &[f16],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(isa, x, batch, w, rows, cols, out)
}

/// `out = X·Wᵀ` with bf16 weights (rows × cols), widened in registers (a 16-bit shift).
pub fn gemm_bf16_f32(
    x: &[f32],
    batch: usize,
    w: &[bf16],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(Isa::best(), x, batch, w, rows, cols, out)
}

/// [`gemm_bf16_f32`] on a chosen path.
pub fn gemm_bf16_f32_on(
    isa: Isa,
    x: &[f32],
    batch: usize,
    w: &[bf16],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(isa, x, batch, w, rows, cols, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn half_gemms_match_plain_reference_on_odd_shapes() {
        let mut rng = StdRng::seed_from_u64(4);
        for &(batch, rows, cols) in &[
            (1, 1, 1),
            (1, 3, 7),
            (2, 5, 33),
            (4, 2, 64),
            (3, 0, 5),
            (2, 3, 0),
        ] {
            let x: Vec<f32> = (0..batch * cols)
                .map(|_| rng.random_range(-1.0..1.0f32))
                .collect();
            let w: Vec<f32> = (0..rows * cols)
                .map(|_| rng.random_range(-1.0..1.0f32))
                .collect();
            let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            let (mut a, mut b, mut c) = (
                vec![0.0; batch * rows],
                vec![0.0; batch * rows],
                vec![0.0; batch * rows],
            );
            gemm_f32(&x, batch, &w, rows, cols, &mut a).unwrap();
            gemm_f16_f32(&x, batch, &wh, rows, cols, &mut b).unwrap();
            gemm_bf16_f32(&x, batch, &wb, rows, cols, &mut c).unwrap();
            for i in 0..batch {
                for r in 0..rows {
                    let xi = &x[i * cols..(i + 1) * cols];
                    let plain: f64 = (0..cols)
                        .map(|k| f64::from(xi[k]) * f64::from(w[r * cols + k]))
                        .sum();
                    let half: f64 = (0..cols)
                        .map(|k| f64::from(xi[k]) * f64::from(wh[r * cols + k].to_f32()))
                        .sum();
                    let brain: f64 = (0..cols)
                        .map(|k| f64::from(xi[k]) * f64::from(wb[r * cols + k].to_f32()))
                        .sum();
                    let o = i * rows + r;
                    assert!((f64::from(a[o]) - plain).abs() < 1e-4);
                    assert!((f64::from(b[o]) - half).abs() < 1e-4);
                    assert!((f64::from(c[o]) - brain).abs() < 1e-4);
                }
            }
        }
        assert!(dot_f16(&[1.0], &[]).is_err());
        assert_eq!(dot_bf16(&[2.0, 3.0], &[bf16::ONE, bf16::ONE]).unwrap(), 5.0);
        assert_eq!(dot_f32(&[], &[]).unwrap(), 0.0);
    }
}
