//! Thin C-ABI exports of `ndgrad-core` for WebAssembly. No logic lives here
//! beyond converting handles, pointers, numbers and errors.
//!
//! ## Calling convention
//! - Arrays are `u32` handles; 0 is never a valid handle.
//! - Small integer arguments (shapes, axes, head lists) are written by the
//!   caller into the I/O area at `nd_io()` (4096 `i32`s) before the call; an
//!   op that returns a handle writes the result's shape there as
//!   `[ndim, d0, d1, ...]`, so reading it costs no second call.
//! - Bulk data moves through `nd_data_ptr(h)`: the caller copies in or out
//!   right away (memory growth detaches JavaScript views).
//! - Failure returns 0 (handles) or a negative status, and leaves an error
//!   code (`nd_error_code`) and a UTF-8 message (`nd_error_ptr`/`nd_error_len`)
//!   that name the operation and the shapes. Nothing panics across the
//!   boundary: every input is validated in `ndgrad-core`.
//!
//! A typical sequence: write `[2, 2]` to the I/O area, `nd_alloc(2)` → `h`,
//! fill `nd_data_ptr(h)`, `nd_attach_grad(h, 1)`, `nd_set_recording(1)`,
//! `nd_binary_scalar(MUL, h, 2, 0)` → `y`, `nd_set_recording(0)`,
//! write `[y, 0]`, `nd_backward(1, 0, 1)`, `nd_grad(h)` → `g`, read
//! `nd_data_ptr(g)`, `nd_free(...)`.

use std::cell::{RefCell, UnsafeCell};
use std::rc::Rc;

use ndgrad_core::autograd::{self, GradReq};
use ndgrad_core::custom::{self, CustomHooks};
use ndgrad_core::dtype::DType;
use ndgrad_core::kernels::{self, simd, BinOp, RedOp, UnOp};
use ndgrad_core::ops::index::TopK;
// Pooling, BatchNorm, LayerNorm (pool branch).
use ndgrad_core::ops::nnmisc::{Act, LeakyAct};
use ndgrad_core::ops::norm::BatchNormOpts;
use ndgrad_core::ops::pool::{PoolParams, PoolType};
use ndgrad_core::{Engine, Error, ErrorKind, Result, Tensor};

const IO_LEN: usize = 4096;

/// Buffers 16-byte aligned: the allocator's 8-byte alignment made a quarter
/// of the kernels' 16-byte vector loads and stores straddle cache lines
/// (measured 5–20 % on matmul). Small allocations (shapes, index lists, a
/// 2×2 tensor) keep their natural alignment: dlmalloc's `memalign` path
/// costs several times its `malloc` (a third of a small op's time, profiled).
#[cfg(target_arch = "wasm32")]
struct Aligned16;

/// Allocations of at least this many bytes are 16-byte aligned.
#[cfg(target_arch = "wasm32")]
const ALIGN_FROM: usize = 64;

#[cfg(target_arch = "wasm32")]
fn aligned16(layout: std::alloc::Layout) -> std::alloc::Layout {
    if layout.size() >= ALIGN_FROM {
        layout.align_to(16).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every call forwards to the system allocator with the same raised
// layout on allocation and deallocation, as GlobalAlloc requires; a realloc
// that crosses ALIGN_FROM (and so changes the raised alignment) allocates,
// copies and frees instead, so each block is freed with its own layout.
//
// A failed allocation of at most `reserve::SMALL` bytes gives the reserve
// back to the system allocator and tries once more (see `reserve`).
#[cfg(target_arch = "wasm32")]
unsafe impl std::alloc::GlobalAlloc for Aligned16 {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let l = aligned16(layout);
        let p = unsafe { std::alloc::System.alloc(l) };
        if p.is_null() && l.size() <= reserve::SMALL && reserve::release() {
            return unsafe { std::alloc::System.alloc(l) };
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        let l = aligned16(layout);
        let p = unsafe { std::alloc::System.alloc_zeroed(l) };
        if p.is_null() && l.size() <= reserve::SMALL && reserve::release() {
            return unsafe { std::alloc::System.alloc_zeroed(l) };
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, aligned16(layout)) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let old = aligned16(layout);
        let Ok(grown) = std::alloc::Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        let new = aligned16(grown);
        if old.align() == new.align() {
            let p = unsafe { std::alloc::System.realloc(ptr, old, new_size) };
            if p.is_null() && new_size <= reserve::SMALL && reserve::release() {
                return unsafe { std::alloc::System.realloc(ptr, old, new_size) };
            }
            return p;
        }
        let mut p = unsafe { std::alloc::System.alloc(new) };
        if p.is_null() && new_size <= reserve::SMALL && reserve::release() {
            p = unsafe { std::alloc::System.alloc(new) };
        }
        if !p.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, p, old.size().min(new_size));
                std::alloc::System.dealloc(ptr, old);
            }
        }
        p
    }
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: Aligned16 = Aligned16;

/// Memory held back so that no call can abort for want of a few bytes.
///
/// Stable Rust cannot turn a failed infallible allocation (`Vec::push`,
/// `format!`, `Box::new`) into an error: it aborts, which traps the
/// instance and loses every array. So the engine follows two rules:
/// allocations whose size grows with the data (tensors, index lists,
/// packing scratch, the arena, the tape walk) are fallible (`try_reserve`,
/// `ndgrad_core::storage::try_vec` and friends) and report `OutOfMemory`;
/// the rest (shapes, a graph node, an error message: bounded, small) may be
/// infallible, and this reserve makes them safe. The wasm allocator keeps
/// `SIZE` bytes allocated; when an allocation of at most `SMALL` bytes
/// fails, it frees the reserve and retries, so the call in progress can
/// finish (with its result or a clean error). Every export that may
/// allocate first takes the reserve back (`ensure`, in `run`); if memory is
/// too full for that, the call fails with `OutOfMemory` before doing
/// anything. Fallible allocations larger than `SMALL` never touch the
/// reserve: they fail while it is still there.
///
/// Why not a custom `alloc_error_handler`: it is unstable, and under
/// `panic = "abort"` it could not return to the caller anyway; a reserve
/// turns "must never fail" into "cannot fail" for the small allocations,
/// and keeps the audit to the ones that grow with the data.
#[cfg(target_arch = "wasm32")]
mod reserve {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicPtr, Ordering};

    /// Bytes held back: far more than the bookkeeping of any one call.
    pub const SIZE: usize = 8 << 20;
    /// Larger failed allocations do not get the reserve: they must be
    /// fallible (the rule above), and would use it up in a few goes. An
    /// array of up to 16 Ki floats may take from it; the next call then
    /// fails until memory is freed, which is what full memory means.
    pub const SMALL: usize = 64 << 10;

    static BLOCK: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

    fn layout() -> Layout {
        // SIZE is non-zero and 16 a power of two: this cannot fail.
        Layout::from_size_align(SIZE, 16).unwrap_or(Layout::new::<u8>())
    }

    /// Free the reserve; false if it was not held. Atomic: a helper thread
    /// of the threads build may be the one whose allocation failed.
    pub fn release() -> bool {
        let p = BLOCK.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            return false;
        }
        // SAFETY: `p` came from `System.alloc(layout())` in `ensure`, and
        // the swap made this the only owner of it.
        unsafe { System.dealloc(p, layout()) };
        true
    }

    /// Hold the reserve (again); false if memory is too full for it.
    pub fn ensure() -> bool {
        if !BLOCK.load(Ordering::Acquire).is_null() {
            return true;
        }
        // SAFETY: a layout of non-zero size.
        let p = unsafe { System.alloc(layout()) };
        if p.is_null() {
            return false;
        }
        if BLOCK
            .compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `p` is ours alone (the exchange did not publish it).
            unsafe { System.dealloc(p, layout()) };
        }
        true
    }
}

