//! Index ops. Most are one *gather*: every output element is one input
//! element, chosen by a flat index list (`take`, `pick`, `flip`, `tile`,
//! `repeat`, strided `slice`, `sort`, `topk` values). Their gradient is the
//! matching *scatter-add* of `dy` into zeros of the input's shape (repeated
//! indices accumulate), and the gradient of a scatter-add is the gather
//! again, so every order of derivative works. The rest (`argmax`, `argmin`,
//! `argsort`, `topk` indices and mask, `oneHot`) produce indices or masks and
//! have no gradient.

use std::rc::Rc;

use super::{same_dtype, Op};
use crate::autograd::record;
use crate::dtype::{wrap, DType, Data, Elem};
use crate::each_dtype;
use crate::error::{Error, Result};
use crate::kernels::BinOp;
use crate::shape::{checked_size, fmt_shape, size, strides};
use crate::storage::{
    alloc_empty, alloc_zeroed, try_collect, try_filled, try_grow, try_vec, Tensor,
};

/// `out[k] = x[idx[k]]`, shaped `out_shape` (recorded; `name` names it in
/// errors and in the tape).
pub fn gather(
    x: &Tensor,
    idx: Rc<Vec<usize>>,
    out_shape: Vec<usize>,
    name: &'static str,
) -> Result<Tensor> {
    let n = checked_size(&out_shape).map_err(|e| e.in_op(name))?;
    let len = x.size();
    if idx.len() != n || idx.iter().any(|&i| i >= len) {
        return Err(Error::internal(format!("{name}: bad gather indices")));
    }
    let data = super::movement::build(&*x.data()?, n, |f| f.gather(&mut idx.iter().copied()))
        .map_err(|e| e.in_op(name))?;
    let mut t = Tensor::from_vec(out_shape, data)?;
    let rec = || Op::Gather {
        idx,
        in_shape: x.shape.clone(),
        name,
    };
    record(rec, &[x], Vec::new, &mut t);
    Ok(t)
}

/// Zeros of `in_shape` with `src[k]` added at `idx[k]` (the gradient of a
/// gather; recorded, its own gradient is the gather).
pub fn scatter_add(
    src: &Tensor,
    idx: Rc<Vec<usize>>,
    in_shape: &[usize],
    name: &'static str,
) -> Result<Tensor> {
    let n = checked_size(in_shape).map_err(|e| e.in_op(name))?;
    if idx.len() != src.size() || idx.iter().any(|&i| i >= n) {
        return Err(Error::internal(format!("{name}: bad scatter indices")));
    }
    fn go<T: Elem>(src: &[T], idx: &[usize], n: usize) -> Result<Data> {
        let mut out = alloc_zeroed::<T>(n)?;
        for (&i, &v) in idx.iter().zip(src) {
            out[i] = T::bin(BinOp::Add, out[i], v);
        }
        Ok(wrap(out))
    }
    let data =
        each_dtype!(&*src.data()?, v => go(v.as_slice(), &idx, n)).map_err(|e| e.in_op(name))?;
    let mut t = Tensor::from_vec(in_shape.to_vec(), data)?;
    let rec = || Op::ScatterAdd {
        idx,
        out_shape: src.shape.clone(),
        name,
    };
    record(rec, &[src], Vec::new, &mut t);
    Ok(t)
}

/// Flat indices of the row-major product of per-axis index maps:
/// output element (i₀, i₁, …) reads input element (map₀[i₀], map₁[i₁], …).
fn product_indices(in_shape: &[usize], maps: &[Vec<usize>]) -> Result<Vec<usize>> {
    let st = strides(in_shape);
    let n = maps.iter().try_fold(1usize, |a, m| a.checked_mul(m.len()));
    let n = n.ok_or_else(|| Error::invalid("the result is too large"))?;
    checked_size(&[n])?;
    let mut idx = Vec::new();
    idx.try_reserve_exact(n)
        .map_err(|_| Error::oom(n, DType::I32))?;
    if n == 0 {
        return Ok(idx);
    }
    fn rec(d: usize, base: usize, st: &[usize], maps: &[Vec<usize>], out: &mut Vec<usize>) {
        if d == maps.len() {
            out.push(base);
            return;
        }
        for &i in &maps[d] {
            rec(d + 1, base + i * st[d], st, maps, out);
        }
    }
    rec(0, 0, &st, maps, &mut idx);
    Ok(idx)
}

