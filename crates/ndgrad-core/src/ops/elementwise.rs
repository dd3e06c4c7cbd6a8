//! Elementwise ops with NumPy broadcasting, and their gradients.

use super::{add, div, mul, neg, rscalar, saved, scalar, sum_to, Op};
use crate::autograd::record;
use crate::error::Result;
use crate::kernels::{binary_broadcast, vector, BinOp, UnOp};
use crate::shape::{broadcast_shapes, checked_size};
use crate::storage::{alloc_empty, Tensor};

fn needs_inputs(op: BinOp) -> bool {
    !matches!(op, BinOp::Add | BinOp::Sub)
}

pub fn binary(op: BinOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let name = op.name();
    let oshape = broadcast_shapes(&a.shape, &b.shape).map_err(|e| e.in_op(name))?;
    let n = checked_size(&oshape).map_err(|e| e.in_op(name))?;
    let mut out = alloc_empty(n).map_err(|e| e.in_op(name))?;
    {
        let (ad, bd) = (a.data()?, b.data()?);
        if a.shape == b.shape {
            vector::binary_same(op, &ad, &bd, &mut out);
        } else {
            binary_broadcast(op, &ad, &a.shape, &bd, &b.shape, &oshape, &mut out);
        }
    }
    let mut t = Tensor::from_vec(oshape, out)?;
    if !op.is_comparison() {
        let rec = Op::Binary {
            op,
            a_shape: a.shape.clone(),
            b_shape: b.shape.clone(),
        };
        let save = || {
            if needs_inputs(op) {
                vec![a.clone(), b.clone()]
            } else {
                vec![]
            }
        };
        record(rec, &[a, b], save, &mut t);
    }
    Ok(t)
}

/// `a op s`, or `s op a` when `reverse` (MXNet's `_plus_scalar`, `_rminus_scalar`, ...).
pub fn binary_scalar(op: BinOp, a: &Tensor, s: f32, reverse: bool) -> Result<Tensor> {
    let mut out = alloc_empty(a.size()).map_err(|e| e.in_op(op.name()))?;
    vector::binary_scalar(op, &a.data()?, s, reverse, &mut out);
    let mut t = Tensor::from_vec(a.shape.clone(), out)?;
    if !op.is_comparison() {
        let save = || {
            if needs_inputs(op) {
                vec![a.clone()]
            } else {
                vec![]
            }
        };
        record(Op::Scalar { op, s, reverse }, &[a], save, &mut t);
    }
    Ok(t)
}

pub fn unary(op: UnOp, x: &Tensor) -> Result<Tensor> {
    let mut out = alloc_empty(x.size()).map_err(|e| e.in_op(op.name()))?;
    vector::unary(op, &x.data()?, &mut out);
    let mut t = Tensor::from_vec(x.shape.clone(), out)?;
    if op != UnOp::Sign {
        let save = || {
            if op == UnOp::Neg {
                vec![]
            } else {
                vec![x.clone()]
            }
        };
        record(Op::Unary(op), &[x], save, &mut t);
    }
    Ok(t)
}

pub(super) fn binary_backward(
    op: BinOp,
    a_shape: &[usize],
    b_shape: &[usize],
    s: &[Tensor],
    dy: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let (ga, gb) = match op {
        BinOp::Add => (dy.clone(), dy.clone()),
        BinOp::Sub => (dy.clone(), neg(dy)?),
        BinOp::Mul => {
            let (a, b) = (saved(s, 0)?, saved(s, 1)?);
            (mul(dy, b)?, mul(dy, a)?)
        }
        BinOp::Div => {
            // d(a/b) = dy/b, -dy·a/b²
            let (a, b) = (saved(s, 0)?, saved(s, 1)?);
            let ga = div(dy, b)?;
            let gb = neg(&div(&mul(&ga, a)?, b)?)?;
            (ga, gb)
        }
        BinOp::Pow => {
            // d(a^b) = dy·b·a^(b-1), dy·a^b·ln(a); ln is taken of 1 where a == 0
            // so that 0^b (b > 0) gets the gradient 0 w.r.t. b, not NaN.
            let (a, b) = (saved(s, 0)?, saved(s, 1)?);
            let ga = mul(
                dy,
                &mul(b, &binary(BinOp::Pow, a, &scalar(BinOp::Sub, b, 1.0)?)?)?,
            )?;
            let safe_a = add(a, &scalar(BinOp::Equal, a, 0.0)?)?;
            let gb = mul(
                dy,
                &mul(
                    &binary(BinOp::Pow, a, b)?,
                    &super::unary(UnOp::Log, &safe_a)?,
                )?,
            )?;
            (ga, gb)
        }
        // MXNet: the left operand takes ties of maximum/minimum.
        BinOp::Maximum | BinOp::Minimum => {
            let (a, b) = (saved(s, 0)?, saved(s, 1)?);
            let (ma, mb) = if op == BinOp::Maximum {
                (BinOp::GreaterEqual, BinOp::Lesser)
            } else {
                (BinOp::LesserEqual, BinOp::Greater)
            };
            (mul(dy, &binary(ma, a, b)?)?, mul(dy, &binary(mb, a, b)?)?)
        }
        _ => return Ok(vec![None, None]),
    };
    Ok(vec![
        Some(sum_to(&ga, a_shape)?),
        Some(sum_to(&gb, b_shape)?),
    ])
}

