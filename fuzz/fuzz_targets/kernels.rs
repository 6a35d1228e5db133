//! Every public kernel of `shrink::kernels` on shapes and slices decoded from the input, on
//! every instruction-set path the CPU has (`Isa::available()`).
//!
//! Checked: no call panics, aborts or reads/writes out of bounds (the address sanitizer);
//! every path agrees with `Isa::Scalar` on `Ok` versus `Err`; where a call is `Ok` and the
//! inputs are finite, integer results equal the scalar path's exactly and float results agree
//! with it within a bound from the sum of absolute products (checked in f64 by the harness).
//!
//! Dimensions are mostly small (0..72, around the SIMD widths) but now and then huge (2^62,
//! 2^63, `usize::MAX`, ...) to reach the kernels' size checks; the harness never allocates
//! from a huge dimension itself: a slice gets the length the dimensions ask for only when
//! that is small, otherwise a short wrong length (so the kernel must refuse it).
//!
//! Huge dimensions found overflow crashes in the kernels' length checks when this target was
//! written (e.g. `gemm_f32` with batch 2, rows 4, cols 2^63 and empty slices: `batch * cols`
//! wraps to 0, the check passes, the kernel reads out of bounds). Set
//! `SHRINK_FUZZ_HUGE_DIMS=0` to fuzz only small dimensions (the rest of the kernels' behaviour)
//! while those are open.
#![no_main]

use half::{bf16, f16};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use common::huge_dims;
use shrink::kernels::{
    float, int4, int8, quantize, sparse, sparse_packed, sparse_packed::PackedSparse, sum_f32_on,
    w4a8, GroupLayout, Isa,
};

/// Longest slice the harness allocates (elements).
const MAX_LEN: usize = 1 << 14;

/// The dimensions a "huge" byte picks.
const HUGE: [usize; 8] = [
    1 << 62,
    1 << 63,
    usize::MAX,
    1 << 32,
    (1 << 31) + 1,
    1 << 40,
    (usize::MAX >> 1) + 1 + 3,
    65_537,
];

/// Reads the fuzzer's bytes; past the end every byte is 0.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// Mostly 0..72; 1 in 32 a huge value (when enabled).
    fn dim(&mut self) -> usize {
        let b = self.byte();
        if b >= 0xF8 && huge_dims() {
            HUGE[usize::from(b & 7)]
        } else {
            usize::from(b % 72)
        }
    }

    /// The length a slice should have (`want`, when it is computable and small), or now and
    /// then (or when it is not) a short arbitrary length.
    fn len(&mut self, want: Option<usize>) -> usize {
        let b = self.byte();
        match want {
            Some(n) if n <= MAX_LEN && b < 0xF0 => n,
            _ => usize::from(b % 80),
        }
    }

    /// `n` f32 values: "nice" ones (multiples of 1/16 in [-8, 8)) or, when the first byte says
    /// so, raw bit patterns (NaN, infinities, huge and subnormal values).
    fn f32s(&mut self, n: usize) -> Vec<f32> {
        let wild = self.byte() >= 0xE0;
        (0..n)
            .map(|_| {
                if wild {
                    f32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
                } else {
                    f32::from(self.byte() as i8) / 16.0
                }
            })
            .collect()
    }

    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.byte() as i8).collect()
    }

    /// int4 codes: mostly in 0..16, raw bytes when the first byte says so.
    fn codes(&mut self, n: usize) -> Vec<u8> {
        let raw = self.byte() >= 0xF0;
        (0..n)
            .map(|_| if raw { self.byte() } else { self.byte() & 0x0F })
            .collect()
    }

    /// f16 scales: mostly small positive ones, raw bit patterns when the first byte says so.
    fn f16s(&mut self, n: usize) -> Vec<f16> {
        let wild = self.byte() >= 0xE0;
        (0..n)
            .map(|_| {
                if wild {
                    f16::from_bits(u16::from_le_bytes([self.byte(), self.byte()]))
                } else {
                    f16::from_f32(f32::from(self.byte() % 32 + 1) / 64.0)
                }
            })
            .collect()
    }

    /// A group layout over `rows × cols`: mostly per row, per tensor or a divisor of `cols`.
    fn layout(&mut self, rows: usize, cols: usize) -> GroupLayout {
        let b = self.byte();
        let (group, per_tensor) = match b % 8 {
            0 => (cols, true),
            1 => (cols, false),
            2 => (self.dim(), b & 0x80 != 0),
            _ => {
                // A divisor of cols (32 or a multiple, when there is one, for W4A8).
                let options = [32, 64, 2, 4, 8, 16, 1, 3];
                let g = options[usize::from(self.byte() % 8)];
                (if cols.is_multiple_of(g) { g } else { cols }, false)
            }
        };
        GroupLayout {
            rows,
            cols,
            group,
            per_tensor,
        }
    }
}

