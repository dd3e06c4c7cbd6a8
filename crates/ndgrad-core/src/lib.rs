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
//!
//! ## How an op allocates
//! Running out of WebAssembly memory must be an `OutOfMemory` error, never
//! an abort (which traps the instance and loses every array). Stable Rust
//! aborts on a failed infallible allocation, so:
//! - **Anything whose size grows with the data** (element counts, the
//!   number of arrays or graph nodes) is allocated fallibly: tensor storage
//!   with `storage::alloc_empty` / `alloc_zeroed` / `alloc_copy`; other
//!   temporaries (index lists, scratch, per-row tables) with
//!   `storage::try_vec` / `try_filled` / `try_collect`; containers that grow
//!   by `push` with `storage::try_grow` first. Not `vec![x; n]`,
//!   `Vec::with_capacity(n)`, `.collect()`, `.to_vec()` or `.clone()` of a
//!   buffer (use `Data::try_clone`). A kernel that appends to an output
//!   `Vec` gets one with the capacity reserved (its `reserve` is then a
//!   no-op); a kernel that cannot fail but wants scratch falls back to a
//!   path that needs none when the scratch cannot be had (see `gemm`).
//! - **Small, bounded bookkeeping** (shapes, strides, a graph node, an
//!   error message) may allocate normally: `ndgrad-wasm`'s allocator keeps a
//!   reserve for allocations of up to 64 KiB, and every call starts with it
//!   in hand (see `reserve` there).
//!
//! `tests/ts/oom-child.mjs` fills memory and calls every export at a sweep
//! of free-memory levels: an infallible allocation that grows with the data
//! traps there. A new export family gets a line in its table.

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
