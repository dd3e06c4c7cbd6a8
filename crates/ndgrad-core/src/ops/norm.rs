//! `nd.BatchNorm` and `nd.LayerNorm` (MXNet 1.9.1
//! `src/operator/nn/batch_norm.cc`, `batch_norm-inl.h`, `layer_norm.cc`).
//!
//! BatchNorm's forward and first-order backward are fused kernels (one pass
//! for the per-channel statistics, one for the output). When the backward
//! pass is itself recorded (`createGraph`), the backward is written with
//! recorded primitives instead — the full formula through the batch
//! statistics — so every order of derivative works. LayerNorm is written
//! with recorded primitives.

use super::{axis_of, binary, binary_scalar, reduce, reshape_to, saved, unary, Op};
use crate::autograd::{self, record};
use crate::dtype::{wrap, DType, Data};
use crate::error::{Error, Result};
use crate::kernels::pool::{self as k, ChannelLayout, Float};
use crate::kernels::{BinOp, RedOp, UnOp};
use crate::storage::{alloc_empty, try_collect, try_filled, Tensor};

#[derive(Clone, Copy, Debug)]
pub struct BatchNormOpts {
    pub eps: f64,
    pub momentum: f64,
    pub fix_gamma: bool,
    pub use_global_stats: bool,
    pub axis: i64,
}

/// What BatchNorm's backward needs besides its saved tensors
/// (`[x, gamma, mean, invstd]`).
pub struct BatchNormNode {
    layout: ChannelLayout,
    axis: usize,
    eps: f64,
    fix_gamma: bool,
    /// Statistics of the batch (train mode) rather than the moving ones.
    batch_stats: bool,
    /// The moving mean and variance MXNet updates in place when the
    /// backward pass runs in train mode.
    moving: Option<(Tensor, Tensor)>,
    momentum: f64,
}

fn check_param(name: &str, what: &str, t: &Tensor, x: &Tensor, c: usize) -> Result<()> {
    if t.shape != [c] {
        return Err(Error::invalid(format!(
            "{name}: {what} must have shape [{c}] for data of shape {} (got {})",
            x.shape_str(),
            t.shape_str()
        )));
    }
    if t.dtype() != x.dtype() {
        return Err(Error::invalid(format!(
            "{name}: dtype mismatch: data is {} (shape {}) but {what} is {} (shape {})",
            x.dtype().name(),
            x.shape_str(),
            t.dtype().name(),
            t.shape_str()
        )));
    }
    Ok(())
}

fn check_eps(name: &str, eps: f64) -> Result<()> {
    if eps.is_finite() && eps >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{name}: eps must be a finite number >= 0 (got {eps})"
        )))
    }
}

/// The per-channel layout of `x` along `axis`.
fn layout_of(x: &Tensor, axis: usize) -> ChannelLayout {
    ChannelLayout {
        outer: x.shape[..axis].iter().product(),
        channels: x.shape[axis],
        inner: x.shape[axis + 1..].iter().product(),
    }
}

/// Every axis but `axis`, for reductions to per-channel values.
fn other_axes(nd: usize, axis: usize) -> Vec<i64> {
    (0..nd).filter(|&a| a != axis).map(|a| a as i64).collect()
}

/// `[1, …, C, …, 1]`: a per-channel vector broadcast against the data.
fn channel_shape(nd: usize, axis: usize, c: usize) -> Vec<usize> {
    let mut s = vec![1; nd];
    s[axis] = c;
    s
}

