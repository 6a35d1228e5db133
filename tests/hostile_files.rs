//! Files whose metadata lies about sizes: a clear error, never a panic or a huge allocation.

use std::collections::HashMap;

use safetensors::tensor::TensorView;
use safetensors::Dtype;
use shrink::nn::Mlp;
use shrink::quant::QuantLinear;
use shrink::sparse::SparseLinear;
use shrink::Error;

/// A safetensors file with the given kind, JSON config and (name, dtype, shape, bytes) tensors.
fn file(kind: &str, config: &str, tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let meta = HashMap::from([
        ("shrink.kind".to_string(), kind.to_string()),
        ("shrink.config".to_string(), config.to_string()),
    ]);
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .map(|(n, d, s, b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, Some(meta)).unwrap()
}

#[test]
fn quantized_files_with_huge_or_empty_layers_are_errors() {
    let huge = 1usize << 40;
    let cases = [
        // A 2^40 x 0 int8 weight: zero bytes of data, a 4 TiB allocation if trusted.
        (
            format!(
                r#"{{"sizes":[0,{huge}],"activations":["Identity"],"layers":[{{"format":"int8","group":1,"per_tensor":false,"symmetric":true}}],"inputs":["none"]}}"#
            ),
            vec![
                ("layers.0.weight", Dtype::I8, vec![huge, 0], vec![]),
                ("layers.0.scales", Dtype::F32, vec![0], vec![]),
            ],
        ),
        // Sizes whose product overflows usize, with no tensors at all.
        (
            format!(
                r#"{{"sizes":[{a},{a}],"activations":["Identity"],"layers":[{{"format":"int8","group":1,"per_tensor":false,"symmetric":true}}],"inputs":["none"]}}"#,
                a = 1usize << 33
            ),
            vec![],
        ),
    ];
    for (config, tensors) in cases {
        let bytes = file("quant_mlp", &config, &tensors);
        let r = Mlp::<QuantLinear>::from_quantized_safetensors(&bytes);
        assert!(matches!(r, Err(Error::TooLarge { .. })), "{config}: {r:?}");
    }
}

#[test]
fn sparse_files_with_overflowing_sizes_are_errors() {
    let config = format!(
        r#"{{"sizes":[2,{}],"activations":["Identity"],"nnz":[0]}}"#,
        usize::MAX
    );
    let bytes = file(
        "sparse_mlp",
        &config,
        &[
            ("layers.0.values", Dtype::F32, vec![0], vec![]),
            ("layers.0.col_idx", Dtype::U16, vec![0], vec![]),
            ("layers.0.row_ptr", Dtype::U32, vec![1], vec![0, 0, 0, 0]),
        ],
    );
    let r = Mlp::<SparseLinear>::from_sparse_safetensors(&bytes);
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
    // Duplicate column indices in a row.
    let config = r#"{"sizes":[3,1],"activations":["Identity"],"nnz":[2]}"#;
    let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let bytes = file(
        "sparse_mlp",
        config,
        &[
            ("layers.0.values", Dtype::F32, vec![2], f(&[1.0, 2.0])),
            ("layers.0.col_idx", Dtype::U16, vec![2], vec![1, 0, 1, 0]),
            (
                "layers.0.row_ptr",
                Dtype::U32,
                vec![2],
                vec![0, 0, 0, 0, 2, 0, 0, 0],
            ),
            ("layers.0.bias", Dtype::F32, vec![1], f(&[0.0])),
        ],
    );
    let r = Mlp::<SparseLinear>::from_sparse_safetensors(&bytes);
    assert!(matches!(r, Err(Error::Format(_))), "{r:?}");
}

#[test]
fn quantized_layers_reject_inconsistent_parts_and_non_finite_inputs() {
    use half::f16;
    use ndarray::{array, Array1};
    use shrink::kernels::GroupLayout;
    use shrink::nn::LinearLayer;
    use shrink::quant::{ActQuant, Int8Weight, QParams, QuantWeight};

    // An f16 weight whose data does not fill its shape.
    let short = QuantWeight::F16 {
        rows: 2,
        cols: 2,
        data: vec![f16::ONE],
    };
    assert!(QuantLinear::new(short, Array1::zeros(2), ActQuant::None).is_err());
    let inf = QuantWeight::F16 {
        rows: 1,
        cols: 1,
        data: vec![f16::INFINITY],
    };
    assert!(QuantLinear::new(inf, Array1::zeros(1), ActQuant::None).is_err());
    // A layout too large to index, and an empty one.
    let huge = GroupLayout {
        rows: 1 << 40,
        cols: 1 << 40,
        group: 1 << 40,
        per_tensor: false,
    };
    assert!(Int8Weight::from_parts(huge, vec![], vec![1.0], vec![]).is_err());
    let empty = GroupLayout {
        rows: 3,
        cols: 0,
        group: 1,
        per_tensor: false,
    };
    assert!(Int8Weight::from_parts(empty, vec![], vec![], vec![]).is_err());
    // Static int8 activations: NaN input is an error, not a silent zero.
    let layout = GroupLayout {
        rows: 2,
        cols: 2,
        group: 2,
        per_tensor: false,
    };
    let w = Int8Weight::from_parts(layout, vec![1, 2, 3, 4], vec![0.1, 0.1], vec![]).unwrap();
    let act = ActQuant::Static(QParams {
        scale: 0.05,
        zero: 0,
    });
    let layer = QuantLinear::new(QuantWeight::Int8(w), Array1::zeros(2), act).unwrap();
    assert!(layer.forward(array![[1.0f32, 0.5]].view()).is_ok());
    assert!(layer.forward(array![[f32::NAN, 1.0]].view()).is_err());
}
