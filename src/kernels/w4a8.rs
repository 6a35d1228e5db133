//! int4 weights × int8 activations (W4A8) at batch 1, the decode case of llama.cpp's
//! `Q4_0 × Q8_0` product: the activations are quantized per block of [`ACT_BLOCK`] columns
//! (symmetric, `s_b = max|x_b| / 127`, codes in [−127, 127]) and every product is integer.
//!
//! For weight rows packed as in [`crate::kernels::int4`] with symmetric codes `u ∈ [0, 15]`
//! (`ŵ = s_g·(u − 8)`), row `r` gives
//!
//! `y_r = Σ_b s_{g(b)}·s_b·Σ_{k∈b} (u_k − 8)·q_k`, with `g(b)` the weight group of block `b`,
//!
//! which is `Σ_k ŵ_k·x̂_k` for the dequantized activations `x̂ = s_b·q`: the same number as the
//! f32-activation kernel run on `x̂`, up to float rounding. The inner sums are exact in i32;
//! the paths differ only in the order of the f32 sums over blocks.
//!
//! The AVX-512-VNNI path takes 64 packed bytes (128 columns) per step: the low and the high
//! nibbles meet the even- and odd-column activation codes (split once per call) in two
//! `vpdpbusd` (u8 × s8, the nibbles are the unsigned operand), each i32 lane then holds 8
//! columns of one block, and one FMA applies the lane's `s_g·s_b`. The `−8` is folded out as
//! `8·Σ_lanes s_g·s_b·Σq`. It needs weight groups of 32 or 64 columns or a multiple of 128;
//! other groups, and the columns past the last whole 128, run the scalar blocks.

use half::f16;

use super::blocks::Q4;
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{int4, run_rows, GroupLayout, Isa};
use crate::error::{Error, Result};

/// Columns per activation scale.
pub const ACT_BLOCK: usize = 32;

/// Columns per step of the SIMD path.
pub(crate) const STEP: usize = 128;

/// Activations quantized per block of [`ACT_BLOCK`] columns.
#[derive(Debug, Clone, PartialEq)]
pub struct ActBlocks {
    /// The codes, in [−127, 127].
    pub codes: Vec<i8>,
    /// One scale per block.
    pub scales: Vec<f32>,
}

impl ActBlocks {
    /// The dequantized activations `x̂ = s_b·q`. Errors ([`Error::ShapeMismatch`]) unless there
    /// are [`ACT_BLOCK`] codes per scale (the fields are public, so the blocks may not be the
    /// ones [`quantize_blocks`] made).
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        let n = crate::limits::product("ActBlocks::dequantize", &[self.scales.len(), ACT_BLOCK])?;
        super::check_len("ActBlocks codes", n, self.codes.len())?;
        Ok(self
            .codes
            .chunks_exact(ACT_BLOCK)
            .zip(&self.scales)
            .flat_map(|(qb, &s)| qb.iter().map(move |&q| s * f32::from(q)))
            .collect())
    }
}

/// Quantizes `x` per block of [`ACT_BLOCK`] columns: `s = max|x| / 127` (1 when that is 0:
/// an all-zero block, or one whose values are so small that the division underflows),
/// `q = round(x / s)` (half away from zero). Errors on a width that is not a multiple
/// of the block ([`Error::InvalidParam`]) or on NaN/Inf ([`Error::NonFinite`]).
pub fn quantize_blocks(x: &[f32]) -> Result<ActBlocks> {
    quantize_blocks_on(Isa::best(), x)
}

/// The scale of a block whose largest magnitude is `m`: `m / 127`, or 1 when that is 0 (an
/// all-zero block, or one so small that `m / 127` underflows).
#[inline]
pub(crate) fn block_scale(m: f32) -> f32 {
    let s = m / 127.0;
    if s > 0.0 {
        s
    } else {
        1.0
    }
}

