//! Comparisons are recorded with zero gradients, as MXNet registers every
//! comparison (`equal not_equal greater greater_equal lesser lesser_equal`,
//! array, broadcast and scalar forms) with `FGradient = MakeZeroGradNodes`
//! (src/operator/tensor/elemwise_binary_broadcast_op_logic.cc,
//! elemwise_binary_scalar_op_logic.cc): backward through one gives zeros of
//! each input's shape, never "not in a computational graph", and zeros even
//! where the head gradient is infinite or NaN (`zeros_like`, not `dy * 0`).

use ndgrad_core::autograd::{self, GradReq};
use ndgrad_core::kernels::{BinOp, RedOp};
use ndgrad_core::storage;
use ndgrad_core::Engine;

const COMPARISONS: [BinOp; 6] = [
    BinOp::Equal,
    BinOp::NotEqual,
    BinOp::Greater,
    BinOp::GreaterEqual,
    BinOp::Lesser,
    BinOp::LesserEqual,
];

/// Recording on for `f`, restored afterwards even if `f` panics.
fn rec<T>(f: impl FnOnce() -> T) -> T {
    struct Restore(bool, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            autograd::set_recording(self.0);
            autograd::set_training(self.1);
        }
    }
    let _r = Restore(autograd::set_recording(true), autograd::set_training(true));
    f()
}

fn vals(e: &Engine, h: u32) -> Vec<f32> {
    e.get(h).unwrap().to_vec()
}

fn grad_vals(e: &mut Engine, h: u32) -> Vec<f32> {
    let g = e.grad(h).unwrap().expect("an attached gradient");
    let v = vals(e, g);
    e.free(g);
    v
}

#[test]
fn comparisons_record_zero_gradients_in_every_form() {
    for op in COMPARISONS {
        for form in 0..3 {
            let mut e = Engine::new();
            let x = e.from_data(&[2, 3], &[1., -2., 0.5, 3., 0., -1.]).unwrap();
            let b = e.from_data(&[3], &[0.5, 0., 2.]).unwrap();
            e.attach_grad(x, GradReq::Write).unwrap();
            e.attach_grad(b, GradReq::Add).unwrap();
            // Non-zero gradients first: "write" must overwrite x's with zeros,
            // "add" must leave b's as it is.
            let s = rec(|| {
                let xx = e.binary(BinOp::Mul, x, x).unwrap();
                let b3 = e.binary_scalar(BinOp::Mul, b, 3., false).unwrap();
                let y = e.binary(BinOp::Add, xx, b3).unwrap();
                e.reduce(RedOp::Sum, y, None, false).unwrap()
            });
            e.backward(&[s], &[None], false, true).unwrap();
            assert_eq!(grad_vals(&mut e, x), [2., -4., 1., 6., 0., -2.]);
            assert_eq!(grad_vals(&mut e, b), [6., 6., 6.]);
            let head = rec(|| {
                let c = match form {
                    0 => e.binary(op, x, b).unwrap(),
                    1 => e.binary(op, b, x).unwrap(),
                    _ => e.binary_scalar(op, x, 0.5, true).unwrap(),
                };
                e.reduce(RedOp::Sum, c, None, false).unwrap()
            });
            e.backward(&[head], &[None], false, true)
                .unwrap_or_else(|err| panic!("{} form {form}: {err}", op.name()));
            assert_eq!(grad_vals(&mut e, x), [0.; 6], "{} form {form}", op.name());
            assert_eq!(
                grad_vals(&mut e, b),
                [6., 6., 6.],
                "{} form {form}",
                op.name()
            );
            assert_eq!(e.memory().tape_nodes, 0);
            drop(e);
            assert_eq!(storage::live_buffers(), 0);
            assert_eq!(autograd::live_nodes(), 0);
        }
    }
}

#[test]
fn comparison_gradients_are_zeros_like_not_dy_times_zero() {
    for op in COMPARISONS {
        let mut e = Engine::new();
        let x = e.from_data(&[2, 2], &[1., 2., 3., 4.]).unwrap();
        let b = e.from_data(&[2, 1], &[2., 3.]).unwrap();
        e.attach_grad(x, GradReq::Write).unwrap();
        e.attach_grad(b, GradReq::Write).unwrap();
        let y = rec(|| e.binary(op, x, b).unwrap());
        let head = e
            .from_data(&[2, 2], &[f32::INFINITY, f32::NAN, f32::NEG_INFINITY, 1.])
            .unwrap();
        e.backward(&[y], &[Some(head)], false, true).unwrap();
        assert_eq!(grad_vals(&mut e, x), [0.; 4], "{}", op.name());
        assert_eq!(grad_vals(&mut e, b), [0.; 2], "{}", op.name());
        let ys = rec(|| e.binary_scalar(op, x, 2.5, false).unwrap());
        let head2 = e.from_data(&[2, 2], &[f32::NAN; 4]).unwrap();
        e.backward(&[ys], &[Some(head2)], false, true).unwrap();
        assert_eq!(grad_vals(&mut e, x), [0.; 4], "{} (scalar)", op.name());
    }
}