fn gather_maps(
    x: &Tensor,
    maps: Vec<Vec<usize>>,
    out_shape: Vec<usize>,
    name: &'static str,
) -> Result<Tensor> {
    let idx = product_indices(&x.shape, &maps).map_err(|e| e.in_op(name))?;
    gather(x, Rc::new(idx), out_shape, name)
}

/// `(0..n).map(f)` collected with a fallible allocation: an index map can
/// be as long as a (possibly impossible) result axis.
fn index_map(n: usize, f: impl Fn(usize) -> usize) -> Result<Vec<usize>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::oom(n, DType::I32))?;
    v.extend((0..n).map(f));
    Ok(v)
}

fn identity_maps(shape: &[usize]) -> Result<Vec<Vec<usize>>> {
    shape.iter().map(|&d| index_map(d, |i| i)).collect()
}

/// Python's `range(begin, end, step)` after NumPy's slice normalisation
/// of one axis of length `n` (None bounds, negatives, clamping).
pub fn slice_range(
    n: usize,
    begin: Option<i64>,
    end: Option<i64>,
    step: i64,
) -> Result<Vec<usize>> {
    if step == 0 {
        return Err(Error::invalid("slice step cannot be zero"));
    }
    let n = n as i64;
    let (lo, hi) = if step > 0 { (0, n) } else { (-1, n - 1) };
    let norm = |v: i64| -> i64 {
        let v = if v < 0 { v + n } else { v };
        v.clamp(lo, hi)
    };
    let b = begin.map_or(if step > 0 { 0 } else { n - 1 }, norm);
    let e = end.map_or(if step > 0 { n } else { -1 }, norm);
    let mut out = Vec::new();
    let mut i = b;
    while (step > 0 && i < e) || (step < 0 && i > e) {
        try_grow(&mut out, 1)?;
        out.push(i as usize);
        i += step;
    }
    Ok(out)
}

/// MXNet's `slice(data, begin, end, step)`: per-axis Python slices on the
/// leading `begin.len()` axes (None = the whole axis).
pub fn slice(
    x: &Tensor,
    begin: &[Option<i64>],
    end: &[Option<i64>],
    step: &[Option<i64>],
) -> Result<Tensor> {
    let nd = x.ndim();
    if begin.len() != end.len() || (!step.is_empty() && step.len() != begin.len()) {
        return Err(Error::invalid(format!(
            "slice: begin, end and step must have the same length (got {}, {} and {})",
            begin.len(),
            end.len(),
            step.len()
        )));
    }
    if begin.len() > nd {
        return Err(Error::invalid(format!(
            "slice: {} axes given for an array of shape {}",
            begin.len(),
            x.shape_str()
        )));
    }
    let mut maps = identity_maps(&x.shape)?;
    for d in 0..begin.len() {
        let s = step.get(d).copied().flatten().unwrap_or(1);
        maps[d] = slice_range(x.shape[d], begin[d], end[d], s).map_err(|e| e.in_op("slice"))?;
    }
    let shape = maps.iter().map(Vec::len).collect();
    gather_maps(x, maps, shape, "slice")
}

/// MXNet's `flip`/`reverse` along `axes`.
pub fn flip(x: &Tensor, axes: &[i64]) -> Result<Tensor> {
    let mut maps = identity_maps(&x.shape)?;
    for &a in axes {
        let d = super::axis_of(x, a, "flip")?;
        maps[d].reverse();
    }
    gather_maps(x, maps, x.shape.clone(), "flip")
}

