//! `dot`: MXNet's dot for 1-D and 2-D (and N-D: the last axis of `a` against
//! the first of `b`).

use super::{reshape_to, saved, transpose, Op};
use crate::autograd::record;
use crate::dtype::{wrap, Data, Elem};
use crate::error::{Error, Result};
use crate::shape::checked_size;
use crate::storage::{alloc_empty, Tensor};

/// `count` products `a_i (m×k) · b_i (k×n)` of consecutive blocks.
fn gemm_batch<T: Elem>(
    count: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
) -> Result<Data> {
    let mut out = alloc_empty::<T>(count * m * n)?;
    T::gemm_batched(count, m, n, k, a, b, &mut out);
    Ok(wrap(out))
}

fn gemm_data(count: usize, m: usize, n: usize, k: usize, a: &Tensor, b: &Tensor) -> Result<Data> {
    let (ad, bd) = (a.data()?, b.data()?);
    match (&*ad, &*bd) {
        (Data::F32(x), Data::F32(y)) => gemm_batch(count, m, n, k, x, y),
        (Data::F64(x), Data::F64(y)) => gemm_batch(count, m, n, k, x, y),
        (Data::I32(x), Data::I32(y)) => gemm_batch(count, m, n, k, x, y),
        (Data::U8(x), Data::U8(y)) => gemm_batch(count, m, n, k, x, y),
        _ => Err(Error::internal("dtype mismatch after the check")),
    }
}

/// MXNet's `dot(a, b, transpose_a, transpose_b)`: a transposed operand has
/// its axes reversed first (recorded, so gradients flow through it).
pub fn dot_t(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    let at;
    let bt;
    let a = if ta {
        at = transpose(a, None)?;
        &at
    } else {
        a
    };
    let b = if tb {
        bt = transpose(b, None)?;
        &bt
    } else {
        b
    };
    dot(a, b)
}

struct Dims {
    m: usize,
    k: usize,
    n: usize,
    out: Vec<usize>,
}

fn dims(a: &[usize], b: &[usize]) -> Result<Dims> {
    let (Some(&k), Some(&kb)) = (a.last(), b.first()) else {
        return Err(Error::invalid(
            "dot: 0-d arrays are not supported".to_string(),
        ));
    };
    if k != kb {
        return Err(Error::shape(format!(
            "dot: shapes {} and {} not aligned: {} (dim {}) != {} (dim 0)",
            crate::shape::fmt_shape(a),
            crate::shape::fmt_shape(b),
            k,
            a.len() - 1,
            kb
        )));
    }
    let m = crate::shape::size(&a[..a.len() - 1]);
    let n = crate::shape::size(&b[1..]);
    let mut out: Vec<usize> = a[..a.len() - 1].iter().chain(&b[1..]).copied().collect();
    if out.is_empty() {
        out.push(1); // 1-D · 1-D gives shape [1] in MXNet 1.x
    }
    Ok(Dims { m, k, n, out })
}

pub fn dot(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let d = dims(&a.shape, &b.shape)?;
    super::same_dtype("dot", a, b)?;
    checked_size(&d.out).map_err(|e| e.in_op("dot"))?;
    let out = gemm_data(1, d.m, d.n, d.k, a, b).map_err(|e| e.in_op("dot"))?;
    let mut t = Tensor::from_vec(d.out, out)?;
    record(|| Op::Dot, &[a, b], || vec![a.clone(), b.clone()], &mut t);
    Ok(t)
}

pub(super) fn dot_backward(
    s: &[Tensor],
    dy: &Tensor,
    need: [bool; 2],
) -> Result<Vec<Option<Tensor>>> {
    let (a, b) = (saved(s, 0)?, saved(s, 1)?);
    let d = dims(&a.shape, &b.shape)?;
    let dy2 = reshape_to(dy, &[d.m, d.n])?;
    let ga = if need[0] {
        let b2 = reshape_to(b, &[d.k, d.n])?;
        let ga = dot(&dy2, &transpose(&b2, None)?)?;
        Some(reshape_to(&ga, &a.shape)?)
    } else {
        None
    };
    let gb = if need[1] {
        let a2 = reshape_to(a, &[d.m, d.k])?;
        let gb = dot(&transpose(&a2, None)?, &dy2)?;
        Some(reshape_to(&gb, &b.shape)?)
    } else {
        None
    };
    Ok(vec![ga, gb])
}

/// MXNet's `batch_dot`: `(B, M, K) · (B, K, N) → (B, M, N)`.
pub fn batch_dot(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let bad = || {
        Error::shape(format!(
            "batchDot: expected (B,M,K) and (B,K,N) arrays, got shapes {} and {}",
            a.shape_str(),
            b.shape_str()
        ))
    };
    let (&[bs, m, k], &[bs2, k2, n]) = (a.shape.as_slice(), b.shape.as_slice()) else {
        return Err(bad());
    };
    if bs != bs2 || k != k2 {
        return Err(bad());
    }
    super::same_dtype("batchDot", a, b)?;
    let shape = vec![bs, m, n];
    checked_size(&shape).map_err(|e| e.in_op("batchDot"))?;
    let out = gemm_data(bs, m, n, k, a, b).map_err(|e| e.in_op("batchDot"))?;
    let mut t = Tensor::from_vec(shape, out)?;
    record(
        || Op::BatchDot,
        &[a, b],
        || vec![a.clone(), b.clone()],
        &mut t,
    );
    Ok(t)
}

pub(super) fn batch_dot_backward(
    s: &[Tensor],
    dy: &Tensor,
    need: [bool; 2],
) -> Result<Vec<Option<Tensor>>> {
    let (a, b) = (saved(s, 0)?, saved(s, 1)?);
    let swap: [i64; 3] = [0, 2, 1];
    let ga = match need[0] {
        true => Some(batch_dot(dy, &transpose(b, Some(&swap))?)?),
        false => None,
    };
    let gb = match need[1] {
        true => Some(batch_dot(&transpose(a, Some(&swap))?, dy)?),
        false => None,
    };
    Ok(vec![ga, gb])
}
