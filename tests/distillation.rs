//! Knowledge distillation on the digits split (tests/common): soft-target KD against the same
//! student trained on labels alone, label-free transfer, the other distillers, binary teachers,
//! teacher-output modes and error cases.
//!
//! The recipe under test (picked by the sweeps at the end of this file on seeds 0–4, then
//! checked on seeds 5–9): teacher 64-256-128-10 (50,826 parameters, `trained_mlp`, 30 epochs,
//! seed 0, test accuracy 0.9749); student 64-16-10 (1,210 parameters, 42× fewer); both students
//! get Adam 1e-2 (no weight decay), 30 epochs, batch 32, initial weights and shuffling seeded by
//! the same seed; KD at T = 5, α = 0.3.
//!
//! Sweeps (slow, ignored):
//! `cargo test --release --test distillation -- --ignored --nocapture`

mod common;

use std::sync::OnceLock;

use common::{digits, trained_mlp};
use ndarray::{Array2, ArrayView2};
use rand::{rngs::StdRng, SeedableRng};
use shrink::data::synthetic::two_spirals;
use shrink::data::Dataset;
use shrink::distill::{
    agreement, DistillReport, Distiller, FeatureDistiller, GaussianNoise, HardLabels, LabelFree,
    LogitMatching, Schedule, SoftTargets, TeacherOutputs,
};
use shrink::eval::evaluate;
use shrink::nn::{Activation, Mlp};
use shrink::train::{Adam, Loss, Trainer};
use shrink::{Error, Forward};

const TEACHER: [usize; 4] = [64, 256, 128, 10];
const STUDENT: [usize; 3] = [64, 16, 10];
const SEEDS: [u64; 5] = [0, 1, 2, 3, 4];
const TEMPERATURE: f32 = 5.0;
const ALPHA: f32 = 0.3;

struct Setup {
    train: Dataset,
    test: Dataset,
    teacher: Mlp,
}

/// The digits split and the teacher, trained once per test binary.
fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let (train, test) = digits();
        let teacher = trained_mlp(&train, &TEACHER, 30, 0);
        Setup {
            train,
            test,
            teacher,
        }
    })
}

fn student(sizes: &[usize], seed: u64) -> Mlp {
    Mlp::new(sizes, Activation::Relu, &mut StdRng::seed_from_u64(seed)).unwrap()
}

/// The budget both the label-trained and the distilled student get.
fn schedule(seed: u64) -> Schedule {
    Schedule::new(Adam::new(1e-2)).epochs(30).seed(seed)
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

fn test_accuracy(m: &Mlp) -> f32 {
    evaluate(m, &setup().test).unwrap().accuracy
}

/// Per-seed test accuracy of the student trained on labels alone and with soft-target KD.
fn alone_and_kd() -> &'static (Vec<f32>, Vec<f32>) {
    static RESULTS: OnceLock<(Vec<f32>, Vec<f32>)> = OnceLock::new();
    RESULTS.get_or_init(|| {
        let s = setup();
        let mut alone = Vec::new();
        let mut kd = Vec::new();
        for seed in SEEDS {
            let mut m = student(&STUDENT, seed);
            schedule(seed)
                .trainer()
                .fit(&mut m, &s.train, None)
                .unwrap();
            alone.push(test_accuracy(&m));
            let mut m = student(&STUDENT, seed);
            SoftTargets::new(TEMPERATURE, ALPHA, schedule(seed))
                .distill_dataset(&s.teacher, &mut m, &s.train)
                .unwrap();
            kd.push(test_accuracy(&m));
        }
        (alone, kd)
    })
}

