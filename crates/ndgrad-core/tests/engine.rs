//! Native integration tests of the engine through its public surface
//! (`Engine` handles and `autograd`): hand-computed values of every op
//! family and of their gradients, the tape's lifetime (node counts, retained
//! graphs, MXNet's error for a second backward), buffers kept alive for
//! backward after their handles were freed, stale and forged handles, a
//! 100,000-op chain freed without recursion, live counts back to zero, and a
//! seeded property test driving random (often invalid) engine calls.
//!
//! The live counters (`storage::live_bytes`, `autograd::live_nodes`) and the
//! recording flag are thread-local, and every test runs on its own thread, so
//! each test starts from zero and must end there.

use ndgrad_core::autograd::{self, GradReq};
use ndgrad_core::dtype::DType::F32;
use ndgrad_core::kernels::{BinOp, RedOp, UnOp};
use ndgrad_core::shape::MAX_ELEMENTS;
use ndgrad_core::storage;
use ndgrad_core::{Engine, Error, ErrorKind, MemoryInfo};

// ---------------------------------------------------------------------------
// Helpers

/// Turns recording (and training) on; restores both when dropped, so that a
/// failing assertion cannot leave the thread recording.
struct Recording {
    recording: bool,
    training: bool,
}

impl Recording {
    fn on() -> Recording {
        Recording {
            recording: autograd::set_recording(true),
            training: autograd::set_training(true),
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        autograd::set_recording(self.recording);
        autograd::set_training(self.training);
    }
}

/// Run `f` with recording on.
fn rec<T>(f: impl FnOnce() -> T) -> T {
    let _r = Recording::on();
    f()
}

fn arr(e: &mut Engine, shape: &[usize], data: &[f32]) -> u32 {
    e.from_data(shape, data).expect("from_data")
}

fn vals(e: &Engine, h: u32) -> Vec<f32> {
    e.get(h).expect("a live handle").to_vec()
}

fn shape(e: &Engine, h: u32) -> Vec<usize> {
    e.get(h).expect("a live handle").shape.clone()
}

/// Values of `h` and its shape must be exactly these.
#[track_caller]
fn expect_exact(e: &Engine, h: u32, want_shape: &[usize], want: &[f32]) {
    assert_eq!(shape(e, h), want_shape, "shape");
    assert_eq!(vals(e, h), want, "values");
}

/// Values within a relative tolerance of 1e-6 (float32 transcendental ops).
#[track_caller]
fn expect_close(e: &Engine, h: u32, want_shape: &[usize], want: &[f32]) {
    assert_eq!(shape(e, h), want_shape, "shape");
    let got = vals(e, h);
    assert_eq!(got.len(), want.len(), "length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= 1e-6 * w.abs().max(1.0)
        };
        assert!(ok, "element {i}: got {g}, want {w} (all: {got:?})");
    }
}

/// The gradient buffer of variable `h`, as values.
fn grad_vals(e: &mut Engine, h: u32) -> Vec<f32> {
    let g = e.grad(h).expect("grad").expect("an attached gradient");
    let v = vals(e, g);
    e.free(g);
    v
}

fn free_all(e: &mut Engine, hs: &[u32]) {
    for &h in hs {
        assert!(e.free(h), "handle {h} should have been live");
    }
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
    assert_eq!(storage::live_bytes(), 0, "live bytes");
    assert_eq!(autograd::live_nodes(), 0, "live tape nodes");
    assert!(!autograd::is_recording(), "recording was left on");
}

#[track_caller]
fn expect_err<T: std::fmt::Debug>(r: Result<T, Error>, kind: ErrorKind, parts: &[&str]) -> Error {
    let e = r.expect_err("expected an error");
    assert_eq!(e.kind, kind, "kind of {:?}", e.message);
    for p in parts {
        assert!(
            e.message.contains(p),
            "{:?} should contain {p:?}",
            e.message
        );
    }
    e
}

const MXNET_NOT_IN_GRAPH: &str = "Cannot differentiate node because it is not in a computational graph. \
You need to set is_recording to true or use autograd.record() to save computational graphs for backward. \
If you want to differentiate the same graph twice, you need to pass retain_graph=True to backward.";

// ---------------------------------------------------------------------------
// Values of every op family

#[test]
fn creation_has_hand_computed_values() {
    let mut e = Engine::new();
    assert_all_freed(&e);
    let a = arr(&mut e, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    expect_exact(&e, a, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    assert_eq!(
        e.memory(),
        MemoryInfo {
            arrays: 1,
            bytes: 24,
            tape_nodes: 0
        }
    );
    let f = e.full(&[2, 2], 7.5, F32).unwrap();
    expect_exact(&e, f, &[2, 2], &[7.5; 4]);
    let z = e.alloc(&[3], F32).unwrap();
    expect_exact(&e, z, &[3], &[0.; 3]);
    let s = e.from_data(&[], &[4.]).unwrap();
    expect_exact(&e, s, &[], &[4.]);
    let empty = e.from_data(&[2, 0], &[]).unwrap();
    expect_exact(&e, empty, &[2, 0], &[]);

    let r1 = e.arange(0., 5., 1., F32).unwrap();
    expect_exact(&e, r1, &[5], &[0., 1., 2., 3., 4.]);
    let r2 = e.arange(1., 2., 0.25, F32).unwrap();
    expect_exact(&e, r2, &[4], &[1., 1.25, 1.5, 1.75]);
    let r3 = e.arange(5., 0., -2., F32).unwrap();
    expect_exact(&e, r3, &[3], &[5., 3., 1.]);
    let r4 = e.arange(3., 3., 1., F32).unwrap();
    expect_exact(&e, r4, &[0], &[]);
    let r5 = e.arange(0., 1., -1., F32).unwrap();
    expect_exact(&e, r5, &[0], &[]);
    assert_eq!(
        e.memory(),
        MemoryInfo {
            arrays: 10,
            bytes: 24 + 16 + 12 + 4 + 20 + 16 + 12,
            tape_nodes: 0
        }
    );

    expect_err(
        e.from_data(&[2, 2], &[1., 2., 3.]),
        ErrorKind::InvalidArgument,
        &["array", "[2,2]"],
    );
    expect_err(
        e.arange(0., 1., 0., F32),
        ErrorKind::InvalidArgument,
        &["arange"],
    );
    expect_err(
        e.arange(0., f64::NAN, 1., F32),
        ErrorKind::InvalidArgument,
        &["arange"],
    );
    expect_err(
        e.arange(0., 1e12, 1., F32),
        ErrorKind::InvalidArgument,
        &["arange"],
    );
    expect_err(
        e.full(&[1 << 16, 1 << 16], 0., F32),
        ErrorKind::InvalidArgument,
        &["full", "[65536,65536]"],
    );
    expect_err(
        e.full(&[usize::MAX, 2], 0., F32),
        ErrorKind::InvalidArgument,
        &["full"],
    );
    expect_err(e.alloc(&[1; 33], F32), ErrorKind::InvalidArgument, &["33"]);
    assert_eq!(
        e.memory().arrays,
        10,
        "failed creations leave nothing behind"
    );

    free_all(&mut e, &[a, f, z, s, empty, r1, r2, r3, r4, r5]);
    assert_all_freed(&e);
}

#[test]
fn random_is_seeded_and_in_range() {
    let mut e = Engine::new();
    e.random_seed(42);
    let u1 = e.random_uniform(2., 3., &[1000], F32).unwrap();
    e.random_seed(42);
    let u2 = e.random_uniform(2., 3., &[1000], F32).unwrap();
    let (v1, v2) = (vals(&e, u1), vals(&e, u2));
    assert_eq!(v1, v2, "the same seed gives the same samples");
    assert!(v1.iter().all(|&v| (2.0..3.0).contains(&v)));
    let mean = v1.iter().map(|&v| v as f64).sum::<f64>() / 1000.;
    assert!((mean - 2.5).abs() < 0.05, "mean {mean}");
    let n = e.random_normal(1., 2., &[4000], F32).unwrap();
    let nv = vals(&e, n);
    let m = nv.iter().map(|&v| v as f64).sum::<f64>() / 4000.;
    let var = nv.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / 4000.;
    assert!(
        (m - 1.).abs() < 0.15 && (var.sqrt() - 2.).abs() < 0.15,
        "{m} {var}"
    );
    expect_err(
        e.random_normal(0., -1., &[2], F32),
        ErrorKind::InvalidArgument,
        &["normal"],
    );
    expect_err(
        e.random_uniform(0., f64::INFINITY, &[2], F32),
        ErrorKind::InvalidArgument,
        &["uniform"],
    );
    free_all(&mut e, &[u1, u2, n]);
    assert_all_freed(&e);
}

#[test]
fn binary_ops_broadcast_with_hand_computed_values() {
    let mut e = Engine::new();
    let a = arr(&mut e, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = arr(&mut e, &[3], &[2., 2., 0.5]);
    let bad = e.alloc(&[2], F32).unwrap();
    let sqrt3 = 3f32.sqrt();
    let sqrt6 = 6f32.sqrt();
    let table: [(BinOp, [f32; 6]); 13] = [
        (BinOp::Add, [3., 4., 3.5, 6., 7., 6.5]),
        (BinOp::Sub, [-1., 0., 2.5, 2., 3., 5.5]),
        (BinOp::Mul, [2., 4., 1.5, 8., 10., 3.]),
        (BinOp::Div, [0.5, 1., 6., 2., 2.5, 12.]),
        (BinOp::Pow, [1., 4., sqrt3, 16., 25., sqrt6]),
        (BinOp::Maximum, [2., 2., 3., 4., 5., 6.]),
        (BinOp::Minimum, [1., 2., 0.5, 2., 2., 0.5]),
        (BinOp::Equal, [0., 1., 0., 0., 0., 0.]),
        (BinOp::NotEqual, [1., 0., 1., 1., 1., 1.]),
        (BinOp::Greater, [0., 0., 1., 1., 1., 1.]),
        (BinOp::GreaterEqual, [0., 1., 1., 1., 1., 1.]),
        (BinOp::Lesser, [1., 0., 0., 0., 0., 0.]),
        (BinOp::LesserEqual, [1., 1., 0., 0., 0., 0.]),
    ];
    for (op, want) in table {
        let y = e.binary(op, a, b).unwrap();
        expect_close(&e, y, &[2, 3], &want);
        e.free(y);
        // Broadcasting the other way round gives the mirrored op's values
        // for the symmetric ones.
        if matches!(
            op,
            BinOp::Add | BinOp::Mul | BinOp::Maximum | BinOp::Minimum | BinOp::Equal
        ) {
            let y = e.binary(op, b, a).unwrap();
            expect_close(&e, y, &[2, 3], &want);
            e.free(y);
        }
        let err = expect_err(
            e.binary(op, a, bad),
            ErrorKind::ShapeMismatch,
            &["[2,3]", "[2]"],
        );
        assert!(err.message.starts_with(op.name()), "{}", err.message);
    }
    // [2,1] with [1,3] → [2,3]
    let col = arr(&mut e, &[2, 1], &[1., 2.]);
    let row = arr(&mut e, &[1, 3], &[10., 20., 30.]);
    let outer = e.binary(BinOp::Add, col, row).unwrap();
    expect_exact(&e, outer, &[2, 3], &[11., 21., 31., 12., 22., 32.]);
    // a 0-d array broadcasts against anything
    let s = arr(&mut e, &[], &[100.]);
    let y = e.binary(BinOp::Sub, s, a).unwrap();
    expect_exact(&e, y, &[2, 3], &[99., 98., 97., 96., 95., 94.]);
    // empty shapes broadcast to empty results
    let z = arr(&mut e, &[0, 3], &[]);
    let ze = e.binary(BinOp::Mul, z, b).unwrap();
    expect_exact(&e, ze, &[0, 3], &[]);
    free_all(&mut e, &[a, b, bad, col, row, outer, s, y, z, ze]);
    assert_all_freed(&e);
}

#[test]
fn scalar_forms_with_hand_computed_values() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[3], &[1., 2., 4.]);
    let cases: [(BinOp, f64, bool, [f32; 3]); 12] = [
        (BinOp::Add, 1., false, [2., 3., 5.]),
        (BinOp::Sub, 1., false, [0., 1., 3.]),
        (BinOp::Sub, 1., true, [0., -1., -3.]),
        (BinOp::Mul, -2., false, [-2., -4., -8.]),
        (BinOp::Div, 2., false, [0.5, 1., 2.]),
        (BinOp::Div, 8., true, [8., 4., 2.]),
        (BinOp::Pow, 2., false, [1., 4., 16.]),
        (BinOp::Pow, 2., true, [2., 4., 16.]),
        (BinOp::Maximum, 2., false, [2., 2., 4.]),
        (BinOp::Minimum, 2., false, [1., 2., 2.]),
        (BinOp::Greater, 2., false, [0., 0., 1.]),
        (BinOp::Greater, 2., true, [1., 0., 0.]),
    ];
    for (op, s, reverse, want) in cases {
        let y = e.binary_scalar(op, x, s, reverse).unwrap();
        expect_exact(&e, y, &[3], &want);
        e.free(y);
    }
    e.free(x);
    assert_all_freed(&e);
}

#[test]
fn unary_ops_with_hand_computed_values() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[3], &[-2., 0., 3.]);
    let p = arr(&mut e, &[3], &[1., 4., 0.25]);
    let z = arr(&mut e, &[2], &[0., 1.]);
    let e1 = std::f32::consts::E;
    let cases: [(UnOp, u32, &[f32]); 13] = [
        (UnOp::Neg, x, &[2., 0., -3.]),
        (UnOp::Abs, x, &[2., 0., 3.]),
        (UnOp::Relu, x, &[0., 0., 3.]),
        (UnOp::Sign, x, &[-1., 0., 1.]),
        (UnOp::Square, x, &[4., 0., 9.]),
        (UnOp::Sqrt, p, &[1., 2., 0.5]),
        (UnOp::Log, p, &[0., 4f32.ln(), -(4f32.ln())]),
        (UnOp::Exp, z, &[1., e1]),
        (UnOp::Sigmoid, z, &[0.5, 1. / (1. + (-1f32).exp())]),
        (UnOp::Tanh, z, &[0., 1f32.tanh()]),
        (UnOp::Sqrt, x, &[f32::NAN, 0., 3f32.sqrt()]),
        (UnOp::Log, x, &[f32::NAN, f32::NEG_INFINITY, 3f32.ln()]),
        (UnOp::Sigmoid, x, &[0.11920292, 0.5, 0.95257413]),
    ];
    for (op, input, want) in cases {
        let y = e.unary(op, input).unwrap();
        expect_close(&e, y, &shape(&e, input), want);
        e.free(y);
    }
    free_all(&mut e, &[x, p, z]);
    assert_all_freed(&e);
}

