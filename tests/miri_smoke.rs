//! Small cases for Miri (`scripts/miri.sh`), which checks them for undefined behaviour: the
//! scalar kernels, int4 packing, the sparse products, and save/load round trips of every model
//! file kind, plus hostile bytes into the loaders. Shapes are tiny (Miri runs ~1000× slower);
//! under Miri only [`Isa::Scalar`] is available, in a normal run every path the CPU has is
//! checked against the same references. Fast in a normal `cargo test --release` run too.

use half::{bf16, f16};
use ndarray::Array2;
use rand::{rngs::StdRng, SeedableRng};
use shrink::kernels::{
    float, int4, int8, quantize, sparse, sparse_packed::PackedSparse, sum_f32_on, w4a8,
    GroupLayout, Isa,
};
use shrink::nn::{Activation, Encoder, EncoderConfig, Forward, Mlp, NormPlacement};
use shrink::prune::{MagnitudePruner, Pruner};
use shrink::quant::{Granularity, Ptq, QuantLinear, QuantScheme, Quantizer};
use shrink::sparse::SparseLinear;
use shrink::Error;

/// Values that are multiples of 1/4 in [-2, 2): every product and small sum of them is exact in
/// f32, so each path must give the reference exactly.
fn nice(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7 + seed * 3) % 16) as f32 / 4.0 - 2.0)
        .collect()
}

/// Σ_k x[i,k]·w[r,k] for x (batch × cols) and w (rows × cols).
fn reference(x: &[f32], w: &[f32], batch: usize, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; batch * rows];
    for i in 0..batch {
        for r in 0..rows {
            out[i * rows + r] = (0..cols).map(|k| x[i * cols + k] * w[r * cols + k]).sum();
        }
    }
    out
}

#[test]
fn float_kernels_match_the_reference() {
    // Batch 1 (the fused GEMV) and batch 3 (the packed GEMM with its transpose); 9 columns
    // leave a tail after every vector width.
    for (batch, rows, cols) in [(1, 5, 9), (3, 7, 9)] {
        let x = nice(batch * cols, 1);
        let w = nice(rows * cols, 2);
        let want = reference(&x, &w, batch, rows, cols);
        let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
        for isa in Isa::available() {
            let mut out = vec![f32::NAN; batch * rows];
            float::gemm_f32_on(isa, &x, batch, &w, rows, cols, &mut out).unwrap();
            assert_eq!(out, want, "f32 {}", isa.name());
            float::gemm_f16_f32_on(isa, &x, batch, &wh, rows, cols, &mut out).unwrap();
            assert_eq!(out, want, "f16 {}", isa.name());
            float::gemm_bf16_f32_on(isa, &x, batch, &wb, rows, cols, &mut out).unwrap();
            assert_eq!(out, want, "bf16 {}", isa.name());
            // A wrong output length is refused.
            let mut short = vec![0.0; batch * rows - 1];
            assert!(matches!(
                float::gemm_f32_on(isa, &x, batch, &w, rows, cols, &mut short),
                Err(Error::ShapeMismatch { .. })
            ));
        }
    }
    let (x, w) = (nice(9, 3), nice(9, 4));
    let want: f32 = x.iter().zip(&w).map(|(a, b)| a * b).sum();
    assert_eq!(float::dot_f32(&x, &w).unwrap(), want);
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    assert_eq!(float::dot_f16(&x, &wh).unwrap(), want);
    assert!(matches!(
        float::dot_f32(&x, &w[1..]),
        Err(Error::ShapeMismatch { .. })
    ));
    for isa in Isa::available() {
        assert_eq!(sum_f32_on(isa, &x).unwrap(), x.iter().sum::<f32>());
    }
}

