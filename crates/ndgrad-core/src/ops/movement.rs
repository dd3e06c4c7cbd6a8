//! Shape and movement ops: reshape, transpose, broadcast, slicing on axis 0.

use super::{reduce, Op};
use crate::autograd::record;
use crate::dtype::{wrap, Data, Elem};
use crate::each_dtype;
use crate::error::{Error, Result};
use crate::kernels::{self, RedOp};
use crate::shape::{can_broadcast_to, checked_size, fmt_shape, normalize_axis, size};
use crate::storage::{alloc_empty, Tensor};

/// A new buffer of `n` elements of `x`'s dtype, filled by `fill` (which
/// appends to an empty vector with room for `n`).
pub(crate) fn build(x: &Data, n: usize, fill: impl FnOnce(&mut dyn Filler)) -> Result<Data> {
    struct F<'a, T: Elem> {
        src: &'a [T],
        out: Vec<T>,
    }
    impl<T: Elem> Filler for F<'_, T> {
        fn transpose(&mut self, shape: &[usize], perm: &[usize]) {
            kernels::transpose(self.src, shape, perm, &mut self.out)
        }
        fn broadcast(&mut self, xshape: &[usize], oshape: &[usize]) {
            kernels::broadcast_extend(self.src, xshape, oshape, &mut self.out)
        }
        fn copy(&mut self, from: usize, len: usize) {
            self.out.extend_from_slice(&self.src[from..from + len])
        }
        fn zeros(&mut self, len: usize) {
            self.out.resize(self.out.len() + len, T::ZERO)
        }
        fn gather(&mut self, idx: &mut dyn Iterator<Item = usize>) {
            let src = self.src;
            self.out.extend(idx.map(|i| src[i]))
        }
    }
    fn go<T: Elem>(src: &[T], n: usize, fill: impl FnOnce(&mut dyn Filler)) -> Result<Data> {
        let mut f = F {
            src,
            out: alloc_empty::<T>(n)?,
        };
        fill(&mut f);
        if f.out.len() != n {
            return Err(Error::internal(
                "movement kernel wrote the wrong number of elements",
            ));
        }
        Ok(wrap(f.out))
    }
    each_dtype!(x, v => go(v.as_slice(), n, fill))
}

/// The dtype-independent operations movement ops are made of: each appends
/// to the output built by `build`.
pub(crate) trait Filler {
    fn transpose(&mut self, shape: &[usize], perm: &[usize]);
    fn broadcast(&mut self, xshape: &[usize], oshape: &[usize]);
    /// Copy `len` source elements starting at `from`.
    fn copy(&mut self, from: usize, len: usize);
    fn zeros(&mut self, len: usize);
    /// Source elements at the given flat indices.
    fn gather(&mut self, idx: &mut dyn Iterator<Item = usize>);
}

/// MXNet/NumPy `reshape`: one `-1` is inferred; the result shares the buffer.
pub fn reshape(x: &Tensor, spec: &[i64]) -> Result<Tensor> {
    let bad = |msg: String| Error::shape(format!("reshape: {msg}"));
    let n = x.size();
    let mut infer: Option<usize> = None;
    let mut known: usize = 1;
    let mut shape = Vec::with_capacity(spec.len());
    for (i, &d) in spec.iter().enumerate() {
        if d == -1 {
            if infer.is_some() {
                return Err(bad("can only specify one unknown dimension (-1)".into()));
            }
            infer = Some(i);
            shape.push(0);
        } else if d < 0 {
            return Err(bad(format!("invalid dimension {d} in the target shape")));
        } else {
            shape.push(d as usize);
            known = known.saturating_mul(d as usize);
        }
    }
    if let Some(i) = infer {
        if known == 0 || !n.is_multiple_of(known) {
            return Err(bad(format!(
                "cannot reshape array of shape {} into shape {:?}",
                x.shape_str(),
                spec
            )));
        }
        shape[i] = n / known;
    }
    checked_size(&shape).map_err(|e| e.in_op("reshape"))?;
    if size(&shape) != n {
        return Err(bad(format!(
            "cannot reshape array of shape {} (size {n}) into shape {}",
            x.shape_str(),
            fmt_shape(&shape)
        )));
    }
    reshape_to(x, &shape)
}