/// (op, axes, keepdims, result shape, result values)
type ReduceCase = (RedOp, Option<Vec<i64>>, bool, Vec<usize>, Vec<f32>);

#[test]
fn reductions_over_axes_with_hand_computed_values() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let cases: Vec<ReduceCase> = vec![
        (RedOp::Sum, None, false, vec![1], vec![21.]),
        (RedOp::Sum, Some(vec![]), false, vec![1], vec![21.]),
        (RedOp::Sum, Some(vec![0]), false, vec![3], vec![5., 7., 9.]),
        (RedOp::Sum, Some(vec![1]), false, vec![2], vec![6., 15.]),
        (RedOp::Sum, Some(vec![-1]), true, vec![2, 1], vec![6., 15.]),
        (RedOp::Sum, Some(vec![1, 0]), false, vec![1], vec![21.]),
        (RedOp::Sum, Some(vec![0, 1]), true, vec![1, 1], vec![21.]),
        (RedOp::Mean, None, false, vec![1], vec![3.5]),
        (
            RedOp::Mean,
            Some(vec![0]),
            false,
            vec![3],
            vec![2.5, 3.5, 4.5],
        ),
        (RedOp::Max, Some(vec![1]), false, vec![2], vec![3., 6.]),
        (RedOp::Max, None, true, vec![1, 1], vec![6.]),
        (RedOp::Min, Some(vec![0]), false, vec![3], vec![1., 2., 3.]),
        (
            RedOp::Min,
            Some(vec![-2]),
            true,
            vec![1, 3],
            vec![1., 2., 3.],
        ),
        (RedOp::Prod, None, false, vec![1], vec![720.]),
        (RedOp::Prod, Some(vec![1]), false, vec![2], vec![6., 120.]),
        (
            RedOp::Norm,
            Some(vec![1]),
            false,
            vec![2],
            vec![14f32.sqrt(), 77f32.sqrt()],
        ),
    ];
    for (op, axes, keep, want_shape, want) in cases {
        let y = e.reduce(op, x, axes.as_deref(), keep).unwrap();
        expect_close(&e, y, &want_shape, &want);
        e.free(y);
    }
    let v = arr(&mut e, &[2], &[3., 4.]);
    let n = e.reduce(RedOp::Norm, v, None, false).unwrap();
    expect_close(&e, n, &[1], &[5.]);
    // [2,3,4] = arange(24): summing axes 0 and 2 gives 60 + 32j
    let r = e.arange(0., 24., 1., F32).unwrap();
    let t = e.reshape(r, &[2, 3, 4]).unwrap();
    let s = e.reduce(RedOp::Sum, t, Some(&[0, 2]), false).unwrap();
    expect_exact(&e, s, &[3], &[60., 92., 124.]);
    let s2 = e.reduce(RedOp::Max, t, Some(&[2, 0]), true).unwrap();
    expect_exact(&e, s2, &[1, 3, 1], &[15., 19., 23.]);
    // empty arrays: sum and prod have identities, max and min do not
    let empty = arr(&mut e, &[0, 2], &[]);
    let es = e.reduce(RedOp::Sum, empty, Some(&[0]), false).unwrap();
    expect_exact(&e, es, &[2], &[0., 0.]);
    let ep = e.reduce(RedOp::Prod, empty, None, false).unwrap();
    expect_exact(&e, ep, &[1], &[1.]);
    let em = e.reduce(RedOp::Max, empty, Some(&[1]), false).unwrap();
    expect_exact(&e, em, &[0], &[]);
    expect_err(
        e.reduce(RedOp::Max, empty, Some(&[0]), false),
        ErrorKind::InvalidArgument,
        &["max", "[0,2]"],
    );
    for op in RedOp::ALL {
        expect_err(
            e.reduce(op, x, Some(&[2]), false),
            ErrorKind::InvalidArgument,
            &[op.name(), "axis 2"],
        );
        expect_err(
            e.reduce(op, x, Some(&[-3]), false),
            ErrorKind::InvalidArgument,
            &[op.name(), "-3"],
        );
        expect_err(
            e.reduce(op, x, Some(&[0, -2]), false),
            ErrorKind::InvalidArgument,
            &[op.name(), "duplicate"],
        );
        expect_err(
            e.reduce(op, x, Some(&[i64::MIN]), false),
            ErrorKind::InvalidArgument,
            &[op.name()],
        );
    }
    free_all(&mut e, &[x, v, n, r, t, s, s2, empty, es, ep, em]);
    assert_all_freed(&e);
}

