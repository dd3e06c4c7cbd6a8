//! nd.Pooling, nd.BatchNorm and nd.LayerNorm beyond the first-order
//! vectors (those run in `vectors.rs` with every other op):
//! - second-order vectors (`tests/vectors/hvp-nn-pool.json`, PyTorch with
//!   `create_graph=True`, from `gen_nn_pool.py`): the gradient recorded
//!   under createGraph, then the gradient of `Σ g·v` w.r.t. every input and
//!   the head gradient;
//! - BatchNorm's moving statistics, updated when the backward pass runs
//!   (MXNet 1.9.1's `BatchNormBackwardImpl`), against each train case's
//!   `moving_after`;
//! - MXNet's edges the vectors cannot hold (a max window wholly in the
//!   padding, NaN) and the output-size rule.

#[allow(dead_code)]
mod common;

use common::{array, check_tolerance, compare, Array, Expected, Json, Worst};
use ndgrad_core::autograd::{self, GradReq};
use ndgrad_core::kernels::{BinOp, RedOp};
use ndgrad_core::ops::norm::{batch_norm, layer_norm, BatchNormOpts};
use ndgrad_core::ops::pool::{pool_shape, pooling, PoolParams, PoolType};
use ndgrad_core::ops::{binary, reduce};
use ndgrad_core::{Engine, Tensor};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors");

fn read_json(name: &str) -> Json {
    let path = format!("{DIR}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Json::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn expected(j: &Json) -> Expected {
    let array = array(j).unwrap();
    let rtol = j.field("rtol").unwrap().as_f64().unwrap();
    let atol = j.field("atol").unwrap().as_f64().unwrap();
    check_tolerance(array.dtype, rtol, atol).unwrap();
    Expected { array, rtol, atol }
}

fn tensor(a: &Array) -> Tensor {
    Tensor::from_vec(a.shape.clone(), a.data.clone()).unwrap()
}

fn check(what: &str, t: &Tensor, want: &Expected) -> Worst {
    compare(what, t.dtype(), &t.shape, &t.to_f64_vec(), want).unwrap_or_else(|e| panic!("{e}"))
}

/// Sets the recording and training flags; restores them when dropped.
struct Mode(bool, bool);
impl Mode {
    fn set(recording: bool, training: bool) -> Mode {
        Mode(
            autograd::set_recording(recording),
            autograd::set_training(training),
        )
    }
}
impl Drop for Mode {
    fn drop(&mut self) {
        autograd::set_recording(self.0);
        autograd::set_training(self.1);
    }
}

struct P<'a>(&'a Json);
impl P<'_> {
    fn get(&self, k: &str) -> Option<&Json> {
        self.0.get(k)
    }
    fn flag(&self, k: &str) -> bool {
        self.get(k).unwrap().as_bool().unwrap()
    }
    fn num(&self, k: &str) -> f64 {
        self.get(k).unwrap().as_f64().unwrap()
    }
    fn ints(&self, k: &str) -> Vec<i64> {
        self.get(k)
            .map(|j| j.as_ints().unwrap())
            .unwrap_or_default()
    }
}

fn pool_params(p: &P) -> PoolParams {
    PoolParams {
        pool_type: match p.get("pool_type").unwrap().as_str().unwrap() {
            "max" => PoolType::Max,
            "avg" => PoolType::Avg,
            _ => PoolType::Sum,
        },
        kernel: p.ints("kernel"),
        stride: p.ints("stride"),
        pad: p.ints("pad"),
        global_pool: p.flag("global_pool"),
        full: p.get("pooling_convention").unwrap().as_str().unwrap() == "full",
        count_include_pad: p.flag("count_include_pad"),
    }
}

fn bn_opts(p: &P) -> BatchNormOpts {
    BatchNormOpts {
        eps: p.num("eps"),
        momentum: p.num("momentum"),
        fix_gamma: p.flag("fix_gamma"),
        use_global_stats: p.flag("use_global_stats"),
        axis: p.get("axis").unwrap().as_i64().unwrap(),
    }
}

fn apply(op: &str, p: &P, xs: &[Tensor]) -> Tensor {
    match op {
        "Pooling" => pooling(&xs[0], &pool_params(p)).unwrap(),
        "BatchNorm" => batch_norm(&xs[0], &xs[1], &xs[2], &xs[3], &xs[4], &bn_opts(p)).unwrap(),
        "LayerNorm" => layer_norm(
            &xs[0],
            &xs[1],
            &xs[2],
            p.get("axis").unwrap().as_i64().unwrap(),
            p.num("eps"),
        )
        .unwrap(),
        o => panic!("unknown op {o}"),
    }
}

fn sum_all(t: &Tensor) -> Tensor {
    reduce(RedOp::Sum, t, None, false).unwrap()
}

