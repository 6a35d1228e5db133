//! Bad inputs to training, pruning, quantization, distillation and the pipeline (issue #13):
//! each case asserts the expected `Error` variant and, for calls that take the model by `&mut`,
//! that the model is bit-identical afterwards. Everything is tiny and seeded.

use ndarray::{array, Array2, ArrayView2};
use rand::{rngs::StdRng, SeedableRng};
use shrink::data::synthetic::blobs;
use shrink::data::Dataset;
use shrink::distill::{
    soft_target_loss, Distiller, FeatureDistiller, GaussianNoise, HardLabels, LabelFree,
    LogitMatching, Schedule, SoftTargets,
};
use shrink::nn::{
    log_softmax_rows, softmax_rows, Activation, BlockConfig, Mlp, NamedLinears, NormPlacement,
    TransformerBlock,
};
use shrink::pipeline::{BudgetSearch, DistillStep, LayerOption, Pipeline, QuantStep, Teacher};
use shrink::prune::{
    compact, keep_heads, ActivationNorms, CubicSchedule, FfnChannelPruner, HeadPruner,
    MagnitudePruner, NeuronPruner, NmPruner, Pruner, RandomPruner, ThresholdPruner, WandaPruner,
};
use shrink::quant::{
    choose_params, ActivationMode, Calibration, Gptq, Granularity, IntScheme, LayerInputs,
    Observer, Ptq, Qat, QuantScheme, Quantizer,
};
use shrink::train::{
    kl_div_with_temperature, Adam, Objective, Optimizer, Sgd, TrainEvent, Trainer,
};
use shrink::Error;

// ---------------------------------------------------------------------------------------------
// Helpers

fn data() -> Dataset {
    blobs(12, 3, 4, 1.0, 0).unwrap()
}

fn mlp(seed: u64) -> Mlp {
    Mlp::new(
        &[4, 8, 3],
        Activation::Relu,
        &mut StdRng::seed_from_u64(seed),
    )
    .unwrap()
}

/// A model with a NaN in weight `k` of layer `layer` (or in its bias).
fn poisoned(layer: usize, bias: bool) -> Mlp {
    let mut m = mlp(1);
    let (w, b) = m.layers_mut()[layer].params_mut();
    if bias {
        b[0] = f32::NAN;
    } else {
        w[3] = f32::NAN;
    }
    m
}

/// Every weight, bias and mask entry of a model, as bits (NaN-safe equality).
fn bits(m: &Mlp) -> Vec<u32> {
    let mut out = Vec::new();
    for l in m.layers() {
        out.extend(l.weight().iter().map(|v| v.to_bits()));
        out.extend(l.bias().iter().map(|v| v.to_bits()));
        match l.mask() {
            Some(mask) => out.extend(mask.iter().map(|&k| u32::from(k) + 2)),
            None => out.push(u32::MAX),
        }
    }
    out
}

fn block() -> TransformerBlock {
    let config = BlockConfig {
        hidden: 8,
        heads: 2,
        intermediate: 16,
        activation: Activation::Gelu,
        placement: NormPlacement::PostLn,
        layer_norm_eps: 1e-12,
    };
    TransformerBlock::new(&config, &mut StdRng::seed_from_u64(3)).unwrap()
}

fn poisoned_block(target: &str) -> TransformerBlock {
    let mut b = block();
    b.visit_linears_mut(&mut |name, l| {
        if name == target {
            l.params_mut().0[1] = f32::NAN;
        }
    });
    b
}

#[track_caller]
fn assert_non_finite<T: std::fmt::Debug>(r: shrink::Result<T>, needles: &[&str]) {
    match r {
        Err(Error::NonFinite(what)) => {
            for n in needles {
                assert!(what.contains(n), "`{what}` does not mention `{n}`");
            }
        }
        other => panic!("expected NonFinite mentioning {needles:?}, got {other:?}"),
    }
}

#[track_caller]
fn assert_param<T: std::fmt::Debug>(r: shrink::Result<T>, want: &str) {
    match r {
        Err(Error::InvalidParam { name, .. }) => assert_eq!(name, want),
        other => panic!("expected InvalidParam `{want}`, got {other:?}"),
    }
}

#[track_caller]
fn assert_too_large<T: std::fmt::Debug>(r: shrink::Result<T>) {
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
}

