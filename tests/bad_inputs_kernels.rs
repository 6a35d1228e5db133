//! Bad inputs to every public kernel entry point (issue #13): each call must return the
//! expected `shrink::Error` variant on every instruction-set path this CPU has, never read out
//! of bounds, panic, hang or return `Ok` with garbage. Sizes whose products overflow `usize`
//! are passed with empty slices: before the checks were made with checked products, such a
//! product wrapped around, matched the empty slice and let the SIMD paths read through raw
//! pointers past it.

use half::{bf16, f16};
use shrink::kernels::sparse_packed::PackedSparse;
use shrink::kernels::w4a8::{self, ActBlocks};
use shrink::kernels::{
    float, int4, int8, quantize, sparse, sum_f32_on, with_threads, GroupLayout, Isa,
};
use shrink::limits::MAX_THREADS;
use shrink::Error;

/// 2⁶³: twice this wraps to 0.
const HUGE: usize = 1 << 63;

fn layout(rows: usize, cols: usize, group: usize, per_tensor: bool) -> GroupLayout {
    GroupLayout {
        rows,
        cols,
        group,
        per_tensor,
    }
}

fn too_large<T: std::fmt::Debug>(r: shrink::Result<T>) -> bool {
    matches!(r, Err(Error::TooLarge { .. }))
}

fn shape<T: std::fmt::Debug>(r: shrink::Result<T>) -> bool {
    matches!(r, Err(Error::ShapeMismatch { .. }))
}

fn param<T: std::fmt::Debug>(r: shrink::Result<T>) -> bool {
    matches!(r, Err(Error::InvalidParam { .. }))
}

fn non_finite<T: std::fmt::Debug>(r: shrink::Result<T>) -> bool {
    matches!(r, Err(Error::NonFinite(_)))
}

// ---------------------------------------------------------------- float GEMM