/// After an `Ok`: the lengths the kernel accepted are the ones its dimensions ask for.
fn check_quant_lens(batch: usize, layout: GroupLayout, x: usize, w: Option<usize>, out: usize) {
    let (rows, cols) = (layout.rows, layout.cols);
    assert_eq!(batch.checked_mul(cols), Some(x), "Ok with a wrong x length");
    if let Some(w) = w {
        assert_eq!(
            rows.checked_mul(cols),
            Some(w),
            "Ok with a wrong weight length"
        );
    }
    assert_eq!(
        batch.checked_mul(rows),
        Some(out),
        "Ok with a wrong out length"
    );
}

fn finite(v: &[f32]) -> bool {
    v.iter().all(|x| x.is_finite())
}

/// Asserts `got` is within rounding of `want`, given the sum of absolute products `bound` of
/// each output (f64, from the harness). Non-finite bounds (overflowing inputs) are skipped.
fn close(what: &str, isa: Isa, got: &[f32], want: &[f32], bound: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (i, ((&g, &w), &b)) in got.iter().zip(want).zip(bound).enumerate() {
        if !(b.is_finite() && b < 1e30) {
            continue;
        }
        let tol = 1e-4 * b + 1e-30;
        assert!(
            (f64::from(g) - f64::from(w)).abs() <= tol,
            "{what} on {}: output {i} is {g}, scalar {w} (bound {b})",
            isa.name()
        );
    }
}

/// The scalar path's output (when `Ok`) and every other path's `Ok` output.
type PathResults<T> = (Option<Vec<T>>, Vec<(Isa, Vec<T>)>);

/// A kernel call on a chosen path, writing into `out`.
type Call = Box<dyn Fn(Isa, &mut [f32]) -> shrink::Result<()>>;

/// Runs `call` on every available path; asserts each agrees with the scalar path on Ok/Err
/// and returns the scalar output and each path's (isa, Ok output).
fn every_path<T: Clone + std::fmt::Debug>(
    out_len: usize,
    fill: T,
    mut call: impl FnMut(Isa, &mut [T]) -> shrink::Result<()>,
) -> PathResults<T> {
    let mut scalar = None;
    let mut scalar_ok = None;
    let mut others = Vec::new();
    for isa in Isa::available() {
        let mut out = vec![fill.clone(); out_len];
        let r = call(isa, &mut out);
        match scalar_ok {
            None => scalar_ok = Some(r.is_ok()),
            Some(ok) => assert_eq!(
                r.is_ok(),
                ok,
                "{} and scalar disagree on Ok/Err: {r:?}",
                isa.name()
            ),
        }
        if r.is_ok() {
            if isa == Isa::Scalar {
                scalar = Some(out);
            } else {
                others.push((isa, out));
            }
        }
    }
    (scalar, others)
}

/// Σ_k |x_ik|·|w_rk| for a (batch × cols) x and (rows × cols) w (only called when the
/// shapes are consistent and small).
fn abs_gemm(x: &[f32], w: &[f32], batch: usize, rows: usize, cols: usize) -> Vec<f64> {
    let mut b = vec![0.0f64; batch * rows];
    for i in 0..batch {
        for r in 0..rows {
            b[i * rows + r] = (0..cols)
                .map(|k| f64::from(x[i * cols + k]).abs() * f64::from(w[r * cols + k]).abs())
                .sum();
        }
    }
    b
}

