//! Quantization properties on seeded random data: round-trip bounds, exact integer arithmetic,
//! GPTQ against round-to-nearest, an int8 encoder against f32, files, and error cases.

use ndarray::{Array1, Array2};
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::nn::{Activation, Encoder, EncoderConfig, Linear, LinearLayer, Mlp, NormPlacement};
use shrink::quant::{
    choose_params, code_range, dequantize, quantize, ActQuant, ActivationMode, Calibration, Gptq,
    Granularity, IntScheme, LayerInputs, Observer, Ptq, QuantReport, QuantScheme, QuantWeight,
    Quantizer,
};
use shrink::{Error, Forward};

fn random(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| rng.random_range(-1.0..1.0f32))
}

#[test]
fn round_trip_error_is_at_most_half_a_step_inside_the_range() {
    let mut rng = StdRng::seed_from_u64(0);
    for bits in [8u8, 4] {
        for symmetric in [true, false] {
            let scheme = IntScheme {
                bits,
                symmetric,
                granularity: Granularity::PerTensor,
            };
            for _ in 0..50 {
                let lo = rng.random_range(-5.0..0.5f32);
                let hi = lo + rng.random_range(0.0..5.0f32);
                let p = choose_params(lo, hi, scheme).unwrap();
                let (qmin, qmax) = code_range(bits, symmetric);
                let (rlo, rhi) = (dequantize(qmin, p), dequantize(qmax, p));
                for _ in 0..200 {
                    let x = rng.random_range(lo..=hi).clamp(rlo, rhi);
                    let xh = dequantize(quantize(x, p, qmin, qmax), p);
                    assert!(
                        (x - xh).abs() <= p.scale / 2.0 * (1.0 + 1e-5),
                        "{bits} bits sym={symmetric}: {x} → {xh}, s={}",
                        p.scale
                    );
                }
            }
        }
    }
}

#[test]
fn constant_and_zero_weights_quantize_without_dividing_by_zero() {
    for value in [0.0f32, 0.37, -2.0] {
        let layer = Linear::new(Array2::from_elem((4, 64), value), Array1::zeros(4)).unwrap();
        let mlp = Mlp::from_layers(vec![layer], vec![Activation::Identity]).unwrap();
        for scheme in [
            QuantScheme::int8(Granularity::PerChannel),
            QuantScheme::int4(Granularity::PerGroup(32)).asymmetric(),
            QuantScheme::int8(Granularity::PerTensor).asymmetric(),
        ] {
            let q = Ptq::new(scheme).quantize_mlp(&mlp, None).unwrap();
            let w = q.layers()[0].weight().dequantize();
            assert!(
                w.iter().all(|&v| (v - value).abs() <= value.abs() * 1e-3),
                "{value}: {w}"
            );
        }
    }
}

/// Integer inference equals a float64 model of the same integer arithmetic, exactly.
#[test]
fn integer_path_equals_exact_model_of_its_arithmetic() {
    let mut rng = StdRng::seed_from_u64(1);
    let layer = Linear::new(random(9, 37, &mut rng), Array1::from_elem(9, 0.25)).unwrap();
    let mlp = Mlp::from_layers(vec![layer], vec![Activation::Identity]).unwrap();
    let x = random(5, 37, &mut rng);
    let cal = Calibration::from_mlp(&mlp, &[x.view()]).unwrap();
    for (scheme, granularity) in [
        (ActivationMode::Dynamic, Granularity::PerChannel),
        (ActivationMode::Static, Granularity::PerChannel),
        (ActivationMode::Dynamic, Granularity::PerTensor),
    ] {
        for asym in [false, true] {
            let mut s = QuantScheme::int8(granularity).activations(scheme);
            if asym {
                s = s.asymmetric();
            }
            let q = Ptq::new(s).quantize_mlp(&mlp, Some(&cal)).unwrap();
            let ql = &q.layers()[0];
            let QuantWeight::Int8(w) = ql.weight() else {
                panic!("int8 expected")
            };
            let (qx, px) = ql.quantize_input(x.view()).unwrap();
            let y = ql.forward(x.view()).unwrap();
            for i in 0..5 {
                for j in 0..9 {
                    let si = if w.layout().per_tensor { 0 } else { j };
                    let zw = w.zeros().get(si).map_or(0.0, |&z| f64::from(z));
                    // Σ (q_x − z_x)(q_w − z_w), exact in f64.
                    let a: f64 = (0..37)
                        .map(|k| {
                            (f64::from(qx[i * 37 + k]) - f64::from(px[i].zero))
                                * (f64::from(w.codes()[j * 37 + k]) - zw)
                        })
                        .sum();
                    let want = (px[i].scale * w.scales()[si]) * a as f32 + 0.25;
                    assert_eq!(y[[i, j]], want, "{s:?} [{i},{j}]");
                }
            }
            if scheme == ActivationMode::Static {
                assert!(matches!(ql.act(), ActQuant::Static(_)));
            }
        }
    }
}