/// Measured (seeds 0–4): alone [0.9526, 0.9666, 0.9582, 0.9610, 0.9582], mean 0.9593; KD
/// [0.9721, 0.9638, 0.9666, 0.9638, 0.9666], mean 0.9666; gain +0.0072 (KD lost on seed 1).
/// Held-out seeds 5–9 gave +0.0106. The assertion leaves a margin of ~6 test images in all.
#[test]
fn soft_kd_student_beats_the_label_trained_student_on_mean_accuracy() {
    let s = setup();
    let teacher_params = s.teacher.param_count();
    let student_params = student(&STUDENT, 0).param_count();
    assert_eq!((teacher_params, student_params), (50_826, 1_210));
    assert!(teacher_params >= 8 * student_params);

    let (alone, kd) = alone_and_kd();
    let gain = mean(kd) - mean(alone);
    eprintln!(
        "alone {alone:.4?} mean {:.4}; KD {kd:.4?} mean {:.4}; gain {gain:+.4}",
        mean(alone),
        mean(kd)
    );
    assert!(gain >= 0.004, "mean KD gain {gain:+.4} below +0.004");
    assert!(mean(kd) >= 0.962, "KD mean {:.4}", mean(kd));
}

/// Measured (seeds 0–4, 2 noisy copies σ = 0.3 of the standardised inputs, 30 epochs over the
/// 3× larger set): [0.9666, 0.9694, 0.9666, 0.9749, 0.9694], mean 0.9694 — above the labelled
/// KD student's 0.9666.
#[test]
fn label_free_transfer_is_within_two_points_of_labelled_kd() {
    let s = setup();
    let mut free = Vec::new();
    for seed in SEEDS {
        let mut m = student(&STUDENT, seed);
        // No labels anywhere: the inputs alone.
        LabelFree::new(
            TEMPERATURE,
            GaussianNoise::new(2, 0.3, seed),
            schedule(seed),
        )
        .distill(&s.teacher, &mut m, s.train.features(), None)
        .unwrap();
        free.push(test_accuracy(&m));
    }
    let (_, kd) = alone_and_kd();
    eprintln!("label-free {free:.4?} mean {:.4}", mean(&free));
    assert!(
        mean(&free) >= mean(kd) - 0.02,
        "label-free {:.4} vs labelled KD {:.4}",
        mean(&free),
        mean(kd)
    );
}

/// Measured (seed 0), accuracy / agreement with the teacher: hard labels 0.9526 / 0.9610,
/// logit MSE 0.9499 / 0.9721, feature (student layers.0 → teacher layers.0, β = 0.1, soft
/// logits T = 5, α = 0.3) 0.9694 / 0.9889.
#[test]
fn hard_label_logit_and_feature_distillers_imitate_the_teacher() {
    let s = setup();
    let feature =
        FeatureDistiller::new("layers.0", "layers.0", 0.1, schedule(0)).logits(TEMPERATURE, ALPHA);
    let runs: [(&str, &dyn Distiller<Mlp>); 3] = [
        ("hard", &HardLabels::new(schedule(0))),
        ("logit", &LogitMatching::new(schedule(0))),
        ("feature", &feature),
    ];
    for (name, d) in runs {
        let mut m = student(&STUDENT, 0);
        d.distill_dataset(&s.teacher, &mut m, &s.train).unwrap();
        let r = DistillReport::measure(&s.teacher, &m, &s.test).unwrap();
        eprintln!("{name}: {r:?}");
        assert!(r.student_accuracy >= 0.94, "{name}: {r:?}");
        assert!(r.agreement >= 0.95, "{name}: {r:?}");
        assert_eq!(r.teacher_params, 50_826);
        assert_eq!(r.student_params, 1_210);
        approx::assert_abs_diff_eq!(r.teacher_accuracy, 0.9749, epsilon = 0.01);
    }
}

