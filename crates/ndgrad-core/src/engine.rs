//! The engine: the arena of live arrays plus every operation addressed by
//! handle. This is the whole surface the FFI crate exposes; each method is
//! one call from JavaScript.

use crate::arena::Arena;
use crate::autograd::{self, AgRef, GradReq};
use crate::dtype::{DType, Data, Elem};
use crate::each_dtype;
use crate::error::{Error, Result};
use crate::kernels::{self, BinOp, RedOp, UnOp};
use crate::ops;
use crate::random;
use crate::shape::{can_broadcast_to, checked_size, fmt_shape};
use crate::storage::{self, alloc_zeroed, Tensor};

#[derive(Default)]
pub struct Engine {
    arena: Arena,
}

/// Live counts, for `nd.memory()` and leak tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryInfo {
    pub arrays: usize,
    pub bytes: usize,
    pub tape_nodes: usize,
}

impl Engine {
    pub fn new() -> Engine {
        Engine::default()
    }

    pub fn memory(&self) -> MemoryInfo {
        MemoryInfo {
            arrays: self.arena.live(),
            bytes: storage::live_bytes(),
            tape_nodes: autograd::live_nodes(),
        }
    }

    pub fn get(&self, h: u32) -> Result<&Tensor> {
        self.arena.get(h)
    }

    fn put(&mut self, t: Tensor) -> Result<u32> {
        self.arena.insert(t)
    }

