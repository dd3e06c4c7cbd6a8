//! Neural-network operators of issue #12 (the `nnmisc` group):
//! `FullyConnected`, `Embedding`, `Activation`, `LeakyReLU`'s act types,
//! `Flatten` and `softmax_cross_entropy`, with MXNet 1.9.1's names, shapes
//! and semantics (`src/operator/nn/fully_connected.cc`,
//! `src/operator/tensor/indexing_op.h` (Embedding),
//! `src/operator/nn/activation-inl.h`, `src/operator/leaky_relu-inl.h`,
//! `src/operator/mshadow_op.h`, `src/operator/loss_binary_op-inl.h`).
//!
//! Every one is built from recorded primitives (dot, broadcast add,
//! reshape, the unary kernels, where, take/pick), so their gradients of
//! every order are the primitives' rules, and the engine needs no backward
//! of its own for them.

use super::Op;
use super::{
    binary, binary_scalar, float_only, reduce, reshape_to, same_dtype, unary, BinOp, RedOp, UnOp,
};
use crate::autograd::record;
use crate::dtype::{Data, Elem};
use crate::error::{Error, Result};
use crate::shape::{fmt_shape, size};
use crate::storage::{alloc_empty, Tensor};

/// `FullyConnected`'s geometry: the data seen as `rows × inputs`, and the
/// output shape. The one statement of its shape rules (MXNet's
/// `FullyConnectedShape`): the op and the worker client's shape export
/// (`nd_nnmisc_shape`) both call it.
pub struct FcGeometry {
    pub rows: usize,
    pub inputs: usize,
    pub out_shape: Vec<usize>,
}

/// See `FcGeometry`: `bias` is the bias's shape, if one is given.
pub fn fully_connected_geometry(
    x: &[usize],
    w: &[usize],
    bias: Option<&[usize]>,
    num_hidden: i64,
    no_bias: bool,
    flatten: bool,
) -> Result<FcGeometry> {
    const OP: &str = "FullyConnected";
    if num_hidden < 1 {
        return Err(Error::invalid(format!(
            "{OP}: numHidden must be >= 1 (got {num_hidden}) for data of shape {}",
            fmt_shape(x)
        )));
    }
    let nh = num_hidden as usize;
    let Some((&last, lead)) = x.split_last() else {
        return Err(Error::shape(format!(
            "{OP}: data must have at least 1 dimension (got shape {})",
            fmt_shape(x)
        )));
    };
    // flatten keeps axis 0 and multiplies the rest (a 1-D (n,) is (n, 1));
    // otherwise the last axis is the input.
    let (rows, inputs, out_shape) = if flatten {
        (x[0], size(&x[1..]), vec![x[0], nh])
    } else {
        let mut o = lead.to_vec();
        o.push(nh);
        (size(lead), last, o)
    };
    if w != [nh, inputs] {
        return Err(Error::shape(format!(
            "{OP}: weight of shape {} does not match (numHidden, inputs) = {} for data of shape {} (flatten = {flatten})",
            fmt_shape(w),
            fmt_shape(&[nh, inputs]),
            fmt_shape(x)
        )));
    }
    match (bias, no_bias) {
        (Some(b), false) => {
            if b != [nh] && b != [nh, 1] {
                return Err(Error::shape(format!(
                    "{OP}: bias of shape {} does not match numHidden = {nh} (want [{nh}]) for data of shape {}",
                    fmt_shape(b),
                    fmt_shape(x)
                )));
            }
        }
        (None, false) => {
            return Err(Error::invalid(format!(
                "{OP}: no bias given but noBias is false (data of shape {})",
                fmt_shape(x)
            )))
        }
        (Some(b), true) => {
            return Err(Error::invalid(format!(
                "{OP}: noBias is true but a bias of shape {} was given (data of shape {})",
                fmt_shape(b),
                fmt_shape(x)
            )))
        }
        (None, true) => {}
    }
    crate::shape::checked_size(&out_shape).map_err(|e| e.in_op(OP))?;
    Ok(FcGeometry {
        rows,
        inputs,
        out_shape,
    })
}

