//! Second derivatives of the nnmisc group's operators (issue #12:
//! FullyConnected, Embedding, Activation, LeakyReLU, Flatten,
//! softmaxCrossEntropy) held to PyTorch: every case of
//! `tests/vectors/nn-misc-second.json` (torch float64, float32 cases rounded;
//! `tests/vectors/gen_nn_nnmisc.py` documents the format) replayed natively.
//! For each: `g = grad_of(post(op(inputs)), wrt, head, create_graph)`, then
//! `s = Σ sum(g_i · v_i)` recorded, then `grad_of(s, wrt)`: the
//! Hessian-vector product. `tests/ts/nn-misc.test.ts` replays the same file
//! through the `.wasm` build. Every case runs on a fresh engine that must
//! hold nothing afterwards.

#[allow(dead_code)]
mod common;

use common::{array, Json};
use ndgrad_core::autograd::{self, GradReq};
use ndgrad_core::kernels::{BinOp, RedOp, UnOp};
use ndgrad_core::ops::nnmisc::{Act, LeakyAct};
use ndgrad_core::{Engine, MemoryInfo, Tensor};

type R<T> = Result<T, String>;

fn load() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/nn-misc-second.json"
    );
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e} (run tests/vectors/gen_nn_nnmisc.py)"));
    Json::parse(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Recording(bool);
impl Drop for Recording {
    fn drop(&mut self) {
        autograd::set_recording(self.0);
    }
}

fn put(e: &mut Engine, j: &Json, hs: &mut Vec<u32>) -> R<u32> {
    let a = array(j)?;
    let t = Tensor::from_vec(a.shape, a.data).map_err(|e| e.to_string())?;
    let h = e.adopt(t).map_err(|e| e.to_string())?;
    hs.push(h);
    Ok(h)
}

fn keep(hs: &mut Vec<u32>, r: ndgrad_core::Result<u32>, what: &str) -> R<u32> {
    let h = r.map_err(|e| format!("{what}: {e}"))?;
    hs.push(h);
    Ok(h)
}

/// The case's op (and its `post`) on the input handles.
fn forward(e: &mut Engine, c: &Json, xs: &[u32], hs: &mut Vec<u32>) -> R<u32> {
    let p = c.field("params")?;
    let op = c.field("op")?.as_str()?;
    let consts = c.field("consts").ok();
    let konst = |e: &mut Engine, hs: &mut Vec<u32>, k: &str| -> R<u32> {
        let j = consts.and_then(|m| m.get(k)).ok_or(format!("const {k}"))?;
        put(e, j, hs)
    };
    let x = xs[0];
    let r = match op {
        "FullyConnected" => e.fully_connected(
            x,
            xs[1],
            xs.get(2).copied(),
            p.field("num_hidden")?.as_i64()?,
            p.field("no_bias")?.as_bool()?,
            p.field("flatten")?.as_bool()?,
        ),
        "Embedding" => {
            let d = konst(e, hs, "data")?;
            e.embedding(
                d,
                x,
                p.field("input_dim")?.as_i64()?,
                p.field("output_dim")?.as_i64()?,
            )
        }
        "Activation" => {
            let name = p.field("act_type")?.as_str()?;
            let a = Act::ALL
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or("act")?;
            e.activation(x, a)
        }
        "LeakyReLU" => {
            let name = p.field("act_type")?.as_str()?;
            let a = LeakyAct::ALL
                .into_iter()
                .find(|a| a.name() == name)
                .ok_or("act")?;
            e.leaky_relu_act(x, a, p.field("slope")?.as_f64()?, xs.get(1).copied())
        }
        "Flatten" => e.flatten(x),
        "softmaxCrossEntropy" => {
            let l = konst(e, hs, "label")?;
            e.softmax_cross_entropy(x, l)
        }
        o => return Err(format!("unknown op {o}")),
    };
    let y = keep(hs, r, op)?;
    let post = match c.field("post")?.as_str()? {
        "none" => return Ok(y),
        "square" => UnOp::Square,
        "tanh" => UnOp::Tanh,
        o => return Err(format!("bad post {o}")),
    };
    let r = e.unary(post, y);
    keep(hs, r, "post")
}

fn check(e: &Engine, h: u32, want: &Json, what: &str) -> R<f64> {
    let a = array(want)?;
    let tol = want.field("tol")?.as_f64()?;
    let t = e.get(h).map_err(|e| e.to_string())?;
    if t.shape != a.shape || t.dtype() != a.dtype {
        return Err(format!(
            "{what}: shape {:?} {:?}, want {:?} {:?}",
            t.shape,
            t.dtype(),
            a.shape,
            a.dtype
        ));
    }
    let mut worst = 0f64;
    for (i, (g, w)) in t.to_f64_vec().iter().zip(a.values()).enumerate() {
        let d = (g - w).abs();
        if d.is_nan() || d > tol {
            return Err(format!("{what}[{i}]: got {g}, want {w} (tol {tol})"));
        }
        worst = worst.max(d / tol);
    }
    Ok(worst)
}

fn run(c: &Json) -> R<f64> {
    let mut e = Engine::new();
    let mut hs = Vec::new();
    let r = run_in(&mut e, c, &mut hs);
    for h in hs {
        e.free(h);
    }
    let m = e.memory();
    let w = r?;
    if m != (MemoryInfo {
        arrays: 0,
        bytes: 0,
        tape_nodes: 0,
    }) {
        return Err(format!("leak after the case: {m:?}"));
    }
    Ok(w)
}

fn run_in(e: &mut Engine, c: &Json, hs: &mut Vec<u32>) -> R<f64> {
    let xs = c
        .field("inputs")?
        .as_arr()?
        .iter()
        .map(|j| put(e, j, hs))
        .collect::<R<Vec<u32>>>()?;
    let wrt: Vec<u32> = c
        .field("wrt")?
        .as_ints()?
        .iter()
        .map(|&i| xs[i as usize])
        .collect();
    for &x in &wrt {
        e.attach_grad(x, GradReq::Write)
            .map_err(|e| e.to_string())?;
    }
    let head = put(e, c.field("head")?, hs)?;
    let vs = c
        .field("v")?
        .as_arr()?
        .iter()
        .map(|j| put(e, j, hs))
        .collect::<R<Vec<u32>>>()?;
    let _rec = Recording(autograd::set_recording(true));
    let y = forward(e, c, &xs, hs)?;
    let gs = e
        .grad_of(&[y], &[Some(head)], &wrt, true, true, true)
        .map_err(|e| format!("grad_of(create_graph): {e}"))?;
    hs.extend(&gs);
    let mut worst = 0f64;
    let first = c.field("first")?.as_arr()?;
    for (i, (&g, w)) in gs.iter().zip(first).enumerate() {
        worst = worst.max(check(e, g, w, &format!("first derivative {i}"))?);
    }
    let mut s: Option<u32> = None;
    for (&g, &v) in gs.iter().zip(&vs) {
        let r = e.binary(BinOp::Mul, g, v);
        let p = keep(hs, r, "g·v")?;
        let r = e.reduce(RedOp::Sum, p, None, false);
        let t = keep(hs, r, "sum")?;
        s = Some(match s {
            None => t,
            Some(acc) => {
                let r = e.binary(BinOp::Add, acc, t);
                keep(hs, r, "add")?
            }
        });
    }
    let s = s.ok_or("no wrt")?;
    let hv = e
        .grad_of(&[s], &[None], &wrt, false, false, true)
        .map_err(|e| format!("second grad_of: {e}"))?;
    hs.extend(&hv);
    let expect = c.field("expect")?.as_arr()?;
    for (i, (&h, w)) in hv.iter().zip(expect).enumerate() {
        worst = worst.max(check(e, h, w, &format!("Hessian-vector product {i}"))?);
    }
    Ok(worst)
}

#[test]
fn second_derivatives_match_torch() {
    let doc = load();
    let cases = doc.field("cases").unwrap().as_arr().unwrap();
    assert!(cases.len() >= 24, "{} cases", cases.len());
    let mut failures = Vec::new();
    let mut worst = (0f64, String::new());
    for c in cases {
        let name = c.field("name").unwrap().as_str().unwrap().to_string();
        match run(c) {
            Ok(w) => {
                if w > worst.0 {
                    worst = (w, name);
                }
            }
            Err(m) => failures.push(format!("  {name}: {m}")),
        }
    }
    println!(
        "nn-misc second derivatives: {} cases, worst tolerance use {:.3} ({})",
        cases.len(),
        worst.0,
        worst.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for op in [
        "FullyConnected",
        "Embedding",
        "Activation",
        "LeakyReLU",
        "Flatten",
        "softmaxCrossEntropy",
    ] {
        for dt in ["float32", "float64"] {
            assert!(
                cases
                    .iter()
                    .any(|c| c.get("op").and_then(|j| j.as_str().ok()) == Some(op)
                        && c.get("dtype").and_then(|j| j.as_str().ok()) == Some(dt)),
                "{op} {dt}: no second-derivative case"
            );
        }
    }
}