#[test]
fn movement_ops_with_hand_computed_values() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[2, 3], &[1., 2., 3., 4., 5., 6.]);

    let r = e.reshape(x, &[3, -1]).unwrap();
    expect_exact(&e, r, &[3, 2], &[1., 2., 3., 4., 5., 6.]);
    assert!(
        std::rc::Rc::ptr_eq(&e.get(x).unwrap().buf, &e.get(r).unwrap().buf),
        "reshape shares the buffer"
    );
    assert_eq!(e.memory().bytes, 24);
    expect_err(
        e.reshape(x, &[-1, -1]),
        ErrorKind::ShapeMismatch,
        &["reshape"],
    );
    expect_err(
        e.reshape(x, &[4]),
        ErrorKind::ShapeMismatch,
        &["reshape", "[2,3]", "[4]"],
    );
    expect_err(
        e.reshape(x, &[-1, 4]),
        ErrorKind::ShapeMismatch,
        &["reshape", "[2,3]"],
    );
    expect_err(e.reshape(x, &[-2, 3]), ErrorKind::ShapeMismatch, &["-2"]);
    expect_err(
        e.reshape(x, &[i64::MAX, i64::MAX]),
        ErrorKind::InvalidArgument,
        &["reshape"],
    );

    let t = e.transpose(x, None).unwrap();
    expect_exact(&e, t, &[3, 2], &[1., 4., 2., 5., 3., 6.]);
    let t2 = e.transpose(x, Some(&[-1, 0])).unwrap();
    expect_exact(&e, t2, &[3, 2], &[1., 4., 2., 5., 3., 6.]);
    // [2,3,4] permuted by [2,0,1]: out[k][i][j] = in[i][j][k] = 12i + 4j + k
    let ar = e.arange(0., 24., 1., F32).unwrap();
    let c = e.reshape(ar, &[2, 3, 4]).unwrap();
    let p = e.transpose(c, Some(&[2, 0, 1])).unwrap();
    assert_eq!(shape(&e, p), [4, 2, 3]);
    let pv = vals(&e, p);
    for k in 0..4 {
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(pv[k * 6 + i * 3 + j], (12 * i + 4 * j + k) as f32);
            }
        }
    }
    expect_err(
        e.transpose(x, Some(&[0])),
        ErrorKind::InvalidArgument,
        &["transpose", "[2,3]"],
    );
    expect_err(
        e.transpose(x, Some(&[1, -1])),
        ErrorKind::InvalidArgument,
        &["transpose"],
    );
    expect_err(
        e.transpose(x, Some(&[0, 2])),
        ErrorKind::InvalidArgument,
        &["transpose"],
    );

    let row = arr(&mut e, &[3], &[1., 2., 3.]);
    let b = e.broadcast_to(row, &[2, 3]).unwrap();
    expect_exact(&e, b, &[2, 3], &[1., 2., 3., 1., 2., 3.]);
    let col = arr(&mut e, &[2, 1], &[7., 8.]);
    let b2 = e.broadcast_to(col, &[2, 3]).unwrap();
    expect_exact(&e, b2, &[2, 3], &[7., 7., 7., 8., 8., 8.]);
    expect_err(
        e.broadcast_to(x, &[4, 3]),
        ErrorKind::ShapeMismatch,
        &["broadcastTo", "[2,3]", "[4,3]"],
    );
    expect_err(
        e.broadcast_to(x, &[3]),
        ErrorKind::ShapeMismatch,
        &["broadcastTo", "[2,3]", "[3]"],
    );

    let s1 = e.slice(x, Some(1), None).unwrap();
    expect_exact(&e, s1, &[1, 3], &[4., 5., 6.]);
    let s2 = e.slice(x, Some(-1), None).unwrap();
    expect_exact(&e, s2, &[1, 3], &[4., 5., 6.]);
    let s3 = e.slice(x, Some(-100), Some(100)).unwrap();
    expect_exact(&e, s3, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let s4 = e.slice(x, Some(2), Some(1)).unwrap();
    expect_exact(&e, s4, &[0, 3], &[]);
    let s5 = e.slice(x, Some(i64::MIN), Some(i64::MAX)).unwrap();
    expect_exact(&e, s5, &[2, 3], &[1., 2., 3., 4., 5., 6.]);

    let a0 = e.at(x, 0).unwrap();
    expect_exact(&e, a0, &[3], &[1., 2., 3.]);
    let a1 = e.at(x, -1).unwrap();
    expect_exact(&e, a1, &[3], &[4., 5., 6.]);
    let a2 = e.at(row, 2).unwrap();
    expect_exact(&e, a2, &[1], &[3.]);
    expect_err(e.at(x, 2), ErrorKind::InvalidArgument, &["at", "[2,3]"]);
    expect_err(e.at(x, -3), ErrorKind::InvalidArgument, &["at", "[2,3]"]);
    expect_err(e.at(x, i64::MIN), ErrorKind::InvalidArgument, &["at"]);
    let scalar = arr(&mut e, &[], &[1.]);
    expect_err(e.at(scalar, 0), ErrorKind::InvalidArgument, &["at"]);
    expect_err(
        e.slice(scalar, Some(0), None),
        ErrorKind::InvalidArgument,
        &["slice"],
    );

    // copy owns its buffer; detach shares it (MXNet)
    let cp = e.copy(x).unwrap();
    let dt = e.detach(x).unwrap();
    e.set_scalar(cp, 0.).unwrap();
    expect_exact(&e, x, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    e.set_scalar(x, 9.).unwrap();
    expect_exact(&e, dt, &[2, 3], &[9.; 6]);
    expect_exact(&e, r, &[3, 2], &[9.; 6]);
    // set broadcasts the source into the destination
    e.set(x, row).unwrap();
    expect_exact(&e, x, &[2, 3], &[1., 2., 3., 1., 2., 3.]);
    expect_err(
        e.set(row, x),
        ErrorKind::ShapeMismatch,
        &["set", "[2,3]", "[3]"],
    );
    expect_err(
        e.set(x, t),
        ErrorKind::ShapeMismatch,
        &["set", "[3,2]", "[2,3]"],
    );

    free_all(
        &mut e,
        &[
            x, r, t, t2, ar, c, p, row, b, col, b2, s1, s2, s3, s4, s5, a0, a1, a2, scalar, cp, dt,
        ],
    );
    assert_all_freed(&e);
}

#[test]
fn dot_forms_with_hand_computed_values() {
    let mut e = Engine::new();
    let a = arr(&mut e, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = arr(&mut e, &[3, 2], &[7., 8., 9., 10., 11., 12.]);
    let v = arr(&mut e, &[3], &[1., 2., 3.]);
    let w = arr(&mut e, &[3], &[4., 5., 6.]);
    let mm = e.dot(a, b).unwrap();
    expect_exact(&e, mm, &[2, 2], &[58., 64., 139., 154.]);
    let vv = e.dot(v, w).unwrap();
    expect_exact(&e, vv, &[1], &[32.]);
    let mv = e.dot(a, v).unwrap();
    expect_exact(&e, mv, &[2], &[14., 32.]);
    let vm = e.dot(v, b).unwrap();
    expect_exact(&e, vm, &[2], &[58., 64.]);
    expect_err(e.dot(a, a), ErrorKind::ShapeMismatch, &["dot", "[2,3]"]);
    expect_err(
        e.dot(v, mm),
        ErrorKind::ShapeMismatch,
        &["dot", "[3]", "[2,2]"],
    );
    let s = arr(&mut e, &[], &[2.]);
    expect_err(e.dot(s, a), ErrorKind::InvalidArgument, &["dot"]);
    let k0a = arr(&mut e, &[2, 0], &[]);
    let k0b = arr(&mut e, &[0, 3], &[]);
    let k0 = e.dot(k0a, k0b).unwrap();
    expect_exact(&e, k0, &[2, 3], &[0.; 6]);
    free_all(&mut e, &[a, b, v, w, mm, vv, mv, vm, s, k0a, k0b, k0]);
    assert_all_freed(&e);
}

#[test]
fn concat_and_batch_dot_with_hand_computed_values() {
    let mut e = Engine::new();
    let a = arr(&mut e, &[2, 2], &[1., 2., 3., 4.]);
    let b = arr(&mut e, &[1, 2], &[5., 6.]);
    let c = arr(&mut e, &[2, 1], &[7., 8.]);
    let rows = e.concat(&[a, b], 0).unwrap();
    expect_exact(&e, rows, &[3, 2], &[1., 2., 3., 4., 5., 6.]);
    let cols = e.concat(&[a, c, a], -1).unwrap();
    expect_exact(&e, cols, &[2, 5], &[1., 2., 7., 1., 2., 3., 4., 8., 3., 4.]);
    let one = e.concat(&[b], 1).unwrap();
    expect_exact(&e, one, &[1, 2], &[5., 6.]);
    expect_err(
        e.concat(&[a, b], 1),
        ErrorKind::ShapeMismatch,
        &["concat", "[2,2]", "[1,2]"],
    );
    expect_err(
        e.concat(&[a, c], 2),
        ErrorKind::InvalidArgument,
        &["concat"],
    );
    expect_err(e.concat(&[], 0), ErrorKind::InvalidArgument, &["concat"]);
    let s = arr(&mut e, &[], &[1.]);
    expect_err(
        e.concat(&[s, s], 0),
        ErrorKind::InvalidArgument,
        &["concat"],
    );

    // (2,1,2)·(2,2,1) → (2,1,1)
    let x = arr(&mut e, &[2, 1, 2], &[1., 2., 3., 4.]);
    let y = arr(&mut e, &[2, 2, 1], &[5., 6., 7., 8.]);
    let bd = e.batch_dot(x, y).unwrap();
    expect_exact(&e, bd, &[2, 1, 1], &[17., 53.]);
    let bd2 = e.batch_dot(y, x).unwrap();
    expect_exact(&e, bd2, &[2, 2, 2], &[5., 10., 6., 12., 21., 28., 24., 32.]);
    expect_err(
        e.batch_dot(x, x),
        ErrorKind::ShapeMismatch,
        &["batchDot", "[2,1,2]"],
    );
    expect_err(
        e.batch_dot(a, a),
        ErrorKind::ShapeMismatch,
        &["batchDot", "[2,2]"],
    );
    free_all(&mut e, &[a, b, c, rows, cols, one, s, x, y, bd, bd2]);
    assert_all_freed(&e);
}

// ---------------------------------------------------------------------------
// Gradients

/// Attach a gradient to `data`, record `f(engine, x)` (a scalar head, whose
/// intermediates `f` may leave behind), backward, and return x's gradient.
fn grad1(shape_: &[usize], data: &[f32], f: impl FnOnce(&mut Engine, u32) -> u32) -> Vec<f32> {
    let mut e = Engine::new();
    let x = arr(&mut e, shape_, data);
    e.attach_grad(x, GradReq::Write).unwrap();
    let before = e.memory().arrays;
    let y = rec(|| f(&mut e, x));
    e.backward(&[y], &[None], false, true).unwrap();
    assert_eq!(e.memory().tape_nodes, 0);
    let g = grad_vals(&mut e, x);
    // free everything f created (handles are all above x's)
    let made = e.memory().arrays - before;
    assert!(made >= 1);
    e.free(y);
    drop(e); // the engine's arena frees what is left
    assert_eq!(storage::live_buffers(), 0);
    assert_eq!(autograd::live_nodes(), 0);
    g
}

#[track_caller]
fn assert_vec_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "element {i}: got {g}, want {w} (all: {got:?})"
        );
    }
}