#[test]
fn int8_kernels_are_exact() {
    let (m, n, k) = (2, 3, 19);
    let a: Vec<i8> = (0..m * k)
        .map(|i| (i as i32 * 37 % 255 - 127) as i8)
        .collect();
    let b: Vec<i8> = (0..n * k)
        .map(|i| (i as i32 * 53 % 256 - 128) as i8)
        .collect();
    let mut want = vec![0i32; m * n];
    for i in 0..m {
        for j in 0..n {
            want[i * n + j] = (0..k)
                .map(|t| i32::from(a[i * k + t]) * i32::from(b[j * k + t]))
                .sum();
        }
    }
    for isa in Isa::available() {
        let mut out = vec![i32::MIN; m * n];
        int8::gemm_i8_i32_on(isa, &a, &b, m, n, k, &mut out).unwrap();
        assert_eq!(out, want, "{}", isa.name());
    }
    assert_eq!(int8::dot_i8(&a[..k], &b[..k]).unwrap(), want[0]);

    // int8 weights × f32: per-group scales (groups of 4 over 8 columns) with zero points.
    let (batch, rows, cols) = (2, 3, 8);
    let layout = GroupLayout {
        rows,
        cols,
        group: 4,
        per_tensor: false,
    };
    let q: Vec<i8> = (0..rows * cols).map(|i| (i as i32 % 9 - 4) as i8).collect();
    let scales: Vec<f32> = (0..layout.n_scales())
        .map(|g| 0.5 + g as f32 * 0.25)
        .collect();
    let zeros: Vec<i8> = (0..layout.n_scales()).map(|g| g as i8 - 2).collect();
    let x = nice(batch * cols, 5);
    let dq: Vec<f32> = (0..rows * cols)
        .map(|i| {
            let g = (i / cols) * 2 + (i % cols) / 4;
            scales[g] * (f32::from(q[i]) - f32::from(zeros[g]))
        })
        .collect();
    let want = reference(&x, &dq, batch, rows, cols);
    for isa in Isa::available() {
        let mut out = vec![f32::NAN; batch * rows];
        int8::gemm_q8_f32_on(isa, &x, batch, &q, &scales, &zeros, layout, &mut out).unwrap();
        for (g, w) in out.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{} {g} {w}",
                isa.name()
            );
        }
    }
}

#[test]
fn int4_packing_and_kernels_match_the_reference() {
    let (rows, cols) = (3, 7);
    let codes: Vec<u8> = (0..rows * cols).map(|i| (i * 5 % 16) as u8).collect();
    let packed = int4::pack_int4(&codes, rows, cols).unwrap();
    let stride = int4::packed_row_bytes(cols);
    assert_eq!(packed.len(), rows * stride);
    for r in 0..rows {
        for c in 0..cols {
            let b = packed[r * stride + c / 2];
            let got = if c % 2 == 0 { b & 0x0F } else { b >> 4 };
            assert_eq!(got, codes[r * cols + c]);
        }
    }
    assert!(matches!(
        int4::pack_int4(&[16], 1, 1),
        Err(Error::InvalidParam { .. })
    ));
    assert!(matches!(
        int4::pack_int4(&codes, rows, cols + 1),
        Err(Error::ShapeMismatch { .. })
    ));

    // Per-row scales, symmetric (zero point 8), batch 1 and batch 2.
    let layout = GroupLayout {
        rows,
        cols,
        group: cols,
        per_tensor: false,
    };
    let scales: Vec<f16> = (0..rows)
        .map(|r| f16::from_f32(0.5 * (r + 1) as f32))
        .collect();
    let dq: Vec<f32> = (0..rows * cols)
        .map(|i| scales[i / cols].to_f32() * (f32::from(codes[i]) - 8.0))
        .collect();
    for batch in [1, 2] {
        let x = nice(batch * cols, 6);
        let want = reference(&x, &dq, batch, rows, cols);
        for isa in Isa::available() {
            let mut out = vec![f32::NAN; batch * rows];
            int4::gemm_q4_f32_on(isa, &x, batch, &packed, &scales, &[], layout, &mut out).unwrap();
            assert_eq!(out, want, "{} batch {batch}", isa.name());
        }
    }

    // W4A8: one group of 32 columns; x is quantized per 32 values first.
    let (rows, cols) = (2, 32);
    let codes: Vec<u8> = (0..rows * cols).map(|i| (i * 3 % 16) as u8).collect();
    let packed = int4::pack_int4(&codes, rows, cols).unwrap();
    let layout = GroupLayout {
        rows,
        cols,
        group: 32,
        per_tensor: false,
    };
    let scales = vec![f16::from_f32(0.25); rows];
    let x = nice(cols, 7);
    let xq = w4a8::quantize_blocks(&x).unwrap().dequantize().unwrap();
    let dq: Vec<f32> = codes.iter().map(|&c| 0.25 * (f32::from(c) - 8.0)).collect();
    let want = reference(&xq, &dq, 1, rows, cols);
    for isa in Isa::available() {
        let mut out = vec![f32::NAN; rows];
        w4a8::gemv_q4_i8_on(isa, &x, &packed, &scales, layout, &mut out).unwrap();
        for (g, w) in out.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{} {g} {w}",
                isa.name()
            );
        }
    }
}