/// [`quantize_blocks`] on a chosen path (an error if the CPU lacks it): one fused pass on
/// AVX-512, block by block through the SIMD range and quantizer elsewhere (the same codes and
/// scales on every path).
pub(crate) fn quantize_blocks_on(isa: Isa, x: &[f32]) -> Result<ActBlocks> {
    let isa = isa.check()?;
    if !x.len().is_multiple_of(ACT_BLOCK) {
        return Err(Error::param(
            "x",
            format!("width {} is not a multiple of {ACT_BLOCK}", x.len()),
        ));
    }
    // Found by the range pass each path makes anyway (no separate finiteness pass).
    let non_finite = || Error::NonFinite("W4A8 activations".into());
    let mut codes = vec![0i8; x.len()];
    #[cfg(target_arch = "x86_64")]
    if isa.float_family() == Isa::Avx512 {
        let mut scales = vec![0.0f32; x.len() / ACT_BLOCK];
        // SAFETY: the path is available (the caller's `isa` is); x.len() == codes.len() ==
        // ACT_BLOCK·scales.len() (ACT_BLOCK = 32, the kernel's block).
        if unsafe { x86::quantize::act_blocks_avx512(x, &mut codes, &mut scales) } {
            return Ok(ActBlocks { codes, scales });
        }
        return Err(non_finite());
    }
    let mut scales = Vec::with_capacity(x.len() / ACT_BLOCK);
    // The range and the codes through the SIMD quantizer (bit-exact with `quantize_one`): the
    // scalar loop (a serial max chain and a division per value) took ~20 µs for 4096 values,
    // ~4% of a cold 4096² W4A8 product.
    for (xb, qb) in x
        .chunks_exact(ACT_BLOCK)
        .zip(codes.chunks_exact_mut(ACT_BLOCK))
    {
        let (lo, hi) = super::quantize::range_f32_on(isa, xb)?.ok_or_else(non_finite)?;
        let s = block_scale(hi.max(-lo));
        super::quantize::quantize_i8_on(isa, xb, s, 0, qb)?;
        for q in qb.iter_mut() {
            *q = (*q).max(-127);
        }
        scales.push(s);
    }
    Ok(ActBlocks { codes, scales })
}

/// `out = Ŵ·x̂` for packed symmetric int4 weights (rows × cols, scales per `layout`) and the
/// activations `x` quantized by [`quantize_blocks`]. Runs on [`Isa::best`].
pub fn gemv_q4_i8(
    x: &[f32],
    packed: &[u8],
    scales: &[f16],
    layout: GroupLayout,
    out: &mut [f32],
) -> Result<()> {
    gemv_q4_i8_on(Isa::best(), x, packed, scales, layout, out)
}

/// [`gemv_q4_i8`] on a chosen path (an error if the CPU lacks it). The SIMD path needs
/// AVX-512-VNNI; the others run the scalar blocks.
pub fn gemv_q4_i8_on(
    isa: Isa,
    x: &[f32],
    packed: &[u8],
    scales: &[f16],
    layout: GroupLayout,
    out: &mut [f32],
) -> Result<()> {
    let isa = isa.check()?;
    int4::check_q4("gemv_q4_i8", x, 1, packed, scales, &[], layout, out)?;
    if !layout.group.is_multiple_of(ACT_BLOCK) {
        return Err(Error::param(
            "group",
            format!("W4A8 needs weight groups that are a multiple of {ACT_BLOCK} columns"),
        ));
    }
    let a = quantize_blocks_on(isa, x)?;
    let m = Q4 {
        packed,
        scales,
        zeros: &[],
        layout,
    };
    let group = layout.group;
    let simd = isa == Isa::Avx512Vnni && (group == 32 || group == 64 || group.is_multiple_of(STEP));
    // The split activations, only for the SIMD path (x86_64 only).
    let lanes = simd.then(|| SplitActs::new(&a));
    #[cfg(not(target_arch = "x86_64"))]
    let _ = &lanes;
    run_rows(
        1,
        layout.rows,
        layout.cols,
        out,
        |r0, o| {
            #[cfg(target_arch = "x86_64")]
            if let Some(lanes) = &lanes {
                // SAFETY: `lanes` exists only when `simd`, which implies the CPU has
                // AVX-512-VNNI (checked above); the packed codes and scales match the layout
                // (checked), `lanes` was split from `a` for this width, and the group is one
                // the kernel handles.
                unsafe { x86::w4a8::gemv_vnni512(&a, lanes, m, r0, o) };
                return;
            }
            for (j, v) in o.iter_mut().enumerate() {
                *v = row_blocks(&a, m, r0 + j, 0);
            }
        },
        |_, _| {},
    );
    Ok(())
}

