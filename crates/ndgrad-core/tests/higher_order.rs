//! Higher-order gradients through ops whose first-order gradient reads the
//! input only through a mask, an index, or not at all (issue #11, part 1).
//!
//! Under `create_graph` every gradient `autograd::grad` returns stays in the
//! graph as a function of its variable, so differentiating it again works
//! and gives zeros where the derivative is zero — MXNet 1.9.1's
//! tests/python/unittest/test_higher_order_grad.py::test_relu expects
//! exactly that (zeros, not an error), and JAX gives it for every function.
//! These tests run natively through `Engine`; tests/ts/higher-order.test.ts
//! and tests/ts/secondorder.test.ts hold the same rule to the .wasm build and
//! the worker.

use ndgrad_core::autograd::{self, GradReq};
use ndgrad_core::dtype::DType;
use ndgrad_core::kernels::{BinOp, RedOp, UnOp};
use ndgrad_core::ops::index::TopK;
use ndgrad_core::storage;
use ndgrad_core::{Engine, MemoryInfo};

/// Recording (and training) on while alive; restored on drop, so a failed
/// assertion cannot leave the thread recording.
struct Recording(bool, bool);
impl Recording {
    fn on() -> Recording {
        Recording(autograd::set_recording(true), autograd::set_training(true))
    }
}
impl Drop for Recording {
    fn drop(&mut self) {
        autograd::set_recording(self.0);
        autograd::set_training(self.1);
    }
}

fn vals(e: &Engine, h: u32) -> Vec<f64> {
    e.get(h).expect("a live handle").to_f64_vec()
}

/// A variable of `dtype` holding `data` (float32 values, widened for float64).
fn var(e: &mut Engine, shape: &[usize], data: &[f32], dtype: DType) -> u32 {
    let h = constant(e, shape, data, dtype);
    e.attach_grad(h, GradReq::Write).unwrap();
    h
}

fn constant(e: &mut Engine, shape: &[usize], data: &[f32], dtype: DType) -> u32 {
    let f = e.from_data(shape, data).unwrap();
    if dtype == DType::F32 {
        return f;
    }
    let h = e.astype(f, dtype).unwrap();
    e.free(f);
    h
}

fn grad_vals(e: &mut Engine, h: u32) -> (Vec<f64>, DType) {
    let g = e.grad(h).unwrap().expect("an attached gradient");
    let out = (vals(e, g), e.dtype(g).unwrap());
    e.free(g);
    out
}

#[track_caller]
fn assert_all_freed(e: &Engine) {
    assert_eq!(
        e.memory(),
        MemoryInfo {
            arrays: 0,
            bytes: 0,
            tape_nodes: 0
        }
    );
    assert_eq!(storage::live_buffers(), 0, "live buffers");
    assert!(!autograd::is_recording(), "recording was left on");
}

/// Deterministic values in (-2, 2), none within 0.2 of 0 or of each other's
/// rounding boundaries that matter here (relu's kink, sign's jump).
fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            let u = (s >> 8) as f32 / (1u32 << 24) as f32; // [0, 1)
            let m = 0.3 + 1.6 * u;
            if s & 1 == 0 {
                m
            } else {
                -m
            }
        })
        .collect()
}

/// y = f(x) for one op: the handles it created, `y` last.
type Build = fn(&mut Engine, u32, DType) -> Vec<u32>;

fn one(h: u32) -> Vec<u32> {
    vec![h]
}

