//! Kernels: pure functions over slices, with no handles, shapes-as-objects or
//! tape. `scalar` defines each op's value; `vector` is the SIMD path written
//! against `simd::F32x4`; `gemm` is the blocked matrix multiplication; this
//! module adds broadcasting, reductions and transposition.
//!
//! Kernels that produce a whole new array *append* it to a `Vec<f32>` the
//! caller reserved (`storage::alloc_empty`), writing each element once into
//! the spare capacity: no zero-fill pass precedes the real one. `unsafe`
//! appears only where a SIMD kernel marks those slots initialised, each
//! with the argument why every slot was written.

pub mod conv;
pub mod gemm;
// Pooling and BatchNorm kernels (pool branch).
pub mod pool;
pub mod scalar;
pub mod simd;
pub mod vector;

pub use gemm::gemm;
pub use scalar::{BinOp, UnOp};
use simd::{F32x4, F64x2};

use crate::dtype::Elem;
use crate::shape::{broadcast_strides, strides};
use crate::threads;

/// Walks the outer axes (all but the last) of `shape` in row-major order,
/// keeping one element offset per operand: `step` moves to the next row and
/// returns the offsets of the row it arrives at. The innermost axis is left
/// to the caller's vector loop.
struct Rows<'a, const K: usize> {
    shape: &'a [usize],
    strides: [&'a [usize]; K],
    idx: Vec<usize>,
    off: [usize; K],
}

impl<'a, const K: usize> Rows<'a, K> {
    fn new(shape: &'a [usize], strides: [&'a [usize]; K]) -> Self {
        Rows {
            shape,
            strides,
            idx: vec![0; shape.len().saturating_sub(1)],
            off: [0; K],
        }
    }

    fn step(&mut self) {
        for d in (0..self.idx.len()).rev() {
            self.idx[d] += 1;
            for k in 0..K {
                self.off[k] += self.strides[k][d];
            }
            if self.idx[d] < self.shape[d] {
                return;
            }
            for k in 0..K {
                self.off[k] -= self.strides[k][d] * self.shape[d];
            }
            self.idx[d] = 0;
        }
    }
}

/// Append `a op b` to `out`, where `a` and `b` broadcast to `oshape`.
/// The innermost axis runs as a vector loop: same-shape, scalar-vector or
/// vector-scalar, so broadcasting never materialises the smaller operand.
pub fn binary_broadcast<T: Elem>(
    op: BinOp,
    a: &[T],
    ashape: &[usize],
    b: &[T],
    bshape: &[usize],
    oshape: &[usize],
    out: &mut Vec<T>,
) {
    let n: usize = oshape.iter().product();
    if n == 0 {
        return;
    }
    let nd = oshape.len();
    if nd == 0 {
        out.push(T::bin(op, a[0], b[0]));
        return;
    }
    out.reserve(n);
    let sa = broadcast_strides(ashape, oshape);
    let sb = broadcast_strides(bshape, oshape);
    let inner = oshape[nd - 1];
    let (ia, ib) = (sa[nd - 1], sb[nd - 1]);
    let mut rows = Rows::new(oshape, [&sa, &sb]);
    for _ in 0..n / inner {
        let [offa, offb] = rows.off;
        match (ia, ib) {
            (0, 0) => out.extend(core::iter::repeat_n(T::bin(op, a[offa], b[offb]), inner)),
            (0, _) => T::bin_scalar(op, &b[offb..offb + inner], a[offa], true, out),
            (_, 0) => T::bin_scalar(op, &a[offa..offa + inner], b[offb], false, out),
            _ => T::bin_same(op, &a[offa..offa + inner], &b[offb..offb + inner], out),
        }
        rows.step();
    }
}

/// Reductions over a contiguous run of values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    /// L2 norm.
    Norm,
    /// L1 norm (`norm` with `ord=1`).
    Norm1,
}

impl RedOp {
    pub const ALL: [RedOp; 7] = [
        RedOp::Sum,
        RedOp::Mean,
        RedOp::Max,
        RedOp::Min,
        RedOp::Prod,
        RedOp::Norm,
        RedOp::Norm1,
    ];
    pub fn from_code(code: u32) -> Option<RedOp> {
        RedOp::ALL.get(code as usize).copied()
    }
    pub fn name(self) -> &'static str {
        match self {
            RedOp::Sum => "sum",
            RedOp::Mean => "mean",
            RedOp::Max => "max",
            RedOp::Min => "min",
            RedOp::Prod => "prod",
            RedOp::Norm => "norm",
            RedOp::Norm1 => "norm1",
        }
    }
    /// Whether reducing zero elements has a value (NumPy: sum 0, prod 1).
    pub fn has_identity(self) -> bool {
        !matches!(self, RedOp::Max | RedOp::Min)
    }
}

/// Reductions over a run of float32 values go in fixed chunks of this many
/// elements (a multiple of the 64-value block of `sum_chunk`): each chunk
/// gives a partial result and the partials are combined in order. The
/// chunks do not depend on the number of threads, so neither does the
/// result, bit for bit; one thread runs the very same chunks.
pub const RED_CHUNK: usize = 1 << 16;

