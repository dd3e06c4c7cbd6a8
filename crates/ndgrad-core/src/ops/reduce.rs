//! Reductions over axes. A full reduction gives shape `[1]` (MXNet 1.x).

use super::{broadcast_to, div, mul, reshape_to, saved, scalar, Op};
use crate::autograd::record;
use crate::dtype::{wrap, Data, Elem};
use crate::error::{Error, Result};
use crate::kernels::{self, BinOp, RedOp};
use crate::shape::{checked_size, normalize_axes, size};
use crate::storage::{alloc_empty, alloc_zeroed, Tensor};

fn reduce_kernel<T: Elem>(
    op: RedOp,
    x: &[T],
    shape: &[usize],
    perm: &[usize],
    rows: usize,
    len: usize,
) -> Result<Data> {
    let mut out = alloc_zeroed::<T>(rows)?;
    // Bring the reduced axes last (a copy only when they are not already).
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        kernels::reduce_rows(op, x, len, &mut out);
    } else {
        let mut tmp = alloc_empty::<T>(x.len())?;
        kernels::transpose(x, shape, perm, &mut tmp);
        kernels::reduce_rows(op, &tmp, len, &mut out);
    }
    Ok(wrap(out))
}

/// Output shape with reduced axes kept as 1.
fn keep_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

/// `axis` None or empty reduces everything (MXNet's default `axis=()`).
pub fn reduce(op: RedOp, x: &Tensor, axis: Option<&[i64]>, keepdims: bool) -> Result<Tensor> {
    let name = op.name();
    let nd = x.ndim();
    let axes: Vec<usize> = match axis {
        Some(a) if !a.is_empty() => normalize_axes(a, nd).map_err(|e| e.in_op(name))?,
        _ => (0..nd).collect(),
    };
    let len = size(&axes.iter().map(|&a| x.shape[a]).collect::<Vec<_>>());
    if len == 0 && !op.has_identity() {
        return Err(Error::invalid(format!(
            "{name}: zero-size array (shape {}) to reduction operation {name} which has no identity",
            x.shape_str()
        )));
    }
    let kept: Vec<usize> = (0..nd).filter(|a| !axes.contains(a)).collect();
    let rows = checked_size(&kept.iter().map(|&a| x.shape[a]).collect::<Vec<_>>())
        .map_err(|e| e.in_op(name))?;
    if matches!(op, RedOp::Norm | RedOp::Norm1) {
        super::float_only("norm", x)?;
    }
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).copied().collect();
    let out = crate::each_dtype!(&*x.data()?, v => reduce_kernel(op, v.as_slice(), &x.shape, &perm, rows, len))
        .map_err(|e| e.in_op(name))?;
    let shape = if keepdims {
        keep_shape(&x.shape, &axes)
    } else {
        let s: Vec<usize> = kept.iter().map(|&a| x.shape[a]).collect();
        if s.is_empty() {
            vec![1]
        } else {
            s
        }
    };
    let mut t = Tensor::from_vec(shape, out)?;
    let needs_x = !matches!(op, RedOp::Sum | RedOp::Mean);
    let rec = || Op::Reduce {
        op,
        in_shape: x.shape.clone(),
        axes,
    };
    record(
        rec,
        &[x],
        || if needs_x { vec![x.clone()] } else { vec![] },
        &mut t,
    );
    Ok(t)
}

pub(super) fn reduce_backward(
    op: RedOp,
    in_shape: &[usize],
    axes: &[usize],
    s: &[Tensor],
    dy: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let kshape = keep_shape(in_shape, axes);
    let dyk = reshape_to(dy, &kshape)?;
    let g = match op {
        RedOp::Sum => broadcast_to(&dyk, in_shape)?,
        RedOp::Mean => {
            let len: usize = size(in_shape) / size(&kshape).max(1);
            broadcast_to(&scalar(BinOp::Div, &dyk, len as f64)?, in_shape)?
        }
        RedOp::Max | RedOp::Min => {
            // MXNet: the gradient goes to every element equal to the extremum.
            let x = saved(s, 0)?;
            let y = redo(op, x, axes)?;
            mul(&dyk, &super::binary(BinOp::Equal, x, &y)?)?
        }
        RedOp::Prod => {
            // MXNet's rule: dy · prod / x.
            let x = saved(s, 0)?;
            let y = redo(op, x, axes)?;
            mul(&dyk, &div(&y, x)?)?
        }
        RedOp::Norm => {
            // dy · x / ‖x‖, and 0 where the norm is 0 (instead of NaN).
            let x = saved(s, 0)?;
            let n = redo(op, x, axes)?;
            let safe = super::add(&n, &scalar(BinOp::Equal, &n, 0.0)?)?;
            mul(&dyk, &div(x, &safe)?)?
        }
        // d|x|₁ = sign(x)
        RedOp::Norm1 => mul(
            &dyk,
            &super::unary(crate::kernels::UnOp::Sign, saved(s, 0)?)?,
        )?,
    };
    Ok(vec![Some(g)])
}

/// Recompute a reduction with kept dimensions (for gradient masks).
fn redo(op: RedOp, x: &Tensor, axes: &[usize]) -> Result<Tensor> {
    let a: Vec<i64> = axes.iter().map(|&v| v as i64).collect();
    reduce(op, x, Some(&a), true)
}
