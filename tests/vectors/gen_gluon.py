#!/usr/bin/python3
"""Generate tests/vectors/gluon.json: ndgrad's Gluon held to MXNet 1.9.1's
rules, re-implemented here in NumPy. Read by tests/ts/gluon-vectors.test.ts
(the public API on the .wasm build) and, for the optimizer cases,
crates/ndgrad-core/tests/optim.rs (natively, through `ndgrad_core::optim`).

    /usr/bin/python3 tests/vectors/gen_gluon.py

Deterministic (fixed seeds): running it twice writes the same file.

What is checked
---------------
* `optim`: every optimizer and option combination of gluon.Trainer over
  several steps on a few parameters of different shapes, with per-parameter
  lrMult / wdMult, the learning-rate schedules, and batch sizes: the weights
  after each step. The update rules are MXNet 1.9.1's, transcribed from
  src/operator/optimizer_op-inl.h (MultiSGDKernel -- what Gluon's aggregated
  SGD runs, momentum or not --, NAGMomKernel, AdamUpdateKernel,
  RMSPropUpdateKernel, RMSPropAlexUpdateKernel) and
  python/mxnet/optimizer/optimizer.py (AdaGrad, AdaDelta, Adam's bias
  correction folded into the learning rate, _update_count / num_update,
  `if self.clip_gradient:` vs `is not None`), evaluated in float32 element by
  element in the kernels' operation order (float64 cases: in float64), so
  ndgrad should agree to the last bit or two.
* `losses`: every gluon.loss class with its options (weight, sampleWeight,
  batchAxis, axis, sparseLabel, fromLogits, fromSigmoid, rho, margin): the
  per-sample loss (MXNet's formula in float64 from the float32 inputs) and
  the gradient of sum(loss) w.r.t. pred by central differences of that
  float64 formula (step 1e-6; away from kinks).
* `dense`: nn.Dense (flatten true/false, bias or not, each activation):
  output and the gradients of sum(out * head) w.r.t. input, weight and bias,
  computed in float64 from float32 inputs (PyTorch's Linear layout is the
  same: weight (units, inUnits)).
"""
import json
import math
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("gluon.json")
rng = np.random.default_rng(20261205)


def f32(a):
    return np.asarray(a, dtype=np.float32)