#[test]
fn elementwise_gradients_are_hand_computed() {
    // d/dx Σ (x·x + 3x) = 2x + 3
    let g = grad1(&[3], &[1., -2., 0.5], |e, x| {
        let xx = e.binary(BinOp::Mul, x, x).unwrap();
        let x3 = e.binary_scalar(BinOp::Mul, x, 3., false).unwrap();
        let s = e.binary(BinOp::Add, xx, x3).unwrap();
        e.reduce(RedOp::Sum, s, None, false).unwrap()
    });
    assert_vec_close(&g, &[5., -1., 4.]);

    // scalar forms: Σ (1 − x) → −1; Σ 8/x → −8/x²; Σ 2^x → 2^x ln 2; Σ x^3 → 3x²
    let g = grad1(&[2], &[1., 2.], |e, x| {
        let y = e.binary_scalar(BinOp::Sub, x, 1., true).unwrap();
        e.reduce(RedOp::Sum, y, None, false).unwrap()
    });
    assert_vec_close(&g, &[-1., -1.]);
    let g = grad1(&[2], &[1., 2.], |e, x| {
        let y = e.binary_scalar(BinOp::Div, x, 8., true).unwrap();
        e.reduce(RedOp::Sum, y, None, false).unwrap()
    });
    assert_vec_close(&g, &[-8., -2.]);
    let g = grad1(&[2], &[1., 3.], |e, x| {
        let y = e.binary_scalar(BinOp::Pow, x, 2., true).unwrap();
        e.reduce(RedOp::Sum, y, None, false).unwrap()
    });
    let ln2 = std::f32::consts::LN_2;
    assert_vec_close(&g, &[2. * ln2, 8. * ln2]);
    let g = grad1(&[2], &[1., 3.], |e, x| {
        let y = e.binary_scalar(BinOp::Pow, x, 3., false).unwrap();
        e.reduce(RedOp::Sum, y, None, false).unwrap()
    });
    assert_vec_close(&g, &[3., 27.]);

    // unary rules
    let unary_cases: [(UnOp, [f32; 3], [f32; 3]); 9] = [
        (UnOp::Neg, [1., 2., 3.], [-1., -1., -1.]),
        (UnOp::Exp, [0., 1., -1.], [1., 1f32.exp(), (-1f32).exp()]),
        (UnOp::Log, [1., 2., 4.], [1., 0.5, 0.25]),
        (UnOp::Sqrt, [1., 4., 16.], [0.5, 0.25, 0.125]),
        (UnOp::Square, [1., -2., 3.], [2., -4., 6.]),
        (UnOp::Abs, [-2., 3., -0.5], [-1., 1., -1.]),
        (UnOp::Sigmoid, [0., 0., 0.], [0.25, 0.25, 0.25]),
        (UnOp::Tanh, [0., 0., 0.], [1., 1., 1.]),
        (UnOp::Relu, [-1., 2., 3.], [0., 1., 1.]),
    ];
    for (op, x0, want) in unary_cases {
        let g = grad1(&[3], &x0, |e, x| {
            let y = e.unary(op, x).unwrap();
            e.reduce(RedOp::Sum, y, None, false).unwrap()
        });
        assert_vec_close(&g, &want);
    }
}

#[test]
fn binary_gradients_are_hand_computed_and_summed_over_broadcasts() {
    let mut e = Engine::new();
    let a = arr(&mut e, &[2], &[2., 3.]);
    let b = arr(&mut e, &[2], &[3., 2.]);
    e.attach_grad(a, GradReq::Write).unwrap();
    e.attach_grad(b, GradReq::Write).unwrap();
    let grads = |e: &mut Engine, op: BinOp| -> (Vec<f32>, Vec<f32>) {
        let (y, s) = rec(|| {
            let y = e.binary(op, a, b).unwrap();
            (y, e.reduce(RedOp::Sum, y, None, false).unwrap())
        });
        e.backward(&[s], &[None], false, true).unwrap();
        free_all(e, &[y, s]);
        (grad_vals(e, a), grad_vals(e, b))
    };
    // a/b: 1/b, −a/b²
    let (ga, gb) = grads(&mut e, BinOp::Div);
    assert_vec_close(&ga, &[1. / 3., 0.5]);
    assert_vec_close(&gb, &[-2. / 9., -0.75]);
    // a^b: b·a^(b−1), a^b·ln a
    let (ga, gb) = grads(&mut e, BinOp::Pow);
    assert_vec_close(&ga, &[12., 6.]);
    assert_vec_close(&gb, &[8. * 2f32.ln(), 9. * 3f32.ln()]);
    // sub: 1, −1
    let (ga, gb) = grads(&mut e, BinOp::Sub);
    assert_vec_close(&ga, &[1., 1.]);
    assert_vec_close(&gb, &[-1., -1.]);
    // comparisons: zeros (MXNet's MakeZeroGradNodes), recorded without
    // saving their inputs
    let (ga, gb) = grads(&mut e, BinOp::Greater);
    assert_eq!((ga, gb), (vec![0., 0.], vec![0., 0.]));
    free_all(&mut e, &[a, b]);
    assert_all_freed(&e);

    // maximum/minimum: the left operand takes ties (MXNet)
    let mut e = Engine::new();
    let a = arr(&mut e, &[2], &[1., 2.]);
    let b = arr(&mut e, &[2], &[2., 2.]);
    e.attach_grad(a, GradReq::Write).unwrap();
    e.attach_grad(b, GradReq::Write).unwrap();
    let y = rec(|| e.binary(BinOp::Maximum, a, b).unwrap());
    e.backward(&[y], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, a), [0., 1.]);
    assert_eq!(grad_vals(&mut e, b), [1., 0.]);
    e.free(y);
    let y = rec(|| e.binary(BinOp::Minimum, a, b).unwrap());
    e.backward(&[y], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, a), [1., 1.]);
    assert_eq!(grad_vals(&mut e, b), [0., 0.]);
    e.free(y);
    free_all(&mut e, &[a, b]);
    assert_all_freed(&e);

    // Σ A[2,3] · b[3]: dA = b broadcast, db = column sums of A
    let mut e = Engine::new();
    let big = arr(&mut e, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let row = arr(&mut e, &[3], &[10., 20., 30.]);
    e.attach_grad(big, GradReq::Write).unwrap();
    e.attach_grad(row, GradReq::Write).unwrap();
    let (p, s) = rec(|| {
        let p = e.binary(BinOp::Mul, big, row).unwrap();
        (p, e.reduce(RedOp::Sum, p, None, false).unwrap())
    });
    e.backward(&[s], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, big), [10., 20., 30., 10., 20., 30.]);
    assert_eq!(grad_vals(&mut e, row), [5., 7., 9.]);
    // a head gradient: y = 2x, dy = [1, 10, 100]
    let y2 = rec(|| e.binary_scalar(BinOp::Mul, row, 2., false).unwrap());
    let head = arr(&mut e, &[3], &[1., 10., 100.]);
    e.backward(&[y2], &[Some(head)], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, row), [2., 20., 200.]);
    free_all(&mut e, &[big, row, p, s, y2, head]);
    assert_all_freed(&e);
}

#[test]
fn reduction_movement_and_dot_gradients_are_hand_computed() {
    // max sends the gradient to every element equal to the maximum (MXNet)
    let g = grad1(&[3], &[1., 3., 3.], |e, x| {
        e.reduce(RedOp::Max, x, None, false).unwrap()
    });
    assert_vec_close(&g, &[0., 1., 1.]);
    let g = grad1(&[2, 2], &[1., 4., 3., 2.], |e, x| {
        let m = e.reduce(RedOp::Min, x, Some(&[1]), false).unwrap();
        e.reduce(RedOp::Sum, m, None, false).unwrap()
    });
    assert_vec_close(&g, &[1., 0., 0., 1.]);
    let g = grad1(&[4], &[1., 2., 3., 4.], |e, x| {
        e.reduce(RedOp::Mean, x, None, false).unwrap()
    });
    assert_vec_close(&g, &[0.25; 4]);
    let g = grad1(&[3], &[2., 3., 4.], |e, x| {
        e.reduce(RedOp::Prod, x, None, false).unwrap()
    });
    assert_vec_close(&g, &[12., 8., 6.]);
    let g = grad1(&[2], &[3., 4.], |e, x| {
        e.reduce(RedOp::Norm, x, None, false).unwrap()
    });
    assert_vec_close(&g, &[0.6, 0.8]);
    // Σ_j mean_i over keepdims: d = 1/2 everywhere
    let g = grad1(&[2, 3], &[1., 2., 3., 4., 5., 6.], |e, x| {
        let m = e.reduce(RedOp::Mean, x, Some(&[0]), true).unwrap();
        e.reduce(RedOp::Sum, m, None, false).unwrap()
    });
    assert_vec_close(&g, &[0.5; 6]);

    // Σ ((Xᵀ)[1] · [1, 2]) = X[0][1] + 2·X[1][1]
    let g = grad1(&[2, 3], &[1., 2., 3., 4., 5., 6.], |e, x| {
        let t = e.transpose(x, None).unwrap();
        let r = e.at(t, 1).unwrap();
        let w = e.from_data(&[2], &[1., 2.]).unwrap();
        let p = e.binary(BinOp::Mul, r, w).unwrap();
        e.reduce(RedOp::Sum, p, None, false).unwrap()
    });
    assert_vec_close(&g, &[0., 1., 0., 0., 2., 0.]);
    // slices pad their gradient back
    let g = grad1(&[4], &[1., 2., 3., 4.], |e, x| {
        let s = e.slice(x, Some(1), Some(-1)).unwrap();
        let sq = e.unary(UnOp::Square, s).unwrap();
        e.reduce(RedOp::Sum, sq, None, false).unwrap()
    });
    assert_vec_close(&g, &[0., 4., 6., 0.]);
    // reshape and broadcast_to
    let g = grad1(&[3], &[1., 2., 3.], |e, x| {
        let b = e.broadcast_to(x, &[2, 3]).unwrap();
        let r = e.reshape(b, &[-1]).unwrap();
        let c = e.copy(r).unwrap();
        let p = e.binary(BinOp::Mul, c, c).unwrap();
        e.reduce(RedOp::Sum, p, None, false).unwrap()
    });
    assert_vec_close(&g, &[4., 8., 12.]);
    // detach cuts the graph: d/dx Σ x·detach(x) = detach(x)
    let g = grad1(&[2], &[3., 5.], |e, x| {
        let d = e.detach(x).unwrap();
        let p = e.binary(BinOp::Mul, x, d).unwrap();
        e.reduce(RedOp::Sum, p, None, false).unwrap()
    });
    assert_vec_close(&g, &[3., 5.]);

    // dot: Σ A·B → dA = row sums of B (per column of A), dB = column sums of A
    let mut e = Engine::new();
    let a = arr(&mut e, &[2, 3], &[1., 2., 3., 4., 5., 6.]);
    let b = arr(&mut e, &[3, 2], &[7., 8., 9., 10., 11., 12.]);
    e.attach_grad(a, GradReq::Write).unwrap();
    e.attach_grad(b, GradReq::Write).unwrap();
    let (m, s) = rec(|| {
        let m = e.dot(a, b).unwrap();
        (m, e.reduce(RedOp::Sum, m, None, false).unwrap())
    });
    e.backward(&[s], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, a), [15., 19., 23., 15., 19., 23.]);
    assert_eq!(grad_vals(&mut e, b), [5., 5., 7., 7., 9., 9.]);
    // matrix · vector
    let v = arr(&mut e, &[3], &[1., 2., 3.]);
    e.attach_grad(v, GradReq::Write).unwrap();
    let (mv, s2) = rec(|| {
        let mv = e.dot(a, v).unwrap();
        (mv, e.reduce(RedOp::Sum, mv, None, false).unwrap())
    });
    e.backward(&[s2], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, v), [5., 7., 9.]);
    assert_eq!(grad_vals(&mut e, a), [1., 2., 3., 1., 2., 3.]);
    free_all(&mut e, &[a, b, m, s, v, mv, s2]);
    assert_all_freed(&e);
}