#[test]
fn a_comparison_mask_differentiates_twice() {
    // d/dx Σ x²·(x > 0.5) = 2x·(x > 0.5); d²/dx² (summed) = 2·(x > 0.5)
    let mut e = Engine::new();
    let x = e.from_data(&[4], &[-1., 0.25, 1., 2.]).unwrap();
    e.attach_grad(x, GradReq::Write).unwrap();
    let y = rec(|| {
        let sq = e.binary(BinOp::Mul, x, x).unwrap();
        let m = e.binary_scalar(BinOp::Greater, x, 0.5, false).unwrap();
        let p = e.binary(BinOp::Mul, sq, m).unwrap();
        e.reduce(RedOp::Sum, p, None, false).unwrap()
    });
    // retain_graph = create_graph, as MXNet's autograd.grad defaults it
    let g = rec(|| e.grad_of(&[y], &[None], &[x], true, true, true).unwrap());
    assert_eq!(vals(&e, g[0]), [0., 0., 2., 4.]);
    let s = rec(|| e.reduce(RedOp::Sum, g[0], None, false).unwrap());
    e.backward(&[s], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, x), [0., 0., 2., 2.]);
}

/// MXNet's `x[:] = v` under `autograd.record` is `broadcast_to` (when the
/// shapes differ) then `_copyto`, whose gradient is the identity
/// (src/ndarray/ndarray.cc; python/mxnet/ndarray/ndarray.py
/// `_set_nd_basic_indexing`): `q = zeros(2); q[:] = w * 2; q.sum()` gives
/// w.grad = [2, 2].
#[test]
fn set_under_recording_records_a_copy() {
    use ndgrad_core::dtype::DType;
    let mut e = Engine::new();
    let w = e.from_data(&[3], &[1., 2., 3.]).unwrap();
    e.attach_grad(w, GradReq::Write).unwrap();

    // same shape: identity
    let q = e.full(&[3], 0., DType::F32).unwrap();
    let s = rec(|| {
        let w2 = e.binary_scalar(BinOp::Mul, w, 2., false).unwrap();
        e.set(q, w2).unwrap();
        e.reduce(RedOp::Sum, q, None, false).unwrap()
    });
    assert_eq!(vals(&e, q), [2., 4., 6.]);
    e.backward(&[s], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, w), [2., 2., 2.]);

    // broadcast: the gradient is summed back to w's shape
    let q2 = e.full(&[2, 3], 0., DType::F32).unwrap();
    let s2 = rec(|| {
        let wx = e.binary(BinOp::Mul, w, w).unwrap();
        e.set(q2, wx).unwrap();
        e.reduce(RedOp::Sum, q2, None, false).unwrap()
    });
    e.backward(&[s2], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, w), [4., 8., 12.]); // 2 rows · 2w

    // another float dtype: converted, the gradient cast back
    let q3 = e.full(&[3], 0., DType::F64).unwrap();
    let s3 = rec(|| {
        e.set(q3, w).unwrap();
        let sq = e.binary(BinOp::Mul, q3, q3).unwrap();
        e.reduce(RedOp::Sum, sq, None, false).unwrap()
    });
    e.backward(&[s3], &[None], false, true).unwrap();
    assert_eq!(grad_vals(&mut e, w), [2., 4., 6.]);

    // not recording: a plain write, nothing recorded
    let q4 = e.full(&[3], 0., DType::F32).unwrap();
    e.set(q4, w).unwrap();
    assert_eq!(e.memory().tape_nodes, 0);

    // a variable written under recording stays a variable (its gradient
    // buffer is kept), the copy is not recorded
    let v = e.from_data(&[3], &[0., 0., 0.]).unwrap();
    e.attach_grad(v, GradReq::Write).unwrap();
    rec(|| e.set(v, w).unwrap());
    assert_eq!(e.memory().tape_nodes, 0);
    assert_eq!(grad_vals(&mut e, v), [0., 0., 0.]);

    // an array already recorded is still refused while recording
    let (y, err) = rec(|| {
        let y = e.binary_scalar(BinOp::Mul, w, 2., false).unwrap();
        (y, e.set(y, w).unwrap_err())
    });
    assert!(err.message.contains("set: in-place"), "{}", err.message);
    assert_eq!(vals(&e, y), [2., 4., 6.]);
    drop(e);
    assert_eq!(storage::live_buffers(), 0);
    assert_eq!(autograd::live_nodes(), 0);
}
