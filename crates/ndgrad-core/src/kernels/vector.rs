//! Vector paths of the elementwise kernels, written against `F32x4`.
//!
//! Each kernel *appends* its results to a `Vec<f32>` whose capacity the
//! caller reserved: the output is written exactly once, straight into the
//! vector's spare capacity, with no zero-fill pass before it. A tail of
//! fewer than four elements runs through the same vector code on a padded
//! copy, so a value's result never depends on its position.
//!
//! `exp`, `log`, `tanh` and `sigmoid` are polynomial approximations (Cephes'
//! single-precision coefficients, range reduction by powers of two), within
//! a few float32 ulps of the scalar `f32::exp` etc. (`MATH_ULPS`, checked by
//! the tests and `kernels::selftest` over many values and every special
//! case). `pow` has no vector path and uses the scalar kernel.

use core::mem::MaybeUninit;

use super::scalar::{BinOp, UnOp};
use super::simd::{F32x4, F32x8, I32x4, IntLanes, Lanes};
use crate::threads;

/// Error bound of the vector `exp`, `log`, `tanh` and `sigmoid` against the
/// scalar functions, in float32 ulps (distance in the ordered bit patterns,
/// so it counts subnormal steps too; for `sigmoid` results below the
/// smallest normal float also pass within that absolute distance, because
/// the scalar formula itself rounds there: `1/(1+e^-x)` flushes to 0 once
/// `e^-x` overflows).
pub const MATH_ULPS: u32 = 4;

/// Run `$body` with `$f` bound to the vector form of `op` (not `pow`). Each
/// arm binds a distinct function item or closure, so `$body` is
/// monomorphised per op and the lane operation inlines into the loop (a
/// `fn` pointer would cost an indirect call per vector).
macro_rules! with_bin_vec {
    ($op:expr, $f:ident => $body:expr) => {{
        let one = F32x4::splat(1.0);
        match $op {
            BinOp::Add => {
                let $f = F32x4::add;
                $body
            }
            BinOp::Sub => {
                let $f = F32x4::sub;
                $body
            }
            BinOp::Mul => {
                let $f = F32x4::mul;
                $body
            }
            BinOp::Div => {
                let $f = F32x4::div;
                $body
            }
            BinOp::Maximum => {
                let $f = F32x4::max;
                $body
            }
            BinOp::Minimum => {
                let $f = F32x4::min;
                $body
            }
            // Comparisons: the all-ones mask ANDed with 1.0 gives 1.0 or 0.0.
            BinOp::Equal => {
                let $f = |a: F32x4, b: F32x4| a.eq(b).and(one);
                $body
            }
            BinOp::NotEqual => {
                let $f = |a: F32x4, b: F32x4| a.ne(b).and(one);
                $body
            }
            BinOp::Greater => {
                let $f = |a: F32x4, b: F32x4| a.gt(b).and(one);
                $body
            }
            BinOp::GreaterEqual => {
                let $f = |a: F32x4, b: F32x4| a.ge(b).and(one);
                $body
            }
            BinOp::Lesser => {
                let $f = |a: F32x4, b: F32x4| a.lt(b).and(one);
                $body
            }
            BinOp::LesserEqual => {
                let $f = |a: F32x4, b: F32x4| a.le(b).and(one);
                $body
            }
            BinOp::Pow => unreachable!("pow has no vector path"),
        }
    }};
}

/// Whether `op` has a vector path (every unary op has one).
pub fn has_binary(op: BinOp) -> bool {
    op != BinOp::Pow
}

/// `p + i` floats as an address add that cannot wrap (`add nuw`): that is
/// what lets LLVM fold a constant `i` into a WebAssembly load's offset, so
/// V8 emits one instruction per load instead of an address add and a load.
///
/// # Safety
/// `p + i` must stay inside the allocation `p` points into.
#[inline(always)]
unsafe fn at<T>(p: *const T, i: usize) -> *const T {
    // SAFETY: in bounds (guaranteed by the caller), so the byte address
    // cannot overflow.
    p.with_addr(unsafe { p.addr().unchecked_add(i * core::mem::size_of::<T>()) })
}

