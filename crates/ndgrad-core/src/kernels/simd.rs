//! A 4-lane float32 vector: `v128` on WebAssembly with `simd128`, a plain
//! `[f32; 4]` elsewhere. The vector kernels are written once against this
//! type, so the same loops (bodies and tails) are tested natively by
//! `cargo test` and run as real SIMD in the `.wasm`. The scalar kernels in
//! `scalar.rs` are the oracle for both.
//!
//! Lane semantics follow WebAssembly: `min`/`max` propagate NaN and order
//! -0 below +0, which is also NumPy's `minimum`/`maximum` on NaN.

// The methods mirror the wasm instruction names and are passed around as
// `fn` pointers, which operator traits would not make simpler.
#![allow(clippy::should_implement_trait)]

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    impl F32x4 {
        #[inline(always)]
        pub fn splat(x: f32) -> F32x4 {
            F32x4(f32x4_splat(x))
        }
        #[inline(always)]
        pub fn load(s: &[f32]) -> F32x4 {
            assert!(s.len() >= 4);
            // SAFETY: the slice holds at least 4 floats (checked above);
            // v128_load has no alignment requirement.
            F32x4(unsafe { v128_load(s.as_ptr() as *const v128) })
        }
        #[inline(always)]
        pub fn store(self, s: &mut [f32]) {
            assert!(s.len() >= 4);
            // SAFETY: the slice holds at least 4 floats (checked above).
            unsafe { v128_store(s.as_mut_ptr() as *mut v128, self.0) }
        }
        #[inline(always)]
        pub fn add(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub fn sub(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_sub(self.0, o.0))
        }
        #[inline(always)]
        pub fn mul(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_mul(self.0, o.0))
        }
        #[inline(always)]
        pub fn div(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_div(self.0, o.0))
        }
        #[inline(always)]
        pub fn min(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_min(self.0, o.0))
        }
        #[inline(always)]
        pub fn max(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_max(self.0, o.0))
        }
        #[inline(always)]
        pub fn neg(self) -> F32x4 {
            F32x4(f32x4_neg(self.0))
        }
        #[inline(always)]
        pub fn abs(self) -> F32x4 {
            F32x4(f32x4_abs(self.0))
        }
        #[inline(always)]
        pub fn sqrt(self) -> F32x4 {
            F32x4(f32x4_sqrt(self.0))
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    use super::super::scalar::{fmax, fmin};

    #[derive(Clone, Copy)]
    pub struct F32x4([f32; 4]);

    impl F32x4 {
        #[inline(always)]
        fn map2(self, o: F32x4, f: impl Fn(f32, f32) -> f32) -> F32x4 {
            F32x4([
                f(self.0[0], o.0[0]),
                f(self.0[1], o.0[1]),
                f(self.0[2], o.0[2]),
                f(self.0[3], o.0[3]),
            ])
        }
        #[inline(always)]
        fn map(self, f: impl Fn(f32) -> f32) -> F32x4 {
            F32x4([f(self.0[0]), f(self.0[1]), f(self.0[2]), f(self.0[3])])
        }
        pub fn splat(x: f32) -> F32x4 {
            F32x4([x; 4])
        }
        pub fn load(s: &[f32]) -> F32x4 {
            F32x4([s[0], s[1], s[2], s[3]])
        }
        pub fn store(self, s: &mut [f32]) {
            s[..4].copy_from_slice(&self.0);
        }
        pub fn add(self, o: F32x4) -> F32x4 {
            self.map2(o, |a, b| a + b)
        }
        pub fn sub(self, o: F32x4) -> F32x4 {
            self.map2(o, |a, b| a - b)
        }
        pub fn mul(self, o: F32x4) -> F32x4 {
            self.map2(o, |a, b| a * b)
        }
        pub fn div(self, o: F32x4) -> F32x4 {
            self.map2(o, |a, b| a / b)
        }
        pub fn min(self, o: F32x4) -> F32x4 {
            self.map2(o, fmin)
        }
        pub fn max(self, o: F32x4) -> F32x4 {
            self.map2(o, fmax)
        }
        pub fn neg(self) -> F32x4 {
            self.map(|a| -a)
        }
        pub fn abs(self) -> F32x4 {
            self.map(f32::abs)
        }
        pub fn sqrt(self) -> F32x4 {
            self.map(f32::sqrt)
        }
    }
}

pub use imp::F32x4;

/// Whether this build runs the vector paths as real WebAssembly SIMD.
pub const NATIVE_SIMD: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