/// MXNet's `BatchNorm(data, gamma, beta, moving_mean, moving_var, ...)`.
pub fn batch_norm(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    moving_mean: &Tensor,
    moving_var: &Tensor,
    o: &BatchNormOpts,
) -> Result<Tensor> {
    const NAME: &str = "BatchNorm";
    super::float_only(NAME, x)?;
    if x.ndim() < 2 {
        return Err(Error::invalid(format!(
            "{NAME}: data must have at least 2 dimensions (got shape {})",
            x.shape_str()
        )));
    }
    let axis = axis_of(x, o.axis, NAME)?;
    let c = x.shape[axis];
    check_param(NAME, "gamma", gamma, x, c)?;
    check_param(NAME, "beta", beta, x, c)?;
    check_param(NAME, "movingMean", moving_mean, x, c)?;
    check_param(NAME, "movingVar", moving_var, x, c)?;
    check_eps(NAME, o.eps)?;
    if !o.momentum.is_finite() {
        return Err(Error::invalid(format!(
            "{NAME}: momentum must be finite (got {})",
            o.momentum
        )));
    }
    let l = layout_of(x, axis);
    // MXNet: `ctx.is_train && !use_global_stats` (is_train: recording in
    // train mode, imperatively).
    let batch_stats = autograd::is_recording() && autograd::is_training() && !o.use_global_stats;

    let mut mean = vec_f64(c)?;
    let mut invstd = vec_f64(c)?;
    if batch_stats {
        let mut var = vec_f64(c)?;
        let d = x.data()?;
        match &*d {
            Data::F32(v) => k::channel_stats_f32(v, l, &mut mean, &mut var),
            Data::F64(v) => k::channel_stats(v, l, &mut mean, &mut var),
            Data::I32(_) | Data::U8(_) => return Err(Error::internal("BatchNorm: integer data")),
        }
        for (s, &v) in invstd.iter_mut().zip(&var) {
            // MXNet: "Nobody likes to divide by zero".
            *s = if v == 0.0 && o.eps == 0.0 {
                0.0
            } else {
                1.0 / (v + o.eps).sqrt()
            };
        }
    } else {
        mean.copy_from_slice(&moving_mean.try_f64_vec()?);
        for (s, v) in invstd.iter_mut().zip(moving_var.try_f64_vec()?) {
            *s = 1.0 / (v + o.eps).sqrt();
        }
    }
    let g = gamma.try_f64_vec()?;
    let b = beta.try_f64_vec()?;
    let mut scale = vec_f64(c)?;
    let mut shift = vec_f64(c)?;
    for i in 0..c {
        // fix_gamma: gamma is taken as 1 (its values are not read).
        let w = if o.fix_gamma { 1.0 } else { g[i] };
        scale[i] = w * invstd[i];
        shift[i] = b[i] - mean[i] * scale[i];
    }
    fn affine<T: Float>(x: &[T], l: ChannelLayout, sc: &[f64], sh: &[f64]) -> Result<Data> {
        let sc: Vec<T> = try_collect(sc.iter().map(|&v| T::from_f64(v)))?;
        let sh: Vec<T> = try_collect(sh.iter().map(|&v| T::from_f64(v)))?;
        let mut out = alloc_empty::<T>(x.len())?;
        k::channel_affine(x, l, &sc, &sh, &mut out);
        Ok(wrap(out))
    }
    let data = match &*x.data()? {
        Data::F32(v) => {
            let sc: Vec<f32> = scale.iter().map(|&v| v as f32).collect();
            let sh: Vec<f32> = shift.iter().map(|&v| v as f32).collect();
            let mut out = alloc_empty::<f32>(v.len())?;
            k::channel_affine_f32(v, l, &sc, &sh, &mut out);
            wrap(out)
        }
        Data::F64(v) => affine(v, l, &scale, &shift)?,
        Data::I32(_) | Data::U8(_) => return Err(Error::internal("BatchNorm: integer data")),
    };
    let mut t = Tensor::from_vec(x.shape.clone(), data)?;
    let dt = x.dtype();
    let rec = || {
        Op::BatchNorm(Box::new(BatchNormNode {
            layout: l,
            axis,
            eps: o.eps,
            fix_gamma: o.fix_gamma,
            batch_stats,
            moving: batch_stats.then(|| (moving_mean.detached(), moving_var.detached())),
            momentum: o.momentum,
        }))
    };
    let save = || {
        let v = |d: &[f64]| cast(d, dt).and_then(|d| Tensor::from_vec(vec![c], d)).ok();
        match (v(&mean), v(&invstd)) {
            (Some(m), Some(s)) => vec![x.clone(), gamma.clone(), m, s],
            // Allocation failed: backward reports the missing tensors.
            _ => vec![],
        }
    };
    record(rec, &[x, gamma, beta], save, &mut t);
    Ok(t)
}

fn vec_f64(n: usize) -> Result<Vec<f64>> {
    crate::storage::alloc_zeroed::<f64>(n)
}

/// Per-channel values as a tensor buffer of `dt`, allocated fallibly (a
/// LayerNorm's "channels" can be a whole long axis).
fn cast(v: &[f64], dt: DType) -> Result<Data> {
    Ok(match dt {
        DType::F64 => Data::F64(crate::storage::alloc_copy(v)?),
        _ => Data::F32(try_collect(v.iter().map(|&x| x as f32))?),
    })
}