    /// Run `f` on the tensor behind `h` and store its result; `op` names the
    /// operation in errors.
    fn map1(&mut self, op: &str, h: u32, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<u32> {
        let x = self.arena.get(h).map_err(|e| e.in_op(op))?;
        let t = f(x).map_err(|e| e.in_op(op))?;
        self.put(t)
    }

    fn map2(
        &mut self,
        op: &str,
        a: u32,
        b: u32,
        f: impl FnOnce(&Tensor, &Tensor) -> Result<Tensor>,
    ) -> Result<u32> {
        let x = self.arena.get(a).map_err(|e| e.in_op(op))?;
        let y = self.arena.get(b).map_err(|e| e.in_op(op))?;
        let t = f(x, y).map_err(|e| e.in_op(op))?;
        self.put(t)
    }

    pub fn free(&mut self, h: u32) -> bool {
        self.arena.remove(h).is_some()
    }

    // ---- creation ----

    pub fn from_data(&mut self, shape: &[usize], data: &[f32]) -> Result<u32> {
        let n = checked_size(shape).map_err(|e| e.in_op("array"))?;
        if n != data.len() {
            return Err(Error::invalid(format!(
                "array: {} values do not fill shape {}",
                data.len(),
                fmt_shape(shape)
            )));
        }
        let v = storage::alloc_copy(data).map_err(|e| e.in_op("array"))?;
        self.put(Tensor::from_vec(shape.to_vec(), v)?)
    }

    /// A zeroed array the caller fills through its data pointer.
    pub fn alloc(&mut self, shape: &[usize], dtype: DType) -> Result<u32> {
        let t = Tensor::zeros(shape, dtype).map_err(|e| e.in_op("array"))?;
        self.put(t)
    }

    pub fn full(&mut self, shape: &[usize], v: f64, dtype: DType) -> Result<u32> {
        let t = Tensor::full(shape, v, dtype).map_err(|e| e.in_op("full"))?;
        self.put(t)
    }

    pub fn dtype(&self, h: u32) -> Result<DType> {
        Ok(self.arena.get(h)?.dtype())
    }

    /// `astype`: a converted copy (float→int truncates toward zero,
    /// saturating; NaN gives 0). Differentiable between float dtypes.
    pub fn astype(&mut self, h: u32, to: DType) -> Result<u32> {
        self.map1("astype", h, |x| ops::astype(x, to))
    }

    /// NumPy/MXNet `arange(start, stop, step)`.
    pub fn arange(&mut self, start: f64, stop: f64, step: f64, dtype: DType) -> Result<u32> {
        if !(start.is_finite() && stop.is_finite() && step.is_finite()) {
            return Err(Error::invalid(format!(
                "arange: start, stop and step must be finite (got {start}, {stop}, {step})"
            )));
        }
        if step == 0.0 {
            return Err(Error::invalid("arange: step must not be 0"));
        }
        let n = ((stop - start) / step).ceil().max(0.0);
        if n > crate::shape::MAX_ELEMENTS as f64 {
            return Err(Error::invalid(format!("arange: {n} elements is too many")));
        }
        let n = n as usize;
        let mut t = Tensor::zeros(&[n], dtype).map_err(|e| e.in_op("arange"))?;
        {
            let mut d = t.buf.write()?;
            each_dtype!(&mut *d, v => {
                for (i, o) in v.iter_mut().enumerate() {
                    *o = Elem::from_f64(start + i as f64 * step);
                }
            });
        }
        t.ag = None;
        self.put(t)
    }

    pub fn random_seed(&mut self, s: u64) {
        random::seed(s);
    }

    pub fn random_uniform(
        &mut self,
        low: f64,
        high: f64,
        shape: &[usize],
        dtype: DType,
    ) -> Result<u32> {
        self.random(
            "uniform",
            low,
            high,
            shape,
            dtype,
            random::uniform,
            random::uniform,
        )
    }

    pub fn random_normal(
        &mut self,
        loc: f64,
        scale: f64,
        shape: &[usize],
        dtype: DType,
    ) -> Result<u32> {
        if scale < 0.0 {
            return Err(Error::invalid(format!(
                "normal: scale must be >= 0 (got {scale})"
            )));
        }
        self.random(
            "normal",
            loc,
            scale,
            shape,
            dtype,
            random::normal,
            random::normal,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn random(
        &mut self,
        op: &str,
        p: f64,
        q: f64,
        shape: &[usize],
        dtype: DType,
        fill32: fn(f64, f64, &mut [f32]),
        fill64: fn(f64, f64, &mut [f64]),
    ) -> Result<u32> {
        if !p.is_finite() || !q.is_finite() {
            return Err(Error::invalid(format!(
                "{op}: parameters must be finite (got {p}, {q})"
            )));
        }
        let n = checked_size(shape).map_err(|e| e.in_op(op))?;
        let data = match dtype {
            DType::F32 => {
                let mut v = alloc_zeroed::<f32>(n).map_err(|e| e.in_op(op))?;
                fill32(p, q, &mut v);
                Data::F32(v)
            }
            DType::F64 => {
                let mut v = alloc_zeroed::<f64>(n).map_err(|e| e.in_op(op))?;
                fill64(p, q, &mut v);
                Data::F64(v)
            }
            DType::I32 | DType::U8 => {
                return Err(Error::invalid(format!(
                    "{op}: dtype {} is not supported (use float32 or float64)",
                    dtype.name()
                )))
            }
        };
        self.put(Tensor::from_vec(shape.to_vec(), data)?)
    }

    // ---- operators ----

    pub fn binary(&mut self, op: BinOp, a: u32, b: u32) -> Result<u32> {
        self.map2(op.name(), a, b, |x, y| ops::binary(op, x, y))
    }

    pub fn binary_scalar(&mut self, op: BinOp, a: u32, s: f64, reverse: bool) -> Result<u32> {
        self.map1(op.name(), a, |x| ops::binary_scalar(op, x, s, reverse))
    }

    pub fn unary(&mut self, op: UnOp, a: u32) -> Result<u32> {
        self.map1(op.name(), a, |x| ops::unary(op, x))
    }

    pub fn reduce(
        &mut self,
        op: RedOp,
        a: u32,
        axes: Option<&[i64]>,
        keepdims: bool,
    ) -> Result<u32> {
        self.map1(op.name(), a, |x| ops::reduce(op, x, axes, keepdims))
    }

    pub fn reshape(&mut self, a: u32, spec: &[i64]) -> Result<u32> {
        self.map1("reshape", a, |x| ops::reshape(x, spec))
    }

    pub fn transpose(&mut self, a: u32, axes: Option<&[i64]>) -> Result<u32> {
        self.map1("transpose", a, |x| ops::transpose(x, axes))
    }

    pub fn broadcast_to(&mut self, a: u32, shape: &[usize]) -> Result<u32> {
        self.map1("broadcastTo", a, |x| ops::broadcast_to(x, shape))
    }

    pub fn slice(&mut self, a: u32, begin: Option<i64>, end: Option<i64>) -> Result<u32> {
        self.map1("slice", a, |x| ops::slice_axis0(x, begin, end))
    }

    pub fn at(&mut self, a: u32, i: i64) -> Result<u32> {
        self.map1("at", a, |x| ops::at(x, i))
    }

    pub fn copy(&mut self, a: u32) -> Result<u32> {
        self.map1("copy", a, ops::copy)
    }

    pub fn dot(&mut self, a: u32, b: u32) -> Result<u32> {
        self.map2("dot", a, b, ops::dot)
    }

    pub fn dot_t(&mut self, a: u32, b: u32, ta: bool, tb: bool) -> Result<u32> {
        self.map2("dot", a, b, |x, y| ops::dot_t(x, y, ta, tb))
    }

    pub fn concat(&mut self, arrays: &[u32], axis: i64) -> Result<u32> {
        let ts = self.tensors("concat", arrays)?;
        let refs: Vec<&Tensor> = ts.iter().collect();
        let t = ops::concat(&refs, axis).map_err(|e| e.in_op("concat"))?;
        self.put(t)
    }

    pub fn batch_dot(&mut self, a: u32, b: u32) -> Result<u32> {
        self.map2("batchDot", a, b, ops::batch_dot)
    }

    // ---- model ops (issue #3) ----

    pub fn where_(&mut self, c: u32, a: u32, b: u32) -> Result<u32> {
        let cond = self.arena.get(c).map_err(|e| e.in_op("where"))?.clone();
        self.map2("where", a, b, |x, y| ops::index::where_(&cond, x, y))
    }

    // ---- Pooling, BatchNorm, LayerNorm (pool branch) ----

    /// MXNet's `Pooling`.
    pub fn pooling(&mut self, a: u32, p: &ops::pool::PoolParams) -> Result<u32> {
        self.map1("Pooling", a, |x| ops::pool::pooling(x, p))
    }

    /// `Pooling`'s output shape for data of `shape` (no array needed: the
    /// worker client's shape rule).
    pub fn pooling_shape(shape: &[usize], p: &ops::pool::PoolParams) -> Result<Vec<usize>> {
        Ok(ops::pool::pool_shape(shape, p)?.0)
    }

    /// MXNet's `BatchNorm(data, gamma, beta, moving_mean, moving_var)`.
    pub fn batch_norm(&mut self, h: [u32; 5], o: &ops::norm::BatchNormOpts) -> Result<u32> {
        let t = self.tensors("BatchNorm", &h)?;
        let y = ops::norm::batch_norm(&t[0], &t[1], &t[2], &t[3], &t[4], o)
            .map_err(|e| e.in_op("BatchNorm"))?;
        self.put(y)
    }

    /// MXNet's `LayerNorm(data, gamma, beta, axis, eps)`.
    pub fn layer_norm(&mut self, h: [u32; 3], axis: i64, eps: f64) -> Result<u32> {
        let t = self.tensors("LayerNorm", &h)?;
        let y = ops::norm::layer_norm(&t[0], &t[1], &t[2], axis, eps)
            .map_err(|e| e.in_op("LayerNorm"))?;
        self.put(y)
    }

    pub fn clip(&mut self, a: u32, lo: f64, hi: f64) -> Result<u32> {
        self.map1("clip", a, |x| ops::nn::clip(x, lo, hi))
    }

    pub fn leaky_relu(&mut self, a: u32, slope: f64) -> Result<u32> {
        self.map1("leakyRelu", a, |x| ops::nn::leaky_relu(x, slope))
    }

    pub fn softmax(&mut self, a: u32, axis: i64, log: bool) -> Result<u32> {
        if log {
            self.map1("logSoftmax", a, |x| ops::nn::log_softmax(x, axis))
        } else {
            self.map1("softmax", a, |x| ops::nn::softmax(x, axis))
        }
    }

    // ---- neural-network ops: nnmisc group (issue #12) ----

    /// `FullyConnected(data, weight, bias | None, ...)`.
    pub fn fully_connected(
        &mut self,
        x: u32,
        w: u32,
        b: Option<u32>,
        num_hidden: i64,
        no_bias: bool,
        flatten: bool,
    ) -> Result<u32> {
        const OP: &str = "FullyConnected";
        let ts = self.optional_tensors(OP, &[Some(x), Some(w), b])?;
        let (Some(xt), Some(wt)) = (&ts[0], &ts[1]) else {
            return Err(Error::internal("FullyConnected: missing input"));
        };
        let t = ops::nnmisc::fully_connected(xt, wt, ts[2].as_ref(), num_hidden, no_bias, flatten)
            .map_err(|e| e.in_op(OP))?;
        self.put(t)
    }

    pub fn embedding(&mut self, data: u32, w: u32, input_dim: i64, output_dim: i64) -> Result<u32> {
        self.map2("Embedding", data, w, |d, w| {
            ops::nnmisc::embedding(d, w, input_dim, output_dim)
        })
    }

    pub fn activation(&mut self, x: u32, act: ops::nnmisc::Act) -> Result<u32> {
        self.map1("Activation", x, |x| ops::nnmisc::activation(x, act))
    }

    pub fn leaky_relu_act(
        &mut self,
        x: u32,
        act: ops::nnmisc::LeakyAct,
        slope: f64,
        gamma: Option<u32>,
    ) -> Result<u32> {
        const OP: &str = "LeakyReLU";
        let ts = self.optional_tensors(OP, &[Some(x), gamma])?;
        let Some(xt) = &ts[0] else {
            return Err(Error::internal("LeakyReLU: missing input"));
        };
        let t =
            ops::nnmisc::leaky_relu_act(xt, act, slope, ts[1].as_ref()).map_err(|e| e.in_op(OP))?;
        self.put(t)
    }

    pub fn flatten(&mut self, x: u32) -> Result<u32> {
        self.map1("Flatten", x, ops::nnmisc::flatten)
    }

    pub fn softmax_cross_entropy(&mut self, data: u32, label: u32) -> Result<u32> {
        self.map2(
            "softmaxCrossEntropy",
            data,
            label,
            ops::nnmisc::softmax_cross_entropy,
        )
    }

    // ---- end of the nnmisc group ----

    pub fn take_along(&mut self, a: u32, idx: u32, axis: i64, wrap: bool) -> Result<u32> {
        self.map2("take", a, idx, |x, i| ops::index::take(x, i, axis, wrap))
    }

    pub fn pick(&mut self, a: u32, idx: u32, axis: i64, keepdims: bool, wrap: bool) -> Result<u32> {
        self.map2("pick", a, idx, |x, i| {
            ops::index::pick(x, i, axis, keepdims, wrap)
        })
    }

    pub fn one_hot(
        &mut self,
        idx: u32,
        depth: i64,
        on: f64,
        off: f64,
        dtype: DType,
    ) -> Result<u32> {
        self.map1("oneHot", idx, |i| {
            ops::index::one_hot(i, depth, on, off, dtype)
        })
    }

    pub fn argext(&mut self, a: u32, axis: Option<i64>, keepdims: bool, max: bool) -> Result<u32> {
        let name = if max { "argmax" } else { "argmin" };
        self.map1(name, a, |x| ops::index::argext(x, axis, keepdims, max))
    }

    pub fn topk(
        &mut self,
        a: u32,
        axis: i64,
        k: i64,
        ret: ops::index::TopK,
        ascending: bool,
    ) -> Result<u32> {
        self.map1("topk", a, |x| {
            ops::index::topk(x, axis, Some(k), ret, ascending)
        })
    }

    pub fn sort(&mut self, a: u32, axis: i64, ascending: bool, indices: bool) -> Result<u32> {
        if indices {
            self.map1("argsort", a, |x| ops::index::argsort(x, axis, ascending))
        } else {
            self.map1("sort", a, |x| ops::index::sort(x, axis, ascending))
        }
    }

    pub fn tile(&mut self, a: u32, reps: &[i64]) -> Result<u32> {
        self.map1("tile", a, |x| ops::index::tile(x, reps))
    }

    pub fn repeat(&mut self, a: u32, repeats: i64, axis: Option<i64>) -> Result<u32> {
        self.map1("repeat", a, |x| ops::index::repeat(x, repeats, axis))
    }

    pub fn flip(&mut self, a: u32, axes: &[i64]) -> Result<u32> {
        self.map1("flip", a, |x| ops::index::flip(x, axes))
    }

    /// MXNet's `slice(begin, end, step)` (None entries: the whole axis).
    pub fn slice_multi(
        &mut self,
        a: u32,
        begin: &[Option<i64>],
        end: &[Option<i64>],
        step: &[Option<i64>],
    ) -> Result<u32> {
        self.map1("slice", a, |x| ops::index::slice(x, begin, end, step))
    }

    /// MXNet's `slice_axis(axis, begin, end)`.
    pub fn slice_axis(
        &mut self,
        a: u32,
        axis: i64,
        begin: Option<i64>,
        end: Option<i64>,
    ) -> Result<u32> {
        self.map1("sliceAxis", a, |x| {
            let ax = ops::axis_of(x, axis, "sliceAxis")?;
            let mut b = vec![None; ax + 1];
            let mut e = vec![None; ax + 1];
            b[ax] = begin;
            e[ax] = end;
            ops::index::slice(x, &b, &e, &[])
        })
    }

    pub fn detach(&mut self, a: u32) -> Result<u32> {
        self.map1("detach", a, |x| Ok(x.detached()))
    }

    /// MXNet's `x[:] = v`: write `src` (broadcast to `dst`'s shape) into
    /// `dst`'s buffer in place.
    pub fn set(&mut self, dst: u32, src: u32) -> Result<()> {
        let s = self.arena.get(src).map_err(|e| e.in_op("set"))?;
        let d = self.arena.get(dst).map_err(|e| e.in_op("set"))?;
        if !can_broadcast_to(&s.shape, &d.shape) {
            return Err(Error::shape(format!(
                "set: cannot broadcast a value of shape {} into an array of shape {}",
                s.shape_str(),
                d.shape_str()
            )));
        }
        // `src` viewing `dst`'s own buffer (`x.set(x.reshape(...))`) has its
        // size, so broadcasting adds nothing: the values are already there.
        if std::rc::Rc::ptr_eq(&s.buf, &d.buf) {
            return Self::write_with(d, |_| {});
        }
        // Under recording, MXNet's `x[:] = v` is `v.broadcast_to(x.shape)`
        // (when the shapes differ) then `_copyto` into x, both recorded
        // (python/mxnet/ndarray/ndarray.py `_set_nd_basic_indexing`;
        // `_copyto`'s FGradient is ElemwiseGradUseNone, an identity:
        // src/ndarray/ndarray.cc): x becomes a function of v. Only when v is
        // in a graph and x is not a variable: a variable keeps its place
        // (rebinding it would drop its gradient), and an array already
        // recorded is refused by `write_with` below.
        let into_graph = autograd::is_recording()
            && s.ag.is_some()
            && d.ag.is_none()
            && d.dtype().is_float()
            && s.dtype().is_float();
        // A value of another dtype is converted first (MXNet's copyto),
        // recorded (a cast back of the gradient) when the copy is.
        let conv;
        let s = if s.dtype() != d.dtype() {
            let from = if into_graph { s.clone() } else { s.detached() };
            conv = ops::astype(&from, d.dtype()).map_err(|e| e.in_op("set"))?;
            &conv
        } else {
            s
        };
        // Broadcast straight into the destination: no temporary (a
        // full-size one could exhaust memory on a write that needs none).
        {
            let src = s.data()?;
            Self::write_with(d, |out| match (out, &*src) {
                (Data::F32(o), Data::F32(x)) => kernels::broadcast_copy(x, &s.shape, &d.shape, o),
                (Data::F64(o), Data::F64(x)) => kernels::broadcast_copy(x, &s.shape, &d.shape, o),
                (Data::I32(o), Data::I32(x)) => kernels::broadcast_copy(x, &s.shape, &d.shape, o),
                (Data::U8(o), Data::U8(x)) => kernels::broadcast_copy(x, &s.shape, &d.shape, o),
                _ => {}
            })?;
        }
        if into_graph {
            let value = s.clone();
            let same_shape = value.shape == d.shape;
            let dt = self.arena.get_mut(dst).map_err(|e| e.in_op("set"))?;
            let op = || {
                if same_shape {
                    ops::Op::Copy
                } else {
                    ops::Op::BroadcastTo {
                        in_shape: value.shape.clone(),
                    }
                }
            };
            autograd::record(op, &[&value], Vec::new, dt);
        }
        Ok(())
    }

    pub fn set_scalar(&mut self, dst: u32, v: f64) -> Result<()> {
        let d = self.arena.get(dst).map_err(|e| e.in_op("set"))?;
        Self::write_with(d, |out| each_dtype!(out, o => o.fill(Elem::from_f64(v))))
    }

    /// In-place writes are refused while a recorded graph needs the buffer
    /// (the gradient would silently change), as MXNet refuses them.
    fn write_with(d: &Tensor, fill: impl FnOnce(&mut Data)) -> Result<()> {
        if d.buf.tape_refs() > 0 {
            return Err(Error::autograd(format!(
                "set: cannot write in place to an array of shape {} that a recorded graph still needs for backward; \
                 call backward first, or write to a copy",
                d.shape_str()
            )));
        }
        if autograd::is_recording() && matches!(d.ag, Some(AgRef::Node(_))) {
            return Err(Error::autograd(
                "set: in-place operations (x[:] = v) are not supported on recorded arrays while recording with autograd",
            ));
        }
        fill(&mut *d.buf.write()?);
        Ok(())
    }

    /// One optimizer step over many parameters, in place (`optim`): each
    /// `(weight, grad, states, lr, wd)` is validated before any is updated.
    pub fn optim_step(
        &mut self,
        rule: crate::optim::Rule,
        hyper: &crate::optim::Hyper,
        params: &[(u32, u32, Vec<u32>, f64, f64)],
    ) -> Result<()> {
        let op = rule.name();
        let mut owned: Vec<(Tensor, Tensor, Vec<Tensor>)> = Vec::new();
        owned
            .try_reserve_exact(params.len())
            .map_err(|_| Error::oom(params.len(), crate::dtype::DType::I32))?;
        for (w, g, states, _, _) in params {
            let w = self.arena.get(*w).map_err(|e| e.in_op(op))?.clone();
            let g = self.arena.get(*g).map_err(|e| e.in_op(op))?.clone();
            owned.push((w, g, self.tensors(op, states)?));
        }
        let mut items = Vec::new();
        items
            .try_reserve_exact(params.len())
            .map_err(|_| Error::oom(params.len(), crate::dtype::DType::I32))?;
        for ((w, g, s), p) in owned.iter().zip(params) {
            items.push(crate::optim::Item {
                weight: w,
                grad: g,
                states: s,
                lr: p.3,
                wd: p.4,
            });
        }
        crate::optim::validate(rule, &items)?;
        crate::optim::step(rule, hyper, &items)
    }

    // ---- Convolution, Deconvolution (issue #12, conv branch) ----

    /// MXNet's `Convolution` (`deconv` false) or `Deconvolution`; `bias`
    /// None is `no_bias`.
    pub fn convolution(
        &mut self,
        data: u32,
        weight: u32,
        bias: Option<u32>,
        p: &ops::nn::conv::ConvParams,
        deconv: bool,
    ) -> Result<u32> {
        let name = if deconv {
            "Deconvolution"
        } else {
            "Convolution"
        };
        let x = self.arena.get(data).map_err(|e| e.in_op(name))?;
        let w = self.arena.get(weight).map_err(|e| e.in_op(name))?;
        let b = bias
            .map(|h| self.arena.get(h))
            .transpose()
            .map_err(|e| e.in_op(name))?;
        let t = if deconv {
            ops::nn::conv::deconvolution(x, w, b, p)
        } else {
            ops::nn::conv::convolution(x, w, b, p)
        }
        .map_err(|e| e.in_op(name))?;
        self.put(t)
    }

    // ---- end conv ----

    // ---- autograd ----

    pub fn attach_grad(&mut self, h: u32, req: GradReq) -> Result<()> {
        let t = self.arena.get_mut(h).map_err(|e| e.in_op("attachGrad"))?;
        autograd::attach_grad(t, req).map_err(|e| e.in_op("attachGrad"))
    }

    pub fn mark_variable(&mut self, h: u32, grad: u32, req: GradReq) -> Result<()> {
        let g = self
            .arena
            .get(grad)
            .map_err(|e| e.in_op("markVariables"))?
            .clone();
        let t = self
            .arena
            .get_mut(h)
            .map_err(|e| e.in_op("markVariables"))?;
        autograd::mark_variable(t, &g, req)
    }

    /// Whether `h` has an attached gradient (errors if `h` is not live).
    pub fn grad_handle_exists(&self, h: u32) -> Result<bool> {
        let t = self.arena.get(h).map_err(|e| e.in_op("grad"))?;
        Ok(autograd::grad_of(t).is_some())
    }

    /// MXNet's `_fresh_grad` of `h` (an Error when it has no gradient).
    pub fn fresh_grad(&self, h: u32) -> Result<bool> {
        let t = self.arena.get(h).map_err(|e| e.in_op("_freshGrad"))?;
        autograd::fresh_grad(t).ok_or_else(|| {
            Error::invalid("_freshGrad: the array has no gradient (call attachGrad first)")
        })
    }

    pub fn set_fresh_grad(&self, h: u32, state: bool) -> Result<()> {
        let t = self.arena.get(h).map_err(|e| e.in_op("_freshGrad"))?;
        if autograd::set_fresh_grad(t, state) {
            Ok(())
        } else {
            Err(Error::invalid(
                "_freshGrad: the array has no gradient (call attachGrad first)",
            ))
        }
    }

    /// A new handle onto `h`'s gradient buffer, or None without `attachGrad`.
    pub fn grad(&mut self, h: u32) -> Result<Option<u32>> {
        let t = self.arena.get(h).map_err(|e| e.in_op("grad"))?;
        match autograd::grad_of(t) {
            Some(g) => Ok(Some(self.put(g)?)),
            None => Ok(None),
        }
    }

    /// Record a custom function (`autograd.Function`) applied to `inputs`
    /// that produced `outputs`; returns whether a node was recorded.
    pub fn custom_record(&mut self, id: u32, inputs: &[u32], outputs: &[u32]) -> Result<bool> {
        let ins = self.tensors("Function", inputs)?;
        for (i, o) in outputs.iter().enumerate() {
            if inputs.contains(o) || outputs[..i].contains(o) {
                return Err(Error::invalid(
                    "Function: forward must return new arrays, each once (not its inputs)",
                ));
            }
        }
        let mut outs = self.tensors("Function", outputs)?;
        let refs: Vec<&Tensor> = ins.iter().collect();
        let mut out_refs: Vec<&mut Tensor> = outs.iter_mut().collect();
        let recorded = crate::custom::record(id, &refs, &mut out_refs)?;
        for (h, t) in outputs.iter().zip(outs) {
            self.arena.get_mut(*h)?.ag = t.ag;
        }
        Ok(recorded)
    }

    /// A second handle onto the same tensor, graph place included.
    pub fn alias(&mut self, h: u32) -> Result<u32> {
        let t = self.arena.get(h)?.clone();
        self.put(t)
    }

    /// Store a tensor computed outside the arena; returns its handle.
    pub fn adopt(&mut self, t: Tensor) -> Result<u32> {
        self.put(t)
    }

    /// Remove a handle and hand its tensor to the caller.
    pub fn take(&mut self, h: u32) -> Result<Tensor> {
        self.arena.remove(h).ok_or_else(|| {
            Error::handle("the array has been disposed (or is not a live ndgrad array)")
        })
    }

    pub fn tensors(&self, op: &str, handles: &[u32]) -> Result<Vec<Tensor>> {
        handles
            .iter()
            .map(|&h| self.arena.get(h).cloned().map_err(|e| e.in_op(op)))
            .collect()
    }

    pub fn optional_tensors(
        &self,
        op: &str,
        handles: &[Option<u32>],
    ) -> Result<Vec<Option<Tensor>>> {
        handles
            .iter()
            .map(|h| match h {
                Some(h) => self
                    .arena
                    .get(*h)
                    .map(|t| Some(t.clone()))
                    .map_err(|e| e.in_op(op)),
                None => Ok(None),
            })
            .collect()
    }

    pub fn backward(
        &mut self,
        heads: &[u32],
        head_grads: &[Option<u32>],
        retain_graph: bool,
        train_mode: bool,
    ) -> Result<()> {
        let hs = self.tensors("backward", heads)?;
        let gs = self.optional_tensors("backward", head_grads)?;
        autograd::backward(&hs, &gs, retain_graph, train_mode)
    }

    /// MXNet's `autograd.grad`: new arrays holding d(heads)/d(variables).
    pub fn grad_of(
        &mut self,
        heads: &[u32],
        head_grads: &[Option<u32>],
        variables: &[u32],
        retain_graph: bool,
        create_graph: bool,
        train_mode: bool,
    ) -> Result<Vec<u32>> {
        let hs = self.tensors("grad", heads)?;
        let gs = self.optional_tensors("grad", head_grads)?;
        let vs = self.tensors("grad", variables)?;
        let grads = autograd::grad(&hs, &gs, &vs, retain_graph, create_graph, train_mode)?;
        let mut out = Vec::with_capacity(grads.len());
        for g in grads {
            match self.put(g) {
                Ok(h) => out.push(h),
                Err(e) => {
                    for h in out {
                        self.free(h);
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }
}
