//! Every SIMD path this CPU has against the scalar reference ([`Isa::Scalar`]): exact equality
//! for the int8 × int8 products, and for float results `|fast − scalar| ≤ 1e-5 · Σ|x·ŵ| + 1e-6`
//! per output (the documented tolerance: the paths differ only in summation order). Shapes are
//! random and odd: widths that are not a multiple of any vector length, one row, empty
//! matrices, widths above the batch-N panel width `KC`. Paths the CPU lacks are skipped with a
//! message, so the same tests run every path a CI machine has. Then thread-count invariance.

use half::{bf16, f16};
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::kernels::sparse_packed::PackedSparse;
use shrink::kernels::{float, int4, int8, sparse, with_threads, GroupLayout, Isa, KC};

fn paths() -> Vec<Isa> {
    for isa in Isa::all() {
        if !isa.is_available() {
            eprintln!("skipping the {} path: this CPU lacks it", isa.name());
        }
    }
    Isa::available()
}

fn ints(n: usize, rng: &mut StdRng) -> Vec<i8> {
    (0..n).map(|_| rng.random::<i8>()).collect()
}

fn floats(n: usize, rng: &mut StdRng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0f32)).collect()
}

/// Asserts `got ≈ want` per output with the float tolerance; `mag[o]` is `Σ|x·ŵ|` of output o.
fn assert_close(what: &str, got: &[f32], want: &[f32], mag: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (o, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
        let tol = 1e-5 * m + 1e-6;
        assert!((g - w).abs() <= tol, "{what} [{o}]: {g} vs {w} (tol {tol})");
    }
}

/// `Σ|x·w|` per output of `X·Wᵀ` with dense f32 `w` (rows × cols).
fn magnitudes(x: &[f32], batch: usize, w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut m = vec![0.0; batch * rows];
    for i in 0..batch {
        for r in 0..rows {
            m[i * rows + r] = (0..cols)
                .map(|k| (x[i * cols + k] * w[r * cols + k]).abs())
                .sum();
        }
    }
    m
}

const INT8_SHAPES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (1, 5, 7),
    (1, 3, 63),
    (1, 3, 64),
    (1, 3, 65),
    (1, 6, 130),
    // Batch-1 blocks of spread passes: below the threading threshold, blocks of 128 rows (131:
    // one block and three single rows; 261: a second block at r0 = 128 and a last one of five
    // rows, a pass and a single row at r0 = 256); above it (300 × 1000), blocks of 40 rows.
    (1, 131, 65),
    (1, 261, 64),
    (1, 300, 1000),
    (1, 8, 64),
    (3, 4, 33),
    (2, 3, 0),
    (0, 3, 5),
    (1, 0, 5),
    (5, 9, 64),
    (7, 6, 200),
    (4, 5, 1000),
    (9, 37, 129),
];

#[test]
fn int8_products_equal_the_scalar_reference_exactly_on_every_path() {
    let mut rng = StdRng::seed_from_u64(10);
    for &(m, n, k) in INT8_SHAPES {
        let a = ints(m * k, &mut rng);
        let b = ints(n * k, &mut rng);
        let mut want = vec![0; m * n];
        int8::gemm_i8_i32_on(Isa::Scalar, &a, &b, m, n, k, &mut want).unwrap();
        for isa in paths() {
            let mut got = vec![7; m * n];
            int8::gemm_i8_i32_on(isa, &a, &b, m, n, k, &mut got).unwrap();
            assert_eq!(got, want, "{} ({m},{n},{k})", isa.name());
        }
    }
    // Extremes: −128·−128 and −128·127 at every position, lengths around the vector steps.
    for k in [1, 16, 31, 32, 64, 127, 1000, 4099] {
        for (x, y) in [(-128i8, -128i8), (-128, 127), (127, 127)] {
            let a = vec![x; 2 * k];
            let b = vec![y; 3 * k];
            let want = i32::from(x) * i32::from(y) * k as i32;
            for isa in paths() {
                let mut got = vec![0; 6];
                int8::gemm_i8_i32_on(isa, &a, &b, 2, 3, k, &mut got).unwrap();
                assert!(got.iter().all(|&v| v == want), "{} k={k}", isa.name());
                let mut one = vec![0; 3];
                int8::gemm_i8_i32_on(isa, &a[..k], &b, 1, 3, k, &mut one).unwrap();
                assert!(one.iter().all(|&v| v == want), "{} k={k} gemv", isa.name());
            }
        }
    }
}