impl BatchNormNode {
    pub fn backward(
        &self,
        saved_t: &[Tensor],
        dy: &Tensor,
        needs: [bool; 3],
    ) -> Result<Vec<Option<Tensor>>> {
        let x = saved(saved_t, 0)?;
        let gamma = saved(saved_t, 1)?;
        let mean = saved(saved_t, 2)?;
        let invstd = saved(saved_t, 3)?;
        if self.batch_stats {
            self.update_moving(mean, invstd)?;
        }
        if autograd::is_recording() {
            self.backward_recorded(x, gamma, mean, invstd, dy, needs)
        } else {
            self.backward_fused(x, gamma, mean, invstd, dy, needs)
        }
    }

    /// MXNet's update (`BatchNormBackwardImpl`, batch_norm.cc: it runs in the
    /// backward pass): `moving = moving·momentum + batch·(1 − momentum)`,
    /// with the batch's *biased* variance recovered from the saved inverse
    /// standard deviation (`INVSTD_TO_VARIANCE`: 1/invstd² − eps).
    fn update_moving(&self, mean: &Tensor, invstd: &Tensor) -> Result<()> {
        let Some((mm, mv)) = &self.moving else {
            return Ok(());
        };
        for t in [mm, mv] {
            if t.buf.tape_refs() > 0 {
                return Err(Error::invalid(format!(
                    "BatchNorm: cannot update the moving statistics (shape {}) in place: \
                     a recorded computation still needs their old values",
                    t.shape_str()
                )));
            }
        }
        let m = mean.try_f64_vec()?;
        let s = invstd.try_f64_vec()?;
        let mom = self.momentum;
        let eps = self.eps;
        let upd = |t: &Tensor, batch: &dyn Fn(usize) -> f64| -> Result<()> {
            let mut d = t.buf.write()?;
            match &mut *d {
                Data::F32(v) => {
                    let (m32, one) = (mom as f32, 1.0f32 - mom as f32);
                    for (i, e) in v.iter_mut().enumerate() {
                        *e = *e * m32 + batch(i) as f32 * one;
                    }
                }
                Data::F64(v) => {
                    for (i, e) in v.iter_mut().enumerate() {
                        *e = *e * mom + batch(i) * (1.0 - mom);
                    }
                }
                Data::I32(_) | Data::U8(_) => {}
            }
            Ok(())
        };
        upd(mm, &|i| m[i])?;
        upd(mv, &|i| {
            if s[i] == 0.0 {
                // invstd 0 (zero variance with eps 0): MXNet's formula gives inf.
                f64::INFINITY
            } else {
                1.0 / (s[i] * s[i]) - eps
            }
        })
    }