fn gemm_float(inp: &mut Input, kind: u8) {
    let (batch, rows, cols) = (inp.dim(), inp.dim(), inp.dim());
    let nx = inp.len(batch.checked_mul(cols));
    let nw = inp.len(rows.checked_mul(cols));
    let no = inp.len(batch.checked_mul(rows));
    let x = inp.f32s(nx);
    let w = inp.f32s(nw);
    // The weights as f32 after the conversion each kind makes (for the bound).
    let (w32, run): (Vec<f32>, Call) = match kind {
        0 => (w.clone(), {
            let (x, w) = (x.clone(), w.clone());
            Box::new(move |isa, o| float::gemm_f32_on(isa, &x, batch, &w, rows, cols, o))
        }),
        1 => {
            let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            let w32 = h.iter().map(|v| v.to_f32()).collect();
            let x = x.clone();
            (
                w32,
                Box::new(move |isa, o| float::gemm_f16_f32_on(isa, &x, batch, &h, rows, cols, o)),
            )
        }
        _ => {
            let h: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            let w32 = h.iter().map(|v| v.to_f32()).collect();
            let x = x.clone();
            (
                w32,
                Box::new(move |isa, o| float::gemm_bf16_f32_on(isa, &x, batch, &h, rows, cols, o)),
            )
        }
    };
    let (scalar, others) = every_path(no, f32::NAN, |isa, o| run(isa, o));
    // The public best-path entry points too (no comparison: they are one of the paths).
    let mut o = vec![0.0f32; no];
    let _ = match kind {
        0 => float::gemm_f32(&x, batch, &w, rows, cols, &mut o),
        1 => {
            let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            float::gemm_f16_f32(&x, batch, &h, rows, cols, &mut o)
        }
        _ => {
            let h: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            float::gemm_bf16_f32(&x, batch, &h, rows, cols, &mut o)
        }
    };
    if let Some(want) = scalar {
        assert_eq!(
            batch.checked_mul(rows),
            Some(want.len()),
            "Ok with a wrong out length"
        );
        assert_eq!(
            batch.checked_mul(cols),
            Some(x.len()),
            "Ok with a wrong x length"
        );
        assert_eq!(
            rows.checked_mul(cols),
            Some(w.len()),
            "Ok with a wrong w length"
        );
        if finite(&x) && finite(&w32) {
            let bound = abs_gemm(&x, &w32, batch, rows, cols);
            for (isa, got) in &others {
                close("gemm float", *isa, got, &want, &bound);
            }
        }
    }
}

fn dots(inp: &mut Input) {
    let n = inp.dim();
    let nx = inp.len(Some(n));
    let nw = inp.len(Some(n));
    let x = inp.f32s(nx);
    let w = inp.f32s(nw);
    let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let b: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
    let results = [
        (float::dot_f32(&x, &w), w.clone()),
        (
            float::dot_f16(&x, &h),
            h.iter().map(|v| v.to_f32()).collect(),
        ),
        (
            float::dot_bf16(&x, &b),
            b.iter().map(|v| v.to_f32()).collect(),
        ),
    ];
    for (r, w32) in results {
        assert_eq!(r.is_ok(), x.len() == w.len(), "dot Ok/Err: {r:?}");
        if let (Ok(got), true) = (r, finite(&x) && finite(&w32)) {
            let want: f64 = x
                .iter()
                .zip(&w32)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
            let bound: f64 = x
                .iter()
                .zip(&w32)
                .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
                .sum();
            if bound < 1e30 {
                assert!(
                    (f64::from(got) - want).abs() <= 1e-4 * bound + 1e-30,
                    "dot {got} vs {want}"
                );
            }
        }
    }
    let a = inp.i8s(nx);
    let c = inp.i8s(nw);
    match int8::dot_i8(&a, &c) {
        Ok(v) => {
            let want: i64 = a
                .iter()
                .zip(&c)
                .map(|(&p, &q)| i64::from(p) * i64::from(q))
                .sum();
            assert_eq!(i64::from(v), want, "dot_i8");
        }
        Err(_) => assert!(a.len() != c.len() || a.len() >= int8::MAX_I8_DOT_LEN),
    }
}