/// `at` for a pointer to write through.
///
/// # Safety
/// As for `at`.
#[inline(always)]
unsafe fn at_mut<T>(p: *mut T, i: usize) -> *mut T {
    // SAFETY: as in `at`.
    p.with_addr(unsafe { p.addr().unchecked_add(i * core::mem::size_of::<T>()) })
}

/// Elementwise kernels on at least this many elements are split over the
/// threads of `crate::threads` (below it, waking helpers costs more than
/// they save).
pub const PAR_MIN: usize = 1 << 18;

/// Chunks per thread when a kernel is split: a few, so that a thread the OS
/// descheduled for a while does not hold up the others for long.
const CHUNKS_PER_THREAD: usize = 4;

/// Append `n` results to `out` (reserving room for them): `fill(i, dst)`
/// writes the results for elements `i..i + dst.len()` into `dst`. Below
/// `PAR_MIN`, or on one thread, that is one call over all `n`; above, the
/// slots are cut into chunks of a multiple of 16 elements, each written by
/// one thread of the pool. Every result depends only on its own element
/// (and a tail is computed as the vector lanes are), so the output is the
/// same bit for bit whatever the number of threads.
///
/// # Safety
/// `fill` must initialise every slot of each `dst` it is given.
#[inline(always)]
unsafe fn append_split(
    out: &mut Vec<f32>,
    n: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) {
    out.reserve(n);
    let start = out.len();
    let dst = &mut out.spare_capacity_mut()[..n];
    let threads = if n >= PAR_MIN { threads::threads() } else { 1 };
    if threads <= 1 {
        fill(0, dst);
    } else {
        let chunk = n.div_ceil(threads * CHUNKS_PER_THREAD).next_multiple_of(16);
        let parts: Vec<&mut [MaybeUninit<f32>]> = dst.chunks_mut(chunk).collect();
        threads::for_each(parts, threads, |t, d| fill(t * chunk, d));
    }
    // SAFETY: the chunks (or the one call) cover dst[0..n], and `fill`
    // initialised every slot of each (the caller's guarantee), so all `n`
    // slots past the old length are initialised.
    unsafe { out.set_len(start + n) };
}

/// Write `f(ins[0][i], ins[1][i], ...)` into `dst[i]` for every `i <
/// dst.len()` (every slot of `dst`; each input holds at least that many):
/// sixteen elements per iteration (V8 adds an interrupt check and reloads
/// the memory base on every loop back-edge, which costs as much as a
/// one-vector body), then single vectors, then a tail of fewer than four
/// through the same `f` on padded copies.
#[inline(always)]
fn fill<const K: usize>(
    dst: &mut [MaybeUninit<f32>],
    ins: [&[f32]; K],
    f: impl Fn([F32x4; K]) -> F32x4,
) {
    let n = dst.len();
    assert!(ins.iter().all(|s| s.len() >= n));
    let (full16, full) = (n - n % 16, n - n % 4);
    let src = ins.map(|s| s.as_ptr());
    let d0 = dst.as_mut_ptr() as *mut f32;
    let mut i = 0;
    while i < full16 {
        // SAFETY: i + 16 <= n, and every input and `dst` hold at least n
        // floats, so all 16 loads and stores below are in bounds.
        unsafe {
            let s = src.map(|p| at(p, i));
            let d = at_mut(d0, i);
            for o in [0, 4, 8, 12] {
                f(s.map(|p| F32x4::load_ptr(at(p, o)))).store_ptr(at_mut(d, o));
            }
        }
        i += 16;
    }
    while i < full {
        // SAFETY: i + 4 <= n, as above.
        unsafe { f(src.map(|p| F32x4::load_ptr(at(p, i)))).store_ptr(at_mut(d0, i)) };
        i += 4;
    }
    if full < n {
        let v = f(ins.map(|s| padded(s, full, n - full))).to_array();
        for (d, &x) in dst[full..].iter_mut().zip(&v) {
            d.write(x);
        }
    }
}

/// A vector whose first `r` lanes are `x[i..i+r]` (the rest 0).
#[inline(always)]
fn padded(x: &[f32], i: usize, r: usize) -> F32x4 {
    let mut t = [0f32; 4];
    t[..r].copy_from_slice(&x[i..i + r]);
    F32x4::load(&t)
}

