//! Tensor storage: reference-counted buffers (float32, float64, int32 or uint8
//! values, see `dtype`) and the `Tensor` value.
//!
//! Every tensor is contiguous and row-major. Buffers are shared (`Rc`) by
//! arrays that alias (reshape, detach, a variable and its `.grad` handle) and
//! by the autograd graph, which keeps what backward needs alive even after
//! JavaScript disposed the array.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::rc::Rc;

use crate::autograd::AgRef;
use crate::dtype::{DType, Data, Elem};
use crate::error::{Error, Result};
use crate::shape;

thread_local! {
    static LIVE_BYTES: Cell<usize> = const { Cell::new(0) };
    static LIVE_BUFFERS: Cell<usize> = const { Cell::new(0) };
}

/// Bytes held by live tensor buffers (including those only the tape holds).
pub fn live_bytes() -> usize {
    LIVE_BYTES.with(|c| c.get())
}

/// Number of live tensor buffers.
pub fn live_buffers() -> usize {
    LIVE_BUFFERS.with(|c| c.get())
}

/// Allocate `n` zeroed floats, reporting failure instead of aborting: memory
/// that cannot grow must be an `Error`, never a trap.
pub fn alloc_zeroed<T: Elem>(n: usize) -> Result<Vec<T>> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::oom(n, T::DTYPE))?;
    v.resize(n, T::ZERO);
    Ok(v)
}

/// An empty vector with room for `n` floats, fallibly: the output of a
/// kernel that appends every element (no zero-fill pass before it).
pub fn alloc_empty<T: Elem>(n: usize) -> Result<Vec<T>> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| Error::oom(n, T::DTYPE))?;
    Ok(v)
}

/// Copy a slice into a freshly allocated vector, fallibly.
pub fn alloc_copy<T: Elem>(src: &[T]) -> Result<Vec<T>> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(src.len())
        .map_err(|_| Error::oom(src.len(), T::DTYPE))?;
    v.extend_from_slice(src);
    Ok(v)
}

/// An empty vector with room for `n` values of any type, allocated
/// fallibly: index lists, scratch and other temporaries whose size grows
/// with the data (see "How an op allocates" in the crate doc).
pub fn try_vec<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::oom_bytes((n as u64).saturating_mul(core::mem::size_of::<T>() as u64))
    })?;
    Ok(v)
}

/// `n` copies of `x`, allocated fallibly (`vec![x; n]` aborts instead).
pub fn try_filled<T: Clone>(n: usize, x: T) -> Result<Vec<T>> {
    let mut v = try_vec(n)?;
    v.resize(n, x);
    Ok(v)
}

/// Collect an iterator of known length into a fallibly allocated vector.
pub fn try_collect<T>(it: impl ExactSizeIterator<Item = T>) -> Result<Vec<T>> {
    let mut v = try_vec(it.len())?;
    v.extend(it);
    Ok(v)
}

/// Make room for `additional` more elements of a growing container (the
/// arena, the tape walk), fallibly; amortised like `push`.
pub fn try_grow<T>(v: &mut Vec<T>, additional: usize) -> Result<()> {
    v.try_reserve(additional).map_err(|_| {
        let bytes = (v.len() as u64)
            .saturating_add(additional as u64)
            .saturating_mul(core::mem::size_of::<T>() as u64);
        Error::oom_bytes(bytes)
    })
}

pub struct Buffer {
    data: RefCell<Data>,
    /// How many tape nodes saved this buffer for backward; an in-place write
    /// while this is non-zero would corrupt a gradient, so it is refused.
    tape_refs: Cell<usize>,
}

impl Buffer {
    pub fn new(data: Data) -> Rc<Buffer> {
        let bytes = data.bytes();
        LIVE_BYTES.with(|c| c.set(c.get() + bytes));
        LIVE_BUFFERS.with(|c| c.set(c.get() + 1));
        Rc::new(Buffer {
            data: RefCell::new(data),
            tape_refs: Cell::new(0),
        })
    }

    /// Read access. Buffers are only borrowed mutably inside one in-place
    /// write that never calls out, so this cannot fail in practice; it still
    /// reports instead of panicking.
    pub fn read(&self) -> Result<Ref<'_, Data>> {
        self.data
            .try_borrow()
            .map_err(|_| Error::internal("buffer is being written"))
    }

    pub fn write(&self) -> Result<RefMut<'_, Data>> {
        self.data
            .try_borrow_mut()
            .map_err(|_| Error::internal("buffer is in use"))
    }

    pub fn tape_refs(&self) -> usize {
        self.tape_refs.get()
    }
    pub(crate) fn add_tape_ref(&self) {
        self.tape_refs.set(self.tape_refs.get() + 1);
    }
    pub(crate) fn drop_tape_ref(&self) {
        self.tape_refs.set(self.tape_refs.get().saturating_sub(1));
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let bytes = self.data.get_mut().bytes();
        LIVE_BYTES.with(|c| c.set(c.get().saturating_sub(bytes)));
        LIVE_BUFFERS.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// A tensor value: shape, shared buffer, and its place in the autograd graph.
/// Cloning is cheap (reference counts).
#[derive(Clone)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub buf: Rc<Buffer>,
    pub ag: Option<AgRef>,
}