/// Native builds (this crate's own tests) run on the host allocator.
#[cfg(not(target_arch = "wasm32"))]
mod reserve {
    pub fn ensure() -> bool {
        true
    }
}

/// Memory shared with JavaScript for small arguments and results.
struct Io(UnsafeCell<[i32; IO_LEN]>);
// SAFETY: only the engine's thread touches the cell (helper threads of the
// threads build run kernels only), through exports (never re-entered) and
// JavaScript between calls.
unsafe impl Sync for Io {}
static IO: Io = Io(UnsafeCell::new([0; IO_LEN]));

fn io_read(n: usize) -> Result<Vec<i32>> {
    if n > IO_LEN {
        return Err(Error::invalid(format!("too many dimensions or axes ({n})")));
    }
    // SAFETY: no reference into IO is alive during an export (see `Io`).
    let io = unsafe { &*IO.0.get() };
    Ok(io[..n].to_vec())
}

fn io_write(values: &[i32]) {
    // SAFETY: as in `io_read`; at most IO_LEN values are written.
    let io = unsafe { &mut *IO.0.get() };
    let n = values.len().min(IO_LEN);
    io[..n].copy_from_slice(&values[..n]);
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(Engine::new());
    static ERROR: RefCell<(u32, String)> = const { RefCell::new((0, String::new())) };
}

fn set_error(e: Error) {
    set_error_str(e.kind, &e.message);
}

/// Room kept in the error buffer, so that reporting an error (out of
/// memory above all) does not need to allocate.
const ERROR_ROOM: usize = 4096;

/// Record an error by copying its message into the buffer: longer messages
/// than it holds grow it fallibly, or are cut short.
fn set_error_str(kind: ErrorKind, message: &str) {
    ERROR.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.0 = kind.code();
            c.1.clear();
            let mut end = message.len();
            if c.1.capacity() < end && c.1.try_reserve(end).is_err() {
                end = c.1.capacity();
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
            }
            c.1.push_str(&message[..end]);
        }
    });
}

/// The error the last failing call recorded.
fn last_error() -> Error {
    ERROR.with(|c| match c.try_borrow() {
        Ok(c) => Error::new(
            ErrorKind::from_code(c.0).unwrap_or(ErrorKind::Internal),
            c.1.as_str(),
        ),
        Err(_) => Error::internal("the error buffer is busy"),
    })
}

fn clear_error() {
    ERROR.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.0 = 0;
            c.1.clear();
        }
    });
}

/// Run `f` on the engine; on error record it and return `fail`. Releases of
/// custom-function nodes that happened meanwhile are reported to JavaScript
/// afterwards, when the engine is free to be called again.
fn run<T>(fail: T, f: impl FnOnce(&mut Engine) -> Result<T>) -> T {
    // Every call that may allocate starts with the reserve in hand (see
    // `reserve`); without it, it fails before touching anything.
    if !reserve::ensure() {
        set_error_str(ErrorKind::OutOfMemory, RESERVE_LOST);
        return fail;
    }
    run_light(fail, f)
}

const RESERVE_LOST: &str =
    "out of memory: WebAssembly memory is full (the engine keeps 8 MiB free so that no call can trap, and could not)";

/// `run` for exports that allocate nothing that grows (freeing, reading a
/// pointer or a count): these must work when memory is full, or the user
/// could not free anything.
fn run_light<T>(fail: T, f: impl FnOnce(&mut Engine) -> Result<T>) -> T {
    let out = ENGINE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut eng) => match f(&mut eng) {
            Ok(v) => v,
            Err(e) => {
                set_error(e);
                fail
            }
        },
        Err(_) => {
            set_error(Error::internal("the engine was re-entered"));
            fail
        }
    });
    flush_releases();
    out
}

/// Run an op that yields a handle, then publish the result's shape.
fn op(f: impl FnOnce(&mut Engine) -> Result<u32>) -> u32 {
    run(0, |e| {
        let h = f(e)?;
        let t = e.get(h)?;
        // I/O: rank, the dims, then the dtype code (written in place: no
        // allocation on the path of every op).
        // SAFETY: no reference into IO is alive during an export (see `Io`);
        // a shape has at most 32 dims, far below IO_LEN.
        let io = unsafe { &mut *IO.0.get() };
        let nd = t.shape.len().min(IO_LEN - 2);
        io[0] = nd as i32;
        for (o, &d) in io[1..=nd].iter_mut().zip(&t.shape) {
            *o = d as i32;
        }
        io[nd + 1] = t.dtype().code() as i32;
        Ok(h)
    })
}

/// Status for exports without a result: 0 ok, -1 error.
fn status(f: impl FnOnce(&mut Engine) -> Result<()>) -> i32 {
    run(-1, |e| f(e).map(|_| 0))
}

fn shape_arg(ndim: i32) -> Result<Vec<usize>> {
    if ndim < 0 {
        return Err(Error::invalid(format!("invalid rank {ndim}")));
    }
    io_read(ndim as usize)?
        .into_iter()
        .map(|d| {
            usize::try_from(d)
                .map_err(|_| Error::invalid(format!("negative dimension {d} in shape")))
        })
        .collect()
}

/// Axes from the I/O area; a negative count means "not given".
fn axes_arg(n: i32) -> Result<Option<Vec<i64>>> {
    if n < 0 {
        return Ok(None);
    }
    Ok(Some(
        io_read(n as usize)?.into_iter().map(i64::from).collect(),
    ))
}

/// An integer index passed as a double (JavaScript numbers).
fn index_arg(what: &str, v: f64) -> Result<i64> {
    if !v.is_finite() || v.fract() != 0.0 || v.abs() > 9.0e15 {
        return Err(Error::invalid(format!(
            "{what} must be an integer (got {v})"
        )));
    }
    Ok(v as i64)
}

fn bin_op(code: u32) -> Result<BinOp> {
    BinOp::from_code(code).ok_or_else(|| Error::invalid(format!("unknown binary op {code}")))
}

// ---- I/O, errors, introspection ----

#[no_mangle]
pub extern "C" fn nd_io() -> *mut i32 {
    IO.0.get() as *mut i32
}

#[no_mangle]
pub extern "C" fn nd_io_len() -> u32 {
    IO_LEN as u32
}

#[no_mangle]
pub extern "C" fn nd_error_code() -> u32 {
    ERROR.with(|c| {
        c.try_borrow()
            .map(|c| c.0)
            .unwrap_or(ErrorKind::Internal.code())
    })
}

#[no_mangle]
pub extern "C" fn nd_error_ptr() -> *const u8 {
    ERROR.with(|c| {
        c.try_borrow()
            .map(|c| c.1.as_ptr())
            .unwrap_or(std::ptr::null())
    })
}

#[no_mangle]
pub extern "C" fn nd_error_len() -> u32 {
    ERROR.with(|c| c.try_borrow().map(|c| c.1.len() as u32).unwrap_or(0))
}