/// (batch, rows, cols, group, per_tensor, asymmetric)
const Q_SHAPES: &[(usize, usize, usize, usize, bool, bool)] = &[
    (1, 1, 7, 7, true, false),
    (1, 3, 13, 13, false, true),
    (2, 3, 13, 13, false, false),
    (1, 5, 64, 32, false, false),
    (4, 5, 64, 32, false, true),
    (3, 2, 96, 32, false, true),
    (1, 6, 128, 64, false, true),
    (5, 7, 128, 16, false, false),
    (1, 9, 100, 100, false, false),
    (1, 0, 8, 8, false, false),
    (3, 4, 0, 0, false, false),
    (1, 33, 2048 + 64, 32, false, false),
    (6, 9, 2048 + 64, 32, false, true),
    (5, 6, KC + 40, KC + 40, false, true),
    (1, 9, 2048 + 64, 32, false, true),
    (1, 5, 128, 16, false, true),
    (1, 3, 96, 96, true, false),
    (1, 4, 32 * 67, 32, false, false),
    (1, 131, 64, 32, false, true),
    (1, 261, 96, 32, false, true),
    (1, 300, 1024, 32, false, true),
    (1, 135, 64, 64, false, false),
    (1, 6, 96, 96, true, true),
    (50, 5, 544, 32, false, true),
    (17, 7, 2048 + 64, 32, false, true),
    (16, 13, 320, 64, false, false),
    (9, 5, 96, 96, true, false),
    (33, 8, 544, 32, false, true),
];

fn layout(rows: usize, cols: usize, group: usize, per_tensor: bool) -> GroupLayout {
    GroupLayout {
        rows,
        cols,
        group: if cols == 0 { 1 } else { group },
        per_tensor,
    }
}

#[test]
fn int8_weight_only_paths_match_the_scalar_reference() {
    let mut rng = StdRng::seed_from_u64(11);
    for &(batch, rows, cols, group, per_tensor, asym) in Q_SHAPES {
        let l = layout(rows, cols, group, per_tensor);
        if cols == 0 {
            continue;
        }
        let w = ints(rows * cols, &mut rng);
        let scales: Vec<f32> = (0..l.n_scales())
            .map(|_| rng.random_range(0.01..0.1f32))
            .collect();
        let zeros = if asym {
            ints(l.n_scales(), &mut rng)
        } else {
            vec![]
        };
        let x = floats(batch * cols, &mut rng);
        let deq: Vec<f32> = (0..rows * cols)
            .map(|e| {
                let (r, c) = (e / cols, e % cols);
                let si = if per_tensor {
                    0
                } else {
                    r * (cols / group) + c / group
                };
                let z = zeros.get(si).map_or(0.0, |&z| f32::from(z));
                scales[si] * (f32::from(w[e]) - z)
            })
            .collect();
        let mag = magnitudes(&x, batch, &deq, rows, cols);
        let mut want = vec![0.0; batch * rows];
        int8::gemm_q8_f32_on(Isa::Scalar, &x, batch, &w, &scales, &zeros, l, &mut want).unwrap();
        for isa in paths() {
            let mut got = vec![f32::NAN; batch * rows];
            int8::gemm_q8_f32_on(isa, &x, batch, &w, &scales, &zeros, l, &mut got).unwrap();
            let what = format!("q8 {} ({batch},{rows},{cols},g{group})", isa.name());
            assert_close(&what, &got, &want, &mag);
        }
    }
}