/// Reshape to a known shape of the same size.
pub fn reshape_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if size(shape) != x.size() {
        return Err(Error::shape(format!(
            "reshape: cannot reshape array of shape {} into shape {}",
            x.shape_str(),
            fmt_shape(shape)
        )));
    }
    let mut t = x.with_shape(shape.to_vec());
    record(
        || Op::Reshape {
            in_shape: x.shape.clone(),
        },
        &[x],
        Vec::new,
        &mut t,
    );
    Ok(t)
}

/// Permute axes (default: reverse them), copying into a new buffer.
pub fn transpose(x: &Tensor, axes: Option<&[i64]>) -> Result<Tensor> {
    let nd = x.ndim();
    let perm: Vec<usize> = match axes {
        None => (0..nd).rev().collect(),
        Some(a) => {
            if a.len() != nd {
                return Err(Error::invalid(format!(
                    "transpose: axes {:?} do not match an array of shape {}",
                    a,
                    x.shape_str()
                )));
            }
            let mut p = Vec::with_capacity(nd);
            for &ax in a {
                let ax = normalize_axis(ax, nd).map_err(|e| e.in_op("transpose"))?;
                if p.contains(&ax) {
                    return Err(Error::invalid(format!("transpose: repeated axis in {a:?}")));
                }
                p.push(ax);
            }
            p
        }
    };
    let oshape: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    let out = build(&*x.data()?, x.size(), |f| f.transpose(&x.shape, &perm))
        .map_err(|e| e.in_op("transpose"))?;
    let mut t = Tensor::from_vec(oshape, out)?;
    record(|| Op::Transpose { perm }, &[x], Vec::new, &mut t);
    Ok(t)
}

pub(super) fn transpose_backward(perm: &[usize], dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let mut inv = vec![0i64; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i as i64;
    }
    Ok(vec![Some(transpose(dy, Some(&inv))?)])
}

pub fn broadcast_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if !can_broadcast_to(&x.shape, shape) {
        return Err(Error::shape(format!(
            "broadcastTo: cannot broadcast an array of shape {} to shape {}",
            x.shape_str(),
            fmt_shape(shape)
        )));
    }
    let n = checked_size(shape).map_err(|e| e.in_op("broadcastTo"))?;
    let out = build(&*x.data()?, n, |f| f.broadcast(&x.shape, shape))
        .map_err(|e| e.in_op("broadcastTo"))?;
    let mut t = Tensor::from_vec(shape.to_vec(), out)?;
    record(
        || Op::BroadcastTo {
            in_shape: x.shape.clone(),
        },
        &[x],
        Vec::new,
        &mut t,
    );
    Ok(t)
}

/// Sum `g` down to `shape` (the inverse of broadcasting `shape` up to `g`'s).
pub fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape == shape {
        return Ok(g.clone());
    }
    if !can_broadcast_to(shape, &g.shape) {
        return Err(Error::internal(format!(
            "cannot sum a gradient of shape {} to shape {}",
            g.shape_str(),
            fmt_shape(shape)
        )));
    }
    let lead = g.ndim() - shape.len();
    let axes: Vec<i64> = (0..g.ndim())
        .filter(|&i| i < lead || (shape[i - lead] == 1 && g.shape[i] != 1))
        .map(|i| i as i64)
        .collect();
    let r = if axes.is_empty() {
        g.clone()
    } else {
        reduce(RedOp::Sum, g, Some(&axes), true)?
    };
    reshape_to(&r, shape)
}