def tolist(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


# ---------------------------------------------------------------- optimizers

def clip(x, c):
    return np.minimum(np.maximum(x, -c), c)


class Sched:
    """MXNet's FactorScheduler / MultiFactorScheduler / CosineScheduler."""

    def __init__(self, spec, base_lr):
        self.kind = spec["kind"]
        self.s = spec
        self.base_lr = base_lr
        self.count = 0
        self.cur = 0
        # MXNet's CosineScheduler keeps the base_lr it was built with even
        # when the optimizer's learning_rate overwrites base_lr.
        self.orig = spec.get("baseLr", 0.01)

    def __call__(self, n):
        s = self.s
        if self.kind == "factor":
            while n > self.count + s["step"]:
                self.count += s["step"]
                self.base_lr *= s["factor"]
                if self.base_lr < s.get("stopFactorLr", 1e-8):
                    self.base_lr = s.get("stopFactorLr", 1e-8)
            return self.base_lr
        if self.kind == "multifactor":
            while self.cur <= len(s["steps"]) - 1:
                if n > s["steps"][self.cur]:
                    self.count = s["steps"][self.cur]
                    self.cur += 1
                    self.base_lr *= s["factor"]
                else:
                    return self.base_lr
            return self.base_lr
        if self.kind == "cosine":
            if n <= s["maxUpdate"]:
                final = s.get("finalLr", 0.0)
                self.base_lr = final + (self.orig - final) * (1 + math.cos(math.pi * n / s["maxUpdate"])) / 2
            return self.base_lr
        raise ValueError(self.kind)


DEFAULTS = {
    "sgd": dict(lr=0.01, momentum=0.0),
    "nag": dict(lr=0.01, momentum=0.0),
    "adam": dict(lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8),
    "rmsprop": dict(lr=0.001, gamma1=0.9, gamma2=0.9, epsilon=1e-8, centered=False, clipWeights=None),
    "adagrad": dict(lr=0.01, eps=1e-7),
    "adadelta": dict(lr=0.01, rho=0.9, epsilon=1e-5),
}


def run_optim(name, opts, weights, grads_per_step, lr_mults, wd_mults, batch_sizes, dt):
    d = dict(DEFAULTS[name])
    for k, v in opts.items():
        if k == "learningRate":
            d["lr"] = v
        elif k not in ("wd", "clipGradient", "lrScheduler", "rescaleGrad"):
            d[k] = v
    T = dt.type
    wd_g = opts.get("wd", 0.0)
    cg = opts.get("clipGradient", None)
    scale = opts.get("rescaleGrad", 1.0)
    sched = Sched(opts["lrScheduler"], d["lr"] if "learningRate" in opts else opts["lrScheduler"].get("baseLr", 0.01)) if "lrScheduler" in opts else None
    ws = [np.array(w, dtype=dt) for w in weights]
    n_states = {"sgd": 1, "nag": 1, "adam": 2, "rmsprop": 3, "adagrad": 1, "adadelta": 2}[name]
    st = [[np.zeros_like(w) for _ in range(n_states)] for w in ws]
    counts = [0] * len(ws)
    num_update = 0
    out = []
    kernel = []
    for step, grads in enumerate(grads_per_step):
        rescale = T(scale / batch_sizes[step])
        for i in range(len(ws)):
            counts[i] += 1
        num_update = max(num_update, max(counts))
        base_lr = sched(num_update) if sched is not None else d["lr"]
        ks = {"rescale": scale / batch_sizes[step], "lrs": [], "wds": []}
        kernel.append(ks)
        for i, (w, g) in enumerate(zip(ws, grads)):
            g = np.array(g, dtype=dt)
            lr = base_lr * lr_mults[i]
            wd = wd_g * wd_mults[i]
            truthy_clip = cg is not None and cg != 0
            k_lr = lr
            if name == "adam":
                t = counts[i]
                k_lr = lr * math.sqrt(1.0 - d["beta2"] ** t) / (1.0 - d["beta1"] ** t)
            ks["lrs"].append(k_lr)
            ks["wds"].append(wd)
            if name in ("sgd", "nag"):
                mom = d["momentum"]
                if name == "sgd" or mom == 0:
                    # MultiSGDKernel (no momentum: mom starts at 0 each time)
                    m = st[i][0] if (name == "sgd" and mom > 0) else np.zeros_like(w)
                    gg = clip(rescale * g, T(cg)) if truthy_clip else rescale * g
                    m_new = (T(mom) * m - T(lr) * T(wd) * w - T(lr) * gg).astype(dt)
                    if name == "sgd" and mom > 0:
                        st[i][0][...] = m_new
                    w[...] = (w + m_new).astype(dt)
                else:
                    m = st[i][0]
                    gg = clip(rescale * g, T(cg)) if truthy_clip else rescale * g
                    m[...] = T(mom) * m
                    stepv = (T(lr) * (gg + T(wd) * w)).astype(dt)
                    new_w = (w - m + (T(mom) + T(1)) * (m - stepv)).astype(dt)
                    m[...] = m - stepv
                    w[...] = new_w
            elif name == "adam":
                t = counts[i]
                lr_t = lr * math.sqrt(1.0 - d["beta2"] ** t) / (1.0 - d["beta1"] ** t)
                b1, b2, eps = T(d["beta1"]), T(d["beta2"]), T(d["epsilon"])
                gr = (g * rescale + w * T(wd)).astype(dt)
                if truthy_clip:
                    gr = clip(gr, T(cg))
                m, v = st[i][0], st[i][1]
                m[...] = b1 * m + (T(1) - b1) * gr
                v[...] = b2 * v + (T(1) - b2) * gr * gr
                w[...] = w - T(lr_t) * m / (np.sqrt(v) + eps)
            elif name == "rmsprop":
                g1, g2, eps = T(d["gamma1"]), T(d["gamma2"]), T(d["epsilon"])
                cw = d["clipWeights"]
                gr = (rescale * g + T(wd) * w).astype(dt)
                if truthy_clip:
                    gr = clip(gr, T(cg))
                n, gs, delta = st[i]
                if not d["centered"]:
                    n[...] = (T(1) - g1) * (gr * gr) + g1 * n
                    nw = (w - T(lr) * (gr / np.sqrt(n + eps))).astype(dt)
                else:
                    n[...] = (T(1) - g1) * gr * gr + g1 * n
                    gs[...] = (T(1) - g1) * gr + g1 * gs
                    delta[...] = g2 * delta - (T(lr) * gr / np.sqrt(n - gs * gs + eps))
                    nw = (w + delta).astype(dt)
                if cw:
                    nw = clip(nw, T(cw))
                w[...] = nw
            elif name == "adagrad":
                gr = (g * rescale).astype(dt)
                if cg is not None:
                    gr = clip(gr, T(cg))
                h = st[i][0]
                h[...] = h + gr * gr
                div = gr / np.sqrt(h + T(d["eps"]))
                w[...] = w + (div + w * T(wd)) * T(-lr)
            elif name == "adadelta":
                rho, eps = T(d["rho"]), T(d["epsilon"])
                gr = (g * rescale).astype(dt)
                if cg is not None:
                    gr = clip(gr, T(cg))
                ag, ad = st[i]
                ag[...] = ag * rho
                ag[...] = ag + (T(1) - rho) * gr * gr
                delta = (np.sqrt(ad + eps) / np.sqrt(ag + eps) * gr).astype(dt)
                ad[...] = ad * rho
                ad[...] = ad + (T(1) - rho) * delta * delta
                w[...] = w - (delta + T(wd) * w)
        out.append([tolist(w) for w in ws])
    # What the engine kernel is told (optim::Rule code and Hyper), for the
    # native Rust test of the kernels alone.
    py_clip = name in ("adagrad", "adadelta")
    clipv = -1.0 if cg is None or (not py_clip and cg == 0) else cg
    if name in ("sgd", "nag"):
        rule = (1 if name == "sgd" else 2) if d["momentum"] > 0 else 0
        hyper = dict(a=d["momentum"], b=0, epsilon=0)
    elif name == "adam":
        rule, hyper = 3, dict(a=d["beta1"], b=d["beta2"], epsilon=d["epsilon"])
    elif name == "rmsprop":
        rule = 5 if d["centered"] else 4
        hyper = dict(a=d["gamma1"], b=d["gamma2"], epsilon=d["epsilon"])
    elif name == "adagrad":
        rule, hyper = 6, dict(a=0, b=0, epsilon=d["eps"])
    else:
        rule, hyper = 7, dict(a=d["rho"], b=0, epsilon=d["epsilon"])
    cw = d.get("clipWeights")
    hyper.update(clipGradient=clipv, clipWeights=cw if cw else -1.0)
    return out, {"rule": rule, "hyper": hyper, "steps": kernel}


OPTIM_CASES = [
    ("sgd", {"learningRate": 0.1}),
    ("sgd", {"learningRate": 0.1, "wd": 0.01}),
    ("sgd", {"learningRate": 0.05, "momentum": 0.9, "wd": 0.001}),
    ("sgd", {"learningRate": 0.1, "momentum": 0.9, "clipGradient": 0.05}),
    ("sgd", {"learningRate": 0.1, "clipGradient": 0.0}),
    ("sgd", {"learningRate": 0.1, "lrScheduler": {"kind": "factor", "step": 2, "factor": 0.5}}),
    ("sgd", {"momentum": 0.5, "lrScheduler": {"kind": "multifactor", "steps": [1, 3], "factor": 0.1, "baseLr": 0.2}}),
    ("sgd", {"learningRate": 0.3, "lrScheduler": {"kind": "cosine", "maxUpdate": 4, "finalLr": 0.01}}),
    ("sgd", {"learningRate": 0.1, "rescaleGrad": 0.5}),
    ("nag", {"learningRate": 0.1}),
    ("nag", {"learningRate": 0.1, "momentum": 0.9, "wd": 0.01}),
    ("nag", {"learningRate": 0.1, "momentum": 0.8, "clipGradient": 0.05}),
    ("adam", {}),
    ("adam", {"learningRate": 0.01, "wd": 0.01, "beta1": 0.8, "beta2": 0.99}),
    ("adam", {"learningRate": 0.01, "clipGradient": 0.02, "epsilon": 1e-6}),
    ("rmsprop", {}),
    ("rmsprop", {"learningRate": 0.01, "gamma1": 0.8, "wd": 0.01, "clipWeights": 0.5}),
    ("rmsprop", {"learningRate": 0.01, "centered": True}),
    ("rmsprop", {"learningRate": 0.01, "centered": True, "gamma2": 0.5, "clipGradient": 0.03, "clipWeights": 0.6}),
    ("adagrad", {"learningRate": 0.1}),
    ("adagrad", {"learningRate": 0.1, "wd": 0.01, "eps": 1e-5, "clipGradient": 0.02}),
    ("adadelta", {}),
    ("adadelta", {"rho": 0.8, "epsilon": 1e-4, "wd": 0.01, "clipGradient": 0.05}),
]


def optim_cases():
    cases = []
    shapes = [[3, 4], [4], [2, 3, 2]]
    steps = 5
    for k, (name, opts) in enumerate(OPTIM_CASES):
        for dtn in (["float32", "float64"] if k % 4 == 0 else ["float32"]):
            dt = np.dtype(dtn)
            weights = [rng.normal(0, 0.5, s).astype(dt) for s in shapes]
            grads = [[(rng.normal(0, 1.0, s) * 2).astype(dt) for s in shapes] for _ in range(steps)]
            lr_mults = [1.0, 0.5, 2.0]
            wd_mults = [1.0, 0.0, 0.5]
            batch_sizes = [4, 4, 8, 2, 4]
            exp, kernel = run_optim(name, opts, weights, grads, lr_mults, wd_mults, batch_sizes, dt)
            cases.append({
                "name": f"{name}/{k}/{dtn}",
                "optimizer": name,
                "options": opts,
                "dtype": dtn,
                "shapes": shapes,
                "lrMult": lr_mults,
                "wdMult": wd_mults,
                "batchSizes": batch_sizes,
                "weights": [tolist(w) for w in weights],
                "grads": [[tolist(g) for g in gs] for gs in grads],
                "expected": exp,
                "kernel": kernel,
            })
    return cases


# -------------------------------------------------------------------- losses

def log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def softrelu(x):
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)


