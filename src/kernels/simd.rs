//! The float kernels written once over a small vector trait ([`Simd`]) and instantiated per
//! instruction set by thin `#[target_feature]` wrappers (the `float_wrappers!` macro in
//! `wrappers.rs`), matrixmultiply's practice. Every function here is `#[inline(always)]` so it is
//! compiled inside the wrapper with the wrapper's features.
//!
//! Accumulation is in f32 with vector lanes, so results differ from the scalar reference in
//! the last bits (rounding order), never in the arithmetic performed.

use half::{bf16, f16};

use super::passes::pass_rows;

/// The vector operations the float kernels need. Implemented by the x86 and aarch64 paths.
///
/// # Safety
///
/// Every method may only run on a CPU with the implementor's instruction set, and every
/// pointer argument must be valid for the number of elements the method reads or writes.
pub(crate) unsafe trait Simd: Copy {
    /// f32 lanes per vector.
    const LANES: usize;
    /// The vector type.
    type V: Copy;
    unsafe fn zero() -> Self::V;
    unsafe fn splat(v: f32) -> Self::V;
    /// `LANES` f32.
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    /// Stores the first `count ≤ LANES` lanes of `v`; writes nothing past them.
    unsafe fn store_partial(p: *mut f32, v: Self::V, count: usize);
    /// `LANES` f16 values, converted.
    unsafe fn load_f16(p: *const u16) -> Self::V;
    /// `LANES` bf16 values, converted.
    unsafe fn load_bf16(p: *const u16) -> Self::V;
    /// `LANES` i8 values, converted.
    unsafe fn load_i8(p: *const i8) -> Self::V;
    /// The first `count ≤ LANES` f32 at `p`, zeros after them; reads nothing past them.
    unsafe fn load_partial(p: *const f32, count: usize) -> Self::V;
    /// `LANES` bytes of packed int4 codes as `2·LANES` f32 in column order (low nibble of byte
    /// `b` = column `2b`): (columns 0..LANES, columns LANES..2·LANES).
    unsafe fn load_u4(p: *const u8) -> (Self::V, Self::V);
    /// `LANES` bytes of packed int4 codes as (low nibbles, high nibbles), each `LANES` f32 in
    /// byte order: (columns 0, 2, 4, …; columns 1, 3, 5, …).
    unsafe fn load_u4_split(p: *const u8) -> (Self::V, Self::V);
    /// A hint to fetch the cache line at `p` (any address: prefetches never fault).
    unsafe fn prefetch(p: *const u8);
    /// `a·b + c`.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn hsum(v: Self::V) -> f32;
}

/// A weight element the float kernels convert to f32 in registers.
pub(crate) trait Wt: Copy + Sync {
    fn to_f32(self) -> f32;
    /// The slice itself when the weights are already f32 (read in place, no panel).
    fn as_f32(w: &[Self]) -> Option<&[f32]> {
        let _ = w;
        None
    }
    /// # Safety
    /// `p` valid for `S::LANES` elements, CPU supports `S`.
    unsafe fn load<S: Simd>(p: *const Self) -> S::V;
}

impl Wt for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
    fn as_f32(w: &[f32]) -> Option<&[f32]> {
        Some(w)
    }
    #[inline(always)]
    unsafe fn load<S: Simd>(p: *const Self) -> S::V {
        S::load(p)
    }
}

impl Wt for f16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    #[inline(always)]
    unsafe fn load<S: Simd>(p: *const Self) -> S::V {
        S::load_f16(p.cast())
    }
}

impl Wt for bf16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    #[inline(always)]
    unsafe fn load<S: Simd>(p: *const Self) -> S::V {
        S::load_bf16(p.cast())
    }
}

impl Wt for i8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    #[inline(always)]
    unsafe fn load<S: Simd>(p: *const Self) -> S::V {
        S::load_i8(p)
    }
}