/// Runs `f` on `model` and asserts the model is bit-identical afterwards; returns the result.
fn untouched<T>(
    model: &mut Mlp,
    f: impl FnOnce(&mut Mlp) -> shrink::Result<T>,
) -> shrink::Result<T> {
    let before = bits(model);
    let r = f(model);
    assert_eq!(before, bits(model), "a failing &mut call changed the model");
    r
}

fn trainer(opt: impl Into<Optimizer>) -> Trainer {
    Trainer::new(opt).epochs(2).batch_size(8)
}

fn schedule() -> Schedule {
    Schedule::new(Adam::new(1e-2)).epochs(2).batch_size(8)
}

/// An objective that pulls outputs to zero.
struct ToZero;

impl Objective for ToZero {
    fn loss_grad(
        &mut self,
        outputs: ArrayView2<f32>,
        _idx: &[usize],
    ) -> shrink::Result<(f32, Array2<f32>)> {
        shrink::train::mse(outputs, Array2::zeros(outputs.dim()).view())
    }
}

// ---------------------------------------------------------------------------------------------
// Trainer

#[test]
fn fit_rejects_a_nan_weight_and_names_the_layer() {
    let mut m = poisoned(1, false);
    let r = untouched(&mut m, |m| trainer(Adam::new(1e-2)).fit(m, &data(), None));
    assert_non_finite(r, &["layers.1 weight"]);
}

#[test]
fn fit_rejects_a_nan_bias() {
    let mut m = poisoned(0, true);
    let r = untouched(&mut m, |m| trainer(Adam::new(1e-2)).fit(m, &data(), None));
    assert_non_finite(r, &["layers.0 bias"]);
}

#[test]
fn fit_objective_rejects_nan_inputs() {
    let mut m = mlp(0);
    let mut x = Array2::<f32>::ones((5, 4));
    x[[2, 1]] = f32::NAN;
    let r = untouched(&mut m, |m| {
        trainer(Adam::new(1e-2)).fit_objective(m, x.view(), &mut ToZero, None, |_, _| Ok(()))
    });
    assert_non_finite(r, &["training inputs"]);
}

#[test]
fn fit_rejects_bad_learning_rates() {
    for lr in [f32::NAN, 0.0, -1.0, f32::INFINITY] {
        let mut m = mlp(0);
        let r = untouched(&mut m, |m| trainer(Sgd::new(lr)).fit(m, &data(), None));
        assert_param(r, "lr");
        let r = untouched(&mut m, |m| trainer(Adam::new(lr)).fit(m, &data(), None));
        assert_param(r, "lr");
    }
}

#[test]
fn fit_rejects_batch_size_and_epochs_zero() {
    let mut m = mlp(0);
    let r = untouched(&mut m, |m| {
        Trainer::new(Adam::new(1e-2))
            .batch_size(0)
            .fit(m, &data(), None)
    });
    assert_param(r, "batch_size");
    let r = untouched(&mut m, |m| {
        Trainer::new(Adam::new(1e-2))
            .epochs(0)
            .fit(m, &data(), None)
    });
    assert_param(r, "epochs");
}

#[test]
fn fit_rejects_bad_l1_strength() {
    for l1 in [f32::NAN, -1e-3, f32::INFINITY] {
        let mut m = mlp(0);
        let r = untouched(&mut m, |m| {
            trainer(Adam::new(1e-2)).l1(l1).fit(m, &data(), None)
        });
        assert_param(r, "l1");
    }
}

#[test]
fn fit_rejects_bad_optimizer_settings() {
    let mut m = mlp(0);
    let cases: Vec<(Optimizer, &str)> = vec![
        (Sgd::new(0.1).momentum(1.0).into(), "momentum"),
        (Sgd::new(0.1).momentum(f32::NAN).into(), "momentum"),
        (Sgd::new(0.1).weight_decay(-1.0).into(), "weight_decay"),
        (
            Adam {
                beta1: f32::NAN,
                ..Adam::new(0.1)
            }
            .into(),
            "beta1",
        ),
        (
            Adam {
                beta2: 1.0,
                ..Adam::new(0.1)
            }
            .into(),
            "beta2",
        ),
        (
            Adam {
                eps: 0.0,
                ..Adam::new(0.1)
            }
            .into(),
            "eps",
        ),
        (Adam::new(0.1).weight_decay(f32::NAN).into(), "weight_decay"),
    ];
    for (opt, name) in cases {
        let r = untouched(&mut m, |m| trainer(opt).fit(m, &data(), None));
        assert_param(r, name);
    }
}

