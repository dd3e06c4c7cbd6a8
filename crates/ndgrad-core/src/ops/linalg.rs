//! `dot`: MXNet's dot for 1-D and 2-D (and N-D: the last axis of `a` against
//! the first of `b`).

use super::{reshape_to, saved, transpose, Op};
use crate::autograd::record;
use crate::error::{Error, Result};
use crate::kernels;
use crate::shape::checked_size;
use crate::storage::{alloc_empty, Tensor};

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
    let size = checked_size(&d.out).map_err(|e| e.in_op("dot"))?;
    let mut out = alloc_empty(size).map_err(|e| e.in_op("dot"))?;
    kernels::gemm(d.m, d.n, d.k, &a.data()?, &b.data()?, &mut out);
    let mut t = Tensor::from_vec(d.out, out)?;
    record(Op::Dot, &[a, b], || vec![a.clone(), b.clone()], &mut t);
    Ok(t)
}

pub(super) fn dot_backward(s: &[Tensor], dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let (a, b) = (saved(s, 0)?, saved(s, 1)?);
    let d = dims(&a.shape, &b.shape)?;
    let dy2 = reshape_to(dy, &[d.m, d.n])?;
    let a2 = reshape_to(a, &[d.m, d.k])?;
    let b2 = reshape_to(b, &[d.k, d.n])?;
    let ga = dot(&dy2, &transpose(&b2, None)?)?;
    let gb = dot(&transpose(&a2, None)?, &dy2)?;
    Ok(vec![
        Some(reshape_to(&ga, &a.shape)?),
        Some(reshape_to(&gb, &b.shape)?),
    ])
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
    let shape = vec![bs, m, n];
    let size = checked_size(&shape).map_err(|e| e.in_op("batchDot"))?;
    let mut out = alloc_empty(size).map_err(|e| e.in_op("batchDot"))?;
    if size > 0 {
        kernels::gemm::gemm_batched(bs, m, n, k, &a.data()?, &b.data()?, &mut out);
    }
    let mut t = Tensor::from_vec(shape, out)?;
    record(Op::BatchDot, &[a, b], || vec![a.clone(), b.clone()], &mut t);
    Ok(t)
}

pub(super) fn batch_dot_backward(s: &[Tensor], dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let (a, b) = (saved(s, 0)?, saved(s, 1)?);
    let swap: [i64; 3] = [0, 2, 1];
    let ga = batch_dot(dy, &transpose(b, Some(&swap))?)?;
    let gb = batch_dot(&transpose(a, Some(&swap))?, dy)?;
    Ok(vec![Some(ga), Some(gb)])
}