/// Output error ‖XWᵀ − XŴᵀ‖² of one layer, on correlated calibration inputs.
#[test]
fn gptq_layer_error_is_below_round_to_nearest() {
    let mut rng = StdRng::seed_from_u64(2);
    let (n, cols, rows) = (512, 64, 32);
    // Correlated inputs: a random mixing of a few latent factors plus noise.
    let factors = random(n, 8, &mut rng);
    let mix = random(8, cols, &mut rng);
    let x = factors.dot(&mix) + random(n, cols, &mut rng) * 0.1;
    let layer = Linear::new(random(rows, cols, &mut rng), Array1::zeros(rows)).unwrap();
    let mlp = Mlp::from_layers(vec![layer.clone()], vec![Activation::Identity]).unwrap();
    let cal = Calibration::from_mlp(&mlp, &[x.view()]).unwrap();
    let reference = layer.forward(x.view()).unwrap();
    let err = |q: &Mlp<shrink::quant::QuantLinear>| {
        (q.forward(x.view()).unwrap() - &reference)
            .mapv(|d| d * d)
            .sum()
    };
    for scheme in [
        QuantScheme::int4(Granularity::PerGroup(32)),
        QuantScheme::int4(Granularity::PerChannel),
        QuantScheme::int8(Granularity::PerChannel),
        QuantScheme::int4(Granularity::PerGroup(32)).asymmetric(),
    ] {
        let rtn = err(&Ptq::new(scheme).quantize_mlp(&mlp, None).unwrap());
        let gptq = err(&Gptq::new(scheme).quantize_mlp(&mlp, Some(&cal)).unwrap());
        let ordered = err(&Gptq::new(scheme)
            .act_order(true)
            .quantize_mlp(&mlp, Some(&cal))
            .unwrap());
        eprintln!(
            "{}: RTN {rtn:.4}, GPTQ {gptq:.4}, GPTQ act-order {ordered:.4}",
            scheme.label()
        );
        assert!(gptq < rtn, "{}: GPTQ {gptq} ≥ RTN {rtn}", scheme.label());
        assert!(
            ordered < rtn,
            "{}: act-order GPTQ {ordered} ≥ RTN {rtn}",
            scheme.label()
        );
    }
}

fn encoder() -> Encoder {
    let config = EncoderConfig {
        vocab_size: 60,
        hidden_size: 64,
        num_heads: 4,
        num_layers: 2,
        intermediate_size: 128,
        max_positions: 32,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        causal: false,
    };
    Encoder::new(config, &mut StdRng::seed_from_u64(3)).unwrap()
}

fn cosine(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    let dot = (a * b).sum();
    dot / ((a * a).sum().sqrt() * (b * b).sum().sqrt())
}

#[test]
fn int8_encoder_matches_f32_outputs() {
    let enc = encoder();
    let mut rng = StdRng::seed_from_u64(4);
    let seqs: Vec<Vec<u32>> = (0..6)
        .map(|_| (0..20).map(|_| rng.random_range(0..60u32)).collect())
        .collect();
    let cal = Calibration::from_encoder(&enc, &seqs[..4]).unwrap();
    assert_eq!(cal.names().len(), 12);
    let schemes = [
        QuantScheme::int8(Granularity::PerChannel),
        QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Dynamic),
        QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Static),
    ];
    for scheme in schemes {
        let q = Ptq::new(scheme).quantize_encoder(&enc, Some(&cal)).unwrap();
        let report = QuantReport::for_encoder(&enc, &q).unwrap();
        assert_eq!(report.layers.len(), 12);
        assert!(q.storage_bytes() < enc.storage_bytes() / 2);
        for ids in &seqs {
            let (a, b) = (
                enc.forward(ids, None, None).unwrap(),
                q.forward(ids, None, None).unwrap(),
            );
            let c = cosine(&a, &b);
            assert!(c >= 0.999, "{}: cosine {c}", scheme.label());
        }
    }
    // Mixed precision by name: FFNs in int4, attention output kept in f32.
    let mixed = Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .layer_scheme(
            "blocks.*.ffn.*",
            QuantScheme::int4(Granularity::PerGroup(32)),
        )
        .exclude("blocks.*.attn.o")
        .quantize_encoder(&enc, None)
        .unwrap();
    let mut formats = Vec::new();
    mixed.visit_layers(&mut |n, l| {
        formats.push((n.to_string(), matches!(l.weight(), QuantWeight::F32(_))))
    });
    assert!(formats
        .iter()
        .any(|(n, f32)| n == "blocks.1.attn.o" && *f32));
    assert!(formats
        .iter()
        .any(|(n, f32)| n == "blocks.1.ffn.in" && !*f32));
}