#[test]
fn int4_paths_match_the_scalar_reference() {
    let mut rng = StdRng::seed_from_u64(12);
    for &(batch, rows, cols, group, per_tensor, asym) in Q_SHAPES {
        let l = layout(rows, cols, group, per_tensor);
        let codes: Vec<u8> = (0..rows * cols)
            .map(|_| rng.random_range(0..16u8))
            .collect();
        let packed = int4::pack_int4(&codes, rows, cols).unwrap();
        let scales: Vec<f16> = (0..l.n_scales())
            .map(|_| f16::from_f32(rng.random_range(0.01..0.1f32)))
            .collect();
        let zeros: Vec<u8> = if asym {
            (0..l.n_scales())
                .map(|_| rng.random_range(0..16u8))
                .collect()
        } else {
            vec![]
        };
        let x = floats(batch * cols, &mut rng);
        let deq: Vec<f32> = (0..rows * cols)
            .map(|e| {
                let (r, c) = (e / cols, e % cols);
                let si = if per_tensor {
                    0
                } else {
                    r * (cols / group) + c / group
                };
                let z = zeros.get(si).copied().unwrap_or(int4::SYMMETRIC_ZERO);
                scales[si].to_f32() * (f32::from(codes[e]) - f32::from(z))
            })
            .collect();
        let mag = magnitudes(&x, batch, &deq, rows, cols);
        let mut want = vec![0.0; batch * rows];
        int4::gemm_q4_f32_on(
            Isa::Scalar,
            &x,
            batch,
            &packed,
            &scales,
            &zeros,
            l,
            &mut want,
        )
        .unwrap();
        for isa in paths() {
            let mut got = vec![f32::NAN; batch * rows];
            int4::gemm_q4_f32_on(isa, &x, batch, &packed, &scales, &zeros, l, &mut got).unwrap();
            let what = format!("q4 {} ({batch},{rows},{cols},g{group})", isa.name());
            assert_close(&what, &got, &want, &mag);
        }
    }
}

#[test]
fn float_paths_match_the_scalar_reference() {
    let mut rng = StdRng::seed_from_u64(13);
    for &(batch, rows, cols) in &[
        (1, 1, 1),
        (1, 3, 7),
        (2, 5, 33),
        (1, 4, 64),
        (4, 2, 64),
        (3, 0, 5),
        (2, 3, 0),
        (0, 3, 4),
        (1, 37, 1000),
        (1, 131, 40),
        (1, 261, 40),
        (1, 300, 1000),
        // Two batch tiles on AVX-512, the second wider than one vector.
        (50, 7, 300),
        (7, 9, 255),
        (9, 6, KC + 77),
        (1, 5, 2 * KC + 3),
        // Batches that fill whole vectors take the packed broadcast kernel: odd batch, rows
        // not a multiple of its 6-row tile, widths across its 256-column steps.
        (8, 7, 9),
        (16, 6, 256),
        (17, 13, 515),
        (40, 5, 300),
        (33, 1, 1),
    ] {
        let x = floats(batch * cols, &mut rng);
        let w = floats(rows * cols, &mut rng);
        let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
        let mag = magnitudes(&x, batch, &w, rows, cols);
        let n = batch * rows;
        let (mut a, mut b, mut c) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        float::gemm_f32_on(Isa::Scalar, &x, batch, &w, rows, cols, &mut a).unwrap();
        float::gemm_f16_f32_on(Isa::Scalar, &x, batch, &wh, rows, cols, &mut b).unwrap();
        float::gemm_bf16_f32_on(Isa::Scalar, &x, batch, &wb, rows, cols, &mut c).unwrap();
        for isa in paths() {
            let (mut a2, mut b2, mut c2) = (vec![9.0; n], vec![9.0; n], vec![9.0; n]);
            float::gemm_f32_on(isa, &x, batch, &w, rows, cols, &mut a2).unwrap();
            float::gemm_f16_f32_on(isa, &x, batch, &wh, rows, cols, &mut b2).unwrap();
            float::gemm_bf16_f32_on(isa, &x, batch, &wb, rows, cols, &mut c2).unwrap();
            let what = format!("{} ({batch},{rows},{cols})", isa.name());
            assert_close(&format!("f32 {what}"), &a2, &a, &mag);
            // f16/bf16 weights are within 2⁻⁸ of w, so Σ|x·ŵ| ≤ 1.004·Σ|x·w|.
            let m2: Vec<f32> = mag.iter().map(|m| m * 1.004).collect();
            assert_close(&format!("f16 {what}"), &b2, &b, &m2);
            assert_close(&format!("bf16 {what}"), &c2, &c, &m2);
        }
    }
}