/// MXNet's `FullyConnected(data, weight, bias, num_hidden, no_bias,
/// flatten)`: `data · weightᵀ + bias`. With `flatten` the data is
/// `(batch, everything else)`; without, the product is over the last axis
/// and the leading axes stay. `weight` is `(num_hidden, inputs)`; `bias`
/// `(num_hidden,)` (or `(num_hidden, 1)`, which MXNet also accepts).
pub fn fully_connected(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    num_hidden: i64,
    no_bias: bool,
    flatten: bool,
) -> Result<Tensor> {
    const OP: &str = "FullyConnected";
    float_only(OP, x)?;
    same_dtype(OP, x, w)?;
    if let Some(b) = b {
        same_dtype(OP, x, b)?;
    }
    let g = fully_connected_geometry(
        &x.shape,
        &w.shape,
        b.map(|b| b.shape.as_slice()),
        num_hidden,
        no_bias,
        flatten,
    )?;
    let x2 = if x.shape == [g.rows, g.inputs] {
        x.clone()
    } else {
        reshape_to(x, &[g.rows, g.inputs])?
    };
    let mut y = dot_wt(&x2, w)?;
    if let (Some(b), false) = (b, no_bias) {
        let b1 = if b.shape.len() == 1 {
            b.clone()
        } else {
            reshape_to(b, &[b.size()])?
        };
        y = binary(BinOp::Add, &y, &b1)?;
    }
    if y.shape != g.out_shape {
        y = reshape_to(&y, &g.out_shape)?;
    }
    Ok(y)
}

/// `Embedding`'s output shape, `data.shape + [output_dim]`, after checking
/// the weight is `(input_dim, output_dim)` (shared with the worker client's
/// shape export).
pub fn embedding_shape(
    data: &[usize],
    w: &[usize],
    input_dim: i64,
    output_dim: i64,
) -> Result<Vec<usize>> {
    const OP: &str = "Embedding";
    if input_dim < 1 || output_dim < 1 {
        return Err(Error::invalid(format!(
            "{OP}: inputDim and outputDim must be >= 1 (got {input_dim} and {output_dim}) for weight of shape {}",
            fmt_shape(w)
        )));
    }
    if w != [input_dim as usize, output_dim as usize] {
        return Err(Error::shape(format!(
            "{OP}: weight of shape {} does not match (inputDim, outputDim) = [{input_dim},{output_dim}] (data of shape {})",
            fmt_shape(w),
            fmt_shape(data)
        )));
    }
    let mut out = data.to_vec();
    out.push(output_dim as usize);
    crate::shape::checked_size(&out).map_err(|e| e.in_op(OP))?;
    Ok(out)
}

/// MXNet's `Embedding(data, weight, input_dim, output_dim)`: row
/// `data[i]` of `weight` for every index (any dtype; truncated toward zero,
/// then clipped into `[0, input_dim - 1]` as MXNet's take in clip mode).
/// The gradient goes to `weight` only (a scatter-add of `dy` into its rows).
pub fn embedding(data: &Tensor, w: &Tensor, input_dim: i64, output_dim: i64) -> Result<Tensor> {
    float_only("Embedding", w)?;
    embedding_shape(&data.shape, &w.shape, input_dim, output_dim)?;
    super::index::take(w, &data.detached(), 0, false)
}

/// `Flatten`'s output shape (shared with the worker client's shape export).
pub fn flatten_shape(x: &[usize]) -> Result<Vec<usize>> {
    let Some(&d0) = x.first() else {
        return Err(Error::shape(format!(
            "Flatten: data must have at least 1 dimension (got shape {})",
            fmt_shape(x)
        )));
    };
    Ok(vec![d0, size(&x[1..])])
}

/// `x (m×k) · wᵀ` for `w (n×k)`, recorded, with no transposed copy of `w`.
fn dot_wt(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    dot_t(x, w, false, true)
}