def loss_fn(kind, o, pred, label, sw):
    def finish(loss, summed=False):
        if sw is not None:
            loss = loss * sw
        w = o.get("weight", 1.0 if kind == "L2Loss" else None)
        if kind == "L2Loss":
            loss = loss * (w / 2)
        elif w is not None:
            loss = loss * w
        b = o.get("batchAxis", 0)
        axes = tuple(i for i in range(loss.ndim) if i != b)
        return loss.sum(axis=axes) if summed else loss.mean(axis=axes)

    if kind == "L2Loss":
        return finish(np.square(label.reshape(pred.shape) - pred))
    if kind == "L1Loss":
        return finish(np.abs(label.reshape(pred.shape) - pred))
    if kind == "SigmoidBinaryCrossEntropyLoss":
        z = label.reshape(pred.shape)
        if not o.get("fromSigmoid", False):
            return finish(np.maximum(pred, 0) - pred * z + softrelu(-np.abs(pred)))
        eps = 1e-12
        return finish(-(np.log(pred + eps) * z + np.log(1.0 - pred + eps) * (1.0 - z)))
    if kind == "SoftmaxCrossEntropyLoss":
        axis = o.get("axis", -1)
        lp = pred if o.get("fromLogits", False) else log_softmax(pred, axis)
        if o.get("sparseLabel", True):
            idx = np.expand_dims(label.astype(np.int64), axis)
            loss = -np.take_along_axis(lp, idx, axis=axis)
        else:
            loss = -(lp * label.reshape(pred.shape)).sum(axis=axis, keepdims=True)
        return finish(loss)
    if kind == "KLDivLoss":
        lp = pred if o.get("fromLogits", True) else log_softmax(pred, o.get("axis", -1))
        return finish(label * (np.log(label + 1e-12) - lp), summed=True)
    if kind == "HuberLoss":
        rho = o.get("rho", 1)
        d = np.abs(label.reshape(pred.shape) - pred)
        return finish(np.where(d > rho, d - 0.5 * rho, (0.5 / rho) * np.square(d)))
    if kind == "HingeLoss":
        return finish(np.maximum(o.get("margin", 1) - pred * label.reshape(pred.shape), 0))
    raise ValueError(kind)


def fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp = x.copy(); xp[i] += h
        xm = x.copy(); xm[i] -= h
        g[i] = (f(xp).sum() - f(xm).sum()) / (2 * h)
    return g


def loss_cases():
    cases = []
    B, C = 4, 5

    def add(kind, o, pred, label, sw=None, name=""):
        pred = f32(pred); label = f32(label)
        sw32 = None if sw is None else f32(sw)
        p64 = pred.astype(np.float64); l64 = label.astype(np.float64)
        s64 = None if sw32 is None else sw32.astype(np.float64)
        out = loss_fn(kind, o, p64, l64, s64)
        grad = fd_grad(lambda p: loss_fn(kind, o, p, l64, s64), p64)
        cases.append({
            "name": f"{kind}{name}", "loss": kind, "options": o,
            "pred": {"shape": list(pred.shape), "data": tolist(pred)},
            "label": {"shape": list(label.shape), "data": tolist(label)},
            "sampleWeight": None if sw32 is None else {"shape": list(sw32.shape), "data": tolist(sw32)},
            "expected": {"shape": list(out.shape), "data": tolist(out)},
            "grad": tolist(grad),
        })

    def away(x, pts, gap=1e-2):
        # keep values away from kinks so that central differences are exact
        for p in pts:
            x = np.where(np.abs(x - p) < gap, x + 3 * gap, x)
        return x

    x = rng.normal(0, 1, (B, C)); y = rng.normal(0, 1, (B, C))
    add("L2Loss", {}, x, y)
    add("L2Loss", {"weight": 3.0}, x, y.reshape(B * C), name="/reshaped")
    add("L2Loss", {}, rng.normal(0, 1, (B, 3, 2)), rng.normal(0, 1, (B, 3, 2)), sw=rng.uniform(0, 2, (B, 1, 1)), name="/sampleWeight")
    d = away(x - y, [0]); add("L1Loss", {}, y + d, y)
    add("L1Loss", {"batchAxis": 1, "weight": 0.5}, y + d, y, name="/batchAxis1")
    logits = rng.normal(0, 2, (B, C))
    add("SigmoidBinaryCrossEntropyLoss", {}, away(logits, [0]), rng.integers(0, 2, (B, C)))
    add("SigmoidBinaryCrossEntropyLoss", {}, np.array([[30.0, -30.0, 0.5], [-25.0, 40.0, -0.3]]), np.array([[0, 1, 1], [1, 0, 0]]), name="/large")
    add("SigmoidBinaryCrossEntropyLoss", {"fromSigmoid": True}, rng.uniform(0.05, 0.95, (B, C)), rng.integers(0, 2, (B, C)), sw=rng.uniform(0, 1, (B, 1)), name="/fromSigmoid")
    lab = rng.integers(0, C, (B,))
    add("SoftmaxCrossEntropyLoss", {}, logits, lab)
    add("SoftmaxCrossEntropyLoss", {}, logits * 40, lab, name="/large")
    add("SoftmaxCrossEntropyLoss", {"weight": 2.0}, logits, lab, sw=rng.uniform(0, 1, (B, 1)), name="/weighted")
    probs = np.exp(log_softmax(rng.normal(0, 1, (B, C)), -1))
    add("SoftmaxCrossEntropyLoss", {"sparseLabel": False}, logits, probs, name="/dense")
    add("SoftmaxCrossEntropyLoss", {"fromLogits": True}, log_softmax(logits, -1), lab, name="/fromLogits")
    add("SoftmaxCrossEntropyLoss", {"axis": 1}, rng.normal(0, 1, (B, C, 3)), rng.integers(0, C, (B, 3)), name="/axis1")
    add("KLDivLoss", {}, log_softmax(logits, -1), probs)
    add("KLDivLoss", {"fromLogits": False}, logits, probs, name="/fromLogitsFalse")
    d = away(rng.normal(0, 2, (B, C)), [-1, 0, 1])
    add("HuberLoss", {}, y + d, y)
    d2 = away(rng.normal(0, 2, (B, C)), [-0.5, 0, 0.5])
    add("HuberLoss", {"rho": 0.5}, y + d2, y, name="/rho")
    sgn = np.where(rng.uniform(size=(B, C)) < 0.5, -1.0, 1.0)
    p = away(rng.normal(0, 1.5, (B, C)), [1, -1])
    add("HingeLoss", {}, p, sgn)
    p2 = away(rng.normal(0, 1.5, (B, C)), [2, -2])
    add("HingeLoss", {"margin": 2}, p2, sgn, name="/margin")
    return cases