fn gemm_i8(inp: &mut Input) {
    let (m, n, k) = (inp.dim(), inp.dim(), inp.dim());
    let na = inp.len(m.checked_mul(k));
    let nb = inp.len(n.checked_mul(k));
    let no = inp.len(m.checked_mul(n));
    let a = inp.i8s(na);
    let b = inp.i8s(nb);
    let (scalar, others) = every_path(no, i32::MIN, |isa, o| {
        int8::gemm_i8_i32_on(isa, &a, &b, m, n, k, o)
    });
    let mut o = vec![0i32; no];
    let _ = int8::gemm_i8_i32(&a, &b, m, n, k, &mut o);
    if let Some(want) = scalar {
        assert_eq!(m.checked_mul(k), Some(a.len()), "Ok with a wrong a length");
        assert_eq!(n.checked_mul(k), Some(b.len()), "Ok with a wrong b length");
        assert_eq!(
            m.checked_mul(n),
            Some(want.len()),
            "Ok with a wrong out length"
        );
        for i in 0..m {
            for j in 0..n {
                let exact: i64 = (0..k)
                    .map(|t| i64::from(a[i * k + t]) * i64::from(b[j * k + t]))
                    .sum();
                assert_eq!(i64::from(want[i * n + j]), exact, "gemm_i8_i32 scalar");
            }
        }
        for (isa, got) in others {
            assert_eq!(got, want, "gemm_i8_i32 on {}", isa.name());
        }
    }
}

/// Σ |x_k|·|s_g|·|q_k − z_g| per output, for a weight given as a code lookup.
fn abs_quant(
    x: &[f32],
    batch: usize,
    layout: GroupLayout,
    scale: impl Fn(usize) -> f64,
    code_minus_zero: impl Fn(usize, usize, usize) -> f64,
) -> Vec<f64> {
    let (rows, cols, group) = (layout.rows, layout.cols, layout.group.max(1));
    let gpr = cols / group;
    let mut out = vec![0.0f64; batch * rows];
    for i in 0..batch {
        for r in 0..rows {
            out[i * rows + r] = (0..cols)
                .map(|c| {
                    let si = if layout.per_tensor {
                        0
                    } else {
                        r * gpr + c / group
                    };
                    f64::from(x[i * cols + c]).abs()
                        * scale(si).abs()
                        * code_minus_zero(r, c, si).abs()
                })
                .sum();
        }
    }
    out
}

fn gemm_q8(inp: &mut Input) {
    let (batch, rows, cols) = (inp.dim(), inp.dim(), inp.dim());
    let layout = inp.layout(rows, cols);
    let n_scales = layout.n_scales();
    let nx = inp.len(batch.checked_mul(cols));
    let nw = inp.len(rows.checked_mul(cols));
    let ns = inp.len(Some(n_scales));
    let asym = inp.byte() & 1 == 1;
    let nz = if asym { inp.len(Some(n_scales)) } else { 0 };
    let no = inp.len(batch.checked_mul(rows));
    let x = inp.f32s(nx);
    let w = inp.i8s(nw);
    let scales = inp.f32s(ns);
    let zeros = inp.i8s(nz);
    let (scalar, others) = every_path(no, f32::NAN, |isa, o| {
        int8::gemm_q8_f32_on(isa, &x, batch, &w, &scales, &zeros, layout, o)
    });
    let mut o = vec![0.0f32; no];
    let _ = int8::gemm_q8_f32(&x, batch, &w, &scales, &zeros, layout, &mut o);
    if let Some(want) = scalar {
        check_quant_lens(batch, layout, x.len(), Some(w.len()), want.len());
        assert_eq!(scales.len(), n_scales, "Ok with a wrong scales length");
        assert!(
            zeros.is_empty() || zeros.len() == n_scales,
            "Ok with wrong zeros"
        );
        if finite(&x) && finite(&scales) {
            let bound = abs_quant(
                &x,
                batch,
                layout,
                |s| f64::from(scales[s]),
                |r, c, s| f64::from(w[r * cols + c]) - zeros.get(s).map_or(0.0, |&z| f64::from(z)),
            );
            for (isa, got) in &others {
                close("gemm_q8_f32", *isa, got, &want, &bound);
            }
        }
    }
}