#[test]
fn quantizers_match_quantize_one() {
    let x = nice(19, 8);
    assert_eq!(
        quantize::range_f32_on(Isa::Scalar, &x).unwrap(),
        Some((-2.0, 1.75))
    );
    assert_eq!(
        quantize::range_f32_on(Isa::Scalar, &[1.0, f32::NAN]).unwrap(),
        None
    );
    for isa in Isa::available() {
        let mut out = vec![0i8; x.len()];
        quantize::quantize_i8_on(isa, &x, 0.1, 3, &mut out).unwrap();
        for (q, &v) in out.iter().zip(&x) {
            assert_eq!(*q, quantize::quantize_one(v, 0.1, 3));
        }
        assert!(matches!(
            quantize::quantize_i8_on(isa, &x, 0.0, 0, &mut out),
            Err(Error::InvalidParam { .. })
        ));
    }
}

#[test]
fn sparse_products_match_the_dense_ones() {
    // 3 × 5: row 0 has two entries, row 1 none, row 2 three.
    let row_ptr = [0u32, 2, 2, 5];
    let col_idx = [0u16, 3, 1, 2, 4];
    let values = [1.5f32, -2.0, 0.25, 4.0, -1.0];
    let x = nice(5, 9);
    let want = [
        1.5 * x[0] - 2.0 * x[3],
        0.0,
        0.25 * x[1] + 4.0 * x[2] - x[4],
    ];
    let qvalues = [1i8, -2, 3, 4, -5];
    let want_q = [x[0] - 2.0 * x[3], 0.0, 3.0 * x[1] + 4.0 * x[2] - 5.0 * x[4]];
    let packed = PackedSparse::from_csr(3, 5, &row_ptr, &col_idx, &values).unwrap();
    for isa in Isa::available() {
        let mut out = [f32::NAN; 3];
        sparse::csr_dots_on(isa, &row_ptr, &col_idx, &values, &x, &mut out).unwrap();
        assert_eq!(out, want, "{}", isa.name());
        sparse::csr_dots_i8_on(isa, &row_ptr, &col_idx, &qvalues, &x, &mut out).unwrap();
        assert_eq!(out, want_q, "{}", isa.name());
        let mut out = [f32::NAN; 3];
        packed.matvec_on(isa, &x, &mut out).unwrap();
        assert_eq!(out, want, "packed {}", isa.name());
    }
    // A column outside x and decreasing row pointers are refused.
    let mut out = [0.0; 3];
    for (rp, ci) in [
        ([0u32, 2, 2, 5], [0u16, 3, 1, 2, 5]),
        ([0, 3, 2, 5], [0, 3, 1, 2, 4]),
    ] {
        assert!(matches!(
            sparse::csr_dots_on(Isa::Scalar, &rp, &ci, &values, &x, &mut out),
            Err(Error::Format(_))
        ));
    }
}

/// Within 1e-5: Miri perturbs transcendental functions (exp, erf) by a few ulps at random,
/// so two runs of one model can differ in the last bits under it.
fn assert_close(a: &Array2<f32>, b: &Array2<f32>) {
    assert_eq!(a.dim(), b.dim());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{a} vs {b}");
    }
}

fn tiny_mlp() -> Mlp {
    Mlp::new(&[4, 3, 2], Activation::Relu, &mut StdRng::seed_from_u64(0)).unwrap()
}

/// Cuts `bytes` at a few places and flips its header length: each load must be an error.
fn assert_hostile_rejected<T: std::fmt::Debug>(
    bytes: &[u8],
    load: impl Fn(&[u8]) -> shrink::Result<T>,
) {
    for cut in [0, 7, 8, bytes.len() / 2, bytes.len() - 1] {
        let r = load(&bytes[..cut]);
        assert!(matches!(r, Err(Error::Parse { .. })), "cut {cut}: {r:?}");
    }
    // A header length far past the end of the file.
    let mut huge = bytes.to_vec();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(load(&huge), Err(Error::Parse { .. })));
    // The header's JSON with its first brace broken.
    let mut bad = bytes.to_vec();
    bad[8] = b'[';
    assert!(matches!(load(&bad), Err(Error::Parse { .. })));
}