    fn backward_fused(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        mean: &Tensor,
        invstd: &Tensor,
        dy: &Tensor,
        needs: [bool; 3],
    ) -> Result<Vec<Option<Tensor>>> {
        let l = self.layout;
        let c = l.channels;
        let n = (l.outer * l.inner) as f64;
        let m = mean.try_f64_vec()?;
        let s = invstd.try_f64_vec()?;
        let g = gamma.try_f64_vec()?;
        let mut sum_dy = vec_f64(c)?;
        let mut sum_dyxc = vec_f64(c)?;
        {
            let (xd, gd) = (x.data()?, dy.data()?);
            match (&*xd, &*gd) {
                (Data::F32(xv), Data::F32(gv)) => {
                    k::channel_grad_sums_f32(xv, gv, l, &m, &mut sum_dy, &mut sum_dyxc)
                }
                (Data::F64(xv), Data::F64(gv)) => {
                    k::channel_grad_sums(xv, gv, l, &m, &mut sum_dy, &mut sum_dyxc)
                }
                _ => return Err(Error::internal("BatchNorm: gradient dtype")),
            }
        }
        let dt = x.dtype();
        let dx = if needs[0] {
            // MXNet: dx = (dy − mean(dy) − (x − mean)·k)·invstd·w with
            // k = Σdy(x − mean)·invstd²/n in train mode; dy·invstd·w otherwise.
            let (mut a, mut b, mut kk) = (vec_f64(c)?, vec_f64(c)?, vec_f64(c)?);
            for i in 0..c {
                let w = if self.fix_gamma { 1.0 } else { g[i] };
                let iw = s[i] * w;
                a[i] = iw;
                if self.batch_stats && n > 0.0 {
                    let kc = sum_dyxc[i] * s[i] * s[i] / n;
                    b[i] = -kc * iw;
                    kk[i] = (m[i] * kc - sum_dy[i] / n) * iw;
                }
            }
            fn go<T: Float>(
                x: &[T],
                dy: &[T],
                l: ChannelLayout,
                a: &[f64],
                b: &[f64],
                k: &[f64],
            ) -> Result<Data> {
                let t = |v: &[f64]| -> Result<Vec<T>> {
                    try_collect(v.iter().map(|&e| T::from_f64(e)))
                };
                let mut out = alloc_empty::<T>(x.len())?;
                k::channel_affine2(x, dy, l, &t(a)?, &t(b)?, &t(k)?, &mut out);
                Ok(wrap(out))
            }
            let (xd, gd) = (x.data()?, dy.data()?);
            let data = match (&*xd, &*gd) {
                (Data::F32(xv), Data::F32(gv)) => {
                    let t = |v: &[f64]| -> Vec<f32> { v.iter().map(|&e| e as f32).collect() };
                    let mut out = alloc_empty::<f32>(xv.len())?;
                    k::channel_affine2_f32(xv, gv, l, &t(&a), &t(&b), &t(&kk), &mut out);
                    wrap(out)
                }
                (Data::F64(xv), Data::F64(gv)) => go(xv, gv, l, &a, &b, &kk)?,
                _ => return Err(Error::internal("BatchNorm: gradient dtype")),
            };
            Some(Tensor::from_vec(x.shape.clone(), data)?)
        } else {
            None
        };
        let dgamma = if needs[1] {
            let v: Vec<f64> = if self.fix_gamma {
                try_filled(c, 0.0)?
            } else {
                try_collect((0..c).map(|i| sum_dyxc[i] * s[i]))?
            };
            Some(Tensor::from_vec(vec![c], cast(&v, dt)?)?)
        } else {
            None
        };
        let dbeta = if needs[2] {
            Some(Tensor::from_vec(vec![c], cast(&sum_dy, dt)?)?)
        } else {
            None
        };
        Ok(vec![dx, dgamma, dbeta])
    }

    /// The same formulas with recorded primitives (under `createGraph`):
    /// in train mode the statistics are recomputed from `x` so that their
    /// dependence on it is differentiated too.
    fn backward_recorded(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        mean: &Tensor,
        invstd: &Tensor,
        dy: &Tensor,
        needs: [bool; 3],
    ) -> Result<Vec<Option<Tensor>>> {
        let nd = x.ndim();
        let c = self.layout.channels;
        let axes = other_axes(nd, self.axis);
        let cs = channel_shape(nd, self.axis, c);
        let mean_k = |t: &Tensor| reduce(RedOp::Mean, t, Some(&axes), true);
        let sum_c = |t: &Tensor| reduce(RedOp::Sum, t, Some(&axes), false);
        let sub = |a: &Tensor, b: &Tensor| binary(BinOp::Sub, a, b);
        let mul = |a: &Tensor, b: &Tensor| binary(BinOp::Mul, a, b);
        let (xc, is) = if self.batch_stats {
            let xc = sub(x, &mean_k(x)?)?;
            let var = mean_k(&unary(UnOp::Square, &xc)?)?;
            let is = unary(
                UnOp::Rsqrt,
                &binary_scalar(BinOp::Add, &var, self.eps, false)?,
            )?;
            (xc, is)
        } else {
            let m = reshape_to(&mean.detached(), &cs)?;
            (sub(x, &m)?, reshape_to(&invstd.detached(), &cs)?)
        };
        let xhat = mul(&xc, &is)?;
        let dx = if needs[0] {
            let g = if self.batch_stats {
                let dyxhat = mean_k(&mul(dy, &xhat)?)?;
                sub(&sub(dy, &mean_k(dy)?)?, &mul(&xhat, &dyxhat)?)?
            } else {
                dy.clone()
            };
            let mut scale = is.clone();
            if !self.fix_gamma {
                scale = mul(&scale, &reshape_to(gamma, &cs)?)?;
            }
            Some(mul(&g, &scale)?)
        } else {
            None
        };
        let dgamma = if !needs[1] {
            None
        } else if self.fix_gamma {
            Some(Tensor::zeros(&[c], x.dtype())?)
        } else {
            Some(sum_c(&mul(dy, &xhat)?)?)
        };
        let dbeta = if needs[2] { Some(sum_c(dy)?) } else { None };
        Ok(vec![dx, dgamma, dbeta])
    }
}