/// The teacher classifies every training image correctly, so its argmax is the label and
/// hard-label distillation is label training: the same student, bit for bit.
#[test]
fn hard_label_kd_from_a_teacher_that_fits_the_labels_is_label_training() {
    let s = setup();
    assert_eq!(evaluate(&s.teacher, &s.train).unwrap().accuracy, 1.0);
    let mut by_labels = student(&STUDENT, 2);
    schedule(2)
        .epochs(3)
        .trainer()
        .fit(&mut by_labels, &s.train, None)
        .unwrap();
    let mut by_teacher = student(&STUDENT, 2);
    HardLabels::new(schedule(2).epochs(3))
        .distill_dataset(&s.teacher, &mut by_teacher, &s.train)
        .unwrap();
    assert_eq!(by_labels, by_teacher);
}

/// Bit for bit here: a teacher output row does not depend on the other rows of its batch (the
/// matrix-vector path for a one-row batch could differ in rounding; no batch here has one row).
#[test]
fn cached_and_per_batch_teacher_outputs_give_the_same_student() {
    let s = setup();
    let sched = schedule(3).epochs(3);
    let run = |d: &dyn Distiller<Mlp>| {
        let mut m = student(&STUDENT, 3);
        d.distill_dataset(&s.teacher, &mut m, &s.train).unwrap();
        m
    };
    let soft = SoftTargets::new(TEMPERATURE, ALPHA, sched);
    let cached = run(&soft);
    let streamed = run(&soft.teacher_outputs(TeacherOutputs::PerBatch));
    assert_eq!(cached, streamed);
    let feature = FeatureDistiller::new(0, 1, 0.1, sched);
    let cached = run(&feature);
    let streamed = run(&feature.clone().teacher_outputs(TeacherOutputs::PerBatch));
    assert_eq!(cached, streamed);
}

/// A teacher behind `dyn Forward`, as a pruned, sparse or quantized model would be.
#[test]
fn any_forward_teacher_can_be_distilled() {
    let s = setup();
    let teacher: &dyn Forward = &s.teacher;
    let mut m = student(&STUDENT, 0);
    SoftTargets::new(TEMPERATURE, ALPHA, schedule(0).epochs(5))
        .distill_dataset(teacher, &mut m, &s.train)
        .unwrap();
    assert!(agreement(teacher, &m, s.test.features()).unwrap() > 0.9);
}

/// Binary teachers (one sigmoid logit): soft targets σ(t/T), hard labels [t > 0], logit MSE.
#[test]
fn binary_teachers_work() {
    let data = two_spirals(150, 0.05, 0).unwrap();
    let mut teacher = Mlp::new(
        &[2, 64, 64, 1],
        Activation::Tanh,
        &mut StdRng::seed_from_u64(0),
    )
    .unwrap();
    Trainer::new(Adam::new(1e-2))
        .loss(Loss::BinaryCrossEntropy)
        .epochs(150)
        .fit(&mut teacher, &data, None)
        .unwrap();
    let teacher_acc = evaluate(&teacher, &data).unwrap().accuracy;
    assert!(teacher_acc > 0.95, "teacher {teacher_acc}");
    let sched = Schedule::new(Adam::new(1e-2)).epochs(150);
    let runs: [(&str, &dyn Distiller<Mlp>); 3] = [
        ("soft", &SoftTargets::new(2.0, 0.3, sched)),
        ("hard", &HardLabels::new(sched)),
        ("logit", &LogitMatching::new(sched)),
    ];
    for (name, d) in runs {
        let mut m = Mlp::new(
            &[2, 32, 32, 1],
            Activation::Tanh,
            &mut StdRng::seed_from_u64(1),
        )
        .unwrap();
        d.distill_dataset(&teacher, &mut m, &data).unwrap();
        let r = DistillReport::measure(&teacher, &m, &data).unwrap();
        eprintln!("binary {name}: {r:?}");
        assert!(r.agreement > 0.85, "binary {name}: {r:?}");
    }
}

