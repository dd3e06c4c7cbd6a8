//! Fused, in-place optimizer updates: one call updates every parameter of a
//! Gluon `Trainer.step`, each element read and written once, with no
//! temporaries (MXNet's `sgd_update`, `sgd_mom_update`, `adam_update` … are
//! single kernels too).
//!
//! The formulas are MXNet 1.9.1's, term for term, computed in the
//! parameter's own dtype as MXNet's `DType` kernels do:
//! `src/operator/optimizer_op-inl.h` (`MultiSGDKernel`, which Gluon's
//! aggregated SGD calls for both the plain and the momentum form;
//! `NAGMomKernel`, `AdamUpdateKernel`, `RMSPropUpdateKernel`,
//! `RMSPropAlexUpdateKernel`) and, for the two optimizers MXNet 1.x writes in
//! Python, `python/mxnet/optimizer/optimizer.py` (`AdaGrad.update`,
//! `AdaDelta.update`). Per-step scalars that MXNet computes in Python (the
//! learning rate with its multiplier and schedule, Adam's bias correction
//! folded into the learning rate, `rescale_grad = 1/batch_size`) arrive
//! already computed.

use std::rc::Rc;

use crate::dtype::Data;
use crate::error::{Error, Result};
use crate::storage::Tensor;

/// The update rule; the codes are what crosses the FFI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `multi_sgd_update` (no state).
    Sgd = 0,
    /// `multi_sgd_mom_update` (state: momentum).
    SgdMom = 1,
    /// `nag_mom_update` (state: momentum).
    NagMom = 2,
    /// `adam_update` (state: mean, variance).
    Adam = 3,
    /// `rmsprop_update` (state: n).
    RmsProp = 4,
    /// `rmspropalex_update`, the centered form (state: n, g, delta).
    RmsPropAlex = 5,
    /// `AdaGrad.update` (state: history).
    AdaGrad = 6,
    /// `AdaDelta.update` (state: acc_g, acc_delta).
    AdaDelta = 7,
}

impl Rule {
    pub fn from_code(code: u32) -> Option<Rule> {
        Some(match code {
            0 => Rule::Sgd,
            1 => Rule::SgdMom,
            2 => Rule::NagMom,
            3 => Rule::Adam,
            4 => Rule::RmsProp,
            5 => Rule::RmsPropAlex,
            6 => Rule::AdaGrad,
            7 => Rule::AdaDelta,
            _ => return None,
        })
    }

    /// How many state arrays each parameter carries.
    pub fn states(self) -> usize {
        match self {
            Rule::Sgd => 0,
            Rule::SgdMom | Rule::NagMom | Rule::RmsProp | Rule::AdaGrad => 1,
            Rule::Adam | Rule::AdaDelta => 2,
            Rule::RmsPropAlex => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Rule::Sgd => "sgd_update",
            Rule::SgdMom => "sgd_mom_update",
            Rule::NagMom => "nag_mom_update",
            Rule::Adam => "adam_update",
            Rule::RmsProp => "rmsprop_update",
            Rule::RmsPropAlex => "rmspropalex_update",
            Rule::AdaGrad => "adagrad_update",
            Rule::AdaDelta => "adadelta_update",
        }
    }
}

/// The scalars shared by every parameter of a step. Each rule reads the
/// fields it needs: `a` is momentum / beta1 / gamma1 / rho, `b` beta2 /
/// gamma2, `epsilon` Adam's, RMSProp's, AdaGrad's and AdaDelta's epsilon.
/// A negative `clip_gradient` or `clip_weights` means none (MXNet's -1).
#[derive(Clone, Copy, Debug)]
pub struct Hyper {
    pub rescale_grad: f64,
    pub clip_gradient: f64,
    pub a: f64,
    pub b: f64,
    pub epsilon: f64,
    pub clip_weights: f64,
}

/// One parameter's update: weight, gradient, states (as many as the rule
/// has), and its own learning rate and weight decay (multipliers applied).
pub struct Item<'a> {
    pub weight: &'a Tensor,
    pub grad: &'a Tensor,
    pub states: &'a [Tensor],
    pub lr: f64,
    pub wd: f64,
}

trait Float:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
{
    fn of(v: f64) -> Self;
    fn sqrt(self) -> Self;
}
impl Float for f32 {
    fn of(v: f64) -> f32 {
        v as f32
    }
    fn sqrt(self) -> f32 {
        f32::sqrt(self)
    }
}
impl Float for f64 {
    fn of(v: f64) -> f64 {
        v
    }
    fn sqrt(self) -> f64 {
        f64::sqrt(self)
    }
}

/// `mshadow_op::clip`: into [-bound, bound].
#[inline(always)]
fn clip<T: Float>(x: T, bound: T) -> T {
    if x > bound {
        bound
    } else if x < -bound {
        -bound
    } else {
        x
    }
}