/// A random CSR structure (rows × cols) with rows of 0, 1, and around-the-vector-width lengths.
fn random_csr(rows: usize, cols: usize, rng: &mut StdRng) -> (Vec<u32>, Vec<u16>) {
    let mut row_ptr = vec![0u32];
    let mut col_idx = Vec::new();
    for r in 0..rows {
        let want = match r % 5 {
            0 => 0,
            1 => 1,
            _ => rng.random_range(0..cols.min(80) + 1),
        };
        let mut cs: Vec<u16> = (0..cols as u16).collect();
        for i in 0..want {
            let j = rng.random_range(i..cols);
            cs.swap(i, j);
        }
        let mut row: Vec<u16> = cs[..want].to_vec();
        row.sort_unstable();
        col_idx.extend(row);
        row_ptr.push(col_idx.len() as u32);
    }
    (row_ptr, col_idx)
}

#[test]
fn sparse_paths_match_the_scalar_reference() {
    let mut rng = StdRng::seed_from_u64(14);
    let mut overflowed = 0;
    for &(rows, cols) in &[
        (1, 1),
        (7, 13),
        (33, 65),
        (16, 9),
        (64, 300),
        (0, 4),
        (17, 32),
        (40, 96),
    ] {
        let (row_ptr, col_idx) = random_csr(rows, cols, &mut rng);
        let nnz = col_idx.len();
        let values = floats(nnz, &mut rng);
        let codes = ints(nnz, &mut rng);
        let x = floats(cols, &mut rng);
        let mag: Vec<f32> = (0..rows)
            .map(|r| {
                (row_ptr[r] as usize..row_ptr[r + 1] as usize)
                    .map(|k| (values[k] * x[usize::from(col_idx[k])]).abs() * 128.0)
                    .sum()
            })
            .collect();
        let (mut want, mut want8) = (vec![0.0; rows], vec![0.0; rows]);
        sparse::csr_dots_on(Isa::Scalar, &row_ptr, &col_idx, &values, &x, &mut want).unwrap();
        sparse::csr_dots_i8_on(Isa::Scalar, &row_ptr, &col_idx, &codes, &x, &mut want8).unwrap();
        for isa in paths() {
            let (mut got, mut got8) = (vec![f32::NAN; rows], vec![f32::NAN; rows]);
            sparse::csr_dots_on(isa, &row_ptr, &col_idx, &values, &x, &mut got).unwrap();
            sparse::csr_dots_i8_on(isa, &row_ptr, &col_idx, &codes, &x, &mut got8).unwrap();
            let what = format!("{} ({rows},{cols})", isa.name());
            assert_close(&format!("csr f32 {what}"), &got, &want, &mag);
            assert_close(&format!("csr i8 {what}"), &got8, &want8, &mag);
            // The packed 16-row × 32-column layout (its AVX-512 kernel, or its scalar
            // reference on other paths), overflow entries included.
            let packed = PackedSparse::from_csr(rows, cols, &row_ptr, &col_idx, &values).unwrap();
            let mut gotp = vec![f32::NAN; rows];
            packed.matvec_on(isa, &x, &mut gotp).unwrap();
            assert_close(&format!("packed {what}"), &gotp, &want, &mag);
            assert!(packed.slots() + packed.overflow() >= nnz);
            overflowed += packed.overflow();
        }
    }
    assert!(overflowed > 0, "no case exercised the packed overflow list");
    // A bad structure is an error on the checked entry point, not a wrong read.
    let mut out = [0.0; 1];
    assert!(sparse::csr_dots_on(Isa::Scalar, &[0, 1], &[3], &[1.0], &[0.0; 3], &mut out).is_err());
    assert!(sparse::csr_dots_on(Isa::Scalar, &[1, 1], &[0], &[1.0], &[0.0; 3], &mut out).is_err());
    assert!(PackedSparse::from_csr(1, 3, &[0, 1], &[3], &[1.0]).is_err());
    let p = PackedSparse::from_csr(1, 3, &[0, 1], &[2], &[1.0]).unwrap();
    assert!(p.matvec_on(Isa::Scalar, &[0.0; 2], &mut out).is_err());
    assert!(p.matvec_on(Isa::Scalar, &[0.0; 3], &mut []).is_err());
}