fn small_mlp() -> Mlp {
    Mlp::new(
        &[64, 32, 10],
        Activation::Relu,
        &mut StdRng::seed_from_u64(5),
    )
    .unwrap()
}

#[test]
fn quantized_models_save_and_load_exactly() {
    let mlp = small_mlp();
    let mut rng = StdRng::seed_from_u64(6);
    let x = random(8, 64, &mut rng);
    let cal = Calibration::from_mlp(&mlp, &[x.view()]).unwrap();
    let schemes = [
        QuantScheme::f16(),
        QuantScheme::bf16(),
        QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Static),
        QuantScheme::int8(Granularity::PerTensor)
            .asymmetric()
            .activations(ActivationMode::Dynamic),
        QuantScheme::int8(Granularity::PerGroup(32)).asymmetric(),
        QuantScheme::int4(Granularity::PerGroup(32)),
        QuantScheme::int4(Granularity::PerChannel).asymmetric(),
    ];
    for scheme in schemes {
        let q = Ptq::new(scheme)
            .exclude("layers.1")
            .quantize_mlp(&mlp, Some(&cal))
            .unwrap();
        let bytes = q.to_quantized_safetensors().unwrap();
        let back = Mlp::from_quantized_safetensors(&bytes).unwrap();
        assert_eq!(back, q, "{}", scheme.label());
        assert_eq!(
            back.forward(x.view()).unwrap(),
            q.forward(x.view()).unwrap()
        );
    }
    let path =
        std::env::temp_dir().join(format!("shrink_quant_{}.safetensors", std::process::id()));
    let q = Ptq::new(QuantScheme::int4(Granularity::PerGroup(32)))
        .quantize_mlp(&mlp, None)
        .unwrap();
    q.save_quantized(&path).unwrap();
    assert_eq!(Mlp::load_quantized(&path).unwrap(), q);
    std::fs::remove_file(&path).ok();
}

#[test]
fn hostile_quantized_files_are_rejected() {
    let mlp = small_mlp();
    let q = Ptq::new(QuantScheme::int4(Granularity::PerGroup(32)).asymmetric())
        .quantize_mlp(&mlp, None)
        .unwrap();
    let good = q.to_quantized_safetensors().unwrap();
    for cut in [0, 7, good.len() / 2, good.len() - 1] {
        assert!(
            Mlp::from_quantized_safetensors(&good[..cut]).is_err(),
            "cut {cut}"
        );
    }
    assert!(Mlp::from_quantized_safetensors(&mlp.to_safetensors().unwrap()).is_err());
    // Corrupt the metadata JSON: the group no longer divides the width. The config sits
    // escaped inside the header's JSON, as `\"group\":32`.
    let pattern = b"\\\"group\\\":32";
    let at = good
        .windows(pattern.len())
        .position(|w| w == pattern)
        .expect("the group size is in the header");
    let mut bad_group = good.clone();
    bad_group[at + pattern.len() - 1] = b'0';
    assert!(Mlp::from_quantized_safetensors(&bad_group).is_err());
    // Flip bytes of the tensor data (past the header): zero points > 15 or NaN/negative scales
    // must be errors, not panics; whatever loads must run.
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut rng = StdRng::seed_from_u64(7);
    for _ in 0..200 {
        let mut b = good.clone();
        let at = rng.random_range(header..b.len());
        b[at] = rng.random();
        if let Ok(m) = Mlp::from_quantized_safetensors(&b) {
            let _ = m.forward(Array2::zeros((1, 64)).view());
        }
    }
    // A hand-made int4 layer with a zero point of 16 is refused.
    let mut f = good.clone();
    let text = String::from_utf8_lossy(&f[..header]).to_string();
    assert!(text.contains("layers.0.zeros"));
    let q0 = &q.layers()[0];
    let QuantWeight::Int4(w) = q0.weight() else {
        panic!()
    };
    // The zeros tensor is located by value search: set every zero point of layer 0 to 16.
    let zeros = w.zeros().to_vec();
    let pos = f[header..]
        .windows(zeros.len())
        .position(|win| win == zeros.as_slice())
        .expect("the zero points are stored as they are in memory");
    for v in &mut f[header + pos..header + pos + zeros.len()] {
        *v = 16;
    }
    assert!(Mlp::from_quantized_safetensors(&f).is_err());
}