/// Reduce `x` chunk by chunk (`RED_CHUNK`) with `part`, then fold the
/// partials in order with `join`, from the first. Long runs (`PAR_MIN`
/// elements and more) share the chunks out over the threads.
fn chunked<R: Copy + Send + Default>(
    x: &[f32],
    part: impl Fn(&[f32]) -> R + Sync,
    join: impl Fn(R, R) -> R,
) -> R {
    if x.len() <= RED_CHUNK {
        return part(x);
    }
    let threads = if x.len() >= vector::PAR_MIN {
        threads::threads()
    } else {
        1
    };
    // The partials go to a table folded in order by one piece of code on
    // one thread and on many: a NaN's sign and payload depend on the
    // instructions that add it, so both must fold alike to agree bit for
    // bit. The table (a tensor filling memory has 16 Ki chunks) is
    // allocated fallibly; without it one thread folds as it goes.
    let Ok(mut p) = crate::storage::try_filled(x.len().div_ceil(RED_CHUNK), R::default()) else {
        let first = part(&x[..RED_CHUNK]);
        return x[RED_CHUNK..]
            .chunks(RED_CHUNK)
            .map(&part)
            .fold(first, join);
    };
    if threads <= 1 {
        for (slot, c) in p.iter_mut().zip(x.chunks(RED_CHUNK)) {
            *slot = part(c);
        }
    } else {
        let Ok(parts) = crate::storage::try_collect(p.iter_mut().zip(x.chunks(RED_CHUNK))) else {
            let first = part(&x[..RED_CHUNK]);
            return x[RED_CHUNK..]
                .chunks(RED_CHUNK)
                .map(&part)
                .fold(first, join);
        };
        threads::for_each(parts, threads, |_, (slot, c)| *slot = part(c));
    }
    let mut it = p.into_iter();
    let Some(first) = it.next() else {
        return part(x);
    };
    it.fold(first, join)
}

/// Sum in float64 quality at float32 SIMD speed: chunks of `RED_CHUNK`
/// values (`sum_chunk`), whose float64 sums are added in order. The error
/// is at most about 4·2⁻²⁴ of the sum of |x| and does not grow with the
/// length, unlike a float32 running sum; the result is the same bit for
/// bit on any number of threads.
pub fn sum(x: &[f32]) -> f64 {
    chunked(x, sum_chunk, |a, b| a + b)
}

/// The sum of one chunk: blocks of 64 values are summed in four `F32x4`
/// accumulators (4 values per lane, then pairs of accumulators: a depth of
/// 4 float32 roundings on 8 values), and each block's 8 partial sums are
/// added exactly into float64 accumulators.
fn sum_chunk(x: &[f32]) -> f64 {
    const BLOCK: usize = 64;
    let z = F32x4::splat(0.0);
    let mut acc = [F64x2::splat(0.0); 4];
    let blocks = x.chunks_exact(BLOCK);
    let tail = blocks.remainder();
    for blk in blocks {
        let (mut v0, mut v1, mut v2, mut v3) = (z, z, z, z);
        for q in blk.chunks_exact(16) {
            v0 = v0.add(F32x4::load(&q[0..4]));
            v1 = v1.add(F32x4::load(&q[4..8]));
            v2 = v2.add(F32x4::load(&q[8..12]));
            v3 = v3.add(F32x4::load(&q[12..16]));
        }
        let (w0, w1) = (v0.add(v1), v2.add(v3));
        acc[0] = acc[0].add(w0.to_f64_lo());
        acc[1] = acc[1].add(w0.to_f64_hi());
        acc[2] = acc[2].add(w1.to_f64_lo());
        acc[3] = acc[3].add(w1.to_f64_hi());
    }
    let a = acc[0].add(acc[1]).add(acc[2].add(acc[3])).to_array();
    let mut s = a[0] + a[1];
    for &v in tail {
        s += v as f64;
    }
    s
}

/// `max` or `min` of `x` from `init`, with WebAssembly's lane semantics
/// (NaN propagates, -0 < +0). Those make the fold order-free, so the four
/// vector accumulators, and the chunks of `chunked` on any number of
/// threads, give exactly the scalar fold's result.
fn extremum(x: &[f32], init: f32, v: fn(F32x4, F32x4) -> F32x4, s: fn(f32, f32) -> f32) -> f32 {
    chunked(x, |c| extremum_chunk(c, init, v, s), s)
}

fn extremum_chunk(
    x: &[f32],
    init: f32,
    v: fn(F32x4, F32x4) -> F32x4,
    s: fn(f32, f32) -> f32,
) -> f32 {
    let blocks = x.chunks_exact(16);
    let tail = blocks.remainder();
    let i = F32x4::splat(init);
    let (mut a0, mut a1, mut a2, mut a3) = (i, i, i, i);
    for q in blocks {
        a0 = v(a0, F32x4::load(&q[0..4]));
        a1 = v(a1, F32x4::load(&q[4..8]));
        a2 = v(a2, F32x4::load(&q[8..12]));
        a3 = v(a3, F32x4::load(&q[12..16]));
    }
    let lanes = v(v(a0, a1), v(a2, a3)).to_array();
    lanes.iter().chain(tail).fold(init, |m, &e| s(m, e))
}

/// MXNet's L2 norm: mshadow's `nrm2` reducer, a scaled sum of squares in
/// float32 (LAPACK's `snrm2` recurrence), finalised as `scale * sqrt(ssq)`.
/// It is not the correctly rounded `sqrt(sum(x*x))`: for `[2, 4, 7, 5]` it
/// gives 9.695359 where `sqrt(94f32)` is 9.69536, and MXNet prints the former.
pub fn nrm2(x: &[f32]) -> f32 {
    let mut ssq = 0f32;
    let mut scale = 0f32;
    for &v in x {
        if v != 0.0 {
            let a = v.abs();
            if scale < a {
                let r = scale / a;
                ssq = 1.0 + ssq * r * r;
                scale = a;
            } else {
                let r = a / scale;
                ssq += r * r;
            }
        }
    }
    scale * ssq.sqrt()
}