/// `op(a) · op(b)` for 2-D `a`, `b`, where `op` transposes the operands
/// flagged `ta` / `tb`, computed from the operands as stored (float32: the
/// packed GEMM reads the transposes while packing, `kernels::gemm::gemm_t`).
/// Recorded as `Op::DotT`; its gradients are again `dot_t`s, so every order
/// of derivative stays free of transposed copies:
/// `a·bᵀ` → `da = dy·b`, `db = dyᵀ·a`; `aᵀ·b` → `da = b·dyᵀ`, `db = a·dy`.
pub(crate) fn dot_t(a: &Tensor, b: &Tensor, ta: bool, tb: bool) -> Result<Tensor> {
    same_dtype("dot", a, b)?;
    let (&[ar, ac], &[br, bc]) = (a.shape.as_slice(), b.shape.as_slice()) else {
        return Err(Error::internal(format!(
            "dot: 2-D operands expected (got {} and {})",
            a.shape_str(),
            b.shape_str()
        )));
    };
    let (m, k) = if ta { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if tb { (bc, br) } else { (br, bc) };
    if k != kb {
        return Err(Error::shape(format!(
            "dot: shapes {} and {} not aligned (transpose_a = {ta}, transpose_b = {tb})",
            a.shape_str(),
            b.shape_str()
        )));
    }
    let out_shape = vec![m, n];
    crate::shape::checked_size(&out_shape)?;
    let data = {
        let (ad, bd) = (a.data()?, b.data()?);
        match (&*ad, &*bd) {
            (Data::F32(x), Data::F32(y)) => {
                let mut out = alloc_empty::<f32>(m * n)?;
                crate::kernels::gemm::gemm_t(
                    m,
                    n,
                    k,
                    x,
                    y,
                    crate::kernels::gemm::Trans { a: ta, b: tb },
                    &mut out,
                );
                Data::F32(out)
            }
            (Data::F64(x), Data::F64(y)) => Data::F64(gemm_t_copy(m, n, k, x, y, ta, tb)?),
            _ => {
                return Err(Error::invalid(format!(
                    "dot: float32 or float64 operands expected (got {})",
                    a.dtype().name()
                )))
            }
        }
    };
    let mut t = Tensor::from_vec(out_shape, data)?;
    record(
        || Op::DotT { ta, tb },
        &[a, b],
        || vec![a.clone(), b.clone()],
        &mut t,
    );
    Ok(t)
}

/// float64 (generic, unpacked `gemm`): the transposed operands copied
/// first, into fallible allocations.
fn gemm_t_copy<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
    ta: bool,
    tb: bool,
) -> Result<Vec<T>> {
    let flip = |x: &[T], r: usize, c: usize| -> Result<Vec<T>> {
        let mut o = alloc_empty::<T>(r * c)?;
        T::transpose2d(x, r, c, &mut o);
        Ok(o)
    };
    let at = if ta { Some(flip(a, k, m)?) } else { None };
    let bt = if tb { Some(flip(b, n, k)?) } else { None };
    let mut out = alloc_empty::<T>(m * n)?;
    T::gemm(
        m,
        n,
        k,
        at.as_deref().unwrap_or(a),
        bt.as_deref().unwrap_or(b),
        &mut out,
    );
    Ok(out)
}

pub(super) fn dot_t_backward(
    ta: bool,
    tb: bool,
    s: &[Tensor],
    dy: &Tensor,
    need: [bool; 2],
) -> Result<Vec<Option<Tensor>>> {
    let (a, b) = (super::saved(s, 0)?, super::saved(s, 1)?);
    let (ga, gb) = match (ta, tb) {
        (false, false) => (
            need[0].then(|| dot_t(dy, b, false, true)).transpose()?,
            need[1].then(|| dot_t(a, dy, true, false)).transpose()?,
        ),
        (false, true) => (
            need[0].then(|| dot_t(dy, b, false, false)).transpose()?,
            need[1].then(|| dot_t(dy, a, true, false)).transpose()?,
        ),
        (true, false) => (
            need[0].then(|| dot_t(b, dy, false, true)).transpose()?,
            need[1].then(|| dot_t(a, dy, false, false)).transpose()?,
        ),
        (true, true) => (
            need[0].then(|| dot_t(b, dy, true, true)).transpose()?,
            need[1].then(|| dot_t(dy, a, true, true)).transpose()?,
        ),
    };
    Ok(vec![ga, gb])
}