/// Put `name` in the message buffer (error code 0) for the TypeScript side to
/// read; returns whether there was a name.
fn publish_name(name: Option<&str>) -> u32 {
    let Some(n) = name else { return 0 };
    ERROR.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c.0 = 0;
            c.1.clear();
            c.1.push_str(n);
        }
    });
    1
}

/// Put the name of error kind `code` in the message buffer; returns 0 if the
/// code is unknown. The TypeScript side builds its table of names from this.
#[no_mangle]
pub extern "C" fn nd_error_kind_name(code: u32) -> u32 {
    publish_name(ErrorKind::from_code(code).map(ErrorKind::name))
}

/// Name of op `code` of `family` (0 binary, 1 unary, 2 reduce) into the
/// message buffer, so the TypeScript op codes come from Rust too.
#[no_mangle]
pub extern "C" fn nd_op_name(family: u32, code: u32) -> u32 {
    let name = match family {
        0 => BinOp::from_code(code).map(BinOp::name),
        1 => UnOp::from_code(code).map(UnOp::name),
        2 => RedOp::from_code(code).map(RedOp::name),
        _ => None,
    };
    publish_name(name)
}

#[no_mangle]
pub extern "C" fn nd_simd_enabled() -> u32 {
    simd::NATIVE_SIMD as u32
}

/// 1 in the relaxed-SIMD builds (`f32x4.relaxed_madd` in the GEMM kernels).
#[no_mangle]
pub extern "C" fn nd_relaxed_simd() -> u32 {
    simd::RELAXED_SIMD as u32
}

#[no_mangle]
pub extern "C" fn nd_kernel_selftest() -> u32 {
    kernels::selftest() as u32
}

#[no_mangle]
pub extern "C" fn nd_live_arrays() -> u32 {
    run_light(0, |e| Ok(e.memory().arrays as u32))
}

#[no_mangle]
pub extern "C" fn nd_live_bytes() -> f64 {
    run_light(0.0, |e| Ok(e.memory().bytes as f64))
}

#[no_mangle]
pub extern "C" fn nd_tape_nodes() -> u32 {
    run_light(0, |e| Ok(e.memory().tape_nodes as u32))
}

// ---- arrays ----

#[no_mangle]
pub extern "C" fn nd_free(h: u32) -> u32 {
    run_light(0, |e| Ok(e.free(h) as u32))
}

/// Shape of `h` into the I/O area; returns the rank, or -1.
#[no_mangle]
pub extern "C" fn nd_shape(h: u32) -> i32 {
    run_light(-1, |e| {
        let t = e.get(h)?;
        let dims: Vec<i32> = t.shape.iter().map(|&d| d as i32).collect();
        io_write(&dims);
        Ok(dims.len() as i32)
    })
}

/// Address of `h`'s values (row-major, in its dtype); 0 on error.
#[no_mangle]
pub extern "C" fn nd_data_ptr(h: u32) -> *mut u8 {
    run_light(std::ptr::null_mut(), |e| {
        let t = e.get(h)?;
        let ptr = t.data()?.as_ptr() as *mut u8;
        Ok(ptr)
    })
}

/// The dtype code of `h` (0 float32, 1 float64, 2 int32, 3 uint8), or -1.
#[no_mangle]
pub extern "C" fn nd_dtype(h: u32) -> i32 {
    run_light(-1, |e| Ok(e.dtype(h)?.code() as i32))
}

fn dtype_arg(code: u32) -> Result<DType> {
    DType::from_code(code).ok_or_else(|| Error::invalid(format!("unknown dtype code {code}")))
}

#[no_mangle]
pub extern "C" fn nd_alloc(ndim: i32, dtype: u32) -> u32 {
    op(|e| e.alloc(&shape_arg(ndim)?, dtype_arg(dtype)?))
}

#[no_mangle]
pub extern "C" fn nd_full(ndim: i32, v: f64, dtype: u32) -> u32 {
    op(|e| e.full(&shape_arg(ndim)?, v, dtype_arg(dtype)?))
}

#[no_mangle]
pub extern "C" fn nd_arange(start: f64, stop: f64, step: f64, dtype: u32) -> u32 {
    op(|e| e.arange(start, stop, step, dtype_arg(dtype)?))
}

#[no_mangle]
pub extern "C" fn nd_astype(h: u32, dtype: u32) -> u32 {
    op(|e| e.astype(h, dtype_arg(dtype)?))
}

#[no_mangle]
pub extern "C" fn nd_random_seed(lo: u32, hi: u32) {
    run((), |e| {
        e.random_seed(((hi as u64) << 32) | lo as u64);
        Ok(())
    })
}

#[no_mangle]
pub extern "C" fn nd_random_uniform(ndim: i32, low: f64, high: f64, dtype: u32) -> u32 {
    op(|e| e.random_uniform(low, high, &shape_arg(ndim)?, dtype_arg(dtype)?))
}

#[no_mangle]
pub extern "C" fn nd_random_normal(ndim: i32, loc: f64, scale: f64, dtype: u32) -> u32 {
    op(|e| e.random_normal(loc, scale, &shape_arg(ndim)?, dtype_arg(dtype)?))
}

// ---- operators ----

#[no_mangle]
pub extern "C" fn nd_binary(code: u32, a: u32, b: u32) -> u32 {
    op(|e| e.binary(bin_op(code)?, a, b))
}

#[no_mangle]
pub extern "C" fn nd_binary_scalar(code: u32, a: u32, s: f64, reverse: u32) -> u32 {
    op(|e| e.binary_scalar(bin_op(code)?, a, s, reverse != 0))
}

#[no_mangle]
pub extern "C" fn nd_unary(code: u32, a: u32) -> u32 {
    op(|e| {
        let u = UnOp::from_code(code)
            .ok_or_else(|| Error::invalid(format!("unknown unary op {code}")))?;
        e.unary(u, a)
    })
}

#[no_mangle]
pub extern "C" fn nd_reduce(code: u32, a: u32, naxes: i32, keepdims: u32) -> u32 {
    op(|e| {
        let r = RedOp::from_code(code)
            .ok_or_else(|| Error::invalid(format!("unknown reduction {code}")))?;
        let axes = axes_arg(naxes)?;
        e.reduce(r, a, axes.as_deref(), keepdims != 0)
    })
}

#[no_mangle]
pub extern "C" fn nd_reshape(a: u32, ndim: i32) -> u32 {
    op(|e| {
        let spec = axes_arg(ndim)?.unwrap_or_default();
        e.reshape(a, &spec)
    })
}

#[no_mangle]
pub extern "C" fn nd_transpose(a: u32, naxes: i32) -> u32 {
    op(|e| {
        let axes = axes_arg(naxes)?;
        e.transpose(a, axes.as_deref())
    })
}

#[no_mangle]
pub extern "C" fn nd_broadcast_to(a: u32, ndim: i32) -> u32 {
    op(|e| e.broadcast_to(a, &shape_arg(ndim)?))
}

/// `x[begin:end]` on axis 0; NaN stands for an omitted bound.
#[no_mangle]
pub extern "C" fn nd_slice(a: u32, begin: f64, end: f64) -> u32 {
    op(|e| {
        let b = if begin.is_nan() {
            None
        } else {
            Some(index_arg("slice: begin", begin)?)
        };
        let en = if end.is_nan() {
            None
        } else {
            Some(index_arg("slice: end", end)?)
        };
        e.slice(a, b, en)
    })
}

#[no_mangle]
pub extern "C" fn nd_at(a: u32, i: f64) -> u32 {
    op(|e| e.at(a, index_arg("at: index", i)?))
}

