//! int4 weights packed two per byte, unpacked inside the kernel.
//!
//! A (rows × cols) matrix of 4-bit codes `u ∈ [0, 15]` is stored row by row, each row in
//! `⌈cols/2⌉` bytes: column `2b` in the low nibble of byte `b`, column `2b + 1` in the high
//! nibble (a trailing odd column leaves the high nibble 0). A weight is `ŵ = s_g·(u − z_g)` with
//! the group's scale `s_g` and zero point `z_g ∈ [0, 15]`; symmetric weights use `z = 8`, so
//! the signed code `u − 8` spans [−8, 7]. Scales are f16, as in GGML's Q4_0 blocks, so a group
//! of 32 costs 16 + 2 bytes (4.5 bits per weight).

use half::f16;

#[cfg(target_arch = "aarch64")]
use super::arm;
use super::blocks::Q4;
use super::simd::{pack_transpose, Acts};
#[cfg(target_arch = "x86_64")]
use super::x86;
use super::{check_len, run_rows, Dims, GroupLayout, Isa};
use crate::error::{Error, Result};

/// Zero point of symmetric int4 codes: `u − 8 ∈ [−8, 7]`.
pub const SYMMETRIC_ZERO: u8 = 8;

/// Bytes of one packed row of `cols` codes.
pub fn packed_row_bytes(cols: usize) -> usize {
    cols.div_ceil(2)
}

/// Packs codes (rows × cols, each in [0, 15]) two per byte. Errors on a code above 15 or a
/// length that is not rows·cols.
pub fn pack_int4(codes: &[u8], rows: usize, cols: usize) -> Result<Vec<u8>> {
    let n = crate::limits::product("pack_int4", &[rows, cols])?;
    check_len("pack_int4 codes", n, codes.len())?;
    if let Some(bad) = codes.iter().find(|&&c| c > 15) {
        return Err(Error::param(
            "codes",
            format!("int4 code {bad} is above 15"),
        ));
    }
    let stride = packed_row_bytes(cols);
    // rows·stride ≤ rows·cols = codes.len() (stride ≤ cols, or rows·0): no overflow.
    let mut out = vec![0u8; rows * stride];
    if cols == 0 {
        return Ok(out);
    }
    for (src, dst) in codes
        .chunks_exact(cols)
        .zip(out.chunks_exact_mut(stride.max(1)))
    {
        for (pair, d) in src.chunks(2).zip(dst.iter_mut()) {
            *d = pair[0] | pair.get(1).map_or(0, |&h| h << 4);
        }
    }
    Ok(out)
}

/// The code at column `c` of a packed row (`c < 2·row.len()`, checked by callers).
#[inline]
pub(crate) fn code_at(row: &[u8], c: usize) -> u8 {
    let b = row[c / 2];
    if c.is_multiple_of(2) {
        b & 0x0F
    } else {
        b >> 4
    }
}

/// Checks the layout, the activation (`batch` rows), packed weight and output lengths, and the
/// scale and zero-point lengths of an int4 product named `op`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_q4(
    op: &'static str,
    x: &[f32],
    batch: usize,
    packed: &[u8],
    scales: &[f16],
    zeros: &[u8],
    layout: GroupLayout,
    out: &[f32],
) -> Result<()> {
    layout.check()?;
    let (rows, cols) = (layout.rows, layout.cols);
    let row_len = packed_row_bytes(cols);
    Dims { batch, rows, cols }.check(op, x.len(), row_len, packed.len(), out.len())?;
    check_len("int4 scales", layout.n_scales(), scales.len())?;
    if !zeros.is_empty() {
        check_len("int4 zero points", layout.n_scales(), zeros.len())?;
    }
    Ok(())
}

/// `Σ_g s_g · Σ_{k∈g} x_k·(u_k − z_g)` for one packed row.
#[inline]
pub(crate) fn dot_q4_row(x: &[f32], row: &[u8], scales: &[f16], zeros: &[u8], group: usize) -> f32 {
    let mut total = 0.0f32;
    if group.is_multiple_of(2) {
        // Every group starts on a byte boundary: unpack a tile of codes (two per byte) into
        // f32 registers, then a lane-parallel dot product.
        let mut tile = [0.0f32; 64];
        for (g, (xg, bg)) in x.chunks(group).zip(row.chunks(group / 2)).enumerate() {
            let z = f32::from(zeros.get(g).copied().unwrap_or(SYMMETRIC_ZERO));
            let mut acc = 0.0f32;
            for (xt, bt) in xg.chunks(64).zip(bg.chunks(32)) {
                for (pair, &b) in tile.chunks_exact_mut(2).zip(bt) {
                    pair[0] = f32::from(b & 0x0F) - z;
                    pair[1] = f32::from(b >> 4) - z;
                }
                acc += super::float::dot_f32_unchecked(xt, &tile[..xt.len()]);
            }
            total += scales[g].to_f32() * acc;
        }
    } else {
        // Odd group (a per-row layout of odd width): unpack code by code.
        for (g, xg) in x.chunks(group).enumerate() {
            let z = f32::from(zeros.get(g).copied().unwrap_or(SYMMETRIC_ZERO));
            let acc: f32 = xg
                .iter()
                .enumerate()
                .map(|(i, &xv)| xv * (f32::from(code_at(row, g * group + i)) - z))
                .sum();
            total += scales[g].to_f32() * acc;
        }
    }
    total
}