/// `Activation`'s act types, in the FFI's code order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Relu,
    Sigmoid,
    Tanh,
    Softrelu,
    Softsign,
}

impl Act {
    pub const ALL: [Act; 5] = [
        Act::Relu,
        Act::Sigmoid,
        Act::Tanh,
        Act::Softrelu,
        Act::Softsign,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Act::Relu => "relu",
            Act::Sigmoid => "sigmoid",
            Act::Tanh => "tanh",
            Act::Softrelu => "softrelu",
            Act::Softsign => "softsign",
        }
    }
    pub fn from_code(c: u32) -> Option<Act> {
        Act::ALL.get(c as usize).copied()
    }
}

/// MXNet's `Activation(data, act_type)`. relu, sigmoid, tanh and softrelu
/// are the engine's unary kernels (softrelu with MXNet's cut: `x` above
/// 20, `log1p(exp(x))` below); softsign is `x / (1 + |x|)`, whose
/// gradient `1 / (1 + |x|)²` the quotient rule gives.
pub fn activation(x: &Tensor, act: Act) -> Result<Tensor> {
    float_only("Activation", x)?;
    match act {
        Act::Relu => unary(UnOp::Relu, x),
        Act::Sigmoid => unary(UnOp::Sigmoid, x),
        Act::Tanh => unary(UnOp::Tanh, x),
        Act::Softrelu => {
            // MXNet's softrelu is exactly x above 20 (mshadow_op.h); the
            // engine's softrelu adds log1p(exp(-x)) there, which float64
            // still sees (7.6e-10 at 21).
            let above = binary_scalar(BinOp::Greater, &x.detached(), 20.0, false)?;
            super::index::where_(&above, x, &unary(UnOp::Softrelu, x)?)
        }
        Act::Softsign => {
            let d = binary_scalar(BinOp::Add, &unary(UnOp::Abs, x)?, 1.0, false)?;
            binary(BinOp::Div, x, &d)
        }
    }
}

/// `LeakyReLU`'s act types, in the FFI's code order (MXNet's `rrelu` is
/// not offered: it draws random slopes while training).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeakyAct {
    Leaky,
    Elu,
    Selu,
    Gelu,
    Prelu,
}

impl LeakyAct {
    pub const ALL: [LeakyAct; 5] = [
        LeakyAct::Leaky,
        LeakyAct::Elu,
        LeakyAct::Selu,
        LeakyAct::Gelu,
        LeakyAct::Prelu,
    ];
    pub fn name(self) -> &'static str {
        match self {
            LeakyAct::Leaky => "leaky",
            LeakyAct::Elu => "elu",
            LeakyAct::Selu => "selu",
            LeakyAct::Gelu => "gelu",
            LeakyAct::Prelu => "prelu",
        }
    }
    pub fn from_code(c: u32) -> Option<LeakyAct> {
        LeakyAct::ALL.get(c as usize).copied()
    }
}

/// MXNet's SELU constants are `const float` (mshadow_op.h): the function
/// MXNet computes, in float64 too, uses these float32 values.
pub const SELU_ALPHA: f64 = 1.673_263_192_176_818_8; // 1.6732632423543772848f
pub const SELU_LAMBDA: f64 = 1.050_701_022_148_132_3; // 1.0507009873554804934f

/// `x > 0 ? x : neg` with the condition held constant.
fn where_pos(x: &Tensor, neg: &Tensor) -> Result<Tensor> {
    let pos = binary_scalar(BinOp::Greater, &x.detached(), 0.0, false)?;
    super::index::where_(&pos, x, neg)
}

/// PReLU's gamma laid out against the data as MXNet's `expand_shape`
/// (leaky_relu-inl.h) does: gamma's axes, from the last, match data axes
/// 1 and 0 (equal or 1); every other data axis gets 1. A `(C,)` gamma on
/// NCHW data is `(1, C, 1, 1)`: one slope per channel.
fn prelu_gamma_shape(gamma: &[usize], data: &[usize]) -> Option<Vec<usize>> {
    let mut out = vec![1usize; data.len()];
    let mut s = gamma.len() as isize - 1;
    for i in (0..data.len()).rev() {
        if s >= 0 && i <= 1 && (data[i] == gamma[s as usize] || gamma[s as usize] == 1) {
            out[i] = gamma[s as usize];
            s -= 1;
        }
    }
    (s == -1).then_some(out)
}