fn gemm_q4(inp: &mut Input, w4a8_path: bool) {
    let batch = if w4a8_path { 1 } else { inp.dim() };
    let (rows, cols) = (inp.dim(), inp.dim());
    let layout = inp.layout(rows, cols);
    let n_scales = layout.n_scales();
    let nx = inp.len(batch.checked_mul(cols));
    let np = inp.len(rows.checked_mul(int4::packed_row_bytes(cols)));
    let ns = inp.len(Some(n_scales));
    let asym = !w4a8_path && inp.byte() & 1 == 1;
    let nz = if asym { inp.len(Some(n_scales)) } else { 0 };
    let no = inp.len(batch.checked_mul(rows));
    let x = inp.f32s(nx);
    let packed: Vec<u8> = (0..np).map(|_| inp.byte()).collect();
    let scales = inp.f16s(ns);
    let zeros = inp.codes(nz);
    let (scalar, others) = every_path(no, f32::NAN, |isa, o| {
        if w4a8_path {
            w4a8::gemv_q4_i8_on(isa, &x, &packed, &scales, layout, o)
        } else {
            int4::gemm_q4_f32_on(isa, &x, batch, &packed, &scales, &zeros, layout, o)
        }
    });
    let mut o = vec![0.0f32; no];
    let _ = if w4a8_path {
        w4a8::gemv_q4_i8(&x, &packed, &scales, layout, &mut o)
    } else {
        int4::gemm_q4_f32(&x, batch, &packed, &scales, &zeros, layout, &mut o)
    };
    if let Some(want) = scalar {
        assert!(
            rows.checked_mul(int4::packed_row_bytes(cols)) == Some(packed.len()),
            "Ok with a wrong packed length"
        );
        check_quant_lens(batch, layout, x.len(), None, want.len());
        assert_eq!(scales.len(), n_scales, "Ok with a wrong scales length");
        assert!(
            zeros.is_empty() || zeros.len() == n_scales,
            "Ok with wrong zeros"
        );
        let s32: Vec<f32> = scales.iter().map(|s| s.to_f32()).collect();
        if finite(&x) && finite(&s32) {
            let stride = int4::packed_row_bytes(cols);
            let code = |r: usize, c: usize| {
                let b = packed[r * stride + c / 2];
                if c.is_multiple_of(2) {
                    b & 0x0F
                } else {
                    b >> 4
                }
            };
            // W4A8 runs on x quantized per 32 columns: bound with those values.
            let xq = if w4a8_path {
                w4a8::quantize_blocks(&x)
                    .expect("W4A8 ran on x")
                    .dequantize()
                    .expect("blocks made by quantize_blocks are consistent")
            } else {
                x.clone()
            };
            let bound = abs_quant(
                &xq,
                batch,
                layout,
                |s| f64::from(s32[s]),
                |r, c, s| {
                    f64::from(code(r, c))
                        - f64::from(zeros.get(s).copied().unwrap_or(int4::SYMMETRIC_ZERO))
                },
            );
            for (isa, got) in &others {
                close(
                    if w4a8_path {
                        "gemv_q4_i8"
                    } else {
                        "gemm_q4_f32"
                    },
                    *isa,
                    got,
                    &want,
                    &bound,
                );
            }
        }
    }
}

fn quantizers(inp: &mut Input) {
    let n = inp.dim();
    let nx = inp.len(Some(n));
    let x = inp.f32s(nx);
    // Range: the same on every path.
    let want = quantize::range_f32_on(Isa::Scalar, &x).unwrap();
    for isa in Isa::available() {
        assert_eq!(
            quantize::range_f32_on(isa, &x).unwrap(),
            want,
            "range_f32 on {}",
            isa.name()
        );
    }
    let _ = quantize::range_f32(&x);
    // Scale and zero point: mostly valid, sometimes anything.
    let scale = if inp.byte() >= 0xF0 {
        f32::from_le_bytes([inp.byte(), inp.byte(), inp.byte(), inp.byte()])
    } else {
        f32::from(inp.byte() % 64 + 1) / 32.0
    };
    let zero = i32::from(inp.byte() as i8) * if inp.byte() >= 0xF8 { 1000 } else { 1 };
    let no = inp.len(Some(nx));
    let (scalar, others) = every_path(no, 0i8, |isa, o| {
        quantize::quantize_i8_on(isa, &x, scale, zero, o)
    });
    let mut o = vec![0i8; no];
    let _ = quantize::quantize_i8(&x, scale, zero, &mut o);
    if let Some(want) = scalar {
        for (k, (&q, &v)) in want.iter().zip(&x).enumerate() {
            assert_eq!(
                q,
                quantize::quantize_one(v, scale, zero),
                "quantize_i8 code {k}"
            );
        }
        if finite(&x) {
            for (isa, got) in others {
                assert_eq!(got, want, "quantize_i8 on {}", isa.name());
            }
        }
    }
    // W4A8 activation blocks: codes = quantize_one(x, s, 0) clamped to -127.
    match w4a8::quantize_blocks(&x) {
        Ok(a) => {
            assert!(x.len().is_multiple_of(32) && finite(&x));
            assert_eq!(a.codes.len(), x.len());
            assert_eq!(a.scales.len(), x.len() / 32);
            for (b, xb) in x.chunks_exact(32).enumerate() {
                let m = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let s = if m / 127.0 > 0.0 { m / 127.0 } else { 1.0 };
                assert_eq!(a.scales[b], s, "block scale {b}");
                for (k, &v) in xb.iter().enumerate() {
                    assert_eq!(
                        a.codes[b * 32 + k],
                        quantize::quantize_one(v, s, 0).max(-127),
                        "block code"
                    );
                }
            }
            let _ = a.dequantize();
        }
        Err(_) => assert!(!x.len().is_multiple_of(32) || !finite(&x)),
    }
}

