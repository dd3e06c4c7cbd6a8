//! Kernels: pure functions over slices, with no handles, shapes-as-objects or
//! tape. `scalar` defines each op's value; `vector` is the SIMD path written
//! against `simd::F32x4`; this module adds broadcasting, reductions,
//! transposition and matrix multiplication.

pub mod scalar;
pub mod simd;
pub mod vector;

pub use scalar::{BinOp, UnOp};
use simd::F32x4;

use crate::shape::{broadcast_strides, strides};

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

/// `out = a op b` where `a` and `b` broadcast to `oshape` (`out`'s shape).
/// The innermost axis runs as a vector loop: same-shape, scalar-vector or
/// vector-scalar, so broadcasting never materialises the smaller operand.
pub fn binary_broadcast(
    op: BinOp,
    a: &[f32],
    ashape: &[usize],
    b: &[f32],
    bshape: &[usize],
    oshape: &[usize],
    out: &mut [f32],
) {
    if out.is_empty() {
        return;
    }
    let nd = oshape.len();
    if nd == 0 {
        out[0] = op.apply(a[0], b[0]);
        return;
    }
    let sa = broadcast_strides(ashape, oshape);
    let sb = broadcast_strides(bshape, oshape);
    let inner = oshape[nd - 1];
    let (ia, ib) = (sa[nd - 1], sb[nd - 1]);
    let mut rows = Rows::new(oshape, [&sa, &sb]);
    for dst in out.chunks_exact_mut(inner) {
        let [offa, offb] = rows.off;
        match (ia, ib) {
            (0, 0) => dst.fill(op.apply(a[offa], b[offb])),
            (0, _) => vector::binary_scalar(op, &b[offb..offb + inner], a[offa], true, dst),
            (_, 0) => vector::binary_scalar(op, &a[offa..offa + inner], b[offb], false, dst),
            _ => vector::binary_same(op, &a[offa..offa + inner], &b[offb..offb + inner], dst),
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
}

impl RedOp {
    pub const ALL: [RedOp; 6] = [
        RedOp::Sum,
        RedOp::Mean,
        RedOp::Max,
        RedOp::Min,
        RedOp::Prod,
        RedOp::Norm,
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
        }
    }
    /// Whether reducing zero elements has a value (NumPy: sum 0, prod 1).
    pub fn has_identity(self) -> bool {
        !matches!(self, RedOp::Max | RedOp::Min)
    }
}

/// Sum with four float64 accumulators: float32 data summed this way is
/// correctly rounded in all but pathological cases.
pub fn sum(x: &[f32]) -> f64 {
    let mut acc = [0f64; 4];
    let chunks = x.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        acc[0] += c[0] as f64;
        acc[1] += c[1] as f64;
        acc[2] += c[2] as f64;
        acc[3] += c[3] as f64;
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for &v in tail {
        s += v as f64;
    }
    s
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
        RedOp::Max => x.iter().fold(f32::NEG_INFINITY, |m, &v| scalar::fmax(m, v)),
        RedOp::Min => x.iter().fold(f32::INFINITY, |m, &v| scalar::fmin(m, v)),
        RedOp::Prod => x.iter().fold(1f64, |p, &v| p * v as f64) as f32,
        RedOp::Norm => nrm2(x),
    }
}

/// Reduce rows of length `len`: `out[r] = reduce(x[r*len..(r+1)*len])`.
pub fn reduce_rows(op: RedOp, x: &[f32], len: usize, out: &mut [f32]) {
    if len == 0 {
        out.fill(reduce(op, &[]));
        return;
    }
    for (o, row) in out.iter_mut().zip(x.chunks_exact(len)) {
        *o = reduce(op, row);
    }
}

/// `out = x` permuted: output axis `d` is input axis `perm[d]`.
pub fn transpose(x: &[f32], shape: &[usize], perm: &[usize], out: &mut [f32]) {
    if out.is_empty() {
        return;
    }
    let nd = shape.len();
    if nd == 0 {
        out[0] = x[0];
        return;
    }
    let st = strides(shape);
    let oshape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let ist: Vec<usize> = perm.iter().map(|&p| st[p]).collect();
    let inner = oshape[nd - 1];
    let istep = ist[nd - 1];
    let mut rows = Rows::new(&oshape, [&ist]);
    for row in out.chunks_exact_mut(inner) {
        let mut p = rows.off[0];
        for o in row.iter_mut() {
            *o = x[p];
            p += istep;
        }
        rows.step();
    }
}

/// `y += alpha * x`, vectorised.
#[inline]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let body = n - n % 4;
    let av = F32x4::splat(alpha);
    let mut i = 0;
    while i < body {
        F32x4::load(&y[i..])
            .add(av.mul(F32x4::load(&x[i..])))
            .store(&mut y[i..]);
        i += 4;
    }
    for j in body..n {
        y[j] += alpha * x[j];
    }
}

/// `out (m×n) = a (m×k) · b (k×n)`, all row-major.
pub fn gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    if n == 0 {
        return;
    }
    for (i, orow) in out.chunks_exact_mut(n).enumerate().take(m) {
        let arow = &a[i * k..(i + 1) * k];
        for (p, &av) in arow.iter().enumerate() {
            axpy(av, &b[p * n..(p + 1) * n], orow);
        }
    }
}