/// MXNet's `LeakyReLU(data, gamma, act_type, slope)`:
/// * leaky: `x > 0 ? x : slope·x` (gradient `slope` at 0, as MXNet's);
/// * elu: `x > 0 ? x : slope·expm1(x)`;
/// * selu: `λ·(x > 0 ? x : α·expm1(x))` with MXNet's float32 α, λ. The
///   gradient is the true derivative `λα·eˣ` below 0 (MXNet 1.9.1's
///   `selu_grad` evaluates `λ(α + y)` at the output y, which differs by
///   `(λ - 1)·y`; finite differences side with the formula used here);
/// * gelu: the erf form `0.5·x·(1 + erf(x/√2))`;
/// * prelu: `x > 0 ? x : γ·x`, γ broadcast as `prelu_gamma_shape`; γ gets
///   the gradient `Σ dy·x` over `x <= 0`.
pub fn leaky_relu_act(
    x: &Tensor,
    act: LeakyAct,
    slope: f64,
    gamma: Option<&Tensor>,
) -> Result<Tensor> {
    const OP: &str = "LeakyReLU";
    float_only(OP, x)?;
    if act != LeakyAct::Prelu {
        if let Some(g) = gamma {
            return Err(Error::invalid(format!(
                "{OP}: gamma (shape {}) is only used by actType \"prelu\", not \"{}\" (data of shape {})",
                g.shape_str(),
                act.name(),
                x.shape_str()
            )));
        }
    }
    match act {
        LeakyAct::Leaky => super::nn::leaky_relu(x, slope),
        LeakyAct::Elu => {
            let neg = binary_scalar(BinOp::Mul, &unary(UnOp::Expm1, x)?, slope, false)?;
            where_pos(x, &neg)
        }
        LeakyAct::Selu => {
            let neg = binary_scalar(BinOp::Mul, &unary(UnOp::Expm1, x)?, SELU_ALPHA, false)?;
            binary_scalar(BinOp::Mul, &where_pos(x, &neg)?, SELU_LAMBDA, false)
        }
        LeakyAct::Gelu => {
            let t = binary_scalar(BinOp::Mul, x, std::f64::consts::FRAC_1_SQRT_2, false)?;
            let s = binary_scalar(BinOp::Add, &unary(UnOp::Erf, &t)?, 1.0, false)?;
            let h = binary_scalar(BinOp::Mul, x, 0.5, false)?;
            binary(BinOp::Mul, &h, &s)
        }
        LeakyAct::Prelu => {
            let Some(g) = gamma else {
                return Err(Error::invalid(format!(
                    "{OP}: actType \"prelu\" needs gamma (data of shape {})",
                    x.shape_str()
                )));
            };
            same_dtype(OP, x, g)?;
            let gs = (g.ndim() >= 1)
                .then(|| prelu_gamma_shape(&g.shape, &x.shape))
                .flatten()
                .ok_or_else(|| {
                    Error::shape(format!(
                        "{OP}: cannot broadcast gamma of shape {} to data of shape {} (prelu: one slope per channel, axis 1)",
                        g.shape_str(),
                        x.shape_str()
                    ))
                })?;
            let gb = reshape_to(g, &gs)?;
            let neg = binary(BinOp::Mul, x, &gb)?;
            where_pos(x, &neg)
        }
    }
}

/// MXNet's `Flatten`: `(d0, d1·d2·…)`; a 1-D `(n,)` becomes `(n, 1)`.
pub fn flatten(x: &Tensor) -> Result<Tensor> {
    reshape_to(x, &flatten_shape(&x.shape)?)
}

