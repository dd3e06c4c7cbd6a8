//! Convolution and Deconvolution beyond the first-order vectors of the
//! `nn-conv` set (those run in `vectors.rs`):
//!
//! * second order: `tests/vectors/nn-conv-hvp.json` (torch float64,
//!   `gen_nn_conv.py`): out = square(op(inputs)), g = grad(out, inputs,
//!   head, create_graph), s = Σ sum(gᵢ·vᵢ), then grad(s, inputs) against
//!   torch's Hessian-vector products, in float32 and float64;
//! * the engine's errors for bad parameters, with arrays created before
//!   left intact.

#[allow(dead_code)]
mod common;

use common::{array, compare, expected, Array, Json, Worst};
use ndgrad_core::autograd::{self, GradReq};
use ndgrad_core::kernels::{BinOp, RedOp, UnOp};
use ndgrad_core::ops::nn::conv::ConvParams;
use ndgrad_core::{Engine, MemoryInfo, Tensor};

fn put(e: &mut Engine, a: &Array) -> Result<u32, String> {
    let t = Tensor::from_vec(a.shape.clone(), a.data.clone()).map_err(|e| e.to_string())?;
    e.adopt(t).map_err(|e| e.to_string())
}

fn params(p: &Json, deconv: bool) -> Result<ConvParams, String> {
    let ints = |k: &str| p.field(k)?.as_ints();
    Ok(ConvParams {
        kernel: ints("kernel")?,
        stride: ints("stride")?,
        pad: ints("pad")?,
        dilate: ints("dilate")?,
        adj: if deconv { ints("adj")? } else { Vec::new() },
        num_filter: p.field("num_filter")?.as_i64()?,
        num_group: p.field("num_group")?.as_i64()?,
    })
}

struct Recording(bool);
impl Drop for Recording {
    fn drop(&mut self) {
        autograd::set_recording(self.0);
    }
}

fn hvp_case(e: &mut Engine, c: &Json, handles: &mut Vec<u32>) -> Result<Worst, String> {
    let err = |what: &'static str| move |x: ndgrad_core::Error| format!("{what}: {x}");
    let deconv = c.field("op")?.as_str()? == "Deconvolution";
    let p = params(c.field("params")?, deconv)?;
    let no_bias = c.field("params")?.field("no_bias")?.as_bool()?;
    let mut xs = Vec::new();
    for a in c.field("inputs")?.as_arr()? {
        let h = put(e, &array(a)?)?;
        handles.push(h);
        e.attach_grad(h, GradReq::Write)
            .map_err(err("attachGrad"))?;
        xs.push(h);
    }
    let bias = if no_bias { None } else { xs.get(2).copied() };
    let head = put(e, &array(c.field("head")?)?)?;
    handles.push(head);
    let mut vs = Vec::new();
    for a in c.field("v")?.as_arr()? {
        let h = put(e, &array(a)?)?;
        handles.push(h);
        vs.push(h);
    }
    let hv = {
        let _rec = Recording(autograd::set_recording(true));
        let y = e
            .convolution(xs[0], xs[1], bias, &p, deconv)
            .map_err(err("forward"))?;
        handles.push(y);
        let out = e.unary(UnOp::Square, y).map_err(err("square"))?;
        handles.push(out);
        let g = e
            .grad_of(&[out], &[Some(head)], &xs, true, true, true)
            .map_err(err("first grad"))?;
        handles.extend(&g);
        let mut s: Option<u32> = None;
        for (&gi, &vi) in g.iter().zip(&vs) {
            let prod = e.binary(BinOp::Mul, gi, vi).map_err(err("g·v"))?;
            handles.push(prod);
            let si = e
                .reduce(RedOp::Sum, prod, None, false)
                .map_err(err("sum"))?;
            handles.push(si);
            s = Some(match s {
                None => si,
                Some(acc) => {
                    let t = e.binary(BinOp::Add, acc, si).map_err(err("add"))?;
                    handles.push(t);
                    t
                }
            });
        }
        let s = s.ok_or("no inputs")?;
        let hv = e
            .grad_of(&[s], &[None], &xs, false, false, true)
            .map_err(err("second grad"))?;
        handles.extend(&hv);
        hv
    };
    let mut worst = Worst::default();
    for (i, (h, want)) in hv.iter().zip(c.field("hvp")?.as_arr()?).enumerate() {
        let want = expected(want)?;
        let t = e.get(*h).map_err(|e| e.to_string())?;
        worst.merge(compare(
            &format!("hvp of input {i}"),
            t.dtype(),
            &t.shape,
            &t.to_f64_vec(),
            &want,
        )?);
    }
    Ok(worst)
}