#[test]
fn concat_and_batch_dot_gradients_are_hand_computed() {
    let mut e = Engine::new();
    let a = arr(&mut e, &[2, 2], &[1., 2., 3., 4.]);
    let b = arr(&mut e, &[1, 2], &[5., 6.]);
    e.attach_grad(a, GradReq::Write).unwrap();
    e.attach_grad(b, GradReq::Write).unwrap();
    let w = arr(&mut e, &[3, 2], &[1., 2., 3., 4., 5., 6.]);
    let (cat, p, s) = rec(|| {
        let cat = e.concat(&[a, b], 0).unwrap();
        let p = e.binary(BinOp::Mul, cat, w).unwrap();
        (cat, p, e.reduce(RedOp::Sum, p, None, false).unwrap())
    });
    e.backward(&[s], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, a), [1., 2., 3., 4.]);
    assert_eq!(grad_vals(&mut e, b), [5., 6.]);

    // Σ batch_dot(x, y): dx[b] = (row sums of y[b])ᵀ, dy[b] = column sums of x[b]
    let x = arr(&mut e, &[2, 1, 2], &[1., 2., 3., 4.]);
    let y = arr(
        &mut e,
        &[2, 2, 3],
        &[1., 2., 3., 4., 5., 6., 0., 1., 0., 1., 0., 1.],
    );
    e.attach_grad(x, GradReq::Write).unwrap();
    e.attach_grad(y, GradReq::Write).unwrap();
    let (bd, s2) = rec(|| {
        let bd = e.batch_dot(x, y).unwrap();
        (bd, e.reduce(RedOp::Sum, bd, None, false).unwrap())
    });
    e.backward(&[s2], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, x), [6., 15., 1., 2.]);
    assert_eq!(
        grad_vals(&mut e, y),
        [1., 1., 1., 2., 2., 2., 3., 3., 3., 4., 4., 4.]
    );
    free_all(&mut e, &[a, b, w, cat, p, s, x, y, bd, s2]);
    assert_all_freed(&e);
}

#[test]
fn autograd_grad_leaves_grad_buffers_alone_and_supports_second_order() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[3], &[1., 2., 3.]);
    e.attach_grad(x, GradReq::Write).unwrap();
    let other = arr(&mut e, &[2], &[1., 1.]);
    e.attach_grad(other, GradReq::Write).unwrap();
    // y = Σ x³: dy/dx = 3x², d²y/dx² = 6x
    let (x2, x3, y3) = rec(|| {
        let x2 = e.binary(BinOp::Mul, x, x).unwrap();
        let x3 = e.binary(BinOp::Mul, x2, x).unwrap();
        (x2, x3, e.reduce(RedOp::Sum, x3, None, false).unwrap())
    });
    let y = y3;
    let g = rec(|| {
        e.grad_of(&[y], &[None], &[x, other], true, true, true)
            .unwrap()
    });
    assert_eq!(g.len(), 2);
    assert_eq!(vals(&e, g[0]), [3., 12., 27.]);
    assert_eq!(vals(&e, g[1]), [0., 0.], "a variable the head does not use");
    assert_eq!(grad_vals(&mut e, x), [0., 0., 0.], ".grad is untouched");
    let gs = rec(|| e.reduce(RedOp::Sum, g[0], None, false).unwrap());
    e.backward(&[gs], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, x), [6., 12., 18.]);
    expect_err(
        e.grad_of(&[y], &[None], &[x2], false, false, true),
        ErrorKind::Autograd,
        &["grad", "1-th variable"],
    );
    expect_err(
        e.grad_of(&[y], &[None], &[], false, false, true),
        ErrorKind::InvalidArgument,
        &["grad"],
    );
    e.free(gs);
    free_all(&mut e, &g);
    // The backward through the gradient freed what it walked, including the
    // forward node x·x the gradient graph used; x³ and Σ stay with y.
    assert_eq!(e.memory().tape_nodes, 2);
    // Without retain_graph the graph is freed, as by backward.
    let (q, y) = rec(|| {
        let q = e.unary(UnOp::Square, x).unwrap();
        (q, e.reduce(RedOp::Sum, q, None, false).unwrap())
    });
    let g2 = e.grad_of(&[y], &[None], &[x], false, false, true).unwrap();
    assert_eq!(vals(&e, g2[0]), [2., 4., 6.]);
    assert_eq!(e.memory().tape_nodes, 2);
    expect_err(
        e.grad_of(&[y], &[None], &[x], false, false, true),
        ErrorKind::Autograd,
        &[MXNET_NOT_IN_GRAPH],
    );
    free_all(&mut e, &g2);
    free_all(&mut e, &[x, other, x2, x3, y3, q, y]);
    assert_all_freed(&e);
}

#[test]
fn mark_variable_writes_gradients_into_the_given_buffer() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[2], &[1., 2.]);
    let buf = arr(&mut e, &[2], &[9., 9.]);
    e.mark_variable(x, buf, GradReq::Write).unwrap();
    let y = rec(|| e.binary_scalar(BinOp::Mul, x, 4., false).unwrap());
    e.backward(&[y], &[None], false, true).unwrap();
    assert_eq!(vals(&e, buf), [4., 4.]);
    e.mark_variable(x, buf, GradReq::Add).unwrap();
    let y2 = rec(|| e.binary_scalar(BinOp::Mul, x, 1., false).unwrap());
    e.backward(&[y2], &[None], false, true).unwrap();
    assert_eq!(vals(&e, buf), [5., 5.]);
    let wrong = arr(&mut e, &[3], &[0., 0., 0.]);
    expect_err(
        e.mark_variable(x, wrong, GradReq::Write),
        ErrorKind::ShapeMismatch,
        &["markVariables", "[3]", "[2]"],
    );
    // The variable may go first: the gradient buffer stays the caller's.
    free_all(&mut e, &[x, y, y2, wrong]);
    assert_eq!(vals(&e, buf), [5., 5.]);
    e.free(buf);
    assert_all_freed(&e);
}

// ---------------------------------------------------------------------------
// The tape

#[test]
fn tape_node_counts_retain_graph_and_mxnet_errors() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[3], &[1., 2., 3.]);
    e.attach_grad(x, GradReq::Write).unwrap();
    // Outside record nothing is recorded.
    let plain = e.binary(BinOp::Mul, x, x).unwrap();
    assert_eq!(e.memory().tape_nodes, 0);
    expect_err(
        e.backward(&[plain], &[None], false, true),
        ErrorKind::Autograd,
        &["backward", MXNET_NOT_IN_GRAPH],
    );
    // A variable is not a recorded result either.
    expect_err(
        e.backward(&[x], &[None], false, true),
        ErrorKind::Autograd,
        &[MXNET_NOT_IN_GRAPH],
    );
    // Recording without any variable records nothing.
    let c = arr(&mut e, &[3], &[1., 1., 1.]);
    let cc = rec(|| e.binary(BinOp::Add, c, c).unwrap());
    assert_eq!(e.memory().tape_nodes, 0);

    let (y, z) = rec(|| {
        let y = e.binary(BinOp::Mul, x, x).unwrap();
        (y, e.reduce(RedOp::Sum, y, None, false).unwrap())
    });
    assert_eq!(e.memory().tape_nodes, 2);
    assert_eq!(autograd::live_nodes(), 2);
    e.backward(&[z], &[None], true, true).unwrap();
    assert_eq!(e.memory().tape_nodes, 2, "retain_graph keeps the graph");
    assert_eq!(grad_vals(&mut e, x), [2., 4., 6.]);
    e.backward(&[z], &[None], true, true).unwrap();
    assert_eq!(grad_vals(&mut e, x), [2., 4., 6.], "write overwrites");
    e.backward(&[z], &[None], false, true).unwrap();
    assert_eq!(e.memory().tape_nodes, 0, "backward frees the graph");
    let err = expect_err(
        e.backward(&[z], &[None], false, true),
        ErrorKind::Autograd,
        &["backward"],
    );
    assert_eq!(err.message, format!("backward: {MXNET_NOT_IN_GRAPH}"));
    expect_err(
        e.backward(&[y], &[None], true, true),
        ErrorKind::Autograd,
        &[MXNET_NOT_IN_GRAPH],
    );

    // Head gradient of the wrong shape, no heads, mismatched head gradients.
    let (y2, z2) = rec(|| {
        let y2 = e.binary_scalar(BinOp::Mul, x, 2., false).unwrap();
        (y2, e.unary(UnOp::Exp, y2).unwrap())
    });
    let wrong = arr(&mut e, &[2], &[1., 1.]);
    expect_err(
        e.backward(&[z2], &[Some(wrong)], false, true),
        ErrorKind::ShapeMismatch,
        &["backward", "[2]", "[3]"],
    );
    expect_err(
        e.backward(&[], &[], false, true),
        ErrorKind::InvalidArgument,
        &["backward"],
    );
    expect_err(
        e.backward(&[z2], &[None, None], false, true),
        ErrorKind::InvalidArgument,
        &["backward"],
    );
    assert_eq!(
        e.memory().tape_nodes,
        2,
        "failed backward calls free nothing"
    );
    // ... and the graph still works afterwards.
    e.backward(&[z2], &[None], false, true).unwrap();
    let want: Vec<f32> = [1f32, 2., 3.]
        .iter()
        .map(|&v| 2. * (2. * v).exp())
        .collect();
    assert_vec_close(&grad_vals(&mut e, x), &want);

    // grad_req add accumulates; null records nothing on its own.
    e.attach_grad(x, GradReq::Add).unwrap();
    for _ in 0..2 {
        let y3 = rec(|| e.binary_scalar(BinOp::Mul, x, 5., false).unwrap());
        e.backward(&[y3], &[None], false, true).unwrap();
        e.free(y3);
    }
    assert_eq!(grad_vals(&mut e, x), [10., 10., 10.]);
    e.attach_grad(x, GradReq::Null).unwrap();
    let y4 = rec(|| e.binary_scalar(BinOp::Mul, x, 5., false).unwrap());
    assert_eq!(e.memory().tape_nodes, 0);
    assert_eq!(grad_vals(&mut e, x), [0., 0., 0.]);

    free_all(&mut e, &[x, plain, c, cc, y, z, y2, z2, wrong, y4]);
    assert_all_freed(&e);
}

