//! Vector paths of the elementwise kernels, written against `F32x4`. Ops
//! without a vector path here (`exp`, `log`, `pow`, ...) use the scalar
//! kernels.

use super::scalar::{self, BinOp, UnOp};
use super::simd::F32x4;

#[inline(always)]
fn bin_vec(op: BinOp) -> Option<fn(F32x4, F32x4) -> F32x4> {
    Some(match op {
        BinOp::Add => F32x4::add,
        BinOp::Sub => F32x4::sub,
        BinOp::Mul => F32x4::mul,
        BinOp::Div => F32x4::div,
        BinOp::Maximum => F32x4::max,
        BinOp::Minimum => F32x4::min,
        _ => return None,
    })
}

/// Whether `op` has a vector path.
pub fn has_binary(op: BinOp) -> bool {
    bin_vec(op).is_some()
}

pub fn has_unary(op: UnOp) -> bool {
    matches!(
        op,
        UnOp::Neg | UnOp::Abs | UnOp::Sqrt | UnOp::Square | UnOp::Relu
    )
}

#[inline(always)]
fn run2(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    f: impl Fn(F32x4, F32x4) -> F32x4,
    t: impl Fn(f32, f32) -> f32,
) {
    let n = out.len().min(a.len()).min(b.len());
    let (a, b, out) = (&a[..n], &b[..n], &mut out[..n]);
    let body = n - n % 4;
    let mut i = 0;
    while i < body {
        f(F32x4::load(&a[i..]), F32x4::load(&b[i..])).store(&mut out[i..]);
        i += 4;
    }
    for j in body..n {
        out[j] = t(a[j], b[j]);
    }
}

#[inline(always)]
fn run1(x: &[f32], out: &mut [f32], f: impl Fn(F32x4) -> F32x4, t: impl Fn(f32) -> f32) {
    let n = out.len().min(x.len());
    let (x, out) = (&x[..n], &mut out[..n]);
    let body = n - n % 4;
    let mut i = 0;
    while i < body {
        f(F32x4::load(&x[i..])).store(&mut out[i..]);
        i += 4;
    }
    for j in body..n {
        out[j] = t(x[j]);
    }
}

pub fn binary_same(op: BinOp, a: &[f32], b: &[f32], out: &mut [f32]) {
    match bin_vec(op) {
        Some(f) => run2(a, b, out, f, |x, y| op.apply(x, y)),
        None => scalar::binary_same(op, a, b, out),
    }
}

pub fn binary_scalar(op: BinOp, a: &[f32], s: f32, reverse: bool, out: &mut [f32]) {
    let Some(f) = bin_vec(op) else {
        return scalar::binary_scalar(op, a, s, reverse, out);
    };
    let sv = F32x4::splat(s);
    if reverse {
        run1(a, out, |x| f(sv, x), |x| op.apply(s, x));
    } else {
        run1(a, out, |x| f(x, sv), |x| op.apply(x, s));
    }
}

pub fn unary(op: UnOp, x: &[f32], out: &mut [f32]) {
    let zero = F32x4::splat(0.0);
    match op {
        UnOp::Neg => run1(x, out, F32x4::neg, |v| op.apply(v)),
        UnOp::Abs => run1(x, out, F32x4::abs, |v| op.apply(v)),
        UnOp::Sqrt => run1(x, out, F32x4::sqrt, |v| op.apply(v)),
        UnOp::Square => run1(x, out, |v| v.mul(v), |v| op.apply(v)),
        UnOp::Relu => run1(x, out, |v| v.max(zero), |v| op.apply(v)),
        _ => scalar::unary(op, x, out),
    }
}