pub fn reduce(op: RedOp, x: &[f32]) -> f32 {
    match op {
        RedOp::Sum => sum(x) as f32,
        RedOp::Mean => (sum(x) / x.len() as f64) as f32,
        RedOp::Max => extremum(x, f32::NEG_INFINITY, F32x4::max, scalar::fmax),
        RedOp::Min => extremum(x, f32::INFINITY, F32x4::min, scalar::fmin),
        RedOp::Prod => x.iter().fold(1f64, |p, &v| p * v as f64) as f32,
        RedOp::Norm => nrm2(x),
        RedOp::Norm1 => {
            let mut s = 0f64;
            for &v in x {
                s += v.abs() as f64;
            }
            s as f32
        }
    }
}

/// Reductions in float64: compensated (Neumaier) sums, so the error stays
/// a few ulps of the sum of |x| whatever the length.
pub fn reduce_f64(op: RedOp, x: &[f64]) -> f64 {
    fn ksum(it: impl Iterator<Item = f64>) -> f64 {
        let (mut s, mut c) = (0f64, 0f64);
        for v in it {
            let t = s + v;
            c += if s.abs() >= v.abs() {
                (s - t) + v
            } else {
                (v - t) + s
            };
            s = t;
        }
        s + c
    }
    match op {
        RedOp::Sum => ksum(x.iter().copied()),
        RedOp::Mean => ksum(x.iter().copied()) / x.len() as f64,
        RedOp::Max => x.iter().fold(f64::NEG_INFINITY, |m, &v| scalar::fmax(m, v)),
        RedOp::Min => x.iter().fold(f64::INFINITY, |m, &v| scalar::fmin(m, v)),
        RedOp::Prod => x.iter().product(),
        RedOp::Norm => {
            // Scaled like `nrm2`, so huge and tiny values neither overflow
            // nor underflow.
            let scale = x.iter().fold(0f64, |m, &v| scalar::fmax(m, v.abs()));
            if scale == 0.0 || !scale.is_finite() {
                return scale;
            }
            scale * ksum(x.iter().map(|&v| (v / scale) * (v / scale))).sqrt()
        }
        RedOp::Norm1 => ksum(x.iter().map(|v| v.abs())),
    }
}

/// Append `a (m×k) · b (k×n)` with `acc = f(acc, a, b)` summed over k in
/// order (float64 and int32; float32 has the blocked SIMD `gemm`).
pub fn gemm_generic<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    b: &[T],
    out: &mut Vec<T>,
    f: impl Fn(T, T, T) -> T,
) {
    out.reserve(m * n);
    let start = out.len();
    out.resize(start + m * n, T::ZERO);
    let c = &mut out[start..];
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        for p in 0..k {
            let av = a[i * k + p];
            for (o, &bv) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *o = f(*o, av, bv);
            }
        }
    }
}

/// Reduce rows of length `len`: `out[r] = reduce(x[r*len..(r+1)*len])`.
/// Many short rows (`PAR_MIN` elements in all) are shared out over the
/// threads a group of rows at a time; a row long enough to be split is
/// split by `T::reduce` itself. Each row is reduced exactly as on one
/// thread either way.
pub fn reduce_rows<T: Elem>(op: RedOp, x: &[T], len: usize, out: &mut [T]) {
    if len == 0 {
        out.fill(T::reduce(op, &[]));
        return;
    }
    let rows = out.len().min(x.len() / len);
    let threads = if len < vector::PAR_MIN && rows * len >= vector::PAR_MIN {
        threads::threads()
    } else {
        1
    };
    if threads <= 1 {
        for (o, row) in out.iter_mut().zip(x.chunks_exact(len)) {
            *o = T::reduce(op, row);
        }
        return;
    }
    let per = rows.div_ceil(threads * 4);
    let parts: Vec<(&mut [T], &[T])> = out[..rows]
        .chunks_mut(per)
        .zip(x[..rows * len].chunks(per * len))
        .collect();
    threads::for_each(parts, threads, |_, (o, x)| {
        for (o, row) in o.iter_mut().zip(x.chunks_exact(len)) {
            *o = T::reduce(op, row);
        }
    });
}

/// Append `x` permuted to `out`: output axis `d` is input axis `perm[d]`.
/// Swapping the last two axes (a matrix transpose, or a batch of them) runs
/// as 4×4 register transposes; other permutations gather row by row.
pub fn transpose<T: Elem>(x: &[T], shape: &[usize], perm: &[usize], out: &mut Vec<T>) {
    let n: usize = shape.iter().product();
    if n == 0 {
        return;
    }
    let nd = shape.len();
    if nd == 0 {
        out.push(x[0]);
        return;
    }
    out.reserve(n);
    let lead_fixed = perm[..nd.saturating_sub(2)]
        .iter()
        .enumerate()
        .all(|(i, &p)| i == p);
    if nd >= 2 && lead_fixed && perm[nd - 2] == nd - 1 && perm[nd - 1] == nd - 2 {
        let (r, c) = (shape[nd - 2], shape[nd - 1]);
        for m in x[..n].chunks_exact(r * c) {
            T::transpose2d(m, r, c, out);
        }
        return;
    }
    let st = strides(shape);
    let oshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let ist: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let inner = oshape[nd - 1];
    let istep = ist[nd - 1];
    let mut rows = Rows::new(&oshape, [&ist]);
    for _ in 0..n / inner {
        let p = rows.off[0];
        out.extend((0..inner).map(|q| x[p + q * istep]));
        rows.step();
    }
}