/// `Σ x_k·(w_k − z)` with four vector accumulators and a scalar tail.
///
/// # Safety
/// CPU supports `S`; `x.len() == w.len()` (the caller's check).
#[inline(always)]
pub(crate) unsafe fn dot<S: Simd, T: Wt>(x: &[f32], w: &[T], z: f32) -> f32 {
    let n = x.len().min(w.len());
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let l = S::LANES;
    let zv = S::splat(z);
    let mut acc = [S::zero(); 4];
    let mut k = 0;
    while k + 4 * l <= n {
        for (u, a) in acc.iter_mut().enumerate() {
            let o = k + u * l;
            *a = S::fmadd(S::load(xp.add(o)), S::sub(T::load::<S>(wp.add(o)), zv), *a);
        }
        k += 4 * l;
    }
    while k + l <= n {
        acc[0] = S::fmadd(
            S::load(xp.add(k)),
            S::sub(T::load::<S>(wp.add(k)), zv),
            acc[0],
        );
        k += l;
    }
    let mut total = S::hsum(S::add(S::add(acc[0], acc[1]), S::add(acc[2], acc[3])));
    for t in k..n {
        total += x[t] * (w[t].to_f32() - z);
    }
    total
}

/// `out[r] = Σ_k x_k·w[r, k]` for a block of rows (`w.len() == out.len()·cols`), four rows at
/// a time, one per quarter of the block: each activation vector feeds four rows, and four
/// weight streams far apart are in flight (see [`super::passes`]).
///
/// # Safety
/// CPU supports `S`; `x.len() == cols`, `w.len() == out.len()·cols`.
#[inline(always)]
pub(crate) unsafe fn rows_dot<S: Simd, T: Wt>(x: &[f32], w: &[T], cols: usize, out: &mut [f32]) {
    if cols == 0 {
        out.fill(0.0);
        return;
    }
    let passes = out.len() / 4;
    let wp = w[..4 * passes * cols].as_ptr();
    for q in 0..passes {
        let rel = pass_rows(q, passes);
        let rp = [
            wp.add(rel[0] * cols),
            wp.add(rel[1] * cols),
            wp.add(rel[2] * cols),
            wp.add(rel[3] * cols),
        ];
        let got = dot4::<S, T>(x, rp, cols);
        for (j, v) in rel.into_iter().zip(got) {
            out[j] = v;
        }
    }
    for (r, o) in out.iter_mut().enumerate().skip(4 * passes) {
        *o = dot::<S, T>(x, &w[r * cols..(r + 1) * cols], 0.0);
    }
}

/// Four dot products `x·w_r` for the rows at `rp` (`cols` weights each), two vector
/// accumulators per row.
///
/// # Safety
/// CPU supports `S`; `x.len() == cols`, each `rp[r]` is valid for `cols` reads.
#[inline(always)]
unsafe fn dot4<S: Simd, T: Wt>(x: &[f32], rp: [*const T; 4], cols: usize) -> [f32; 4] {
    let l = S::LANES;
    let xp = x.as_ptr();
    let mut acc = [[S::zero(); 2]; 4];
    let mut k = 0;
    while k + 2 * l <= cols {
        let x0 = S::load(xp.add(k));
        let x1 = S::load(xp.add(k + l));
        for r in 0..4 {
            acc[r][0] = S::fmadd(x0, T::load::<S>(rp[r].add(k)), acc[r][0]);
            acc[r][1] = S::fmadd(x1, T::load::<S>(rp[r].add(k + l)), acc[r][1]);
        }
        k += 2 * l;
    }
    let mut res = [0.0f32; 4];
    for ((o, a), p) in res.iter_mut().zip(&acc).zip(rp) {
        let mut t = S::hsum(S::add(a[0], a[1]));
        for (u, &xv) in x.iter().enumerate().take(cols).skip(k) {
            t += xv * (*p.add(u)).to_f32();
        }
        *o = t;
    }
    res
}

/// One int8 row `Σ_g s_g·Σ_{k∈g} x_k·(q_k − z_g)`; groups that are a multiple of two vectors
/// run [`rows_q8`], others go group by group.
///
/// # Safety
/// CPU supports `S`; `x.len() == q.len()`, `group ≥ 1` divides it, `scales` (and `zeros`, if
/// not empty) have one entry per group.
#[inline(always)]
pub(crate) unsafe fn row_q8<S: Simd>(
    x: &[f32],
    q: &[i8],
    scales: &[f32],
    zeros: &[i8],
    group: usize,
) -> f32 {
    if group.is_multiple_of(2 * S::LANES) {
        return if zeros.is_empty() {
            rows_q8::<S, 1, false>(x, [q], [scales], [zeros], group)[0]
        } else {
            rows_q8::<S, 1, true>(x, [q], [scales], [zeros], group)[0]
        };
    }
    let zf = |g: usize| zeros.get(g).map_or(0.0, |&z| f32::from(z));
    let mut total = 0.0;
    for (g, (xg, qg)) in x.chunks(group).zip(q.chunks(group)).enumerate() {
        total += scales[g] * dot::<S, i8>(xg, qg, zf(g));
    }
    total
}