#[test]
fn second_order_vectors() {
    let cases = read_json("hvp-nn-pool.json");
    let cases = cases.as_arr().unwrap();
    assert!(cases.len() >= 10);
    let mut worst = Worst::default();
    let mut ops = std::collections::BTreeSet::new();
    for c in cases {
        let name = c.field("name").unwrap().as_str().unwrap();
        let op = c.field("op").unwrap().as_str().unwrap();
        ops.insert(op.to_string());
        let p = P(c.field("params").unwrap());
        let train = p.get("train").is_some_and(|j| j.as_bool().unwrap());
        let wants: Vec<usize> = c
            .field("wants")
            .unwrap()
            .as_ints()
            .unwrap()
            .into_iter()
            .map(|i| i as usize)
            .collect();
        let mut xs: Vec<Tensor> = c
            .field("inputs")
            .unwrap()
            .as_arr()
            .unwrap()
            .iter()
            .map(|j| tensor(&array(j).unwrap()))
            .collect();
        let mut h = tensor(&array(c.field("head").unwrap()).unwrap());
        for &i in &wants {
            autograd::attach_grad(&mut xs[i], GradReq::Write).unwrap();
        }
        autograd::attach_grad(&mut h, GradReq::Write).unwrap();
        let vs: Vec<Tensor> = c
            .field("v")
            .unwrap()
            .as_arr()
            .unwrap()
            .iter()
            .map(|j| tensor(&array(j).unwrap()))
            .collect();
        let (first, second) = {
            let _m = Mode::set(true, train);
            let y = apply(op, &p, &xs);
            // Σ y·h: its gradient w.r.t. the inputs is the vector-Jacobian
            // product with head h, recorded as a function of h too.
            let l = sum_all(&binary(BinOp::Mul, &y, &h).unwrap());
            let vars: Vec<Tensor> = wants.iter().map(|&i| xs[i].clone()).collect();
            // createGraph retains the graph (MXNet: retain_graph defaults to it).
            let gs = autograd::grad(&[l], &[None], &vars, true, true, train).unwrap();
            let mut z: Option<Tensor> = None;
            for (g, v) in gs.iter().zip(&vs) {
                let t = sum_all(&binary(BinOp::Mul, g, v).unwrap());
                z = Some(match z {
                    None => t,
                    Some(z) => binary(BinOp::Add, &z, &t).unwrap(),
                });
            }
            let mut all = vars.clone();
            all.push(h.clone());
            let dz = autograd::grad(&[z.unwrap()], &[None], &all, false, false, train)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (gs, dz)
        };
        let fw = c.field("first").unwrap().as_arr().unwrap();
        for (i, (g, w)) in first.iter().zip(fw).enumerate() {
            worst.merge(check(&format!("{name}: gradient {i}"), g, &expected(w)));
        }
        let sw = c.field("second").unwrap().as_arr().unwrap();
        assert_eq!(sw.len(), second.len(), "{name}");
        for (i, (g, w)) in second.iter().zip(sw).enumerate() {
            worst.merge(check(&format!("{name}: second order {i}"), g, &expected(w)));
        }
    }
    assert_eq!(
        ops.into_iter().collect::<Vec<_>>(),
        ["BatchNorm", "LayerNorm", "Pooling"]
    );
    println!(
        "{} second-order cases; worst relative error {:.3e}, tolerance use {:.3}",
        cases.len(),
        worst.rel,
        worst.used
    );
}

/// The nn-pool BatchNorm cases in train mode, with their expected moving
/// statistics.
fn bn_train_cases() -> Vec<Json> {
    let mut out = Vec::new();
    for i in 0.. {
        let path = format!("{DIR}/nn-pool-{i:02}.json");
        if !std::path::Path::new(&path).exists() {
            break;
        }
        let j = read_json(&format!("nn-pool-{i:02}.json"));
        for c in j.as_arr().unwrap() {
            if c.get("moving_after").is_some() {
                out.push(c.clone());
            }
        }
    }
    out
}