#[test]
fn bad_settings_and_shapes_are_errors_and_leave_the_student_untouched() {
    let s = setup();
    let sched = schedule(0).epochs(1);
    let x = s.train.features();
    let y = Some(s.train.labels());
    let original = student(&STUDENT, 0);
    let check = |what: &str, result: shrink::Result<_>, m: &Mlp| {
        let err = result.expect_err(what);
        eprintln!("{what}: {err}");
        assert_eq!(m, &original, "{what}: student changed");
        err
    };

    let mut m = original.clone();
    for t in [0.0f32, -2.0, f32::NAN, f32::INFINITY] {
        let err = check(
            "temperature",
            SoftTargets::new(t, 0.5, sched).distill(&s.teacher, &mut m, x, y),
            &m,
        );
        assert!(matches!(
            err,
            Error::InvalidParam {
                name: "temperature",
                ..
            }
        ));
    }
    for a in [-0.1f32, 1.01, f32::NAN] {
        let err = check(
            "alpha",
            SoftTargets::new(2.0, a, sched).distill(&s.teacher, &mut m, x, y),
            &m,
        );
        assert!(matches!(err, Error::InvalidParam { name: "alpha", .. }));
    }
    check(
        "α > 0 without labels",
        SoftTargets::new(2.0, 0.5, sched).distill(&s.teacher, &mut m, x, None),
        &m,
    );
    check(
        "bad schedule",
        HardLabels::new(sched.epochs(0)).distill(&s.teacher, &mut m, x, y),
        &m,
    );

    // Output widths differ.
    let mut narrow = student(&[64, 16, 9], 0);
    let before = narrow.clone();
    let err = SoftTargets::new(2.0, 0.0, sched)
        .distill(&s.teacher, &mut narrow, x, None)
        .unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
    assert_eq!(narrow, before);

    // Inputs of the wrong width (for student, teacher, or both).
    let wide = Array2::<f32>::zeros((10, 65));
    let err = check(
        "input width",
        LogitMatching::new(sched).distill(&s.teacher, &mut m, wide.view(), None),
        &m,
    );
    assert!(matches!(err, Error::ShapeMismatch { .. }));
    let mut wide_student = student(&[65, 16, 10], 0);
    let before = wide_student.clone();
    assert!(HardLabels::new(sched)
        .distill(&s.teacher, &mut wide_student, wide.view(), None)
        .is_err());
    assert_eq!(wide_student, before);
    check(
        "label count",
        SoftTargets::new(2.0, 0.5, sched).distill(&s.teacher, &mut m, x, Some(&[0, 1])),
        &m,
    );
    let empty: ArrayView2<f32> = x.slice_move(ndarray::s![..0, ..]);
    check(
        "empty inputs",
        LabelFree::new(2.0, GaussianNoise::new(1, 0.1, 0), sched)
            .distill(&s.teacher, &mut m, empty, None),
        &m,
    );
    check(
        "negative noise",
        LabelFree::new(2.0, GaussianNoise::new(1, -0.1, 0), sched)
            .distill(&s.teacher, &mut m, x, None),
        &m,
    );

    // Feature layers of unknown name, or not hidden.
    for (sl, tl) in [
        ("layers.1", "layers.0"),
        ("layers.0", "fc1"),
        ("layers.0", "layers.2"),
    ] {
        let err = check(
            "feature layer",
            FeatureDistiller::new(sl, tl, 1.0, sched).distill(&s.teacher, &mut m, x, y),
            &m,
        );
        assert!(matches!(err, Error::InvalidParam { .. }), "{err}");
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SoftTargets>();
    assert_send_sync::<HardLabels>();
    assert_send_sync::<LogitMatching>();
    assert_send_sync::<FeatureDistiller>();
    assert_send_sync::<LabelFree>();
    assert_send_sync::<DistillReport>();
}

/// The sweep that picked the recipe (seeds 0–4): students 64-16-10 and 64-32-10, four budgets,
/// T ∈ {3, 5}, α ∈ {0, 0.3, 0.7}.
/// `cargo test --release --test distillation -- --ignored --nocapture sweep_recipes`
#[test]
#[ignore]
fn sweep_recipes() {
    let s = setup();
    for sizes in [[64usize, 16, 10], [64, 32, 10]] {
        for (lr, wd, epochs) in [
            (1e-3f32, 0.5f32, 30usize),
            (3e-3, 0.0, 60),
            (1e-2, 0.0, 30),
            (1e-2, 0.1, 30),
        ] {
            let sched = |seed| {
                Schedule::new(Adam::new(lr).weight_decay(wd))
                    .epochs(epochs)
                    .seed(seed)
            };
            let mut alone = vec![];
            for seed in SEEDS {
                let mut m = student(&sizes, seed);
                sched(seed).trainer().fit(&mut m, &s.train, None).unwrap();
                alone.push(test_accuracy(&m));
            }
            println!(
                "{sizes:?} lr {lr} wd {wd} epochs {epochs}: alone {alone:.4?} mean {:.4}",
                mean(&alone)
            );
            for t in [3.0f32, 5.0] {
                for alpha in [0.0f32, 0.3, 0.7] {
                    let mut kd = vec![];
                    for seed in SEEDS {
                        let mut m = student(&sizes, seed);
                        SoftTargets::new(t, alpha, sched(seed))
                            .distill_dataset(&s.teacher, &mut m, &s.train)
                            .unwrap();
                        kd.push(test_accuracy(&m));
                    }
                    println!(
                        "    T {t} α {alpha}: KD {kd:.4?} mean {:.4} gain {:+.4}",
                        mean(&kd),
                        mean(&kd) - mean(&alone)
                    );
                }
            }
        }
    }
}

/// The chosen recipe on held-out seeds 5–9, and label-free and feature variants (seeds 0–4).
/// `cargo test --release --test distillation -- --ignored --nocapture sweep_check`
#[test]
#[ignore]
fn sweep_check() {
    let s = setup();
    let (mut alone, mut kd) = (vec![], vec![]);
    for seed in 5..10 {
        let mut m = student(&STUDENT, seed);
        schedule(seed)
            .trainer()
            .fit(&mut m, &s.train, None)
            .unwrap();
        alone.push(test_accuracy(&m));
        let mut m = student(&STUDENT, seed);
        SoftTargets::new(TEMPERATURE, ALPHA, schedule(seed))
            .distill_dataset(&s.teacher, &mut m, &s.train)
            .unwrap();
        kd.push(test_accuracy(&m));
    }
    println!(
        "seeds 5–9: alone {alone:.4?} mean {:.4}; KD {kd:.4?} mean {:.4}; gain {:+.4}",
        mean(&alone),
        mean(&kd),
        mean(&kd) - mean(&alone)
    );
    for (copies, std) in [(0usize, 0.0f32), (2, 0.3), (2, 0.6), (4, 0.5)] {
        let mut lf = vec![];
        for seed in SEEDS {
            let mut m = student(&STUDENT, seed);
            LabelFree::new(
                TEMPERATURE,
                GaussianNoise::new(copies, std, seed),
                schedule(seed),
            )
            .distill(&s.teacher, &mut m, s.train.features(), None)
            .unwrap();
            lf.push(test_accuracy(&m));
        }
        println!(
            "label-free copies {copies} σ {std}: {lf:.4?} mean {:.4}",
            mean(&lf)
        );
    }
    for (layer, beta) in [(0usize, 0.1f32), (0, 1.0), (1, 0.1), (1, 1.0)] {
        let mut fk = vec![];
        for seed in SEEDS {
            let mut m = student(&STUDENT, seed);
            FeatureDistiller::new(0, layer, beta, schedule(seed))
                .logits(TEMPERATURE, ALPHA)
                .projection_seed(seed)
                .distill_dataset(&s.teacher, &mut m, &s.train)
                .unwrap();
            fk.push(test_accuracy(&m));
        }
        println!(
            "feature teacher layers.{layer} β {beta}: {fk:.4?} mean {:.4}",
            mean(&fk)
        );
    }
}