/// Row `r` over the activation blocks from `b0` on, in scalar code (the reference).
pub(crate) fn row_blocks(a: &ActBlocks, m: Q4<'_>, r: usize, b0: usize) -> f32 {
    let (row, s, _) = m.row(r);
    let group = m.layout.group;
    let mut total = 0.0f32;
    for (b, (qb, &sb)) in a
        .codes
        .chunks_exact(ACT_BLOCK)
        .zip(&a.scales)
        .enumerate()
        .skip(b0)
    {
        let mut acc = 0i32;
        for (t, &q) in qb.iter().enumerate() {
            let u = i32::from(int4::code_at(row, b * ACT_BLOCK + t));
            acc += (u - i32::from(int4::SYMMETRIC_ZERO)) * i32::from(q);
        }
        total += s[b * ACT_BLOCK / group].to_f32() * sb * acc as f32;
    }
    total
}

/// The activations arranged for the SIMD path, per step of [`STEP`] columns: the even-column
/// codes then the odd-column codes (64 bytes each), and per i32 lane (8 columns of one block)
/// the block's scale and `scale·Σq` over the lane's columns.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct SplitActs {
    pub(crate) even_odd: Vec<i8>,
    pub(crate) lane_scale: Vec<f32>,
    pub(crate) lane_qsum: Vec<f32>,
}

