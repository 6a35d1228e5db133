//! int8 kernels.
//!
//! - [`dot_i8`] / [`gemm_i8_i32`]: exact integer products `Σ_k a_k·b_k` accumulated in `i32`
//!   (Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
//!   Integer-Arithmetic-Only Inference"). With `|a|, |b| ≤ 128` the sum cannot overflow for
//!   `k < 2³¹ / 2¹⁴ = 131 072`; longer rows are rejected.
//! - [`gemm_q8_f32`]: f32 activations × int8 weights, `ŵ = s_g·(q − z_g)` per element.

#[cfg(target_arch = "aarch64")]
use super::arm;
use super::blocks::Q8;
use super::simd::{pack_transpose, Acts};
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{check_len, run_rows, Dims, GroupLayout, Isa};
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
/// Exact on every path; runs on [`Isa::best`] ([`gemm_i8_i32_on`] picks the path).
pub fn gemm_i8_i32(
    a: &[i8],
    b: &[i8],
    m: usize,
    n: usize,
    k: usize,
    out: &mut [i32],
) -> Result<()> {
    gemm_i8_i32_on(Isa::best(), a, b, m, n, k, out)
}

/// [`gemm_i8_i32`] on a chosen path (an error if the CPU lacks it).
pub fn gemm_i8_i32_on(
    isa: Isa,
    a: &[i8],
    b: &[i8],
    m: usize,
    n: usize,
    k: usize,
    out: &mut [i32],
) -> Result<()> {
    let isa = isa.check()?;
    let dims = Dims {
        batch: m,
        rows: n,
        cols: k,
    };
    dims.check("gemm_i8_i32", a.len(), k, b.len(), out.len())?;
    check_dot_len(k)?;
    // The vpdpbusd paths take the activations as u8: a + 128 (the sign bit flipped).
    let au: Vec<u8> = if matches!(isa, Isa::AvxVnni | Isa::Avx512Vnni) {
        a.iter().map(|&v| (v as u8) ^ 0x80).collect()
    } else {
        Vec::new()
    };
    let au = &au[..];
    run_rows(
        m,
        n,
        k,
        out,
        |r0, o| gemv_i8_block(isa, a, au, b, k, r0, o),
        |r0, o| gemm_i8_block(isa, a, au, m, b, k, r0, o),
    );
    Ok(())
}

