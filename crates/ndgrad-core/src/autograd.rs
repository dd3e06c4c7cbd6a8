//! The gradient tape: recording state, graph nodes, and the backward walk.
//!
//! The tape is a graph of reference-counted nodes rather than a flat list: an
//! op recorded under `record` hangs a `Node` on its output, and the node holds
//! its inputs' places in the graph plus the tensors its backward formula
//! needs. A graph therefore lives exactly as long as something can still
//! reach it (an output array, or a later node), so a graph that is abandoned
//! without `backward` is freed with its outputs, and `backward` without
//! `retain_graph` frees it at once (MXNet's semantics).
//!
//! Backward formulas (in `ops`) are written with the same differentiable ops
//! as forward, so the walk can record them (`create_graph`) for higher-order
//! gradients.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use crate::dtype::Data;
use crate::error::{Error, Result};
use crate::ops::{self, Op};
use crate::shape::fmt_shape;
use crate::storage::{try_grow, Tensor};

thread_local! {
    static RECORDING: Cell<bool> = const { Cell::new(false) };
    static TRAINING: Cell<bool> = const { Cell::new(false) };
    static LIVE_NODES: Cell<usize> = const { Cell::new(0) };
}

pub fn is_recording() -> bool {
    RECORDING.with(|c| c.get())
}
pub fn is_training() -> bool {
    TRAINING.with(|c| c.get())
}
/// Set the recording flag; returns the previous value (MXNet's `set_recording`).
pub fn set_recording(on: bool) -> bool {
    RECORDING.with(|c| c.replace(on))
}
/// Set the training flag; returns the previous value (MXNet's `set_training`).
pub fn set_training(on: bool) -> bool {
    TRAINING.with(|c| c.replace(on))
}
/// Recorded nodes whose graph has not been freed yet.
pub fn live_nodes() -> usize {
    LIVE_NODES.with(|c| c.get())
}