fn rows_of(x: &Tensor, op: &str) -> Result<usize> {
    match x.shape.first() {
        Some(&r) => Ok(r),
        None => Err(Error::invalid(format!("{op}: cannot index a 0-d array"))),
    }
}

/// `(outer, dim, inner)`: the shape seen as blocks around `axis`.
fn around(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (size(&shape[..axis]), shape[axis], size(&shape[axis + 1..]))
}

/// Indices `begin..end` of `axis` (already resolved and in range).
pub fn slice_axis(x: &Tensor, axis: usize, begin: usize, end: usize) -> Result<Tensor> {
    if axis >= x.ndim() || begin > end || end > x.shape[axis] {
        return Err(Error::internal(format!(
            "slice {begin}..{end} of axis {axis} of shape {}",
            x.shape_str()
        )));
    }
    let (_, dim, inner) = around(&x.shape, axis);
    let len = end - begin;
    let mut shape = x.shape.clone();
    shape[axis] = len;
    let n = checked_size(&shape).map_err(|e| e.in_op("slice"))?;
    let outer = n.checked_div(len * inner).unwrap_or(0);
    let out = build(&*x.data()?, n, |f| {
        for o in 0..outer {
            f.copy(o * dim * inner + begin * inner, len * inner);
        }
    })
    .map_err(|e| e.in_op("slice"))?;
    let mut t = Tensor::from_vec(shape, out)?;
    record(
        || Op::SliceAxis {
            axis,
            begin,
            in_dim: dim,
        },
        &[x],
        Vec::new,
        &mut t,
    );
    Ok(t)
}

/// Zero-pad `x` along `axis` to `total`, placing it at index `begin`
/// (the gradient of slicing).
pub fn pad_axis(x: &Tensor, axis: usize, begin: usize, total: usize) -> Result<Tensor> {
    if axis >= x.ndim() || begin + x.shape[axis] > total {
        return Err(Error::internal(format!(
            "pad axis {axis} of shape {} at {begin} to {total}",
            x.shape_str()
        )));
    }
    let (outer, len, inner) = around(&x.shape, axis);
    let mut shape = x.shape.clone();
    shape[axis] = total;
    let n = checked_size(&shape)?;
    let out = build(&*x.data()?, n, |f| {
        if inner == 0 {
            return;
        }
        for o in 0..outer {
            f.zeros(begin * inner);
            f.copy(o * len * inner, len * inner);
            f.zeros((total - begin - len) * inner);
        }
    })
    .map_err(|e| e.in_op("pad"))?;
    let mut t = Tensor::from_vec(shape, out)?;
    record(|| Op::PadAxis { axis, begin, len }, &[x], Vec::new, &mut t);
    Ok(t)
}

/// Python slicing `x[begin:end]` on axis 0: negative indices count from the
/// end, out-of-range bounds are clamped, an empty range gives 0 rows.
pub fn slice_axis0(x: &Tensor, begin: Option<i64>, end: Option<i64>) -> Result<Tensor> {
    let rows = rows_of(x, "slice")? as i64;
    let clamp = |v: i64| -> i64 {
        let v = if v < 0 { v + rows } else { v };
        v.clamp(0, rows)
    };
    let b = begin.map_or(0, clamp);
    let e = end.map_or(rows, clamp).max(b);
    slice_axis(x, 0, b as usize, e as usize)
}

/// MXNet `x[i]`: row `i` of axis 0 (negative counts from the end); a 1-D
/// array gives shape `[1]`, as MXNet 1.x does.
pub fn at(x: &Tensor, i: i64) -> Result<Tensor> {
    let rows = rows_of(x, "at")?;
    let r = rows as i64;
    if i < -r || i >= r {
        return Err(Error::invalid(format!(
            "at: index {i} is out of bounds for axis 0 with size {rows} (shape {})",
            x.shape_str()
        )));
    }
    let i = if i < 0 { i + r } else { i } as usize;
    let row = slice_axis(x, 0, i, i + 1)?;
    let shape: Vec<usize> = if x.ndim() == 1 {
        vec![1]
    } else {
        x.shape[1..].to_vec()
    };
    reshape_to(&row, &shape)
}