#[no_mangle]
pub extern "C" fn nd_copy(a: u32) -> u32 {
    op(|e| e.copy(a))
}

/// `dot(a, b)`; `flags` bit 0 transposes `a`, bit 1 transposes `b`.
#[no_mangle]
pub extern "C" fn nd_dot(a: u32, b: u32, flags: u32) -> u32 {
    op(|e| e.dot_t(a, b, flags & 1 != 0, flags & 2 != 0))
}

// ---- model ops (issue #3) ----

/// `None` for the sentinel `i32::MIN` (an omitted slice bound).
fn opt_index(v: i32) -> Option<i64> {
    (v != i32::MIN).then_some(v as i64)
}

fn ints(n: i32, what: &str) -> Result<Vec<i64>> {
    if n < 0 {
        return Err(Error::invalid(format!("invalid number of {what} ({n})")));
    }
    Ok(io_read(n as usize)?.into_iter().map(i64::from).collect())
}

#[no_mangle]
pub extern "C" fn nd_where(c: u32, a: u32, b: u32) -> u32 {
    op(|e| e.where_(c, a, b))
}

#[no_mangle]
pub extern "C" fn nd_clip(a: u32, lo: f64, hi: f64) -> u32 {
    op(|e| e.clip(a, lo, hi))
}

#[no_mangle]
pub extern "C" fn nd_leaky_relu(a: u32, slope: f64) -> u32 {
    op(|e| e.leaky_relu(a, slope))
}

/// `softmax` (log = 0) or `logSoftmax` (log = 1) along `axis`.
#[no_mangle]
pub extern "C" fn nd_softmax(a: u32, axis: i32, log: u32) -> u32 {
    op(|e| e.softmax(a, axis as i64, log != 0))
}

/// `take(a, indices, axis, mode)`: mode 0 clip, 1 wrap.
#[no_mangle]
pub extern "C" fn nd_take(a: u32, idx: u32, axis: i32, mode: u32) -> u32 {
    op(|e| e.take_along(a, idx, axis as i64, mode != 0))
}

#[no_mangle]
pub extern "C" fn nd_pick(a: u32, idx: u32, axis: i32, keepdims: u32, mode: u32) -> u32 {
    op(|e| e.pick(a, idx, axis as i64, keepdims != 0, mode != 0))
}

#[no_mangle]
pub extern "C" fn nd_one_hot(idx: u32, depth: i32, on: f64, off: f64, dtype: u32) -> u32 {
    op(|e| e.one_hot(idx, depth as i64, on, off, dtype_arg(dtype)?))
}

/// `argmax` (max = 1) or `argmin`; `axis` = i32::MIN for all axes.
#[no_mangle]
pub extern "C" fn nd_argext(a: u32, axis: i32, keepdims: u32, max: u32) -> u32 {
    op(|e| e.argext(a, opt_index(axis), keepdims != 0, max != 0))
}

/// `topk`: ret 0 value, 1 indices, 2 mask.
#[no_mangle]
pub extern "C" fn nd_topk(a: u32, axis: i32, k: i32, ret: u32, ascend: u32) -> u32 {
    op(|e| {
        let r = TopK::from_code(ret)
            .ok_or_else(|| Error::invalid(format!("topk: unknown ret_typ {ret}")))?;
        e.topk(a, axis as i64, k as i64, r, ascend != 0)
    })
}

/// `sort` (indices = 0) or `argsort` (indices = 1).
#[no_mangle]
pub extern "C" fn nd_sort(a: u32, axis: i32, ascend: u32, indices: u32) -> u32 {
    op(|e| e.sort(a, axis as i64, ascend != 0, indices != 0))
}

/// `tile` with the `n` reps in I/O.
#[no_mangle]
pub extern "C" fn nd_tile(a: u32, n: i32) -> u32 {
    op(|e| e.tile(a, &ints(n, "reps")?))
}

/// `repeat`; `axis` = i32::MIN repeats the flattened array.
#[no_mangle]
pub extern "C" fn nd_repeat(a: u32, repeats: i32, axis: i32) -> u32 {
    op(|e| e.repeat(a, repeats as i64, opt_index(axis)))
}

/// `flip` along the `n` axes in I/O.
#[no_mangle]
pub extern "C" fn nd_flip(a: u32, n: i32) -> u32 {
    op(|e| e.flip(a, &ints(n, "axes")?))
}

/// MXNet's `slice`: I/O holds begin[n], end[n], step[n]; i32::MIN = None.
#[no_mangle]
pub extern "C" fn nd_slice_multi(a: u32, n: i32) -> u32 {
    op(|e| {
        if n < 0 || n as usize * 3 > IO_LEN {
            return Err(Error::invalid(format!(
                "slice: invalid number of axes ({n})"
            )));
        }
        let v = io_read(n as usize * 3)?;
        let n = n as usize;
        let conv = |s: &[i32]| s.iter().map(|&x| opt_index(x)).collect::<Vec<_>>();
        e.slice_multi(a, &conv(&v[..n]), &conv(&v[n..2 * n]), &conv(&v[2 * n..]))
    })
}

/// MXNet's `slice_axis`; NaN bounds are None.
#[no_mangle]
pub extern "C" fn nd_slice_axis(a: u32, axis: i32, begin: f64, end: f64) -> u32 {
    op(|e| {
        let b = if begin.is_nan() {
            None
        } else {
            Some(index_arg("slice: begin", begin)?)
        };
        let en = if end.is_nan() {
            None
        } else {
            Some(index_arg("slice: end", end)?)
        };
        e.slice_axis(a, axis as i64, b, en)
    })
}

/// Arrays in I/O[0..n], joined along `axis`.
#[no_mangle]
pub extern "C" fn nd_concat(n: i32, axis: i32) -> u32 {
    op(|e| {
        if n <= 0 {
            return Err(Error::invalid("concat: no arrays given"));
        }
        let ids: Vec<u32> = io_read(n as usize)?.into_iter().map(|h| h as u32).collect();
        e.concat(&ids, i64::from(axis))
    })
}

#[no_mangle]
pub extern "C" fn nd_batch_dot(a: u32, b: u32) -> u32 {
    op(|e| e.batch_dot(a, b))
}

// ---- neural-network ops: nnmisc group (issue #12) ----

/// An optional array argument: 0 (never a handle) for none.
fn opt_handle(h: u32) -> Option<u32> {
    (h != 0).then_some(h)
}

/// `FullyConnected(data, weight, bias | 0, num_hidden, flags)`: flags bit 0
/// no_bias, bit 1 flatten.
#[no_mangle]
pub extern "C" fn nd_fully_connected(x: u32, w: u32, b: u32, num_hidden: i32, flags: u32) -> u32 {
    op(|e| {
        e.fully_connected(
            x,
            w,
            opt_handle(b),
            num_hidden as i64,
            flags & 1 != 0,
            flags & 2 != 0,
        )
    })
}

#[no_mangle]
pub extern "C" fn nd_embedding(data: u32, w: u32, input_dim: i32, output_dim: i32) -> u32 {
    op(|e| e.embedding(data, w, input_dim as i64, output_dim as i64))
}

/// `Activation`: act 0 relu, 1 sigmoid, 2 tanh, 3 softrelu, 4 softsign.
#[no_mangle]
pub extern "C" fn nd_activation(x: u32, act: u32) -> u32 {
    op(|e| {
        let a = Act::from_code(act)
            .ok_or_else(|| Error::invalid(format!("Activation: unknown actType code {act}")))?;
        e.activation(x, a)
    })
}