#[test]
fn hessian_vector_products_match_torch() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/nn-conv-hvp.json"
    );
    let text = std::fs::read_to_string(path).expect("read nn-conv-hvp.json");
    let cases = Json::parse(&text).expect("parse");
    let cases = cases.as_arr().expect("a list");
    assert!(cases.len() >= 40, "{} hvp cases", cases.len());
    let mut failures = Vec::new();
    let mut worst = [Worst::default(), Worst::default()];
    for c in cases {
        let name = c.field("name").and_then(Json::as_str).unwrap_or("?");
        let dt = c.field("dtype").and_then(Json::as_str).unwrap_or("?");
        let mut e = Engine::new();
        let mut handles = Vec::new();
        let r = hvp_case(&mut e, c, &mut handles);
        for h in handles {
            e.free(h);
        }
        let clean = MemoryInfo {
            arrays: 0,
            bytes: 0,
            tape_nodes: 0,
        };
        match r {
            Ok(_) if e.memory() != clean => failures.push(format!("{name}: leak {:?}", e.memory())),
            Ok(w) => worst[(dt == "float64") as usize].merge(w),
            Err(m) => failures.push(format!("{name}: {m}")),
        }
    }
    for (dt, w) in ["float32", "float64"].iter().zip(&worst) {
        println!(
            "conv hvp {dt}: worst relative error {:.3e}, worst tolerance use {:.3}",
            w.rel, w.used
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn arr(e: &mut Engine, shape: &[usize]) -> u32 {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
    e.adopt(Tensor::from_vec(shape.to_vec(), data).unwrap())
        .unwrap()
}

fn p2(kernel: &[i64], f: i64, g: i64) -> ConvParams {
    ConvParams {
        kernel: kernel.to_vec(),
        num_filter: f,
        num_group: g,
        ..ConvParams::default()
    }
}

/// Each bad input is an Error naming the operator and the shapes; the
/// arrays created before keep their values.
#[test]
fn bad_inputs_are_errors_and_leave_arrays_intact() {
    let mut e = Engine::new();
    let x = arr(&mut e, &[2, 4, 5, 5]);
    let w = arr(&mut e, &[6, 4, 3, 3]);
    let before = e.get(x).unwrap().to_f64_vec();
    let check = |e: &mut Engine,
                 x: u32,
                 w: u32,
                 b: Option<u32>,
                 p: ConvParams,
                 deconv: bool,
                 want: &[&str]| {
        let msg = e.convolution(x, w, b, &p, deconv).unwrap_err().to_string();
        let name = if deconv {
            "Deconvolution"
        } else {
            "Convolution"
        };
        assert!(msg.starts_with(name), "{msg}");
        for s in want {
            assert!(msg.contains(s), "{msg:?} should contain {s:?}");
        }
    };
    // wrong weight shape
    let w2 = arr(&mut e, &[6, 3, 3, 3]);
    check(
        &mut e,
        x,
        w2,
        None,
        p2(&[3, 3], 6, 1),
        false,
        &["[6,4,3,3]", "[6,3,3,3]", "[2,4,5,5]"],
    );
    // kernel larger than the padded input
    let wbig = arr(&mut e, &[6, 4, 7, 3]);
    check(
        &mut e,
        x,
        wbig,
        None,
        p2(&[7, 3], 6, 1),
        false,
        &["kernel size exceeds", "[2,4,5,5]"],
    );
    // numGroup not dividing the channels
    check(
        &mut e,
        x,
        w,
        None,
        p2(&[3, 3], 6, 3),
        false,
        &["numGroup 3", "4 channels"],
    );
    // zero stride, negative pad
    let mut p = p2(&[3, 3], 6, 1);
    p.stride = vec![0, 1];
    check(&mut e, x, w, None, p, false, &["stride"]);
    let mut p = p2(&[3, 3], 6, 1);
    p.pad = vec![-1, 0];
    check(&mut e, x, w, None, p, false, &["pad"]);
    // data of the wrong rank
    let x3 = arr(&mut e, &[2, 4, 5]);
    check(
        &mut e,
        x3,
        w,
        None,
        p2(&[3, 3], 6, 1),
        false,
        &["4-D", "[2,4,5]"],
    );
    check(&mut e, x, w, None, p2(&[3, 3, 3], 6, 1), false, &["kernel"]);
    // bias of the wrong shape
    let b = arr(&mut e, &[5]);
    check(
        &mut e,
        x,
        w,
        Some(b),
        p2(&[3, 3], 6, 1),
        false,
        &["bias", "[5]"],
    );
    // Deconvolution: adj >= stride, weight layout (C, F/G, k)
    let mut p = p2(&[3, 3], 2, 1);
    p.adj = vec![1, 1];
    let wd = arr(&mut e, &[4, 2, 3, 3]);
    check(&mut e, x, wd, None, p, true, &["adj"]);
    check(
        &mut e,
        x,
        w,
        None,
        p2(&[3, 3], 2, 1),
        true,
        &["weight", "[4,2,3,3]"],
    );
    assert_eq!(e.get(x).unwrap().to_f64_vec(), before);
}
