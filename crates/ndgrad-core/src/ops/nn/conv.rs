//! MXNet's `Convolution` (1-D NCW, 2-D NCHW) and `Deconvolution` (the
//! transposed convolution), with gradients of every order.
//!
//! Three recorded ops share one geometry (`kernels::conv::Geom`): the
//! convolution `y = conv(x, w)`, its data adjoint `x = convᵀ(y, w)` (also
//! the forward of `Deconvolution`) and its weight adjoint
//! `w = corr(x, y)`. All three are bilinear and adjoint to one another
//! (`⟨conv(x, w), y⟩ = ⟨x, convᵀ(y, w)⟩ = ⟨w, corr(x, y)⟩`), so the backward
//! of each is written with the other two, themselves recorded: gradients of
//! any order stay convolutions.
//!
//! Semantics and checks follow MXNet 1.9.1 `src/operator/nn/convolution.cc`
//! and `deconvolution.cc` (shape inference, "kernel size exceed input",
//! "must divide group size", "adj must be smaller than stride").

use crate::autograd::record;
use crate::dtype::{wrap, Data, Elem};
use crate::error::{Error, Result};
use crate::kernels::conv::{self, Geom};
use crate::kernels::RedOp;
use crate::ops::{binary, float_only, reduce, reshape_to, same_dtype, saved, Op};
use crate::shape::{checked_size, fmt_shape};
use crate::storage::{alloc_empty, Tensor};

/// The parameters of `Convolution` / `Deconvolution` as given (one entry per
/// spatial axis in each list; empty lists take MXNet's defaults: stride 1,
/// pad 0, dilate 1, adj 0).
#[derive(Clone, Debug, Default)]
pub struct ConvParams {
    pub kernel: Vec<i64>,
    pub stride: Vec<i64>,
    pub pad: Vec<i64>,
    pub dilate: Vec<i64>,
    pub adj: Vec<i64>,
    pub num_filter: i64,
    pub num_group: i64,
}

/// Which of the three adjoint products a node computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvKind {
    /// `(x, w[, b]) → y`
    Forward,
    /// `(y, w) → x`: the data gradient, and `Deconvolution`.
    Data,
    /// `(x, y) → w`: the weight gradient.
    Weight,
}

/// The shapes of a geometry's three sides, for its spatial rank.
fn x_shape(g: &Geom, rank: usize) -> Vec<usize> {
    if rank == 1 {
        vec![g.n, g.c, g.w]
    } else {
        vec![g.n, g.c, g.h, g.w]
    }
}
fn y_shape(g: &Geom, rank: usize) -> Vec<usize> {
    if rank == 1 {
        vec![g.n, g.f, g.ow]
    } else {
        vec![g.n, g.f, g.oh, g.ow]
    }
}
fn w_shape(g: &Geom, rank: usize) -> Vec<usize> {
    if rank == 1 {
        vec![g.f, g.cg(), g.kw]
    } else {
        vec![g.f, g.cg(), g.kh, g.kw]
    }
}

/// One spatial list: `rank` values (or the default when empty), each at
/// least `min`.
fn list(
    name: &str,
    what: &str,
    v: &[i64],
    rank: usize,
    default: usize,
    min: i64,
) -> Result<Vec<usize>> {
    if v.is_empty() {
        return Ok(vec![default; rank]);
    }
    if v.len() != rank {
        return Err(Error::invalid(format!(
            "{name}: {what} has {} values but kernel has {rank} (one per spatial axis)",
            v.len()
        )));
    }
    v.iter()
        .map(|&d| {
            if d < min || d > u32::MAX as i64 {
                Err(Error::invalid(format!(
                    "{name}: {what} must be >= {min} (got {v:?})"
                )))
            } else {
                Ok(d as usize)
            }
        })
        .collect()
}

/// The validated spatial parameters: kernel, stride, pad, dilate, adj,
/// each of 2 values (a 1-D operation has height 1: kernel 1, stride 1,
/// pad 0, dilate 1, adj 0 there).
struct Spatial {
    rank: usize,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 2],
    d: [usize; 2],
    a: [usize; 2],
    groups: usize,
    filters: usize,
}