#[test]
fn a_diverging_run_names_the_layer_and_epoch_and_keeps_the_model() {
    let mut m = mlp(0);
    let r = untouched(&mut m, |m| {
        Trainer::new(Sgd::new(1e30))
            .epochs(3)
            .batch_size(4)
            .fit(m, &data(), None)
    });
    assert_non_finite(r, &["layers.", "epoch", "lower the learning rate"]);
}

#[test]
fn a_callback_that_writes_nan_is_caught_after_the_epoch() {
    let mut m = mlp(0);
    let r = untouched(&mut m, |m| {
        trainer(Adam::new(1e-2)).fit_with(m, &data(), None, |event, model| {
            if let TrainEvent::Epoch(_) = event {
                model.layers_mut()[1].params_mut().0[0] = f32::NAN;
            }
            Ok(())
        })
    });
    assert_non_finite(r, &["layers.1 weight", "epoch 0"]);
}

#[test]
fn early_stopping_without_validation_is_an_error() {
    let mut m = mlp(0);
    let r = untouched(&mut m, |m| {
        trainer(Adam::new(1e-2))
            .early_stopping(2)
            .fit(m, &data(), None)
    });
    assert_param(r, "patience");
}

// ---------------------------------------------------------------------------------------------
// Softmax and losses

#[test]
fn softmax_rejects_bad_temperatures() {
    let x = array![[1.0f32, 2.0, 3.0]];
    for t in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        assert_param(softmax_rows(x.view(), t), "temperature");
        assert_param(log_softmax_rows(x.view(), t), "temperature");
    }
}

#[test]
fn softmax_rejects_non_finite_logits() {
    let x = array![[1.0f32, f32::NAN]];
    assert_non_finite(softmax_rows(x.view(), 1.0), &["softmax_rows"]);
    assert_non_finite(log_softmax_rows(x.view(), 1.0), &["log_softmax_rows"]);
    let y = array![[f32::NEG_INFINITY, f32::NEG_INFINITY]];
    assert_non_finite(softmax_rows(y.view(), 1.0), &["softmax_rows"]);
}

#[test]
fn log_softmax_refuses_to_underflow_to_minus_infinity() {
    let x = array![[-3e38f32, 3e38]];
    assert_non_finite(
        log_softmax_rows(x.view(), 1.0),
        &["log_softmax_rows output"],
    );
}

#[test]
fn kl_and_soft_target_loss_reject_bad_temperatures() {
    let s = array![[0.1f32, 0.2], [0.3, -0.1]];
    assert_param(
        kl_div_with_temperature(s.view(), s.view(), 0.0),
        "temperature",
    );
    assert_param(
        soft_target_loss(s.view(), s.view(), None, f32::NAN, 0.0),
        "temperature",
    );
    assert_param(
        soft_target_loss(s.view(), s.view(), None, 2.0, 1.5),
        "alpha",
    );
}

// ---------------------------------------------------------------------------------------------
// Cubic schedule

const SCHEDULE: CubicSchedule = CubicSchedule {
    initial: 0.0,
    target: 0.5,
    start_step: 0,
    frequency: 2,
    intervals: 4,
};

#[test]
fn cubic_schedule_with_nan_target_is_an_error_not_nan() {
    let s = CubicSchedule {
        target: f32::NAN,
        ..SCHEDULE
    };
    assert_param(s.sparsity_at(3), "sparsity");
    assert!(SCHEDULE.sparsity_at(3).unwrap().is_finite());
}

#[test]
fn cubic_schedule_with_initial_above_target_or_zero_frequency_is_an_error() {
    let inverted = CubicSchedule {
        initial: 0.6,
        ..SCHEDULE
    };
    assert_param(inverted.sparsity_at(1), "initial");
    let zero = CubicSchedule {
        frequency: 0,
        ..SCHEDULE
    };
    assert_param(zero.is_pruning_step(0), "frequency");
    let out_of_range = CubicSchedule {
        target: 1.0,
        ..SCHEDULE
    };
    assert!(out_of_range.callback(MagnitudePruner::new).is_err());
}

// ---------------------------------------------------------------------------------------------
// Affine parameters, observers, calibration

const S8: IntScheme = IntScheme {
    bits: 8,
    symmetric: false,
    granularity: Granularity::PerTensor,
};