/// `R` int8 rows at once (four: one pass of [`super::passes`]): each activation vector feeds
/// the `R` rows, `R` weight streams are in flight, and each stream prefetches its next row.
/// `Σ_g s_g·Σ_{k∈g} x_k·(q_k − z_g)` per row, the zero points subtracted only when `ZP`.
///
/// # Safety
/// CPU supports `S`; `x.len() == rows[r].len()` for each row, `group ≥ 1` divides it and is a
/// multiple of `2·LANES`, `scales[r]` (and `zeros[r]` when `ZP`) have one entry per group.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub(crate) unsafe fn rows_q8<S: Simd, const R: usize, const ZP: bool>(
    x: &[f32],
    rows: [&[i8]; R],
    scales: [&[f32]; R],
    zeros: [&[i8]; R],
    group: usize,
) -> [f32; R] {
    let l = S::LANES;
    let cols = x.len();
    let n_groups = cols / group;
    let xp = x.as_ptr();
    let mut rp = [std::ptr::null::<i8>(); R];
    for r in 0..R {
        rp[r] = rows[r].as_ptr();
    }
    let mut total = [S::zero(); R];
    for g in 0..n_groups {
        let mut zv = [S::zero(); R];
        if ZP {
            for r in 0..R {
                zv[r] = S::splat(f32::from(zeros[r][g]));
            }
        }
        let mut acc = [[S::zero(); 2]; R];
        let mut k = g * group;
        let end = k + group;
        while k < end {
            let (x0, x1) = (S::load(xp.add(k)), S::load(xp.add(k + l)));
            for r in 0..R {
                // This stream's next row, the same columns (a prefetch never faults).
                S::prefetch(rp[r].wrapping_add(k + cols).cast());
                let (mut w0, mut w1) = (S::load_i8(rp[r].add(k)), S::load_i8(rp[r].add(k + l)));
                if ZP {
                    w0 = S::sub(w0, zv[r]);
                    w1 = S::sub(w1, zv[r]);
                }
                acc[r][0] = S::fmadd(x0, w0, acc[r][0]);
                acc[r][1] = S::fmadd(x1, w1, acc[r][1]);
            }
            k += 2 * l;
        }
        for r in 0..R {
            let a = S::add(acc[r][0], acc[r][1]);
            total[r] = S::fmadd(a, S::splat(scales[r][g]), total[r]);
        }
    }
    let mut out = [0.0f32; R];
    for r in 0..R {
        out[r] = S::hsum(total[r]);
    }
    out
}