# --------------------------------------------------------------------- dense

def act(name, z):
    if name is None:
        return z
    return {
        "relu": lambda v: np.maximum(v, 0),
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        "tanh": np.tanh,
        "softrelu": softrelu,
        "softsign": lambda v: v / (1 + np.abs(v)),
    }[name](z)


def dense_cases():
    cases = []
    for k, (xshape, units, o) in enumerate([
        ([4, 6], 3, {}),
        ([4, 2, 3], 5, {"activation": "relu"}),
        ([3, 2, 4], 2, {"flatten": False, "activation": "tanh"}),
        ([5, 7], 4, {"useBias": False, "activation": "sigmoid"}),
        ([2, 3], 3, {"activation": "softrelu"}),
        ([2, 3], 3, {"activation": "softsign"}),
    ]):
        x = f32(rng.normal(0, 1, xshape))
        flatten = o.get("flatten", True)
        in_units = int(np.prod(xshape[1:])) if flatten else xshape[-1]
        w = f32(rng.normal(0, 0.5, (units, in_units)))
        b = f32(rng.normal(0, 0.5, (units,)))
        x64, w64, b64 = (v.astype(np.float64) for v in (x, w, b))
        use_bias = o.get("useBias", True)

        def f(xv, wv, bv):
            x2 = xv.reshape(xshape[0], -1) if flatten else xv
            z = x2 @ wv.T + (bv if use_bias else 0)
            return act(o.get("activation"), z)

        out = f(x64, w64, b64)
        head = f32(rng.normal(0, 1, out.shape)).astype(np.float64)
        loss = lambda xv, wv, bv: (f(xv, wv, bv) * head)
        gx = fd_grad(lambda v: loss(v, w64, b64), x64)
        gw = fd_grad(lambda v: loss(x64, v, b64), w64)
        gb = fd_grad(lambda v: loss(x64, w64, v), b64)
        cases.append({
            "name": f"dense/{k}", "units": units, "options": o,
            "x": {"shape": xshape, "data": tolist(x)},
            "weight": tolist(w), "bias": tolist(b),
            "head": tolist(head),
            "expected": {"shape": list(out.shape), "data": tolist(out)},
            "gradX": tolist(gx), "gradW": tolist(gw), "gradB": tolist(gb) if use_bias else None,
        })
    return cases


