//! Pooling and normalisation kernels (`nd.Pooling`, `nd.BatchNorm`): pure
//! functions over slices, generic over float32/float64.
//!
//! Pooling follows MXNet 1.9.1's CPU kernels (`src/operator/nn/pool.h`,
//! `pool_max_2d_nchw_cpu`, `pool_sum_2d_nchw_cpu`, `unpool_*`): a window is
//! clipped to the input, max starts from the type's lowest value and takes
//! the first strictly larger element (so NaN never wins and the first of
//! equal maxima is the one its gradient goes to, as `unpool_max` finds it),
//! and the average divides by the window clipped to the *padded* input
//! (`count_include_pad`) or to the input itself. 1-D pooling is 2-D pooling
//! with a height of one.

use std::ops::{Add, Div, Mul, Sub};

use crate::dtype::Elem;

/// float32 / float64 arithmetic the kernels need.
pub trait Float:
    Elem + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Div<Output = Self>
{
    const LOWEST: Self;
}
impl Float for f32 {
    const LOWEST: f32 = f32::MIN;
}
impl Float for f64 {
    const LOWEST: f64 = f64::MIN;
}

/// No input element in the window (a window wholly in the padding): the
/// output is the lowest value and no gradient flows (MXNet's `max_idx = -1`).
pub const NO_ARGMAX: usize = usize::MAX;

/// Pooling geometry, resolved (global pooling, defaults, 1-D as 2-D).
#[derive(Clone, Debug, PartialEq)]
pub struct Geom {
    /// Batch × channels: planes pooled independently.
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
}

impl Geom {
    /// Input rows `[h0, h1)` of output row `oy`, clipped to the input, and
    /// the number of rows of the window inside the padded input.
    #[inline]
    fn rows(&self, oy: usize) -> (usize, usize, usize) {
        let start = (oy * self.sh) as isize - self.ph as isize;
        let end_padded = (start + self.kh as isize).min((self.h + self.ph) as isize);
        let padded = (end_padded - start).max(0) as usize;
        let lo = start.max(0) as usize;
        let hi = (start + self.kh as isize).clamp(0, self.h as isize) as usize;
        (lo.min(hi), hi, padded)
    }
    #[inline]
    fn cols(&self, ox: usize) -> (usize, usize, usize) {
        let start = (ox * self.sw) as isize - self.pw as isize;
        let end_padded = (start + self.kw as isize).min((self.w + self.pw) as isize);
        let padded = (end_padded - start).max(0) as usize;
        let lo = start.max(0) as usize;
        let hi = (start + self.kw as isize).clamp(0, self.w as isize) as usize;
        (lo.min(hi), hi, padded)
    }
}

/// Max pooling: appends the maxima to `out` and their flat input indices
/// (or `NO_ARGMAX`) to `arg`.
pub fn max_pool<T: Float>(x: &[T], g: &Geom, out: &mut Vec<T>, arg: &mut Vec<usize>) {
    let plane = g.h * g.w;
    let cols: Vec<(usize, usize, usize)> = (0..g.ow).map(|ox| g.cols(ox)).collect();
    for p in 0..g.planes {
        let base = p * plane;
        let xp = &x[base..base + plane];
        for oy in 0..g.oh {
            let (h0, h1, _) = g.rows(oy);
            for &(w0, w1, _) in &cols {
                let mut m = T::LOWEST;
                let mut at = NO_ARGMAX;
                for y in h0..h1 {
                    let row = &xp[y * g.w..y * g.w + g.w];
                    for (xx, &v) in row[w0..w1].iter().enumerate() {
                        if v > m {
                            m = v;
                            at = y * g.w + w0 + xx;
                        }
                    }
                }
                out.push(m);
                arg.push(if at == NO_ARGMAX { at } else { base + at });
            }
        }
    }
}

/// Sum / average pooling (`avg` divides by the window size MXNet uses).
pub fn sum_pool<T: Float>(x: &[T], g: &Geom, avg: bool, include_pad: bool, out: &mut Vec<T>) {
    let plane = g.h * g.w;
    let cols: Vec<(usize, usize, usize)> = (0..g.ow).map(|ox| g.cols(ox)).collect();
    for p in 0..g.planes {
        let xp = &x[p * plane..p * plane + plane];
        for oy in 0..g.oh {
            let (h0, h1, hp) = g.rows(oy);
            for &(w0, w1, wp) in &cols {
                let mut s = T::ZERO;
                for y in h0..h1 {
                    for &v in &xp[y * g.w + w0..y * g.w + w1] {
                        s = s + v;
                    }
                }
                out.push(if avg {
                    let n = if include_pad {
                        hp * wp
                    } else {
                        (h1 - h0) * (w1 - w0)
                    };
                    // An empty window sums to zero (MXNet divides nothing).
                    if n == 0 {
                        T::ZERO
                    } else {
                        s / T::from_f64(n as f64)
                    }
                } else {
                    s
                });
            }
        }
    }
}