/// One packed int4 row (see [`crate::kernels::int4`]) against the split activations of
/// [`crate::kernels::int4`]'s batch-1 path: `xs` holds `x` in blocks of `2·LANES` columns, the
/// even columns of the block first, then the odd ones, so the low and the high nibbles of
/// `LANES` packed bytes meet their activations without a shuffle. The zero point is folded out,
/// `Σ_g s_g·(Σ_{k∈g} x_k·u_k − z_g·Σ_{k∈g} x_k)`, with the group sums `gsum` of `x` computed once
/// per call.
///
/// `R` rows at once (each activation group feeds `R` rows; `R` weight streams in flight).
/// (Indexed loops over the `R` rows: iterator closures would not inherit target features.)
///
/// # Safety
/// CPU supports `S`; each `rows[r].len() == xs.len()/2`, `group` is a multiple of `2·LANES`
/// dividing `xs.len()`, each `scales[r]`, `gsum` (and `zeros[r]`, if not empty) have one entry
/// per group.
#[inline(always)]
#[allow(clippy::needless_range_loop)]
pub(crate) unsafe fn row_q4_split<S: Simd, const R: usize>(
    xs: &[f32],
    rows: [&[u8]; R],
    scales: [&[f16]; R],
    zeros: [&[u8]; R],
    gsum: &[f32],
    group: usize,
) -> [f32; R] {
    const CHUNK: usize = 64;
    let l = S::LANES;
    let xp = xs.as_ptr();
    let sym = S::splat(f32::from(super::int4::SYMMETRIC_ZERO));
    let n_groups = scales[0].len();
    let mut total = [S::zero(); R];
    let mut corr = [S::zero(); R];
    let mut corr_tail = [0.0f32; R];
    let mut sbuf = [[0.0f32; CHUNK]; R];
    for g0 in (0..n_groups).step_by(CHUNK) {
        let n = (n_groups - g0).min(CHUNK);
        // Each row's f16 scales for the chunk to f32, LANES at a time, and its zero-point
        // correction Σ s·z·Σx.
        for r in 0..R {
            let (sc, zr) = (scales[r], zeros[r]);
            let mut p = 0;
            while p + l <= n {
                let s = S::load_f16(sc.as_ptr().add(g0 + p).cast());
                S::store(sbuf[r].as_mut_ptr().add(p), s);
                let z = if zr.is_empty() {
                    sym
                } else {
                    S::load_i8(zr.as_ptr().add(g0 + p).cast())
                };
                corr[r] = S::fmadd(S::mul(s, z), S::load(gsum.as_ptr().add(g0 + p)), corr[r]);
                p += l;
            }
            for q in p..n {
                let s = sc[g0 + q].to_f32();
                sbuf[r][q] = s;
                let z = zr
                    .get(g0 + q)
                    .copied()
                    .unwrap_or(super::int4::SYMMETRIC_ZERO);
                corr_tail[r] += s * f32::from(z) * gsum[g0 + q];
            }
        }
        for q in 0..n {
            for r in 0..R {
                let rp = rows[r].as_ptr();
                // The same group of this stream's next row (the row of the next pass, see
                // `passes`): short rows outrun the hardware prefetcher.
                S::prefetch(rp.wrapping_add((g0 + q) * group / 2 + rows[r].len()));
                let d = q4_group_dot::<S>(xp, rp, group, g0 + q);
                total[r] = S::fmadd(d, S::splat(sbuf[r][q]), total[r]);
            }
        }
    }
    let mut out = [0.0f32; R];
    for r in 0..R {
        out[r] = S::hsum(total[r]) - (S::hsum(corr[r]) + corr_tail[r]);
    }
    out
}

/// `Σ_{k∈g} xs_k·u_k` for group `g` of a row (see [`row_q4_split`]): two nibble vectors per
/// `LANES` packed bytes. (A function, not a closure: closures do not inherit the caller's
/// target features, and the intrinsics would not inline.)
///
/// # Safety
/// As [`row_q4_split`], for group `g` of the row.
#[inline(always)]
unsafe fn q4_group_dot<S: Simd>(xp: *const f32, bp: *const u8, group: usize, g: usize) -> S::V {
    let l = S::LANES;
    let mut k = g * group;
    let end = k + group;
    let (lo, hi) = S::load_u4_split(bp.add(k / 2));
    let mut acc = S::fmadd(S::load(xp.add(k + l)), hi, S::mul(S::load(xp.add(k)), lo));
    k += 2 * l;
    while k < end {
        let (lo, hi) = S::load_u4_split(bp.add(k / 2));
        acc = S::fmadd(S::load(xp.add(k)), lo, acc);
        acc = S::fmadd(S::load(xp.add(k + l)), hi, acc);
        k += 2 * l;
    }
    acc
}

/// Converts `w` to f32 into `dst` as `(w − z)·s` (lengths equal).
///
/// # Safety
/// CPU supports `S`; `dst.len() == w.len()`.
#[inline(always)]
pub(crate) unsafe fn deq<S: Simd, T: Wt>(w: &[T], z: f32, s: f32, dst: &mut [f32]) {
    let n = w.len().min(dst.len());
    let l = S::LANES;
    let (zv, sv) = (S::splat(z), S::splat(s));
    let (wp, dp) = (w.as_ptr(), dst.as_mut_ptr());
    let mut k = 0;
    while k + l <= n {
        S::store(dp.add(k), S::mul(S::sub(T::load::<S>(wp.add(k)), zv), sv));
        k += l;
    }
    for (d, v) in dst[k..n].iter_mut().zip(&w[k..n]) {
        *d = (v.to_f32() - z) * s;
    }
}

