use half::f16;
use rand::{rngs::StdRng, Rng, SeedableRng};
use shrink::kernels::{int4, with_threads, GroupLayout, Isa};

fn main() {
    let mut rng = StdRng::seed_from_u64(0);
    let (rows, cols, batch) = (1024usize, 1024usize, 32usize);
    let codes: Vec<u8> = (0..rows * cols)
        .map(|_| rng.random_range(0..16u8))
        .collect();
    let q4 = int4::pack_int4(&codes, rows, cols).unwrap();
    let s4 = vec![f16::from_f32(0.05); rows * cols / 32];
    let x: Vec<f32> = (0..batch * cols)
        .map(|_| rng.random_range(-1.0..1.0f32))
        .collect();
    let mut out = vec![0.0f32; batch * rows];
    let l = GroupLayout {
        rows,
        cols,
        group: 32,
        per_tensor: false,
    };
    with_threads(1, || {
        for _ in 0..3000 {
            int4::gemm_q4_f32_on(Isa::best(), &x, batch, &q4, &s4, &[], l, &mut out).unwrap();
        }
    })
    .unwrap();
}
