//! int8 kernels.
//!
//! - [`dot_i8`] / [`gemm_i8_i32`]: exact integer products `Σ_k a_k·b_k` accumulated in `i32`
//!   (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
//!   Integer-Arithmetic-Only Inference"). With `|a|, |b| ≤ 128` the sum cannot overflow for
//!   `k < 2³¹ / 2¹⁴ = 131 072`; longer rows are rejected.
//! - [`gemm_q8_f32`]: f32 activations × int8 weights, `ŵ = s_g·(q − z_g)` per element.

use super::{check_len, GroupLayout};
use crate::error::{Error, Result};

/// Longest dot product the i32 accumulator holds without overflow: 128·128·k < 2³¹.
pub const MAX_I8_DOT_LEN: usize = (1 << 31) / (128 * 128);

/// `Σ a_k·b_k` in exact i32 arithmetic, on slices of equal length.
pub fn dot_i8(a: &[i8], b: &[i8]) -> Result<i32> {
    check_len("dot_i8", a.len(), b.len())?;
    check_dot_len(a.len())?;
    Ok(dot_i8_unchecked(a, b))
}

fn check_dot_len(k: usize) -> Result<()> {
    if k >= MAX_I8_DOT_LEN {
        return Err(Error::param(
            "k",
            format!("int8 dot of length {k} could overflow i32 (limit {MAX_I8_DOT_LEN})"),
        ));
    }
    Ok(())
}

/// The dot product with sixteen independent lanes (lengths already checked). Each product
/// `a·b` has `|a·b| ≤ 2¹⁴` and fits in i16, which lets the compiler use 16-bit multiplies
/// with 32-bit accumulation.
#[inline]
pub(crate) fn dot_i8_unchecked(a: &[i8], b: &[i8]) -> i32 {
    let mut lanes = [0i32; 16];
    let (ac, bc) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..16 {
            lanes[l] += i32::from(i16::from(x[l]) * i16::from(y[l]));
        }
    }
    let tail: i32 = ar
        .iter()
        .zip(br)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .sum();
    lanes.iter().sum::<i32>() + tail
}

/// `out = A·Bᵀ` in i32: `A` is (m × k), `B` is (n × k), `out` is (m × n), all row-major.
pub fn gemm_i8_i32(
    a: &[i8],
    b: &[i8],
    m: usize,
    n: usize,
    k: usize,
    out: &mut [i32],
) -> Result<()> {
    check_len("gemm_i8_i32 a", m * k, a.len())?;
    check_len("gemm_i8_i32 b", n * k, b.len())?;
    check_len("gemm_i8_i32 out", m * n, out.len())?;
    check_dot_len(k)?;
    if k == 0 {
        out.fill(0);
        return Ok(());
    }
    for (a_row, out_row) in a.chunks_exact(k).zip(out.chunks_exact_mut(n.max(1))) {
        for (b_row, o) in b.chunks_exact(k).zip(out_row.iter_mut()) {
            *o = dot_i8_unchecked(a_row, b_row);
        }
    }
    Ok(())
}

/// Checks weight, scale and zero-point lengths for a (rows × cols) int8 matrix.
fn check_q8(w: &[i8], scales: &[f32], zeros: &[i8], layout: GroupLayout) -> Result<()> {
    layout.check()?;
    check_len("int8 weight", layout.rows * layout.cols, w.len())?;
    check_len("int8 scales", layout.n_scales(), scales.len())?;
    if !zeros.is_empty() {
        check_len("int8 zero points", layout.n_scales(), zeros.len())?;
    }
    Ok(())
}

/// `Σ_g s_g · Σ_{k∈g} x_k·(q_k − z_g)` for one row (`zeros` empty = symmetric).
#[inline]
fn dot_q8_row(x: &[f32], q: &[i8], scales: &[f32], zeros: &[i8], group: usize) -> f32 {
    let mut total = 0.0f32;
    for (g, (xg, qg)) in x.chunks(group).zip(q.chunks(group)).enumerate() {
        let z = zeros.get(g).map_or(0.0, |&z| f32::from(z));
        let mut lanes = [0.0f32; 8];
        let (xc, qc) = (xg.chunks_exact(8), qg.chunks_exact(8));
        let (xr, qr) = (xc.remainder(), qc.remainder());
        for (xs, qs) in xc.zip(qc) {
            for l in 0..8 {
                lanes[l] += xs[l] * (f32::from(qs[l]) - z);
            }
        }
        let tail: f32 = xr
            .iter()
            .zip(qr)
            .map(|(&a, &b)| a * (f32::from(b) - z))
            .sum();
        total += scales[g] * (lanes.iter().sum::<f32>() + tail);
    }
    total
}