// Not inlined: each op gets its own small function, which V8 compiles
// with every loop variable in a register (inlined into one big dispatch
// function they spilled to the stack).
#[inline(never)]
fn run2(a: &[f32], b: &[f32], out: &mut Vec<f32>, f: impl Fn(F32x4, F32x4) -> F32x4 + Sync) {
    let n = a.len().min(b.len());
    // SAFETY: `fill` writes every slot of the `d` it is given.
    unsafe { append_split(out, n, |i, d| fill(d, [&a[i..], &b[i..]], |[x, y]| f(x, y))) }
}

#[inline(never)]
fn run1(x: &[f32], out: &mut Vec<f32>, f: impl Fn(F32x4) -> F32x4 + Sync) {
    // SAFETY: `fill` writes every slot of the `d` it is given.
    unsafe { append_split(out, x.len(), |i, d| fill(d, [&x[i..]], |[v]| f(v))) }
}

/// `run1` for the long math kernels: eight elements per step as two
/// interleaved vectors (`f8`), then `f4` (the same lane arithmetic) for the
/// rest. Not inlined, like `run1`.
#[inline(never)]
fn run1_wide(
    x: &[f32],
    out: &mut Vec<f32>,
    f4: impl Fn(F32x4) -> F32x4 + Sync,
    f8: impl Fn(F32x8) -> F32x8 + Sync,
) {
    // SAFETY: `fill_wide` writes every slot of the `d` it is given.
    unsafe { append_split(out, x.len(), |i, d| fill_wide(d, &x[i..], &f4, &f8)) }
}

/// `fill` for `run1_wide`: every slot of `dst` from `x[..dst.len()]`.
#[inline(always)]
fn fill_wide(
    dst: &mut [MaybeUninit<f32>],
    x: &[f32],
    f4: impl Fn(F32x4) -> F32x4,
    f8: impl Fn(F32x8) -> F32x8,
) {
    let n = dst.len();
    let x = &x[..n];
    let n8 = n - n % 8;
    let mut i = 0;
    while i < n8 {
        f8(F32x8::load(&x[i..i + 8])).store_uninit(&mut dst[i..i + 8]);
        i += 8;
    }
    if i + 4 <= n {
        f4(F32x4::load(&x[i..i + 4])).store_uninit(&mut dst[i..i + 4]);
        i += 4;
    }
    if i < n {
        let v = f4(padded(x, i, n - i)).to_array();
        for (d, &y) in dst[i..].iter_mut().zip(&v) {
            d.write(y);
        }
    }
}

/// Append `a op b` (elementwise, `a` and `b` of equal length) to `out`.
pub fn binary_same(op: BinOp, a: &[f32], b: &[f32], out: &mut Vec<f32>) {
    if op == BinOp::Pow {
        out.extend(a.iter().zip(b).map(|(&x, &y)| op.apply(x, y)));
        return;
    }
    with_bin_vec!(op, f => run2(a, b, out, f))
}

/// Append `a op s`, or `s op a` when `reverse`, to `out`.
pub fn binary_scalar(op: BinOp, a: &[f32], s: f32, reverse: bool, out: &mut Vec<f32>) {
    if op == BinOp::Pow {
        if reverse {
            out.extend(a.iter().map(|&x| op.apply(s, x)));
        } else {
            out.extend(a.iter().map(|&x| op.apply(x, s)));
        }
        return;
    }
    let sv = F32x4::splat(s);
    with_bin_vec!(op, f => {
        if reverse {
            run1(a, out, |x| f(sv, x))
        } else {
            run1(a, out, |x| f(x, sv))
        }
    })
}