/// `out` (shape `oshape`) = `x` (shape `xshape`) repeated along broadcast axes.
pub fn broadcast_copy(x: &[f32], xshape: &[usize], oshape: &[usize], out: &mut [f32]) {
    if out.is_empty() {
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
    for row in out.chunks_exact_mut(inner) {
        let off = rows.off[0];
        if step == 0 {
            row.fill(x[off]);
        } else {
            row.copy_from_slice(&x[off..off + inner]);
        }
        rows.step();
    }
}

/// Compare every vector path with the scalar oracle on values that include
/// NaN, ±0 and ±inf; returns the number of mismatching elements. Natively the
/// vector type is emulated, so this is meaningful mainly inside the `.wasm`,
/// where the test suite calls it through the FFI.
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
    let mk = |seed: &mut u64| -> Vec<f32> {
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
    let a = mk(&mut seed);
    let b = mk(&mut seed);
    let same = |x: f32, y: f32| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    let count = |v: &[f32], s: &[f32]| v.iter().zip(s).filter(|(x, y)| !same(**x, **y)).count();
    let mut bad = 0;
    let (mut v, mut s) = (vec![0.0; n], vec![0.0; n]);
    for op in BinOp::ALL {
        vector::binary_same(op, &a, &b, &mut v);
        scalar::binary_same(op, &a, &b, &mut s);
        bad += count(&v, &s);
        for rev in [false, true] {
            vector::binary_scalar(op, &a, -0.75, rev, &mut v);
            scalar::binary_scalar(op, &a, -0.75, rev, &mut s);
            bad += count(&v, &s);
        }
    }
    for op in UnOp::ALL {
        vector::unary(op, &a, &mut v);
        scalar::unary(op, &a, &mut s);
        bad += count(&v, &s);
    }
    // axpy inside gemm against a plain triple loop.
    let (m, k, nn) = (3usize, 5usize, 7usize);
    let mut c = vec![0.0; m * nn];
    gemm(m, nn, k, &a[..m * k], &b[..k * nn], &mut c);
    for i in 0..m {
        for j in 0..nn {
            let mut acc = 0f32;
            for p in 0..k {
                acc += a[i * k + p] * b[p * nn + j];
            }
            if !same(acc, c[i * nn + j]) {
                bad += 1;
            }
        }
    }
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

    #[test]
    fn vector_paths_match_scalar() {
        for n in [0usize, 1, 3, 4, 5, 17, 64, 1001] {
            let a = data(n, 1);
            let b = data(n, 2);
            for op in BinOp::ALL {
                let mut v = vec![0.0; n];
                let mut s = vec![0.0; n];
                vector::binary_same(op, &a, &b, &mut v);
                scalar::binary_same(op, &a, &b, &mut s);
                assert!(same(&v, &s), "{op:?} n={n}");
                for rev in [false, true] {
                    vector::binary_scalar(op, &a, 1.5, rev, &mut v);
                    scalar::binary_scalar(op, &a, 1.5, rev, &mut s);
                    assert!(same(&v, &s), "{op:?} scalar rev={rev} n={n}");
                }
            }
            for op in UnOp::ALL {
                let mut v = vec![0.0; n];
                let mut s = vec![0.0; n];
                vector::unary(op, &a, &mut v);
                scalar::unary(op, &a, &mut s);
                assert!(same(&v, &s), "{op:?} n={n}");
            }
        }
    }

    #[test]
    fn selftest_passes_natively() {
        assert_eq!(selftest(), 0);
    }

    #[test]
    fn hand_computed_values() {
        let mut o = vec![0.0; 4];
        vector::binary_same(BinOp::Mul, &[1., 2., 3., 4.], &[2., 2., 2., 2.], &mut o);
        assert_eq!(o, vec![2., 4., 6., 8.]);
        vector::binary_scalar(BinOp::Sub, &[1., 2., 3., 4.], 10.0, true, &mut o);
        assert_eq!(o, vec![9., 8., 7., 6.]);
        vector::unary(UnOp::Relu, &[-1., 2., -0.5, 0.], &mut o);
        assert_eq!(o, vec![0., 2., 0., 0.]);
        assert!(scalar::fmax(f32::NAN, 1.0).is_nan());
        assert_eq!(UnOp::Sign.apply(-3.0), -1.0);
    }

    #[test]
    fn broadcasting_kernel() {
        // [2,3] + [3]
        let mut o = vec![0.0; 6];
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
        let mut o3 = vec![0.0; 3];
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
        // Large sums stay accurate (float64 accumulation).
        let big = vec![0.1f32; 1_000_000];
        assert!((sum(&big) - 100_000.0).abs() < 1.0);
    }

    #[test]
    fn transpose_and_gemm() {
        // [2,3] -> [3,2]
        let mut o = vec![0.0; 6];
        transpose(&[1., 2., 3., 4., 5., 6.], &[2, 3], &[1, 0], &mut o);
        assert_eq!(o, vec![1., 4., 2., 5., 3., 6.]);
        // 3-d: [2,2,2] with perm [2,0,1]
        let x: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let mut o8 = vec![0.0; 8];
        transpose(&x, &[2, 2, 2], &[2, 0, 1], &mut o8);
        assert_eq!(o8, vec![0., 2., 4., 6., 1., 3., 5., 7.]);
        // [2,3]·[3,2]
        let mut c = vec![0.0; 4];
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
}