impl SplitActs {
    fn new(a: &ActBlocks) -> Self {
        let steps = a.codes.len() / STEP;
        let mut even_odd = vec![0i8; steps * STEP];
        let mut lane_scale = vec![0.0f32; steps * 16];
        let mut lane_qsum = vec![0.0f32; steps * 16];
        for (st, (src, dst)) in a
            .codes
            .chunks_exact(STEP)
            .zip(even_odd.chunks_exact_mut(STEP))
            .enumerate()
        {
            int4::split_pairs(src, dst);
            for (lane, cols) in src.chunks_exact(8).enumerate() {
                let sb = a.scales[(st * STEP + lane * 8) / ACT_BLOCK];
                let qsum: i32 = cols.iter().map(|&q| i32::from(q)).sum();
                lane_scale[st * 16 + lane] = sb;
                lane_qsum[st * 16 + lane] = sb * qsum as f32;
            }
        }
        SplitActs {
            even_odd,
            lane_scale,
            lane_qsum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn matches_the_f32_kernel_on_dequantized_activations() {
        let mut rng = StdRng::seed_from_u64(5);
        for &(rows, cols, group) in &[
            (3, 32, 32),
            (5, 128, 32),
            (7, 256 + 96, 32),
            (4, 384, 64),
            (6, 256, 128),
            (2, 96, 96),
            (131, 128, 32),
            (135, 384, 64),
            (261, 256, 128),
        ] {
            let layout = GroupLayout {
                rows,
                cols,
                group,
                per_tensor: false,
            };
            let codes: Vec<u8> = (0..rows * cols).map(|_| rng.random_range(0..16)).collect();
            let packed = int4::pack_int4(&codes, rows, cols).unwrap();
            let scales: Vec<f16> = (0..layout.n_scales())
                .map(|_| f16::from_f32(rng.random_range(0.01..0.1f32)))
                .collect();
            let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-2.0..2.0f32)).collect();
            let a = quantize_blocks(&x).unwrap();
            let xh = a.dequantize().unwrap();
            let mut want = vec![0.0; rows];
            int4::gemm_q4_f32(&xh, 1, &packed, &scales, &[], layout, &mut want).unwrap();
            for isa in Isa::available() {
                let mut got = vec![f32::NAN; rows];
                gemv_q4_i8_on(isa, &x, &packed, &scales, layout, &mut got).unwrap();
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                        "{}: {g} vs {w}",
                        isa.name()
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_bad_input() {
        let layout = GroupLayout {
            rows: 1,
            cols: 32,
            group: 32,
            per_tensor: false,
        };
        let (p, s) = (vec![0u8; 16], vec![f16::ONE]);
        let mut out = vec![0.0; 1];
        assert!(gemv_q4_i8(&[f32::NAN; 32], &p, &s, layout, &mut out).is_err());
        assert!(gemv_q4_i8(&[0.0; 31], &p, &s, layout, &mut out).is_err());
        let odd = GroupLayout {
            group: 16,
            ..layout
        };
        assert!(gemv_q4_i8(&[0.0; 32], &p, &[f16::ONE; 2], odd, &mut out).is_err());
        assert!(gemv_q4_i8(&[1.0; 32], &p, &s, layout, &mut out).is_ok());
        assert!(quantize_blocks(&[0.0; 32])
            .unwrap()
            .codes
            .iter()
            .all(|&q| q == 0));
    }

    #[test]
    fn block_quantization_is_the_scalar_definition() {
        // s = max|x|/127 per 32 columns, q = round(x/s) half away from zero, in [−127, 127]:
        // every path (the fused AVX-512 pass, the per-block SIMD quantizer, the scalar one)
        // must give exactly the scalar codes.
        let mut rng = StdRng::seed_from_u64(21);
        let mut x: Vec<f32> = (0..32 * 8)
            .map(|_| rng.random_range(-3.0..3.0f32))
            .collect();
        x[32..64].fill(0.0);
        x[64] = -3.5;
        x[100] = 2.5;
        // A block with max|x| = 127 (s = 1 exactly) holding ties, one all negative, and two
        // with tiny values: max|x|/127 underflows to 0 (s = 1) or stays subnormal.
        let ties = [0.5, -0.5, 1.5, -2.5, 126.5, -126.5, 0.49999997, 127.0];
        for (t, v) in x[128..160].iter_mut().enumerate() {
            *v = ties[t % ties.len()];
        }
        for v in &mut x[160..192] {
            *v = -v.abs() - 0.25;
        }
        x[192..224].fill(0.0);
        x[192] = 1e-45;
        x[200] = -3e-45;
        x[224..256].fill(f32::MIN_POSITIVE);
        x[230] = -1e-40;
        for isa in Isa::available() {
            let a = quantize_blocks_on(isa, &x).unwrap();
            for (b, xb) in x.chunks_exact(32).enumerate() {
                let m = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let s = m / 127.0;
                let s = if s > 0.0 { s } else { 1.0 };
                assert_eq!(a.scales[b], s);
                for (t, &v) in xb.iter().enumerate() {
                    let want = crate::kernels::quantize::quantize_one(v, s, 0).max(-127);
                    assert_eq!(
                        a.codes[32 * b + t],
                        want,
                        "{} block {b} col {t}",
                        isa.name()
                    );
                }
            }
            // A NaN or an infinity in either half of a block is an error on every path.
            for (at, bad) in [(3, f32::NAN), (40, f32::INFINITY), (63, f32::NEG_INFINITY)] {
                let mut y = x.clone();
                y[at] = bad;
                assert!(quantize_blocks_on(isa, &y).is_err(), "{} {at}", isa.name());
            }
        }
    }
}