/// Ops whose first-order gradient does not depend on x (linear), or reads x
/// only through a mask or an index: the second derivative is zero.
const ZERO_SECOND: &[(&str, Build)] = &[
    ("relu", |e, x, _| one(e.unary(UnOp::Relu, x).unwrap())),
    ("abs", |e, x, _| one(e.unary(UnOp::Abs, x).unwrap())),
    ("sign", |e, x, _| one(e.unary(UnOp::Sign, x).unwrap())),
    ("floor", |e, x, _| one(e.unary(UnOp::Floor, x).unwrap())),
    ("round", |e, x, _| one(e.unary(UnOp::Round, x).unwrap())),
    ("neg", |e, x, _| one(e.unary(UnOp::Neg, x).unwrap())),
    ("clip", |e, x, _| one(e.clip(x, -0.5, 0.75).unwrap())),
    ("leakyRelu", |e, x, _| one(e.leaky_relu(x, 0.1).unwrap())),
    ("maximum", |e, x, d| {
        let c = constant(e, &[3], &[0.1, -0.2, 0.4], d);
        vec![c, e.binary(BinOp::Maximum, x, c).unwrap()]
    }),
    ("minimum", |e, x, d| {
        let c = constant(e, &[2, 1], &[0.1, -0.2], d);
        vec![c, e.binary(BinOp::Minimum, c, x).unwrap()]
    }),
    ("add", |e, x, d| {
        let c = constant(e, &[3], &[1., 2., 3.], d);
        vec![c, e.binary(BinOp::Add, x, c).unwrap()]
    }),
    ("sub", |e, x, _| one(e.binary(BinOp::Sub, x, x).unwrap())),
    ("add scalar", |e, x, _| {
        one(e.binary_scalar(BinOp::Add, x, 2.0, false).unwrap())
    }),
    ("mul by a number", |e, x, _| {
        one(e.binary_scalar(BinOp::Mul, x, 3.0, true).unwrap())
    }),
    ("div by a number", |e, x, _| {
        one(e.binary_scalar(BinOp::Div, x, 4.0, false).unwrap())
    }),
    ("reshape", |e, x, _| one(e.reshape(x, &[3, -1]).unwrap())),
    ("transpose", |e, x, _| one(e.transpose(x, None).unwrap())),
    ("slice", |e, x, _| one(e.slice(x, Some(1), None).unwrap())),
    ("sum", |e, x, _| {
        one(e.reduce(RedOp::Sum, x, Some(&[1]), false).unwrap())
    }),
    ("mean", |e, x, _| {
        one(e.reduce(RedOp::Mean, x, None, false).unwrap())
    }),
    ("max", |e, x, _| {
        one(e.reduce(RedOp::Max, x, Some(&[0]), true).unwrap())
    }),
    ("min", |e, x, _| {
        one(e.reduce(RedOp::Min, x, None, false).unwrap())
    }),
    ("flip", |e, x, _| one(e.flip(x, &[1]).unwrap())),
    ("tile", |e, x, _| one(e.tile(x, &[2, 1]).unwrap())),
    ("repeat", |e, x, _| one(e.repeat(x, 2, Some(0)).unwrap())),
    ("broadcastTo", |e, x, _| {
        one(e.broadcast_to(x, &[2, 2, 3]).unwrap())
    }),
    ("concat", |e, x, _| one(e.concat(&[x, x], 0).unwrap())),
    ("copy", |e, x, _| one(e.copy(x).unwrap())),
    ("where (int32 cond)", |e, x, d| {
        let f = e.from_data(&[2, 3], &[1., 0., 1., 0., 0., 1.]).unwrap();
        let cond = e.astype(f, DType::I32).unwrap();
        let c = constant(e, &[3], &[5., 6., 7.], d);
        vec![f, cond, c, e.where_(cond, x, c).unwrap()]
    }),
    ("take", |e, x, _| {
        let idx = e.from_data(&[3], &[1., 0., 1.]).unwrap();
        vec![idx, e.take_along(x, idx, 0, false).unwrap()]
    }),
    ("pick", |e, x, _| {
        let idx = e.from_data(&[2], &[2., 0.]).unwrap();
        vec![idx, e.pick(x, idx, 1, false, false).unwrap()]
    }),
    ("sort", |e, x, _| one(e.sort(x, -1, true, false).unwrap())),
    ("topk", |e, x, _| {
        one(e.topk(x, -1, 2, TopK::Value, false).unwrap())
    }),
    ("dot with a constant", |e, x, d| {
        let c = constant(e, &[3, 2], &[1., -1., 0.5, 2., -0.5, 0.25], d);
        vec![c, e.dot(x, c).unwrap()]
    }),
];

