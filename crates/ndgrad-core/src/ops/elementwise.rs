//! Elementwise ops with NumPy broadcasting, and their gradients.

use super::{add, div, mul, neg, rscalar, same_dtype, saved, scalar, sum_to, Op};
use crate::autograd::record;
use crate::dtype::{wrap, DType, Data, Elem};
use crate::error::{Error, Result};
use crate::kernels::{binary_broadcast, vector, BinOp, UnOp};
use crate::shape::{broadcast_shapes, checked_size};
use crate::storage::{alloc_empty, Tensor};

fn needs_inputs(op: BinOp) -> bool {
    !matches!(op, BinOp::Add | BinOp::Sub) && !op.is_comparison()
}

fn binary_kernel<T: Elem>(
    op: BinOp,
    a: &[T],
    ashape: &[usize],
    b: &[T],
    bshape: &[usize],
    oshape: &[usize],
    n: usize,
) -> Result<Data> {
    let mut out = alloc_empty::<T>(n)?;
    if ashape == bshape {
        T::bin_same(op, a, b, &mut out);
    } else {
        binary_broadcast(op, a, ashape, b, bshape, oshape, &mut out);
    }
    Ok(wrap(out))
}

fn int_div_by_zero(name: &str, dtype: DType) -> Error {
    Error::invalid(format!(
        "{name}: integer division by zero ({} arrays)",
        dtype.name()
    ))
}

pub fn binary(op: BinOp, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let name = op.name();
    same_dtype(name, a, b)?;
    let oshape = broadcast_shapes(&a.shape, &b.shape).map_err(|e| e.in_op(name))?;
    let n = checked_size(&oshape).map_err(|e| e.in_op(name))?;
    let data = {
        let (ad, bd) = (a.data()?, b.data()?);
        let (sa, sb, so) = (&a.shape, &b.shape, &oshape);
        match (&*ad, &*bd) {
            (Data::F32(x), Data::F32(y)) => binary_kernel(op, x, sa, y, sb, so, n),
            (Data::F64(x), Data::F64(y)) => binary_kernel(op, x, sa, y, sb, so, n),
            (Data::I32(x), Data::I32(y)) => {
                if op == BinOp::Div && n > 0 && y.contains(&0) {
                    return Err(int_div_by_zero(name, DType::I32));
                }
                binary_kernel(op, x, sa, y, sb, so, n)
            }
            (Data::U8(x), Data::U8(y)) => {
                if op == BinOp::Div && n > 0 && y.contains(&0) {
                    return Err(int_div_by_zero(name, DType::U8));
                }
                binary_kernel(op, x, sa, y, sb, so, n)
            }
            _ => Err(Error::internal("dtype mismatch after the check")),
        }
        .map_err(|e| e.in_op(name))?
    };
    let mut t = Tensor::from_vec(oshape, data)?;
    // Comparisons are recorded too: MXNet registers them with
    // `FGradient = MakeZeroGradNodes` (elemwise_binary_broadcast_op_logic.cc),
    // so backward through one gives zeros rather than "not in a graph".
    let rec = || Op::Binary {
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
    Ok(t)
}

fn scalar_kernel<T: Elem>(op: BinOp, a: &[T], s: f64, reverse: bool) -> Result<Data> {
    let mut out = alloc_empty::<T>(a.len())?;
    T::bin_scalar(op, a, T::from_f64(s), reverse, &mut out);
    Ok(wrap(out))
}

/// Integer division by a zero element, or by a number that is zero in the
/// array's dtype, is an Error (NumPy warns and gives 0; MXNet's kernels would
/// trap the wasm instance).
fn int_scalar_div_check<T: Elem>(
    name: &str,
    op: BinOp,
    x: &[T],
    s: f64,
    reverse: bool,
) -> Result<()> {
    let zero_div = op == BinOp::Div
        && if reverse {
            x.contains(&T::ZERO)
        } else {
            T::from_f64(s) == T::ZERO && !x.is_empty()
        };
    if zero_div {
        return Err(int_div_by_zero(name, T::DTYPE));
    }
    Ok(())
}

/// `a op s`, or `s op a` when `reverse` (MXNet's `_plus_scalar`, `_rminus_scalar`, ...).
/// The number is cast to the array's dtype first (MXNet's `DType(scalar)`).
pub fn binary_scalar(op: BinOp, a: &Tensor, s: f64, reverse: bool) -> Result<Tensor> {
    let name = op.name();
    let data = match &*a.data()? {
        Data::F32(x) => scalar_kernel(op, x, s, reverse),
        Data::F64(x) => scalar_kernel(op, x, s, reverse),
        Data::I32(x) => {
            int_scalar_div_check(name, op, x, s, reverse)?;
            scalar_kernel(op, x, s, reverse)
        }
        Data::U8(x) => {
            int_scalar_div_check(name, op, x, s, reverse)?;
            scalar_kernel(op, x, s, reverse)
        }
    }
    .map_err(|e| e.in_op(name))?;
    let mut t = Tensor::from_vec(a.shape.clone(), data)?;
    // Comparisons included: MakeZeroGradNodes in MXNet's
    // elemwise_binary_scalar_op_logic.cc.
    let save = || {
        if needs_inputs(op) {
            vec![a.clone()]
        } else {
            vec![]
        }
    };
    record(|| Op::Scalar { op, s, reverse }, &[a], save, &mut t);
    Ok(t)
}

fn int_unary_ok(op: UnOp, x: &Tensor) -> Result<()> {
    if op.int_ok() {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "{}: not supported for {} arrays (shape {}); cast with astype(\"float32\") first",
        op.name(),
        x.dtype().name(),
        x.shape_str()
    )))
}