/// MXNet's `concat`: join arrays along an existing axis.
pub fn concat(xs: &[&Tensor], axis: i64) -> Result<Tensor> {
    let Some(first) = xs.first() else {
        return Err(Error::invalid("concat: no arrays given"));
    };
    let nd = first.ndim();
    if nd == 0 {
        return Err(Error::invalid("concat: cannot concatenate 0-d arrays"));
    }
    let ax = normalize_axis(axis, nd).map_err(|e| e.in_op("concat"))?;
    let mut total = 0usize;
    for x in xs {
        let same = x.ndim() == nd
            && x.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(i, (a, b))| i == ax || a == b);
        if !same {
            return Err(Error::shape(format!(
                "concat: all arrays must have the same shape except along axis {ax}: {} vs {}",
                first.shape_str(),
                x.shape_str()
            )));
        }
        total += x.shape[ax];
    }
    let mut shape = first.shape.clone();
    shape[ax] = total;
    let n = checked_size(&shape).map_err(|e| e.in_op("concat"))?;
    for x in &xs[1..] {
        super::same_dtype("concat", first, x)?;
    }
    let (outer, _, inner) = around(&shape, ax);
    let dims: Vec<usize> = xs.iter().map(|x| x.shape[ax]).collect();
    // Interleave the pieces row by row: gather from a virtual concatenation
    // of the inputs' buffers, so one generic kernel serves every dtype.
    let datas: Vec<_> = xs.iter().map(|x| x.data()).collect::<Result<_>>()?;
    let joined =
        join(&datas.iter().map(|d| &**d).collect::<Vec<_>>()).map_err(|e| e.in_op("concat"))?;
    let mut starts = Vec::with_capacity(xs.len());
    let mut acc = 0usize;
    for x in xs {
        starts.push(acc);
        acc += x.size();
    }
    let out = build(&joined, n, |f| {
        for o in 0..outer {
            for (i, &d) in dims.iter().enumerate() {
                let len = d * inner;
                if len > 0 {
                    f.copy(starts[i] + o * len, len);
                }
            }
        }
    })
    .map_err(|e| e.in_op("concat"))?;
    drop(datas);
    let mut t = Tensor::from_vec(shape, out)?;
    record(|| Op::Concat { axis: ax, dims }, xs, Vec::new, &mut t);
    Ok(t)
}

pub(super) fn concat_backward(
    axis: usize,
    dims: &[usize],
    dy: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let mut begin = 0;
    let mut out = Vec::with_capacity(dims.len());
    for &d in dims {
        out.push(Some(slice_axis(dy, axis, begin, begin + d)?));
        begin += d;
    }
    Ok(out)
}

/// A copy with its own buffer (differentiable, like MXNet's `copy`).
pub fn copy(x: &Tensor) -> Result<Tensor> {
    let data = x.data()?.try_clone().map_err(|e| e.in_op("copy"))?;
    let mut t = Tensor::from_vec(x.shape.clone(), data)?;
    record(|| Op::Copy, &[x], Vec::new, &mut t);
    Ok(t)
}

/// The buffers of same-dtype arrays one after another (a temporary for
/// multi-input movement ops).
fn join(parts: &[&Data]) -> Result<Data> {
    fn go<T: Elem>(parts: &[&Data]) -> Result<Data> {
        let n = parts.iter().map(|p| p.len()).sum();
        let mut out = alloc_empty::<T>(n)?;
        for p in parts {
            let v = T::view(p).ok_or_else(|| Error::internal("mixed dtypes in join"))?;
            out.extend_from_slice(v);
        }
        Ok(wrap(out))
    }
    let dtype = parts
        .first()
        .map_or(crate::dtype::DType::F32, |p| p.dtype());
    crate::with_elem!(dtype, T => go::<T>(parts))
}