# ---------------------------------------------------------------- paramfile

def paramfile_case():
    """The bytes MXNet 1.x's save_parameters writes, encoded from
    src/ndarray/ndarray.cc (list magic 0x112, reserved, vector<NDArray> as
    u64 count + NDArray::Save records: NDARRAY_V2_MAGIC, stype 0, TShape as
    int32 ndim + int64 dims, Context cpu(0) as two int32, the mshadow type
    flag, the raw little-endian data; then vector<string> as u64 count +
    u64 length + bytes each)."""
    import struct
    arrays = [
        ("0.weight", f32(rng.normal(0, 1, (3, 2)))),
        ("0.bias", f32(rng.normal(0, 1, (3,)))),
        ("1.dense0.weight", np.asarray(rng.normal(0, 1, (2, 3)), dtype=np.float64)),
    ]
    out = struct.pack("<QQQ", 0x112, 0, len(arrays))
    for _, a in arrays:
        flag = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}[a.dtype]
        out += struct.pack("<Iii", 0xF993FAC9, 0, a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape)
        out += struct.pack("<iii", 1, 0, flag) + a.astype(a.dtype.newbyteorder("<")).tobytes()
    out += struct.pack("<Q", len(arrays))
    for name, _ in arrays:
        out += struct.pack("<Q", len(name)) + name.encode()
    return {
        "arrays": [{"name": n, "dtype": str(a.dtype), "shape": list(a.shape), "data": tolist(a)} for n, a in arrays],
        "hex": out.hex(),
    }


