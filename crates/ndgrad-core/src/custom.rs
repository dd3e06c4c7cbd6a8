//! Custom operators (MXNet's `autograd.Function`): the forward runs outside
//! the engine (in JavaScript), and the engine records a node whose backward
//! calls back out through `CustomHooks`. The core stays free of FFI: the
//! wasm crate installs hooks that call JavaScript, tests install Rust ones.

use std::cell::RefCell;
use std::rc::Rc;

use crate::autograd::{self, AgRef};
use crate::error::{Error, Result};
use crate::storage::Tensor;

/// What the engine needs from the host of custom functions.
pub trait CustomHooks {
    /// Gradients w.r.t. the `n_inputs` inputs of function `id`, given the
    /// gradient `dy` of its output number `output` (the others are zero).
    fn backward(
        &self,
        id: u32,
        output: usize,
        dy: &Tensor,
        n_inputs: usize,
    ) -> Result<Vec<Option<Tensor>>>;
    /// The node for output `output` of function `id` is gone (after
    /// backward without retain_graph, or when its graph was abandoned).
    fn release(&self, id: u32, output: usize);
}

thread_local! {
    static HOOKS: RefCell<Option<Rc<dyn CustomHooks>>> = const { RefCell::new(None) };
}

pub fn set_hooks(hooks: Option<Rc<dyn CustomHooks>>) {
    HOOKS.with(|h| *h.borrow_mut() = hooks);
}

fn hooks() -> Option<Rc<dyn CustomHooks>> {
    HOOKS.with(|h| h.try_borrow().ok().and_then(|h| h.clone()))
}

/// The recorded part of one output of a custom function.
pub struct CustomOp {
    pub id: u32,
    pub output: usize,
    pub n_inputs: usize,
}

impl CustomOp {
    pub(crate) fn backward(&self, dy: &Tensor) -> Result<Vec<Option<Tensor>>> {
        let h = hooks().ok_or_else(|| Error::internal("no host for custom functions"))?;
        let grads = h.backward(self.id, self.output, dy, self.n_inputs)?;
        if grads.len() != self.n_inputs {
            return Err(Error::invalid(format!(
                "Function.backward returned {} gradients for {} inputs",
                grads.len(),
                self.n_inputs
            )));
        }
        Ok(grads)
    }
}

impl Drop for CustomOp {
    fn drop(&mut self) {
        if let Some(h) = hooks() {
            h.release(self.id, self.output);
        }
    }
}

/// Record custom function `id` with `inputs` → `outputs`: one node per output.
/// Returns whether anything was recorded (recording on, and an input needs a
/// gradient). Outputs must be fresh arrays, not in the graph already.
pub fn record(id: u32, inputs: &[&Tensor], outputs: &mut [&mut Tensor]) -> Result<bool> {
    for o in outputs.iter() {
        if o.ag.is_some() {
            return Err(Error::invalid(
                "Function: forward must return new arrays (not its inputs, nor arrays with an attached gradient)",
            ));
        }
    }
    let n_inputs = inputs.len();
    let mut recorded = false;
    for (k, o) in outputs.iter_mut().enumerate() {
        let op = crate::ops::Op::Custom(CustomOp {
            id,
            output: k,
            n_inputs,
        });
        autograd::record(|| op, inputs, Vec::new, o);
        recorded |= matches!(o.ag, Some(AgRef::Node(_)));
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::{attach_grad, grad_of, set_recording, GradReq};
    use crate::kernels::BinOp;
    use crate::ops;
    use std::cell::Cell;

    /// A host whose custom function 7 is `3·x` with gradient `3·dy`.
    struct Triple {
        released: Cell<usize>,
    }
    impl CustomHooks for Triple {
        fn backward(
            &self,
            id: u32,
            output: usize,
            dy: &Tensor,
            n: usize,
        ) -> Result<Vec<Option<Tensor>>> {
            assert_eq!((id, output, n), (7, 0, 1));
            Ok(vec![Some(ops::binary_scalar(BinOp::Mul, dy, 3.0, false)?)])
        }
        fn release(&self, _id: u32, _output: usize) {
            self.released.set(self.released.get() + 1);
        }
    }

    #[test]
    fn custom_nodes_call_the_host_and_release_it() {
        let host = Rc::new(Triple {
            released: Cell::new(0),
        });
        set_hooks(Some(host.clone()));
        let mut x = Tensor::from_vec(vec![2], vec![1.0, 2.0]).unwrap();
        attach_grad(&mut x, GradReq::Write).unwrap();
        set_recording(true);
        let mut y = ops::binary_scalar(BinOp::Mul, &x.detached(), 3.0, false).unwrap();
        assert!(record(7, &[&x], &mut [&mut y]).unwrap());
        let loss = ops::reduce(crate::kernels::RedOp::Sum, &y, None, false).unwrap();
        set_recording(false);
        autograd::backward(std::slice::from_ref(&loss), &[None], false, true).unwrap();
        assert_eq!(grad_of(&x).unwrap().to_vec(), vec![3.0, 3.0]);
        assert_eq!(host.released.get(), 0, "the node lives while y does");
        drop((y, loss));
        assert_eq!(host.released.get(), 1);
        // Outputs already in a graph are refused.
        let mut again = x.clone();
        assert!(record(8, &[&x], &mut [&mut again]).is_err());
        set_hooks(None);
    }
}