/// The scalars of one parameter, converted once to its dtype.
#[derive(Clone, Copy)]
struct Scalars<T> {
    lr: T,
    wd: T,
    rescale: T,
    clip: Option<T>,
    a: T,
    b: T,
    eps: T,
    clip_w: Option<T>,
}

/// Validate every item before touching any: a step either updates every
/// parameter or none (no half-updated model after an error).
pub fn validate(rule: Rule, items: &[Item]) -> Result<()> {
    let op = rule.name();
    for (i, it) in items.iter().enumerate() {
        let dt = it.weight.dtype();
        let shape = it.weight.shape_str();
        if !dt.is_float() {
            return Err(Error::invalid(format!(
                "{op}: parameter {i} (shape {shape}) has dtype {}; optimizers update float32 or float64 parameters",
                dt.name()
            )));
        }
        let check = |what: &str, t: &Tensor| -> Result<()> {
            if t.shape != it.weight.shape || t.dtype() != dt {
                return Err(Error::shape(format!(
                    "{op}: parameter {i}: the {what} (shape {}, {}) does not match the weight (shape {shape}, {})",
                    t.shape_str(),
                    t.dtype().name(),
                    dt.name()
                )));
            }
            if Rc::ptr_eq(&t.buf, &it.weight.buf) {
                return Err(Error::invalid(format!(
                    "{op}: parameter {i} (shape {shape}): the {what} shares the weight's memory"
                )));
            }
            Ok(())
        };
        check("gradient", it.grad)?;
        if it.states.len() != rule.states() {
            return Err(Error::invalid(format!(
                "{op}: parameter {i} (shape {shape}) has {} state arrays, the rule needs {}",
                it.states.len(),
                rule.states()
            )));
        }
        for (k, s) in it.states.iter().enumerate() {
            check("state", s)?;
            if Rc::ptr_eq(&s.buf, &it.grad.buf)
                || it.states[..k].iter().any(|o| Rc::ptr_eq(&o.buf, &s.buf))
            {
                return Err(Error::invalid(format!(
                    "{op}: parameter {i} (shape {shape}): state arrays must be distinct from the gradient and each other"
                )));
            }
        }
        if it.weight.buf.tape_refs() > 0 {
            return Err(Error::autograd(format!(
                "{op}: parameter {i} (shape {shape}) is still needed by a recorded graph for backward; \
                 call backward (or let the graph go) before the optimizer step"
            )));
        }
        if !(it.lr.is_finite() && it.wd.is_finite()) {
            return Err(Error::invalid(format!(
                "{op}: parameter {i}: learning rate {} and weight decay {} must be finite",
                it.lr, it.wd
            )));
        }
    }
    // The same weight twice would be updated twice.
    for (i, it) in items.iter().enumerate() {
        if items[..i]
            .iter()
            .any(|o| Rc::ptr_eq(&o.weight.buf, &it.weight.buf))
        {
            return Err(Error::invalid(format!(
                "{op}: parameter {i} (shape {}) appears twice in one step",
                it.weight.shape_str()
            )));
        }
    }
    Ok(())
}

/// Apply `rule` to every item, in place. Call `validate` first.
pub fn step(rule: Rule, h: &Hyper, items: &[Item]) -> Result<()> {
    for it in items {
        let mut w = it.weight.buf.write()?;
        let g = it.grad.buf.read()?;
        let mut st = Vec::new();
        st.try_reserve_exact(it.states.len())
            .map_err(|_| Error::oom(it.states.len(), crate::dtype::DType::I32))?;
        for s in it.states {
            st.push(s.buf.write()?);
        }
        match (&mut *w, &*g) {
            (Data::F32(w), Data::F32(g)) => {
                let mut ss: Vec<&mut [f32]> = Vec::new();
                ss.try_reserve_exact(st.len())
                    .map_err(|_| Error::oom(st.len(), crate::dtype::DType::I32))?;
                for s in st.iter_mut() {
                    match &mut **s {
                        Data::F32(v) => ss.push(v.as_mut_slice()),
                        _ => return Err(Error::internal("optimizer state dtype")),
                    }
                }
                apply(rule, scalars(h, it), w, g, &mut ss);
            }
            (Data::F64(w), Data::F64(g)) => {
                let mut ss: Vec<&mut [f64]> = Vec::new();
                ss.try_reserve_exact(st.len())
                    .map_err(|_| Error::oom(st.len(), crate::dtype::DType::I32))?;
                for s in st.iter_mut() {
                    match &mut **s {
                        Data::F64(v) => ss.push(v.as_mut_slice()),
                        _ => return Err(Error::internal("optimizer state dtype")),
                    }
                }
                apply(rule, scalars(h, it), w, g, &mut ss);
            }
            _ => {
                return Err(Error::internal(
                    "optimizer: weight and gradient dtypes differ",
                ))
            }
        }
    }
    Ok(())
}