impl Tensor {
    /// A tensor owning `data`, which must have `size(shape)` elements.
    pub fn from_vec(shape: Vec<usize>, data: impl Into<Data>) -> Result<Tensor> {
        let data = data.into();
        let n = shape::checked_size(&shape)?;
        if data.len() != n {
            return Err(Error::invalid(format!(
                "data has {} elements but shape {} needs {n}",
                data.len(),
                shape::fmt_shape(&shape)
            )));
        }
        Ok(Tensor {
            shape,
            buf: Buffer::new(data),
            ag: None,
        })
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Result<Tensor> {
        Tensor::full(shape, 0.0, dtype)
    }

    /// `shape` filled with `DType(v)`.
    pub fn full(shape: &[usize], v: f64, dtype: DType) -> Result<Tensor> {
        fn fill<T: Elem>(n: usize, v: f64) -> Result<Data> {
            let mut data = alloc_zeroed::<T>(n)?;
            data.fill(T::from_f64(v));
            Ok(T::wrap(data))
        }
        let n = shape::checked_size(shape)?;
        let data = crate::with_elem!(dtype, T => fill::<T>(n, v)?);
        Tensor::from_vec(shape.to_vec(), data)
    }

    /// A float32 `[1]` holding `v`.
    pub fn scalar(v: f32) -> Result<Tensor> {
        Tensor::from_vec(vec![1], vec![v])
    }

    pub fn dtype(&self) -> DType {
        self.buf.read().map(|d| d.dtype()).unwrap_or(DType::F32)
    }

    pub fn size(&self) -> usize {
        shape::size(&self.shape)
    }
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The values, read-only.
    pub fn data(&self) -> Result<Ref<'_, Data>> {
        self.buf.read()
    }

    /// The values as float32 (tests and small reads).
    pub fn to_vec(&self) -> Vec<f32> {
        self.to_f64_vec().into_iter().map(|v| v as f32).collect()
    }

    /// The values as float64, exactly, allocated fallibly (index ops).
    pub fn try_f64_vec(&self) -> Result<Vec<f64>> {
        let d = self.buf.read()?;
        let n = d.len();
        let mut v = Vec::new();
        v.try_reserve_exact(n)
            .map_err(|_| Error::oom(n, DType::F64))?;
        crate::each_dtype!(&*d, x => v.extend(x.iter().map(|e| e.to_f64())));
        Ok(v)
    }

    /// The values as float64, exactly (tests and small reads).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        self.buf.read().map(|d| d.to_f64_vec()).unwrap_or_default()
    }

    /// The same values and shape, cut from the graph (MXNet's `detach`).
    pub fn detached(&self) -> Tensor {
        Tensor {
            shape: self.shape.clone(),
            buf: self.buf.clone(),
            ag: None,
        }
    }

    /// The same buffer viewed with another shape of equal size.
    pub fn with_shape(&self, shape: Vec<usize>) -> Tensor {
        Tensor {
            shape,
            buf: self.buf.clone(),
            ag: None,
        }
    }

    pub fn shape_str(&self) -> String {
        shape::fmt_shape(&self.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// Impossible sizes are an OutOfMemory error, not an abort.
    #[test]
    fn fallible_helpers_report_out_of_memory() {
        let e = try_vec::<u64>(usize::MAX / 4).unwrap_err();
        assert_eq!(e.kind, ErrorKind::OutOfMemory);
        assert!(
            e.message.starts_with("out of memory: could not allocate"),
            "{}",
            e.message
        );
        assert_eq!(
            try_filled(usize::MAX / 2, 0u32).unwrap_err().kind,
            ErrorKind::OutOfMemory
        );
        assert_eq!(
            alloc_zeroed::<f64>(usize::MAX / 4).unwrap_err().kind,
            ErrorKind::OutOfMemory
        );
        let mut v = vec![1u8];
        assert_eq!(
            try_grow(&mut v, usize::MAX).unwrap_err().kind,
            ErrorKind::OutOfMemory
        );
        assert_eq!(v, [1], "a failed grow leaves the vector as it was");
        assert_eq!(try_collect(0..5u8).unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(try_filled(3, 7i32).unwrap(), [7, 7, 7]);
    }
}