#[test]
fn multiple_heads_and_shared_subgraphs() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[2], &[1., 2.]);
    e.attach_grad(x, GradReq::Write).unwrap();
    let (t, y1, y2) = rec(|| {
        let t = e.binary(BinOp::Mul, x, x).unwrap();
        let y1 = e.reduce(RedOp::Sum, t, None, false).unwrap();
        let t3 = e.binary_scalar(BinOp::Mul, t, 3., false).unwrap();
        let y2 = e.reduce(RedOp::Sum, t3, None, false).unwrap();
        e.free(t3);
        (t, y1, y2)
    });
    assert_eq!(e.memory().tape_nodes, 4);
    // Both heads at once: 2x + 6x
    e.backward(&[y1, y2], &[None, None], true, true).unwrap();
    assert_eq!(grad_vals(&mut e, x), [8., 16.]);
    // One head frees its part of the graph; the other keeps its own nodes,
    // but the shared one is gone (MXNet: not in a computational graph).
    e.backward(&[y1], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, x), [2., 4.]);
    assert_eq!(e.memory().tape_nodes, 2);
    expect_err(
        e.backward(&[y2], &[None], false, true),
        ErrorKind::Autograd,
        &[MXNET_NOT_IN_GRAPH],
    );
    e.free(y2);
    assert_eq!(e.memory().tape_nodes, 0);
    free_all(&mut e, &[x, t, y1]);
    assert_all_freed(&e);
}

#[test]
fn freed_handles_keep_what_the_graph_needs() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[3], &[1., 2., 3.]);
    e.attach_grad(x, GradReq::Write).unwrap();
    let g = e.grad(x).unwrap().unwrap();
    let (t, y) = rec(|| {
        let t = e.binary(BinOp::Mul, x, x).unwrap();
        (t, e.binary_scalar(BinOp::Mul, t, 3., false).unwrap())
    });
    let bytes = e.memory().bytes;
    // In-place writes to what the graph needs are refused ...
    expect_err(e.set_scalar(x, 0.), ErrorKind::Autograd, &["set", "[3]"]);
    let d = e.detach(x).unwrap();
    expect_err(e.set_scalar(d, 0.), ErrorKind::Autograd, &["set"]);
    expect_err(e.set(x, d), ErrorKind::Autograd, &["set"]);
    e.free(d);
    // ... but the handles may go: the graph keeps the buffers.
    assert!(e.free(t));
    assert!(e.free(x));
    assert!(!e.free(x), "double free is harmless");
    assert_eq!(e.memory().arrays, 2); // g and y
    assert_eq!(e.memory().bytes, bytes, "the tape still holds x and x·x");
    e.backward(&[y], &[None], false, true).unwrap();
    assert_eq!(vals(&e, g), [6., 12., 18.]);
    assert_eq!(e.memory().tape_nodes, 0);
    // x's values now only live on in g's buffer (the gradient): 12 bytes for
    // the gradient and 12 for y.
    assert_eq!(e.memory().bytes, 24);
    free_all(&mut e, &[g, y]);
    assert_all_freed(&e);

    // Abandoned: the graph goes with its last output, and writes are allowed again.
    let mut e = Engine::new();
    let x = arr(&mut e, &[2], &[1., 2.]);
    e.attach_grad(x, GradReq::Write).unwrap();
    let y = rec(|| {
        let t = e.binary(BinOp::Mul, x, x).unwrap();
        let u = e.unary(UnOp::Exp, t).unwrap();
        let s = e.reduce(RedOp::Sum, u, None, false).unwrap();
        free_all(&mut e, &[t, u]);
        s
    });
    assert_eq!(e.memory().tape_nodes, 3);
    assert_eq!(
        e.memory().bytes,
        8 + 8 + 8 + 4,
        "x, x.grad, x·x (saved by exp), y"
    );
    expect_err(e.set_scalar(x, 5.), ErrorKind::Autograd, &["set"]);
    e.free(y);
    assert_eq!(e.memory().tape_nodes, 0);
    assert_eq!(e.memory().bytes, 16);
    e.set_scalar(x, 5.).unwrap();
    assert_eq!(vals(&e, x), [5., 5.]);
    // Writing to a recorded result while recording is refused too.
    let y = rec(|| {
        let y = e.binary_scalar(BinOp::Add, x, 1., false).unwrap();
        let r = e.set_scalar(y, 0.);
        expect_err(r, ErrorKind::Autograd, &["set"]);
        y
    });
    free_all(&mut e, &[x, y]);
    assert_all_freed(&e);
}

// ---------------------------------------------------------------------------
// Stale and forged handles

#[test]
fn stale_and_forged_handles_are_invalid_handle_errors() {
    let mut e = Engine::new();
    let good = arr(&mut e, &[2, 2], &[1., 2., 3., 4.]);
    e.attach_grad(good, GradReq::Write).unwrap();
    let head = rec(|| e.binary(BinOp::Mul, good, good).unwrap());
    let freed = arr(&mut e, &[1], &[0.]);
    assert!(e.free(freed));
    // the next array reuses the freed slot with a new generation
    let reused = arr(&mut e, &[1], &[42.]);
    assert_ne!(reused, freed);
    let stale = {
        let h = arr(&mut e, &[1], &[0.]);
        e.free(h);
        h
    };
    // A handle whose index is live but whose generation is in the future.
    let future = reused.wrapping_add(2 << 20);
    let bad_handles = [0, u32::MAX, 1 << 31, (1 << 20) - 1, freed, stale, future];
    let before = e.memory();
    for &h in &bad_handles {
        let ops: Vec<(&str, Result<(), Error>)> = vec![
            ("add", e.binary(BinOp::Add, h, good).map(drop)),
            ("mul", e.binary(BinOp::Mul, good, h).map(drop)),
            ("pow", e.binary_scalar(BinOp::Pow, h, 2., false).map(drop)),
            ("exp", e.unary(UnOp::Exp, h).map(drop)),
            ("sum", e.reduce(RedOp::Sum, h, None, false).map(drop)),
            ("norm", e.reduce(RedOp::Norm, h, Some(&[7]), true).map(drop)),
            ("reshape", e.reshape(h, &[-1]).map(drop)),
            ("transpose", e.transpose(h, None).map(drop)),
            ("broadcastTo", e.broadcast_to(h, &[2, 2]).map(drop)),
            ("slice", e.slice(h, Some(0), None).map(drop)),
            ("at", e.at(h, 0).map(drop)),
            ("copy", e.copy(h).map(drop)),
            ("dot", e.dot(h, good).map(drop)),
            ("dot", e.dot(good, h).map(drop)),
            ("detach", e.detach(h).map(drop)),
            ("set", e.set(h, good)),
            ("set", e.set(good, h)),
            ("set", e.set_scalar(h, 1.)),
            ("attachGrad", e.attach_grad(h, GradReq::Write)),
            ("grad", e.grad(h).map(drop)),
            ("grad", e.grad_handle_exists(h).map(drop)),
            ("backward", e.backward(&[h], &[None], true, true)),
            ("backward", e.backward(&[head], &[Some(h)], true, true)),
            (
                "backward",
                e.backward(&[head, h], &[None, None], true, true),
            ),
        ];
        for (op, r) in ops {
            let err = expect_err(r, ErrorKind::InvalidHandle, &[op]);
            assert!(err.message.starts_with(op), "{}", err.message);
        }
        assert!(e.get(h).is_err());
        assert!(!e.free(h), "freeing {h:#x} must be a no-op");
        assert_eq!(e.memory(), before, "handle {h:#x} changed the live counts");
    }
    // The good arrays are untouched and the graph still works.
    assert_eq!(vals(&e, reused), [42.]);
    e.backward(&[head], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, good), [2., 4., 6., 8.]);
    free_all(&mut e, &[good, head, reused]);
    assert_all_freed(&e);
}

#[test]
fn handles_are_never_reused_for_another_array() {
    let mut e = Engine::new();
    let mut seen = std::collections::HashSet::new();
    let keep = arr(&mut e, &[1], &[7.]);
    for i in 0..5000 {
        let h = e.full(&[1], i as f64, F32).unwrap();
        assert!(seen.insert(h), "handle {h:#x} handed out twice");
        assert!(h != 0 && h < 1 << 31);
        assert!(e.free(h));
    }
    for &h in seen.iter().take(100) {
        assert_eq!(
            e.get(h).err().map(|e| e.kind),
            Some(ErrorKind::InvalidHandle)
        );
    }
    assert_eq!(vals(&e, keep), [7.]);
    e.free(keep);
    assert_all_freed(&e);
}

// ---------------------------------------------------------------------------
// Deep graphs

