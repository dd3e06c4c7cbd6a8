//! Operators: each forward function computes, then records a tape node when
//! autograd is recording; each op's backward formula sits next to its
//! forward, written with the same differentiable ops, so that recording the
//! backward pass gives higher-order gradients.
//!
//! | op | gradient |
//! |---|---|
//! | binary `add sub mul div pow maximum minimum` | elementwise rules, summed back to each input's shape (`sum_to`) |
//! | comparisons | zeros of each input's shape (MXNet's `MakeZeroGradNodes`) |
//! | `sign floor ceil round rint trunc` | `dy · 0` |
//! | scalar forms `x op s`, `s op x` | as binary, w.r.t. `x` only |
//! | unary `neg exp log sqrt square abs sigmoid tanh relu` | elementwise rules |
//! | `sum mean max min prod norm` | broadcast of `dy` (max/min: to the extremal elements; norm: `x / norm`) |
//! | `reshape transpose broadcast_to slice pad concat copy` | the inverse movement |
//! | `dot`, `batch_dot` | `dy·Bᵀ`, `Aᵀ·dy` (per batch) |
//! | `Convolution`, `Deconvolution` | each other and the weight correlation (`nn::conv`) |
//! | `FullyConnected Embedding Activation LeakyReLU Flatten softmaxCrossEntropy` | through the recorded primitives they are built from (`nnmisc.rs`) |

mod elementwise;
pub mod index;
mod linalg;
mod movement;
pub mod nn;
// Pooling, BatchNorm, LayerNorm (pool branch).
pub mod norm;
pub mod pool;
// nnmisc (issue #12): FullyConnected, Embedding, Activation, LeakyReLU, Flatten, softmaxCrossEntropy
pub mod nnmisc;
mod reduce;

pub use elementwise::{astype, binary, binary_scalar, unary};
pub use linalg::{batch_dot, dot, dot_t};
pub use movement::{
    at, broadcast_to, concat, copy, pad_axis, reshape, reshape_to, slice_axis, slice_axis0, sum_to,
    transpose,
};
pub use reduce::reduce;

use crate::error::{Error, Result};
use crate::kernels::{BinOp, RedOp, UnOp};
use crate::storage::Tensor;