#[test]
fn mlp_files_round_trip_and_hostile_bytes_are_errors() {
    let mlp = tiny_mlp();
    let x = Array2::from_shape_vec((2, 4), nice(8, 10)).unwrap();
    let bytes = mlp.to_safetensors().unwrap();
    let back = Mlp::from_safetensors(&bytes).unwrap();
    assert_eq!(back, mlp);
    assert_close(
        &back.forward(x.view()).unwrap(),
        &mlp.forward(x.view()).unwrap(),
    );
    assert_hostile_rejected(&bytes, Mlp::from_safetensors);

    let mut pruned = mlp.clone();
    MagnitudePruner::new(0.5).prune(&mut pruned).unwrap();
    let sparse = pruned
        .map_layers(|_, l| SparseLinear::from_linear(l))
        .unwrap();
    let bytes = sparse.to_safetensors().unwrap();
    let back = Mlp::<SparseLinear>::from_sparse_safetensors(&bytes).unwrap();
    assert_eq!(back, sparse);
    assert_close(
        &back.forward(x.view()).unwrap(),
        &sparse.forward(x.view()).unwrap(),
    );
    // The sparse layers compute what the pruned dense ones do (in another order).
    assert_close(
        &back.forward(x.view()).unwrap(),
        &pruned.forward(x.view()).unwrap(),
    );
    assert_hostile_rejected(&bytes, Mlp::<SparseLinear>::from_sparse_safetensors);
    // A dense file is not a sparse one.
    assert!(matches!(
        Mlp::<SparseLinear>::from_sparse_safetensors(&mlp.to_safetensors().unwrap()),
        Err(Error::Format(_))
    ));

    for scheme in [
        QuantScheme::int8(Granularity::PerChannel),
        QuantScheme::int4(Granularity::PerChannel).asymmetric(),
    ] {
        let q = Ptq::new(scheme).quantize_mlp(&mlp, None).unwrap();
        let bytes = q.to_quantized_safetensors().unwrap();
        let back = Mlp::<QuantLinear>::from_quantized_safetensors(&bytes).unwrap();
        assert_eq!(back, q);
        assert_close(
            &back.forward(x.view()).unwrap(),
            &q.forward(x.view()).unwrap(),
        );
        assert_hostile_rejected(&bytes, Mlp::<QuantLinear>::from_quantized_safetensors);
    }
}

#[test]
fn encoder_files_round_trip_and_hostile_bytes_are_errors() {
    let config = EncoderConfig {
        vocab_size: 6,
        hidden_size: 4,
        num_heads: 2,
        num_layers: 1,
        intermediate_size: 4,
        max_positions: 4,
        type_vocab_size: 2,
        layer_norm_eps: 1e-5,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        causal: false,
    };
    let enc = Encoder::new(config, &mut StdRng::seed_from_u64(1)).unwrap();
    let ids = [1u32, 5, 0];
    let bytes = enc.to_safetensors().unwrap();
    let back = Encoder::from_safetensors(&bytes).unwrap();
    let h = back.forward(&ids, None, None).unwrap();
    assert_close(&h, &enc.forward(&ids, None, None).unwrap());
    assert!(h.iter().all(|v| v.is_finite()));
    assert!(matches!(
        back.forward(&[6], None, None),
        Err(Error::InvalidParam { .. })
    ));
    assert_hostile_rejected(&bytes, Encoder::from_safetensors);

    let q = Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .quantize_encoder(&enc, None)
        .unwrap();
    let bytes = q.to_quantized_safetensors().unwrap();
    let back = Encoder::<QuantLinear>::from_quantized_safetensors(&bytes).unwrap();
    assert_eq!(back, q);
    assert_close(
        &back.forward(&ids, None, None).unwrap(),
        &q.forward(&ids, None, None).unwrap(),
    );
    assert_hostile_rejected(&bytes, Encoder::<QuantLinear>::from_quantized_safetensors);

    // Hugging Face BERT: a config that fails to parse and a checkpoint that is not one.
    let hf = r#"{"vocab_size":6,"hidden_size":4,"num_attention_heads":2,"num_hidden_layers":1,"intermediate_size":4,"max_position_embeddings":4,"type_vocab_size":2}"#;
    assert!(EncoderConfig::from_hf_bert_json(hf).is_ok());
    assert!(matches!(
        EncoderConfig::from_hf_bert_json("{\"vocab_size\": -1"),
        Err(Error::Parse { .. })
    ));
    assert!(matches!(
        Encoder::from_hf_bert(&bytes[..bytes.len() / 2], hf),
        Err(Error::Parse { .. })
    ));
    assert!(matches!(
        Encoder::from_hf_bert(&bytes, hf),
        Err(Error::MissingTensor(_))
    ));
}