/// MXNet's test_relu, for every op of ZERO_SECOND in both float dtypes:
/// `x_grad = grad(y, x, head_grads, create_graph, retain_graph)` inside
/// record, then `x_grad.backward(head_grad_grads)` leaves zeros of x's shape
/// and dtype in `x.grad` (overwriting a stale first-order gradient), and
/// `grad(x_grad, x)` is zeros too. Everything is freed afterwards.
#[test]
fn second_order_is_zero_through_masks_indices_and_linear_ops() {
    for dtype in [DType::F32, DType::F64] {
        for (k, (name, build)) in ZERO_SECOND.iter().enumerate() {
            let mut e = Engine::new();
            let x = var(&mut e, &[2, 3], &values(6, k as u32), dtype);
            let created = {
                let _r = Recording::on();
                build(&mut e, x, dtype)
            };
            let y = *created.last().unwrap();
            let ys = e.get(y).unwrap().shape.clone();
            let n: usize = ys.iter().product();
            let hg = constant(&mut e, &ys, &values(n, 100 + k as u32), dtype);
            // A stale first-order gradient in x.grad, which must be overwritten.
            e.backward(&[y], &[Some(hg)], true, true).unwrap();
            let (first, _) = grad_vals(&mut e, x);
            let xg = {
                let _r = Recording::on();
                e.grad_of(&[y], &[Some(hg)], &[x], true, true, true)
                    .unwrap()[0]
            };
            assert_eq!(vals(&e, xg), first, "{name}: the first-order gradient");
            assert_eq!(e.dtype(xg).unwrap(), dtype);
            let hgg = constant(&mut e, &[2, 3], &values(6, 200 + k as u32), dtype);
            // autograd.grad of the gradient: zeros, of x's dtype.
            let gg = e
                .grad_of(&[xg], &[Some(hgg)], &[x], true, false, true)
                .unwrap_or_else(|err| panic!("{name} {dtype:?}: {err}"))[0];
            assert_eq!(
                vals(&e, gg),
                [0.0; 6],
                "{name} {dtype:?}: grad of the gradient"
            );
            assert_eq!(e.dtype(gg).unwrap(), dtype);
            assert_eq!(e.get(gg).unwrap().shape, [2, 3]);
            // backward of the gradient: x.grad is zeros, not left stale.
            e.backward(&[xg], &[Some(hgg)], false, true)
                .unwrap_or_else(|err| panic!("{name} {dtype:?}: {err}"));
            let (second, dt) = grad_vals(&mut e, x);
            assert_eq!(second, [0.0; 6], "{name} {dtype:?}: x.grad");
            assert_eq!(dt, dtype);
            for h in created.into_iter().chain([x, hg, xg, hgg, gg]) {
                assert!(e.free(h), "{name}: handle {h}");
            }
            assert_all_freed(&e);
        }
    }
}