/// NumPy's `tile`.
pub fn tile(x: &Tensor, reps: &[i64]) -> Result<Tensor> {
    if let Some(r) = reps.iter().find(|&&r| r < 0) {
        return Err(Error::invalid(format!(
            "tile: reps must be non-negative (got {r})"
        )));
    }
    let nd = x.ndim().max(reps.len());
    let mut shape = vec![1usize; nd - x.ndim()];
    shape.extend(&x.shape);
    let mut r = vec![1usize; nd - reps.len()];
    r.extend(reps.iter().map(|&v| v as usize));
    let out: Vec<usize> = shape
        .iter()
        .zip(&r)
        .map(|(&d, &k)| d.saturating_mul(k))
        .collect();
    checked_size(&out).map_err(|e| e.in_op("tile"))?;
    let maps: Vec<Vec<usize>> = shape
        .iter()
        .zip(&out)
        .map(|(&d, &n)| index_map(n, |i| i % d.max(1)))
        .collect::<Result<_>>()
        .map_err(|e| e.in_op("tile"))?;
    let xr = super::reshape_to(x, &shape)?;
    gather_maps(&xr, maps, out, "tile")
}

/// NumPy's `repeat` (axis None repeats the flattened array).
pub fn repeat(x: &Tensor, repeats: i64, axis: Option<i64>) -> Result<Tensor> {
    if repeats < 0 {
        return Err(Error::invalid(format!(
            "repeat: repeats must be non-negative (got {repeats})"
        )));
    }
    let r = repeats as usize;
    let (src, ax) = match axis {
        None => (super::reshape_to(x, &[x.size()])?, 0),
        Some(a) => (x.clone(), super::axis_of(x, a, "repeat")?),
    };
    let mut out = src.shape.clone();
    out[ax] = src.shape[ax].saturating_mul(r);
    checked_size(&out).map_err(|e| e.in_op("repeat"))?;
    let mut maps = identity_maps(&src.shape)?;
    maps[ax] = index_map(out[ax], |i| i / r.max(1)).map_err(|e| e.in_op("repeat"))?;
    gather_maps(&src, maps, out, "repeat")
}

/// Integer index from a float value: truncation toward zero, then "clip"
/// (clamp to [0, n-1]) or "wrap" (Python modulo).
fn resolve(v: f64, n: usize, wrap_mode: bool) -> usize {
    let n = n as i64;
    let i = if v.is_nan() {
        0
    } else {
        v.trunc().clamp(i64::MIN as f64, i64::MAX as f64) as i64
    };
    if wrap_mode {
        i.rem_euclid(n) as usize
    } else {
        i.clamp(0, n - 1) as usize
    }
}

/// MXNet's `take(a, indices, axis, mode)`.
pub fn take(a: &Tensor, indices: &Tensor, axis: i64, wrap_mode: bool) -> Result<Tensor> {
    let ax = super::axis_of(a, axis, "take")?;
    let dim = a.shape[ax];
    if dim == 0 && indices.size() > 0 {
        return Err(Error::invalid(format!(
            "take: cannot take from an empty axis {ax} of shape {}",
            a.shape_str()
        )));
    }
    let ids: Vec<usize> = indices
        .try_f64_vec()?
        .into_iter()
        .map(|v| resolve(v, dim, wrap_mode))
        .collect();
    let mut maps = identity_maps(&a.shape)?;
    maps[ax] = ids;
    let mut out: Vec<usize> = a.shape[..ax].to_vec();
    out.extend(&indices.shape);
    out.extend(&a.shape[ax + 1..]);
    gather_maps(a, maps, out, "take")
}

/// Rows along `axis`: (outer, dim, inner) and the flat offset of element
/// `j` of row (o, i).
struct Rows {
    outer: usize,
    dim: usize,
    inner: usize,
}

impl Rows {
    fn of(shape: &[usize], ax: usize) -> Rows {
        Rows {
            outer: size(&shape[..ax]),
            dim: shape[ax],
            inner: size(&shape[ax + 1..]),
        }
    }
    fn at(&self, o: usize, i: usize, j: usize) -> usize {
        (o * self.dim + j) * self.inner + i
    }
}