/// Unpacks int4 codes `[c0, c0 + dst.len())` of a packed row as `(u − z)·s` into `dst`
/// (`c0` even).
///
/// # Safety
/// CPU supports `S`; `c0` even and the codes lie in `row`.
#[inline(always)]
pub(crate) unsafe fn deq_q4<S: Simd>(row: &[u8], c0: usize, z: f32, s: f32, dst: &mut [f32]) {
    let n = dst.len();
    let l = S::LANES;
    let (zv, sv) = (S::splat(z), S::splat(s));
    let (bp, dp) = (row.as_ptr().add(c0 / 2), dst.as_mut_ptr());
    let mut k = 0;
    while k + 2 * l <= n {
        let (lo, hi) = S::load_u4(bp.add(k / 2));
        S::store(dp.add(k), S::mul(S::sub(lo, zv), sv));
        S::store(dp.add(k + l), S::mul(S::sub(hi, zv), sv));
        k += 2 * l;
    }
    for (t, d) in dst.iter_mut().enumerate().skip(k) {
        *d = (f32::from(super::int4::code_at(row, c0 + t)) - z) * s;
    }
}

/// The GEMM micro-kernel: for up to `S::MR` rows of `x` (row stride `ldx`) and up to 4 weight
/// rows of `w` (row stride `ldw`), all over `k` columns, adds `Σ_t x[i, t]·w[j, t]` to
/// `out[j·ldo + i]` (or stores it when `first`). Missing rows of a partial tile reuse row 0
/// and their results are dropped.
///
/// # Safety
/// CPU supports `S`; `x` holds `mr` rows and `w` holds `nr` rows of `k` readable values at
/// their strides; `out` holds `nr` rows of `mr` values at stride `ldo`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn tile<S: Simd, const MR: usize>(
    x: *const f32,
    ldx: usize,
    mr: usize,
    w: *const f32,
    ldw: usize,
    nr: usize,
    k: usize,
    out: *mut f32,
    ldo: usize,
    first: bool,
) {
    let a: [*const f32; MR] = std::array::from_fn(|i| x.add(if i < mr { i * ldx } else { 0 }));
    let b: [*const f32; 4] = std::array::from_fn(|j| w.add(if j < nr { j * ldw } else { 0 }));
    let l = S::LANES;
    let mut acc = [[S::zero(); 4]; MR];
    let mut t = 0;
    while t + l <= k {
        let bv = [
            S::load(b[0].add(t)),
            S::load(b[1].add(t)),
            S::load(b[2].add(t)),
            S::load(b[3].add(t)),
        ];
        for i in 0..MR {
            let av = S::load(a[i].add(t));
            for j in 0..4 {
                acc[i][j] = S::fmadd(av, bv[j], acc[i][j]);
            }
        }
        t += l;
    }
    for i in 0..mr.min(MR) {
        for j in 0..nr.min(4) {
            let mut v = S::hsum(acc[i][j]);
            for u in t..k {
                v += *a[i].add(u) * *b[j].add(u);
            }
            let o = out.add(j * ldo + i);
            if first {
                *o = v;
            } else {
                *o += v;
            }
        }
    }
}

/// Columns of the weight panel converted per step of the batch-N kernels.
pub const KC: usize = 1024;

/// `out_t[j, i] (+)= Σ_{t<k} x[i, t]·panel[j, t]` for the whole batch (`x` is batch × ldx,
/// `panel` is nr × ldp, `out_t` is nr × batch).
///
/// # Safety
/// CPU supports `S`; `x` holds `batch` rows of stride `ldx ≥ k` readable from its pointer,
/// `panel` holds `nr ≤ 4` rows of stride `ldp ≥ k`, `out_t.len() ≥ nr·batch`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn panel_gemm<S: Simd, const MR: usize>(
    x: *const f32,
    ldx: usize,
    batch: usize,
    panel: *const f32,
    ldp: usize,
    nr: usize,
    k: usize,
    out_t: &mut [f32],
    first: bool,
) {
    let o = out_t.as_mut_ptr();
    let mut i = 0;
    while i < batch {
        let mr = (batch - i).min(MR);
        tile::<S, MR>(
            x.add(i * ldx),
            ldx,
            mr,
            panel,
            ldp,
            nr,
            k,
            o.add(i),
            batch,
            first,
        );
        i += MR;
    }
}