#[test]
fn choose_params_rejects_inverted_and_non_finite_ranges() {
    assert_param(choose_params(2.0, -2.0, S8), "range");
    assert_non_finite(choose_params(f32::NAN, 1.0, S8), &["range"]);
    assert_non_finite(choose_params(0.0, f32::INFINITY, S8), &["range"]);
    assert_param(
        choose_params(-1.0, 1.0, IntScheme { bits: 2, ..S8 }),
        "bits",
    );
    let wide = choose_params(-f32::MAX, f32::MAX, S8).unwrap();
    assert!(wide.scale.is_finite() && wide.scale > 0.0);
}

#[test]
fn observers_reject_bad_settings_and_values() {
    let v = [1.0f32, 2.0, 3.0];
    for p in [150.0, 10.0, f32::NAN, -1.0] {
        assert_param(
            Observer::Percentile { percentile: p }.range(&[&v], S8),
            "percentile",
        );
    }
    assert_param(
        Observer::MovingAverageMinMax { momentum: 1.0 }.range(&[&v], S8),
        "momentum",
    );
    assert!(matches!(
        Observer::MinMax.range(&[], S8),
        Err(Error::Empty(_))
    ));
    assert_non_finite(Observer::Mse.range(&[&[1.0, f32::NAN]], S8), &["observed"]);
}

#[test]
fn calibration_rejects_empty_and_non_finite_data() {
    let m = mlp(0);
    assert!(matches!(
        Calibration::from_mlp(&m, &[]),
        Err(Error::Empty(_))
    ));
    let mut x = Array2::<f32>::ones((3, 4));
    x[[0, 0]] = f32::NAN;
    assert!(matches!(
        Calibration::from_mlp(&m, &[x.view()]),
        Err(Error::NonFinite(_))
    ));
    assert!(matches!(
        LayerInputs::new(4, vec![Array2::zeros((0, 4))]),
        Err(Error::Empty(_))
    ));
    assert!(matches!(
        LayerInputs::new(4, vec![x.clone()]),
        Err(Error::NonFinite(_))
    ));
}

#[test]
fn a_gram_matrix_beyond_the_limits_is_refused_before_allocating() {
    // One row of 70 000 inputs is 280 KB; its Gram matrix would be 4.9e9 f64.
    let wide = LayerInputs::new(70_000, vec![Array2::zeros((1, 70_000))]).unwrap();
    assert_too_large(wide.gram());
}

// ---------------------------------------------------------------------------------------------
// Pruners

#[test]
fn magnitude_pruning_rejects_nan_weights_layer_and_global() {
    for global in [false, true] {
        let mut m = poisoned(1, false);
        let p = if global {
            MagnitudePruner::new(0.5).global()
        } else {
            MagnitudePruner::new(0.5)
        };
        let r = untouched(&mut m, |m| p.prune(m));
        assert_non_finite(r, &["layers.1 weight"]);
    }
}

#[test]
fn pruners_reject_out_of_range_sparsity() {
    for s in [1.0, 1.5, -0.1, f32::NAN] {
        let mut m = mlp(0);
        let r = untouched(&mut m, |m| MagnitudePruner::new(s).prune(m));
        assert_param(r, "sparsity");
        let r = untouched(&mut m, |m| RandomPruner::new(s, 0).prune(m));
        assert_param(r, "sparsity");
        let norms = ActivationNorms::from_mlp(&mlp(0), data().features()).unwrap();
        let r = untouched(&mut m, |m| WandaPruner::new(s, norms).prune(m));
        assert_param(r, "sparsity");
    }
}

#[test]
fn threshold_pruning_rejects_nan_weights_and_alpha() {
    let mut m = poisoned(0, false);
    let r = untouched(&mut m, |m| ThresholdPruner::new(0.1).prune(m));
    assert_non_finite(r, &["layers.0 weight"]);
    let mut m = mlp(0);
    let r = untouched(&mut m, |m| ThresholdPruner::new(f32::NAN).prune(m));
    assert_param(r, "alpha");
}

#[test]
fn random_pruning_rejects_nan_bias() {
    let mut m = poisoned(1, true);
    let r = untouched(&mut m, |m| RandomPruner::new(0.5, 3).prune(m));
    assert_non_finite(r, &["layers.1 bias"]);
}

#[test]
fn nm_pruning_rejects_nan_weights_and_bad_patterns() {
    let mut m = poisoned(1, false);
    let r = untouched(&mut m, |m| NmPruner::new(2, 4).prune(m));
    assert_non_finite(r, &["layers.1 weight"]);
    let mut m = mlp(0);
    for (n, k) in [(4, 2), (2, 0), (0, 4), (4, 4)] {
        let r = untouched(&mut m, |m| NmPruner::new(n, k).prune(m));
        assert_param(r, "n:m");
    }
}

