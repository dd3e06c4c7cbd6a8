//! The `relaxed` feature (enabled only by crates/ndgrad-wasm-relaxed, on
//! wasm32) sets `cfg(ndgrad_relaxed)`, which the GEMM kernels test. A
//! feature rather than `RUSTFLAGS="--cfg ndgrad_relaxed"`: RUSTFLAGS also
//! reach the standard library, which the wasm32 builds compile themselves
//! (build-std), so the relaxed-SIMD modules could not share it with the
//! plain ones (scripts/build.mjs).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(ndgrad_relaxed)");
    if std::env::var_os("CARGO_FEATURE_RELAXED").is_some() {
        println!("cargo::rustc-cfg=ndgrad_relaxed");
    }
}