/// The reported crash: batch 2 × rows 4 × cols 2⁶³ with empty `x` and `w` and an `out` of 8.
/// `batch·cols` and `rows·cols` wrapped to 0, the length checks passed and the AVX2 / AVX-512
/// kernels read through raw pointers past the empty slices (segfault).
#[test]
fn regression_gemm_f32_wrapped_dims_segfault() {
    let mut out = [0.0f32; 8];
    assert!(too_large(float::gemm_f32(&[], 2, &[], 4, HUGE, &mut out)));
    for isa in Isa::available() {
        let r = float::gemm_f32_on(isa, &[], 2, &[], 4, HUGE, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
    assert_eq!(out, [0.0; 8], "nothing was written");
}

#[test]
fn gemm_f16_wrapped_dims_are_too_large_on_every_path() {
    let mut out = [0.0f32; 8];
    for isa in Isa::available() {
        let r = float::gemm_f16_f32_on(isa, &[], 2, &[], 4, HUGE, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
    assert!(too_large(float::gemm_f16_f32(
        &[],
        2,
        &[],
        4,
        HUGE,
        &mut out
    )));
}

#[test]
fn gemm_bf16_wrapped_dims_are_too_large_on_every_path() {
    let mut out = [0.0f32; 8];
    for isa in Isa::available() {
        let r = float::gemm_bf16_f32_on(isa, &[], 2, &[], 4, HUGE, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
    assert!(too_large(float::gemm_bf16_f32(
        &[],
        2,
        &[],
        4,
        HUGE,
        &mut out
    )));
}

#[test]
fn gemm_f32_weight_product_overflow_is_too_large() {
    // batch·cols = 0 (batch 0), but rows·cols = 2⁶⁶.
    let mut out: [f32; 0] = [];
    for isa in Isa::available() {
        let r = float::gemm_f32_on(isa, &[], 0, &[], 1 << 33, 1 << 33, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
}

#[test]
fn gemm_f32_output_product_overflow_is_too_large() {
    // cols = 0: x and w are empty for any batch and rows, but batch·rows = 2⁶⁴ wraps to 0.
    let mut out: [f32; 0] = [];
    for isa in Isa::available() {
        let r = float::gemm_f32_on(isa, &[], 1 << 32, &[], 1 << 32, 0, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
}

#[test]
fn gemm_f32_mismatched_lengths_are_shape_errors() {
    let mut out = [0.0f32; 6];
    for isa in Isa::available() {
        // x short, w short, out short.
        let x = float::gemm_f32_on(isa, &[0.0; 5], 2, &[0.0; 9], 3, 3, &mut out);
        let w = float::gemm_f32_on(isa, &[0.0; 6], 2, &[0.0; 8], 3, 3, &mut out);
        let o = float::gemm_f32_on(isa, &[0.0; 6], 2, &[0.0; 9], 3, 3, &mut out[..5]);
        assert!(shape(x) && shape(w) && shape(o), "{}", isa.name());
    }
}

#[test]
fn half_gemms_mismatched_lengths_are_shape_errors() {
    let mut out = [0.0f32; 2];
    let wh = [f16::ONE; 3];
    let wb = [bf16::ONE; 3];
    for isa in Isa::available() {
        let a = float::gemm_f16_f32_on(isa, &[0.0; 2], 1, &wh, 2, 2, &mut out);
        let b = float::gemm_bf16_f32_on(isa, &[0.0; 2], 1, &wb, 2, 2, &mut out);
        assert!(shape(a) && shape(b), "{}", isa.name());
    }
}

#[test]
fn dot_products_of_unequal_lengths_are_shape_errors() {
    assert!(shape(float::dot_f32(&[1.0; 3], &[1.0; 2])));
    assert!(shape(float::dot_f16(&[1.0; 3], &[f16::ONE; 4])));
    assert!(shape(float::dot_bf16(&[], &[bf16::ONE])));
    assert!(shape(int8::dot_i8(&[1; 2], &[1; 3])));
}

// ---------------------------------------------------------------- int8

#[test]
fn gemm_i8_i32_huge_dims_with_empty_slices_are_too_large() {
    let mut out: [i32; 0] = [];
    for isa in Isa::available() {
        // m·k, n·k and m·n all overflow.
        let r = int8::gemm_i8_i32_on(isa, &[], &[], 1 << 40, 1 << 40, 1 << 40, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
    assert!(too_large(int8::gemm_i8_i32(
        &[],
        &[],
        usize::MAX,
        usize::MAX,
        usize::MAX,
        &mut out
    )));
}

#[test]
fn gemm_i8_i32_wrapping_output_is_too_large() {
    // k = 0: a and b are empty, m·n = 2⁶⁴ wrapped to 0 and the transpose walked 2⁶² rows.
    let mut out: [i32; 0] = [];
    for isa in Isa::available() {
        let r = int8::gemm_i8_i32_on(isa, &[], &[], 1 << 32, 1 << 32, 0, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
}

#[test]
fn gemm_i8_i32_wrapping_width_is_too_large() {
    // m·k = 4·2⁶² wraps to 0: an error even though k alone would also be refused.
    let mut out = [0i32; 4];
    for isa in Isa::available() {
        let r = int8::gemm_i8_i32_on(isa, &[], &[], 4, 1, 1 << 62, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
}

#[test]
fn gemm_i8_i32_too_long_rows_are_invalid() {
    let k = int8::MAX_I8_DOT_LEN;
    let a = vec![1i8; k];
    let mut out = [0i32; 1];
    assert!(param(int8::gemm_i8_i32(&a, &a, 1, 1, k, &mut out)));
    assert!(param(int8::dot_i8(&a, &a)));
}

#[test]
fn gemm_i8_i32_mismatched_lengths_are_shape_errors() {
    let mut out = [0i32; 4];
    for isa in Isa::available() {
        let a = int8::gemm_i8_i32_on(isa, &[1; 5], &[1; 6], 2, 2, 3, &mut out);
        let b = int8::gemm_i8_i32_on(isa, &[1; 6], &[1; 7], 2, 2, 3, &mut out);
        let o = int8::gemm_i8_i32_on(isa, &[1; 6], &[1; 6], 2, 2, 3, &mut out[..3]);
        assert!(shape(a) && shape(b) && shape(o), "{}", isa.name());
    }
}

#[test]
fn gemm_q8_wrapping_batch_is_too_large() {
    let l = layout(4, 2, 2, false);
    let mut out = [0.0f32; 8];
    for isa in Isa::available() {
        // batch·cols = 2⁶⁴ wraps to 0 = x.len().
        let r = int8::gemm_q8_f32_on(isa, &[], HUGE, &[0; 8], &[1.0; 4], &[], l, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
}

#[test]
fn gemm_q8_layout_too_large_to_index() {
    let l = layout(1 << 40, 1 << 40, 1 << 40, false);
    let mut out: [f32; 0] = [];
    for isa in Isa::available() {
        let r = int8::gemm_q8_f32_on(isa, &[], 0, &[], &[1.0], &[], l, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
}

#[test]
fn gemm_q8_empty_rows_of_a_huge_layout_are_not_ok() {
    // cols = 0, so weight and scales are empty, and batch·rows = 2⁶⁴ wrapped to 0 = out.len():
    // the call returned Ok having computed nothing.
    let l = layout(HUGE, 0, 1, false);
    let mut out: [f32; 0] = [];
    for isa in Isa::available() {
        let r = int8::gemm_q8_f32_on(isa, &[], 2, &[], &[], &[], l, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
}

#[test]
fn gemm_q8_zero_group_is_invalid() {
    let mut out = [0.0f32; 1];
    let r = int8::gemm_q8_f32(
        &[0.0; 4],
        1,
        &[0; 4],
        &[1.0],
        &[],
        layout(1, 4, 0, false),
        &mut out,
    );
    assert!(param(r));
}

#[test]
fn gemm_q8_group_that_does_not_divide_is_invalid() {
    let mut out = [0.0f32; 1];
    let l = layout(1, 10, 4, false);
    for isa in Isa::available() {
        let r = int8::gemm_q8_f32_on(isa, &[0.0; 10], 1, &[0; 10], &[1.0; 2], &[], l, &mut out);
        assert!(param(r), "{}", isa.name());
    }
}

#[test]
fn gemm_q8_per_tensor_group_must_be_the_width() {
    let mut out = [0.0f32; 2];
    let l = layout(2, 8, 4, true);
    let r = int8::gemm_q8_f32(&[0.0; 8], 1, &[0; 16], &[1.0], &[], l, &mut out);
    assert!(param(r));
}

#[test]
fn gemm_q8_scale_and_zero_counts_must_match() {
    let mut out = [0.0f32; 2];
    let l = layout(2, 8, 4, false);
    for isa in Isa::available() {
        let s = int8::gemm_q8_f32_on(isa, &[0.0; 8], 1, &[0; 16], &[1.0; 3], &[], l, &mut out);
        let z = int8::gemm_q8_f32_on(isa, &[0.0; 8], 1, &[0; 16], &[1.0; 4], &[0; 3], l, &mut out);
        let w = int8::gemm_q8_f32_on(isa, &[0.0; 8], 1, &[0; 15], &[1.0; 4], &[], l, &mut out);
        assert!(shape(s) && shape(z) && shape(w), "{}", isa.name());
    }
}

// ---------------------------------------------------------------- int4

#[test]
fn pack_int4_wrapping_size_is_too_large() {
    assert!(too_large(int4::pack_int4(&[], 1 << 32, 1 << 32)));
    assert!(too_large(int4::pack_int4(&[], usize::MAX, 2)));
}

#[test]
fn pack_int4_bad_codes_and_lengths() {
    assert!(shape(int4::pack_int4(&[1, 2, 3], 2, 2)));
    assert!(param(int4::pack_int4(&[1, 2, 16, 3], 2, 2)));
    assert!(param(int4::pack_int4(&[255], 1, 1)));
}

#[test]
fn gemm_q4_wrapping_batch_is_too_large() {
    let l = layout(4, 2, 2, false);
    let mut out = [0.0f32; 8];
    let scales = [f16::ONE; 4];
    for isa in Isa::available() {
        let r = int4::gemm_q4_f32_on(isa, &[], HUGE, &[0; 4], &scales, &[], l, &mut out);
        assert!(too_large(r), "{}", isa.name());
    }
}

#[test]
fn gemm_q4_layout_too_large_to_index() {
    let l = layout(1 << 40, 1 << 40, 1 << 40, false);
    let mut out: [f32; 0] = [];
    let r = int4::gemm_q4_f32(&[], 0, &[], &[f16::ONE], &[], l, &mut out);
    assert!(too_large(r));
}

#[test]
fn gemm_q4_mismatched_parts_are_shape_errors() {
    let l = layout(2, 8, 4, false);
    let scales = [f16::ONE; 4];
    let mut out = [0.0f32; 2];
    for isa in Isa::available() {
        let p = int4::gemm_q4_f32_on(isa, &[0.0; 8], 1, &[0; 7], &scales, &[], l, &mut out);
        let s = int4::gemm_q4_f32_on(isa, &[0.0; 8], 1, &[0; 8], &scales[..3], &[], l, &mut out);
        let z = int4::gemm_q4_f32_on(isa, &[0.0; 8], 1, &[0; 8], &scales, &[8; 5], l, &mut out);
        let x = int4::gemm_q4_f32_on(isa, &[0.0; 9], 1, &[0; 8], &scales, &[], l, &mut out);
        let o = int4::gemm_q4_f32_on(isa, &[0.0; 8], 1, &[0; 8], &scales, &[], l, &mut out[..1]);
        assert!(
            shape(p) && shape(s) && shape(z) && shape(x) && shape(o),
            "{}",
            isa.name()
        );
    }
}

#[test]
fn gemm_q4_invalid_groups() {
    let mut out = [0.0f32; 1];
    let r = int4::gemm_q4_f32(
        &[0.0; 6],
        1,
        &[0; 3],
        &[f16::ONE; 2],
        &[],
        layout(1, 6, 4, false),
        &mut out,
    );
    assert!(param(r));
    let r = int4::gemm_q4_f32(
        &[0.0; 6],
        1,
        &[0; 3],
        &[f16::ONE],
        &[],
        layout(1, 6, 0, false),
        &mut out,
    );
    assert!(param(r));
}

// ---------------------------------------------------------------- W4A8

fn w4a8_parts() -> (GroupLayout, Vec<u8>, Vec<f16>) {
    (layout(2, 64, 32, false), vec![0x88; 64], vec![f16::ONE; 4])
}

#[test]
fn gemv_q4_i8_nan_input_is_non_finite_on_every_path() {
    let (l, p, s) = w4a8_parts();
    let mut out = [0.0f32; 2];
    for isa in Isa::available() {
        for at in [0, 17, 40, 63] {
            let mut x = vec![0.5f32; 64];
            x[at] = f32::NAN;
            let r = w4a8::gemv_q4_i8_on(isa, &x, &p, &s, l, &mut out);
            assert!(non_finite(r), "{} at {at}", isa.name());
        }
    }
}

#[test]
fn gemv_q4_i8_infinite_input_is_non_finite_on_every_path() {
    let (l, p, s) = w4a8_parts();
    let mut out = [0.0f32; 2];
    for isa in Isa::available() {
        for bad in [f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = vec![-0.25f32; 64];
            x[33] = bad;
            let r = w4a8::gemv_q4_i8_on(isa, &x, &p, &s, l, &mut out);
            assert!(non_finite(r), "{} {bad}", isa.name());
        }
    }
}

#[test]
fn gemv_q4_i8_groups_not_whole_activation_blocks_are_invalid() {
    let l = layout(1, 32, 16, false);
    let mut out = [0.0f32; 1];
    let r = w4a8::gemv_q4_i8(&[0.0; 32], &[0; 16], &[f16::ONE; 2], l, &mut out);
    assert!(param(r));
}

#[test]
fn gemv_q4_i8_mismatched_lengths_are_shape_errors() {
    let (l, p, s) = w4a8_parts();
    let mut out = [0.0f32; 2];
    for isa in Isa::available() {
        let x = w4a8::gemv_q4_i8_on(isa, &[0.0; 63], &p, &s, l, &mut out);
        let w = w4a8::gemv_q4_i8_on(isa, &[0.0; 64], &p[..63], &s, l, &mut out);
        let sc = w4a8::gemv_q4_i8_on(isa, &[0.0; 64], &p, &s[..3], l, &mut out);
        let o = w4a8::gemv_q4_i8_on(isa, &[0.0; 64], &p, &s, l, &mut out[..1]);
        assert!(
            shape(x) && shape(w) && shape(sc) && shape(o),
            "{}",
            isa.name()
        );
    }
}

#[test]
fn gemv_q4_i8_layout_too_large_to_index() {
    let l = layout(1 << 40, 1 << 40, 1 << 35, false);
    let mut out: [f32; 0] = [];
    let r = w4a8::gemv_q4_i8(&[], &[], &[], l, &mut out);
    assert!(too_large(r));
}

#[test]
fn quantize_blocks_rejects_non_finite_and_partial_blocks() {
    let mut x = vec![1.0f32; 64];
    x[5] = f32::NAN;
    assert!(non_finite(w4a8::quantize_blocks(&x)));
    x[5] = f32::INFINITY;
    assert!(non_finite(w4a8::quantize_blocks(&x)));
    x[5] = f32::NEG_INFINITY;
    assert!(non_finite(w4a8::quantize_blocks(&x)));
    assert!(param(w4a8::quantize_blocks(&[0.0; 31])));
}

#[test]
fn act_blocks_with_the_wrong_scale_count_do_not_dequantize() {
    let few = ActBlocks {
        codes: vec![1; 64],
        scales: vec![1.0],
    };
    let many = ActBlocks {
        codes: vec![1; 32],
        scales: vec![1.0; 3],
    };
    let ragged = ActBlocks {
        codes: vec![1; 33],
        scales: vec![1.0; 2],
    };
    assert!(shape(few.dequantize()));
    assert!(shape(many.dequantize()));
    assert!(shape(ragged.dequantize()));
}

// ---------------------------------------------------------------- activation quantizer

#[test]
fn quantize_i8_nan_is_non_finite_on_every_path() {
    for isa in Isa::available() {
        for n in [1usize, 9, 16, 40] {
            let mut x = vec![0.1f32; n];
            x[n - 1] = f32::NAN;
            let mut out = vec![0i8; n];
            let r = quantize::quantize_i8_on(isa, &x, 0.01, 0, &mut out);
            assert!(non_finite(r), "{} n={n}", isa.name());
        }
    }
}

#[test]
fn quantize_i8_infinities_are_non_finite_on_every_path() {
    for isa in Isa::available() {
        for bad in [f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = vec![-0.1f32; 33];
            x[16] = bad;
            let mut out = vec![0i8; 33];
            let r = quantize::quantize_i8_on(isa, &x, 0.5, -3, &mut out);
            assert!(non_finite(r), "{} {bad}", isa.name());
        }
    }
    let mut out = [0i8; 1];
    assert!(non_finite(quantize::quantize_i8(
        &[f32::INFINITY],
        1.0,
        0,
        &mut out
    )));
}

#[test]
fn quantize_i8_bad_parameters_are_invalid() {
    let mut out = [0i8; 2];
    for (scale, zero) in [
        (0.0, 0),
        (-1.0, 0),
        (f32::NAN, 0),
        (f32::INFINITY, 0),
        (1.0, 128),
        (1.0, -129),
    ] {
        let r = quantize::quantize_i8(&[1.0, 2.0], scale, zero, &mut out);
        assert!(param(r), "scale {scale} zero {zero}");
    }
    assert_eq!(out, [0, 0], "nothing was written");
}

#[test]
fn quantize_i8_output_length_must_match() {
    let mut out = [0i8; 2];
    for isa in Isa::available() {
        let r = quantize::quantize_i8_on(isa, &[1.0; 3], 1.0, 0, &mut out);
        assert!(shape(r), "{}", isa.name());
    }
}

#[test]
fn range_reports_non_finite_rows_as_none() {
    for isa in Isa::available() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut x = vec![1.0f32; 21];
            x[20] = bad;
            assert_eq!(
                quantize::range_f32_on(isa, &x).unwrap(),
                None,
                "{}",
                isa.name()
            );
        }
    }
    assert_eq!(quantize::range_f32(&[f32::NAN]), None);
}

// ---------------------------------------------------------------- sparse

#[test]
fn csr_with_the_wrong_row_pointer_count_is_a_shape_error() {
    let mut out = [0.0f32; 2];
    for isa in Isa::available() {
        let r = sparse::csr_dots_on(isa, &[0, 1], &[0], &[1.0], &[1.0; 3], &mut out);
        assert!(shape(r), "{}", isa.name());
    }
}

#[test]
fn csr_with_values_and_indices_of_different_lengths_is_a_shape_error() {
    let mut out = [0.0f32; 1];
    for isa in Isa::available() {
        let r = sparse::csr_dots_i8_on(isa, &[0, 2], &[0], &[1, 2], &[1.0; 3], &mut out);
        assert!(shape(r), "{}", isa.name());
    }
}

#[test]
fn csr_with_a_column_outside_x_is_a_format_error() {
    let mut out = [0.0f32; 1];
    for isa in Isa::available() {
        let r = sparse::csr_dots_on(isa, &[0, 1], &[3], &[1.0], &[1.0; 3], &mut out);
        assert!(matches!(r, Err(Error::Format(_))), "{}", isa.name());
        let r = sparse::csr_dots_i8_on(isa, &[0, 1], &[u16::MAX], &[1], &[1.0; 3], &mut out);
        assert!(matches!(r, Err(Error::Format(_))), "{}", isa.name());
    }
}

#[test]
fn csr_with_bad_row_pointers_is_a_format_error() {
    let mut out = [0.0f32; 2];
    let dec = sparse::csr_dots_on(Isa::Scalar, &[0, 2, 1], &[0], &[1.0], &[1.0; 3], &mut out);
    let start = sparse::csr_dots_on(Isa::Scalar, &[1, 1, 1], &[0], &[1.0], &[1.0; 3], &mut out);
    let end = sparse::csr_dots_on(Isa::Scalar, &[0, 0, 0], &[0], &[1.0], &[1.0; 3], &mut out);
    assert!(matches!(dec, Err(Error::Format(_))));
    assert!(matches!(start, Err(Error::Format(_))));
    assert!(matches!(end, Err(Error::Format(_))));
}

#[test]
fn packed_sparse_row_count_that_overflows_is_too_large() {
    // rows + 1 wrapped to 0 = row_ptr.len(), then row_ptr[0] panicked.
    assert!(too_large(PackedSparse::from_csr(
        usize::MAX,
        4,
        &[],
        &[],
        &[]
    )));
}

#[test]
fn packed_sparse_huge_width_does_not_allocate_per_column() {
    // Buckets were sized by `cols`: 2⁶⁰ columns asked for 2⁵⁹ vectors. The structure is
    // valid (its one entry lies in column 2), so packing succeeds, and no x can match it.
    let p = PackedSparse::from_csr(1, 1 << 60, &[0, 1], &[2], &[1.0]).unwrap();
    assert_eq!(p.cols(), 1 << 60);
    let mut out = [0.0f32; 1];
    assert!(shape(p.matvec_on(Isa::Scalar, &[0.0; 3], &mut out)));
}

#[test]
fn packed_sparse_invalid_structure_and_lengths() {
    assert!(matches!(
        PackedSparse::from_csr(1, 3, &[0, 1], &[3], &[1.0]),
        Err(Error::Format(_))
    ));
    assert!(shape(PackedSparse::from_csr(2, 3, &[0, 1], &[0], &[1.0])));
    let p = PackedSparse::from_csr(1, 3, &[0, 1], &[2], &[1.0]).unwrap();
    let mut out = [0.0f32; 1];
    for isa in Isa::available() {
        assert!(
            shape(p.matvec_on(isa, &[0.0; 2], &mut out)),
            "{}",
            isa.name()
        );
        assert!(
            shape(p.matvec_on(isa, &[0.0; 3], &mut [])),
            "{}",
            isa.name()
        );
    }
}

// ---------------------------------------------------------------- threads and paths

#[test]
fn zero_threads_is_invalid() {
    assert!(param(with_threads(0, || ())));
}

#[test]
fn huge_thread_counts_are_refused_not_spawned() {
    // 100 000 threads hung (rayon started them one by one); anything above the limit is
    // refused before a pool is built.
    let start = std::time::Instant::now();
    for t in [MAX_THREADS + 1, 100_000, usize::MAX] {
        assert!(param(with_threads(t, || ())), "{t}");
    }
    assert!(start.elapsed().as_secs() < 5);
    assert_eq!(with_threads(MAX_THREADS.min(4), || 7).unwrap(), 7);
}

#[test]
fn unavailable_paths_are_invalid_not_undefined() {
    let missing: Vec<Isa> = Isa::all()
        .iter()
        .copied()
        .filter(|i| !i.is_available())
        .collect();
    if missing.is_empty() {
        eprintln!("every path is available here: nothing to refuse");
    }
    let mut f = [0.0f32; 1];
    let mut q = [0i8; 1];
    let mut o = [0i32; 1];
    for isa in missing {
        assert!(param(sum_f32_on(isa, &[1.0])), "{}", isa.name());
        assert!(param(float::gemm_f32_on(
            isa,
            &[1.0],
            1,
            &[1.0],
            1,
            1,
            &mut f
        )));
        assert!(param(int8::gemm_i8_i32_on(
            isa,
            &[1],
            &[1],
            1,
            1,
            1,
            &mut o
        )));
        assert!(param(quantize::quantize_i8_on(isa, &[1.0], 1.0, 0, &mut q)));
        assert!(param(quantize::range_f32_on(isa, &[1.0])));
    }
}