#[test]
fn bad_lengths_are_errors_on_every_path() {
    for isa in paths() {
        let mut o = [0i32; 4];
        assert!(int8::gemm_i8_i32_on(isa, &[1; 6], &[1; 6], 2, 2, 3, &mut o[..3]).is_err());
        let mut f = [0.0f32; 4];
        assert!(float::gemm_f32_on(isa, &[0.0; 5], 1, &[0.0; 8], 2, 4, &mut f[..2]).is_err());
        let l = GroupLayout {
            rows: 1,
            cols: 10,
            group: 4,
            per_tensor: false,
        };
        assert!(
            int8::gemm_q8_f32_on(isa, &[0.0; 10], 1, &[0; 10], &[1.0; 2], &[], l, &mut f[..1])
                .is_err()
        );
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let mut rng = StdRng::seed_from_u64(15);
    let (rows, cols) = (300, 1100);
    let w = floats(rows * cols, &mut rng);
    let q = ints(rows * cols, &mut rng);
    let codes: Vec<u8> = (0..rows * cols)
        .map(|_| rng.random_range(0..16u8))
        .collect();
    let packed = int4::pack_int4(&codes, rows, cols).unwrap();
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let l8 = GroupLayout {
        rows,
        cols,
        group: cols,
        per_tensor: false,
    };
    let s8 = vec![0.02f32; rows];
    let l4 = GroupLayout {
        rows,
        cols: 1100,
        group: 20,
        per_tensor: false,
    };
    let s4 = vec![f16::from_f32(0.05); l4.n_scales()];
    for batch in [1usize, 8] {
        let x = floats(batch * cols, &mut rng);
        let xq = ints(batch * cols, &mut rng);
        let run = |threads: usize| {
            with_threads(threads, || {
                let n = batch * rows;
                let (mut a, mut b, mut c, mut d, mut e) = (
                    vec![0.0; n],
                    vec![0.0; n],
                    vec![0.0; n],
                    vec![0.0; n],
                    vec![0; n],
                );
                float::gemm_f32(&x, batch, &w, rows, cols, &mut a).unwrap();
                float::gemm_f16_f32(&x, batch, &wh, rows, cols, &mut b).unwrap();
                int8::gemm_q8_f32(&x, batch, &q, &s8, &[], l8, &mut c).unwrap();
                int4::gemm_q4_f32(&x, batch, &packed, &s4, &[], l4, &mut d).unwrap();
                int8::gemm_i8_i32(&xq, &q, batch, rows, cols, &mut e).unwrap();
                (a, b, c, d, e)
            })
            .unwrap()
        };
        let one = run(1);
        for threads in [2, 3] {
            assert!(
                run(threads) == one,
                "batch {batch}: {threads} threads differ from 1"
            );
        }
    }
    assert!(with_threads(0, || ()).is_err());
}

#[test]
fn bandwidth_probe_sums_like_the_scalar_reference() {
    let mut rng = StdRng::seed_from_u64(21);
    for n in [0usize, 1, 31, 127, 128, 1000, (1 << 20) + 77] {
        let x = floats(n, &mut rng);
        let want: f64 = x.iter().map(|&v| f64::from(v)).sum();
        let mag: f64 = x.iter().map(|&v| f64::from(v.abs())).sum::<f64>() + 1.0;
        for isa in paths() {
            let got = f64::from(shrink::kernels::sum_f32_on(isa, &x).unwrap());
            assert!((got - want).abs() <= 1e-5 * mag, "{} n={n}", isa.name());
        }
    }
}