pub fn unary(op: UnOp, x: &Tensor) -> Result<Tensor> {
    let name = op.name();
    let n = x.size();
    let data = match &*x.data()? {
        Data::F32(v) => {
            let mut out = alloc_empty::<f32>(n).map_err(|e| e.in_op(name))?;
            vector::unary(op, v, &mut out);
            Data::F32(out)
        }
        Data::F64(v) => {
            let mut out = alloc_empty::<f64>(n).map_err(|e| e.in_op(name))?;
            out.extend(v.iter().map(|&e| op.apply(e)));
            Data::F64(out)
        }
        Data::I32(v) => {
            int_unary_ok(op, x)?;
            let mut out = alloc_empty::<i32>(n).map_err(|e| e.in_op(name))?;
            out.extend(v.iter().map(|&e| op.apply_int(e)));
            Data::I32(out)
        }
        Data::U8(v) => {
            int_unary_ok(op, x)?;
            let mut out = alloc_empty::<u8>(n).map_err(|e| e.in_op(name))?;
            out.extend(v.iter().map(|&e| op.apply_u8(e)));
            Data::U8(out)
        }
    };
    let mut t = Tensor::from_vec(x.shape.clone(), data)?;
    let save = || {
        if matches!(op, UnOp::Neg) || op.is_step() {
            vec![]
        } else {
            vec![x.clone()]
        }
    };
    record(|| Op::Unary(op), &[x], save, &mut t);
    Ok(t)
}

/// `(1 - x)(1 + x)`: `1 - x²` without the cancellation near ±1.
fn one_minus_sq(x: &Tensor) -> Result<Tensor> {
    mul(&rscalar(BinOp::Sub, 1.0, x)?, &scalar(BinOp::Add, x, 1.0)?)
}

/// The float dtype of a gradient (integer arrays never reach backward).
fn is_int(t: &Tensor) -> bool {
    !t.dtype().is_float()
}

pub(super) fn binary_backward(
    op: BinOp,
    a_shape: &[usize],
    b_shape: &[usize],
    s: &[Tensor],
    dy: &Tensor,
    need: [bool; 2],
) -> Result<Vec<Option<Tensor>>> {
    // MXNet's MakeZeroGradNodes: `zeros_like` of each input, not `dy * 0`
    // (an infinite or NaN head gradient still gives zeros).
    if op.is_comparison() {
        let zeros = |n: bool, shape: &[usize]| -> Result<Option<Tensor>> {
            Ok(match n {
                true => Some(Tensor::zeros(shape, dy.dtype())?),
                false => None,
            })
        };
        return Ok(vec![zeros(need[0], a_shape)?, zeros(need[1], b_shape)?]);
    }
    // Only the multiplying ops save work by skipping an unneeded side.
    if matches!(op, BinOp::Mul) {
        let (a, b) = (saved(s, 0)?, saved(s, 1)?);
        let ga = match need[0] {
            true => Some(sum_to(&mul(dy, b)?, a_shape)?),
            false => None,
        };
        let gb = match need[1] {
            true => Some(sum_to(&mul(dy, a)?, b_shape)?),
            false => None,
        };
        return Ok(vec![ga, gb]);
    }
    let (ga, gb) = match op {
        BinOp::Add => (dy.clone(), dy.clone()),
        BinOp::Sub => (dy.clone(), neg(dy)?),
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
    sv: f64,
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
        // MakeZeroGradNodes, as in the array form.
        _ if op.is_comparison() => Tensor::zeros(&dy.shape, dy.dtype())?,
        _ => return Ok(vec![None]),
    };
    Ok(vec![Some(g)])
}