/// Append `op(x)` to `out`.
pub fn unary(op: UnOp, x: &[f32], out: &mut Vec<f32>) {
    let zero = F32x4::splat(0.0);
    match op {
        UnOp::Neg => run1(x, out, F32x4::neg),
        UnOp::Abs => run1(x, out, F32x4::abs),
        UnOp::Sqrt => run1(x, out, F32x4::sqrt),
        UnOp::Square => run1(x, out, |v| v.mul(v)),
        // pmax(v, 0) is one instruction (NaN in v propagates); adding +0
        // turns the -0 it keeps into +0, as max(-0, 0) gives.
        UnOp::Relu => run1(x, out, |v| v.pmax(zero).add(zero)),
        UnOp::Sign => run1(x, out, sign),
        UnOp::Exp => {
            let k = MathK::new();
            run1_wide(x, out, |v| exp(v, &k), |v| exp(v, &k))
        }
        UnOp::Log => {
            let k = MathK::new();
            run1_wide(x, out, |v| log(v, &k), |v| log(v, &k))
        }
        UnOp::Tanh => {
            let k = MathK::new();
            run1_wide(x, out, |v| tanh(v, &k), |v| tanh(v, &k))
        }
        UnOp::Sigmoid => {
            let k = MathK::new();
            run1_wide(x, out, |v| sigmoid(v, &k), |v| sigmoid(v, &k))
        }
        UnOp::Floor => run1(x, out, F32x4::floor),
        UnOp::Ceil => run1(x, out, F32x4::ceil),
        UnOp::Trunc => run1(x, out, F32x4::trunc),
        UnOp::Rint => run1(x, out, F32x4::nearest),
        // The rest run the scalar formulas (libm in float32).
        _ => out.extend(x.iter().map(|&v| op.apply(v))),
    }
}

// ---- elementwise math on F32x4 ----

const LN2_HI: f32 = 0.693_359_4; // 0.693359375: 9 significant bits, k·LN2_HI is exact
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5·2^23: adding it rounds a float below 2^22 to an integer (ties to
/// even) and leaves that integer in the low mantissa bits.
const MAGIC: f32 = 12_582_912.0;
/// Cephes expf: e^r = 1 + r + r²·P(r) on |r| <= ln2/2.
const EXP_P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_5e-1,
    5e-1,
];
/// Cephes logf: log(1+f) = f - f²/2 + f³·P(f) on sqrt(1/2)-1 <= f < sqrt(2)-1.
const LOG_P: [f32; 9] = [
    7.037_683_6e-2,
    -1.151_461e-1,
    1.167_699_9e-1,
    -1.242_014_1e-1,
    1.424_932_3e-1,
    -1.666_805_8e-1,
    2.000_071_4e-1,
    -2.499_999_4e-1,
    3.333_333e-1,
];
/// Cephes tanhf: tanh(a) = a + a·z·Q(z), z = a², on |a| < 0.625.
const TANH_Q: [f32; 5] = [
    -5.704_988_7e-3,
    2.063_909e-2,
    -5.373_971_6e-2,
    1.333_144_2e-1,
    -3.333_328e-1,
];

/// The constants of the math kernels as vectors, made once per kernel call
/// and hidden from the optimiser (`black_box`): otherwise LLVM folds each
/// into a `v128.const` at its use inside the loop, which V8 (11.x)
/// materialises with four scalar instructions every iteration — that alone
/// made `exp` ~3× slower. Held in locals, they live in registers or stack
/// slots, and a use is at most one memory operand.
#[derive(Clone, Copy)]
pub struct MathK {
    zero: F32x4,
    one: F32x4,
    half: F32x4,
    exp_hi: F32x4,
    exp_lo: F32x4,
    log2e: F32x4,
    magic: F32x4,
    ln2_hi: F32x4,
    ln2_lo: F32x4,
    exp_p: [F32x4; 6],
    bias: I32x4,
    min_normal: F32x4,
    two23: F32x4,
    sqrt2: F32x4,
    mant_mask: I32x4,
    one_bits: I32x4,
    bias_sub: F32x4,
    log_p: [F32x4; 9],
    tanh_split: F32x4,
    minus_two: F32x4,
    tanh_q: [F32x4; 5],
    sign_bit: F32x4,
    inf: F32x4,
    neg_inf: F32x4,
    nan: F32x4,
}

impl Default for MathK {
    fn default() -> Self {
        Self::new()
    }
}

