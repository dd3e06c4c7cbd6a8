//! Element types: `float32` (the default), `float64`, `int32` and `uint8`.
//!
//! A buffer holds a `Data`, one `Vec` of one element type. Kernels are
//! generic over `Elem`; float32 overrides the generic loops with the SIMD
//! paths, float64 uses the same scalar formulas in double precision, and
//! int32 has integer arithmetic (wrapping, truncating division) and no
//! transcendental functions; uint8 (images, MXNet files) wraps modulo 256
//! as NumPy's uint8 does. Ops dispatch on the buffer's variant with
//! `each_dtype!`, so one generic body serves every type.

use core::fmt::Debug;

use crate::kernels::{self, BinOp, RedOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    I32,
    U8,
}

impl DType {
    pub const ALL: [DType; 4] = [DType::F32, DType::F64, DType::I32, DType::U8];

    pub fn from_code(code: u32) -> Option<DType> {
        DType::ALL.get(code as usize).copied()
    }

    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
        }
    }

    pub fn size(self) -> usize {
        match self {
            DType::F64 => 8,
            DType::U8 => 1,
            _ => 4,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

/// The values of one buffer.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
}

impl From<Vec<f32>> for Data {
    fn from(v: Vec<f32>) -> Data {
        Data::F32(v)
    }
}
impl From<Vec<f64>> for Data {
    fn from(v: Vec<f64>) -> Data {
        Data::F64(v)
    }
}
impl From<Vec<i32>> for Data {
    fn from(v: Vec<i32>) -> Data {
        Data::I32(v)
    }
}
impl From<Vec<u8>> for Data {
    fn from(v: Vec<u8>) -> Data {
        Data::U8(v)
    }
}

/// Run `$body` with `$v` bound to the `Vec` inside a `Data` (or `&Data`,
/// `&mut Data`), whatever its element type; the body is compiled once per
/// type, so it calls generic (`Elem`) code.
#[macro_export]
macro_rules! each_dtype {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::dtype::Data::F32($v) => $body,
            $crate::dtype::Data::F64($v) => $body,
            $crate::dtype::Data::I32($v) => $body,
            $crate::dtype::Data::U8($v) => $body,
        }
    };
}

/// Run `$body` with the type `$t` standing for the element type of a
/// `DType` (generic code chosen at run time).
#[macro_export]
macro_rules! with_elem {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::dtype::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::dtype::DType::F64 => {
                type $t = f64;
                $body
            }
            $crate::dtype::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::dtype::DType::U8 => {
                type $t = u8;
                $body
            }
        }
    };
}

impl Data {
    pub fn dtype(&self) -> DType {
        match self {
            Data::F32(_) => DType::F32,
            Data::F64(_) => DType::F64,
            Data::I32(_) => DType::I32,
            Data::U8(_) => DType::U8,
        }
    }

    pub fn len(&self) -> usize {
        each_dtype!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Allocated bytes.
    pub fn bytes(&self) -> usize {
        each_dtype!(self, v => v.capacity() * core::mem::size_of_val(&v.first().copied().unwrap_or_default()))
    }

    /// The values as float64 (tests, small reads).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        each_dtype!(self, v => v.iter().map(|x| x.to_f64()).collect())
    }

    /// A copy, allocated fallibly.
    pub fn try_clone(&self) -> crate::error::Result<Data> {
        Ok(each_dtype!(self, v => wrap(crate::storage::alloc_copy(v)?)))
    }

    /// Raw pointer to the first element (for the FFI's bulk copies).
    pub fn as_ptr(&self) -> *const u8 {
        each_dtype!(self, v => v.as_ptr().cast::<u8>())
    }
}

/// An element type: its dtype, conversions, and the kernels ops need.
/// The default methods are the plain loops; float32 overrides them with
/// the SIMD kernels.
pub trait Elem: Copy + Default + PartialEq + PartialOrd + Debug + Send + Sync + 'static {
    const DTYPE: DType;
    const ZERO: Self;
    const ONE: Self;

    /// MXNet's `DType(v)`: round to nearest for floats; for int32 truncate
    /// toward zero, saturating, NaN to 0 (wasm's `trunc_sat`).
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    /// The largest value below `self`.
    fn next_down(self) -> Self;
    fn wrap(v: Vec<Self>) -> Data;
    fn view(d: &Data) -> Option<&Vec<Self>>;
    fn view_mut(d: &mut Data) -> Option<&mut Vec<Self>>;

    /// One element of `a op b`.
    fn bin(op: BinOp, a: Self, b: Self) -> Self;

    fn bin_same(op: BinOp, a: &[Self], b: &[Self], out: &mut Vec<Self>) {
        out.extend(a.iter().zip(b).map(|(&x, &y)| Self::bin(op, x, y)));
    }

    fn bin_scalar(op: BinOp, a: &[Self], s: Self, reverse: bool, out: &mut Vec<Self>) {
        if reverse {
            out.extend(a.iter().map(|&x| Self::bin(op, s, x)));
        } else {
            out.extend(a.iter().map(|&x| Self::bin(op, x, s)));
        }
    }

    /// The reduction of one contiguous run.
    fn reduce(op: RedOp, x: &[Self]) -> Self;

    /// Append the transpose (c×r) of the row-major r×c matrix `x`.
    fn transpose2d(x: &[Self], r: usize, c: usize, out: &mut Vec<Self>) {
        out.reserve(r * c);
        for j in 0..c {
            out.extend((0..r).map(|i| x[i * c + j]));
        }
    }

    /// Append `a (m×k) · b (k×n)`.
    fn gemm(m: usize, n: usize, k: usize, a: &[Self], b: &[Self], out: &mut Vec<Self>);

    /// Append `count` products of consecutive `m×k` and `k×n` blocks.
    fn gemm_batched(
        count: usize,
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        b: &[Self],
        out: &mut Vec<Self>,
    ) {
        if m * n == 0 {
            return;
        }
        for i in 0..count {
            Self::gemm(
                m,
                n,
                k,
                &a[i * m * k..(i + 1) * m * k],
                &b[i * k * n..(i + 1) * k * n],
                out,
            );
        }
    }
}