/// `LeakyReLU`: act 0 leaky, 1 elu, 2 selu, 3 gelu, 4 prelu; gamma 0 for
/// none.
#[no_mangle]
pub extern "C" fn nd_leaky_relu_act(x: u32, act: u32, slope: f64, gamma: u32) -> u32 {
    op(|e| {
        let a = LeakyAct::from_code(act)
            .ok_or_else(|| Error::invalid(format!("LeakyReLU: unknown actType code {act}")))?;
        e.leaky_relu_act(x, a, slope, opt_handle(gamma))
    })
}

#[no_mangle]
pub extern "C" fn nd_flatten(x: u32) -> u32 {
    op(|e| e.flatten(x))
}

#[no_mangle]
pub extern "C" fn nd_softmax_cross_entropy(data: u32, label: u32) -> u32 {
    op(|e| e.softmax_cross_entropy(data, label))
}

/// The output shape of `FullyConnected` (op 0), `Embedding` (op 1) or
/// `Flatten` (op 2) without running it (the worker's client), from the
/// shape rules the ops themselves check: the I/O area holds the operands'
/// shapes one after the other (`n0`, `n1`, `n2` dims; `n2` = -1: no bias),
/// `i0`/`i1` are numHidden (FullyConnected) or inputDim/outputDim
/// (Embedding), `flags` as for `nd_fully_connected`. The shape is written
/// back as `[ndim, d0, …]`.
#[no_mangle]
pub extern "C" fn nd_nnmisc_shape(
    op: u32,
    n0: i32,
    n1: i32,
    n2: i32,
    i0: i32,
    i1: i32,
    flags: u32,
) -> i32 {
    use ndgrad_core::ops::nnmisc;
    status(|_| {
        let count =
            |n: i32| usize::try_from(n).map_err(|_| Error::invalid(format!("invalid rank {n}")));
        let (a, b) = (count(n0)?, count(n1.max(0))?);
        let c = if n2 < 0 { 0 } else { count(n2)? };
        // Checked: on wasm32 three ranks near i32::MAX wrap a usize sum to a
        // small count, and the splits below would then run past `dims`.
        let total = a
            .checked_add(b)
            .and_then(|s| s.checked_add(c))
            .and_then(|t| i32::try_from(t).ok())
            .ok_or_else(|| Error::invalid("invalid ranks"))?;
        let dims = shape_arg(total)?;
        let (x, rest) = dims.split_at(a);
        let (w, bias) = rest.split_at(b);
        let s = match op {
            0 => {
                let bias = (n2 >= 0).then_some(bias);
                nnmisc::fully_connected_geometry(
                    x,
                    w,
                    bias,
                    i0 as i64,
                    flags & 1 != 0,
                    flags & 2 != 0,
                )?
                .out_shape
            }
            1 => nnmisc::embedding_shape(x, w, i0 as i64, i1 as i64)?,
            2 => nnmisc::flatten_shape(x)?,
            _ => return Err(Error::invalid(format!("nnmisc shape: unknown op {op}"))),
        };
        let mut out = Vec::with_capacity(s.len() + 1);
        out.push(s.len() as i32);
        for &d in &s {
            out.push(i32::try_from(d).map_err(|_| Error::invalid("shape too large"))?);
        }
        io_write(&out);
        Ok(())
    })
}

// ---- end of the nnmisc group ----

#[no_mangle]
pub extern "C" fn nd_detach(a: u32) -> u32 {
    op(|e| e.detach(a))
}

#[no_mangle]
pub extern "C" fn nd_set(dst: u32, src: u32) -> i32 {
    status(|e| e.set(dst, src))
}

#[no_mangle]
pub extern "C" fn nd_set_scalar(dst: u32, v: f64) -> i32 {
    status(|e| e.set_scalar(dst, v))
}

// ---- optimizers ----

/// Words per parameter in the I/O area for `nd_optim_step`: weight, grad,
/// three state handles (unused ones 0), then lr and wd as f64 bit patterns
/// (low word first).
const OPTIM_WORDS: usize = 9;

/// One fused optimizer step over `n` parameters described in the I/O area
/// (`OPTIM_WORDS` each); the scalars shared by all come as arguments (see
/// `ndgrad_core::optim::Hyper`). Every parameter is validated before any
/// is written. 0 ok, -1 error.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn nd_optim_step(
    rule: u32,
    n: i32,
    rescale_grad: f64,
    clip_gradient: f64,
    a: f64,
    b: f64,
    epsilon: f64,
    clip_weights: f64,
) -> i32 {
    status(|e| {
        let rule = ndgrad_core::optim::Rule::from_code(rule)
            .ok_or_else(|| Error::invalid(format!("Trainer: unknown update rule {rule}")))?;
        if n < 0
            || (n as usize)
                .checked_mul(OPTIM_WORDS)
                .is_none_or(|w| w > IO_LEN)
        {
            return Err(Error::invalid(format!(
                "{}: too many parameters in one step ({n}; at most {})",
                rule.name(),
                IO_LEN / OPTIM_WORDS
            )));
        }
        let words = io_read(n as usize * OPTIM_WORDS)?;
        let f64_at =
            |lo: i32, hi: i32| f64::from_bits((lo as u32 as u64) | ((hi as u32 as u64) << 32));
        let mut params = Vec::new();
        params
            .try_reserve_exact(n as usize)
            .map_err(|_| Error::oom(n as usize, DType::I32))?;
        for p in words.chunks_exact(OPTIM_WORDS) {
            let states = p[2..2 + rule.states()].iter().map(|&h| h as u32).collect();
            params.push((
                p[0] as u32,
                p[1] as u32,
                states,
                f64_at(p[5], p[6]),
                f64_at(p[7], p[8]),
            ));
        }
        let hyper = ndgrad_core::optim::Hyper {
            rescale_grad,
            clip_gradient,
            a,
            b,
            epsilon,
            clip_weights,
        };
        e.optim_step(rule, &hyper, &params)
    })
}

// ---- Convolution, Deconvolution (issue #12, conv branch) ----

/// The spatial lists of a convolution from the I/O area, after `skip`
/// values: kernel, stride, pad, dilate, adj, `rank` values each.
fn conv_params(
    skip: usize,
    rank: i32,
    num_filter: i32,
    num_group: i32,
) -> Result<ndgrad_core::ops::nn::conv::ConvParams> {
    if !(0..=3).contains(&rank) {
        return Err(Error::invalid(format!(
            "kernel must have 1 or 2 values, got {rank}"
        )));
    }
    let r = rank as usize;
    let v: Vec<i64> = io_read(skip + 5 * r)?[skip..]
        .iter()
        .map(|&d| i64::from(d))
        .collect();
    Ok(ndgrad_core::ops::nn::conv::ConvParams {
        kernel: v[..r].to_vec(),
        stride: v[r..2 * r].to_vec(),
        pad: v[2 * r..3 * r].to_vec(),
        dilate: v[3 * r..4 * r].to_vec(),
        adj: v[4 * r..].to_vec(),
        num_filter: num_filter.into(),
        num_group: num_group.into(),
    })
}