/// Batch-1 block of [`gemm_i8_i32_on`]: `o[j] = a·b[r0 + j]`.
fn gemv_i8_block(isa: Isa, a: &[i8], au: &[u8], b: &[i8], k: usize, r0: usize, o: &mut [i32]) {
    // Only the x86 VNNI paths read the biased copy.
    #[cfg(not(target_arch = "x86_64"))]
    let _ = au;
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` was checked available; a.len() == k, au.len() == k for the VNNI paths,
        // b holds n·k bytes and the block's rows lie below n (the driver's checks).
        Isa::Avx512Vnni => unsafe { x86::int8::gemv_vnni512(a, au, b, k, r0, o) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::AvxVnni => unsafe { x86::int8::gemv_vnni256(a, au, b, k, r0, o) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above (no biased copy needed).
        Isa::Avx2 | Isa::Avx512 => unsafe { x86::int8::gemv_madd(a, au, b, k, r0, o) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `isa` was checked available; the lengths as above (NEON reads no biased copy).
        Isa::Neon => unsafe { arm::int8::gemv_neon(a, b, k, r0, o) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::NeonDot => unsafe { arm::int8::gemv_sdot(a, b, k, r0, o) },
        _ => {
            for (j, v) in o.iter_mut().enumerate() {
                *v = dot_i8_unchecked(a, &b[(r0 + j) * k..(r0 + j + 1) * k]);
            }
        }
    }
}

/// Batch-N block of [`gemm_i8_i32_on`]: `o[j·m + i] = a[i]·b[r0 + j]`.
#[allow(clippy::too_many_arguments)]
fn gemm_i8_block(
    isa: Isa,
    a: &[i8],
    au: &[u8],
    m: usize,
    b: &[i8],
    k: usize,
    r0: usize,
    o: &mut [i32],
) {
    // Only the x86 VNNI paths read the biased copy.
    #[cfg(not(target_arch = "x86_64"))]
    let _ = au;
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` was checked available; a.len() == m·k, au.len() == m·k for the VNNI
        // paths, b holds n·k bytes and the block's rows lie below n (the driver's checks).
        Isa::Avx512Vnni => unsafe { x86::int8::gemm_vnni512(a, au, m, b, k, r0, o) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::AvxVnni => unsafe { x86::int8::gemm_vnni256(a, au, m, b, k, r0, o) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above (no biased copy needed).
        Isa::Avx2 | Isa::Avx512 => unsafe { x86::int8::gemm_madd(a, au, m, b, k, r0, o) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `isa` was checked available; the lengths as above (NEON reads no biased copy).
        Isa::Neon => unsafe { arm::int8::gemm_neon(a, m, b, k, r0, o) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        Isa::NeonDot => unsafe { arm::int8::gemm_sdot(a, m, b, k, r0, o) },
        _ => {
            for (j, ot) in o.chunks_exact_mut(m).enumerate() {
                let brow = &b[(r0 + j) * k..(r0 + j + 1) * k];
                for (i, v) in ot.iter_mut().enumerate() {
                    *v = dot_i8_unchecked(&a[i * k..(i + 1) * k], brow);
                }
            }
        }
    }
}

/// Checks the layout, the activation, weight and output lengths of a batch of `batch` rows and
/// the scale and zero-point lengths for a (rows × cols) int8 matrix.
fn check_q8(
    x: &[f32],
    batch: usize,
    w: &[i8],
    scales: &[f32],
    zeros: &[i8],
    layout: GroupLayout,
    out: &[f32],
) -> Result<()> {
    layout.check()?;
    let (rows, cols) = (layout.rows, layout.cols);
    Dims { batch, rows, cols }.check("gemm_q8_f32", x.len(), cols, w.len(), out.len())?;
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
/// is overwritten. Runs on [`Isa::best`] ([`gemm_q8_f32_on`] picks the path).
pub fn gemm_q8_f32(
    x: &[f32],
    batch: usize,
    w: &[i8],
    scales: &[f32],
    zeros: &[i8],
    layout: GroupLayout,
    out: &mut [f32],
) -> Result<()> {
    gemm_q8_f32_on(Isa::best(), x, batch, w, scales, zeros, layout, out)
}

/// [`gemm_q8_f32`] on a chosen path (an error if the CPU lacks it).
#[allow(clippy::too_many_arguments)]
pub fn gemm_q8_f32_on(
    isa: Isa,
    x: &[f32],
    batch: usize,
    w: &[i8],
    scales: &[f32],
    zeros: &[i8],
    layout: GroupLayout,
    out: &mut [f32],
) -> Result<()> {
    let isa = isa.check()?;
    check_q8(x, batch, w, scales, zeros, layout, out)?;
    let m = Q8 {
        q: w,
        scales,
        zeros,
        layout,
    };
    let xt = pack_transpose(x, batch, layout.cols, isa.lanes());
    let a = Acts { x, batch, xt: &xt };
    run_rows(
        batch,
        layout.rows,
        layout.cols,
        out,
        |r0, o| match isa.float_family() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `isa` was checked available; x.len() == cols and the weight, scales and
            // zero points match the layout (check_q8); the block's rows lie below rows.
            Isa::Avx512 => unsafe { x86::avx512::gemv_q8(x, m, r0, o) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { x86::avx2::gemv_q8(x, m, r0, o) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Isa::Neon => unsafe { arm::neon::gemv_q8(x, m, r0, o) },
            _ => {
                for (j, v) in o.iter_mut().enumerate() {
                    let (q, s, z) = m.row(r0 + j);
                    *v = dot_q8_row(x, q, s, z, layout.group);
                }
            }
        },
        |r0, o| match isa.float_family() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `isa` was checked available; x.len() == batch·cols and the weight, scales
            // and zero points match the layout; the block's rows lie below rows.
            Isa::Avx512 => unsafe { x86::avx512::gemm_q8(a, m, r0, o) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { x86::avx2::gemm_q8(a, m, r0, o) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Isa::Neon => unsafe { arm::neon::gemm_q8(a, m, r0, o) },
            _ => gemm_q8_scalar_block(x, batch, m, r0, o),
        },
    );
    Ok(())
}

/// The scalar batch-N reference over a block: one dequantized row reused across the batch.
fn gemm_q8_scalar_block(x: &[f32], batch: usize, m: Q8<'_>, r0: usize, o: &mut [f32]) {
    let (cols, group) = (m.layout.cols, m.layout.group);
    let mut row = vec![0.0f32; cols];
    for (j, ot) in o.chunks_exact_mut(batch).enumerate() {
        let (q, s, z) = m.row(r0 + j);
        for (g, (dst, src)) in row.chunks_mut(group).zip(q.chunks(group)).enumerate() {
            let zg = z.get(g).map_or(0.0, |&v| f32::from(v));
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = s[g] * (f32::from(v) - zg);
            }
        }
        for (i, xi) in x.chunks_exact(cols).enumerate() {
            ot[i] = super::float::dot_f32_unchecked(xi, &row);
        }
    }
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