#[test]
fn batch_norm_moving_statistics_update_in_backward() {
    let cases = bn_train_cases();
    assert!(cases.len() >= 8, "{} train cases", cases.len());
    for c in &cases {
        let name = c.field("name").unwrap().as_str().unwrap();
        let p = P(c.field("params").unwrap());
        let o = bn_opts(&p);
        let ins: Vec<Array> = c
            .field("inputs")
            .unwrap()
            .as_arr()
            .unwrap()
            .iter()
            .map(|j| array(j).unwrap())
            .collect();
        let mut xs: Vec<Tensor> = ins.iter().map(tensor).collect();
        let head = tensor(&array(c.field("head").unwrap()).unwrap());
        autograd::attach_grad(&mut xs[0], GradReq::Write).unwrap();
        let after = c.field("moving_after").unwrap().as_arr().unwrap();
        let y = {
            let _m = Mode::set(true, true);
            batch_norm(&xs[0], &xs[1], &xs[2], &xs[3], &xs[4], &o).unwrap()
        };
        // Forward alone leaves them (MXNet updates in the backward pass).
        assert_eq!(xs[3].to_f64_vec(), ins[3].values(), "{name}: mean moved");
        assert_eq!(xs[4].to_f64_vec(), ins[4].values(), "{name}: var moved");
        autograd::backward(&[y], &[Some(head)], false, true).unwrap();
        check(
            &format!("{name}: moving mean"),
            &xs[3],
            &expected(&after[0]),
        );
        check(&format!("{name}: moving var"), &xs[4], &expected(&after[1]));
    }
}

#[test]
fn batch_norm_predict_mode_and_global_stats_leave_moving_statistics() {
    let x = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, 3.0, 5.0]).unwrap();
    let g = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
    let b = Tensor::from_vec(vec![2], vec![0.0f32, 1.0]).unwrap();
    let mm = Tensor::from_vec(vec![2], vec![0.5f32, -1.0]).unwrap();
    let mv = Tensor::from_vec(vec![2], vec![2.0f32, 3.0]).unwrap();
    for (training, global) in [(false, false), (true, true)] {
        let mut xv = x.clone();
        autograd::attach_grad(&mut xv, GradReq::Write).unwrap();
        let o = BatchNormOpts {
            eps: 1e-3,
            momentum: 0.9,
            fix_gamma: false,
            use_global_stats: global,
            axis: 1,
        };
        let y = {
            let _m = Mode::set(true, training);
            batch_norm(&xv, &g, &b, &mm, &mv, &o).unwrap()
        };
        // (x - moving mean)/sqrt(moving var + eps)·gamma + beta
        let want = [
            (1.0 - 0.5) / (2.001f64).sqrt(),
            (2.0 + 1.0) / (3.001f64).sqrt() * 2.0 + 1.0,
            (3.0 - 0.5) / (2.001f64).sqrt(),
            (5.0 + 1.0) / (3.001f64).sqrt() * 2.0 + 1.0,
        ];
        for (a, w) in y.to_f64_vec().iter().zip(want) {
            assert!((a - w).abs() < 1e-5, "{a} vs {w}");
        }
        autograd::backward(&[y], &[None], false, training).unwrap();
        assert_eq!(mm.to_vec(), [0.5, -1.0]);
        assert_eq!(mv.to_vec(), [2.0, 3.0]);
    }
}

#[test]
fn max_pool_window_in_padding_and_nan() {
    // MXNet's full convention keeps a last window starting past the input
    // (length 3, kernel 2, stride 2, pad 1: windows at -1, 1, 3): its max is
    // the lowest value and it passes no gradient.
    let p = PoolParams {
        pool_type: PoolType::Max,
        kernel: vec![2],
        stride: vec![2],
        pad: vec![1],
        global_pool: false,
        full: true,
        count_include_pad: true,
    };
    let mut x = Tensor::from_vec(vec![1, 1, 3], vec![1.0f32, f32::NAN, 3.0]).unwrap();
    autograd::attach_grad(&mut x, GradReq::Write).unwrap();
    let y = {
        let _m = Mode::set(true, true);
        pooling(&x, &p).unwrap()
    };
    // NaN never compares greater: the window [NaN, 3] gives 3.
    assert_eq!(y.to_vec(), [1.0, 3.0, f32::MIN]);
    let head = Tensor::from_vec(vec![1, 1, 3], vec![1.0f32, 2.0, 4.0]).unwrap();
    autograd::backward(&[y], &[Some(head)], false, true).unwrap();
    let g = autograd::grad_of(&x).unwrap().to_vec();
    assert_eq!(g, [1.0, 0.0, 2.0]);
    // avg: the empty window averages to 0; sum: 0.
    for (t, want) in [
        (PoolType::Avg, [0.5f32, 0.0, 0.0]),
        (PoolType::Sum, [1.0, 0.0, 0.0]),
    ] {
        let x = Tensor::from_vec(vec![1, 1, 3], vec![1.0f32, 0.0, 0.0]).unwrap();
        let y = pooling(
            &x,
            &PoolParams {
                pool_type: t,
                ..p.clone()
            },
        )
        .unwrap();
        assert_eq!(y.to_vec(), want, "{t:?}");
    }
}