/// MXNet's `LayerNorm(data, gamma, beta, axis=-1, eps=1e-5)`:
/// `(x − mean)/sqrt(var + eps)·gamma + beta` over `axis`, with the biased
/// variance (`layer_norm.cc`). The forward is one fused kernel (per row:
/// one pass for the statistics, one for the output); the backward is the
/// full formula in recorded primitives (`LayerNormNode`), so every order
/// of derivative works.
pub fn layer_norm(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    axis: i64,
    eps: f64,
) -> Result<Tensor> {
    const NAME: &str = "LayerNorm";
    super::float_only(NAME, x)?;
    let ax = axis_of(x, axis, NAME)?;
    let c = x.shape[ax];
    check_param(NAME, "gamma", gamma, x, c)?;
    check_param(NAME, "beta", beta, x, c)?;
    check_eps(NAME, eps)?;
    let l = layout_of(x, ax);
    let data = {
        let (xd, gd, bd) = (x.data()?, gamma.data()?, beta.data()?);
        match (&*xd, &*gd, &*bd) {
            (Data::F32(v), Data::F32(g), Data::F32(b)) => {
                let mut out = alloc_empty::<f32>(v.len())?;
                k::layer_norm_rows(v, l, g, b, eps, &mut out)?;
                wrap(out)
            }
            (Data::F64(v), Data::F64(g), Data::F64(b)) => {
                let mut out = alloc_empty::<f64>(v.len())?;
                k::layer_norm_rows(v, l, g, b, eps, &mut out)?;
                wrap(out)
            }
            _ => return Err(Error::internal("LayerNorm: dtypes")),
        }
    };
    let mut t = Tensor::from_vec(x.shape.clone(), data)?;
    let rec = || Op::LayerNorm(Box::new(LayerNormNode { axis: ax, eps }));
    record(
        rec,
        &[x, gamma, beta],
        || vec![x.clone(), gamma.clone()],
        &mut t,
    );
    Ok(t)
}

/// What LayerNorm's backward needs besides `[x, gamma]`.
pub struct LayerNormNode {
    axis: usize,
    eps: f64,
}

impl LayerNormNode {
    /// `x̂ = (x − mean)·rsqrt(var + eps)`; `dx = rsqrt(var + eps)·(g − mean(g)
    /// − x̂·mean(g·x̂))` with `g = dy·gamma`; `dgamma = Σ dy·x̂`, `dbeta = Σ dy`
    /// over every axis but `axis` — in recorded primitives (statistics
    /// recomputed from x), so that the backward itself differentiates.
    pub fn backward(
        &self,
        saved_t: &[Tensor],
        dy: &Tensor,
        needs: [bool; 3],
    ) -> Result<Vec<Option<Tensor>>> {
        let x = saved(saved_t, 0)?;
        let gamma = saved(saved_t, 1)?;
        let nd = x.ndim();
        let c = x.shape[self.axis];
        let ax = [self.axis as i64];
        let others = other_axes(nd, self.axis);
        let cs = channel_shape(nd, self.axis, c);
        let mean_k = |t: &Tensor| reduce(RedOp::Mean, t, Some(&ax), true);
        let sum_c = |t: &Tensor| {
            if others.is_empty() {
                Ok(t.clone())
            } else {
                reduce(RedOp::Sum, t, Some(&others), false)
            }
        };
        let sub = |a: &Tensor, b: &Tensor| binary(BinOp::Sub, a, b);
        let mul = |a: &Tensor, b: &Tensor| binary(BinOp::Mul, a, b);
        let xc = sub(x, &mean_k(x)?)?;
        let var = mean_k(&unary(UnOp::Square, &xc)?)?;
        let is = unary(
            UnOp::Rsqrt,
            &binary_scalar(BinOp::Add, &var, self.eps, false)?,
        )?;
        let xhat = mul(&xc, &is)?;
        let dx = if needs[0] {
            let g = mul(dy, &reshape_to(gamma, &cs)?)?;
            let t = sub(
                &sub(&g, &mean_k(&g)?)?,
                &mul(&xhat, &mean_k(&mul(&g, &xhat)?)?)?,
            )?;
            Some(mul(&t, &is)?)
        } else {
            None
        };
        let dgamma = if needs[1] {
            Some(reshape_to(&sum_c(&mul(dy, &xhat)?)?, &[c])?)
        } else {
            None
        };
        let dbeta = if needs[2] {
            Some(reshape_to(&sum_c(dy)?, &[c])?)
        } else {
            None
        };
        Ok(vec![dx, dgamma, dbeta])
    }
}