/// The adjoint of `sum_pool`: each output gradient spread over its window
/// (`dx` must hold zeros of the input's size).
pub fn sum_unpool<T: Float>(dy: &[T], g: &Geom, avg: bool, include_pad: bool, dx: &mut [T]) {
    let plane = g.h * g.w;
    let oplane = g.oh * g.ow;
    let cols: Vec<(usize, usize, usize)> = (0..g.ow).map(|ox| g.cols(ox)).collect();
    for p in 0..g.planes {
        let dxp = &mut dx[p * plane..p * plane + plane];
        let dyp = &dy[p * oplane..p * oplane + oplane];
        for oy in 0..g.oh {
            let (h0, h1, hp) = g.rows(oy);
            for (ox, &(w0, w1, wp)) in cols.iter().enumerate() {
                let mut d = dyp[oy * g.ow + ox];
                if avg {
                    let n = if include_pad {
                        hp * wp
                    } else {
                        (h1 - h0) * (w1 - w0)
                    };
                    if n == 0 {
                        continue;
                    }
                    d = d / T::from_f64(n as f64);
                }
                for y in h0..h1 {
                    for v in &mut dxp[y * g.w + w0..y * g.w + w1] {
                        *v = *v + d;
                    }
                }
            }
        }
    }
}

/// BatchNorm's layout: `outer` blocks of `channels` runs of `inner`
/// contiguous elements (axis `a`: outer = ∏ shape[..a], inner = ∏ shape[a+1..]).
#[derive(Clone, Copy, Debug)]
pub struct ChannelLayout {
    pub outer: usize,
    pub channels: usize,
    pub inner: usize,
}

/// Per-channel mean and biased variance in one pass: sums of `x - s` and
/// `(x - s)²` in float64 around a shift `s` (the channel's first element),
/// which keeps the one-pass formula free of the cancellation it has around
/// zero when |mean| ≫ std.
pub fn channel_stats<T: Float>(x: &[T], l: ChannelLayout, mean: &mut [f64], var: &mut [f64]) {
    let n = (l.outer * l.inner) as f64;
    for c in 0..l.channels {
        let shift = if l.outer * l.inner > 0 {
            x[c * l.inner].to_f64()
        } else {
            0.0
        };
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for o in 0..l.outer {
            let run = &x[(o * l.channels + c) * l.inner..][..l.inner];
            // Four partial sums per run: independent chains the compiler
            // can keep in vector registers.
            let mut a = [0.0f64; 4];
            let mut b = [0.0f64; 4];
            let mut chunks = run.chunks_exact(4);
            for ch in &mut chunks {
                for k in 0..4 {
                    let d = ch[k].to_f64() - shift;
                    a[k] += d;
                    b[k] += d * d;
                }
            }
            for &v in chunks.remainder() {
                let d = v.to_f64() - shift;
                a[0] += d;
                b[0] += d * d;
            }
            s1 += (a[0] + a[1]) + (a[2] + a[3]);
            s2 += (b[0] + b[1]) + (b[2] + b[3]);
        }
        let m = s1 / n;
        mean[c] = shift + m;
        var[c] = (s2 / n - m * m).max(0.0);
    }
}

/// `out = x · scale[c] + shift[c]`, appended.
pub fn channel_affine<T: Float>(
    x: &[T],
    l: ChannelLayout,
    scale: &[T],
    shift: &[T],
    out: &mut Vec<T>,
) {
    for o in 0..l.outer {
        for c in 0..l.channels {
            let run = &x[(o * l.channels + c) * l.inner..][..l.inner];
            let (a, b) = (scale[c], shift[c]);
            out.extend(run.iter().map(|&v| v * a + b));
        }
    }
}

/// Per channel: Σ dy and Σ dy·(x − mean), in float64.
pub fn channel_grad_sums<T: Float>(
    x: &[T],
    dy: &[T],
    l: ChannelLayout,
    mean: &[f64],
    sum_dy: &mut [f64],
    sum_dyxc: &mut [f64],
) {
    for c in 0..l.channels {
        let m = mean[c];
        let (mut s, mut d) = (0.0f64, 0.0f64);
        for o in 0..l.outer {
            let at = (o * l.channels + c) * l.inner;
            let (xr, gr) = (&x[at..at + l.inner], &dy[at..at + l.inner]);
            for (&xv, &gv) in xr.iter().zip(gr) {
                let g = gv.to_f64();
                s += g;
                d += g * (xv.to_f64() - m);
            }
        }
        sum_dy[c] = s;
        sum_dyxc[c] = d;
    }
}

/// `dx = dy·a[c] + x·b[c] + k[c]` appended: BatchNorm's data gradient with
/// its per-channel coefficients folded (one pass).
pub fn channel_affine2<T: Float>(
    x: &[T],
    dy: &[T],
    l: ChannelLayout,
    a: &[T],
    b: &[T],
    k: &[T],
    out: &mut Vec<T>,
) {
    for o in 0..l.outer {
        for c in 0..l.channels {
            let at = (o * l.channels + c) * l.inner;
            let (xr, gr) = (&x[at..at + l.inner], &dy[at..at + l.inner]);
            let (a, b, k) = (a[c], b[c], k[c]);
            out.extend(xr.iter().zip(gr).map(|(&xv, &gv)| gv * a + xv * b + k));
        }
    }
}