/// The tie adds nothing where the gradient has a real path back to x:
/// relu(x)·x has the second derivative 2·(x > 0); `gradReq "add"`
/// accumulates into x.grad; a recorded head gradient keeps its own path; and
/// a variable reached several times (relu(x) + relu(x) + x²) sums correctly.
#[test]
fn second_order_values_through_piecewise_ops() {
    let mut e = Engine::new();
    let xv = [-1.5f32, -0.5, 0.5, 2.0];
    let x = var(&mut e, &[4], &xv, DType::F64);
    let mask: Vec<f64> = xv.iter().map(|&v| f64::from(u8::from(v > 0.0))).collect();

    // y = Σ relu(x)·x: dy/dx = 2x·m, d²y/dx² = 2m
    let (r, p, y) = {
        let _r = Recording::on();
        let r = e.unary(UnOp::Relu, x).unwrap();
        let p = e.binary(BinOp::Mul, r, x).unwrap();
        (r, p, e.reduce(RedOp::Sum, p, None, false).unwrap())
    };
    let g = e.grad_of(&[y], &[None], &[x], true, true, true).unwrap()[0];
    let want: Vec<f64> = xv
        .iter()
        .zip(&mask)
        .map(|(&v, m)| 2.0 * f64::from(v) * m)
        .collect();
    assert_eq!(vals(&e, g), want);
    e.backward(&[g], &[None], true, true).unwrap();
    let want2: Vec<f64> = mask.iter().map(|m| 2.0 * m).collect();
    assert_eq!(grad_vals(&mut e, x).0, want2);
    e.backward(&[g], &[None], false, true).unwrap();
    for h in [r, p, y, g] {
        e.free(h);
    }

    // gradReq "add": the second derivative accumulates on top of what
    // x.grad held; through relu alone it adds zeros (x.grad unchanged).
    let xa = constant(&mut e, &[4], &xv, DType::F64);
    e.attach_grad(xa, GradReq::Add).unwrap();
    let (r, p, y) = {
        let _r = Recording::on();
        let r = e.unary(UnOp::Relu, xa).unwrap();
        let p = e.binary(BinOp::Mul, r, xa).unwrap();
        (r, p, e.reduce(RedOp::Sum, p, None, false).unwrap())
    };
    let g = e.grad_of(&[y], &[None], &[xa], true, true, true).unwrap()[0];
    e.backward(&[g], &[None], true, true).unwrap();
    e.backward(&[g], &[None], true, true).unwrap();
    let want4: Vec<f64> = mask.iter().map(|m| 4.0 * m).collect();
    assert_eq!(grad_vals(&mut e, xa).0, want4);
    let g2 = e.grad_of(&[r], &[None], &[xa], true, true, true).unwrap()[0];
    e.backward(&[g2], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, xa).0, want4, "zeros added");
    e.backward(&[g], &[None], false, true).unwrap();
    for h in [r, p, y, g, g2, xa] {
        e.free(h);
    }

    // A recorded head gradient hg = x² for y = relu(x):
    // g = x²·m, dg/dx (summed) = 2x·m through the head gradient.
    e.attach_grad(x, GradReq::Write).unwrap();
    let (hg, y) = {
        let _r = Recording::on();
        let hg = e.unary(UnOp::Square, x).unwrap();
        (hg, e.unary(UnOp::Relu, x).unwrap())
    };
    let g = e
        .grad_of(&[y], &[Some(hg)], &[x], true, true, true)
        .unwrap()[0];
    e.backward(&[g], &[None], false, true).unwrap();
    let want: Vec<f64> = xv
        .iter()
        .zip(&mask)
        .map(|(&v, m)| 2.0 * f64::from(v) * m)
        .collect();
    assert_eq!(grad_vals(&mut e, x).0, want);
    for h in [hg, y, g] {
        e.free(h);
    }

    // Several paths: y = Σ relu(x) + relu(x) + x², d²y/dx² = 2.
    let made = {
        let _r = Recording::on();
        let a = e.unary(UnOp::Relu, x).unwrap();
        let b = e.unary(UnOp::Relu, x).unwrap();
        let c = e.unary(UnOp::Square, x).unwrap();
        let ab = e.binary(BinOp::Add, a, b).unwrap();
        let abc = e.binary(BinOp::Add, ab, c).unwrap();
        let y = e.reduce(RedOp::Sum, abc, None, false).unwrap();
        [a, b, c, ab, abc, y]
    };
    let g = e
        .grad_of(&[made[5]], &[None], &[x], true, true, true)
        .unwrap()[0];
    let want: Vec<f64> = xv
        .iter()
        .zip(&mask)
        .map(|(&v, m)| 2.0 * m + 2.0 * f64::from(v))
        .collect();
    assert_eq!(vals(&e, g), want);
    e.backward(&[g], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, x).0, [2.0; 4]);
    for h in made.into_iter().chain([g, x]) {
        e.free(h);
    }
    assert_all_freed(&e);
}