/// A recorded operation and what its backward needs besides saved tensors.
pub enum Op {
    Binary {
        op: BinOp,
        a_shape: Vec<usize>,
        b_shape: Vec<usize>,
    },
    Scalar {
        op: BinOp,
        s: f64,
        reverse: bool,
    },
    Unary(UnOp),
    Reduce {
        op: RedOp,
        in_shape: Vec<usize>,
        axes: Vec<usize>,
    },
    Reshape {
        in_shape: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    BroadcastTo {
        in_shape: Vec<usize>,
    },
    SliceAxis {
        axis: usize,
        begin: usize,
        in_dim: usize,
    },
    PadAxis {
        axis: usize,
        begin: usize,
        len: usize,
    },
    Concat {
        axis: usize,
        dims: Vec<usize>,
    },
    Copy,
    /// `astype` between float dtypes; `from` is the input's dtype.
    Cast {
        from: crate::dtype::DType,
    },
    Dot,
    BatchDot,
    /// `out[k] = x[idx[k]]` (take, pick, flip, tile, repeat, strided slice,
    /// sort, topk values).
    Gather {
        idx: std::rc::Rc<Vec<usize>>,
        in_shape: Vec<usize>,
        name: &'static str,
    },
    /// The gradient of a gather: `dy` added into zeros at `idx`.
    ScatterAdd {
        idx: std::rc::Rc<Vec<usize>>,
        out_shape: Vec<usize>,
        name: &'static str,
    },
    Where {
        x_shape: Vec<usize>,
        y_shape: Vec<usize>,
    },
    /// One output of an `autograd.Function`.
    Custom(crate::custom::CustomOp),
    // ---- Convolution, Deconvolution (issue #12, conv branch) ----
    /// One of the three adjoint convolution products (`nn::conv`).
    Conv {
        kind: nn::conv::ConvKind,
        geom: crate::kernels::conv::Geom,
        rank: usize,
    },
    // ---- end conv ----
    // ---- Pooling, BatchNorm, LayerNorm (pool branch) ----
    /// Max pooling: `out[k] = x[idx[k]]` at the argmax positions.
    PoolMax {
        idx: std::rc::Rc<Vec<u32>>,
        in_shape: Vec<usize>,
        /// The pooling that found `idx` (its scatter has faster paths for
        /// some geometries).
        geom: std::rc::Rc<crate::kernels::pool::Geom>,
    },
    /// Max pooling's gradient: `dy` scattered to the argmax positions.
    PoolMaxGrad {
        idx: std::rc::Rc<Vec<u32>>,
        out_shape: Vec<usize>,
        geom: std::rc::Rc<crate::kernels::pool::Geom>,
    },
    /// Avg / sum pooling, or (adjoint) its gradient.
    PoolLinear {
        lin: std::rc::Rc<pool::Linear>,
        adjoint: bool,
    },
    BatchNorm(Box<norm::BatchNormNode>),
    LayerNorm(Box<norm::LayerNormNode>),
    // ---- nnmisc group (issue #12) ----
    /// 2-D `op(a) · op(b)` read from the operands as stored (`FullyConnected`'s
    /// `x · wᵀ` and its gradients).
    DotT {
        ta: bool,
        tb: bool,
    },
    /// A first-order gradient returned by `autograd.grad` with
    /// `create_graph`, tied to its variable (input 1) besides its own graph
    /// (input 0): see `autograd::tie`. Its value is input 0's; the
    /// derivative w.r.t. the variable is zero (the backward walk writes the
    /// zeros only where no other path reaches the variable).
    GradTie,
}

impl Op {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Binary { op, .. } | Op::Scalar { op, .. } => op.name(),
            Op::Unary(op) => op.name(),
            Op::Reduce { op, .. } => op.name(),
            Op::Reshape { .. } => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::BroadcastTo { .. } => "broadcastTo",
            Op::SliceAxis { .. } => "slice",
            Op::PadAxis { .. } => "pad",
            Op::Concat { .. } => "concat",
            Op::Copy => "copy",
            Op::Cast { .. } => "astype",
            Op::Dot => "dot",
            Op::Gather { name, .. } | Op::ScatterAdd { name, .. } => name,
            Op::Where { .. } => "where",
            Op::BatchDot => "batchDot",
            Op::Custom(_) => "Function",
            // ---- conv ----
            Op::Conv { kind, .. } => match kind {
                nn::conv::ConvKind::Forward => "Convolution",
                nn::conv::ConvKind::Data => "Deconvolution",
                nn::conv::ConvKind::Weight => "Convolution weight gradient",
            },
            Op::PoolMax { .. } | Op::PoolMaxGrad { .. } | Op::PoolLinear { .. } => "Pooling",
            Op::BatchNorm(_) => "BatchNorm",
            Op::LayerNorm(_) => "LayerNorm",
            // nnmisc group (issue #12)
            Op::DotT { .. } => "dot",
            Op::GradTie => "grad",
        }
    }

    /// Gradients w.r.t. each input (None: no gradient flows), given the
    /// gradient `dy` of the output and the tensors saved at record time.
    /// `needs[i]` says whether input `i` wants a gradient (ops may skip the
    /// work for the others and return None there).
    pub fn backward(
        &self,
        saved: &[Tensor],
        dy: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let need = |i: usize| needs.get(i).copied().unwrap_or(true);
        let r = match self {
            Op::Binary {
                op,
                a_shape,
                b_shape,
            } => elementwise::binary_backward(*op, a_shape, b_shape, saved, dy, [need(0), need(1)]),
            Op::Scalar { op, s, reverse } => {
                elementwise::scalar_backward(*op, *s, *reverse, saved, dy)
            }
            Op::Unary(op) => elementwise::unary_backward(*op, saved, dy),
            Op::Reduce { op, in_shape, axes } => {
                reduce::reduce_backward(*op, in_shape, axes, saved, dy)
            }
            Op::Reshape { in_shape } => Ok(vec![Some(reshape_to(dy, in_shape)?)]),
            Op::Transpose { perm } => movement::transpose_backward(perm, dy),
            Op::BroadcastTo { in_shape } => Ok(vec![Some(sum_to(dy, in_shape)?)]),
            Op::SliceAxis {
                axis,
                begin,
                in_dim,
            } => Ok(vec![Some(pad_axis(dy, *axis, *begin, *in_dim)?)]),
            Op::PadAxis { axis, begin, len } => {
                Ok(vec![Some(slice_axis(dy, *axis, *begin, *begin + *len)?)])
            }
            Op::Concat { axis, dims } => movement::concat_backward(*axis, dims, dy),
            Op::Copy => Ok(vec![Some(dy.clone())]),
            Op::Cast { from } => Ok(vec![Some(astype(dy, *from)?)]),
            Op::Dot => linalg::dot_backward(saved, dy, [need(0), need(1)]),
            Op::Gather {
                idx,
                in_shape,
                name,
            } => Ok(vec![Some(index::scatter_add(
                dy,
                idx.clone(),
                in_shape,
                name,
            )?)]),
            Op::ScatterAdd {
                idx,
                out_shape,
                name,
            } => Ok(vec![Some(index::gather(
                dy,
                idx.clone(),
                out_shape.clone(),
                name,
            )?)]),
            Op::Where { x_shape, y_shape } => index::where_backward(x_shape, y_shape, saved, dy),
            Op::BatchDot => linalg::batch_dot_backward(saved, dy, [need(0), need(1)]),
            Op::Custom(c) => c.backward(dy),
            // ---- conv ----
            Op::Conv { kind, geom, rank } => {
                nn::conv::backward(*kind, geom, *rank, saved, dy, needs)
            }
            Op::PoolMax {
                idx,
                in_shape,
                geom,
            } => Ok(vec![Some(pool::pool_scatter(
                dy,
                idx.clone(),
                in_shape,
                geom.clone(),
            )?)]),
            Op::PoolMaxGrad {
                idx,
                out_shape,
                geom,
            } => Ok(vec![Some(pool::pool_gather(
                dy,
                idx.clone(),
                out_shape.clone(),
                geom.clone(),
            )?)]),
            Op::PoolLinear { lin, adjoint } => {
                Ok(vec![Some(pool::pool_linear(dy, lin.clone(), !adjoint)?)])
            }
            Op::BatchNorm(n) => n.backward(saved, dy, [need(0), need(1), need(2)]),
            Op::LayerNorm(n) => n.backward(saved, dy, [need(0), need(1), need(2)]),
            // nnmisc group (issue #12)
            Op::DotT { ta, tb } => nnmisc::dot_t_backward(*ta, *tb, saved, dy, [need(0), need(1)]),
            Op::GradTie => Ok(vec![Some(dy.clone()), None]),
        };
        r.map_err(|e| e.in_op(&format!("backward of {}", self.name())))
    }
}