/// Batch-N block with f32 weights read in place: `out_t` (rows × batch) for the `out_t.len() /
/// batch` weight rows of `w` (row stride `cols`).
///
/// # Safety
/// CPU supports `S`; `a` holds `batch·cols` activations (and, if packed, their transpose for
/// `S::LANES`), `w.len() == rows·cols`, `out_t.len() == rows·batch`.
#[inline(always)]
pub(crate) unsafe fn gemm_direct<S: Simd, const MR: usize>(
    a: Acts<'_>,
    w: &[f32],
    cols: usize,
    out_t: &mut [f32],
) {
    let (x, batch) = (a.x, a.batch);
    let rows = out_t.len().checked_div(batch).unwrap_or(0);
    if a.is_packed() {
        bcast_block::<S, InPlace>(a, rows, cols, out_t, Rows::InPlace(w));
        return;
    }
    for j in (0..rows).step_by(4) {
        let nr = (rows - j).min(4);
        let ot = &mut out_t[j * batch..(j + nr) * batch];
        for k0 in (0..cols.max(1)).step_by(KC) {
            let kc = (cols - k0).min(KC);
            let (xp, wp) = (x.as_ptr().add(k0), w.as_ptr().add(j * cols + k0));
            panel_gemm::<S, MR>(xp, cols, batch, wp, cols, nr, kc, ot, k0 == 0);
        }
    }
}

/// Batch-N block with converted weights: `src` writes pieces of its rows as f32 into a
/// panel, which is reused across the whole batch.
///
/// # Safety
/// CPU supports `S`; `a` as in [`gemm_direct`], `out_t.len() == rows·batch`, and `src` has
/// the block's rows over `cols` columns.
#[inline(always)]
pub(crate) unsafe fn gemm_panel<S: Simd, const MR: usize, P: PanelRows>(
    a: Acts<'_>,
    cols: usize,
    out_t: &mut [f32],
    src: &P,
) {
    let (x, batch) = (a.x, a.batch);
    let rows = out_t.len().checked_div(batch).unwrap_or(0);
    if a.is_packed() {
        bcast_block::<S, P>(a, rows, cols, out_t, Rows::Converted(src));
        return;
    }
    let mut panel = vec![0.0f32; 4 * KC];
    for j in (0..rows).step_by(4) {
        let nr = (rows - j).min(4);
        let ot = &mut out_t[j * batch..(j + nr) * batch];
        for k0 in (0..cols.max(1)).step_by(KC) {
            let kc = (cols - k0).min(KC);
            for (jj, p) in panel.chunks_exact_mut(KC).take(nr).enumerate() {
                src.fill::<S>(j + jj, k0, &mut p[..kc]);
            }
            let xp = x.as_ptr().add(k0);
            panel_gemm::<S, MR>(xp, cols, batch, panel.as_ptr(), KC, nr, kc, ot, k0 == 0);
        }
    }
}

/// Columns per step of the broadcast kernel: a `KB × 2·LANES` slab of the packed activations
/// and the block's converted `rows × KB` panel stay in L1 together.
pub(crate) const KB: usize = 128;
/// Weight rows per broadcast tile.
pub(crate) const MRB: usize = 6;
/// Vectors of batch per broadcast tile.
const NVB: usize = 2;

/// The activations of a batch-N product: `x` (batch × cols) and, when the batch fills at
/// least one vector, its transpose packed for the broadcast kernel (see [`pack_transpose`];
/// empty otherwise).
#[derive(Clone, Copy)]
pub(crate) struct Acts<'a> {
    pub(crate) x: &'a [f32],
    pub(crate) batch: usize,
    pub(crate) xt: &'a [f32],
}

impl<'a> Acts<'a> {
    /// Whether the broadcast kernel runs (the transpose is packed).
    #[inline(always)]
    pub(crate) fn is_packed(&self) -> bool {
        !self.xt.is_empty()
    }
}