/// A CSR structure: mostly valid (non-decreasing row pointers, columns below `cols`), now and
/// then corrupted.
fn csr(inp: &mut Input, rows: usize, cols: usize) -> (Vec<u32>, Vec<u16>) {
    let nr = inp.len(rows.checked_add(1));
    let mode = inp.byte();
    let mut row_ptr = Vec::with_capacity(nr);
    let mut acc = 0u32;
    for i in 0..nr {
        if i > 0 {
            acc += u32::from(inp.byte() % 5);
        }
        row_ptr.push(if mode >= 0xF0 {
            u32::from(inp.byte())
        } else {
            acc
        });
    }
    let nnz = row_ptr.last().copied().unwrap_or(0) as usize;
    let nc = if mode & 0x0F == 0x0F {
        usize::from(inp.byte() % 32)
    } else {
        nnz
    };
    let col_idx = (0..nc)
        .map(|_| {
            let c = u16::from_le_bytes([inp.byte(), inp.byte()]);
            if mode >= 0xE0 || cols == 0 {
                c
            } else {
                (usize::from(c) % cols.min(65_536)) as u16
            }
        })
        .collect();
    (row_ptr, col_idx)
}

fn sparse_products(inp: &mut Input) {
    let (rows, cols) = (inp.dim(), inp.dim());
    let (row_ptr, col_idx) = csr(inp, rows, cols);
    let nv = inp.len(Some(col_idx.len()));
    let values = inp.f32s(nv);
    let qvalues = inp.i8s(nv);
    let nx = inp.len(Some(cols));
    let x = inp.f32s(nx);
    let no = inp.len(Some(rows));
    let bound = || -> Option<Vec<f64>> {
        let mut b = vec![0.0f64; row_ptr.len().checked_sub(1)?];
        for (r, br) in b.iter_mut().enumerate() {
            let (lo, hi) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
            for (v, &c) in values.get(lo..hi)?.iter().zip(col_idx.get(lo..hi)?) {
                *br += f64::from(*v).abs() * f64::from(*x.get(usize::from(c))?).abs();
            }
        }
        Some(b)
    };
    let (scalar, others) = every_path(no, f32::NAN, |isa, o| {
        sparse::csr_dots_on(isa, &row_ptr, &col_idx, &values, &x, o)
    });
    if let Some(want) = &scalar {
        if finite(&x) && finite(&values) {
            let b = bound().expect("Ok with an inconsistent CSR");
            for (isa, got) in &others {
                close("csr_dots", *isa, got, want, &b);
            }
        }
    }
    let (scalar8, others8) = every_path(no, f32::NAN, |isa, o| {
        sparse::csr_dots_i8_on(isa, &row_ptr, &col_idx, &qvalues, &x, o)
    });
    if let (Some(want), true) = (&scalar8, finite(&x)) {
        let mut b = vec![0.0f64; want.len()];
        for (r, br) in b.iter_mut().enumerate() {
            let (lo, hi) = (row_ptr[r] as usize, row_ptr[r + 1] as usize);
            for (&q, &c) in qvalues[lo..hi].iter().zip(&col_idx[lo..hi]) {
                *br += f64::from(q).abs() * f64::from(x[usize::from(c)]).abs();
            }
        }
        for (isa, got) in &others8 {
            close("csr_dots_i8", *isa, got, want, &b);
        }
    }
    // The packed format, from the same CSR; its product against the CSR kernel's.
    if let Ok(p) = PackedSparse::from_csr(rows, cols, &row_ptr, &col_idx, &values) {
        assert_eq!((p.rows(), p.cols()), (rows, cols));
        let _ = (p.slots(), p.overflow(), p.bytes());
        for isa in Isa::available() {
            let _ = sparse_packed::has_packed_kernel(isa);
            let mut out = vec![f32::NAN; no];
            let r = p.matvec_on(isa, &x, &mut out);
            assert_eq!(
                r.is_ok(),
                x.len() == cols && no == rows,
                "packed matvec Ok/Err on {}: {r:?}",
                isa.name()
            );
            if let (Ok(()), Some(want), true) = (r, &scalar, finite(&x) && finite(&values)) {
                close("packed sparse", isa, &out, want, &bound().unwrap());
            }
        }
    }
}