/// The `i`-th saved tensor, or an internal error (never a panic).
fn saved(s: &[Tensor], i: usize) -> Result<&Tensor> {
    s.get(i)
        .ok_or_else(|| Error::internal(format!("saved tensor {i} missing")))
}

// Short names for backward formulas.
pub(crate) fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(BinOp::Add, a, b)
}
pub(crate) fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(BinOp::Mul, a, b)
}
pub(crate) fn div(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    binary(BinOp::Div, a, b)
}
pub(crate) fn neg(a: &Tensor) -> Result<Tensor> {
    unary(UnOp::Neg, a)
}
pub(crate) fn scalar(op: BinOp, a: &Tensor, s: f64) -> Result<Tensor> {
    binary_scalar(op, a, s, false)
}
pub(crate) fn rscalar(op: BinOp, s: f64, a: &Tensor) -> Result<Tensor> {
    binary_scalar(op, a, s, true)
}

/// MXNet's rule: operands must share a dtype (no implicit promotion).
pub(crate) fn same_dtype(name: &str, a: &Tensor, b: &Tensor) -> Result<crate::dtype::DType> {
    let (da, db) = (a.dtype(), b.dtype());
    if da != db {
        return Err(Error::invalid(format!(
            "{name}: dtype mismatch: {} (shape {}) and {} (shape {}); cast one with astype",
            da.name(),
            a.shape_str(),
            db.name(),
            b.shape_str()
        )));
    }
    Ok(da)
}

/// `axis` of `x` normalised, or an Error naming `name` and `x`'s shape.
pub fn axis_of(x: &Tensor, axis: i64, name: &str) -> Result<usize> {
    crate::shape::normalize_axis(axis, x.ndim()).map_err(|mut e| {
        e.message = format!("{name}: {} (shape {})", e.message, x.shape_str());
        e
    })
}

/// Floating-point-only ops reject int32 arrays by name.
pub(crate) fn float_only(name: &str, x: &Tensor) -> Result<()> {
    if x.dtype().is_float() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{name}: not supported for {} arrays (shape {}); cast with astype(\"float32\") first",
            x.dtype().name(),
            x.shape_str()
        )))
    }
}