/// MXNet's `pick(data, index, axis, keepdims, mode)`.
pub fn pick(
    x: &Tensor,
    index: &Tensor,
    axis: i64,
    keepdims: bool,
    wrap_mode: bool,
) -> Result<Tensor> {
    let ax = super::axis_of(x, axis, "pick")?;
    let mut kept = x.shape.clone();
    kept[ax] = 1;
    let mut dropped = x.shape.clone();
    dropped.remove(ax);
    let ok =
        index.shape == kept || index.shape == dropped || (dropped.is_empty() && index.shape == [1]);
    if !ok {
        return Err(Error::shape(format!(
            "pick: index of shape {} does not match data of shape {} without axis {ax} (expected {})",
            index.shape_str(),
            x.shape_str(),
            fmt_shape(&dropped)
        )));
    }
    let r = Rows::of(&x.shape, ax);
    if r.dim == 0 && index.size() > 0 {
        return Err(Error::invalid(format!(
            "pick: cannot pick from an empty axis {ax} of shape {}",
            x.shape_str()
        )));
    }
    let vals = index.try_f64_vec()?;
    let mut idx = try_vec(vals.len())?;
    for o in 0..r.outer {
        for i in 0..r.inner {
            let j = resolve(vals[o * r.inner + i], r.dim, wrap_mode);
            idx.push(r.at(o, i, j));
        }
    }
    let out = if keepdims {
        kept
    } else if dropped.is_empty() {
        vec![1]
    } else {
        dropped
    };
    gather(x, Rc::new(idx), out, "pick")
}

/// For every row along `axis`, the row's positions ordered by value
/// (stable: ties keep the lower index first; NaN sorts as the largest).
fn order_rows(x: &Tensor, ax: usize, ascending: bool) -> Result<(Rows, Vec<Vec<usize>>)> {
    let r = Rows::of(&x.shape, ax);
    let v = x.try_f64_vec()?;
    let key = |a: f64, b: f64| -> core::cmp::Ordering {
        // total order with NaN largest
        match (a.is_nan(), b.is_nan()) {
            (true, true) => core::cmp::Ordering::Equal,
            (true, false) => core::cmp::Ordering::Greater,
            (false, true) => core::cmp::Ordering::Less,
            _ => a.partial_cmp(&b).unwrap_or(core::cmp::Ordering::Equal),
        }
    };
    let mut rows = try_vec(r.outer * r.inner)?;
    for o in 0..r.outer {
        for i in 0..r.inner {
            let mut js: Vec<usize> = try_collect(0..r.dim)?;
            js.sort_by(|&p, &q| {
                let c = key(v[r.at(o, i, p)], v[r.at(o, i, q)]);
                if ascending {
                    c
                } else {
                    c.reverse()
                }
            });
            rows.push(js);
        }
    }
    Ok((r, rows))
}

/// An array of `shape` and `dtype` from float64 values (index outputs).
fn from_values(shape: Vec<usize>, vals: Vec<f64>, dtype: DType) -> Result<Tensor> {
    fn go<T: Elem>(vals: &[f64]) -> Result<Data> {
        let mut out = alloc_empty::<T>(vals.len())?;
        out.extend(vals.iter().map(|&v| T::from_f64(v)));
        Ok(wrap(out))
    }
    let data = crate::with_elem!(dtype, T => go::<T>(&vals)?);
    Tensor::from_vec(shape, data)
}

/// Row positions (o, i) in the order the output of a reduction over the
/// axis lays them out.
fn sorted_shape(x: &Tensor, ax: usize, k: usize) -> Vec<usize> {
    let mut s = x.shape.clone();
    s[ax] = k;
    s
}

/// MXNet's `sort(data, axis, is_ascend)`.
pub fn sort(x: &Tensor, axis: i64, ascending: bool) -> Result<Tensor> {
    topk_named(x, axis, None, TopK::Value, ascending, "sort")
}