/// Restores the recording and training flags when dropped, so an error in the
/// middle of a backward pass leaves the state as it was.
struct ModeGuard {
    recording: bool,
    training: bool,
}
impl ModeGuard {
    fn set(recording: bool, training: bool) -> ModeGuard {
        ModeGuard {
            recording: set_recording(recording),
            training: set_training(training),
        }
    }
}
impl Drop for ModeGuard {
    fn drop(&mut self) {
        set_recording(self.recording);
        set_training(self.training);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradReq {
    Null = 0,
    Write = 1,
    Add = 2,
}

impl GradReq {
    pub fn from_code(code: u32) -> Option<GradReq> {
        match code {
            0 => Some(GradReq::Null),
            1 => Some(GradReq::Write),
            2 => Some(GradReq::Add),
            _ => None,
        }
    }
}

/// A variable: an array with an attached gradient buffer.
pub struct Leaf {
    /// The gradient; its buffer is shared with the `.grad` handles given out,
    /// so backward writes into it in place.
    pub grad: Tensor,
    pub req: Cell<GradReq>,
    /// MXNet's `fresh_out_grad`: set by `backward` for every variable of the
    /// graph it writes (`src/imperative/imperative.cc`, `Imperative::Backward`),
    /// cleared by `gluon.Trainer` once it has used the gradient; the Trainer
    /// refuses a stale gradient unless told to skip it.
    pub fresh: Cell<bool>,
}

/// A recorded operation.
pub struct Node {
    pub op: Op,
    inputs: RefCell<Vec<Option<AgRef>>>,
    saved: RefCell<Vec<Tensor>>,
    freed: Cell<bool>,
    /// Part of a backward walk in progress (a custom Function's backward may
    /// call back in: walking the same graph again would never end).
    busy: Cell<bool>,
}

/// Where an array sits in the graph.
#[derive(Clone)]
pub enum AgRef {
    Leaf(Rc<Leaf>),
    Node(Rc<Node>),
}

impl AgRef {
    fn requires_grad(&self) -> bool {
        match self {
            AgRef::Leaf(l) => l.req.get() != GradReq::Null,
            AgRef::Node(_) => true,
        }
    }
    fn key(&self) -> usize {
        match self {
            AgRef::Leaf(l) => Rc::as_ptr(l) as *const () as usize,
            AgRef::Node(n) => Rc::as_ptr(n) as *const () as usize,
        }
    }
}

impl Node {
    fn new(op: Op, inputs: Vec<Option<AgRef>>, saved: Vec<Tensor>) -> Rc<Node> {
        for t in &saved {
            t.buf.add_tape_ref();
        }
        LIVE_NODES.with(|c| c.set(c.get() + 1));
        Rc::new(Node {
            op,
            inputs: RefCell::new(inputs),
            saved: RefCell::new(saved),
            freed: Cell::new(false),
            busy: Cell::new(false),
        })
    }

    pub fn is_freed(&self) -> bool {
        self.freed.get()
    }

    /// Drop what the node holds; return its children so the caller can free
    /// a long chain iteratively instead of recursing through `Drop`.
    fn release(&self) -> Vec<AgRef> {
        if !self.freed.replace(true) {
            LIVE_NODES.with(|c| c.set(c.get().saturating_sub(1)));
        }
        let mut children: Vec<AgRef> = Vec::new();
        if let Ok(mut inputs) = self.inputs.try_borrow_mut() {
            children.extend(inputs.drain(..).flatten());
        }
        if let Ok(mut saved) = self.saved.try_borrow_mut() {
            for mut t in saved.drain(..) {
                t.buf.drop_tape_ref();
                if let Some(ag) = t.ag.take() {
                    children.push(ag);
                }
            }
        }
        children
    }
}

/// Free a set of graph references without deep recursion.
fn release_all(mut stack: Vec<AgRef>) {
    while let Some(r) = stack.pop() {
        if let AgRef::Node(n) = r {
            if let Ok(node) = Rc::try_unwrap(n) {
                stack.extend(node.release());
                // `node` drops here with nothing left to drop recursively.
            }
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let children = self.release();
        release_all(children);
    }
}

/// Attach a fresh zero gradient to `t` (MXNet's `attach_grad`).
pub fn attach_grad(t: &mut Tensor, req: GradReq) -> Result<()> {
    no_int_grad(t)?;
    let grad = Tensor::zeros(&t.shape, t.dtype())?;
    t.ag = Some(AgRef::Leaf(Rc::new(Leaf {
        grad,
        req: Cell::new(req),
        fresh: Cell::new(false),
    })));
    Ok(())
}

/// MXNet's `mark_variables`: make `t` a variable whose gradient is written
/// into `grad`'s buffer (shared, so `grad` sees every backward).
fn no_int_grad(t: &Tensor) -> Result<()> {
    let dtype = t.dtype();
    if !dtype.is_float() {
        return Err(Error::invalid(format!(
            "{} arrays cannot have gradients (shape {}); cast with astype(\"float32\") first",
            dtype.name(),
            fmt_shape(&t.shape)
        )));
    }
    Ok(())
}

pub fn mark_variable(t: &mut Tensor, grad: &Tensor, req: GradReq) -> Result<()> {
    no_int_grad(t).map_err(|e| e.in_op("markVariables"))?;
    if grad.dtype() != t.dtype() {
        return Err(Error::invalid(format!(
            "markVariables: gradient of dtype {} for a variable of dtype {}",
            grad.dtype().name(),
            t.dtype().name()
        )));
    }
    if grad.shape != t.shape {
        return Err(Error::shape(format!(
            "markVariables: gradient of shape {} for a variable of shape {}",
            fmt_shape(&grad.shape),
            fmt_shape(&t.shape)
        )));
    }
    t.ag = Some(AgRef::Leaf(Rc::new(Leaf {
        grad: grad.detached(),
        req: Cell::new(req),
        fresh: Cell::new(false),
    })));
    Ok(())
}

/// The gradient buffer of a variable, as a tensor sharing it.
pub fn grad_of(t: &Tensor) -> Option<Tensor> {
    match &t.ag {
        Some(AgRef::Leaf(l)) => Some(l.grad.detached()),
        _ => None,
    }
}

/// MXNet's `_fresh_grad` of a variable: None when `t` has no gradient.
pub fn fresh_grad(t: &Tensor) -> Option<bool> {
    match &t.ag {
        Some(AgRef::Leaf(l)) => Some(l.fresh.get()),
        _ => None,
    }
}

/// Set `_fresh_grad`; false when `t` has no gradient.
pub fn set_fresh_grad(t: &Tensor, state: bool) -> bool {
    match &t.ag {
        Some(AgRef::Leaf(l)) => {
            l.fresh.set(state);
            true
        }
        _ => false,
    }
}

/// Whether `record` would hang a node on a float result of `inputs`: lets
/// an op skip work only its backward needs (max pooling's argmax).
pub fn will_record(inputs: &[&Tensor]) -> bool {
    is_recording()
        && inputs
            .iter()
            .any(|t| t.ag.as_ref().is_some_and(|a| a.requires_grad()))
}

/// Hang a node on `out` if recording and any input needs a gradient.
/// `op` and `saved` are only evaluated when a node is actually created
/// (building them allocates: not worth it for an unrecorded op).
pub fn record(
    op: impl FnOnce() -> Op,
    inputs: &[&Tensor],
    saved: impl FnOnce() -> Vec<Tensor>,
    out: &mut Tensor,
) {
    // Integer results carry no gradient (MXNet computes none for integers).
    if !is_recording() || !out.dtype().is_float() {
        return;
    }
    let ins: Vec<Option<AgRef>> = inputs
        .iter()
        .map(|t| t.ag.as_ref().filter(|a| a.requires_grad()).cloned())
        .collect();
    if ins.iter().all(Option::is_none) {
        return;
    }
    out.ag = Some(AgRef::Node(Node::new(op(), ins, saved())));
}

const NOT_IN_GRAPH: &str = "Cannot differentiate node because it is not in a computational graph. \
You need to set is_recording to true or use autograd.record() to save computational graphs for backward. \
If you want to differentiate the same graph twice, you need to pass retain_graph=True to backward.";

/// MXNet's `autograd.backward`: accumulate d(heads)/d(variables) into the
/// variables' gradient buffers according to their `grad_req`.
pub fn backward(
    heads: &[Tensor],
    head_grads: &[Option<Tensor>],
    retain_graph: bool,
    train_mode: bool,
) -> Result<()> {
    let leaf_grads = walk(
        "backward",
        heads,
        head_grads,
        retain_graph,
        false,
        train_mode,
    )?;
    for (leaf, g) in &leaf_grads {
        write_grad(leaf, g)?;
        if leaf.req.get() != GradReq::Null {
            leaf.fresh.set(true);
        }
    }
    Ok(())
}

/// MXNet's `autograd.grad`: the gradients of `heads` w.r.t. `variables`,
/// returned as new tensors; the variables' `.grad` buffers are untouched.
/// With `create_graph` the backward pass is itself recorded, so the results
/// can be differentiated again. A variable the heads do not depend on gets
/// zeros.
pub fn grad(
    heads: &[Tensor],
    head_grads: &[Option<Tensor>],
    variables: &[Tensor],
    retain_graph: bool,
    create_graph: bool,
    train_mode: bool,
) -> Result<Vec<Tensor>> {
    if variables.is_empty() {
        return Err(Error::invalid("grad: no variables given"));
    }
    let mut leaves = Vec::with_capacity(variables.len());
    for (i, v) in variables.iter().enumerate() {
        match &v.ag {
            Some(AgRef::Leaf(l)) => leaves.push(l.clone()),
            _ => {
                return Err(Error::autograd(format!(
                    "grad: Cannot differentiate with respect to the {}-th variable because it does not require gradient \
                     (call attachGrad() on it before recording)",
                    i + 1
                )))
            }
        }
    }
    let leaf_grads = walk(
        "grad",
        heads,
        head_grads,
        retain_graph,
        create_graph,
        train_mode,
    )?;
    leaves
        .iter()
        .zip(variables)
        .map(|(l, v)| {
            let g = match leaf_grads.iter().find(|(k, _)| Rc::ptr_eq(k, l)) {
                Some((_, g)) => g.clone(),
                None => Tensor::zeros(&v.shape, v.dtype())?,
            };
            Ok(if create_graph { tie(g, l) } else { g })
        })
        .collect()
}

/// Under `create_graph`, a first-order gradient is a function of its
/// variable even where its formula reads the variable only through a mask
/// (relu: `dy·(x > 0)`), an index (take, max, sort) or not at all (add,
/// reshape, sum): there the derivative is zero, and the recorded formula has
/// no path back to the variable. Every gradient `grad` returns is therefore
/// tied to its variable by one more node, whose backward passes the gradient
/// on to the formula's own graph and gives the variable zeros, so that
/// differentiating it again works and gives zeros where the derivative is
/// zero (JAX's answer for every function; MXNet's
/// tests/python/unittest/test_higher_order_grad.py::test_relu expects zeros
/// too, through `_backward_relu`'s zero gradient). One mechanism in the tape
/// instead of a rule per op: ops added later get it without extra work.
fn tie(g: Tensor, leaf: &Rc<Leaf>) -> Tensor {
    let var = AgRef::Leaf(leaf.clone());
    let ins = vec![
        g.ag.clone().filter(AgRef::requires_grad),
        Some(var).filter(AgRef::requires_grad),
    ];
    if ins.iter().all(Option::is_none) {
        return g;
    }
    let node = Node::new(Op::GradTie, ins, Vec::new());
    Tensor {
        ag: Some(AgRef::Node(node)),
        ..g
    }
}

/// The backward walk shared by `backward` and `grad`: returns the gradient
/// reaching each variable (leaf) of the graph.
fn walk(
    op: &str,
    heads: &[Tensor],
    head_grads: &[Option<Tensor>],
    retain_graph: bool,
    create_graph: bool,
    train_mode: bool,
) -> Result<Vec<(Rc<Leaf>, Tensor)>> {
    if heads.is_empty() {
        return Err(Error::invalid(format!("{op}: no heads given")));
    }
    if head_grads.len() != heads.len() {
        return Err(Error::invalid(format!(
            "{op}: {} heads but {} head gradients",
            heads.len(),
            head_grads.len()
        )));
    }
    // Validate every head before touching anything.
    let mut roots: Vec<(Rc<Node>, Tensor)> = Vec::with_capacity(heads.len());
    {
        let _mode = ModeGuard::set(false, train_mode);
        for (h, g) in heads.iter().zip(head_grads) {
            let node = match &h.ag {
                Some(AgRef::Node(n)) if !n.is_freed() => n.clone(),
                _ => return Err(Error::autograd(format!("{op}: {NOT_IN_GRAPH}"))),
            };
            let g = match g {
                Some(g) => {
                    if g.dtype() != h.dtype() {
                        return Err(Error::invalid(format!(
                            "{op}: head gradient of dtype {} for a head of dtype {}",
                            g.dtype().name(),
                            h.dtype().name()
                        )));
                    }
                    if g.shape != h.shape {
                        return Err(Error::shape(format!(
                            "{op}: head gradient of shape {} does not match the head's shape {}",
                            fmt_shape(&g.shape),
                            fmt_shape(&h.shape)
                        )));
                    }
                    // A recorded head gradient stays in the graph when the
                    // backward pass is itself recorded.
                    if create_graph {
                        g.clone()
                    } else {
                        g.detached()
                    }
                }
                None => Tensor::full(&h.shape, 1.0, h.dtype())?,
            };
            roots.push((node, g));
        }
    }

    let order = topo_order(op, roots.iter().map(|(n, _)| n.clone()).collect())?;
    if order.iter().any(|n| n.busy.get()) {
        return Err(Error::autograd(format!(
            "{op}: this graph is already being differentiated (was backward called from inside a Function's backward?)"
        )));
    }
    let _busy = BusyGuard::mark(&order);

    // Backward formulas are ops: recording them (create_graph) builds the
    // graph of the gradient itself.
    let _mode = ModeGuard::set(create_graph, train_mode);
    let mut node_grads: HashMap<usize, Tensor> = HashMap::new();
    for (n, g) in roots {
        let key = Rc::as_ptr(&n) as *const () as usize;
        accumulate(&mut node_grads, key, g)?;
    }
    let mut leaf_grads: Vec<(Rc<Leaf>, Tensor)> = Vec::new();
    let mut leaf_index: HashMap<usize, usize> = HashMap::new();
    let mut tied: Vec<Rc<Leaf>> = Vec::new();

    for node in order.iter().rev() {
        let key = Rc::as_ptr(node) as *const () as usize;
        let Some(dy) = node_grads.remove(&key) else {
            continue;
        };
        let input_grads = {
            let saved = node
                .saved
                .try_borrow()
                .map_err(|_| Error::internal(format!("{op}: graph is busy")))?;
            // Inputs outside the graph (data, constants) need no gradient:
            // the op may skip computing it (a third of a dense layer's
            // backward matrix work is the gradient of its input batch).
            let needs: Vec<bool> = node
                .inputs
                .try_borrow()
                .map_err(|_| Error::internal(format!("{op}: graph is busy")))?
                .iter()
                .map(Option::is_some)
                .collect();
            node.op.backward(&saved, &dy, &needs)?
        };
        let inputs = node
            .inputs
            .try_borrow()
            .map_err(|_| Error::internal(format!("{op}: graph is busy")))?;
        if input_grads.len() != inputs.len() {
            return Err(Error::internal(format!(
                "backward of {} returned {} gradients for {} inputs",
                node.op.name(),
                input_grads.len(),
                inputs.len()
            )));
        }
        for (inp, g) in inputs.iter().zip(input_grads) {
            let Some(inp) = inp else {
                continue;
            };
            let Some(g) = g else {
                // A tie's variable: zeros, unless a gradient reaches it anyway
                // (added at the end, so a real gradient costs no extra add).
                if let (Op::GradTie, AgRef::Leaf(l)) = (&node.op, inp) {
                    tied.push(l.clone());
                }
                continue;
            };
            match inp {
                AgRef::Node(n) => {
                    accumulate(&mut node_grads, Rc::as_ptr(n) as *const () as usize, g)?
                }
                AgRef::Leaf(l) => {
                    let k = inp.key();
                    if let Some(&i) = leaf_index.get(&k) {
                        let sum = ops::add(&leaf_grads[i].1, &g)?;
                        leaf_grads[i].1 = sum;
                    } else {
                        map_room(&mut leaf_index)?;
                        try_grow(&mut leaf_grads, 1)?;
                        leaf_index.insert(k, leaf_grads.len());
                        leaf_grads.push((l.clone(), g));
                    }
                }
            }
        }
    }

    // A variable reached only through ties has a zero derivative: it gets
    // zeros of its shape and dtype (so `.grad` is overwritten, not left
    // stale), as any variable the heads depend on.
    for l in tied {
        let k = AgRef::Leaf(l.clone()).key();
        if let std::collections::hash_map::Entry::Vacant(e) = leaf_index.entry(k) {
            e.insert(leaf_grads.len());
            let z = Tensor::zeros(&l.grad.shape, l.grad.dtype())?;
            leaf_grads.push((l, z));
        }
    }

    if !retain_graph {
        for node in &order {
            release_all(node.release());
        }
    }
    Ok(leaf_grads)
}

/// Marks the nodes of a walk busy, and clears them however the walk ends.
struct BusyGuard<'a>(&'a [Rc<Node>]);
impl<'a> BusyGuard<'a> {
    fn mark(nodes: &'a [Rc<Node>]) -> BusyGuard<'a> {
        for n in nodes {
            n.busy.set(true);
        }
        BusyGuard(nodes)
    }
}
impl Drop for BusyGuard<'_> {
    fn drop(&mut self) {
        for n in self.0 {
            n.busy.set(false);
        }
    }
}

fn accumulate(map: &mut HashMap<usize, Tensor>, key: usize, g: Tensor) -> Result<()> {
    let g = match map.remove(&key) {
        Some(prev) => ops::add(&prev, &g)?,
        None => g,
    };
    map_room(map)?;
    map.insert(key, g);
    Ok(())
}

/// Store a computed gradient in a variable's buffer, in place.
fn write_grad(leaf: &Leaf, g: &Tensor) -> Result<()> {
    let req = leaf.req.get();
    if req == GradReq::Null {
        return Ok(());
    }
    if g.shape != leaf.grad.shape {
        return Err(Error::internal(format!(
            "backward: gradient of shape {} for a variable of shape {}",
            fmt_shape(&g.shape),
            fmt_shape(&leaf.grad.shape)
        )));
    }
    // The computed gradient may share the destination buffer (e.g. a head
    // gradient that is a view of this very `.grad`): copy it out first.
    fn store<T: crate::dtype::Elem>(req: GradReq, dst: &mut [T], src: &[T]) {
        match req {
            GradReq::Write => dst.copy_from_slice(src),
            GradReq::Add => {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = T::bin(crate::kernels::BinOp::Add, *d, *s);
                }
            }
            GradReq::Null => {}
        }
    }
    let src = g.data()?.try_clone()?;
    let mut dst = leaf.grad.buf.write()?;
    match (&mut *dst, &src) {
        (Data::F32(d), Data::F32(s)) => store(req, d, s),
        (Data::F64(d), Data::F64(s)) => store(req, d, s),
        (Data::I32(d), Data::I32(s)) => store(req, d, s),
        (Data::U8(d), Data::U8(s)) => store(req, d, s),
        _ => {
            return Err(Error::internal(
                "gradient dtype differs from the variable's",
            ))
        }
    }
    Ok(())
}

/// Room for one more entry in a map that grows with the graph: a walk over
/// a large graph fails cleanly rather than aborting when memory is full.
fn map_room<V>(map: &mut HashMap<usize, V>) -> Result<()> {
    map.try_reserve(1).map_err(|_| {
        Error::oom_bytes(
            (map.len() as u64 + 1).saturating_mul(core::mem::size_of::<(usize, V)>() as u64),
        )
    })
}

/// Nodes reachable from `roots`, each after all nodes it feeds (so walking
/// the result backwards visits a node only once all its consumers are done).
fn topo_order(op: &str, roots: Vec<Rc<Node>>) -> Result<Vec<Rc<Node>>> {
    let mut order: Vec<Rc<Node>> = Vec::new();
    let mut state: HashMap<usize, bool> = HashMap::new(); // false: open, true: done
    let mut stack: Vec<(Rc<Node>, bool)> = roots.into_iter().map(|n| (n, false)).collect();
    while let Some((node, expanded)) = stack.pop() {
        let key = Rc::as_ptr(&node) as *const () as usize;
        if expanded {
            state.insert(key, true);
            try_grow(&mut order, 1)?;
            order.push(node);
            continue;
        }
        if state.contains_key(&key) {
            continue;
        }
        if node.is_freed() {
            return Err(Error::autograd(format!("{op}: {NOT_IN_GRAPH}")));
        }
        map_room(&mut state)?;
        state.insert(key, false);
        let inputs = node
            .inputs
            .try_borrow()
            .map_err(|_| Error::internal(format!("{op}: graph is busy")))?;
        let children: Vec<Rc<Node>> = inputs
            .iter()
            .filter_map(|i| match i {
                Some(AgRef::Node(n)) => Some(n.clone()),
                _ => None,
            })
            .collect();
        drop(inputs);
        try_grow(&mut stack, children.len() + 1)?;
        stack.push((node, true));
        for c in children {
            let ck = Rc::as_ptr(&c) as *const () as usize;
            if !state.contains_key(&ck) {
                stack.push((c, false));
            }
        }
    }
    Ok(order)
}