/// Append the transpose (c×r) of the row-major r×c matrix `x`.
pub fn transpose2d_f32(x: &[f32], r: usize, c: usize, out: &mut Vec<f32>) {
    let len = r * c;
    out.reserve(len);
    let start = out.len();
    let dst = &mut out.spare_capacity_mut()[..len];
    let (r4, c4) = (r - r % 4, c - c % 4);
    for i in (0..r4).step_by(4) {
        let rows = [0, 1, 2, 3].map(|q| &x[(i + q) * c..(i + q + 1) * c]);
        for j in (0..c4).step_by(4) {
            let t = F32x4::transpose4(rows.map(|row| F32x4::load(&row[j..j + 4])));
            for (q, v) in t.iter().enumerate() {
                v.store_uninit(&mut dst[(j + q) * r + i..][..4]);
            }
        }
        for j in c4..c {
            for (q, row) in rows.iter().enumerate() {
                dst[j * r + i + q].write(row[j]);
            }
        }
    }
    for i in r4..r {
        for j in 0..c {
            dst[j * r + i].write(x[i * c + j]);
        }
    }
    // SAFETY: every output slot j*r + i (i < r, j < c) was written: rows
    // 0..r4 × columns 0..c4 by the 4×4 blocks, rows 0..r4 × columns c4..c by
    // the column loop, rows r4..r × all columns by the last loop.
    unsafe { out.set_len(start + len) };
}

/// `out` (shape `oshape`) = `x` (shape `xshape`) repeated along broadcast axes.
/// Writes in place, row by row: no temporary (a full-size one made `x[:] = v`
/// abort when memory was nearly full).
pub fn broadcast_copy<T: Elem>(x: &[T], xshape: &[usize], oshape: &[usize], out: &mut [T]) {
    let n: usize = oshape.iter().product();
    if n == 0 || out.len() < n {
        return;
    }
    let nd = oshape.len();
    if nd == 0 {
        out[0] = x[0];
        return;
    }
    let sx = broadcast_strides(xshape, oshape);
    let inner = oshape[nd - 1];
    let step = sx[nd - 1];
    let mut rows = Rows::new(oshape, [&sx]);
    for row in out[..n].chunks_exact_mut(inner) {
        let off = rows.off[0];
        if step == 0 {
            row.fill(x[off]);
        } else {
            row.copy_from_slice(&x[off..off + inner]);
        }
        rows.step();
    }
}

/// Append `x` (shape `xshape`) repeated along broadcast axes to shape
/// `oshape`.
pub fn broadcast_extend<T: Elem>(x: &[T], xshape: &[usize], oshape: &[usize], out: &mut Vec<T>) {
    let n: usize = oshape.iter().product();
    if n == 0 {
        return;
    }
    let nd = oshape.len();
    if nd == 0 {
        out.push(x[0]);
        return;
    }
    out.reserve(n);
    let sx = broadcast_strides(xshape, oshape);
    let inner = oshape[nd - 1];
    let step = sx[nd - 1];
    let mut rows = Rows::new(oshape, [&sx]);
    for _ in 0..n / inner {
        let off = rows.off[0];
        if step == 0 {
            out.extend(core::iter::repeat_n(x[off], inner));
        } else {
            out.extend_from_slice(&x[off..off + inner]);
        }
        rows.step();
    }
}

/// Values that exercise the special cases of the vector math: signed
/// zeros, subnormals, the overflow and underflow thresholds of `exp`, the
/// branch points of `tanh` and `log`, infinities and NaN.
pub const MATH_EDGES: [f32; 40] = [
    0.0,
    -0.0,
    1e-45,
    -1e-45,
    1e-40,
    -1e-40,
    1.1754942e-38,
    1.1754944e-38,
    1e-30,
    1e-7,
    -1e-7,
    0.5,
    0.625,
    -0.625,
    0.62499994,
    core::f32::consts::LN_2,
    1.0,
    -1.0,
    core::f32::consts::FRAC_1_SQRT_2,
    core::f32::consts::SQRT_2,
    1.4142137,
    2.0,
    9.0,
    -9.0,
    10.0,
    87.0,
    88.0,
    88.72283,
    88.72284,
    89.0,
    -87.33655,
    -88.0,
    -103.0,
    -103.97208,
    -104.0,
    -110.0,
    f32::MAX,
    f32::MIN,
    f32::INFINITY,
    f32::NEG_INFINITY,
];

/// The worst disagreement of the vector `op` with the scalar oracle over
/// `xs`, as the number of values outside the bound (`vector::agrees`).
pub fn math_mismatches(op: UnOp, xs: &[f32]) -> usize {
    let (mut v, mut s) = (Vec::with_capacity(xs.len()), Vec::new());
    vector::unary(op, xs, &mut v);
    vector::scalar_unary(op, xs, &mut s);
    v.iter()
        .zip(&s)
        .filter(|(a, b)| !vector::agrees(op, **a, **b))
        .count()
}

/// A sweep of `count` values spread log-uniformly over both signs and the
/// whole float32 range, plus every `MATH_EDGES` value and NaN.
pub fn math_sweep(count: usize) -> Vec<f32> {
    let mut xs: Vec<f32> = MATH_EDGES.to_vec();
    xs.push(f32::NAN);
    xs.push(-f32::NAN);
    // Walk the bit patterns of positive floats with a stride that visits
    // every binade, and mirror each value to the negative side.
    let step = (0x7f80_0000u32 / (count as u32 / 2).max(1)).max(1);
    let mut b = 1u32;
    while b < 0x7f80_0000 && xs.len() < count + MATH_EDGES.len() {
        let v = f32::from_bits(b);
        xs.push(v);
        xs.push(-v);
        b = b.saturating_add(step);
    }
    xs
}