impl Elem for f32 {
    const DTYPE: DType = DType::F32;
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn next_down(self) -> f32 {
        f32::next_down(self)
    }
    fn wrap(v: Vec<f32>) -> Data {
        Data::F32(v)
    }
    fn view(d: &Data) -> Option<&Vec<f32>> {
        match d {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }
    fn view_mut(d: &mut Data) -> Option<&mut Vec<f32>> {
        match d {
            Data::F32(v) => Some(v),
            _ => None,
        }
    }
    #[inline(always)]
    fn bin(op: BinOp, a: f32, b: f32) -> f32 {
        op.apply(a, b)
    }
    fn bin_same(op: BinOp, a: &[f32], b: &[f32], out: &mut Vec<f32>) {
        kernels::vector::binary_same(op, a, b, out)
    }
    fn bin_scalar(op: BinOp, a: &[f32], s: f32, reverse: bool, out: &mut Vec<f32>) {
        kernels::vector::binary_scalar(op, a, s, reverse, out)
    }
    fn reduce(op: RedOp, x: &[f32]) -> f32 {
        kernels::reduce(op, x)
    }
    fn transpose2d(x: &[f32], r: usize, c: usize, out: &mut Vec<f32>) {
        kernels::transpose2d_f32(x, r, c, out)
    }
    fn gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], out: &mut Vec<f32>) {
        kernels::gemm(m, n, k, a, b, out)
    }
    fn gemm_batched(
        count: usize,
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        b: &[f32],
        out: &mut Vec<f32>,
    ) {
        kernels::gemm::gemm_batched(count, m, n, k, a, b, out)
    }
}

impl Elem for f64 {
    const DTYPE: DType = DType::F64;
    const ZERO: f64 = 0.0;
    const ONE: f64 = 1.0;
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn next_down(self) -> f64 {
        f64::next_down(self)
    }
    fn wrap(v: Vec<f64>) -> Data {
        Data::F64(v)
    }
    fn view(d: &Data) -> Option<&Vec<f64>> {
        match d {
            Data::F64(v) => Some(v),
            _ => None,
        }
    }
    fn view_mut(d: &mut Data) -> Option<&mut Vec<f64>> {
        match d {
            Data::F64(v) => Some(v),
            _ => None,
        }
    }
    #[inline(always)]
    fn bin(op: BinOp, a: f64, b: f64) -> f64 {
        op.apply(a, b)
    }
    fn reduce(op: RedOp, x: &[f64]) -> f64 {
        kernels::reduce_f64(op, x)
    }
    fn gemm(m: usize, n: usize, k: usize, a: &[f64], b: &[f64], out: &mut Vec<f64>) {
        kernels::gemm_generic(m, n, k, a, b, out, |acc, x, y| acc + x * y)
    }
}