/// `Convolution` (deconv = 0) or `Deconvolution` (1); bias 0 = no bias. The
/// I/O area holds kernel, stride, pad, dilate and adj, `rank` values each.
#[no_mangle]
pub extern "C" fn nd_convolution(
    data: u32,
    weight: u32,
    bias: u32,
    rank: i32,
    num_filter: i32,
    num_group: i32,
    deconv: u32,
) -> u32 {
    op(|e| {
        let name = if deconv != 0 {
            "Deconvolution"
        } else {
            "Convolution"
        };
        let p = conv_params(0, rank, num_filter, num_group).map_err(|e| e.in_op(name))?;
        let b = (bias != 0).then_some(bias);
        e.convolution(data, weight, b, &p, deconv != 0)
    })
}

/// The output shape of `Convolution` / `Deconvolution` without running it
/// (the worker's client): the I/O area holds the data shape (`data_ndim`
/// values), the weight shape (`weight_ndim`), then the spatial lists as for
/// `nd_convolution`; the result is written back as `[ndim, d0, …]`.
#[no_mangle]
pub extern "C" fn nd_convolution_shape(
    data_ndim: i32,
    weight_ndim: i32,
    rank: i32,
    num_filter: i32,
    num_group: i32,
    deconv: u32,
) -> i32 {
    status(|_| {
        let name = if deconv != 0 {
            "Deconvolution"
        } else {
            "Convolution"
        };
        if !(0..=32).contains(&data_ndim) || !(0..=32).contains(&weight_ndim) {
            return Err(Error::invalid(format!(
                "{name}: invalid ranks {data_ndim} and {weight_ndim}"
            )));
        }
        let (dn, wn) = (data_ndim as usize, weight_ndim as usize);
        let dims = shape_arg(data_ndim + weight_ndim)?;
        let p = conv_params(dn + wn, rank, num_filter, num_group).map_err(|e| e.in_op(name))?;
        let s = ndgrad_core::ops::nn::conv::output_shape(deconv != 0, &dims[..dn], &dims[dn..], &p)
            .map_err(|e| e.in_op(name))?;
        let mut out = Vec::with_capacity(s.len() + 1);
        out.push(s.len() as i32);
        out.extend(s.iter().map(|&d| d as i32));
        io_write(&out);
        Ok(())
    })
}

// ---- end conv ----

// ---- autograd ----

#[no_mangle]
pub extern "C" fn nd_attach_grad(h: u32, req: u32) -> i32 {
    status(|e| {
        let r = GradReq::from_code(req)
            .ok_or_else(|| Error::invalid(format!("attachGrad: unknown grad_req {req}")))?;
        e.attach_grad(h, r)
    })
}

#[no_mangle]
pub extern "C" fn nd_mark_variable(h: u32, grad: u32, req: u32) -> i32 {
    status(|e| {
        let r = GradReq::from_code(req)
            .ok_or_else(|| Error::invalid(format!("markVariables: unknown grad_req {req}")))?;
        e.mark_variable(h, grad, r)
    })
}

/// A handle onto `h`'s gradient; 0 with `nd_error_code() == 0` when `h` has
/// no attached gradient.
#[no_mangle]
pub extern "C" fn nd_grad(h: u32) -> u32 {
    clear_error();
    let has_grad = run(false, |e| e.grad_handle_exists(h));
    if !has_grad {
        return 0;
    }
    op(|e| e.grad(h)?.ok_or_else(|| Error::internal("grad vanished")))
}

/// MXNet's `_fresh_grad` of `h`: 1 or 0, or -1 with the error set.
#[no_mangle]
pub extern "C" fn nd_fresh_grad(h: u32) -> i32 {
    clear_error();
    run_light(-1, |e| e.fresh_grad(h).map(i32::from))
}

/// Set `_fresh_grad` (allocates nothing: works when memory is full).
#[no_mangle]
pub extern "C" fn nd_set_fresh_grad(h: u32, state: u32) -> i32 {
    clear_error();
    run_light(-1, |e| e.set_fresh_grad(h, state != 0).map(|_| 0))
}

/// Heads and head gradients from the I/O area: `n` heads, then `n` head
/// gradients (0: ones), then `m` more handles.
type HeadArgs = (Vec<u32>, Vec<Option<u32>>, Vec<u32>);

fn heads_arg(op: &str, n: i32, m: usize) -> Result<HeadArgs> {
    // Counts come from JavaScript: compare in u64 so that no sum can wrap.
    if n <= 0 || 2 * n as u64 + m as u64 > IO_LEN as u64 {
        return Err(Error::invalid(format!(
            "{op}: invalid number of heads ({n}) or variables ({m})"
        )));
    }
    let n = n as usize;
    let ids = io_read(2 * n + m)?;
    let heads = ids[..n].iter().map(|&h| h as u32).collect();
    let grads = ids[n..2 * n]
        .iter()
        .map(|&h| if h == 0 { None } else { Some(h as u32) })
        .collect();
    let rest = ids[2 * n..].iter().map(|&h| h as u32).collect();
    Ok((heads, grads, rest))
}

/// Run a backward walk without holding the engine: custom functions call
/// back into JavaScript, which calls the engine again.
fn detached<T>(fail: T, f: impl FnOnce() -> Result<T>) -> T {
    let out = match f() {
        Ok(v) => v,
        Err(e) => {
            set_error(e);
            fail
        }
    };
    flush_releases();
    out
}

/// Heads in I/O[0..n], head gradients (0: ones) in I/O[n..2n].
#[no_mangle]
pub extern "C" fn nd_backward(n: i32, retain_graph: u32, train_mode: u32) -> i32 {
    let args = run(None, |e| {
        let (heads, grads, _) = heads_arg("backward", n, 0)?;
        Ok(Some((
            e.tensors("backward", &heads)?,
            e.optional_tensors("backward", &grads)?,
        )))
    });
    let Some((hs, gs)) = args else { return -1 };
    detached(-1, || {
        autograd::backward(&hs, &gs, retain_graph != 0, train_mode != 0)?;
        Ok(0)
    })
}

/// Heads in I/O[0..n], head gradients (0: ones) in I/O[n..2n], variables
/// in I/O[2n..2n+m]; on success the gradient handles replace I/O[0..m].
#[no_mangle]
pub extern "C" fn nd_grad_of(
    n: i32,
    m: i32,
    retain_graph: u32,
    create_graph: u32,
    train_mode: u32,
) -> i32 {
    let args = run(None, |e| {
        if m <= 0 {
            return Err(Error::invalid(format!(
                "grad: invalid number of variables ({m})"
            )));
        }
        let (heads, grads, vars) = heads_arg("grad", n, m as usize)?;
        Ok(Some((
            e.tensors("grad", &heads)?,
            e.optional_tensors("grad", &grads)?,
            e.tensors("grad", &vars)?,
        )))
    });
    let Some((hs, gs, vs)) = args else { return -1 };
    let grads = detached(None, || {
        autograd::grad(
            &hs,
            &gs,
            &vs,
            retain_graph != 0,
            create_graph != 0,
            train_mode != 0,
        )
        .map(Some)
    });
    let Some(grads) = grads else { return -1 };
    status(|e| {
        let mut out: Vec<i32> = Vec::with_capacity(grads.len());
        for g in grads {
            match e.adopt(g) {
                Ok(h) => out.push(h as i32),
                Err(err) => {
                    for &h in &out {
                        e.free(h as u32);
                    }
                    return Err(err);
                }
            }
        }
        io_write(&out);
        Ok(())
    })
}

