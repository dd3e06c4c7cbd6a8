//! A 4-lane float32 vector: `v128` on WebAssembly with `simd128`, a plain
//! `[f32; 4]` elsewhere. The vector kernels are written once against this
//! type, so the same loops (bodies and tails) are tested natively by
//! `cargo test` and run as real SIMD in the `.wasm`. The scalar kernels in
//! `scalar.rs` are the oracle for both.
//!
//! Lane semantics follow WebAssembly: `min`/`max` propagate NaN and order
//! -0 below +0, which is also NumPy's `minimum`/`maximum` on NaN. The
//! emulation mirrors every instruction bit for bit (comparisons give
//! all-ones lanes, `pmin`/`pmax` are `b < a ? b : a` / `a < b ? b : a`,
//! shifts take their count modulo 32).
//!
//! Besides `F32x4` there are `I32x4` (the same 128 bits seen as integers,
//! for exponent arithmetic in `exp`/`log`) and `F64x2` (for float64
//! accumulation in `sum`).

// The methods mirror the wasm instruction names and are passed around as
// `fn` pointers, which operator traits would not make simpler.
#![allow(clippy::should_implement_trait)]

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod imp {
    use core::arch::wasm32::*;
    use core::mem::MaybeUninit;

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    #[derive(Clone, Copy)]
    pub struct I32x4(v128);

    #[derive(Clone, Copy)]
    pub struct F64x2(v128);

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
        /// Store into not yet initialised memory (a `Vec`'s spare capacity).
        #[inline(always)]
        pub fn store_uninit(self, s: &mut [MaybeUninit<f32>]) {
            assert!(s.len() >= 4);
            // SAFETY: the slice holds at least 4 slots (checked above);
            // writing a value into `MaybeUninit` slots is always allowed.
            unsafe { v128_store(s.as_mut_ptr() as *mut v128, self.0) }
        }
        /// Load from slots the caller has already written.
        ///
        /// # Safety
        /// The first four elements of `s` must be initialised.
        #[inline(always)]
        pub unsafe fn load_init(s: &[MaybeUninit<f32>]) -> F32x4 {
            assert!(s.len() >= 4);
            // SAFETY: length checked above; the caller guarantees the four
            // floats are initialised.
            F32x4(unsafe { v128_load(s.as_ptr() as *const v128) })
        }
        /// Load 4 floats at `p`.
        ///
        /// # Safety
        /// `p..p+4` must be readable floats.
        #[inline(always)]
        pub unsafe fn load_ptr(p: *const f32) -> F32x4 {
            // SAFETY: guaranteed by the caller.
            F32x4(unsafe { v128_load(p as *const v128) })
        }
        /// Store 4 floats at `p`.
        ///
        /// # Safety
        /// `p..p+4` must be writable float slots.
        #[inline(always)]
        pub unsafe fn store_ptr(self, p: *mut f32) {
            // SAFETY: guaranteed by the caller.
            unsafe { v128_store(p as *mut v128, self.0) }
        }
        #[inline(always)]
        pub fn to_array(self) -> [f32; 4] {
            [
                f32x4_extract_lane::<0>(self.0),
                f32x4_extract_lane::<1>(self.0),
                f32x4_extract_lane::<2>(self.0),
                f32x4_extract_lane::<3>(self.0),
            ]
        }
        #[inline(always)]
        pub fn add(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_add(self.0, o.0))
        }
        /// `a·b + c`: one fused `f32x4.relaxed_madd` in the relaxed-SIMD
        /// build (feature `relaxed`; it may round once, as an FMA, or
        /// twice), else a multiply then an add, rounded twice like
        /// `a.mul(b).add(c)`.
        ///
        /// Only the GEMM functions that call this one carry
        /// `#[target_feature(enable = "relaxed-simd")]`, but LLVM's
        /// WebAssembly backend applies the union of a module's features to
        /// all its functions, and with `relaxed-simd` it turns `pmin`/`pmax`
        /// into `relaxed_min`/`relaxed_max`, whose NaN and ±0 results are
        /// the engine's choice (relu, exp, sigmoid changed on NaN): so in the
        /// relaxed build `pmin`/`pmax` are a compare and a bitselect.
        #[inline(always)]
        pub fn mul_add(a: F32x4, b: F32x4, c: F32x4) -> F32x4 {
            #[cfg(ndgrad_relaxed)]
            {
                F32x4(f32x4_relaxed_madd(a.0, b.0, c.0))
            }
            #[cfg(not(ndgrad_relaxed))]
            {
                F32x4(f32x4_add(f32x4_mul(a.0, b.0), c.0))
            }
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
        /// `o < self ? o : self` (one `minps`; NaN in `self` propagates,
        /// NaN in `o` does not).
        #[inline(always)]
        pub fn pmin(self, o: F32x4) -> F32x4 {
            // The relaxed build: a compare and a bitselect, which LLVM does
            // not turn into `relaxed_min` (see `mul_add`).
            #[cfg(ndgrad_relaxed)]
            {
                F32x4(v128_bitselect(o.0, self.0, f32x4_lt(o.0, self.0)))
            }
            #[cfg(not(ndgrad_relaxed))]
            {
                F32x4(f32x4_pmin(self.0, o.0))
            }
        }
        /// `self < o ? o : self` (one `maxps`; NaN in `self` propagates,
        /// NaN in `o` does not).
        #[inline(always)]
        pub fn pmax(self, o: F32x4) -> F32x4 {
            #[cfg(ndgrad_relaxed)]
            {
                F32x4(v128_bitselect(o.0, self.0, f32x4_lt(self.0, o.0)))
            }
            #[cfg(not(ndgrad_relaxed))]
            {
                F32x4(f32x4_pmax(self.0, o.0))
            }
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
        #[inline(always)]
        pub fn floor(self) -> F32x4 {
            F32x4(f32x4_floor(self.0))
        }
        #[inline(always)]
        pub fn ceil(self) -> F32x4 {
            F32x4(f32x4_ceil(self.0))
        }
        #[inline(always)]
        pub fn trunc(self) -> F32x4 {
            F32x4(f32x4_trunc(self.0))
        }
        /// Round to nearest, ties to even (`f32x4.nearest`).
        #[inline(always)]
        pub fn nearest(self) -> F32x4 {
            F32x4(f32x4_nearest(self.0))
        }
        // Comparisons: all-ones lanes where true, zero where false.
        #[inline(always)]
        pub fn eq(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_eq(self.0, o.0))
        }
        #[inline(always)]
        pub fn ne(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_ne(self.0, o.0))
        }
        #[inline(always)]
        pub fn lt(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_lt(self.0, o.0))
        }
        #[inline(always)]
        pub fn le(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_le(self.0, o.0))
        }
        #[inline(always)]
        pub fn gt(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_gt(self.0, o.0))
        }
        #[inline(always)]
        pub fn ge(self, o: F32x4) -> F32x4 {
            F32x4(f32x4_ge(self.0, o.0))
        }
        // Bitwise operations on the 128 bits.
        #[inline(always)]
        pub fn and(self, o: F32x4) -> F32x4 {
            F32x4(v128_and(self.0, o.0))
        }
        #[inline(always)]
        pub fn or(self, o: F32x4) -> F32x4 {
            F32x4(v128_or(self.0, o.0))
        }
        /// `self & !o`.
        #[inline(always)]
        pub fn andnot(self, o: F32x4) -> F32x4 {
            F32x4(v128_andnot(self.0, o.0))
        }
        /// Bits of `a` where `mask` is set, of `b` elsewhere.
        #[inline(always)]
        pub fn select(mask: F32x4, a: F32x4, b: F32x4) -> F32x4 {
            F32x4(v128_bitselect(a.0, b.0, mask.0))
        }
        /// The same bits as four `i32`.
        #[inline(always)]
        pub fn to_bits(self) -> I32x4 {
            I32x4(self.0)
        }
        /// Lanes 0 and 1 as float64 (exact).
        #[inline(always)]
        pub fn to_f64_lo(self) -> F64x2 {
            F64x2(f64x2_promote_low_f32x4(self.0))
        }
        /// Lanes 2 and 3 as float64 (exact).
        #[inline(always)]
        pub fn to_f64_hi(self) -> F64x2 {
            F64x2(f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(
                self.0, self.0,
            )))
        }
        /// Transpose a 4×4 block held as four rows.
        #[inline(always)]
        pub fn transpose4(r: [F32x4; 4]) -> [F32x4; 4] {
            let t0 = i32x4_shuffle::<0, 4, 1, 5>(r[0].0, r[1].0);
            let t1 = i32x4_shuffle::<2, 6, 3, 7>(r[0].0, r[1].0);
            let t2 = i32x4_shuffle::<0, 4, 1, 5>(r[2].0, r[3].0);
            let t3 = i32x4_shuffle::<2, 6, 3, 7>(r[2].0, r[3].0);
            [
                F32x4(i32x4_shuffle::<0, 1, 4, 5>(t0, t2)),
                F32x4(i32x4_shuffle::<2, 3, 6, 7>(t0, t2)),
                F32x4(i32x4_shuffle::<0, 1, 4, 5>(t1, t3)),
                F32x4(i32x4_shuffle::<2, 3, 6, 7>(t1, t3)),
            ]
        }
    }

    impl I32x4 {
        #[inline(always)]
        pub fn splat(x: i32) -> I32x4 {
            I32x4(i32x4_splat(x))
        }
        #[inline(always)]
        pub fn add(self, o: I32x4) -> I32x4 {
            I32x4(i32x4_add(self.0, o.0))
        }
        #[inline(always)]
        pub fn sub(self, o: I32x4) -> I32x4 {
            I32x4(i32x4_sub(self.0, o.0))
        }
        #[inline(always)]
        pub fn and(self, o: I32x4) -> I32x4 {
            I32x4(v128_and(self.0, o.0))
        }
        #[inline(always)]
        pub fn or(self, o: I32x4) -> I32x4 {
            I32x4(v128_or(self.0, o.0))
        }
        /// Shift left by `n` (mod 32).
        #[inline(always)]
        pub fn shl(self, n: u32) -> I32x4 {
            I32x4(i32x4_shl(self.0, n))
        }
        /// Arithmetic shift right by `n` (mod 32).
        #[inline(always)]
        pub fn shr(self, n: u32) -> I32x4 {
            I32x4(i32x4_shr(self.0, n))
        }
        /// Logical shift right by `n` (mod 32).
        #[inline(always)]
        pub fn shr_logical(self, n: u32) -> I32x4 {
            I32x4(u32x4_shr(self.0, n))
        }
        /// Convert to float (round to nearest).
        #[inline(always)]
        pub fn to_f32(self) -> F32x4 {
            F32x4(f32x4_convert_i32x4(self.0))
        }
        /// The same bits as four `f32`.
        #[inline(always)]
        pub fn to_f32_bits(self) -> F32x4 {
            F32x4(self.0)
        }
    }

    impl F64x2 {
        #[inline(always)]
        pub fn splat(x: f64) -> F64x2 {
            F64x2(f64x2_splat(x))
        }
        #[inline(always)]
        pub fn add(self, o: F64x2) -> F64x2 {
            F64x2(f64x2_add(self.0, o.0))
        }
        #[inline(always)]
        pub fn to_array(self) -> [f64; 2] {
            [
                f64x2_extract_lane::<0>(self.0),
                f64x2_extract_lane::<1>(self.0),
            ]
        }
    }

    // Pooling's lane shuffles (pool branch).
    impl F32x4 {
        /// Lanes 0, 2 of `a` then 0, 2 of `b`: the even elements of 8 in a row.
        #[inline(always)]
        pub fn even(a: F32x4, b: F32x4) -> F32x4 {
            F32x4(i32x4_shuffle::<0, 2, 4, 6>(a.0, b.0))
        }
        /// Lanes 1, 3 of `a` then 1, 3 of `b`: the odd elements of 8 in a row.
        #[inline(always)]
        pub fn odd(a: F32x4, b: F32x4) -> F32x4 {
            F32x4(i32x4_shuffle::<1, 3, 5, 7>(a.0, b.0))
        }
        /// Lane 3 of `a` then lanes 0, 1, 2 of `b`: `b` shifted by one
        /// element of a stream whose previous vector is `a`.
        #[inline(always)]
        pub fn shift_in(a: F32x4, b: F32x4) -> F32x4 {
            F32x4(i32x4_shuffle::<3, 4, 5, 6>(a.0, b.0))
        }
        /// The four lanes' bits stored into `u32` slots (argmax indices
        /// kept in float vectors).
        #[inline(always)]
        pub fn store_bits_uninit(self, s: &mut [MaybeUninit<u32>]) {
            assert!(s.len() >= 4);
            // SAFETY: the slice holds at least 4 slots of 4 bytes (checked
            // above); writing into `MaybeUninit` slots is always allowed.
            unsafe { v128_store(s.as_mut_ptr() as *mut v128, self.0) }
        }
        /// Lanes 0, 1 of `a` and `b` interleaved: `a0 b0 a1 b1`.
        #[inline(always)]
        pub fn zip_lo(a: F32x4, b: F32x4) -> F32x4 {
            F32x4(i32x4_shuffle::<0, 4, 1, 5>(a.0, b.0))
        }
        /// Lanes 2, 3 of `a` and `b` interleaved: `a2 b2 a3 b3`.
        #[inline(always)]
        pub fn zip_hi(a: F32x4, b: F32x4) -> F32x4 {
            F32x4(i32x4_shuffle::<2, 6, 3, 7>(a.0, b.0))
        }
    }
    impl I32x4 {
        /// Four `u32` (argmax indices) as lanes.
        #[inline(always)]
        pub fn load_u32(s: &[u32]) -> I32x4 {
            assert!(s.len() >= 4);
            // SAFETY: the slice holds at least 4 values of 4 bytes (checked
            // above); v128_load has no alignment requirement.
            I32x4(unsafe { v128_load(s.as_ptr() as *const v128) })
        }
        /// All-ones lanes where `self == o` (as a float mask for `select`).
        #[inline(always)]
        pub fn eq_mask(self, o: I32x4) -> F32x4 {
            F32x4(i32x4_eq(self.0, o.0))
        }
    }
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod imp {
    use super::super::scalar::{fmax, fmin};
    use core::mem::MaybeUninit;

    #[derive(Clone, Copy)]
    pub struct F32x4([f32; 4]);

    #[derive(Clone, Copy)]
    pub struct I32x4([i32; 4]);

    #[derive(Clone, Copy)]
    pub struct F64x2([f64; 2]);

    const TRUE: f32 = f32::from_bits(u32::MAX);

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
        #[inline(always)]
        fn bits2(self, o: F32x4, f: impl Fn(u32, u32) -> u32) -> F32x4 {
            self.map2(o, |a, b| f32::from_bits(f(a.to_bits(), b.to_bits())))
        }
        #[inline(always)]
        fn cmp(self, o: F32x4, f: impl Fn(f32, f32) -> bool) -> F32x4 {
            self.map2(o, |a, b| if f(a, b) { TRUE } else { 0.0 })
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
        pub fn store_uninit(self, s: &mut [MaybeUninit<f32>]) {
            for (d, v) in s[..4].iter_mut().zip(self.0) {
                d.write(v);
            }
        }
        /// # Safety
        /// The first four elements of `s` must be initialised.
        pub unsafe fn load_init(s: &[MaybeUninit<f32>]) -> F32x4 {
            // SAFETY: the caller guarantees the four floats are initialised.
            F32x4([0, 1, 2, 3].map(|i| unsafe { s[i].assume_init() }))
        }
        /// # Safety
        /// `p..p+4` must be readable floats.
        pub unsafe fn load_ptr(p: *const f32) -> F32x4 {
            // SAFETY: guaranteed by the caller.
            F32x4(unsafe { [0, 1, 2, 3].map(|i| p.add(i).read()) })
        }
        /// # Safety
        /// `p..p+4` must be writable float slots.
        pub unsafe fn store_ptr(self, p: *mut f32) {
            for (i, v) in self.0.into_iter().enumerate() {
                // SAFETY: guaranteed by the caller.
                unsafe { p.add(i).write(v) }
            }
        }
        pub fn to_array(self) -> [f32; 4] {
            self.0
        }
        pub fn add(self, o: F32x4) -> F32x4 {
            self.map2(o, |a, b| a + b)
        }
        /// `a·b + c`, rounded twice (the plain build's result; see the
        /// wasm `mul_add`).
        pub fn mul_add(a: F32x4, b: F32x4, c: F32x4) -> F32x4 {
            a.mul(b).add(c)
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
        pub fn pmin(self, o: F32x4) -> F32x4 {
            self.map2(o, |a, b| if b < a { b } else { a })
        }
        pub fn pmax(self, o: F32x4) -> F32x4 {
            self.map2(o, |a, b| if a < b { b } else { a })
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
        pub fn floor(self) -> F32x4 {
            self.map(f32::floor)
        }
        pub fn ceil(self) -> F32x4 {
            self.map(f32::ceil)
        }
        pub fn trunc(self) -> F32x4 {
            self.map(f32::trunc)
        }
        pub fn nearest(self) -> F32x4 {
            self.map(f32::round_ties_even)
        }
        pub fn eq(self, o: F32x4) -> F32x4 {
            self.cmp(o, |a, b| a == b)
        }
        pub fn ne(self, o: F32x4) -> F32x4 {
            self.cmp(o, |a, b| a != b)
        }
        pub fn lt(self, o: F32x4) -> F32x4 {
            self.cmp(o, |a, b| a < b)
        }
        pub fn le(self, o: F32x4) -> F32x4 {
            self.cmp(o, |a, b| a <= b)
        }
        pub fn gt(self, o: F32x4) -> F32x4 {
            self.cmp(o, |a, b| a > b)
        }
        pub fn ge(self, o: F32x4) -> F32x4 {
            self.cmp(o, |a, b| a >= b)
        }
        pub fn and(self, o: F32x4) -> F32x4 {
            self.bits2(o, |a, b| a & b)
        }
        pub fn or(self, o: F32x4) -> F32x4 {
            self.bits2(o, |a, b| a | b)
        }
        pub fn andnot(self, o: F32x4) -> F32x4 {
            self.bits2(o, |a, b| a & !b)
        }
        pub fn select(mask: F32x4, a: F32x4, b: F32x4) -> F32x4 {
            a.and(mask).or(b.andnot(mask))
        }
        pub fn to_bits(self) -> I32x4 {
            I32x4(self.0.map(|v| v.to_bits() as i32))
        }
        pub fn to_f64_lo(self) -> F64x2 {
            F64x2([self.0[0] as f64, self.0[1] as f64])
        }
        pub fn to_f64_hi(self) -> F64x2 {
            F64x2([self.0[2] as f64, self.0[3] as f64])
        }
        pub fn transpose4(r: [F32x4; 4]) -> [F32x4; 4] {
            [0, 1, 2, 3].map(|c| F32x4([r[0].0[c], r[1].0[c], r[2].0[c], r[3].0[c]]))
        }
    }

    impl I32x4 {
        #[inline(always)]
        fn map2(self, o: I32x4, f: impl Fn(i32, i32) -> i32) -> I32x4 {
            I32x4([
                f(self.0[0], o.0[0]),
                f(self.0[1], o.0[1]),
                f(self.0[2], o.0[2]),
                f(self.0[3], o.0[3]),
            ])
        }
        pub fn splat(x: i32) -> I32x4 {
            I32x4([x; 4])
        }
        pub fn add(self, o: I32x4) -> I32x4 {
            self.map2(o, i32::wrapping_add)
        }
        pub fn sub(self, o: I32x4) -> I32x4 {
            self.map2(o, i32::wrapping_sub)
        }
        pub fn and(self, o: I32x4) -> I32x4 {
            self.map2(o, |a, b| a & b)
        }
        pub fn or(self, o: I32x4) -> I32x4 {
            self.map2(o, |a, b| a | b)
        }
        pub fn shl(self, n: u32) -> I32x4 {
            I32x4(self.0.map(|v| v.wrapping_shl(n)))
        }
        pub fn shr(self, n: u32) -> I32x4 {
            I32x4(self.0.map(|v| v.wrapping_shr(n)))
        }
        pub fn shr_logical(self, n: u32) -> I32x4 {
            I32x4(self.0.map(|v| (v as u32).wrapping_shr(n) as i32))
        }
        pub fn to_f32(self) -> F32x4 {
            F32x4(self.0.map(|v| v as f32))
        }
        pub fn to_f32_bits(self) -> F32x4 {
            F32x4(self.0.map(|v| f32::from_bits(v as u32)))
        }
    }

    impl F64x2 {
        pub fn splat(x: f64) -> F64x2 {
            F64x2([x; 2])
        }
        pub fn add(self, o: F64x2) -> F64x2 {
            F64x2([self.0[0] + o.0[0], self.0[1] + o.0[1]])
        }
        pub fn to_array(self) -> [f64; 2] {
            self.0
        }
    }

    // Pooling's lane shuffles (pool branch).
    impl F32x4 {
        pub fn even(a: F32x4, b: F32x4) -> F32x4 {
            F32x4([a.0[0], a.0[2], b.0[0], b.0[2]])
        }
        pub fn odd(a: F32x4, b: F32x4) -> F32x4 {
            F32x4([a.0[1], a.0[3], b.0[1], b.0[3]])
        }
        pub fn shift_in(a: F32x4, b: F32x4) -> F32x4 {
            F32x4([a.0[3], b.0[0], b.0[1], b.0[2]])
        }
        pub fn store_bits_uninit(self, s: &mut [MaybeUninit<u32>]) {
            for (d, v) in s[..4].iter_mut().zip(self.0) {
                d.write(v.to_bits());
            }
        }
        pub fn zip_lo(a: F32x4, b: F32x4) -> F32x4 {
            F32x4([a.0[0], b.0[0], a.0[1], b.0[1]])
        }
        pub fn zip_hi(a: F32x4, b: F32x4) -> F32x4 {
            F32x4([a.0[2], b.0[2], a.0[3], b.0[3]])
        }
    }
    impl I32x4 {
        pub fn load_u32(s: &[u32]) -> I32x4 {
            I32x4([s[0] as i32, s[1] as i32, s[2] as i32, s[3] as i32])
        }
        pub fn eq_mask(self, o: I32x4) -> F32x4 {
            F32x4([0, 1, 2, 3].map(|i| if self.0[i] == o.0[i] { TRUE } else { 0.0 }))
        }
    }
}

pub use imp::{F32x4, F64x2, I32x4};

/// Two `F32x4` processed op by op: code written once against `Lanes` runs
/// on one vector or, as `F32x8`, on two independent ones interleaved
/// instruction by instruction. Long dependency chains (a polynomial per
/// element) then overlap without relying on the CPU to look far ahead.
#[derive(Clone, Copy)]
pub struct F32x8(pub F32x4, pub F32x4);

/// Two `I32x4`, the integer view of `F32x8`.
#[derive(Clone, Copy)]
pub struct I32x8(pub I32x4, pub I32x4);

impl F32x8 {
    #[inline(always)]
    pub fn load(s: &[f32]) -> F32x8 {
        F32x8(F32x4::load(&s[..4]), F32x4::load(&s[4..8]))
    }
    #[inline(always)]
    pub fn store_uninit(self, s: &mut [core::mem::MaybeUninit<f32>]) {
        self.0.store_uninit(&mut s[..4]);
        self.1.store_uninit(&mut s[4..8]);
    }
}

/// The float operations the math kernels use, on `F32x4` or `F32x8`.
pub trait Lanes: Copy {
    type Int: IntLanes<Float = Self>;
    /// Every vector of `self` set to `c`.
    fn bc(c: F32x4) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn div(self, o: Self) -> Self;
    fn pmin(self, o: Self) -> Self;
    fn pmax(self, o: Self) -> Self;
    fn abs(self) -> Self;
    fn neg(self) -> Self;
    fn eq(self, o: Self) -> Self;
    fn ne(self, o: Self) -> Self;
    fn lt(self, o: Self) -> Self;
    fn gt(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn andnot(self, o: Self) -> Self;
    fn select(mask: Self, a: Self, b: Self) -> Self;
    fn to_bits(self) -> Self::Int;
}

/// The integer operations the math kernels use, on `I32x4` or `I32x8`.
pub trait IntLanes: Copy {
    type Float;
    fn bc(c: I32x4) -> Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn and(self, o: Self) -> Self;
    fn or(self, o: Self) -> Self;
    fn shl(self, n: u32) -> Self;
    fn shr(self, n: u32) -> Self;
    fn shr_logical(self, n: u32) -> Self;
    fn to_f32(self) -> Self::Float;
    fn to_f32_bits(self) -> Self::Float;
}

macro_rules! forward {
    ($t:ty; $($name:ident($($arg:ident),*)),*) => {
        $(#[inline(always)]
        fn $name(self $(, $arg: Self)*) -> Self {
            <$t>::$name(self $(, $arg)*)
        })*
    };
}

macro_rules! pairwise {
    ($($name:ident($($arg:ident),*)),*) => {
        $(#[inline(always)]
        fn $name(self $(, $arg: Self)*) -> Self {
            Self(self.0.$name($($arg.0),*), self.1.$name($($arg.1),*))
        })*
    };
}

impl Lanes for F32x4 {
    type Int = I32x4;
    #[inline(always)]
    fn bc(c: F32x4) -> Self {
        c
    }
    forward!(F32x4; add(o), sub(o), mul(o), div(o), pmin(o), pmax(o), abs(), neg(),
        eq(o), ne(o), lt(o), gt(o), and(o), or(o), andnot(o));
    #[inline(always)]
    fn select(mask: Self, a: Self, b: Self) -> Self {
        F32x4::select(mask, a, b)
    }
    #[inline(always)]
    fn to_bits(self) -> I32x4 {
        F32x4::to_bits(self)
    }
}

impl IntLanes for I32x4 {
    type Float = F32x4;
    #[inline(always)]
    fn bc(c: I32x4) -> Self {
        c
    }
    forward!(I32x4; add(o), sub(o), and(o), or(o));
    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        I32x4::shl(self, n)
    }
    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        I32x4::shr(self, n)
    }
    #[inline(always)]
    fn shr_logical(self, n: u32) -> Self {
        I32x4::shr_logical(self, n)
    }
    #[inline(always)]
    fn to_f32(self) -> F32x4 {
        I32x4::to_f32(self)
    }
    #[inline(always)]
    fn to_f32_bits(self) -> F32x4 {
        I32x4::to_f32_bits(self)
    }
}

impl Lanes for F32x8 {
    type Int = I32x8;
    #[inline(always)]
    fn bc(c: F32x4) -> Self {
        F32x8(c, c)
    }
    pairwise!(
        add(o),
        sub(o),
        mul(o),
        div(o),
        pmin(o),
        pmax(o),
        abs(),
        neg(),
        eq(o),
        ne(o),
        lt(o),
        gt(o),
        and(o),
        or(o),
        andnot(o)
    );
    #[inline(always)]
    fn select(m: Self, a: Self, b: Self) -> Self {
        F32x8(F32x4::select(m.0, a.0, b.0), F32x4::select(m.1, a.1, b.1))
    }
    #[inline(always)]
    fn to_bits(self) -> I32x8 {
        I32x8(self.0.to_bits(), self.1.to_bits())
    }
}

impl IntLanes for I32x8 {
    type Float = F32x8;
    #[inline(always)]
    fn bc(c: I32x4) -> Self {
        I32x8(c, c)
    }
    pairwise!(add(o), sub(o), and(o), or(o));
    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        I32x8(self.0.shl(n), self.1.shl(n))
    }
    #[inline(always)]
    fn shr(self, n: u32) -> Self {
        I32x8(self.0.shr(n), self.1.shr(n))
    }
    #[inline(always)]
    fn shr_logical(self, n: u32) -> Self {
        I32x8(self.0.shr_logical(n), self.1.shr_logical(n))
    }
    #[inline(always)]
    fn to_f32(self) -> F32x8 {
        F32x8(self.0.to_f32(), self.1.to_f32())
    }
    #[inline(always)]
    fn to_f32_bits(self) -> F32x8 {
        F32x8(self.0.to_f32_bits(), self.1.to_f32_bits())
    }
}

/// Whether this build runs the vector paths as real WebAssembly SIMD.
pub const NATIVE_SIMD: bool = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));

/// Whether this is a relaxed-SIMD build (`mul_add` is `f32x4.relaxed_madd`).
pub const RELAXED_SIMD: bool = cfg!(ndgrad_relaxed);