fn spatial(name: &str, p: &ConvParams, data: &Tensor) -> Result<Spatial> {
    let rank = p.kernel.len();
    if rank != 1 && rank != 2 {
        return Err(Error::invalid(format!(
            "{name}: kernel must have 1 (NCW) or 2 (NCHW) values, got {:?} (data shape {})",
            p.kernel,
            data.shape_str()
        )));
    }
    if data.ndim() != rank + 2 {
        return Err(Error::shape(format!(
            "{name}: data must be {}-D ({}) for a {rank}-D kernel, got shape {}",
            rank + 2,
            if rank == 1 { "N, C, W" } else { "N, C, H, W" },
            data.shape_str()
        )));
    }
    let k = list(name, "kernel", &p.kernel, rank, 1, 1)?;
    let s = list(name, "stride", &p.stride, rank, 1, 1)?;
    let pd = list(name, "pad", &p.pad, rank, 0, 0)?;
    let d = list(name, "dilate", &p.dilate, rank, 1, 1)?;
    let a = list(name, "adj", &p.adj, rank, 0, 0)?;
    if p.num_filter < 1 || p.num_filter > u32::MAX as i64 {
        return Err(Error::invalid(format!(
            "{name}: numFilter must be >= 1 (got {})",
            p.num_filter
        )));
    }
    if p.num_group < 1 || p.num_group > u32::MAX as i64 {
        return Err(Error::invalid(format!(
            "{name}: numGroup must be >= 1 (got {})",
            p.num_group
        )));
    }
    let two = |v: &[usize], one: usize| if rank == 1 { [one, v[0]] } else { [v[0], v[1]] };
    Ok(Spatial {
        rank,
        k: two(&k, 1),
        s: two(&s, 1),
        p: two(&pd, 0),
        d: two(&d, 1),
        a: two(&a, 0),
        groups: p.num_group as usize,
        filters: p.num_filter as usize,
    })
}

fn spatial_dims(data: &Tensor, rank: usize) -> (usize, usize, usize, usize) {
    let s = &data.shape;
    if rank == 1 {
        (s[0], s[1], 1, s[2])
    } else {
        (s[0], s[1], s[2], s[3])
    }
}

/// MXNet's rule for both directions: numGroup divides the data's channels
/// and numFilter.
fn check_groups(name: &str, channels: usize, sp: &Spatial, data: &Tensor) -> Result<()> {
    if !channels.is_multiple_of(sp.groups) {
        return Err(Error::invalid(format!(
            "{name}: numGroup {} must divide the data's {channels} channels (data shape {})",
            sp.groups,
            data.shape_str()
        )));
    }
    if !sp.filters.is_multiple_of(sp.groups) {
        return Err(Error::invalid(format!(
            "{name}: numGroup {} must divide numFilter {}",
            sp.groups, sp.filters
        )));
    }
    Ok(())
}

fn check_weight(name: &str, w: &Tensor, want: &[usize], data: &Tensor) -> Result<()> {
    if w.shape != want {
        return Err(Error::shape(format!(
            "{name}: weight must have shape {} for data of shape {}, got {}",
            fmt_shape(want),
            data.shape_str(),
            w.shape_str()
        )));
    }
    Ok(())
}

fn check_bias(name: &str, b: Option<&Tensor>, filters: usize) -> Result<()> {
    if let Some(b) = b {
        if b.shape != [filters] {
            return Err(Error::shape(format!(
                "{name}: bias must have shape [{filters}] (numFilter), got {}",
                b.shape_str()
            )));
        }
    }
    Ok(())
}