/// MXNet's `argsort(data, axis, is_ascend)` (indices in the input's dtype).
pub fn argsort(x: &Tensor, axis: i64, ascending: bool) -> Result<Tensor> {
    topk_named(x, axis, None, TopK::Indices, ascending, "argsort")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TopK {
    Value,
    Indices,
    Mask,
}

impl TopK {
    pub fn from_code(c: u32) -> Option<TopK> {
        [TopK::Value, TopK::Indices, TopK::Mask]
            .get(c as usize)
            .copied()
    }
}

/// MXNet's `topk(data, axis, k, ret_typ, is_ascend)`; `k` None sorts the
/// whole axis.
pub fn topk(x: &Tensor, axis: i64, k: Option<i64>, ret: TopK, ascending: bool) -> Result<Tensor> {
    topk_named(x, axis, k, ret, ascending, "topk")
}

fn topk_named(
    x: &Tensor,
    axis: i64,
    k: Option<i64>,
    ret: TopK,
    ascending: bool,
    name: &'static str,
) -> Result<Tensor> {
    if x.ndim() == 0 {
        return Err(Error::invalid(format!("{name}: cannot sort a 0-d array")));
    }
    let ax = super::axis_of(x, axis, name)?;
    let dim = x.shape[ax];
    let k = match k {
        None => dim,
        Some(k) if k >= 1 && (k as u64) <= dim as u64 => k as usize,
        Some(k) => {
            return Err(Error::invalid(format!(
                "{name}: k must be in [1, {dim}] for axis {ax} of shape {} (got {k})",
                x.shape_str()
            )))
        }
    };
    let shape = sorted_shape(x, ax, k);
    if x.size() == 0 {
        // Nothing to order. The rows are not counted: with a zero-length
        // axis the other dimensions may be huge (their product overflows).
        return match ret {
            TopK::Value => gather(x, Rc::new(Vec::new()), shape, name),
            TopK::Indices => from_values(shape, Vec::new(), x.dtype()),
            TopK::Mask => from_values(x.shape.clone(), Vec::new(), x.dtype()),
        };
    }
    let (r, rows) = order_rows(x, ax, ascending)?;
    match ret {
        TopK::Value => {
            let mut idx = try_filled(size(&shape), 0usize)?;
            let rk = Rows {
                outer: r.outer,
                dim: k,
                inner: r.inner,
            };
            for o in 0..r.outer {
                for i in 0..r.inner {
                    for (p, &j) in rows[o * r.inner + i][..k].iter().enumerate() {
                        idx[rk.at(o, i, p)] = r.at(o, i, j);
                    }
                }
            }
            gather(x, Rc::new(idx), shape, name)
        }
        TopK::Indices => {
            let mut vals = try_filled(size(&shape), 0f64)?;
            let rk = Rows {
                outer: r.outer,
                dim: k,
                inner: r.inner,
            };
            for o in 0..r.outer {
                for i in 0..r.inner {
                    for (p, &j) in rows[o * r.inner + i][..k].iter().enumerate() {
                        vals[rk.at(o, i, p)] = j as f64;
                    }
                }
            }
            from_values(shape, vals, x.dtype())
        }
        TopK::Mask => {
            let mut vals = try_filled(x.size(), 0f64)?;
            for o in 0..r.outer {
                for i in 0..r.inner {
                    for &j in &rows[o * r.inner + i][..k] {
                        vals[r.at(o, i, j)] = 1.0;
                    }
                }
            }
            from_values(x.shape.clone(), vals, x.dtype())
        }
    }
}

/// MXNet's `argmax`/`argmin` (first occurrence; NaN wins, as in NumPy).
/// `axis` None: the index into the flattened array, shape [1].
pub fn argext(x: &Tensor, axis: Option<i64>, keepdims: bool, max: bool) -> Result<Tensor> {
    let name = if max { "argmax" } else { "argmin" };
    let (src, ax) = match axis {
        None => (super::reshape_to(x, &[x.size()])?, 0),
        Some(a) => (x.clone(), super::axis_of(x, a, name)?),
    };
    if src.ndim() == 0 || src.shape[ax] == 0 {
        return Err(Error::invalid(format!(
            "{name}: attempt to get {name} of an empty sequence (shape {})",
            x.shape_str()
        )));
    }
    let r = Rows::of(&src.shape, ax);
    let v = src.try_f64_vec()?;
    let mut out = try_vec(r.outer * r.inner)?;
    for o in 0..r.outer {
        for i in 0..r.inner {
            let mut best = 0usize;
            let mut bv = v[r.at(o, i, 0)];
            for j in 1..r.dim {
                if bv.is_nan() {
                    break;
                }
                let e = v[r.at(o, i, j)];
                if e.is_nan() || (max && e > bv) || (!max && e < bv) {
                    best = j;
                    bv = e;
                }
            }
            out.push(best as f64);
        }
    }
    let shape = match axis {
        None => vec![1],
        Some(_) if keepdims => sorted_shape(&src, ax, 1),
        Some(_) => {
            let mut s = src.shape.clone();
            s.remove(ax);
            if s.is_empty() {
                vec![1]
            } else {
                s
            }
        }
    };
    let shape = if axis.is_none() && keepdims {
        vec![1; x.ndim().max(1)]
    } else {
        shape
    };
    from_values(shape, out, x.dtype())
}

/// MXNet's `one_hot(indices, depth, on_value, off_value, dtype)`.
pub fn one_hot(indices: &Tensor, depth: i64, on: f64, off: f64, dtype: DType) -> Result<Tensor> {
    if depth < 0 {
        return Err(Error::invalid(format!(
            "oneHot: depth must be non-negative (got {depth})"
        )));
    }
    let d = depth as usize;
    let mut shape = indices.shape.clone();
    shape.push(d);
    let n = checked_size(&shape).map_err(|e| e.in_op("oneHot"))?;
    let mut vals = Vec::new();
    vals.try_reserve_exact(n)
        .map_err(|_| Error::oom(n, dtype).in_op("oneHot"))?;
    vals.resize(n, off);
    for (p, v) in indices.try_f64_vec()?.into_iter().enumerate() {
        let i = v.trunc();
        if i >= 0.0 && i < d as f64 {
            vals[p * d + i as usize] = on;
        }
    }
    from_values(shape, vals, dtype)
}

/// MXNet's `where(condition, x, y)`, with NumPy broadcasting of all three.
pub fn where_(cond: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    same_dtype("where", x, y)?;
    let s1 = crate::shape::broadcast_shapes(&cond.shape, &x.shape).map_err(|e| e.in_op("where"))?;
    let oshape = crate::shape::broadcast_shapes(&s1, &y.shape).map_err(|e| e.in_op("where"))?;
    let n = checked_size(&oshape).map_err(|e| e.in_op("where"))?;
    let cb = super::broadcast_to(&cond.detached(), &oshape)?;
    let xb = super::broadcast_to(&x.detached(), &oshape)?;
    let yb = super::broadcast_to(&y.detached(), &oshape)?;
    let mask: Vec<bool> = try_collect(cb.try_f64_vec()?.into_iter().map(|v| v != 0.0))?;
    fn go<T: Elem>(m: &[bool], a: &[T], b: &[T], n: usize) -> Result<Data> {
        let mut out = alloc_empty::<T>(n)?;
        out.extend(
            m.iter()
                .zip(a.iter().zip(b))
                .map(|(&c, (&p, &q))| if c { p } else { q }),
        );
        Ok(wrap(out))
    }
    let data = {
        let (xd, yd) = (xb.data()?, yb.data()?);
        match (&*xd, &*yd) {
            (Data::F32(a), Data::F32(b)) => go(&mask, a, b, n),
            (Data::F64(a), Data::F64(b)) => go(&mask, a, b, n),
            (Data::I32(a), Data::I32(b)) => go(&mask, a, b, n),
            (Data::U8(a), Data::U8(b)) => go(&mask, a, b, n),
            _ => Err(Error::internal("dtype mismatch after the check")),
        }
        .map_err(|e| e.in_op("where"))?
    };
    let mut t = Tensor::from_vec(oshape, data)?;
    let rec = || Op::Where {
        x_shape: x.shape.clone(),
        y_shape: y.shape.clone(),
    };
    record(rec, &[cond, x, y], || vec![cond.detached()], &mut t);
    Ok(t)
}

pub(super) fn where_backward(
    x_shape: &[usize],
    y_shape: &[usize],
    s: &[Tensor],
    dy: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let cond = super::saved(s, 0)?;
    let m = super::astype(&super::scalar(BinOp::NotEqual, cond, 0.0)?, dy.dtype())?;
    let gx = super::mul(dy, &m)?;
    let gy = super::mul(dy, &super::rscalar(BinOp::Sub, 1.0, &m)?)?;
    Ok(vec![
        None,
        Some(super::sum_to(&gx, x_shape)?),
        Some(super::sum_to(&gy, y_shape)?),
    ])
}