// ---- custom functions (autograd.Function) ----

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "ndgrad")]
extern "C" {
    /// JavaScript runs `Function.backward` for output `output` of function
    /// `id`, whose gradient is the array `dy` (a handle JavaScript owns and
    /// frees); it writes one handle per input (0: no gradient) to the I/O
    /// area and returns their count, or -1 if `backward` threw.
    fn custom_backward(id: u32, output: u32, dy: u32) -> i32;
    /// The node of output `output` of function `id` is gone.
    fn custom_release(id: u32, output: u32);
}

// Native builds (cargo test of this crate) have no JavaScript host.
#[cfg(not(target_arch = "wasm32"))]
unsafe fn custom_backward(_id: u32, _output: u32, _dy: u32) -> i32 {
    -1
}
#[cfg(not(target_arch = "wasm32"))]
unsafe fn custom_release(_id: u32, _output: u32) {}

struct JsHooks;

impl CustomHooks for JsHooks {
    fn backward(
        &self,
        id: u32,
        output: usize,
        dy: &Tensor,
        n_inputs: usize,
    ) -> Result<Vec<Option<Tensor>>> {
        let h = run(0, |e| e.adopt(dy.clone()));
        if h == 0 {
            // Out of memory, most likely: pass the engine's own error on.
            return Err(last_error().in_op("Function.backward"));
        }
        // SAFETY: an import with no pointer arguments; the engine is not
        // borrowed here, so JavaScript may call back into any export.
        let n = unsafe { custom_backward(id, output as u32, h) };
        if n < 0 {
            return Err(Error::autograd(
                "Function.backward threw (the error is rethrown by backward)",
            ));
        }
        let n = n as usize;
        if n != n_inputs {
            return Err(Error::invalid(format!(
                "Function.backward returned {n} gradients for {n_inputs} inputs"
            )));
        }
        let ids = io_read(n)?;
        run(None, |e| {
            let mut out = Vec::with_capacity(n);
            for id in ids {
                out.push(if id == 0 {
                    None
                } else {
                    Some(e.take(id as u32)?)
                });
            }
            Ok(Some(out))
        })
        .ok_or_else(|| Error::internal("Function.backward: gradients vanished"))
    }

    fn release(&self, id: u32, output: usize) {
        // Nodes die inside engine calls (a free, the end of a backward);
        // JavaScript hears of it once that call is over (`flush_releases`).
        PENDING_RELEASES.with(|p| {
            if let Ok(mut p) = p.try_borrow_mut() {
                p.push((id, output as u32));
            }
        });
    }
}

thread_local! {
    static PENDING_RELEASES: RefCell<Vec<(u32, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Tell JavaScript which custom-function nodes died; it frees what it kept
/// for them, calling the engine again, which is not borrowed any more here.
fn flush_releases() {
    loop {
        let batch = PENDING_RELEASES.with(|p| {
            p.try_borrow_mut()
                .map(|mut p| std::mem::take(&mut *p))
                .unwrap_or_default()
        });
        if batch.is_empty() {
            return;
        }
        for (id, output) in batch {
            // SAFETY: an import with no pointer arguments.
            unsafe { custom_release(id, output) }
        }
    }
}

/// Install the JavaScript host for custom functions (called once at load).
#[no_mangle]
pub extern "C" fn nd_init() {
    custom::set_hooks(Some(Rc::new(JsHooks)));
    ERROR.with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            let _ = c.1.try_reserve(ERROR_ROOM);
        }
    });
    let _ = reserve::ensure();
}

/// Inputs in I/O[0..n_in], outputs in I/O[n_in..n_in+n_out]: record custom
/// function `id`. Returns 1 if recorded, 0 if not (not recording, or no
/// input needs a gradient), -1 on error.
#[no_mangle]
pub extern "C" fn nd_custom_record(id: u32, n_in: i32, n_out: i32) -> i32 {
    run(-1, |e| {
        if n_in < 0 || n_out <= 0 || n_in as u64 + n_out as u64 > IO_LEN as u64 {
            return Err(Error::invalid(format!(
                "Function: invalid counts ({n_in} inputs, {n_out} outputs)"
            )));
        }
        let ids: Vec<u32> = io_read((n_in + n_out) as usize)?
            .into_iter()
            .map(|h| h as u32)
            .collect();
        let (ins, outs) = ids.split_at(n_in as usize);
        Ok(e.custom_record(id, ins, outs)? as i32)
    })
}

/// A second handle onto the same array (graph place included).
#[no_mangle]
pub extern "C" fn nd_alias(h: u32) -> u32 {
    op(|e| e.alias(h))
}

#[no_mangle]
pub extern "C" fn nd_set_recording(on: u32) -> u32 {
    autograd::set_recording(on != 0) as u32
}

#[no_mangle]
pub extern "C" fn nd_set_training(on: u32) -> u32 {
    autograd::set_training(on != 0) as u32
}

#[no_mangle]
pub extern "C" fn nd_is_recording() -> u32 {
    autograd::is_recording() as u32
}

#[no_mangle]
pub extern "C" fn nd_is_training() -> u32 {
    autograd::is_training() as u32
}

// ---- threads (see ndgrad_core::threads; ts/src/threads.ts drives them) ----
//
// The threads build (`pkg/ndgrad-threads.wasm`: shared memory + atomics)
// runs helper threads, each a Worker with its own instance of this module
// on the same memory. JavaScript starts helper `id` like this: on the
// engine's instance, `nd_threads_prepare(id, __tls_size, __tls_align)`
// returns the top of the helper's stack; in the worker, instantiate the
// module with the same memory, set its `__stack_pointer` to that top, and
// call `nd_threads_helper(id)`, which sets up the thread-locals and never
// returns. `nd_threads_set(n)` lets jobs use helpers 0..n. In the
// single-threaded build these exports exist too and do nothing.
//
// Every export here is safe to call with any arguments (the fuzzer does):
// blocks are allocated once per id, never freed, and `nd_threads_helper`
// returns at once unless it runs on the stack of its own block.

/// Each helper's stack: kernels keep little on the shadow stack (their
/// vectors live in WebAssembly locals), and a stack overflow would corrupt
/// memory rather than trap: generous.
#[cfg(target_feature = "atomics")]
const HELPER_STACK: usize = 256 << 10;
/// Room for a helper's thread-locals (the module needs a few hundred bytes).
#[cfg(target_feature = "atomics")]
const HELPER_TLS: usize = 4 << 10;
#[cfg(target_feature = "atomics")]
const HELPER_ALIGN: usize = 64;

/// Base address of helper `id`'s block (stack, then TLS); 0: none yet.
#[cfg(target_feature = "atomics")]
static HELPER_BLOCKS: [std::sync::atomic::AtomicUsize; ndgrad_core::threads::MAX_HELPERS as usize] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; ndgrad_core::threads::MAX_HELPERS as usize];

#[cfg(target_feature = "atomics")]
extern "C" {
    /// Copies the module's initial thread-locals to `tls` and makes it this
    /// instance's TLS block (synthesised by the linker, wasm-ld).
    fn __wasm_init_tls(tls: *mut u8);
}

/// 1 in the threads build, 0 in the single-threaded one.
#[no_mangle]
pub extern "C" fn nd_threads_supported() -> u32 {
    cfg!(target_feature = "atomics") as u32
}

/// Let kernels use `helpers` helper threads (0: one thread).
#[no_mangle]
pub extern "C" fn nd_threads_set(helpers: u32) {
    if cfg!(target_feature = "atomics") {
        ndgrad_core::threads::set_helpers(helpers);
    }
}