#[test]
fn wanda_rejects_nan_weights_in_calibration_and_pruning() {
    let bad = poisoned(0, false);
    assert_non_finite(
        ActivationNorms::from_mlp(&bad, data().features()),
        &["layers.0 weight"],
    );
    let norms = ActivationNorms::from_mlp(&mlp(0), data().features()).unwrap();
    let mut m = poisoned(1, false);
    let r = untouched(&mut m, |m| WandaPruner::new(0.5, norms).prune(m));
    assert_non_finite(r, &["layers.1 weight"]);
    let mut norms = ActivationNorms::default();
    assert_non_finite(
        norms.insert("layers.0", array![[3e38f32, 1.0], [3e38, 1.0]].view()),
        &["activation norms"],
    );
}

#[test]
fn structured_pruning_and_compaction_reject_nan_weights() {
    let bad = poisoned(1, false);
    assert_non_finite(NeuronPruner::new(0.5).prune(&bad), &["layers.1 weight"]);
    assert_param(NeuronPruner::new(f32::NAN).prune(&mlp(0)), "fraction");
    assert_non_finite(compact(&bad), &["layers.1 weight"]);
}

#[test]
fn head_and_channel_pruning_reject_nan_weights_and_bad_fractions() {
    let bad = poisoned_block("attn.q");
    assert_non_finite(HeadPruner::new(0.5).prune_block(&bad), &["attn.q weight"]);
    let bad = poisoned_block("ffn.in");
    assert_non_finite(
        FfnChannelPruner::new(0.5).prune_block(&bad),
        &["ffn.in weight"],
    );
    assert_non_finite(
        keep_heads(&poisoned_block("attn.o"), &[0]),
        &["attn.o weight"],
    );
    assert_param(HeadPruner::new(1.0).prune_block(&block()), "fraction");
    assert_param(
        FfnChannelPruner::new(f32::NAN).prune_block(&block()),
        "fraction",
    );
}

// ---------------------------------------------------------------------------------------------
// Quantizers

#[test]
fn ptq_rejects_nan_weights_for_every_format() {
    let bad = poisoned(1, false);
    for scheme in [
        QuantScheme::int8(Granularity::PerChannel),
        QuantScheme::int4(Granularity::PerTensor),
        QuantScheme::f16(),
    ] {
        assert_non_finite(
            Ptq::new(scheme).quantize_mlp(&bad, None),
            &["layers.1 weight"],
        );
    }
    // Even a layer kept in f32.
    assert_non_finite(
        Ptq::new(QuantScheme::f16())
            .exclude("layers.1")
            .quantize_mlp(&bad, None),
        &["layers.1 weight"],
    );
}

#[test]
fn ptq_static_needs_calibration() {
    let q =
        Ptq::new(QuantScheme::int8(Granularity::PerChannel).activations(ActivationMode::Static));
    assert_param(q.quantize_mlp(&mlp(0), None), "calibration");
}

#[test]
fn gptq_rejects_nan_weights_bad_damp_and_missing_calibration() {
    let x = data();
    let good = mlp(0);
    let cal = Calibration::from_mlp(&good, &[x.features()]).unwrap();
    let g = Gptq::new(QuantScheme::int8(Granularity::PerChannel));
    assert_non_finite(
        g.quantize_mlp(&poisoned(1, false), Some(&cal)),
        &["layers.1 weight"],
    );
    for damp in [0.0, f32::NAN, 2.0] {
        assert_param(
            Gptq::new(QuantScheme::int8(Granularity::PerChannel))
                .damp(damp)
                .quantize_mlp(&good, Some(&cal)),
            "damp",
        );
    }
    assert_param(g.quantize_mlp(&good, None), "calibration");
}

#[test]
fn gptq_refuses_layers_wider_than_its_limit() {
    let w = shrink::quant::MAX_GPTQ_INPUTS + 1;
    let layer = shrink::nn::Linear::new(Array2::zeros((1, w)), ndarray::Array1::zeros(1)).unwrap();
    let mut cal = Calibration::default();
    cal.insert(
        "wide",
        LayerInputs::new(w, vec![Array2::ones((1, w))]).unwrap(),
    );
    let g = Gptq::new(QuantScheme::int8(Granularity::PerChannel));
    assert_too_large(g.quantize_linear("wide", &layer, Some(&cal)));
}