fn packing(inp: &mut Input) {
    let (rows, cols) = (inp.dim(), inp.dim());
    let n = inp.len(rows.checked_mul(cols));
    let codes = inp.codes(n);
    match int4::pack_int4(&codes, rows, cols) {
        Ok(p) => {
            let stride = int4::packed_row_bytes(cols);
            assert_eq!(p.len(), rows * stride);
            if cols == 0 {
                // A zero-width matrix of any row count packs to nothing (no loop over rows:
                // `rows` may be 2^62 here).
                return;
            }
            for r in 0..rows {
                for c in 0..cols {
                    let b = p[r * stride + c / 2];
                    let got = if c.is_multiple_of(2) {
                        b & 0x0F
                    } else {
                        b >> 4
                    };
                    assert_eq!(got, codes[r * cols + c], "pack_int4 ({r}, {c})");
                }
                if cols % 2 == 1 {
                    assert_eq!(p[r * stride + stride - 1] >> 4, 0, "pad nibble");
                }
            }
        }
        Err(_) => {
            assert!(Some(codes.len()) != rows.checked_mul(cols) || codes.iter().any(|&c| c > 15))
        }
    }
}

fn sums(inp: &mut Input) {
    let n = inp.dim();
    let nx = inp.len(n.checked_mul(8));
    let x = inp.f32s(nx);
    let want = sum_f32_on(Isa::Scalar, &x).unwrap();
    if finite(&x) {
        let bound: f64 = x.iter().map(|v| f64::from(*v).abs()).sum();
        for isa in Isa::available() {
            let got = sum_f32_on(isa, &x).unwrap();
            close("sum_f32", isa, &[got], &[want], &[bound]);
        }
    }
}

fn threads(inp: &mut Input) {
    // 0 and counts above `limits::MAX_THREADS` must be refused (2^40 only with huge dims:
    // a pool that tries to start that many threads never finishes).
    let t = match inp.byte() {
        0 => 0,
        0xFF if huge_dims() => 1 << 40,
        b if b >= 0xF8 => shrink::limits::MAX_THREADS + 1,
        b => usize::from(b % 8),
    };
    let r = shrink::kernels::with_threads(t, || {
        let mut o = vec![0.0f32; 4];
        float::gemm_f32(&[1.0; 6], 2, &[1.0; 6], 2, 3, &mut o).map(|()| o)
    });
    if t == 0 || t > shrink::limits::MAX_THREADS {
        assert!(r.is_err(), "with_threads({t}) ran");
    }
    if let Ok(Ok(o)) = r {
        assert_eq!(o, vec![3.0; 4]);
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input { data, pos: 0 };
    match inp.byte() % 13 {
        0 => gemm_float(&mut inp, 0),
        1 => gemm_float(&mut inp, 1),
        2 => gemm_float(&mut inp, 2),
        3 => dots(&mut inp),
        4 => gemm_i8(&mut inp),
        5 => gemm_q8(&mut inp),
        6 => gemm_q4(&mut inp, false),
        7 => gemm_q4(&mut inp, true),
        8 => quantizers(&mut inp),
        9 => sparse_products(&mut inp),
        10 => packing(&mut inp),
        11 => sums(&mut inp),
        _ => threads(&mut inp),
    }
});