# ---------------------------------------------------------------------- conv

def conv_cases():
    """nn.Conv1D / Conv2D / Conv2DTranspose against torch.nn.functional
    (conv1d, conv2d, conv_transpose2d) in float64 from float32 inputs: the
    same layouts (NCW/NCHW; weight (out, in/groups, k...), transposed
    (in, out/groups, k...)), so nothing is converted. Output, and the
    gradients of sum(out * head) w.r.t. input, weight and bias."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    cases = []
    specs = [
        ("Conv2D", [2, 3, 7, 6], 4, [3, 3], {"strides": [2, 1], "padding": [1, 0], "activation": "relu"}),
        ("Conv2D", [1, 4, 6, 6], 4, [3, 3], {"groups": 2, "dilation": 2, "padding": 2}),
        ("Conv2D", [2, 1, 28, 28], 6, [5, 5], {"activation": "relu"}),
        ("Conv1D", [2, 3, 9], 5, [3], {"strides": 2, "padding": 1, "useBias": False}),
        ("Conv2DTranspose", [2, 4, 4, 5], 3, [3, 3], {"strides": 2, "padding": 1, "outputPadding": 1}),
    ]
    for k, (kind, xshape, channels, kernel, o) in enumerate(specs):
        rank = len(kernel)
        groups = o.get("groups", 1)
        cin = xshape[1]
        transposed = kind.endswith("Transpose")
        wshape = [cin, channels // groups, *kernel] if transposed else [channels, cin // groups, *kernel]
        x = f32(rng.normal(0, 1, xshape))
        w = f32(rng.normal(0, 0.3, wshape))
        b = f32(rng.normal(0, 0.3, [channels]))
        use_bias = o.get("useBias", True)
        tx = torch.tensor(x.astype(np.float64), requires_grad=True)
        tw = torch.tensor(w.astype(np.float64), requires_grad=True)
        tb = torch.tensor(b.astype(np.float64), requires_grad=True)
        tup = lambda v: [v] * rank if isinstance(v, int) else v
        stride, pad, dil = tup(o.get("strides", 1)), tup(o.get("padding", 0)), tup(o.get("dilation", 1))
        bias = tb if use_bias else None
        if transposed:
            out = F.conv_transpose2d(tx, tw, bias, stride=stride, padding=pad, output_padding=tup(o.get("outputPadding", 0)), groups=groups, dilation=dil)
        else:
            fn = F.conv1d if rank == 1 else F.conv2d
            out = fn(tx, tw, bias, stride=stride, padding=pad, dilation=dil, groups=groups)
        if o.get("activation") == "relu":
            out = torch.relu(out)
        head = torch.tensor(f32(rng.normal(0, 1, list(out.shape))).astype(np.float64))
        (out * head).sum().backward()
        cases.append({
            "name": f"{kind}/{k}", "layer": kind, "channels": channels, "kernel": kernel, "options": o,
            "x": {"shape": xshape, "data": tolist(x)}, "weight": {"shape": wshape, "data": tolist(w)}, "bias": tolist(b),
            "head": tolist(head.numpy()),
            "expected": {"shape": list(out.shape), "data": tolist(out.detach().numpy())},
            "gradX": tolist(tx.grad.numpy()), "gradW": tolist(tw.grad.numpy()),
            "gradB": tolist(tb.grad.numpy()) if use_bias else None,
        })
    return cases


def main():
    doc = {"optim": optim_cases(), "losses": loss_cases(), "dense": dense_cases(), "paramfile": paramfile_case(), "conv": conv_cases()}
    OUT.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): {len(doc['optim'])} optimizer, {len(doc['losses'])} loss, {len(doc['dense'])} dense cases")


if __name__ == "__main__":
    main()
