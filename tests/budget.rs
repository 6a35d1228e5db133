//! The budgeted search on the digits MLP: within 0.5 point of accuracy, smaller than uniform
//! int8.

mod common;

use common::{digits, trained_mlp};
use shrink::eval::evaluate;
use shrink::pipeline::{BudgetSearch, LayerOption};
use shrink::{Error, Forward};

#[test]
fn search_within_half_a_point_beats_uniform_int8() {
    let (train_all, test) = digits();
    // Search on a validation part of the training data, judge on the test split.
    let (train, val) = train_all.stratified_split(0.25, 3).unwrap();
    let model = trained_mlp(&train, &[64, 256, 128, 10], 30, 0);
    let result = BudgetSearch::new(0.5).run(&model, &val).unwrap();
    for line in &result.log {
        eprintln!("{line}");
    }
    let bytes = result.model.storage_bytes();
    assert_eq!(bytes, result.choices.iter().map(|c| c.bytes).sum::<usize>());
    assert!(
        bytes < result.uniform_int8_bytes,
        "{bytes} bytes vs uniform int8 {}",
        result.uniform_int8_bytes
    );
    assert!(100.0 * (result.baseline_accuracy - result.accuracy) <= 0.5);
    let (base, got) = (
        evaluate(&model, &test).unwrap().accuracy,
        evaluate(&result.model, &test).unwrap().accuracy,
    );
    eprintln!(
        "test: f32 {base:.4}, searched {got:.4}, {bytes} bytes vs int8 {}",
        result.uniform_int8_bytes
    );
    assert!(
        100.0 * (base - got) <= 0.5,
        "test drop {:.2} points",
        100.0 * (base - got)
    );
    assert!(result.choices.iter().any(|c| c.option != LayerOption::Int8));
}

#[test]
fn bad_budgets_are_errors() {
    let (train, test) = digits();
    let model = trained_mlp(&train, &[64, 16, 10], 2, 0);
    for bad in [-1.0f32, f32::NAN] {
        assert!(matches!(
            BudgetSearch::new(bad).run(&model, &test),
            Err(Error::InvalidParam { .. })
        ));
    }
    assert!(BudgetSearch::new(0.5)
        .options(vec![LayerOption::SparseInt8(1.0)])
        .run(&model, &test)
        .is_err());
}