/// The packed transpose of `x` (batch × cols) for a path of `lanes` f32 lanes: empty on the
/// scalar path or when the batch is below one vector.
///
/// Tile-major: the batch is cut into tiles of `NVB·lanes` columns (the broadcast tile's
/// width, the last one padded with zeros), and each tile is stored as its own (cols × width)
/// matrix, so the rows a tile reads are contiguous. (With one (cols × bp) matrix, batch 128
/// put the rows of a tile 512 bytes apart: a `KB`-row slab fell into 16 of the 64 L1 sets,
/// more lines per set than the cache has ways.)
pub(crate) fn pack_transpose(x: &[f32], batch: usize, cols: usize, lanes: usize) -> Vec<f32> {
    if lanes == 0 || batch < lanes || cols == 0 {
        return Vec::new();
    }
    let tw = NVB * lanes;
    let bp = batch.div_ceil(tw) * tw;
    let mut xt = vec![0.0f32; cols * bp];
    // 64 columns at a time: the (64 × tw) piece of the tile being written stays in L1 while
    // the tile's rows are read into it.
    const B: usize = 64;
    for (t, tile) in xt.chunks_exact_mut(cols * tw).enumerate() {
        let rows = x.chunks_exact(cols).skip(t * tw).take(tw);
        for c0 in (0..cols).step_by(B) {
            let c1 = (c0 + B).min(cols);
            for (u, row) in rows.clone().enumerate() {
                for (c, &v) in (c0..c1).zip(&row[c0..c1]) {
                    tile[c * tw + u] = v;
                }
            }
        }
    }
    xt
}

/// Where [`bcast_block`] reads weight rows: f32 rows in place (row stride `cols`), or rows
/// converted [`KB`] columns at a time into a panel.
enum Rows<'a, P> {
    InPlace(&'a [f32]),
    Converted(&'a P),
}

/// The [`PanelRows`] of f32 weights read in place (never asked to convert).
struct InPlace;

impl PanelRows for InPlace {
    #[inline(always)]
    unsafe fn fill<S: Simd>(&self, _j: usize, _k0: usize, dst: &mut [f32]) {
        dst.fill(0.0);
    }
}

/// The packed batch-N loop over a block of `rows` weight rows: for each step of [`KB`]
/// columns (converting the block's rows into a panel first, if they are not f32), for each
/// tile of `2·LANES` batch columns (its slab of the packed activations stays in L1), for each
/// [`MRB`] rows: [`bcast_tile`].
///
/// # Safety
/// CPU supports `S`; `a` is packed by [`pack_transpose`] for `S::LANES` (tiles of
/// `NVB·LANES` batch columns); in-place rows hold `rows·cols` values, converted ones `rows`
/// rows of `cols`; `out_t.len() == rows·batch`.
#[inline(always)]
unsafe fn bcast_block<S: Simd, P: PanelRows>(
    a: Acts<'_>,
    rows: usize,
    cols: usize,
    out_t: &mut [f32],
    src: Rows<'_, P>,
) {
    let l = S::LANES;
    debug_assert_eq!(
        a.xt.len(),
        cols * a.batch.div_ceil(NVB * l) * NVB * l,
        "transpose packed for another vector width"
    );
    let out = out_t.as_mut_ptr();
    let mut panel = match src {
        Rows::InPlace(_) => Vec::new(),
        Rows::Converted(_) => vec![0.0f32; rows * KB],
    };
    for k0 in (0..cols).step_by(KB) {
        let kc = (cols - k0).min(KB);
        let (base, stride) = match src {
            Rows::InPlace(w) => (w.as_ptr().add(k0), cols),
            Rows::Converted(p) => {
                for (j, dst) in panel.chunks_exact_mut(KB).enumerate() {
                    p.fill::<S>(j, k0, &mut dst[..kc]);
                }
                (panel.as_ptr(), KB)
            }
        };
        let mut i = 0;
        while i < a.batch {
            let nb = (a.batch - i).min(NVB * l);
            // The tile's own (cols × NVB·LANES) block of the packed transpose, row k0.
            let xt = a.xt.as_ptr().add(i * cols + k0 * NVB * l);
            for j in (0..rows).step_by(MRB) {
                let mr = (rows - j).min(MRB);
                let wr: [*const f32; MRB] =
                    std::array::from_fn(|r| base.add((j + if r < mr { r } else { 0 }) * stride));
                let o = out.add(j * a.batch + i);
                bcast_tile::<S>(wr, mr, kc, xt, NVB * l, o, a.batch, nb, k0 == 0);
            }
            i += NVB * l;
        }
    }
}

/// One tile: `out[r, v] (+)= Σ_{t<kc} w[r][t]·xt[t, v]` for `mr ≤ MRB` weight rows (row
/// pointers `wr`; unused ones repeat a valid row) and `nb ≤ 2·LANES` batch columns of the
/// packed activations `xt` (row stride `ldx`); overwrites when `first`, accumulates after.
/// `out` has row stride `ldo`.
///
/// # Safety
/// CPU supports `S`; each `wr[r]` readable for `kc` values; `xt` readable for `kc` rows of
/// `⌈nb/LANES⌉·LANES` values; `out` holds `mr` rows of `nb` values.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn bcast_tile<S: Simd>(
    wr: [*const f32; MRB],
    mr: usize,
    kc: usize,
    xt: *const f32,
    ldx: usize,
    out: *mut f32,
    ldo: usize,
    nb: usize,
    first: bool,
) {
    let l = S::LANES;
    let mut acc = [[S::zero(); NVB]; MRB];
    for t in 0..kc {
        let xrow = xt.add(t * ldx);
        let x0 = S::load(xrow);
        // Every tile row holds NVB·LANES values (the last tile padded with zeros), so the
        // second vector lies inside it; it only matters when the tile has more than LANES.
        let x1 = if nb > l {
            S::load(xrow.add(l))
        } else {
            S::zero()
        };
        for r in 0..MRB {
            let b = S::splat(*wr[r].add(t));
            acc[r][0] = S::fmadd(b, x0, acc[r][0]);
            acc[r][1] = S::fmadd(b, x1, acc[r][1]);
        }
    }
    for (r, ar) in acc.iter().enumerate().take(mr) {
        for (v, &av) in ar.iter().enumerate() {
            let off = v * l;
            if off >= nb {
                break;
            }
            let cnt = (nb - off).min(l);
            let o = out.add(r * ldo + off);
            let val = if first {
                av
            } else if cnt == l {
                S::add(av, S::load(o))
            } else {
                S::add(av, S::load_partial(o, cnt))
            };
            if cnt == l {
                S::store(o, val);
            } else {
                S::store_partial(o, val, cnt);
            }
        }
    }
}

