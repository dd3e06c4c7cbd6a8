//! Neural-network ops built from recorded primitives, so their gradients
//! (of every order) come from the primitives' rules.

// ---- Convolution, Deconvolution (issue #12, conv branch) ----
pub mod conv;
// ---- end conv ----

use super::{binary, binary_scalar, float_only, reduce, unary};
use crate::error::{Error, Result};
use crate::kernels::{BinOp, RedOp, UnOp};
use crate::storage::Tensor;

/// MXNet's `clip(x, a_min, a_max)`: the gradient passes where
/// `a_min <= x <= a_max` (the scalar maximum/minimum rules give exactly
/// that, boundaries included).
pub fn clip(x: &Tensor, lo: f64, hi: f64) -> Result<Tensor> {
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return Err(Error::invalid(format!(
            "clip: a_min must be <= a_max (got {lo} and {hi})"
        )));
    }
    let y = binary_scalar(BinOp::Maximum, x, lo, false)?;
    binary_scalar(BinOp::Minimum, &y, hi, false)
}

/// MXNet's `LeakyReLU(act_type='leaky')`: `x > 0 ? x : slope·x`; the
/// gradient at 0 is `slope`, as MXNet's.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    float_only("leakyRelu", x)?;
    let pos = binary_scalar(BinOp::Greater, &x.detached(), 0.0, false)?;
    let neg = binary_scalar(BinOp::Mul, x, slope, false)?;
    super::index::where_(&pos, x, &neg)
}

/// `(x - max) ` along the axis, with the max held constant (softmax and
/// log-softmax do not depend on it, so its gradient would be zero anyway).
fn shifted(x: &Tensor, axis: i64, name: &str) -> Result<(Tensor, i64)> {
    float_only(name, x)?;
    let ax = super::axis_of(x, axis, name)? as i64;
    let m = reduce(RedOp::Max, &x.detached(), Some(&[ax]), true)?;
    Ok((binary(BinOp::Sub, x, &m)?, ax))
}

/// MXNet's `softmax(x, axis=-1)`, numerically stable.
pub fn softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    let (z, ax) = shifted(x, axis, "softmax")?;
    let e = unary(UnOp::Exp, &z)?;
    let s = reduce(RedOp::Sum, &e, Some(&[ax]), true)?;
    binary(BinOp::Div, &e, &s)
}

/// MXNet's `log_softmax(x, axis=-1)`, numerically stable.
pub fn log_softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    let (z, ax) = shifted(x, axis, "logSoftmax")?;
    let s = reduce(RedOp::Sum, &unary(UnOp::Exp, &z)?, Some(&[ax]), true)?;
    binary(BinOp::Sub, &z, &unary(UnOp::Log, &s)?)
}