#[test]
fn qat_rejects_nan_weights_and_bad_settings() {
    let bad = poisoned(0, false);
    let q = Qat::new(QuantScheme::int8(Granularity::PerChannel)).epochs(1);
    assert_non_finite(q.fit(&bad, &data()), &["layers.0 weight"]);
    assert_param(q.clone().batch_size(0).fit(&mlp(0), &data()), "batch_size");
    assert_param(
        q.clone()
            .optimizer(Adam::new(f32::NAN))
            .fit(&mlp(0), &data()),
        "lr",
    );
}

#[test]
fn qat_divergence_names_the_layer_and_epoch() {
    let q = Qat::new(QuantScheme::int8(Granularity::PerChannel))
        .exclude("layers.1")
        .optimizer(Sgd::new(1e30))
        .epochs(3)
        .batch_size(4);
    assert_non_finite(q.fit(&mlp(0), &data()), &["layers.", "epoch"]);
}

// ---------------------------------------------------------------------------------------------
// Distillers

fn student() -> Mlp {
    Mlp::new(&[4, 5, 3], Activation::Relu, &mut StdRng::seed_from_u64(9)).unwrap()
}

#[test]
fn soft_targets_reject_a_nan_teacher_and_keep_the_student() {
    let teacher = poisoned(0, false);
    let mut s = student();
    let r = untouched(&mut s, |s| {
        SoftTargets::new(4.0, 0.5, schedule()).distill_dataset(&teacher, s, &data())
    });
    assert_non_finite(r, &["teacher layers.0 weight"]);
}

#[test]
fn soft_targets_reject_a_nan_student() {
    let mut s = student();
    s.layers_mut()[1].params_mut().1[2] = f32::NAN;
    let r = untouched(&mut s, |s| {
        SoftTargets::new(4.0, 0.5, schedule()).distill_dataset(&mlp(0), s, &data())
    });
    assert_non_finite(r, &["student layers.1 bias"]);
}

#[test]
fn soft_targets_reject_bad_temperature_alpha_and_schedule() {
    let teacher = mlp(0);
    let mut s = student();
    for t in [0.0, -1.0, f32::NAN] {
        let r = untouched(&mut s, |s| {
            SoftTargets::new(t, 0.5, schedule()).distill_dataset(&teacher, s, &data())
        });
        assert_param(r, "temperature");
    }
    let r = untouched(&mut s, |s| {
        SoftTargets::new(2.0, f32::NAN, schedule()).distill_dataset(&teacher, s, &data())
    });
    assert_param(r, "alpha");
    let r = untouched(&mut s, |s| {
        SoftTargets::new(2.0, 0.5, schedule().batch_size(0)).distill_dataset(&teacher, s, &data())
    });
    assert_param(r, "batch_size");
}

#[test]
fn hard_labels_and_logit_matching_reject_nan_models() {
    let mut s = student();
    let r = untouched(&mut s, |s| {
        HardLabels::new(schedule()).distill_dataset(&poisoned(1, false), s, &data())
    });
    assert_non_finite(r, &["teacher layers.1 weight"]);
    let mut bad_student = student();
    bad_student.layers_mut()[0].params_mut().0[0] = f32::INFINITY;
    let r = untouched(&mut bad_student, |s| {
        LogitMatching::new(schedule()).distill_dataset(&mlp(0), s, &data())
    });
    assert_non_finite(r, &["student layers.0 weight"]);
}

#[test]
fn distillation_rejects_nan_inputs() {
    let mut x = data().features().to_owned();
    x[[1, 1]] = f32::NAN;
    let mut s = student();
    let r = untouched(&mut s, |s| {
        HardLabels::new(schedule()).distill(&mlp(0), s, x.view(), None)
    });
    assert!(matches!(r, Err(Error::NonFinite(_))), "{r:?}");
}

#[test]
fn feature_distillation_rejects_nan_teacher_and_bad_beta() {
    let mut s = student();
    let r = untouched(&mut s, |s| {
        FeatureDistiller::new(0, 0, 1.0, schedule())
            .fit(
                &poisoned(0, true),
                s,
                data().features(),
                Some(data().labels()),
            )
            .map(|f| f.history)
    });
    assert_non_finite(r, &["teacher layers.0 bias"]);
    let r = untouched(&mut s, |s| {
        FeatureDistiller::new(0, 0, f32::NAN, schedule())
            .fit(&mlp(0), s, data().features(), Some(data().labels()))
            .map(|f| f.history)
    });
    assert_param(r, "beta");
}