pub(super) fn unary_backward(op: UnOp, s: &[Tensor], dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
    use UnOp as U;
    if is_int(dy) {
        return Ok(vec![None]);
    }
    let u = |o: UnOp, t: &Tensor| unary(o, t);
    let sq = |t: &Tensor| unary(U::Square, t);
    let g = match op {
        U::Neg => neg(dy)?,
        // Piecewise constant: a zero gradient (MXNet gives zeros).
        U::Sign | U::Floor | U::Ceil | U::Round | U::Rint | U::Trunc => {
            scalar(BinOp::Mul, dy, 0.0)?
        }
        _ => {
            let x = saved(s, 0)?;
            match op {
                U::Exp => mul(dy, &u(U::Exp, x)?)?,
                U::Log => div(dy, x)?,
                U::Sqrt => div(dy, &scalar(BinOp::Mul, &u(U::Sqrt, x)?, 2.0)?)?,
                U::Square => mul(dy, &scalar(BinOp::Mul, x, 2.0)?)?,
                U::Abs => mul(dy, &u(U::Sign, x)?)?,
                U::Sigmoid => {
                    let y = u(U::Sigmoid, x)?;
                    mul(dy, &mul(&y, &rscalar(BinOp::Sub, 1.0, &y)?)?)?
                }
                U::Tanh => {
                    let y = u(U::Tanh, x)?;
                    mul(dy, &rscalar(BinOp::Sub, 1.0, &mul(&y, &y)?)?)?
                }
                U::Relu => mul(dy, &scalar(BinOp::Greater, x, 0.0)?)?,
                U::Sin => mul(dy, &u(U::Cos, x)?)?,
                U::Cos => neg(&mul(dy, &u(U::Sin, x)?)?)?,
                // 1 + tan²(x)
                U::Tan => mul(dy, &scalar(BinOp::Add, &sq(&u(U::Tan, x)?)?, 1.0)?)?,
                // ±1 / √(1 - x²)
                // (1 - x)(1 + x), not 1 - x²: exact where x is near ±1.
                U::Arcsin | U::Arccos => {
                    let g = div(dy, &u(U::Sqrt, &one_minus_sq(x)?)?)?;
                    if op == U::Arccos {
                        neg(&g)?
                    } else {
                        g
                    }
                }
                U::Arctan => div(dy, &scalar(BinOp::Add, &sq(x)?, 1.0)?)?,
                U::Sinh => mul(dy, &u(U::Cosh, x)?)?,
                U::Cosh => mul(dy, &u(U::Sinh, x)?)?,
                U::Arcsinh => div(dy, &u(U::Sqrt, &scalar(BinOp::Add, &sq(x)?, 1.0)?)?)?,
                // (x - 1)(x + 1), exact near 1
                U::Arccosh => div(
                    dy,
                    &u(
                        U::Sqrt,
                        &mul(&scalar(BinOp::Sub, x, 1.0)?, &scalar(BinOp::Add, x, 1.0)?)?,
                    )?,
                )?,
                U::Arctanh => div(dy, &one_minus_sq(x)?)?,
                U::Log1p => div(dy, &scalar(BinOp::Add, x, 1.0)?)?,
                U::Expm1 => mul(dy, &u(U::Exp, x)?)?,
                U::Log2 => div(dy, &scalar(BinOp::Mul, x, core::f64::consts::LN_2)?)?,
                U::Log10 => div(dy, &scalar(BinOp::Mul, x, core::f64::consts::LN_10)?)?,
                U::Reciprocal => neg(&div(dy, &sq(x)?)?)?,
                // -½ x^(-3/2) = -½ rsqrt(x) / x
                U::Rsqrt => mul(dy, &scalar(BinOp::Mul, &div(&u(U::Rsqrt, x)?, x)?, -0.5)?)?,
                // 1 / (3 cbrt(x)²)
                U::Cbrt => div(dy, &scalar(BinOp::Mul, &sq(&u(U::Cbrt, x)?)?, 3.0)?)?,
                // 2/√π e^(-x²)
                U::Erf => mul(
                    dy,
                    &scalar(
                        BinOp::Mul,
                        &u(U::Exp, &neg(&sq(x)?)?)?,
                        core::f64::consts::FRAC_2_SQRT_PI,
                    )?,
                )?,
                U::Softrelu => mul(dy, &u(U::Sigmoid, x)?)?,
                _ => {
                    return Err(Error::internal(format!(
                        "no gradient rule for {}",
                        op.name()
                    )))
                }
            }
        }
    };
    Ok(vec![Some(g)])
}

/// `astype`: a converted copy. Float to int32 truncates toward zero and
/// saturates (NaN gives 0); between float dtypes it is differentiable
/// (the gradient is cast back).
pub fn astype(x: &Tensor, to: DType) -> Result<Tensor> {
    fn conv<S: Elem>(src: &[S], to: DType) -> Result<Data> {
        fn go<S: Elem, T: Elem>(src: &[S]) -> Result<Data> {
            let mut o = alloc_empty::<T>(src.len())?;
            crate::dtype::convert(src, &mut o);
            Ok(wrap(o))
        }
        crate::with_elem!(to, T => go::<S, T>(src))
    }
    let from = x.dtype();
    let data = crate::each_dtype!(&*x.data()?, v => conv(v.as_slice(), to))
        .map_err(|e| e.in_op("astype"))?;
    let mut t = Tensor::from_vec(x.shape.clone(), data)?;
    if from.is_float() && to.is_float() {
        record(|| Op::Cast { from }, &[x], Vec::new, &mut t);
    }
    Ok(t)
}