const CHAIN: usize = 100_000;

/// A chain of CHAIN recorded ops from a variable, freeing each intermediate
/// handle as it goes (so only the graph holds them). Returns (x, head, sign
/// of d head / dx).
fn deep_chain(e: &mut Engine) -> (u32, u32, f32) {
    let x = arr(e, &[2], &[0.5, -0.25]);
    e.attach_grad(x, GradReq::Write).unwrap();
    let _r = Recording::on();
    let mut cur = x;
    let mut sign = 1.0;
    for i in 0..CHAIN {
        let next = match i % 4 {
            0 => e.binary_scalar(BinOp::Add, cur, 1.0, false),
            1 => e.binary_scalar(BinOp::Mul, cur, 1.0, false), // saves its input
            2 => {
                sign = -sign;
                e.unary(UnOp::Neg, cur)
            }
            _ => e.binary_scalar(BinOp::Sub, cur, 1.0, false),
        }
        .unwrap();
        if cur != x {
            assert!(e.free(cur));
        }
        cur = next;
    }
    assert_eq!(e.memory().tape_nodes, CHAIN);
    assert_eq!(e.memory().arrays, 2);
    (x, cur, sign)
}

#[test]
fn a_deep_chain_frees_after_backward_without_stack_overflow() {
    let mut e = Engine::new();
    let (x, y, sign) = deep_chain(&mut e);
    e.backward(&[y], &[None], false, false).unwrap();
    assert_eq!(e.memory().tape_nodes, 0);
    assert_eq!(grad_vals(&mut e, x), [sign, sign]);
    free_all(&mut e, &[x, y]);
    assert_all_freed(&e);
}

#[test]
fn a_deep_chain_frees_when_abandoned_without_stack_overflow() {
    let mut e = Engine::new();
    let (x, y, _) = deep_chain(&mut e);
    assert!(e.free(y)); // drops the whole chain
    assert_eq!(e.memory().tape_nodes, 0);
    assert_eq!(e.memory().bytes, 16); // x and its gradient
    e.free(x);
    assert_all_freed(&e);

    // Abandoned by dropping the variable first, then the head.
    let mut e = Engine::new();
    let (x, y, _) = deep_chain(&mut e);
    e.free(x);
    e.free(y);
    assert_all_freed(&e);

    // Retained, backwarded, then abandoned.
    let mut e = Engine::new();
    let (x, y, sign) = deep_chain(&mut e);
    e.backward(&[y], &[None], true, true).unwrap();
    assert_eq!(e.memory().tape_nodes, CHAIN);
    assert_eq!(grad_vals(&mut e, x), [sign, sign]);
    free_all(&mut e, &[y, x]);
    assert_all_freed(&e);
}

#[test]
fn a_wide_graph_on_one_variable_frees() {
    // y = Σ_i (x + i): 100,000 nodes all hanging on the same leaf.
    let mut e = Engine::new();
    let x = arr(&mut e, &[1], &[1.]);
    e.attach_grad(x, GradReq::Write).unwrap();
    let recording = Recording::on();
    let mut acc = e.binary_scalar(BinOp::Mul, x, 0., false).unwrap();
    for i in 0..CHAIN / 2 {
        let t = e.binary_scalar(BinOp::Add, x, i as f64, false).unwrap();
        let s = e.binary(BinOp::Add, acc, t).unwrap();
        free_all(&mut e, &[t, acc]);
        acc = s;
    }
    drop(recording);
    e.backward(&[acc], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, x), [(CHAIN / 2) as f32]);
    free_all(&mut e, &[x, acc]);
    assert_all_freed(&e);
}

// ---------------------------------------------------------------------------
// Property test: random, often invalid, engine calls

/// A 64-bit linear congruential generator (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 16
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

/// Dims that always make a shape too large (when no other dim is 0) and
/// whose allocation, were it ever attempted, fails at once.
const HUGE_DIMS: [usize; 2] = [1 << 62, usize::MAX];

struct World {
    e: Engine,
    rng: Lcg,
    held: Vec<u32>,
    stale: Vec<u32>,
    steps: usize,
}

impl World {
    fn new(seed: u64) -> World {
        World {
            e: Engine::new(),
            rng: Lcg(seed),
            held: Vec::new(),
            stale: Vec::new(),
            steps: 0,
        }
    }

    /// A handle: mostly one the test holds, sometimes stale or forged.
    fn handle(&mut self) -> u32 {
        match self.rng.below(20) {
            0 => 0,
            1 => u32::MAX,
            2 => self.rng.next() as u32,
            3 | 4 if !self.stale.is_empty() => {
                let i = self.rng.below(self.stale.len());
                self.stale[i]
            }
            _ if !self.held.is_empty() => {
                let i = self.rng.below(self.held.len());
                self.held[i]
            }
            _ => 0,
        }
    }

    /// A shape argument: small dims (zeros included), or occasionally an
    /// impossible one (a huge dim and no zero dim).
    fn shape(&mut self) -> Vec<usize> {
        let rank = self.rng.below(4);
        let huge = self.rng.chance(8);
        let mut s: Vec<usize> = (0..rank)
            .map(|_| {
                if huge {
                    self.rng.pick(&[1, 2, 3])
                } else {
                    self.rng.pick(&[0, 1, 1, 2, 2, 3, 4])
                }
            })
            .collect();
        if huge {
            let d = self.rng.pick(&HUGE_DIMS);
            let at = self.rng.below(s.len() + 1);
            s.insert(at, d);
        }
        if self.rng.chance(2) {
            s = vec![1; 33];
        }
        s
    }

    fn axes(&mut self) -> Option<Vec<i64>> {
        if self.rng.chance(25) {
            return None;
        }
        let n = self.rng.below(4);
        Some(
            (0..n)
                .map(|_| {
                    if self.rng.chance(5) {
                        self.rng.pick(&[i64::MIN, i64::MAX, -1 << 40])
                    } else {
                        self.rng.below(9) as i64 - 4
                    }
                })
                .collect(),
        )
    }

    fn spec(&mut self) -> Vec<i64> {
        let n = self.rng.below(5);
        let huge = self.rng.chance(5);
        let mut s: Vec<i64> = (0..n)
            .map(|_| {
                if huge {
                    self.rng.pick(&[1, 2])
                } else {
                    self.rng.pick(&[-3, -2, -1, -1, 0, 1, 2, 2, 3, 4, 6])
                }
            })
            .collect();
        if huge {
            s.push(self.rng.pick(&[i64::MAX, 1 << 62]));
        }
        s
    }

    fn bound(&mut self) -> Option<i64> {
        match self.rng.below(10) {
            0 => None,
            1 => Some(self.rng.pick(&[i64::MIN, i64::MAX, i64::MIN + 1])),
            _ => Some(self.rng.below(11) as i64 - 5),
        }
    }

    fn scalar(&mut self) -> f64 {
        self.rng.pick(&[
            0.,
            1.,
            -1.,
            0.5,
            2.,
            -3.,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e30,
            -1e-30,
        ])
    }

    fn data(&mut self, shape: &[usize]) -> Vec<f32> {
        let n = match ndgrad_core::shape::checked_size(shape) {
            Ok(n) => n,
            Err(_) => self.rng.below(3),
        };
        let n = if self.rng.chance(10) { n + 1 } else { n };
        (0..n).map(|i| (i % 7) as f32 - 3.).collect()
    }

    fn bin_op(&mut self) -> BinOp {
        BinOp::ALL[self.rng.below(BinOp::ALL.len())]
    }