/// Third order through relu, as MXNet's check_nth_order_unary chains
/// `autograd.grad(..., create_graph=True)` inside record: each order's
/// result is again in the graph; the second and third are zeros.
#[test]
fn nth_order_chains_stay_connected() {
    let mut e = Engine::new();
    let x = var(&mut e, &[3], &[-1.0, 0.5, 2.0], DType::F32);
    let _r = Recording::on();
    let y = e.unary(UnOp::Relu, x).unwrap();
    let mut held = vec![y];
    let mut cur = y;
    let mut results = Vec::new();
    for order in 1..=3 {
        let hg = e.from_data(&[3], &[2.0, 3.0, 4.0]).unwrap();
        let g = e
            .grad_of(&[cur], &[Some(hg)], &[x], true, true, true)
            .unwrap_or_else(|err| panic!("order {order}: {err}"))[0];
        results.push(vals(&e, g));
        held.extend([hg, g]);
        cur = g;
    }
    assert_eq!(results[0], [0.0, 3.0, 4.0]);
    assert_eq!(results[1], [0.0; 3]);
    assert_eq!(results[2], [0.0; 3]);
    drop(_r);
    // The first order with its variable: the tie's node is in the count.
    assert!(e.memory().tape_nodes > 0);
    for h in held.into_iter().chain([x]) {
        e.free(h);
    }
    assert_all_freed(&e);
}

/// A gradient w.r.t. a variable the heads do not reach is zeros, and under
/// create_graph those zeros are in the graph too; a variable with gradReq
/// "null" gets no tie (it asks for no gradient), so a purely linear
/// gradient of it stays outside the graph, as MXNet says.
#[test]
fn unreached_and_null_variables() {
    let mut e = Engine::new();
    let x = var(&mut e, &[2], &[1.0, 2.0], DType::F32);
    let w = var(&mut e, &[2], &[3.0, 4.0], DType::F32);
    let y = {
        let _r = Recording::on();
        e.binary_scalar(BinOp::Mul, x, 2.0, false).unwrap()
    };
    let g = e.grad_of(&[y], &[None], &[x, w], true, true, true).unwrap();
    assert_eq!(vals(&e, g[0]), [2.0, 2.0]);
    assert_eq!(vals(&e, g[1]), [0.0, 0.0]);
    let gw = e
        .grad_of(&[g[1]], &[None], &[w, x], true, false, true)
        .unwrap();
    assert_eq!(vals(&e, gw[0]), [0.0, 0.0]);
    assert_eq!(vals(&e, gw[1]), [0.0, 0.0]);
    e.backward(&[g[0]], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, x).0, [0.0, 0.0]);
    for h in g.into_iter().chain(gw).chain([y]) {
        e.free(h);
    }

    e.attach_grad(x, GradReq::Null).unwrap();
    e.attach_grad(w, GradReq::Write).unwrap();
    let y = {
        let _r = Recording::on();
        e.binary(BinOp::Add, x, w).unwrap()
    };
    // x asks for no gradient: zeros (as for an unreached variable), and
    // nothing ties them to x.
    let g = e.grad_of(&[y], &[None], &[x], true, true, true).unwrap()[0];
    assert_eq!(vals(&e, g), [0.0, 0.0]);
    let err = e.backward(&[g], &[None], false, true).unwrap_err();
    assert!(
        err.message.contains("not in a computational graph"),
        "{}",
        err.message
    );
    for h in [g, y, x, w] {
        e.free(h);
    }
    assert_all_freed(&e);
}
