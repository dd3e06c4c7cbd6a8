//! `nd.Pooling` (MXNet 1.9.1 `src/operator/nn/pooling.cc`, `pooling-inl.h`,
//! `pool.h`): max, avg and sum pooling over NCW / NCHW data.
//!
//! Gradients, to every order:
//! - max pooling is a gather of the input at the argmax positions the forward
//!   kernel found (`PoolMax`); its gradient is the scatter-add of `dy` to
//!   those positions (`PoolMaxGrad`), whose gradient is the gather again;
//! - avg / sum pooling is linear: its gradient is the adjoint (each output
//!   gradient spread over its window, `sum_unpool`), and the adjoint's
//!   gradient is the pooling again (`PoolLinear { adjoint }`).

use std::rc::Rc;

use super::Op;
use crate::autograd::{record, will_record};
use crate::dtype::{wrap, Data};
use crate::error::{Error, Result};
use crate::kernels::pool::{self as k, Float, Geom, NO_ARGMAX};
use crate::shape::{checked_size, fmt_shape};
use crate::storage::{alloc_empty, alloc_zeroed, Tensor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolType {
    Max,
    Avg,
    Sum,
}

impl PoolType {
    /// The FFI's code: 0 max, 1 avg, 2 sum.
    pub fn from_code(c: u32) -> Result<PoolType> {
        match c {
            0 => Ok(PoolType::Max),
            1 => Ok(PoolType::Avg),
            2 => Ok(PoolType::Sum),
            _ => Err(Error::invalid(format!(
                "Pooling: unknown poolType code {c} (max, avg, sum)"
            ))),
        }
    }
}

/// `nd.Pooling`'s parameters as given (signed, so that a negative pad or a
/// zero stride is reported rather than wrapped).
#[derive(Clone, Debug)]
pub struct PoolParams {
    pub pool_type: PoolType,
    /// Empty: not given (only allowed with `global_pool`).
    pub kernel: Vec<i64>,
    /// Empty: 1 per spatial axis.
    pub stride: Vec<i64>,
    /// Empty: 0 per spatial axis.
    pub pad: Vec<i64>,
    pub global_pool: bool,
    /// `pooling_convention = "full"` (ceil) rather than `"valid"` (floor).
    pub full: bool,
    pub count_include_pad: bool,
}

/// The output shape of `nd.Pooling` on `shape` and its resolved geometry:
/// the one statement of MXNet's shape rule (`PoolingShape` in
/// `pooling.cc`), used by the operator and by the shape-only export.
pub fn pool_shape(shape: &[usize], p: &PoolParams) -> Result<(Vec<usize>, Geom)> {
    let bad =
        |msg: String| Error::invalid(format!("Pooling: {msg} (data shape {})", fmt_shape(shape)));
    let nd = shape.len();
    if nd == 5 {
        return Err(bad("3-D pooling (5-D data) is not supported".into()));
    }
    if nd != 3 && nd != 4 {
        return Err(bad(format!(
            "data must be 3-D (batch, channel, width) or 4-D (batch, channel, height, width), got {nd}-D"
        )));
    }
    let sp = nd - 2;
    let planes = shape[0]
        .checked_mul(shape[1])
        .ok_or_else(|| bad("too large".into()))?;
    // 1-D pooling runs as 2-D with a height of one.
    let (h, w) = if sp == 1 {
        (1, shape[2])
    } else {
        (shape[2], shape[3])
    };
    if p.global_pool {
        // MXNet: the kernel is the whole plane, pad 0, stride 1; kernel,
        // stride and pad given are ignored.
        let mut out = shape.to_vec();
        out[2..].fill(1);
        let g = Geom {
            planes,
            h,
            w,
            oh: 1,
            ow: 1,
            kh: h,
            kw: w,
            sh: 1,
            sw: 1,
            ph: 0,
            pw: 0,
        };
        return Ok((out, g));
    }
    if p.kernel.is_empty() {
        return Err(bad("kernel is required unless globalPool is true".into()));
    }
    if p.kernel.len() != sp {
        return Err(bad(format!(
            "a {}-D kernel {:?} needs {}-D data",
            p.kernel.len(),
            p.kernel,
            p.kernel.len() + 2
        )));
    }
    let per_axis = |v: &[i64], name: &str, default: i64| -> Result<Vec<i64>> {
        if v.is_empty() {
            Ok(vec![default; sp])
        } else if v.len() != sp {
            Err(bad(format!(
                "{name} {v:?} must have {sp} entries, as kernel {:?}",
                p.kernel
            )))
        } else {
            Ok(v.to_vec())
        }
    };
    let stride = per_axis(&p.stride, "stride", 1)?;
    let pad = per_axis(&p.pad, "pad", 0)?;
    let ins: Vec<usize> = shape[2..].to_vec();
    let mut outs = Vec::with_capacity(sp);
    for i in 0..sp {
        let (kk, s, pd) = (p.kernel[i], stride[i], pad[i]);
        if kk <= 0 {
            return Err(bad(format!("kernel {:?} must be positive", p.kernel)));
        }
        if s <= 0 {
            return Err(bad(format!("stride {stride:?} must be positive")));
        }
        if pd < 0 {
            return Err(bad(format!("pad {pad:?} must not be negative")));
        }
        let padded = (ins[i] as i64).checked_add(pd.saturating_mul(2));
        let padded = padded.ok_or_else(|| bad("pad too large".into()))?;
        if kk > padded {
            return Err(bad(format!(
                "kernel size ({kk}) exceeds input ({} padded to {padded})",
                ins[i]
            )));
        }
        let span = padded - kk;
        let o = if p.full {
            1 + (span + s - 1) / s
        } else {
            1 + span / s
        };
        outs.push(o as usize);
    }
    let mut out = shape[..2].to_vec();
    out.extend(&outs);
    checked_size(&out).map_err(|e| e.in_op("Pooling"))?;
    let u = |v: i64| v as usize;
    let g = if sp == 1 {
        Geom {
            planes,
            h: 1,
            w,
            oh: 1,
            ow: outs[0],
            kh: 1,
            kw: u(p.kernel[0]),
            sh: 1,
            sw: u(stride[0]),
            ph: 0,
            pw: u(pad[0]),
        }
    } else {
        Geom {
            planes,
            h,
            w,
            oh: outs[0],
            ow: outs[1],
            kh: u(p.kernel[0]),
            kw: u(p.kernel[1]),
            sh: u(stride[0]),
            sw: u(stride[1]),
            ph: u(pad[0]),
            pw: u(pad[1]),
        }
    };
    Ok((out, g))
}

/// Avg / sum pooling as a linear map (what its backward needs).
#[derive(Debug)]
pub struct Linear {
    pub geom: Geom,
    pub avg: bool,
    pub include_pad: bool,
    pub in_shape: Vec<usize>,
    pub out_shape: Vec<usize>,
}

/// MXNet's `Pooling(data, ...)`.
pub fn pooling(x: &Tensor, p: &PoolParams) -> Result<Tensor> {
    if !x.dtype().is_float() {
        return Err(Error::invalid(format!(
            "Pooling: not supported for {} arrays (shape {}); cast with astype(\"float32\") first",
            x.dtype().name(),
            x.shape_str()
        )));
    }
    let (out_shape, geom) = pool_shape(&x.shape, p)?;
    match p.pool_type {
        PoolType::Max => max_pool(x, &geom, out_shape),
        t => {
            let lin = Rc::new(Linear {
                geom,
                avg: t == PoolType::Avg,
                include_pad: p.count_include_pad,
                in_shape: x.shape.clone(),
                out_shape,
            });
            pool_linear(x, lin, false)
        }
    }
}

fn float_data<R>(
    d: &Data,
    f32f: impl FnOnce(&[f32]) -> Result<R>,
    f64f: impl FnOnce(&[f64]) -> Result<R>,
) -> Result<R> {
    match d {
        Data::F32(v) => f32f(v),
        Data::F64(v) => f64f(v),
        Data::I32(_) | Data::U8(_) => Err(Error::invalid("Pooling: integer data")),
    }
}

fn max_pool(x: &Tensor, g: &Geom, out_shape: Vec<usize>) -> Result<Tensor> {
    let n = checked_size(&out_shape)?;
    // Argmax positions are u32 (see NO_ARGMAX).
    if x.size() >= NO_ARGMAX as usize {
        return Err(Error::invalid(format!(
            "Pooling: max pooling of {} elements or more is not supported (shape {})",
            NO_ARGMAX,
            x.shape_str()
        )));
    }
    fn arg_vec(n: usize) -> Result<Vec<u32>> {
        let mut arg = Vec::new();
        arg.try_reserve_exact(n)
            .map_err(|_| Error::oom(n, crate::dtype::DType::I32))?;
        Ok(arg)
    }
    // Unrecorded (predict, or no input needs a gradient): the values alone,
    // without the argmax vector (4 bytes an output, and the index selects).
    if !will_record(&[x]) {
        let data = float_data(
            &*x.data()?,
            |v| {
                let mut out = alloc_empty::<f32>(n)?;
                k::max_pool_f32_values(v, g, &mut out);
                Ok(wrap(out))
            },
            |v| {
                let mut out = alloc_empty::<f64>(n)?;
                k::max_pool_values(v, g, &mut out);
                Ok(wrap(out))
            },
        )?;
        return Tensor::from_vec(out_shape, data);
    }
    let (data, arg) = float_data(
        &*x.data()?,
        |v| {
            let (mut out, mut arg) = (alloc_empty::<f32>(n)?, arg_vec(n)?);
            k::max_pool_f32(v, g, &mut out, &mut arg);
            Ok((wrap(out), arg))
        },
        |v| {
            let (mut out, mut arg) = (alloc_empty::<f64>(n)?, arg_vec(n)?);
            k::max_pool(v, g, &mut out, &mut arg);
            Ok((wrap(out), arg))
        },
    )?;
    let mut t = Tensor::from_vec(out_shape, data)?;
    let rec = || Op::PoolMax {
        idx: Rc::new(arg),
        in_shape: x.shape.clone(),
        geom: Rc::new(g.clone()),
    };
    record(rec, &[x], Vec::new, &mut t);
    Ok(t)
}

/// `out[k] = src[idx[k]]` (zero where `idx[k]` is `NO_ARGMAX`): max
/// pooling's values seen as a function of its input, for the gradient of
/// its gradient.
pub fn pool_gather(
    src: &Tensor,
    idx: Rc<Vec<u32>>,
    out_shape: Vec<usize>,
    geom: Rc<Geom>,
) -> Result<Tensor> {
    let n = checked_size(&out_shape)?;
    let len = src.size();
    if idx.len() != n || idx.iter().any(|&i| i != NO_ARGMAX && i as usize >= len) {
        return Err(Error::internal("Pooling: bad argmax indices"));
    }
    fn go<T: Float>(s: &[T], idx: &[u32], n: usize) -> Result<Data> {
        let mut out = alloc_empty::<T>(n)?;
        out.extend(idx.iter().map(|&i| {
            if i == NO_ARGMAX {
                T::ZERO
            } else {
                s[i as usize]
            }
        }));
        Ok(wrap(out))
    }
    let data = float_data(&*src.data()?, |v| go(v, &idx, n), |v| go(v, &idx, n))?;
    let mut t = Tensor::from_vec(out_shape, data)?;
    let rec = || Op::PoolMax {
        idx,
        in_shape: src.shape.clone(),
        geom,
    };
    record(rec, &[src], Vec::new, &mut t);
    Ok(t)
}

/// Max pooling's gradient: zeros of `in_shape` with `dy[k]` added at
/// `idx[k]` (MXNet's `unpool_max`).
pub fn pool_scatter(
    dy: &Tensor,
    idx: Rc<Vec<u32>>,
    in_shape: &[usize],
    geom: Rc<Geom>,
) -> Result<Tensor> {
    let n = checked_size(in_shape)?;
    if idx.len() != dy.size() {
        return Err(Error::internal("Pooling: bad argmax indices"));
    }
    let rec = |idx| Op::PoolMaxGrad {
        idx,
        out_shape: dy.shape.clone(),
        geom: geom.clone(),
    };
    // Non-overlapping 2×2 windows (LeNet's): each element written once,
    // without the zero fill. Rows of 8 outputs or more: on shorter ones the
    // per-row work costs more than the fill saves (LeNet's second pooling,
    // 5 outputs a row, ran 10 % slower; its first, 12, 15 % faster).
    let fast = geom.is_2x2_tiling() && geom.ow >= 8;
    if let (true, Data::F32(v)) = (fast, &*dy.data()?) {
        let mut out = alloc_empty::<f32>(n)?;
        if k::max_unpool_2x2_f32(v, &idx, &geom, &mut out) {
            let mut t = Tensor::from_vec(in_shape.to_vec(), wrap(out))?;
            record(|| rec(idx), &[dy], Vec::new, &mut t);
            return Ok(t);
        }
    }
    // One pass over the indices: the range check is the write's own
    // (`get_mut`), not a separate scan first. NO_ARGMAX (u32::MAX) is out of
    // range too, since the op refuses inputs of 2³² − 1 elements or more.
    fn go<T: Float>(s: &[T], idx: &[u32], n: usize) -> Result<Data> {
        let mut out = alloc_zeroed::<T>(n)?;
        let mut bad = false;
        for (&i, &v) in idx.iter().zip(s) {
            match out.get_mut(i as usize) {
                Some(o) => *o = *o + v,
                None => bad |= i != NO_ARGMAX,
            }
        }
        if bad {
            return Err(Error::internal("Pooling: bad argmax indices"));
        }
        Ok(wrap(out))
    }
    let data = float_data(&*dy.data()?, |v| go(v, &idx, n), |v| go(v, &idx, n))?;
    let mut t = Tensor::from_vec(in_shape.to_vec(), data)?;
    record(|| rec(idx), &[dy], Vec::new, &mut t);
    Ok(t)
}

/// Avg / sum pooling (`adjoint` false: input shape → output shape) or its
/// adjoint, the gradient (output shape → input shape).
pub fn pool_linear(src: &Tensor, lin: Rc<Linear>, adjoint: bool) -> Result<Tensor> {
    let (from, to) = if adjoint {
        (&lin.out_shape, &lin.in_shape)
    } else {
        (&lin.in_shape, &lin.out_shape)
    };
    if &src.shape != from {
        return Err(Error::internal(format!(
            "Pooling: shape {} where {} was expected",
            src.shape_str(),
            fmt_shape(from)
        )));
    }
    let n = checked_size(to)?;
    fn go<T: Float>(s: &[T], l: &Linear, adjoint: bool, n: usize) -> Result<Data> {
        if adjoint {
            let mut out = alloc_zeroed::<T>(n)?;
            k::sum_unpool(s, &l.geom, l.avg, l.include_pad, &mut out);
            Ok(wrap(out))
        } else {
            let mut out = alloc_empty::<T>(n)?;
            k::sum_pool(s, &l.geom, l.avg, l.include_pad, &mut out);
            Ok(wrap(out))
        }
    }
    let data = float_data(
        &*src.data()?,
        |v| go(v, &lin, adjoint, n),
        |v| go(v, &lin, adjoint, n),
    )?;
    let mut t = Tensor::from_vec(to.clone(), data)?;
    let rec = || Op::PoolLinear { lin, adjoint };
    record(rec, &[src], Vec::new, &mut t);
    Ok(t)
}