    fn step(&mut self) {
        self.steps += 1;
        let before = self.e.memory().arrays;
        assert_eq!(before, self.held.len(), "step {}", self.steps);
        let r: Result<u32, Error> = match self.rng.below(27) {
            0 => {
                let s = self.shape();
                let d = self.data(&s);
                self.e.from_data(&s, &d)
            }
            1 => {
                let s = self.shape();
                let v = self.scalar() as f32;
                self.e.full(&s, v as f64, F32)
            }
            2 => {
                let s = self.shape();
                self.e.alloc(&s, F32)
            }
            3 => {
                let a = self.scalar();
                let b = self.rng.below(21) as f64 - 10.;
                let st = self
                    .rng
                    .pick(&[1., -1., 0.5, 2., 0., -0.25, f64::NAN, 1e-12]);
                self.e.arange(a.clamp(-10., 10.), b, st, F32)
            }
            4 => {
                let s = self.shape();
                let (p, q) = (self.scalar(), self.scalar());
                if self.rng.chance(50) {
                    self.e.random_uniform(p, q, &s, F32)
                } else {
                    self.e.random_normal(p, q, &s, F32)
                }
            }
            5..=8 => {
                let op = self.bin_op();
                let (a, b) = (self.handle(), self.handle());
                self.e.binary(op, a, b)
            }
            9 | 10 => {
                let op = self.bin_op();
                let a = self.handle();
                let s = self.scalar();
                let rev = self.rng.chance(50);
                self.e.binary_scalar(op, a, s, rev)
            }
            11 | 12 => {
                let op = UnOp::ALL[self.rng.below(UnOp::ALL.len())];
                let a = self.handle();
                self.e.unary(op, a)
            }
            13 | 14 => {
                let op = RedOp::ALL[self.rng.below(RedOp::ALL.len())];
                let a = self.handle();
                let axes = self.axes();
                let keep = self.rng.chance(50);
                self.e.reduce(op, a, axes.as_deref(), keep)
            }
            15 => {
                let a = self.handle();
                let s = self.spec();
                self.e.reshape(a, &s)
            }
            16 => {
                let a = self.handle();
                let axes = self.axes();
                self.e.transpose(a, axes.as_deref())
            }
            17 => {
                let a = self.handle();
                let s = self.shape();
                self.e.broadcast_to(a, &s)
            }
            18 => {
                let a = self.handle();
                let (b, en) = (self.bound(), self.bound());
                self.e.slice(a, b, en)
            }
            19 => {
                let a = self.handle();
                let i = self.bound().unwrap_or(0);
                self.e.at(a, i)
            }
            20 => {
                let (a, b) = (self.handle(), self.handle());
                match self.rng.below(3) {
                    0 => self.e.dot(a, b),
                    1 => self.e.batch_dot(a, b),
                    _ => {
                        let n = self.rng.below(4);
                        let mut hs = vec![a, b];
                        hs.truncate(n.min(2));
                        while hs.len() < n {
                            hs.push(self.handle());
                        }
                        let axis = self.rng.below(9) as i64 - 4;
                        self.e.concat(&hs, axis)
                    }
                }
            }
            21 => {
                let a = self.handle();
                if self.rng.chance(50) {
                    self.e.copy(a)
                } else {
                    self.e.detach(a)
                }
            }
            22 => {
                let (d, s) = (self.handle(), self.handle());
                if self.rng.chance(50) {
                    let r = self.e.set(d, s);
                    self.check_unit(r, &[d, s]);
                } else {
                    let v = self.scalar();
                    let r = self.e.set_scalar(d, v);
                    self.check_unit(r, &[d]);
                }
                return;
            }
            23 => {
                let h = self.handle();
                let req = self
                    .rng
                    .pick(&[GradReq::Write, GradReq::Add, GradReq::Null]);
                let r = self.e.attach_grad(h, req);
                self.check_unit(r, &[h]);
                return;
            }
            24 => {
                let h = self.handle();
                match self.e.grad(h) {
                    Ok(Some(g)) => Ok(g),
                    Ok(None) => {
                        assert_eq!(self.e.memory().arrays, before);
                        return;
                    }
                    Err(e) => Err(e),
                }
            }
            25 => {
                let n = 1 + self.rng.below(3);
                let heads: Vec<u32> = (0..n).map(|_| self.handle()).collect();
                let grads: Vec<Option<u32>> = (0..n)
                    .map(|_| {
                        if self.rng.chance(70) {
                            None
                        } else {
                            Some(self.handle())
                        }
                    })
                    .collect();
                let retain = self.rng.chance(30);
                let r = self.e.backward(&heads, &grads, retain, true);
                let mut all = heads;
                all.extend(grads.iter().flatten());
                self.check_unit(r, &all);
                return;
            }
            _ => {
                if self.rng.chance(50) {
                    autograd::set_recording(!autograd::is_recording());
                    return;
                }
                let h = self.handle();
                let was_held = self.held.iter().position(|&x| x == h);
                let freed = self.e.free(h);
                assert_eq!(
                    freed,
                    was_held.is_some(),
                    "free({h:#x}) must succeed exactly for held handles"
                );
                if let Some(i) = was_held {
                    self.held.swap_remove(i);
                    self.stale.push(h);
                }
                assert_eq!(self.e.memory().arrays, self.held.len());
                return;
            }
        };
        match r {
            Ok(h) => {
                assert!(h != 0, "0 is never a valid handle");
                assert!(!self.held.contains(&h), "handle {h:#x} handed out twice");
                assert!(!self.stale.contains(&h), "stale handle {h:#x} reused");
                let t = self.e.get(h).expect("a fresh handle is live");
                let n =
                    ndgrad_core::shape::checked_size(&t.shape).expect("stored shapes are valid");
                assert!(n <= MAX_ELEMENTS);
                assert_eq!(t.to_vec().len(), n, "values fill the shape {:?}", t.shape);
                self.held.push(h);
            }
            Err(e) => self.check_error(&e),
        }
        assert_eq!(
            self.e.memory().arrays,
            self.held.len(),
            "step {}",
            self.steps
        );
        if self.held.len() > 64 {
            // Keep the world small: drop a random half.
            for _ in 0..32 {
                let i = self.rng.below(self.held.len());
                let h = self.held.swap_remove(i);
                assert!(self.e.free(h));
                self.stale.push(h);
            }
        }
        if self.stale.len() > 256 {
            self.stale.drain(..128);
        }
    }

    fn check_unit(&mut self, r: Result<(), Error>, handles: &[u32]) {
        if let Err(e) = &r {
            self.check_error(e);
        } else {
            for h in handles {
                assert!(
                    !self.stale.contains(h),
                    "an op succeeded on stale handle {h:#x}"
                );
            }
        }
        assert_eq!(
            self.e.memory().arrays,
            self.held.len(),
            "step {}",
            self.steps
        );
    }

    fn check_error(&self, e: &Error) {
        assert_ne!(e.kind, ErrorKind::Internal, "internal error: {}", e.message);
        assert!(!e.message.is_empty());
    }

    fn finish(mut self) {
        autograd::set_recording(false);
        for h in std::mem::take(&mut self.held) {
            assert!(self.e.free(h));
        }
        assert_all_freed(&self.e);
    }
}

#[test]
fn random_engine_calls_never_panic_and_live_counts_match() {
    let mut total_ok = 0;
    for seed in [1u64, 2, 3, 0xDEAD_BEEF, 0x1234_5678_9ABC] {
        let mut w = World::new(seed);
        for _ in 0..4000 {
            w.step();
            // Every handle the test holds is still readable.
            if w.steps.is_multiple_of(200) {
                for &h in &w.held {
                    assert!(w.e.get(h).is_ok());
                }
                total_ok += w.held.len();
            }
        }
        w.finish();
    }
    assert!(
        total_ok > 0,
        "the generator should produce valid arrays too"
    );
}

#[test]
fn stale_handles_in_random_sequences_always_fail_with_invalid_handle() {
    let mut w = World::new(99);
    for _ in 0..2000 {
        w.step();
        if let Some(&h) = w.stale.last() {
            let errs = [
                w.e.unary(UnOp::Exp, h).map(drop),
                w.e.reduce(RedOp::Sum, h, None, false).map(drop),
                w.e.set_scalar(h, 1.),
                w.e.attach_grad(h, GradReq::Write),
                w.e.backward(&[h], &[None], false, true),
            ];
            for r in errs {
                assert_eq!(r.err().map(|e| e.kind), Some(ErrorKind::InvalidHandle));
            }
        }
    }
    w.finish();
}

// ---------------------------------------------------------------------------
// Empty arrays with huge dims

/// NumPy accepts any dims when one of them is 0: the array holds nothing, in
/// whatever order its dims come. Ops on such arrays must give results or
/// errors, never an arithmetic-overflow panic, and must not depend on where
/// the 0 sits in the shape.
#[test]
fn empty_arrays_with_huge_dims_are_valid_in_any_order_and_never_panic() {
    const H: usize = 1 << 62;
    let mut e = Engine::new();
    let z = e.from_data(&[0], &[]).unwrap();
    let a = e.reshape(z, &[0, H as i64, 8]).unwrap();
    assert_eq!(shape(&e, a), [0, H, 8]);
    let mut made = vec![z, a];
    let mut ok = |e: &mut Engine, r: Result<u32, Error>, want: &[usize]| {
        let h = r.unwrap_or_else(|err| panic!("expected shape {want:?}, got {err:?}"));
        assert_eq!(shape(e, h), want);
        assert!(vals(e, h).len() == ndgrad_core::shape::size(want));
        made.push(h);
    };
    // Results that hold nothing are fine ...
    let r = e.reduce(RedOp::Sum, a, Some(&[1]), false);
    ok(&mut e, r, &[0, 8]);
    let r = e.reduce(RedOp::Sum, a, Some(&[2]), false);
    ok(&mut e, r, &[0, H]);
    let r = e.reduce(RedOp::Max, a, Some(&[2]), true);
    ok(&mut e, r, &[0, H, 1]);
    let r = e.reduce(RedOp::Prod, a, None, false);
    ok(&mut e, r, &[1]);
    let r = e.unary(UnOp::Exp, a);
    ok(&mut e, r, &[0, H, 8]);
    let r = e.copy(a);
    ok(&mut e, r, &[0, H, 8]);
    let r = e.reshape(a, &[-1]);
    ok(&mut e, r, &[0]);
    let r = e.slice(a, Some(0), Some(0));
    ok(&mut e, r, &[0, H, 8]);
    let eight = e.full(&[8], 1., F32).unwrap();
    let r = e.binary(BinOp::Add, a, eight);
    ok(&mut e, r, &[0, H, 8]);
    let r = e.broadcast_to(a, &[3, 0, H, 8]);
    ok(&mut e, r, &[3, 0, H, 8]);
    let b = e.from_data(&[8, 0], &[]).unwrap();
    let r = e.dot(a, b);
    ok(&mut e, r, &[0, H, 0]);
    // ... in any order of the dims.
    let r = e.transpose(a, None);
    ok(&mut e, r, &[8, H, 0]);
    let r = e.transpose(a, Some(&[1, 0, 2]));
    ok(&mut e, r, &[H, 0, 8]);
    let r = e.full(&[8, H, 0], 1., F32);
    ok(&mut e, r, &[8, H, 0]);
    let r = e.from_data(&[H, 4, 0], &[]);
    ok(&mut e, r, &[H, 4, 0]);
    // A result that would hold 2^65 elements is an error, not a wrap-around.
    expect_err(
        e.reduce(RedOp::Sum, a, Some(&[0]), false),
        ErrorKind::InvalidArgument,
        &["sum"],
    );
    expect_err(
        e.reduce(RedOp::Max, a, Some(&[0]), false),
        ErrorKind::InvalidArgument,
        &["max"],
    );
    expect_err(e.at(a, 0), ErrorKind::InvalidArgument, &["at"]);
    made.extend([eight, b]);
    free_all(&mut e, &made);
    assert_all_freed(&e);
}

/// Sorting an empty array whose other dimensions are huge (the fuzzer's
/// find: the rows were counted as their product, which overflows) gives an
/// empty result of the right shape instead of aborting.
#[test]
fn sort_and_topk_of_an_empty_array_with_huge_dimensions() {
    let mut e = Engine::new();
    let x = e
        .full(&[1_048_614, 1_048_631, 0, 1_048_581], 1.0, F32)
        .unwrap();
    let s = e.sort(x, 2, true, false).unwrap();
    assert_eq!(shape(&e, s), [1_048_614, 1_048_631, 0, 1_048_581]);
    let i = e.sort(x, -1, false, true).unwrap();
    assert_eq!(shape(&e, i), [1_048_614, 1_048_631, 0, 1_048_581]);
    let t = e
        .topk(x, 0, 2, ndgrad_core::ops::index::TopK::Value, true)
        .unwrap();
    assert_eq!(shape(&e, t), [2, 1_048_631, 0, 1_048_581]);
    assert!(vals(&e, t).is_empty());
    free_all(&mut e, &[x, s, i, t]);
    assert_all_freed(&e);
}
