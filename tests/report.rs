//! The compression report on real models: ratios, per-layer detail, CSV and JSON.

mod common;

use std::collections::HashMap;

use common::{digits, trained_mlp};
use shrink::eval::CompressionReport;
use shrink::prune::{MagnitudePruner, Pruner};
use shrink::sparse::SparseLinear;
use shrink::Forward;

#[test]
fn report_compares_stages_against_the_baseline() {
    let (train, test) = digits();
    let dense = trained_mlp(&train, &[64, 32, 10], 10, 0);
    let mut pruned = dense.clone();
    MagnitudePruner::new(0.8)
        .global()
        .prune(&mut pruned)
        .unwrap();
    let sparse = pruned
        .map_layers(|_, l| SparseLinear::from_linear(l))
        .unwrap();

    let mut report = CompressionReport::new(64, 3).unwrap();
    report.add("f32", &dense, &test, &HashMap::new()).unwrap();
    let sqnr = HashMap::from([("layers.0".to_string(), 12.5f32)]);
    let stage = report
        .add("pruned 80% (CSR)", &sparse, &test, &sqnr)
        .unwrap()
        .clone();

    let base = &report.stages[0];
    assert_eq!(base.compression, 1.0);
    assert_eq!(base.accuracy_delta_points, 0.0);
    assert_eq!(stage.bytes, sparse.storage_bytes());
    assert!(
        (stage.compression - dense.storage_bytes() as f32 / sparse.storage_bytes() as f32).abs()
            < 1e-6
    );
    assert!(stage.nonzeros < base.nonzeros / 4);
    assert_eq!(stage.layers.len(), 2);
    assert_eq!(stage.layers[0].sqnr_db, Some(12.5));
    assert_eq!(stage.layers[1].sqnr_db, None);
    assert_eq!(base.layers[0].bits_per_param, 32.0);
    assert_eq!(stage.latency_batch, 64);

    let csv = report.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("stage,params,nonzeros,bytes"));
    assert_eq!(lines[2].split(',').count(), lines[0].split(',').count());
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["stages"][1]["name"], "pruned 80% (CSR)");
    assert_eq!(json["stages"][1]["layers"][0]["sqnr_db"], 12.5);
    let table = report.to_string();
    assert_eq!(table.lines().count(), 3);
    assert!(report.layer_table().contains("layers.1"));
    assert!(stage.layers.iter().map(|l| l.sparsity()).sum::<f32>() > 1.0);
    assert_eq!(base.layers[0].sparsity(), 0.0);
    assert!(CompressionReport::new(0, 3).is_err());
}