#[test]
fn pooling_output_sizes() {
    let p = |k: &[i64], s: &[i64], pd: &[i64], full: bool| PoolParams {
        pool_type: PoolType::Max,
        kernel: k.to_vec(),
        stride: s.to_vec(),
        pad: pd.to_vec(),
        global_pool: false,
        full,
        count_include_pad: true,
    };
    let sh = |shape: &[usize], pp: &PoolParams| pool_shape(shape, pp).map(|r| r.0);
    // valid: 1 + (in + 2p - k) / s; full: 1 + ceil(...)
    assert_eq!(
        sh(&[8, 64, 56, 56], &p(&[3, 3], &[2, 2], &[1, 1], false)).unwrap(),
        [8, 64, 28, 28]
    );
    assert_eq!(
        sh(&[1, 1, 6, 7], &p(&[3, 2], &[2, 2], &[0, 0], false)).unwrap(),
        [1, 1, 2, 3]
    );
    assert_eq!(
        sh(&[1, 1, 6, 7], &p(&[3, 2], &[2, 2], &[0, 0], true)).unwrap(),
        [1, 1, 3, 4]
    );
    assert_eq!(
        sh(&[2, 3, 9], &p(&[3], &[], &[], false)).unwrap(),
        [2, 3, 7]
    );
    let g = PoolParams {
        global_pool: true,
        ..p(&[], &[], &[], false)
    };
    assert_eq!(sh(&[2, 3, 4, 5], &g).unwrap(), [2, 3, 1, 1]);
    // Errors name the operator and the data shape.
    let cases: &[(&[usize], PoolParams, &str)] = &[
        (
            &[1, 1, 4, 4],
            p(&[5, 5], &[], &[], false),
            "kernel size (5) exceeds input (4 padded to 4)",
        ),
        (&[1, 1, 4, 4], p(&[2, 2], &[0, 1], &[], false), "stride"),
        (&[1, 1, 4, 4], p(&[2, 2], &[], &[-1, 0], false), "pad"),
        (&[1, 1, 4, 4], p(&[2], &[], &[], false), "needs 3-D data"),
        (&[1, 4, 4], p(&[2, 2], &[], &[], false), "needs 4-D data"),
        (&[4, 4], p(&[2], &[], &[], false), "got 2-D"),
        (&[1, 1, 2, 4, 4], p(&[2, 2, 2], &[], &[], false), "5-D"),
        (&[1, 1, 4, 4], p(&[], &[], &[], false), "kernel is required"),
        (
            &[1, 1, 4, 4],
            p(&[2, 2], &[1], &[], false),
            "stride [1] must have 2 entries",
        ),
    ];
    for (shape, pp, msg) in cases {
        let e = sh(shape, pp).unwrap_err().to_string();
        assert!(e.starts_with("Pooling: "), "{e}");
        assert!(e.contains(msg), "{e} lacks {msg}");
        assert!(
            e.contains(&format!("{shape:?}").replace(' ', "")),
            "{e} lacks the shape"
        );
    }
}

#[test]
fn norm_bad_inputs_are_errors_and_leave_arrays_intact() {
    let mut e = Engine::new();
    let x = e
        .full(&[2, 3, 4], 1.0, ndgrad_core::dtype::DType::F32)
        .unwrap();
    let c3 = e.full(&[3], 1.0, ndgrad_core::dtype::DType::F32).unwrap();
    let c4 = e.full(&[4], 1.0, ndgrad_core::dtype::DType::F32).unwrap();
    let d3 = e.full(&[3], 1.0, ndgrad_core::dtype::DType::F64).unwrap();
    let o = BatchNormOpts {
        eps: 1e-3,
        momentum: 0.9,
        fix_gamma: true,
        use_global_stats: false,
        axis: 1,
    };
    let msg = |r: ndgrad_core::Result<u32>| r.unwrap_err().to_string();
    let m = msg(e.batch_norm([x, c4, c3, c3, c3], &o));
    assert!(
        m.contains("BatchNorm") && m.contains("gamma must have shape [3]") && m.contains("[2,3,4]"),
        "{m}"
    );
    let m = msg(e.batch_norm([x, c3, c3, d3, c3], &o));
    assert!(
        m.contains("BatchNorm") && m.contains("dtype mismatch"),
        "{m}"
    );
    let m = msg(e.batch_norm([x, c3, c3, c3, c3], &BatchNormOpts { axis: 3, ..o }));
    assert!(m.contains("BatchNorm") && m.contains("[2,3,4]"), "{m}");
    let m = msg(e.layer_norm([x, c3, c3], -1, 1e-5));
    assert!(
        m.contains("LayerNorm") && m.contains("[4]") && m.contains("[2,3,4]"),
        "{m}"
    );
    let m = msg(e.layer_norm([x, c4, c4], -1, -1.0));
    assert!(m.contains("LayerNorm") && m.contains("eps"), "{m}");
    assert_eq!(e.get(x).unwrap().to_vec(), vec![1.0; 24]);
    assert!(e.layer_norm([x, c4, c4], -1, 1e-5).is_ok());
}