impl MathK {
    #[inline(always)]
    pub fn new() -> MathK {
        let f = |x: f32| F32x4::splat(x);
        core::hint::black_box(MathK {
            zero: f(0.0),
            one: f(1.0),
            half: f(0.5),
            exp_hi: f(89.0),
            exp_lo: f(-104.0),
            log2e: f(core::f32::consts::LOG2_E),
            magic: f(MAGIC),
            ln2_hi: f(LN2_HI),
            ln2_lo: f(LN2_LO),
            exp_p: EXP_P.map(f),
            bias: I32x4::splat(127),
            min_normal: f(f32::MIN_POSITIVE),
            two23: f(8_388_608.0),
            sqrt2: f(core::f32::consts::SQRT_2),
            mant_mask: I32x4::splat(0x007f_ffff),
            one_bits: I32x4::splat(0x3f80_0000),
            bias_sub: f(23.0 + 127.0),
            log_p: LOG_P.map(f),
            tanh_split: f(0.625),
            minus_two: f(-2.0),
            tanh_q: TANH_Q.map(f),
            sign_bit: f(-0.0),
            inf: f(f32::INFINITY),
            neg_inf: f(f32::NEG_INFINITY),
            nan: f(f32::NAN),
        })
    }
}

/// Horner's rule: `c[0]·x^(n-1) + … + c[n-1]`.
#[inline(always)]
fn poly<V: Lanes, const N: usize>(x: V, c: &[F32x4; N]) -> V {
    let mut p = V::bc(c[0]);
    for &k in &c[1..] {
        p = p.mul(x).add(V::bc(k));
    }
    p
}

/// NumPy's `sign`: 1, -1, and 0/-0/NaN unchanged.
#[inline(always)]
pub fn sign(x: F32x4) -> F32x4 {
    let zero = F32x4::splat(0.0);
    let r = F32x4::select(x.lt(zero), F32x4::splat(-1.0), x);
    F32x4::select(x.gt(zero), F32x4::splat(1.0), r)
}

/// `e^x` within 2 ulps; overflow gives +inf, underflow rounds gradually
/// through the subnormals to 0, NaN stays NaN.
#[inline(always)]
pub fn exp<V: Lanes>(x: V, k: &MathK) -> V {
    let c = V::bc;
    // Beyond these the result is +inf / 0 anyway; clamping keeps 2^n
    // representable. pmin/pmax keep a NaN of x (x is their first operand).
    let x = x.pmin(c(k.exp_hi)).pmax(c(k.exp_lo));
    // n = round(x·log2 e), as a float and as an integer.
    let t = x.mul(c(k.log2e)).add(c(k.magic));
    let n = t.sub(c(k.magic));
    let ni = t.to_bits().sub(V::Int::bc(k.magic.to_bits()));
    // r = x - n·ln2 in two steps (Cody and Waite): |r| <= ln2/2.
    let r = x.sub(n.mul(c(k.ln2_hi))).sub(n.mul(c(k.ln2_lo)));
    let y = r.mul(r).mul(poly(r, &k.exp_p)).add(r).add(c(k.one));
    // Scale by 2^n as 2^n1·2^n2 (n1 = floor(n/2)): each factor stays normal
    // for n in [-150, 129], the first product is exact and the second
    // rounds once (into the subnormals or to +inf where it must).
    let n1 = ni.shr(1);
    let n2 = ni.sub(n1);
    let bias = V::Int::bc(k.bias);
    let pow2 = |e: V::Int| e.add(bias).shl(23).to_f32_bits();
    y.mul(pow2(n1)).mul(pow2(n2))
}