#[test]
fn feature_distillation_divergence_names_a_layer() {
    let mut s = student();
    let sched = Schedule::new(Sgd::new(1e30)).epochs(3).batch_size(4);
    let r = untouched(&mut s, |s| {
        FeatureDistiller::new(0, 0, 1.0, sched)
            .fit(&mlp(0), s, data().features(), Some(data().labels()))
            .map(|f| f.history)
    });
    assert_non_finite(r, &["epoch"]);
}

#[test]
fn label_free_with_huge_copies_is_refused_quickly() {
    let mut s = student();
    for copies in [usize::MAX, usize::MAX / 3, 1 << 40] {
        let lf = LabelFree::new(2.0, GaussianNoise::new(copies, 0.1, 0), schedule());
        let r = untouched(&mut s, |s| lf.distill(&mlp(0), s, data().features(), None));
        assert_too_large(r);
    }
    assert_too_large(GaussianNoise::new(usize::MAX, 0.1, 0).apply(data().features()));
}

#[test]
fn label_free_rejects_nan_teacher_and_bad_noise() {
    let mut s = student();
    let lf = LabelFree::new(2.0, GaussianNoise::new(1, 0.1, 0), schedule());
    let r = untouched(&mut s, |s| {
        lf.distill(&poisoned(1, false), s, data().features(), None)
    });
    assert_non_finite(r, &["teacher layers.1 weight"]);
    for std in [f32::NAN, -1.0] {
        let lf = LabelFree::new(2.0, GaussianNoise::new(1, std, 0), schedule());
        let r = untouched(&mut s, |s| lf.distill(&mlp(0), s, data().features(), None));
        assert_param(r, "std");
    }
    let lf = LabelFree::new(0.0, GaussianNoise::new(1, 0.1, 0), schedule());
    let r = untouched(&mut s, |s| lf.distill(&mlp(0), s, data().features(), None));
    assert_param(r, "temperature");
}

// ---------------------------------------------------------------------------------------------
// Pipeline and budget search

fn distill_step(sizes: Vec<usize>) -> DistillStep {
    DistillStep {
        sizes,
        distiller: SoftTargets::new(2.0, 0.5, schedule()),
        seed: 0,
        teacher: Teacher::Original,
        quantize: None,
    }
}

#[test]
fn pipeline_rejects_a_nan_model_and_bad_settings() {
    let d = data();
    assert_non_finite(
        Pipeline::new()
            .latency(1, 1)
            .run(&poisoned(1, false), &d, &d)
            .map(|_| ()),
        &["layers.1 weight"],
    );
    assert_param(
        Pipeline::new()
            .calibration_rows(0)
            .run(&mlp(0), &d, &d)
            .map(|_| ()),
        "calibration_rows",
    );
    assert_param(
        Pipeline::new()
            .prune(
                MagnitudePruner::new(0.5),
                Some(Trainer::new(Sgd::new(f32::NAN))),
            )
            .run(&mlp(0), &d, &d)
            .map(|_| ()),
        "lr",
    );
    assert_param(
        Pipeline::new()
            .quantize(QuantStep::Qat(
                Qat::new(QuantScheme::int8(Granularity::PerChannel)).epochs(0),
            ))
            .run(&mlp(0), &d, &d)
            .map(|_| ()),
        "epochs",
    );
}

#[test]
fn pipeline_rejects_bad_student_sizes_before_allocating() {
    let d = data();
    assert_too_large(
        Pipeline::new()
            .distill(distill_step(vec![4, 1 << 40, 3]))
            .run(&mlp(0), &d, &d)
            .map(|_| ()),
    );
    assert_too_large(
        Pipeline::new()
            .distill(distill_step(vec![4, usize::MAX, 3]))
            .run(&mlp(0), &d, &d)
            .map(|_| ()),
    );
    assert_param(
        Pipeline::new()
            .distill(distill_step(vec![4, 0, 3]))
            .run(&mlp(0), &d, &d)
            .map(|_| ()),
        "sizes",
    );
    let mut bad_t = distill_step(vec![4, 5, 3]);
    bad_t.distiller.temperature = f32::NAN;
    assert_param(
        Pipeline::new()
            .distill(bad_t)
            .run(&mlp(0), &d, &d)
            .map(|_| ()),
        "temperature",
    );
}