/// `out = X·Ŵᵀ` for f32 `x` (batch × cols) and int8 weights `w` (rows × cols) with
/// `ŵ = s·(q − z)`; `zeros` is empty for symmetric weights (z = 0). `out` is (batch × rows) and
/// is overwritten.
pub fn gemm_q8_f32(
    x: &[f32],
    batch: usize,
    w: &[i8],
    scales: &[f32],
    zeros: &[i8],
    layout: GroupLayout,
    out: &mut [f32],
) -> Result<()> {
    check_q8(w, scales, zeros, layout)?;
    check_len("gemm_q8_f32 x", batch * layout.cols, x.len())?;
    check_len("gemm_q8_f32 out", batch * layout.rows, out.len())?;
    let (rows, cols) = (layout.rows, layout.cols);
    if cols == 0 {
        out.fill(0.0);
        return Ok(());
    }
    let zs = |r: usize| {
        if zeros.is_empty() {
            &zeros[..0]
        } else {
            &zeros[layout.row_scales(r)]
        }
    };
    if batch == 1 {
        for (r, (q, o)) in w.chunks_exact(cols).zip(out.iter_mut()).enumerate() {
            *o = dot_q8_row(x, q, &scales[layout.row_scales(r)], zs(r), layout.group);
        }
        return Ok(());
    }
    let mut row = vec![0.0f32; cols];
    for (r, q) in w.chunks_exact(cols).enumerate() {
        let (s, z) = (&scales[layout.row_scales(r)], zs(r));
        for (g, (dst, src)) in row
            .chunks_mut(layout.group)
            .zip(q.chunks(layout.group))
            .enumerate()
        {
            let zg = z.get(g).map_or(0.0, |&v| f32::from(v));
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = s[g] * (f32::from(v) - zg);
            }
        }
        for (i, xi) in x.chunks_exact(cols).enumerate() {
            out[i * rows + r] = super::float::dot_f32_unchecked(xi, &row);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn ints(n: usize, rng: &mut StdRng) -> Vec<i8> {
        (0..n).map(|_| rng.random::<i8>()).collect()
    }

    #[test]
    fn integer_gemm_equals_plain_reference_on_odd_shapes() {
        let mut rng = StdRng::seed_from_u64(0);
        for &(m, n, k) in &[
            (1, 1, 1),
            (1, 5, 7),
            (3, 4, 33),
            (2, 3, 0),
            (0, 3, 5),
            (5, 9, 64),
        ] {
            let a = ints(m * k, &mut rng);
            let b = ints(n * k, &mut rng);
            let mut out = vec![0; m * n];
            gemm_i8_i32(&a, &b, m, n, k, &mut out).unwrap();
            for i in 0..m {
                for j in 0..n {
                    let want: i64 = (0..k)
                        .map(|t| i64::from(a[i * k + t]) * i64::from(b[j * k + t]))
                        .sum();
                    assert_eq!(i64::from(out[i * n + j]), want, "({m},{n},{k}) [{i},{j}]");
                }
            }
        }
        // Extremes: -128·-128 summed.
        let a = vec![-128i8; 1000];
        assert_eq!(dot_i8(&a, &a).unwrap(), 1000 * 16384);
    }

    #[test]
    fn q8_gemm_matches_dequantized_reference() {
        let mut rng = StdRng::seed_from_u64(1);
        for &(batch, rows, cols, group, per_tensor, asym) in &[
            (1, 1, 7, 7, true, false),
            (1, 3, 13, 13, false, true),
            (4, 5, 64, 32, false, false),
            (3, 2, 96, 32, false, true),
            (2, 1, 33, 33, false, false),
            (1, 0, 8, 8, false, false),
        ] {
            let layout = GroupLayout {
                rows,
                cols,
                group,
                per_tensor,
            };
            let w = ints(rows * cols, &mut rng);
            let scales: Vec<f32> = (0..layout.n_scales())
                .map(|_| rng.random_range(0.01..0.1f32))
                .collect();
            let zeros = if asym {
                ints(layout.n_scales(), &mut rng)
            } else {
                vec![]
            };
            let x: Vec<f32> = (0..batch * cols)
                .map(|_| rng.random_range(-1.0..1.0f32))
                .collect();
            let mut out = vec![0.0; batch * rows];
            gemm_q8_f32(&x, batch, &w, &scales, &zeros, layout, &mut out).unwrap();
            for i in 0..batch {
                for r in 0..rows {
                    let mut want = 0.0f64;
                    for c in 0..cols {
                        let si = if per_tensor {
                            0
                        } else {
                            r * (cols / group) + c / group
                        };
                        let z = zeros.get(si).map_or(0.0, |&z| f64::from(z));
                        want += f64::from(x[i * cols + c])
                            * f64::from(scales[si])
                            * (f64::from(w[r * cols + c]) - z);
                    }
                    let got = f64::from(out[i * rows + r]);
                    assert!((got - want).abs() < 1e-4, "{got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn rejects_bad_lengths_and_groups() {
        let mut out = [0; 4];
        assert!(gemm_i8_i32(&[1; 6], &[1; 6], 2, 2, 3, &mut out[..3]).is_err());
        assert!(dot_i8(&[1, 2], &[1]).is_err());
        let layout = GroupLayout {
            rows: 1,
            cols: 10,
            group: 4,
            per_tensor: false,
        };
        let mut o = [0.0];
        assert!(gemm_q8_f32(&[0.0; 10], 1, &[0; 10], &[1.0; 2], &[], layout, &mut o).is_err());
    }
}
