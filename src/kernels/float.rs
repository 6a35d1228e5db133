//! Floating-point weights: f32, and f16 / bf16 (the `half` crate) converted to f32 inside the
//! dot product, a tile of [`TILE`] weights at a time through `half`'s slice conversion (which
//! uses the CPU's F16C instructions when present). Accumulation is in f32 with eight
//! independent lanes.

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

use super::check_len;
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

fn gemm_conv<T: Copy>(
    x: &[f32],
    batch: usize,
    w: &[T],
    rows: usize,
    cols: usize,
    out: &mut [f32],
    conv: impl Fn(&[T], &mut [f32]) + Copy,
) -> Result<()> {
    check_len("gemm x", batch * cols, x.len())?;
    check_len("gemm weight", rows * cols, w.len())?;
    check_len("gemm out", batch * rows, out.len())?;
    if cols == 0 {
        out.fill(0.0);
        return Ok(());
    }
    if batch == 1 {
        for (wr, o) in w.chunks_exact(cols).zip(out.iter_mut()) {
            *o = dot_tiled(x, wr, conv);
        }
        return Ok(());
    }
    // One converted row at a time, reused across the batch.
    let mut row = vec![0.0f32; cols];
    for (r, wr) in w.chunks_exact(cols).enumerate() {
        conv(wr, &mut row);
        for (i, xi) in x.chunks_exact(cols).enumerate() {
            out[i * rows + r] = dot_f32_unchecked(xi, &row);
        }
    }
    Ok(())
}

/// `out = X·Wᵀ` for f32 `x` (batch × cols) and f32 weights (rows × cols); `out` (batch × rows)
/// is overwritten. The plain reference the reduced-precision kernels are compared with.
pub fn gemm_f32(
    x: &[f32],
    batch: usize,
    w: &[f32],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(x, batch, w, rows, cols, out, conv_f32)
}

/// `out = X·Wᵀ` with f16 weights (rows × cols), converted in the dot product.
pub fn gemm_f16_f32(
    x: &[f32],
    batch: usize,
    w: &[f16],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(x, batch, w, rows, cols, out, conv_f16)
}

/// `out = X·Wᵀ` with bf16 weights (rows × cols), converted in the dot product.
pub fn gemm_bf16_f32(
    x: &[f32],
    batch: usize,
    w: &[bf16],
    rows: usize,
    cols: usize,
    out: &mut [f32],
) -> Result<()> {
    gemm_conv(x, batch, w, rows, cols, out, conv_bf16)
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