/// Element `(i, j)` of `a (m×k) · b (k×n)` in float64, and the sum of the
/// terms' magnitudes (what float32 rounding error is proportional to): the
/// oracle for `gemm`, in the self-test and the native tests alike.
fn gemm_reference(n: usize, k: usize, a: &[f32], b: &[f32], i: usize, j: usize) -> (f64, f64) {
    let (mut exact, mut mag) = (0f64, 0f64);
    for p in 0..k {
        let t = a[i * k + p] as f64 * b[p * n + j] as f64;
        exact += t;
        mag += t.abs();
    }
    (exact, mag)
}

/// Compare every vector path with the scalar oracle on values that include
/// NaN, ±0, subnormals and ±inf; returns the number of mismatching elements
/// (bit-identical for the exactly rounded ops, within `vector::MATH_ULPS`
/// for `exp`, `log`, `tanh` and `sigmoid`). Natively the vector type is
/// emulated, so this is meaningful mainly inside the `.wasm`, where the
/// test suite calls it through the FFI.
pub fn selftest() -> usize {
    let specials = [
        f32::NAN,
        -0.0,
        0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        1.5,
        -2.25,
        1e-40,
    ];
    let n = 67usize;
    let mut seed = 7u64;
    let mk = |seed: &mut u64, n: usize| -> Vec<f32> {
        (0..n)
            .map(|i| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if i % 9 == 0 {
                    specials[(*seed >> 60) as usize % specials.len()]
                } else {
                    ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 20.0 - 10.0
                }
            })
            .collect()
    };
    let a = mk(&mut seed, n);
    let b = mk(&mut seed, n);
    let same = |x: f32, y: f32| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    let count = |v: &[f32], s: &[f32]| {
        v.len().abs_diff(s.len()) + v.iter().zip(s).filter(|(x, y)| !same(**x, **y)).count()
    };
    let mut bad = 0;
    let mut v = Vec::new();
    let mut s = vec![0.0; n];
    for op in BinOp::ALL {
        v.clear();
        vector::binary_same(op, &a, &b, &mut v);
        scalar::binary_same(op, &a, &b, &mut s);
        bad += count(&v, &s);
        for rev in [false, true] {
            v.clear();
            vector::binary_scalar(op, &a, -0.75, rev, &mut v);
            scalar::binary_scalar(op, &a, -0.75, rev, &mut s);
            bad += count(&v, &s);
        }
    }
    // Unary ops on the mixed data, then the math functions over a sweep of
    // the whole float32 range and the edge cases.
    for op in UnOp::ALL {
        bad += math_mismatches(op, &a);
    }
    let sweep = math_sweep(4000);
    for op in [UnOp::Exp, UnOp::Log, UnOp::Tanh, UnOp::Sigmoid] {
        bad += math_mismatches(op, &sweep);
        let dense: Vec<f32> = (0..4000).map(|i| (i as f32 - 2000.0) * 0.0625).collect();
        bad += math_mismatches(op, &dense);
    }
    // The blocked gemm (4×8 micro-kernel, edge tiles, k ≤ KC: bit-identical
    // to the triple loop) and the small path. The relaxed-SIMD build's fused
    // multiply-adds round once per step: there, within k·2⁻²³ of the sum of
    // |terms| of a float64 reference instead.
    for (m, nn, k) in [
        (3usize, 7usize, 5usize),
        (9, 13, 40),
        (17, 33, 60),
        (4, 8, 2),
    ] {
        let big_a = mk(&mut seed, m * k);
        let big_b = mk(&mut seed, k * nn);
        let (ga, gb): (Vec<f32>, Vec<f32>) = (
            big_a
                .iter()
                .map(|v| if v.is_finite() { *v } else { 1.0 })
                .collect(),
            big_b
                .iter()
                .map(|v| if v.is_finite() { *v } else { 1.0 })
                .collect(),
        );
        let mut c = Vec::new();
        gemm(m, nn, k, &ga, &gb, &mut c);
        bad += c.len().abs_diff(m * nn);
        for i in 0..m {
            for j in 0..nn {
                let mut acc = 0f32;
                for p in 0..k {
                    acc += ga[i * k + p] * gb[p * nn + j];
                }
                if cfg!(ndgrad_relaxed) {
                    // (Plus k subnormal steps: the inputs include 1e-40.)
                    let (exact, mag) = gemm_reference(nn, k, &ga, &gb, i, j);
                    let got = c.get(i * nn + j).map_or(f64::NAN, |v| *v as f64);
                    let tol =
                        k as f64 * (mag * f64::from(f32::EPSILON) + f64::from(f32::from_bits(1)));
                    bad += ((got - exact).abs() > tol) as usize;
                } else if !same(acc, c[i * nn + j]) {
                    bad += 1;
                }
            }
        }
    }
    // Products that cross a k block (the tile accumulate path) and the
    // matrix·vector path: against a float64 reference, within k·2⁻²³ of the
    // sum of |terms|.
    for (m, nn, k) in [(8usize, 16usize, 300usize), (6, 1, 50)] {
        let ga: Vec<f32> = mk(&mut seed, m * k)
            .iter()
            .map(|v| if v.is_finite() { *v } else { 0.5 })
            .collect();
        let gb: Vec<f32> = mk(&mut seed, k * nn)
            .iter()
            .map(|v| if v.is_finite() { *v } else { 0.5 })
            .collect();
        let mut c = Vec::new();
        gemm(m, nn, k, &ga, &gb, &mut c);
        bad += c.len().abs_diff(m * nn);
        for i in 0..m {
            for j in 0..nn {
                let (exact, mag) = gemm_reference(nn, k, &ga, &gb, i, j);
                let got = c.get(i * nn + j).map_or(f64::NAN, |v| *v as f64);
                bad += ((got - exact).abs() > mag * k as f64 * f64::from(f32::EPSILON)) as usize;
            }
        }
    }
    // Transposes: the 4×4 register path against the gather.
    for (r, c) in [(4usize, 4usize), (5, 9), (12, 7), (1, 6)] {
        let x = mk(&mut seed, r * c);
        let mut t = Vec::new();
        transpose(&x, &[r, c], &[1, 0], &mut t);
        bad += t.len().abs_diff(r * c);
        for i in 0..r {
            for j in 0..c {
                if t.get(j * r + i).map(|v| same(*v, x[i * c + j])) != Some(true) {
                    bad += 1;
                }
            }
        }
    }
    // Reductions: max/min exactly as the scalar fold; sum against float64.
    let long = mk(&mut seed, 1000);
    for (op, f) in [
        (RedOp::Max, scalar::fmax as fn(f32, f32) -> f32),
        (RedOp::Min, scalar::fmin),
    ] {
        let init = if op == RedOp::Max {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        };
        let want = long.iter().fold(init, |m, &e| f(m, e));
        bad += !same(reduce(op, &long), want) as usize;
        let finite: Vec<f32> = long.iter().copied().filter(|v| v.is_finite()).collect();
        let want = finite.iter().fold(init, |m, &e| f(m, e));
        bad += !same(reduce(op, &finite), want) as usize;
    }
    let finite: Vec<f32> = long.iter().copied().filter(|v| v.is_finite()).collect();
    let exact: f64 = finite.iter().map(|&v| v as f64).sum();
    let mag: f64 = finite.iter().map(|&v| v.abs() as f64).sum();
    bad += ((sum(&finite) - exact).abs() > 4.0 * mag * f64::from(f32::EPSILON)) as usize;
    bad
}
#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
    }

    fn data(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        let mut v: Vec<f32> = (0..n).map(|_| lcg(&mut s)).collect();
        if n > 5 {
            v[1] = f32::NAN;
            v[3] = -0.0;
            v[4] = f32::INFINITY;
        }
        v
    }

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    fn un(op: UnOp, x: &[f32]) -> Vec<f32> {
        let mut o = Vec::new();
        vector::unary(op, x, &mut o);
        o
    }

    #[test]
    fn vector_paths_match_scalar() {
        for n in [0usize, 1, 3, 4, 5, 17, 64, 1001] {
            let a = data(n, 1);
            let b = data(n, 2);
            let mut s = vec![0.0; n];
            for op in BinOp::ALL {
                let mut v = Vec::new();
                vector::binary_same(op, &a, &b, &mut v);
                scalar::binary_same(op, &a, &b, &mut s);
                assert!(same(&v, &s), "{op:?} n={n}");
                for rev in [false, true] {
                    let mut v = Vec::new();
                    vector::binary_scalar(op, &a, 1.5, rev, &mut v);
                    scalar::binary_scalar(op, &a, 1.5, rev, &mut s);
                    assert!(same(&v, &s), "{op:?} scalar rev={rev} n={n}");
                }
            }
            for op in UnOp::ALL {
                let v = un(op, &a);
                scalar::unary(op, &a, &mut s);
                assert_eq!(v.len(), n);
                for (i, (&x, &y)) in v.iter().zip(&s).enumerate() {
                    assert!(
                        vector::agrees(op, x, y),
                        "{op:?} n={n} x={} vector {x} scalar {y}",
                        a[i]
                    );
                }
            }
        }
    }

    #[test]
    fn kernels_append_after_existing_values() {
        let mut o = vec![7.0];
        vector::binary_same(BinOp::Add, &[1., 2., 3., 4., 5.], &[1.; 5], &mut o);
        vector::unary(UnOp::Neg, &[1., 2.], &mut o);
        gemm(1, 2, 1, &[2.], &[3., 4.], &mut o);
        assert_eq!(o, vec![7., 2., 3., 4., 5., 6., -1., -2., 6., 8.]);
    }

    #[test]
    fn selftest_passes_natively() {
        assert_eq!(selftest(), 0);
    }

    /// Worst ulp error of the vector op against the scalar one over `xs`.
    fn worst(op: UnOp, xs: &[f32]) -> (u32, f32) {
        let v = un(op, xs);
        let mut s = Vec::new();
        vector::scalar_unary(op, xs, &mut s);
        let mut w = (0, 0.0);
        for ((&x, &a), &b) in xs.iter().zip(&v).zip(&s) {
            let u = vector::ulps(a, b);
            if u > w.0 && !(op == UnOp::Sigmoid && (a - b).abs() <= f32::MIN_POSITIVE) {
                w = (u, x);
            }
        }
        w
    }

    #[test]
    fn math_functions_stay_within_a_few_ulps() {
        // Every float32 exponent, both signs, ~2M values, plus the edges.
        let sweep = math_sweep(2_000_000);
        // The ranges where the functions are interesting, densely.
        let mut dense: Vec<f32> = Vec::new();
        let mut x = -110.0f32;
        while x < 110.0 {
            dense.push(x);
            x += 1.0 / 1024.0;
        }
        let mut x = 1e-6f32;
        while x < 100.0 {
            dense.push(x);
            x *= 1.0 + 1.0 / 4096.0;
        }
        for op in [UnOp::Exp, UnOp::Log, UnOp::Tanh, UnOp::Sigmoid] {
            for xs in [&sweep, &dense] {
                let (u, at) = worst(op, xs);
                eprintln!(
                    "{op:?}: worst {u} ulps (at x = {at:e}) over {} values",
                    xs.len()
                );
                assert!(u <= vector::MATH_ULPS, "{op:?}: {u} ulps at x = {at:e}");
            }
        }
    }

    #[test]
    fn math_special_values() {
        let inf = f32::INFINITY;
        let x = [0.0, -0.0, inf, -inf, f32::NAN, -1.0, 1e-45, -1e-45];
        let e = un(UnOp::Exp, &x);
        assert_eq!(&e[..4], &[1.0, 1.0, inf, 0.0]);
        assert!(e[4].is_nan());
        assert_eq!(e[5], (-1f32).exp());
        assert_eq!((e[6], e[7]), (1.0, 1.0));
        let l = un(UnOp::Log, &x);
        assert_eq!(&l[..3], &[-inf, -inf, inf]);
        assert!(l[3].is_nan() && l[4].is_nan() && l[5].is_nan() && l[7].is_nan());
        assert_eq!(l[6], (1e-45f32).ln());
        let t = un(UnOp::Tanh, &x);
        assert_eq!(t[0].to_bits(), 0f32.to_bits());
        assert_eq!(t[1].to_bits(), (-0f32).to_bits());
        assert_eq!(&t[2..4], &[1.0, -1.0]);
        assert!(t[4].is_nan());
        assert_eq!((t[6], t[7]), (1e-45, -1e-45));
        let s = un(UnOp::Sigmoid, &x);
        assert_eq!(&s[..4], &[0.5, 0.5, 1.0, 0.0]);
        assert!(s[4].is_nan());
        // Overflow and underflow thresholds of exp.
        let e = un(
            UnOp::Exp,
            &[88.72283, 88.72284, 89.0, -103.0, -104.0, -150.0],
        );
        assert_eq!(e[0], 88.72283f32.exp());
        assert_eq!(&e[1..3], &[inf, inf]);
        assert!(e[3] > 0.0 && e[3] < f32::MIN_POSITIVE);
        assert_eq!(&e[4..], &[0.0, 0.0]);
    }

    #[test]
    fn ulp_distance() {
        assert_eq!(vector::ulps(1.0, 1.0), 0);
        assert_eq!(vector::ulps(0.0, -0.0), 0);
        assert_eq!(vector::ulps(1.0, f32::from_bits(1f32.to_bits() + 3)), 3);
        assert_eq!(vector::ulps(1e-45, -1e-45), 2);
        assert_eq!(vector::ulps(f32::MAX, f32::INFINITY), 1);
        assert_eq!(vector::ulps(f32::NAN, f32::NAN), 0);
        assert_eq!(vector::ulps(f32::NAN, 1.0), u32::MAX);
    }

    #[test]
    fn hand_computed_values() {
        let mut o = Vec::new();
        vector::binary_same(BinOp::Mul, &[1., 2., 3., 4.], &[2., 2., 2., 2.], &mut o);
        assert_eq!(o, vec![2., 4., 6., 8.]);
        o.clear();
        vector::binary_scalar(BinOp::Sub, &[1., 2., 3., 4.], 10.0, true, &mut o);
        assert_eq!(o, vec![9., 8., 7., 6.]);
        o.clear();
        vector::unary(UnOp::Relu, &[-1., 2., -0.5, 0.], &mut o);
        assert_eq!(o, vec![0., 2., 0., 0.]);
        o.clear();
        vector::binary_scalar(BinOp::Greater, &[-1., 2., f32::NAN, 0.], 0.0, false, &mut o);
        assert_eq!(o, vec![0., 1., 0., 0.]);
        assert!(scalar::fmax(f32::NAN, 1.0).is_nan());
        assert_eq!(UnOp::Sign.apply(-3.0), -1.0);
    }

    #[test]
    fn broadcasting_kernel() {
        // [2,3] + [3]
        let mut o = Vec::new();
        binary_broadcast(
            BinOp::Add,
            &[1., 2., 3., 4., 5., 6.],
            &[2, 3],
            &[10., 20., 30.],
            &[3],
            &[2, 3],
            &mut o,
        );
        assert_eq!(o, vec![11., 22., 33., 14., 25., 36.]);
        // [2,1] - [1,3]
        o.clear();
        binary_broadcast(
            BinOp::Sub,
            &[1., 2.],
            &[2, 1],
            &[10., 20., 30.],
            &[1, 3],
            &[2, 3],
            &mut o,
        );
        assert_eq!(o, vec![-9., -19., -29., -8., -18., -28.]);
        // [3,1] * [1] (both broadcast on the inner axis)
        let mut o3 = Vec::new();
        binary_broadcast(
            BinOp::Mul,
            &[1., 2., 3.],
            &[3, 1],
            &[2.],
            &[1],
            &[3, 1],
            &mut o3,
        );
        assert_eq!(o3, vec![2., 4., 6.]);
        // broadcast_extend and the slice form agree.
        let mut e = Vec::new();
        broadcast_extend(&[1., 2.], &[2, 1], &[2, 3], &mut e);
        let mut c = vec![0.0; 6];
        broadcast_copy(&[1., 2.], &[2, 1], &[2, 3], &mut c);
        assert_eq!(e, vec![1., 1., 1., 2., 2., 2.]);
        assert_eq!(c, e);
    }

    #[test]
    fn mxnet_norm_is_the_scaled_sum_of_squares() {
        // The seed prints [9.695359] for the norm of [[2,4],[7,5]].
        assert_eq!(nrm2(&[2., 4., 7., 5.]), 9.695359f32);
        assert_eq!((94f32).sqrt(), 9.69536f32);
        assert_eq!(nrm2(&[]), 0.0);
        assert_eq!(nrm2(&[0.0, -3.0, 4.0]), 5.0);
    }

    #[test]
    fn sums_and_extrema() {
        assert_eq!(sum(&[2., 4., 7., 5.]), 18.0);
        assert_eq!(reduce(RedOp::Max, &[1., 5., -2.]), 5.0);
        assert_eq!(reduce(RedOp::Min, &[1., 5., -2.]), -2.0);
        assert!(reduce(RedOp::Max, &[1., f32::NAN]).is_nan());
        assert_eq!(reduce(RedOp::Mean, &[1., 2.]), 1.5);
        assert_eq!(reduce(RedOp::Prod, &[2., 3., 4.]), 24.0);
        // Large sums stay accurate (float64 accumulation of short blocks).
        let big = vec![0.1f32; 1_000_000];
        assert!((sum(&big) - 100_000.0).abs() < 1.0);
        // Against an exact float64 sum, for every length around the block
        // size and with cancellation.
        for n in [0usize, 1, 15, 63, 64, 65, 127, 128, 1000, 4097] {
            let x = data(n, 9)
                .into_iter()
                .map(|v| if v.is_finite() { v } else { 0.5 })
                .collect::<Vec<_>>();
            let exact: f64 = x.iter().map(|&v| v as f64).sum();
            let mag: f64 = x.iter().map(|&v| v.abs() as f64).sum();
            assert!(
                (sum(&x) - exact).abs() <= 4.0 * mag * f32::EPSILON as f64,
                "n={n}"
            );
        }
        // Extrema over long data: -0 < +0, NaN anywhere wins.
        let mut v = vec![-0.0f32; 100];
        v[37] = 0.0;
        assert_eq!(reduce(RedOp::Max, &v).to_bits(), 0f32.to_bits());
        assert_eq!(reduce(RedOp::Min, &v).to_bits(), (-0f32).to_bits());
        v[99] = f32::NAN;
        assert!(reduce(RedOp::Min, &v).is_nan());
    }

    #[test]
    fn transpose_and_gemm() {
        // [2,3] -> [3,2]
        let mut o = Vec::new();
        transpose(&[1., 2., 3., 4., 5., 6.], &[2, 3], &[1, 0], &mut o);
        assert_eq!(o, vec![1., 4., 2., 5., 3., 6.]);
        // 3-d: [2,2,2] with perm [2,0,1]
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let mut o8 = Vec::new();
        transpose(&x, &[2, 2, 2], &[2, 0, 1], &mut o8);
        assert_eq!(o8, vec![0., 2., 4., 6., 1., 3., 5., 7.]);
        // A batch of matrix transposes (the 4×4 register path) against the
        // generic gather: [3, 9, 6] with perm [0, 2, 1].
        let x: Vec<f32> = (0..162).map(|v| v as f32).collect();
        let mut fast = Vec::new();
        transpose(&x, &[3, 9, 6], &[0, 2, 1], &mut fast);
        for b in 0..3 {
            for i in 0..9 {
                for j in 0..6 {
                    assert_eq!(fast[b * 54 + j * 9 + i], x[b * 54 + i * 6 + j]);
                }
            }
        }
        // [2,3]·[3,2]
        let mut c = Vec::new();
        gemm(
            2,
            2,
            3,
            &[1., 2., 3., 4., 5., 6.],
            &[7., 8., 9., 10., 11., 12.],
            &mut c,
        );
        assert_eq!(c, vec![58., 64., 139., 154.]);
    }

    /// The blocked gemm against a float64 triple loop, on shapes that cross
    /// every block boundary (MR, NR, KC, MC) and have edge tiles.
    #[test]
    fn gemm_matches_reference() {
        for (m, n, k) in [
            (1usize, 1usize, 1usize),
            (5, 1, 300),
            (1, 70, 33),
            (4, 8, 1),
            (7, 9, 3),
            (16, 16, 16),
            (17, 23, 257),
            (64, 256, 100),
            (130, 20, 520),
            (33, 2050, 5),
            (3, 0, 4),
            (0, 3, 4),
            (3, 4, 0),
        ] {
            let a = data(m * k, 3)
                .into_iter()
                .map(|v| if v.is_finite() { v } else { 1.0 })
                .collect::<Vec<_>>();
            let b = data(k * n, 4)
                .into_iter()
                .map(|v| if v.is_finite() { v } else { -2.0 })
                .collect::<Vec<_>>();
            let mut c = Vec::new();
            gemm(m, n, k, &a, &b, &mut c);
            assert_eq!(c.len(), m * n, "{m}x{n}x{k}");
            for i in 0..m {
                for j in 0..n {
                    let (exact, mag) = gemm_reference(n, k, &a, &b, i, j);
                    let got = c[i * n + j] as f64;
                    let tol = mag * k as f64 * f32::EPSILON as f64 + 1e-30;
                    assert!(
                        (got - exact).abs() <= tol,
                        "{m}x{n}x{k} at ({i},{j}): {got} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn gemm_propagates_nan_and_inf_to_their_row_and_column_only() {
        let (m, n, k) = (9, 10, 7);
        let mut a = vec![1.0f32; m * k];
        let b = vec![1.0f32; k * n];
        a[4 * k + 2] = f32::NAN;
        a[6 * k] = f32::INFINITY;
        let mut c = Vec::new();
        gemm(m, n, k, &a, &b, &mut c);
        for i in 0..m {
            for j in 0..n {
                let v = c[i * n + j];
                match i {
                    4 => assert!(v.is_nan()),
                    6 => assert_eq!(v, f32::INFINITY),
                    _ => assert_eq!(v, k as f32),
                }
            }
        }
    }
}