fn scalars<T: Float>(h: &Hyper, it: &Item) -> Scalars<T> {
    Scalars {
        lr: T::of(it.lr),
        wd: T::of(it.wd),
        rescale: T::of(h.rescale_grad),
        clip: (h.clip_gradient >= 0.0).then(|| T::of(h.clip_gradient)),
        a: T::of(h.a),
        b: T::of(h.b),
        eps: T::of(h.epsilon),
        clip_w: (h.clip_weights >= 0.0).then(|| T::of(h.clip_weights)),
    }
}

fn apply<T: Float>(rule: Rule, p: Scalars<T>, w: &mut [T], g: &[T], st: &mut [&mut [T]]) {
    let one = T::of(1.0);
    // MXNet clips the rescaled gradient where the kernel says so; `None`
    // skips the comparison entirely (its `clip_gradient < 0` branch).
    let cg = |x: T| match p.clip {
        Some(c) => clip(x, c),
        None => x,
    };
    match rule {
        Rule::Sgd => {
            // MultiSGDKernel without momentum: mom = -lr*wd*w - lr*g'; w += mom.
            for (w, &g) in w.iter_mut().zip(g) {
                let mom = -(p.lr * p.wd * *w) - p.lr * cg(p.rescale * g);
                *w = *w + mom;
            }
        }
        Rule::SgdMom => {
            let [m] = st else { return };
            for ((w, &g), m) in w.iter_mut().zip(g).zip(m.iter_mut()) {
                *m = p.a * *m - p.lr * p.wd * *w - p.lr * cg(p.rescale * g);
                *w = *w + *m;
            }
        }
        Rule::NagMom => {
            let [m] = st else { return };
            for ((w, &g), m) in w.iter_mut().zip(g).zip(m.iter_mut()) {
                *m = p.a * *m;
                let step = p.lr * (cg(p.rescale * g) + p.wd * *w);
                let new_w = *w - *m + (p.a + one) * (*m - step);
                *m = *m - step;
                *w = new_w;
            }
        }
        Rule::Adam => {
            let [mean, var] = st else { return };
            for (((w, &g), m), v) in w.iter_mut().zip(g).zip(mean.iter_mut()).zip(var.iter_mut()) {
                let gr = cg(g * p.rescale + *w * p.wd);
                *m = p.a * *m + (one - p.a) * gr;
                *v = p.b * *v + (one - p.b) * gr * gr;
                *w = *w - p.lr * *m / (v.sqrt() + p.eps);
            }
        }
        Rule::RmsProp => {
            let [n] = st else { return };
            for ((w, &g), n) in w.iter_mut().zip(g).zip(n.iter_mut()) {
                let gr = cg(p.rescale * g + p.wd * *w);
                *n = (one - p.a) * (gr * gr) + p.a * *n;
                let mut nw = *w - p.lr * (gr / (*n + p.eps).sqrt());
                if let Some(c) = p.clip_w {
                    nw = clip(nw, c);
                }
                *w = nw;
            }
        }
        Rule::RmsPropAlex => {
            let [n, gs, delta] = st else { return };
            for ((((w, &g), n), gs), d) in w
                .iter_mut()
                .zip(g)
                .zip(n.iter_mut())
                .zip(gs.iter_mut())
                .zip(delta.iter_mut())
            {
                let gr = cg(p.rescale * g + p.wd * *w);
                *n = (one - p.a) * gr * gr + p.a * *n;
                *gs = (one - p.a) * gr + p.a * *gs;
                *d = p.b * *d - (p.lr * gr / (*n - *gs * *gs + p.eps).sqrt());
                let mut nw = *w + *d;
                if let Some(c) = p.clip_w {
                    nw = clip(nw, c);
                }
                *w = nw;
            }
        }
        Rule::AdaGrad => {
            // AdaGrad.update (dense): g = clip(g*rescale); history += g²;
            // w += (g / sqrt(history + eps) + w*wd) * -lr.
            let [hist] = st else { return };
            for ((w, &g), hs) in w.iter_mut().zip(g).zip(hist.iter_mut()) {
                let gr = cg(g * p.rescale);
                *hs = *hs + gr * gr;
                let div = gr / (*hs + p.eps).sqrt();
                *w = *w + (div + *w * p.wd) * -p.lr;
            }
        }
        Rule::AdaDelta => {
            // AdaDelta.update: no learning rate, as in MXNet 1.x. (MXNet
            // also scales the gradient buffer itself in place; the gradient
            // is left untouched here.)
            let [acc_g, acc_d] = st else { return };
            for (((w, &g), ag), ad) in w
                .iter_mut()
                .zip(g)
                .zip(acc_g.iter_mut())
                .zip(acc_d.iter_mut())
            {
                let gr = cg(g * p.rescale);
                *ag = *ag * p.a;
                *ag = *ag + (one - p.a) * gr * gr;
                let delta = (*ad + p.eps).sqrt() / (*ag + p.eps).sqrt() * gr;
                *ad = *ad * p.a;
                *ad = *ad + (one - p.a) * delta * delta;
                *w = *w - (delta + p.wd * *w);
            }
        }
    }
}