/// `out = X·Ŵᵀ` for f32 `x` (batch × cols) and packed int4 weights (rows × cols) with
/// `ŵ = s·(u − z)`; `zeros` empty means symmetric (`z = 8`). `out` (batch × rows) is
/// overwritten. Runs on [`Isa::best`] ([`gemm_q4_f32_on`] picks the path); the SIMD batch-1
/// path unpacks groups that are a multiple of 16 (AVX2) or 32 (AVX-512) columns in registers,
/// other group sizes use the scalar row.
pub fn gemm_q4_f32(
    x: &[f32],
    batch: usize,
    packed: &[u8],
    scales: &[f16],
    zeros: &[u8],
    layout: GroupLayout,
    out: &mut [f32],
) -> Result<()> {
    gemm_q4_f32_on(Isa::best(), x, batch, packed, scales, zeros, layout, out)
}

/// [`gemm_q4_f32`] on a chosen path (an error if the CPU lacks it).
#[allow(clippy::too_many_arguments)]
pub fn gemm_q4_f32_on(
    isa: Isa,
    x: &[f32],
    batch: usize,
    packed: &[u8],
    scales: &[f16],
    zeros: &[u8],
    layout: GroupLayout,
    out: &mut [f32],
) -> Result<()> {
    let isa = isa.check()?;
    check_q4("gemm_q4_f32", x, batch, packed, scales, zeros, layout, out)?;
    let m = Q4 {
        packed,
        scales,
        zeros,
        layout,
    };
    // The SIMD batch-1 path needs groups of whole 2·LANES-column blocks; it reads x split
    // (`split_x`) with the group sums of x, both made once here for every row.
    let lanes = isa.lanes();
    let split = batch == 1 && lanes > 0 && layout.group.is_multiple_of(2 * lanes);
    let (xs, gsum) = if split {
        (split_x(x, lanes), group_sums(x, layout.group))
    } else {
        (Vec::new(), Vec::new())
    };
    let xt = pack_transpose(x, batch, layout.cols, lanes);
    let a = Acts { x, batch, xt: &xt };
    run_rows(
        batch,
        layout.rows,
        layout.cols,
        out,
        |r0, o| match isa.float_family() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `isa` was checked available; `split` guarantees groups of whole
            // 2·LANES blocks, `xs`/`gsum` were made for this layout, the packed codes, scales
            // and zero points match it (check_q4) and the block's rows lie below rows.
            Isa::Avx512 if split => unsafe { x86::int4::gemv_q4_table(&xs, &gsum, m, r0, o) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 if split => unsafe { x86::avx2::gemv_q4(&xs, &gsum, m, r0, o) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Isa::Neon if split => unsafe { arm::neon::gemv_q4(&xs, &gsum, m, r0, o) },
            _ => {
                for (j, v) in o.iter_mut().enumerate() {
                    let (row, s, z) = m.row(r0 + j);
                    *v = dot_q4_row(x, row, s, z, layout.group);
                }
            }
        },
        |r0, o| match isa.float_family() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `isa` was checked available; x.len() == batch·cols and the codes, scales
            // and zero points match the layout; the block's rows lie below rows.
            Isa::Avx512 => unsafe { x86::avx512::gemm_q4(a, m, r0, o) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { x86::avx2::gemm_q4(a, m, r0, o) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Isa::Neon => unsafe { arm::neon::gemm_q4(a, m, r0, o) },
            _ => gemm_q4_scalar_block(x, batch, m, r0, o),
        },
    );
    Ok(())
}

/// `x` reordered in blocks of `2·lanes` columns, the block's even columns first, then its odd
/// ones: the order of the low and high nibbles of `lanes` packed bytes (`x.len()` a multiple
/// of `2·lanes`).
fn split_x(x: &[f32], lanes: usize) -> Vec<f32> {
    let mut xs = vec![0.0f32; x.len()];
    for (src, dst) in x
        .chunks_exact(2 * lanes)
        .zip(xs.chunks_exact_mut(2 * lanes))
    {
        split_pairs(src, dst);
    }
    xs
}

/// `dst` = the even-index elements of `src`, then the odd-index ones (equal even lengths): the
/// order of the low and the high nibbles of `src.len()/2` packed bytes.
pub(crate) fn split_pairs<T: Copy>(src: &[T], dst: &mut [T]) {
    let (even, odd) = dst.split_at_mut(dst.len() / 2);
    for ((pair, e), o) in src.chunks_exact(2).zip(even).zip(odd) {
        *e = pair[0];
        *o = pair[1];
    }
}

/// `Σ_{k∈g} x_k` for each group of `group` columns.
fn group_sums(x: &[f32], group: usize) -> Vec<f32> {
    x.chunks_exact(group).map(|g| g.iter().sum()).collect()
}

/// The scalar batch-N reference over a block: one dequantized row reused across the batch.
fn gemm_q4_scalar_block(x: &[f32], batch: usize, m: Q4<'_>, r0: usize, o: &mut [f32]) {
    let (cols, group) = (m.layout.cols, m.layout.group);
    let mut deq = vec![0.0f32; cols];
    for (j, ot) in o.chunks_exact_mut(batch).enumerate() {
        let (row, s, z) = m.row(r0 + j);
        for (c, d) in deq.iter_mut().enumerate() {
            let g = c / group;
            let zg = f32::from(z.get(g).copied().unwrap_or(SYMMETRIC_ZERO));
            *d = s[g].to_f32() * (f32::from(code_at(row, c)) - zg);
        }
        for (i, xi) in x.chunks_exact(cols).enumerate() {
            ot[i] = super::float::dot_f32_unchecked(xi, &deq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn pack_round_trips_and_rejects_wide_codes() {
        let mut rng = StdRng::seed_from_u64(2);
        for &(rows, cols) in &[(1, 1), (3, 7), (2, 32), (0, 5), (4, 0)] {
            let codes: Vec<u8> = (0..rows * cols)
                .map(|_| rng.random_range(0..16u8))
                .collect();
            let packed = pack_int4(&codes, rows, cols).unwrap();
            assert_eq!(packed.len(), rows * cols.div_ceil(2));
            for r in 0..rows {
                let row = &packed[r * packed_row_bytes(cols)..(r + 1) * packed_row_bytes(cols)];
                for c in 0..cols {
                    assert_eq!(code_at(row, c), codes[r * cols + c]);
                }
            }
        }
        assert!(pack_int4(&[16], 1, 1).is_err());
    }

    #[test]
    fn q4_gemm_matches_dequantized_reference() {
        let mut rng = StdRng::seed_from_u64(3);
        for &(batch, rows, cols, group, per_tensor, asym) in &[
            (1, 1, 7, 7, true, false),
            (1, 3, 13, 13, false, true),
            (2, 3, 13, 13, false, false),
            (4, 5, 64, 32, false, false),
            (3, 2, 96, 32, false, true),
            (1, 6, 128, 64, false, true),
            (1, 0, 8, 8, false, false),
        ] {
            let layout = GroupLayout {
                rows,
                cols,
                group,
                per_tensor,
            };
            let codes: Vec<u8> = (0..rows * cols)
                .map(|_| rng.random_range(0..16u8))
                .collect();
            let packed = pack_int4(&codes, rows, cols).unwrap();
            let scales: Vec<f16> = (0..layout.n_scales())
                .map(|_| f16::from_f32(rng.random_range(0.01..0.1f32)))
                .collect();
            let zeros: Vec<u8> = if asym {
                (0..layout.n_scales())
                    .map(|_| rng.random_range(0..16u8))
                    .collect()
            } else {
                vec![]
            };
            let x: Vec<f32> = (0..batch * cols)
                .map(|_| rng.random_range(-1.0..1.0f32))
                .collect();
            let mut out = vec![0.0; batch * rows];
            gemm_q4_f32(&x, batch, &packed, &scales, &zeros, layout, &mut out).unwrap();
            for i in 0..batch {
                for r in 0..rows {
                    let mut want = 0.0f64;
                    for c in 0..cols {
                        let si = if per_tensor {
                            0
                        } else {
                            r * (cols / group) + c / group
                        };
                        let z = zeros.get(si).copied().unwrap_or(SYMMETRIC_ZERO);
                        want += f64::from(x[i * cols + c])
                            * f64::from(scales[si].to_f32())
                            * (f64::from(codes[r * cols + c]) - f64::from(z));
                    }
                    let got = f64::from(out[i * rows + r]);
                    assert!(
                        (got - want).abs() < 1e-4,
                        "({batch},{rows},{cols}) {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        let layout = GroupLayout {
            rows: 2,
            cols: 8,
            group: 4,
            per_tensor: false,
        };
        let scales = vec![f16::ONE; 4];
        let mut out = vec![0.0; 2];
        assert!(gemm_q4_f32(&[0.0; 8], 1, &[0; 7], &scales, &[], layout, &mut out).is_err());
        assert!(gemm_q4_f32(&[0.0; 8], 1, &[0; 8], &scales[..3], &[], layout, &mut out).is_err());
        assert!(gemm_q4_f32(&[0.0; 8], 1, &[0; 8], &scales, &[], layout, &mut out).is_ok());
    }
}