/// Whether the engine's thread may block while helpers finish a job (1:
/// Node, workers) or must spin (0: a browser's main thread, the default).
#[no_mangle]
pub extern "C" fn nd_threads_leader_blocks(blocks: u32) {
    ndgrad_core::threads::set_leader_blocks(blocks != 0);
}

/// Helpers that have entered `nd_threads_helper`.
#[no_mangle]
pub extern "C" fn nd_threads_joined() -> u32 {
    ndgrad_core::threads::joined()
}

/// Tasks helpers have run so far (wraps around; for tests and diagnostics).
#[no_mangle]
pub extern "C" fn nd_threads_helper_tasks() -> u32 {
    ndgrad_core::threads::helper_tasks()
}

/// Allocate (once) helper `id`'s stack and TLS block, for thread-locals of
/// `tls_size` bytes aligned to `tls_align`; returns the top of its stack,
/// or 0 (single-threaded build, bad id, TLS too large, out of memory).
#[no_mangle]
pub extern "C" fn nd_threads_prepare(id: u32, tls_size: u32, tls_align: u32) -> usize {
    #[cfg(target_feature = "atomics")]
    {
        use std::sync::atomic::Ordering::SeqCst;
        let Some(slot) = HELPER_BLOCKS.get(id as usize) else {
            return 0;
        };
        if tls_size as usize > HELPER_TLS
            || !tls_align.is_power_of_two()
            || tls_align as usize > HELPER_ALIGN
        {
            return 0;
        }
        if slot.load(SeqCst) == 0 {
            let Ok(layout) =
                std::alloc::Layout::from_size_align(HELPER_STACK + HELPER_TLS, HELPER_ALIGN)
            else {
                return 0;
            };
            // SAFETY: a layout of non-zero size; the block is never freed
            // (a helper lives as long as the engine).
            let block = unsafe { std::alloc::alloc(layout) } as usize;
            if block == 0 || slot.compare_exchange(0, block, SeqCst, SeqCst).is_err() {
                // Out of memory, or (engine thread only, so never) a race.
                return 0;
            }
        }
        slot.load(SeqCst) + HELPER_STACK
    }
    #[cfg(not(target_feature = "atomics"))]
    {
        let _ = (id, tls_size, tls_align);
        0
    }
}

/// The loop of helper `id`, called on its own instance once JavaScript set
/// the instance's stack pointer to `nd_threads_prepare(id, …)`: sets up
/// this thread's thread-locals, then waits for kernel jobs and helps with
/// them; never returns. Returns at once anywhere else (not on that stack,
/// or the single-threaded build).
#[no_mangle]
pub extern "C" fn nd_threads_helper(id: u32) {
    #[cfg(target_feature = "atomics")]
    {
        let Some(slot) = HELPER_BLOCKS.get(id as usize) else {
            return;
        };
        let block = slot.load(std::sync::atomic::Ordering::SeqCst);
        let here = std::hint::black_box(0u8);
        let sp = std::hint::black_box(&here) as *const u8 as usize;
        if block == 0 || !(block..block + HELPER_STACK).contains(&sp) {
            return;
        }
        // SAFETY: we run on helper `id`'s own stack, so this is its own
        // instance (the engine's instance has its stack elsewhere), whose
        // TLS block is the one reserved after that stack for it alone.
        unsafe { __wasm_init_tls((block + HELPER_STACK) as *mut u8) };
        ndgrad_core::threads::helper_loop(id);
    }
    #[cfg(not(target_feature = "atomics"))]
    let _ = id;
}

// ---- Pooling, BatchNorm, LayerNorm (pool branch) ----

/// Pooling parameters from the I/O area: `nk` kernel, then `ns` stride,
/// then `np` pad values (a count of 0: not given). `flags`: bit 0
/// globalPool, bit 1 the "full" convention, bit 2 countIncludePad.
fn pool_params(pool_type: u32, nk: i32, ns: i32, np: i32, flags: u32) -> Result<PoolParams> {
    let count = |n: i32| usize::try_from(n).map_err(|_| Error::invalid("Pooling: bad count"));
    let (nk, ns, np) = (count(nk)?, count(ns)?, count(np)?);
    let v: Vec<i64> = io_read(nk + ns + np)?.into_iter().map(i64::from).collect();
    Ok(PoolParams {
        pool_type: PoolType::from_code(pool_type)?,
        kernel: v[..nk].to_vec(),
        stride: v[nk..nk + ns].to_vec(),
        pad: v[nk + ns..].to_vec(),
        global_pool: flags & 1 != 0,
        full: flags & 2 != 0,
        count_include_pad: flags & 4 != 0,
    })
}

#[no_mangle]
pub extern "C" fn nd_pooling(a: u32, pool_type: u32, nk: i32, ns: i32, np: i32, flags: u32) -> u32 {
    op(|e| {
        let p = pool_params(pool_type, nk, ns, np, flags)?;
        e.pooling(a, &p)
    })
}

/// `Pooling`'s output shape without an array: the I/O area holds the data
/// shape (`ndim` values) followed by the parameters as in `nd_pooling`;
/// the output shape is written back there. Returns its rank, or -1.
#[no_mangle]
pub extern "C" fn nd_pooling_shape(
    ndim: i32,
    pool_type: u32,
    nk: i32,
    ns: i32,
    np: i32,
    flags: u32,
) -> i32 {
    run(-1, |_| {
        let shape = shape_arg(ndim)?;
        let count = |n: i32| usize::try_from(n).map_err(|_| Error::invalid("Pooling: bad count"));
        // Checked: on wasm32 counts near i32::MAX would wrap the sum to one
        // smaller than the shape, and the slice below would run past it.
        let total = [count(nk)?, count(ns)?, count(np)?]
            .into_iter()
            .try_fold(shape.len(), usize::checked_add)
            .ok_or_else(|| Error::invalid("Pooling: bad count"))?;
        let all = io_read(total)?;
        // Move the parameters to the front, where `pool_params` reads them.
        io_write(&all[shape.len()..]);
        let p = pool_params(pool_type, nk, ns, np, flags)?;
        let out = Engine::pooling_shape(&shape, &p)?;
        let dims: Vec<i32> = out
            .iter()
            .map(|&d| i32::try_from(d).map_err(|_| Error::invalid("Pooling: result too large")))
            .collect::<Result<_>>()?;
        io_write(&dims);
        Ok(dims.len() as i32)
    })
}

/// `flags`: bit 0 fixGamma, bit 1 useGlobalStats.
#[no_mangle]
pub extern "C" fn nd_batch_norm(
    x: u32,
    gamma: u32,
    beta: u32,
    moving_mean: u32,
    moving_var: u32,
    eps: f64,
    momentum: f64,
    flags: u32,
    axis: i32,
) -> u32 {
    op(|e| {
        let o = BatchNormOpts {
            eps,
            momentum,
            fix_gamma: flags & 1 != 0,
            use_global_stats: flags & 2 != 0,
            axis: axis as i64,
        };
        e.batch_norm([x, gamma, beta, moving_mean, moving_var], &o)
    })
}

#[no_mangle]
pub extern "C" fn nd_layer_norm(x: u32, gamma: u32, beta: u32, axis: i32, eps: f64) -> u32 {
    op(|e| e.layer_norm([x, gamma, beta], axis as i64, eps))
}