#[test]
fn budget_search_rejects_bad_settings_and_nan_models() {
    let d = data();
    assert_param(
        BudgetSearch::new(f32::NAN).run(&mlp(0), &d),
        "max_drop_points",
    );
    assert_param(BudgetSearch::new(-1.0).run(&mlp(0), &d), "max_drop_points");
    assert_param(
        BudgetSearch::new(1.0)
            .options(vec![LayerOption::SparseInt8(f32::NAN)])
            .run(&mlp(0), &d),
        "options",
    );
    assert_too_large(
        BudgetSearch::new(1.0)
            .options(vec![LayerOption::Int8; BudgetSearch::MAX_OPTIONS + 1])
            .run(&mlp(0), &d),
    );
    assert_non_finite(
        BudgetSearch::new(1.0).run(&poisoned(0, false), &d),
        &["layers.0 weight"],
    );
    let bad = poisoned(1, false);
    assert_non_finite(
        LayerOption::Int8.apply("layers.1", &bad.layers()[1]),
        &["layers.1 weight"],
    );
    assert_non_finite(
        LayerOption::F32.apply("layers.1", &bad.layers()[1]),
        &["layers.1 weight"],
    );
}

#[test]
fn noise_that_overflows_f32_is_an_error() {
    let x = array![[3e38f32, 1.0]];
    assert_non_finite(
        GaussianNoise::new(2, 1e38, 0).apply(x.view()),
        &["augmented"],
    );
}

#[test]
fn int4_ranges_beyond_f16_scales_are_errors() {
    let s4 = IntScheme {
        bits: 4,
        symmetric: true,
        granularity: Granularity::PerTensor,
    };
    assert_param(choose_params(-1e9, 1e9, s4), "scale");
}

#[test]
fn qat_and_gptq_reject_nan_biases() {
    let bad = poisoned(1, true);
    let q = Qat::new(QuantScheme::int8(Granularity::PerChannel)).epochs(1);
    assert_non_finite(q.fit(&bad, &data()), &["layers.1 bias"]);
    let cal = Calibration::from_mlp(&mlp(0), &[data().features()]).unwrap();
    assert_non_finite(
        Gptq::new(QuantScheme::int4(Granularity::PerTensor)).quantize_mlp(&bad, Some(&cal)),
        &["layers.1 bias"],
    );
}

#[test]
fn validation_sets_are_checked_against_the_model() {
    let mut m = mlp(0);
    let wrong = blobs(5, 3, 6, 1.0, 1).unwrap();
    let r = untouched(&mut m, |m| {
        trainer(Adam::new(1e-2)).fit(m, &data(), Some(&wrong))
    });
    assert!(matches!(r, Err(Error::ShapeMismatch { .. })), "{r:?}");
}

#[test]
fn pruning_a_nan_encoder_block_through_named_linears_keeps_it() {
    let mut b = poisoned_block("attn.v");
    let before = b.clone();
    let r = MagnitudePruner::new(0.5).prune(&mut b);
    assert_non_finite(r, &["attn.v weight"]);
    let (x, y) = (bits_of_block(&before), bits_of_block(&b));
    assert_eq!(x, y);
}

fn bits_of_block(b: &TransformerBlock) -> Vec<u32> {
    let mut out = Vec::new();
    b.visit_linears(&mut |_, l| {
        out.extend(l.weight().iter().map(|v| v.to_bits()));
        out.push(u32::from(l.mask().is_some()));
    });
    out
}

// ---------------------------------------------------------------------------------------------
// Healthy inputs still work (the checks refuse only what is bad).

#[test]
fn healthy_runs_still_succeed() {
    let d = data();
    let mut m = mlp(0);
    trainer(Adam::new(1e-2)).fit(&mut m, &d, None).unwrap();
    MagnitudePruner::new(0.5).prune(&mut m).unwrap();
    Ptq::new(QuantScheme::int8(Granularity::PerChannel))
        .quantize_mlp(&m, None)
        .unwrap();
    let mut s = student();
    SoftTargets::new(2.0, 0.5, schedule())
        .distill_dataset(&m, &mut s, &d)
        .unwrap();
    let lf = LabelFree::new(2.0, GaussianNoise::new(2, 0.1, 0), schedule());
    lf.distill(&m, &mut s, d.features(), None).unwrap();
}