/// The pieces of columns `k0..k0 + len` that lie in one scale group each:
/// `(group_index, start_col, end_col)`.
#[inline(always)]
pub(crate) fn group_pieces(
    k0: usize,
    len: usize,
    group: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    // One division for the whole range, then the group index counts up.
    let end = k0 + len;
    let mut c = k0;
    let mut g = k0 / group.max(1);
    std::iter::from_fn(move || {
        (c < end).then(|| {
            let stop = ((g + 1) * group).min(end);
            let piece = (g, c, stop);
            c = stop;
            g += 1;
            piece
        })
    })
}

/// Weight rows converted to f32 a piece at a time for the batch-N kernels. A trait rather
/// than a closure: closures do not inherit the target features of the function they are
/// written in, so SIMD code inside one compiles to out-of-line calls (measured 3× slower).
pub(crate) trait PanelRows {
    /// Writes columns `k0..k0 + dst.len()` of block row `j` as f32.
    ///
    /// # Safety
    /// CPU supports `S`; the row and the columns exist.
    unsafe fn fill<S: Simd>(&self, j: usize, k0: usize, dst: &mut [f32]);
}

/// Streams of the bandwidth probe [`sum`].
const SUM_STREAMS: usize = 16;

/// `Σ x_k` over [`SUM_STREAMS`] streams at once (the sixteenths of `x`), one vector
/// accumulator each: the bandwidth probe. Fewer streams leave DRAM bandwidth unused (one
/// stream read slower than the four-row GEMVs; four streams, what the kernels keep in flight,
/// read ~10% less than sixteen on the development machine), and the probe is meant to be the
/// most a plain read gets.
///
/// # Safety
/// CPU supports `S`.
#[inline(always)]
pub(crate) unsafe fn sum<S: Simd>(x: &[f32]) -> f32 {
    let l = S::LANES;
    let q = x.len() / SUM_STREAMS / (2 * l) * (2 * l);
    let xp = x.as_ptr();
    let mut acc = [S::zero(); SUM_STREAMS];
    let mut k = 0;
    while k < q {
        for (s, a) in acc.iter_mut().enumerate() {
            let p = xp.add(s * q + k);
            *a = S::add(*a, S::add(S::load(p), S::load(p.add(l))));
        }
        k += 2 * l;
    }
    let mut v = S::zero();
    for a in acc {
        v = S::add(v, a);
    }
    S::hsum(v) + x[SUM_STREAMS * q..].iter().sum::<f32>()
}