#[test]
fn errors_name_the_problem_and_leave_the_model_untouched() {
    let mlp = small_mlp();
    let before = mlp.clone();
    let group = |g| QuantScheme::int4(Granularity::PerGroup(g));
    // 64 and 32 are divisible by 32 but not by 24.
    assert!(matches!(
        Ptq::new(group(24)).quantize_mlp(&mlp, None),
        Err(Error::InvalidParam { name: "group", .. })
    ));
    let bad_bits = QuantScheme {
        weights: shrink::quant::WeightScheme::Int(IntScheme {
            bits: 2,
            symmetric: true,
            granularity: Granularity::PerChannel,
        }),
        activations: ActivationMode::WeightOnly,
    };
    assert!(matches!(
        Ptq::new(bad_bits).quantize_mlp(&mlp, None),
        Err(Error::InvalidParam { name: "bits", .. })
    ));
    assert!(matches!(
        Ptq::new(group(32))
            .exclude("layers.7")
            .quantize_mlp(&mlp, None),
        Err(Error::InvalidParam { name: "rules", .. })
    ));
    let static8 = QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Static);
    assert!(matches!(
        Ptq::new(static8).quantize_mlp(&mlp, None),
        Err(Error::InvalidParam {
            name: "calibration",
            ..
        })
    ));
    assert!(Gptq::new(group(32)).quantize_mlp(&mlp, None).is_err());
    // Calibration data: wrong width, NaN, empty.
    let mut rng = StdRng::seed_from_u64(8);
    assert!(matches!(
        Calibration::from_mlp(&mlp, &[random(4, 63, &mut rng).view()]),
        Err(Error::ShapeMismatch { .. })
    ));
    let mut nan = random(4, 64, &mut rng);
    nan[[1, 2]] = f32::NAN;
    assert!(matches!(
        Calibration::from_mlp(&mlp, &[nan.view()]),
        Err(Error::NonFinite(_))
    ));
    assert!(Calibration::from_mlp(&mlp, &[]).is_err());
    // Calibration recorded for another model's widths.
    let mut other = Calibration::default();
    other.insert(
        "layers.0",
        LayerInputs::new(10, vec![random(3, 10, &mut rng)]).unwrap(),
    );
    other.insert(
        "layers.1",
        LayerInputs::new(32, vec![random(3, 32, &mut rng)]).unwrap(),
    );
    assert!(matches!(
        Ptq::new(static8).quantize_mlp(&mlp, Some(&other)),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Ptq::new(QuantScheme::int8(Granularity::PerChannel))
            .weight_observer(Observer::Percentile { percentile: 20.0 })
            .quantize_mlp(&mlp, None),
        Err(Error::InvalidParam {
            name: "percentile",
            ..
        })
    ));
    assert_eq!(mlp, before);
    // Wrong input width at inference.
    let q = Ptq::new(group(32)).quantize_mlp(&mlp, None).unwrap();
    assert!(matches!(
        q.forward(Array2::zeros((2, 5)).view()),
        Err(Error::ShapeMismatch { .. })
    ));
    // Observers produce usable ranges on real inputs.
    let x = random(64, 64, &mut rng);
    let cal = Calibration::from_mlp(&mlp, &[x.view()]).unwrap();
    for o in [
        Observer::MinMax,
        Observer::MovingAverageMinMax { momentum: 0.9 },
        Observer::Percentile { percentile: 99.9 },
        Observer::Mse,
    ] {
        let q = Ptq::new(static8).activation_observer(o).weight_observer(o);
        let m = q.quantize_mlp(&mlp, Some(&cal)).unwrap();
        let d = (m.forward(x.view()).unwrap() - mlp.forward(x.view()).unwrap()).mapv(f32::abs);
        assert!(
            d.iter().all(|&v| v < 0.1),
            "{o:?}: {}",
            d.iter().cloned().fold(0.0, f32::max)
        );
    }
}

#[test]
fn quantized_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<shrink::quant::QuantLinear>();
    check::<Mlp<shrink::quant::QuantLinear>>();
    check::<Encoder<shrink::quant::QuantLinear>>();
    check::<Calibration>();
}
