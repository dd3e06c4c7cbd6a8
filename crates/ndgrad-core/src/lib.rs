//! # ndgrad-core
//!
//! MXNet's `nd` + `autograd` engine in pure Rust: float32 tensors, kernels
//! (a scalar path and a `simd128` path), operators with their gradients, and
//! the gradient tape. It has no dependencies and no FFI; `ndgrad-wasm`
//! exports it to JavaScript.
//!
//! ## Lifecycle of an array
//! 1. **Create**: `Engine::from_data`, `full`, `arange`, `random_*` store a
//!    `Tensor` in the generational `Arena` and return its handle.
//! 2. **Compute**: an op reads its inputs by handle, writes a new buffer, and
//!    stores the result. If autograd is recording and an input needs a
//!    gradient, the op hangs a graph `Node` on its output (`autograd::record`).
//! 3. **Backward**: `Engine::backward` walks the graph from the heads in
//!    reverse topological order, applying each op's backward formula
//!    (`ops::Op::backward`), and writes into the variables' gradient buffers;
//!    without `retain_graph` it frees the graph.
//! 4. **Free**: `Engine::free` drops the handle. Buffers are reference
//!    counted, so what the graph still needs outlives the handle, and a graph
//!    nobody can reach any more is freed with it.
//!
//! Errors never panic: every fallible path returns `error::Error`, whose
//! message names the operation and shapes.

// The threads build (built with build-std, so nightly features are on) waits
// and wakes with wasm atomics; see `threads`.
#![cfg_attr(
    all(target_arch = "wasm32", target_feature = "atomics"),
    feature(stdarch_wasm_atomic_wait)
)]

pub mod arena;
pub mod autograd;
pub mod custom;
pub mod dtype;
pub mod engine;
pub mod error;
pub mod kernels;
pub mod ops;
pub mod optim;
pub mod random;
pub mod shape;
pub mod storage;
pub mod threads;

pub use engine::{Engine, MemoryInfo};
pub use error::{Error, ErrorKind, Result};
pub use storage::Tensor;