/// Natural logarithm within 2 ulps: `log(±0) = -inf`, `log(x<0) = NaN`,
/// `log(inf) = inf`; subnormal inputs are scaled (exactly) first.
#[inline(always)]
pub fn log<V: Lanes>(x: V, k: &MathK) -> V {
    let c = V::bc;
    // Subnormals: scale by 2^23 and correct the exponent.
    let sub = x.lt(c(k.min_normal));
    let xs = V::select(sub, x.mul(c(k.two23)), x);
    let bias = V::select(sub, c(k.bias_sub), c(k.bias.to_f32()));
    let bits = xs.to_bits();
    // xs = m·2^e with m in [1, 2).
    let e = bits.shr_logical(23).to_f32().sub(bias);
    let m = bits
        .and(V::Int::bc(k.mant_mask))
        .or(V::Int::bc(k.one_bits))
        .to_f32_bits();
    // Bring m into [sqrt(1/2), sqrt(2)) so that f = m - 1 is small; both
    // steps are exact.
    let big = m.gt(c(k.sqrt2));
    let m = V::select(big, m.mul(c(k.half)), m);
    let e = V::select(big, e.add(c(k.one)), e);
    let f = m.sub(c(k.one));
    let z = f.mul(f);
    let y = f
        .mul(z)
        .mul(poly(f, &k.log_p))
        .add(e.mul(c(k.ln2_lo)))
        .sub(z.mul(c(k.half)));
    let r = f.add(y).add(e.mul(c(k.ln2_hi)));
    // Special values: +inf, ±0, and x < 0 or NaN (x != x only for NaN).
    let r = V::select(x.eq(c(k.inf)), x, r);
    let r = V::select(x.eq(c(k.zero)), c(k.neg_inf), r);
    V::select(x.lt(c(k.zero)).or(x.ne(x)), c(k.nan), r)
}

/// `tanh(x)` within 3 ulps: an odd polynomial below 0.625, else
/// `(1 - e^-2|x|) / (1 + e^-2|x|)`; the sign is copied from `x` (so
/// `tanh(-0) = -0`).
#[inline(always)]
pub fn tanh<V: Lanes>(x: V, k: &MathK) -> V {
    let c = V::bc;
    let a = x.abs();
    let z = a.mul(a);
    let small = a.mul(z).mul(poly(z, &k.tanh_q)).add(a);
    let e = exp(a.mul(c(k.minus_two)), k);
    let large = c(k.one).sub(e).div(c(k.one).add(e));
    let t = V::select(a.lt(c(k.tanh_split)), small, large);
    // Copy the sign bit of x onto |t| (NaN stays NaN).
    t.andnot(c(k.sign_bit)).or(x.and(c(k.sign_bit)))
}

/// `1 / (1 + e^-x)`, the scalar kernel's formula with the vector `exp`.
#[inline(always)]
pub fn sigmoid<V: Lanes>(x: V, k: &MathK) -> V {
    let one = V::bc(k.one);
    one.div(one.add(exp(x.neg(), k)))
}

/// Distance in float32 ulps between `a` and `b`: the number of floats
/// between them (0 when equal or both NaN, `u32::MAX` when only one is NaN).
pub fn ulps(a: f32, b: f32) -> u32 {
    if a.is_nan() || b.is_nan() {
        return if a.is_nan() && b.is_nan() {
            0
        } else {
            u32::MAX
        };
    }
    // Map the sign-magnitude bit patterns onto a monotonic integer line
    // (-0 and +0 both map to 0).
    let key = |v: f32| -> i64 {
        let b = v.to_bits() as i64;
        if b & 0x8000_0000 != 0 {
            -(b & 0x7fff_ffff)
        } else {
            b
        }
    };
    (key(a) - key(b)).unsigned_abs().min(u32::MAX as u64) as u32
}

/// Whether `v` (vector) is acceptable for `s` (scalar oracle) under `op`:
/// bit-identical for the exactly rounded ops, within `MATH_ULPS` for the
/// polynomial ones.
pub fn agrees(op: UnOp, v: f32, s: f32) -> bool {
    match op {
        UnOp::Exp | UnOp::Log | UnOp::Tanh => ulps(v, s) <= MATH_ULPS,
        UnOp::Sigmoid => ulps(v, s) <= MATH_ULPS || (v - s).abs() <= f32::MIN_POSITIVE,
        _ => v.to_bits() == s.to_bits() || (v.is_nan() && s.is_nan()),
    }
}

/// The scalar kernels, appending (the oracle for tests that use `Vec`s).
pub fn scalar_unary(op: UnOp, x: &[f32], out: &mut Vec<f32>) {
    out.extend(x.iter().map(|&v| op.apply(v)));
}