/// MXNet's `softmax_cross_entropy(data, label)`: data `(N, C)`, label `(N,)`
/// class indices (any dtype; truncated, then clipped into `[0, C-1]` as
/// `pick` does), output shape `[1]`: `Σᵢ -log(max(softmax(dataᵢ)[labelᵢ],
/// 1e-8))`. The log-probabilities come from the stable log-softmax. As in
/// MXNet, the floor at 1e-8 shapes the value only: the gradient is always
/// `softmax - one_hot(label)` (the clamp enters as a constant offset).
pub fn softmax_cross_entropy(data: &Tensor, label: &Tensor) -> Result<Tensor> {
    const OP: &str = "softmaxCrossEntropy";
    float_only(OP, data)?;
    if data.ndim() != 2 || label.ndim() != 1 || data.shape[0] != label.shape[0] {
        return Err(Error::shape(format!(
            "{OP}: data must be 2-D (batch, classes) and label 1-D (batch,) of the same batch (got data {} and label {})",
            data.shape_str(),
            label.shape_str()
        )));
    }
    if data.shape[1] == 0 && data.shape[0] > 0 {
        return Err(Error::shape(format!(
            "{OP}: data of shape {} has no classes",
            data.shape_str()
        )));
    }
    let logp = super::nn::log_softmax(data, -1)?;
    let picked = super::index::pick(&logp, &label.detached(), -1, false, false)?;
    // MXNet floors the probability at 1e-8f (loss_binary_op-inl.h); `floor`
    // is that float32 constant's log.
    let floor = (1e-8f32 as f64).ln();
    let raw = picked.detached();
    let clamped = raw.try_f64_vec()?.iter().any(|&v| v < floor || v.is_nan());
    let picked = if clamped {
        let lifted = binary_scalar(BinOp::Maximum, &raw, floor, false)?;
        let offset = binary(BinOp::Sub, &lifted, &raw)?;
        binary(BinOp::Add, &picked, &offset)?
    } else {
        picked
    };
    let s = reduce(RedOp::Sum, &picked, None, false)?;
    unary(UnOp::Neg, &s)
}

#[cfg(test)]
mod tests {
    use super::{dot_t, prelu_gamma_shape};
    use crate::dtype::DType;
    use crate::storage::Tensor;

    /// `dot_t` against `dot` of explicitly transposed copies, every flag
    /// pair, float32 (packed and direct sizes) and float64.
    #[test]
    fn dot_t_matches_dot_of_transposed_copies() {
        let mut seed = 7u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f64 / (1u64 << 24) as f64 - 0.5
        };
        for dt in [DType::F32, DType::F64] {
            for &(m, n, k) in &[(3, 4, 5), (40, 30, 70)] {
                for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                    let sa = if ta { [k, m] } else { [m, k] };
                    let sb = if tb { [n, k] } else { [k, n] };
                    let mk = |s: [usize; 2], r: &mut dyn FnMut() -> f64| {
                        let v: Vec<f64> = (0..s[0] * s[1]).map(|_| r()).collect();
                        let t = Tensor::from_vec(s.to_vec(), v).unwrap();
                        crate::ops::astype(&t, dt).unwrap()
                    };
                    let (a, b) = (mk(sa, &mut rnd), mk(sb, &mut rnd));
                    let got = dot_t(&a, &b, ta, tb).unwrap();
                    let want = crate::ops::dot_t(&a, &b, ta, tb).unwrap();
                    assert_eq!(got.shape, want.shape);
                    for (g, w) in got.to_f64_vec().iter().zip(want.to_f64_vec()) {
                        assert!(
                            (g - w).abs() <= 1e-5 * k as f64,
                            "{m}x{n}x{k} {ta} {tb}: {g} vs {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn prelu_gamma_follows_mxnet_expand_shape() {
        assert_eq!(
            prelu_gamma_shape(&[3], &[2, 3, 4, 5]),
            Some(vec![1, 3, 1, 1])
        );
        assert_eq!(prelu_gamma_shape(&[1], &[2, 3, 4]), Some(vec![1, 1, 1]));
        assert_eq!(prelu_gamma_shape(&[4], &[4]), Some(vec![4]));
        assert_eq!(prelu_gamma_shape(&[2, 3], &[2, 3, 5]), Some(vec![2, 3, 1]));
        assert_eq!(prelu_gamma_shape(&[4], &[2, 3, 4]), None);
        assert_eq!(prelu_gamma_shape(&[2, 2, 3], &[2, 3]), None);
    }
}
