//! aarch64 paths: [`neon`] implements the float vector trait with 128-bit NEON vectors (4 f32
//! lanes), [`int8`] holds the exact int8 × int8 kernels (`smull` + `sadalp`, or
//! `sdot` with the `dotprod` extension) and [`quantize`]
//! the activation range and quantizer.
//!
//! Every function here is `unsafe` for one reason: it is compiled with CPU features the caller
//! must have checked ([`crate::kernels::Isa::check`]); slice lengths are the callers' checks,
//! documented per function.
//!
//! ## Testing on an x86_64 host
//!
//! The aarch64 paths run under user-mode QEMU (Debian: `apt-get install gcc-aarch64-linux-gnu
//! qemu-user`; `rustup target add aarch64-unknown-linux-gnu`):
//!
//! ```text
//! export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
//! export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
//! export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
//! cargo test --release --target aarch64-unknown-linux-gnu --test kernels
//! cargo test --release --target aarch64-unknown-linux-gnu --lib kernels
//! cargo clippy --all-targets --target aarch64-unknown-linux-gnu -- -D warnings
//! ```
//!
//! QEMU checks correctness only; its timings say nothing about real aarch64 hardware.

pub(crate) mod int8;
pub(crate) mod neon;
pub(crate) mod quantize;