pub(super) fn scalar_backward(
    op: BinOp,
    sv: f32,
    reverse: bool,
    s: &[Tensor],
    dy: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let g = match (op, reverse) {
        (BinOp::Add, _) | (BinOp::Sub, false) => dy.clone(),
        (BinOp::Sub, true) => neg(dy)?,
        (BinOp::Mul, _) => scalar(BinOp::Mul, dy, sv)?,
        (BinOp::Div, false) => scalar(BinOp::Div, dy, sv)?,
        (BinOp::Div, true) => {
            // d(s/x) = -dy·s/x²
            let x = saved(s, 0)?;
            neg(&div(&scalar(BinOp::Mul, dy, sv)?, &mul(x, x)?)?)?
        }
        (BinOp::Pow, false) => {
            let x = saved(s, 0)?;
            mul(
                dy,
                &scalar(BinOp::Mul, &scalar(BinOp::Pow, x, sv - 1.0)?, sv)?,
            )?
        }
        (BinOp::Pow, true) => {
            // d(s^x) = dy·s^x·ln(s); a zero base contributes 0, not 0·(-inf),
            // as in the array form.
            let x = saved(s, 0)?;
            let ln_s = if sv == 0.0 { 0.0 } else { sv.ln() };
            mul(dy, &scalar(BinOp::Mul, &rscalar(BinOp::Pow, sv, x)?, ln_s)?)?
        }
        (BinOp::Maximum, _) => mul(dy, &scalar(BinOp::GreaterEqual, saved(s, 0)?, sv)?)?,
        (BinOp::Minimum, _) => mul(dy, &scalar(BinOp::LesserEqual, saved(s, 0)?, sv)?)?,
        _ => return Ok(vec![None]),
    };
    Ok(vec![Some(g)])
}

pub(super) fn unary_backward(op: UnOp, s: &[Tensor], dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let g = match op {
        UnOp::Neg => neg(dy)?,
        UnOp::Exp => mul(dy, &unary(UnOp::Exp, saved(s, 0)?)?)?,
        UnOp::Log => div(dy, saved(s, 0)?)?,
        UnOp::Sqrt => div(
            dy,
            &scalar(BinOp::Mul, &unary(UnOp::Sqrt, saved(s, 0)?)?, 2.0)?,
        )?,
        UnOp::Square => mul(dy, &scalar(BinOp::Mul, saved(s, 0)?, 2.0)?)?,
        UnOp::Abs => mul(dy, &unary(UnOp::Sign, saved(s, 0)?)?)?,
        UnOp::Sigmoid => {
            let y = unary(UnOp::Sigmoid, saved(s, 0)?)?;
            mul(dy, &mul(&y, &rscalar(BinOp::Sub, 1.0, &y)?)?)?
        }
        UnOp::Tanh => {
            let y = unary(UnOp::Tanh, saved(s, 0)?)?;
            mul(dy, &rscalar(BinOp::Sub, 1.0, &mul(&y, &y)?)?)?
        }
        UnOp::Relu => mul(dy, &scalar(BinOp::Greater, saved(s, 0)?, 0.0)?)?,
        UnOp::Sign => return Ok(vec![None]),
    };
    Ok(vec![Some(g)])
}