impl Elem for i32 {
    const DTYPE: DType = DType::I32;
    const ZERO: i32 = 0;
    const ONE: i32 = 1;
    fn from_f64(v: f64) -> i32 {
        v as i32 // Rust's float->int cast truncates and saturates, NaN -> 0
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn next_down(self) -> i32 {
        self.saturating_sub(1)
    }
    fn wrap(v: Vec<i32>) -> Data {
        Data::I32(v)
    }
    fn view(d: &Data) -> Option<&Vec<i32>> {
        match d {
            Data::I32(v) => Some(v),
            _ => None,
        }
    }
    fn view_mut(d: &mut Data) -> Option<&mut Vec<i32>> {
        match d {
            Data::I32(v) => Some(v),
            _ => None,
        }
    }
    #[inline(always)]
    fn bin(op: BinOp, a: i32, b: i32) -> i32 {
        match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            // Callers reject zero divisors first; MIN / -1 wraps.
            BinOp::Div => {
                if b == 0 {
                    0
                } else {
                    a.wrapping_div(b)
                }
            }
            BinOp::Pow => (a as f64).powf(b as f64) as i32,
            BinOp::Maximum => a.max(b),
            BinOp::Minimum => a.min(b),
            BinOp::Equal => (a == b) as i32,
            BinOp::NotEqual => (a != b) as i32,
            BinOp::Greater => (a > b) as i32,
            BinOp::GreaterEqual => (a >= b) as i32,
            BinOp::Lesser => (a < b) as i32,
            BinOp::LesserEqual => (a <= b) as i32,
        }
    }
    fn reduce(op: RedOp, x: &[i32]) -> i32 {
        match op {
            RedOp::Sum => x.iter().fold(0i32, |s, &v| s.wrapping_add(v)),
            RedOp::Mean => {
                let s: i64 = x.iter().map(|&v| v as i64).sum();
                (s as f64 / x.len() as f64) as i32
            }
            RedOp::Max => x.iter().copied().max().unwrap_or(i32::MIN),
            RedOp::Min => x.iter().copied().min().unwrap_or(i32::MAX),
            RedOp::Prod => x.iter().fold(1i32, |p, &v| p.wrapping_mul(v)),
            // Callers reject norms of int32 arrays.
            RedOp::Norm | RedOp::Norm1 => 0,
        }
    }
    fn gemm(m: usize, n: usize, k: usize, a: &[i32], b: &[i32], out: &mut Vec<i32>) {
        kernels::gemm_generic(m, n, k, a, b, out, |acc, x, y| {
            acc.wrapping_add(x.wrapping_mul(y))
        })
    }
}

impl Elem for u8 {
    const DTYPE: DType = DType::U8;
    const ZERO: u8 = 0;
    const ONE: u8 = 1;
    /// Truncate toward zero, then wrap modulo 256: what NumPy's
    /// `astype(np.uint8)` gives (`300.0 -> 44`, `-1.0 -> 255`; it goes
    /// through int64 on x86). NaN gives 0.
    fn from_f64(v: f64) -> u8 {
        (v as i64) as u8
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn next_down(self) -> u8 {
        self.saturating_sub(1)
    }
    fn wrap(v: Vec<u8>) -> Data {
        Data::U8(v)
    }
    fn view(d: &Data) -> Option<&Vec<u8>> {
        match d {
            Data::U8(v) => Some(v),
            _ => None,
        }
    }
    fn view_mut(d: &mut Data) -> Option<&mut Vec<u8>> {
        match d {
            Data::U8(v) => Some(v),
            _ => None,
        }
    }
    /// NumPy's uint8 arithmetic: modulo 256 (`200 + 200 == 144`,
    /// `3 - 4 == 255`, `2 ** 9 == 0`).
    #[inline(always)]
    fn bin(op: BinOp, a: u8, b: u8) -> u8 {
        match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            // Callers reject zero divisors first.
            BinOp::Div => a.checked_div(b).unwrap_or(0),
            BinOp::Pow => a.wrapping_pow(b as u32),
            BinOp::Maximum => a.max(b),
            BinOp::Minimum => a.min(b),
            BinOp::Equal => (a == b) as u8,
            BinOp::NotEqual => (a != b) as u8,
            BinOp::Greater => (a > b) as u8,
            BinOp::GreaterEqual => (a >= b) as u8,
            BinOp::Lesser => (a < b) as u8,
            BinOp::LesserEqual => (a <= b) as u8,
        }
    }
    /// In the array's dtype, as MXNet reduces (`sum` wraps modulo 256).
    fn reduce(op: RedOp, x: &[u8]) -> u8 {
        match op {
            RedOp::Sum => x.iter().fold(0u8, |s, &v| s.wrapping_add(v)),
            RedOp::Mean => {
                let s: u64 = x.iter().map(|&v| v as u64).sum();
                (s as f64 / x.len() as f64) as u8
            }
            RedOp::Max => x.iter().copied().max().unwrap_or(u8::MIN),
            RedOp::Min => x.iter().copied().min().unwrap_or(u8::MAX),
            RedOp::Prod => x.iter().fold(1u8, |p, &v| p.wrapping_mul(v)),
            // Callers reject norms of integer arrays.
            RedOp::Norm | RedOp::Norm1 => 0,
        }
    }
    fn gemm(m: usize, n: usize, k: usize, a: &[u8], b: &[u8], out: &mut Vec<u8>) {
        kernels::gemm_generic(m, n, k, a, b, out, |acc, x, y| {
            acc.wrapping_add(x.wrapping_mul(y))
        })
    }
}

/// `Elem::wrap` as a function, for `each_dtype!` bodies.
pub fn wrap<T: Elem>(v: Vec<T>) -> Data {
    T::wrap(v)
}

/// Convert a run of values to another element type (`astype`).
pub fn convert<S: Elem, T: Elem>(x: &[S], out: &mut Vec<T>) {
    out.extend(x.iter().map(|&v| T::from_f64(v.to_f64())));
}