fn dtypes(name: &str, data: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<()> {
    float_only(name, data)?;
    same_dtype(name, data, w)?;
    if let Some(b) = b {
        same_dtype(name, data, b)?;
    }
    Ok(())
}

/// The geometry of `Convolution(data, weight, …)`, checked as MXNet does.
pub fn conv_geom(
    data: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: &ConvParams,
) -> Result<(Geom, usize)> {
    let name = "Convolution";
    let sp = spatial(name, p, data)?;
    let (n, c, h, wd) = spatial_dims(data, sp.rank);
    check_groups(name, c, &sp, data)?;
    let mut out = [0usize; 2];
    for (i, len) in [h, wd].into_iter().enumerate() {
        let dk = sp.d[i] * (sp.k[i] - 1) + 1;
        let padded = len + 2 * sp.p[i];
        if dk > padded {
            return Err(Error::shape(format!(
                "{name}: kernel size exceeds the padded input: dilated kernel {:?} larger than data {} padded by {:?}",
                &p.kernel,
                data.shape_str(),
                if p.pad.is_empty() { vec![0; sp.rank] } else { p.pad.clone() }
            )));
        }
        out[i] = (padded - dk) / sp.s[i] + 1;
    }
    let g = Geom {
        n,
        c,
        h,
        w: wd,
        f: sp.filters,
        oh: out[0],
        ow: out[1],
        kh: sp.k[0],
        kw: sp.k[1],
        sh: sp.s[0],
        sw: sp.s[1],
        ph: sp.p[0],
        pw: sp.p[1],
        dh: sp.d[0],
        dw: sp.d[1],
        groups: sp.groups,
    };
    check_weight(name, w, &w_shape(&g, sp.rank), data)?;
    check_bias(name, b, sp.filters)?;
    dtypes(name, data, w, b)?;
    checked_size(&y_shape(&g, sp.rank)).map_err(|e| e.in_op(name))?;
    Ok((g, sp.rank))
}

/// The geometry of `Deconvolution(data, weight, …)`: the convolution whose
/// output is `data` and whose input is the result.
pub fn deconv_geom(
    data: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    p: &ConvParams,
) -> Result<(Geom, usize)> {
    let name = "Deconvolution";
    let sp = spatial(name, p, data)?;
    let (n, cin, h, wd) = spatial_dims(data, sp.rank);
    check_groups(name, cin, &sp, data)?;
    let mut out = [0usize; 2];
    for (i, len) in [h, wd].into_iter().enumerate() {
        if sp.a[i] >= sp.s[i] {
            return Err(Error::invalid(format!(
                "{name}: adj {:?} must be smaller than stride {:?}",
                p.adj,
                if p.stride.is_empty() {
                    vec![1; sp.rank]
                } else {
                    p.stride.clone()
                }
            )));
        }
        let dk = sp.d[i] * (sp.k[i] - 1) + 1;
        // MXNet: stride·(in − 1) + dilated kernel − 2·pad + adj.
        let full = sp.s[i] * (len.max(1) - 1) + dk + sp.a[i];
        if len == 0 || full <= 2 * sp.p[i] {
            return Err(Error::shape(format!(
                "{name}: pad {:?} too large: no output for data of shape {} with kernel {:?}",
                p.pad,
                data.shape_str(),
                p.kernel
            )));
        }
        out[i] = full - 2 * sp.p[i];
    }
    let g = Geom {
        n,
        c: sp.filters,
        h: out[0],
        w: out[1],
        f: cin,
        oh: h,
        ow: wd,
        kh: sp.k[0],
        kw: sp.k[1],
        sh: sp.s[0],
        sw: sp.s[1],
        ph: sp.p[0],
        pw: sp.p[1],
        dh: sp.d[0],
        dw: sp.d[1],
        groups: sp.groups,
    };
    check_weight(name, w, &w_shape(&g, sp.rank), data)?;
    check_bias(name, b, sp.filters)?;
    dtypes(name, data, w, b)?;
    checked_size(&x_shape(&g, sp.rank)).map_err(|e| e.in_op(name))?;
    Ok((g, sp.rank))
}

fn run<T: Elem>(kind: ConvKind, g: &Geom, a: &[T], b: &[T], bias: Option<&[T]>) -> Result<Data> {
    let len = match kind {
        ConvKind::Forward => g.y_len(),
        ConvKind::Data => g.x_len(),
        ConvKind::Weight => g.w_len(),
    };
    let mut out = alloc_empty::<T>(len)?;
    match kind {
        ConvKind::Forward => conv::forward(g, a, b, bias, &mut out)?,
        ConvKind::Data => conv::backward_data(g, a, b, &mut out)?,
        ConvKind::Weight => conv::backward_weight(g, a, b, &mut out)?,
    }
    if out.len() != len {
        return Err(Error::internal(format!(
            "convolution kernel wrote {} values, expected {len}",
            out.len()
        )));
    }
    Ok(wrap(out))
}

/// float32 on the packed kernels (`kernels::conv::forward_f32`); the data
/// gradient of strided or over-padded geometries keeps the generic path.
fn run_f32(kind: ConvKind, g: &Geom, a: &[f32], b: &[f32], bias: Option<&[f32]>) -> Result<Data> {
    let len = match kind {
        ConvKind::Forward => g.y_len(),
        _ => g.x_len(),
    };
    let mut out = alloc_empty::<f32>(len)?;
    let done = match kind {
        ConvKind::Forward => {
            conv::forward_f32(g, a, b, bias, &mut out)?;
            true
        }
        _ => conv::backward_data_f32(g, a, b, &mut out)?.is_some(),
    };
    if !done {
        return run(kind, g, a, b, bias);
    }
    if out.len() != len {
        return Err(Error::internal(format!(
            "convolution kernel wrote {} values, expected {len}",
            out.len()
        )));
    }
    Ok(wrap(out))
}

/// The shapes each kind reads and writes: (first input, second input,
/// output).
fn shapes(kind: ConvKind, g: &Geom, rank: usize) -> [Vec<usize>; 3] {
    let (x, y, w) = (x_shape(g, rank), y_shape(g, rank), w_shape(g, rank));
    match kind {
        ConvKind::Forward => [x, w, y],
        ConvKind::Data => [y, w, x],
        ConvKind::Weight => [x, y, w],
    }
}

/// One of the three products on tensors of the geometry's shapes, recorded.
pub(crate) fn product(
    kind: ConvKind,
    g: &Geom,
    rank: usize,
    a: &Tensor,
    b: &Tensor,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let [sa, sb, so] = shapes(kind, g, rank);
    if a.shape != sa || b.shape != sb {
        return Err(Error::internal(format!(
            "convolution {kind:?}: operands of shapes {} and {}, expected {} and {}",
            a.shape_str(),
            b.shape_str(),
            fmt_shape(&sa),
            fmt_shape(&sb)
        )));
    }
    let data = {
        let (ad, bd) = (a.data()?, b.data()?);
        let biasd = bias.map(|t| t.data()).transpose()?;
        match (&*ad, &*bd, biasd.as_deref()) {
            (Data::F32(x), Data::F32(y), None) if kind == ConvKind::Weight => {
                let mut out = alloc_empty::<f32>(g.w_len())?;
                conv::backward_weight_f32(g, x, y, &mut out)?;
                wrap(out)
            }
            (Data::F32(x), Data::F32(y), b) if kind != ConvKind::Weight => {
                let bias = match b {
                    None => None,
                    Some(Data::F32(z)) => Some(&z[..]),
                    Some(_) => return Err(Error::internal("convolution: bias dtype")),
                };
                run_f32(kind, g, x, y, bias)?
            }
            (Data::F32(x), Data::F32(y), None) => run(kind, g, x, y, None)?,
            (Data::F32(x), Data::F32(y), Some(Data::F32(z))) => run(kind, g, x, y, Some(z))?,
            (Data::F64(x), Data::F64(y), None) => run(kind, g, x, y, None)?,
            (Data::F64(x), Data::F64(y), Some(Data::F64(z))) => run(kind, g, x, y, Some(z))?,
            _ => {
                return Err(Error::internal(
                    "convolution: dtypes differ after the check",
                ))
            }
        }
    };
    let mut t = Tensor::from_vec(so, data)?;
    let mut inputs = vec![a, b];
    if let Some(bias) = bias {
        inputs.push(bias);
    }
    record(
        || Op::Conv {
            kind,
            geom: *g,
            rank,
        },
        &inputs,
        || vec![a.clone(), b.clone()],
        &mut t,
    );
    Ok(t)
}

/// The backward of one of the three products: with `G` the output's
/// gradient, each input's gradient is another of the three.
pub(crate) fn backward(
    kind: ConvKind,
    g: &Geom,
    rank: usize,
    s: &[Tensor],
    dy: &Tensor,
    needs: &[bool],
) -> Result<Vec<Option<Tensor>>> {
    let (a, b) = (saved(s, 0)?, saved(s, 1)?);
    let need = |i: usize| needs.get(i).copied().unwrap_or(true);
    let (ga, gb) = match kind {
        // y = conv(x, w): dx = convᵀ(dy, w), dw = corr(x, dy)
        ConvKind::Forward => (
            need(0)
                .then(|| product(ConvKind::Data, g, rank, dy, b, None))
                .transpose()?,
            need(1)
                .then(|| product(ConvKind::Weight, g, rank, a, dy, None))
                .transpose()?,
        ),
        // x = convᵀ(y, w): dy = conv(G, w), dw = corr(G, y)
        ConvKind::Data => (
            need(0)
                .then(|| product(ConvKind::Forward, g, rank, dy, b, None))
                .transpose()?,
            need(1)
                .then(|| product(ConvKind::Weight, g, rank, dy, a, None))
                .transpose()?,
        ),
        // w = corr(x, y): dx = convᵀ(y, G), dy = conv(x, G)
        ConvKind::Weight => (
            need(0)
                .then(|| product(ConvKind::Data, g, rank, b, dy, None))
                .transpose()?,
            need(1)
                .then(|| product(ConvKind::Forward, g, rank, a, dy, None))
                .transpose()?,
        ),
    };
    let mut out = vec![ga, gb];
    // Only the forward takes a bias: its gradient sums dy over all but the
    // channel axis.
    if kind == ConvKind::Forward && needs.len() > 2 {
        out.push(if need(2) {
            let axes: Vec<i64> = if rank == 1 { vec![0, 2] } else { vec![0, 2, 3] };
            Some(reduce(RedOp::Sum, dy, Some(&axes), false)?)
        } else {
            None
        });
    }
    Ok(out)
}

/// MXNet's `Convolution(data, weight, bias)`; `bias` None is `no_bias`.
pub fn convolution(
    data: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvParams,
) -> Result<Tensor> {
    let (g, rank) = conv_geom(data, w, bias, p)?;
    product(ConvKind::Forward, &g, rank, data, w, bias)
}

/// MXNet's `Deconvolution(data, weight, bias)`; `bias` None is `no_bias`.
pub fn deconvolution(
    data: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    p: &ConvParams,
) -> Result<Tensor> {
    let (g, rank) = deconv_geom(data, w, bias, p)?;
    let y = product(ConvKind::Data, &g, rank, data, w, None)?;
    match bias {
        None => Ok(y),
        Some(b) => {
            let bs = if rank == 1 {
                vec![1, g.c, 1]
            } else {
                vec![1, g.c, 1, 1]
            };
            binary(crate::kernels::BinOp::Add, &y, &reshape_to(b, &bs)?)
        }
    }
}

/// The output shape of `Convolution` (`deconv` false) or `Deconvolution`
/// for the given data and weight shapes, with every check of the op: what
/// the worker's client asks before the op has run.
pub fn output_shape(
    deconv: bool,
    data: &[usize],
    weight: &[usize],
    p: &ConvParams,
) -> Result<Vec<usize>> {
    // Shape-only stand-ins: zero-length buffers are never read here.
    let stand_in = |s: &[usize]| -> Result<Tensor> {
        let t = Tensor::from_vec(vec![0], Vec::<f32>::new())?;
        Ok(t.with_shape(s.to_vec()))
    };
    let (d, w) = (stand_in(data)?, stand_in(weight)?);
    let (g, rank) = if deconv {
        deconv_geom(&d, &w, None, p)?
    } else {
        conv_geom(&d, &w, None, p)?
    };
    Ok(if deconv {
        x_shape(&g, rank)
    } else {
        y_shape(&g, rank)
    })
}
