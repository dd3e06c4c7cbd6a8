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
/// Argmax positions are `u32` (the op refuses inputs of 2³² elements or
/// more): half the memory of `usize` natively, a vector lane on wasm.
pub const NO_ARGMAX: u32 = u32::MAX;

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
    /// 2×2 windows at stride 2 without padding, all inside the input: they
    /// do not overlap (`max_unpool_2x2_f32`).
    pub fn is_2x2_tiling(&self) -> bool {
        (self.kh, self.kw, self.sh, self.sw, self.ph, self.pw) == (2, 2, 2, 2, 0, 0)
            && 2 * self.oh <= self.h
            && 2 * self.ow <= self.w
    }
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
pub fn max_pool<T: Float>(x: &[T], g: &Geom, out: &mut Vec<T>, arg: &mut Vec<u32>) {
    max_pool_scalar::<T, true>(x, g, out, arg);
}

/// Max pooling's values alone (`arg` not computed): what an unrecorded call
/// needs. The same comparisons as `max_pool`, so the same values.
pub fn max_pool_values<T: Float>(x: &[T], g: &Geom, out: &mut Vec<T>) {
    max_pool_scalar::<T, false>(x, g, out, &mut Vec::new());
}

/// `ARG`: also append the argmax positions to `arg` (untouched otherwise).
fn max_pool_scalar<T: Float, const ARG: bool>(
    x: &[T],
    g: &Geom,
    out: &mut Vec<T>,
    arg: &mut Vec<u32>,
) {
    let plane = g.h * g.w;
    for p in 0..g.planes {
        let base = p * plane;
        let xp = &x[base..base + plane];
        for oy in 0..g.oh {
            let (h0, h1, _) = g.rows(oy);
            max_row::<T, ARG>(xp, base, g, h0, h1, 0, g.ow, out, arg);
        }
    }
}

/// Outputs `[o0, o1)` of one output row whose window rows are `[h0, h1)`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn max_row<T: Float, const ARG: bool>(
    xp: &[T],
    base: usize,
    g: &Geom,
    h0: usize,
    h1: usize,
    o0: usize,
    o1: usize,
    out: &mut Vec<T>,
    arg: &mut Vec<u32>,
) {
    // Column windows are recomputed (a few integer ops) rather than tabled:
    // a table as long as the output width would be an allocation that grows
    // with the data and could not fail cleanly.
    for (w0, w1, _) in (o0..o1).map(|ox| g.cols(ox)) {
        let mut m = T::LOWEST;
        let mut at = usize::MAX;
        for y in h0..h1 {
            let row = &xp[y * g.w..y * g.w + g.w];
            for (xx, &v) in row[w0..w1].iter().enumerate() {
                if v > m {
                    m = v;
                    if ARG {
                        at = y * g.w + w0 + xx;
                    }
                }
            }
        }
        out.push(m);
        if ARG {
            arg.push(if at == usize::MAX {
                NO_ARGMAX
            } else {
                (base + at) as u32
            });
        }
    }
}

/// Appends four lanes of maxima (and, with `ARG`, their indices): one
/// capacity check per vector rather than one per element.
#[inline(always)]
fn put4<const ARG: bool>(
    out: &mut Vec<f32>,
    arg: &mut Vec<u32>,
    m: super::simd::F32x4,
    at: super::simd::F32x4,
) {
    out.extend_from_slice(&m.to_array());
    if ARG {
        arg.extend_from_slice(&at.to_array().map(f32::to_bits));
    }
}

/// float32 max pooling with strides 1 or 2 along the row: four outputs of
/// a row at a time in vector lanes (a window's candidates for the four are
/// one load, or two loads and an even/odd shuffle at stride 2), the running
/// maximum and its index kept with compare + select in the scalar kernel's
/// order (first strictly greater, row-major), so values and argmax are the
/// scalar kernel's exactly. Edge columns, and other strides, run scalar.
pub fn max_pool_f32(x: &[f32], g: &Geom, out: &mut Vec<f32>, arg: &mut Vec<u32>) {
    max_pool_f32_impl::<true>(x, g, out, arg);
}

/// `max_pool_f32`'s values alone, without the index compare + selects
/// (`pmax` is the scalar kernel's `v > m` test, so the values are the same).
pub fn max_pool_f32_values(x: &[f32], g: &Geom, out: &mut Vec<f32>) {
    max_pool_f32_impl::<false>(x, g, out, &mut Vec::new());
}

fn max_pool_f32_impl<const ARG: bool>(x: &[f32], g: &Geom, out: &mut Vec<f32>, arg: &mut Vec<u32>) {
    use super::simd::{F32x4, I32x4};
    if max_pool_f32_stream::<ARG>(x, g, out, arg) {
        return;
    }
    if !(g.sw == 1 || g.sw == 2) || g.ow < 4 {
        return max_pool_scalar::<f32, ARG>(x, g, out, arg);
    }
    let plane = g.h * g.w;
    // Interior outputs: the whole window inside the row, and every vector
    // load too. A tap's four candidates are one load at stride 1; at stride
    // 2 the even lanes of two loads from the tap (kx = 0) or the odd lanes
    // of two loads from the element before it (kx ≥ 1), so that no load
    // reaches past the block's last window (for kw ≥ 2): the scalar outputs
    // left at a row's end cost as much as all its vector ones.
    let need = if g.sw == 1 {
        g.kw + 3
    } else {
        (g.kw + 6).max(8)
    };
    let valid = |ox: usize| {
        let s0 = ox * g.sw - g.pw;
        s0 + 3 * g.sw + g.kw <= g.w && s0 + need <= g.w
    };
    // 2 wide at stride 2 (LeNet's and most CNNs' pooling): both taps from
    // the same two loads.
    let pair = g.kw == 2 && g.sw == 2;
    let first = g.pw.div_ceil(g.sw).min(g.ow);
    let mut last = first;
    while last + 4 <= g.ow && valid(last) {
        last += 4;
    }
    // Outputs [last, tail) come from one more block, overlapping the last
    // one (the same lanes computed again give the same values), so a row
    // whose interior is not a multiple of four still runs vector.
    let back = (last.saturating_sub(3).max(first)..last)
        .rev()
        .find(|&ox| ox + 4 <= g.ow && valid(ox));
    let tail = back.map_or(last, |ox| ox + 4);
    let tap = |row: &[f32], i0: usize, kx: usize| -> F32x4 {
        if g.sw == 1 {
            F32x4::load(&row[i0 + kx..i0 + kx + 4])
        } else if kx == 0 {
            F32x4::even(
                F32x4::load(&row[i0..i0 + 4]),
                F32x4::load(&row[i0 + 4..i0 + 8]),
            )
        } else {
            let i = i0 + kx - 1;
            F32x4::odd(F32x4::load(&row[i..i + 4]), F32x4::load(&row[i + 4..i + 8]))
        }
    };
    // [0, s, 2s, 3s]: each lane's offset from the first output's window
    // (the bits loaded as a float vector: loads copy bits exactly).
    let sw = g.sw as u32;
    let offs = F32x4::load(&[0, sw, 2 * sw, 3 * sw].map(f32::from_bits)).to_bits();
    for p in 0..g.planes {
        let base = p * plane;
        let xp = &x[base..base + plane];
        for oy in 0..g.oh {
            let (h0, h1, _) = g.rows(oy);
            max_row::<f32, ARG>(xp, base, g, h0, h1, 0, first, out, arg);
            let mut ox = first;
            // Two blocks of four outputs at once: two independent
            // dependency chains (the running max is a chain of pmax).
            while ox + 8 <= last {
                let s0 = ox * g.sw - g.pw;
                let (mut m0, mut m1) = (F32x4::splat(f32::MIN), F32x4::splat(f32::MIN));
                let none = I32x4::splat(-1).to_f32_bits();
                let (mut a0, mut a1) = (none, none);
                for y in h0..h1 {
                    let row = &xp[y * g.w..y * g.w + g.w];
                    let ybase = (base + y * g.w + s0) as i32;
                    if pair {
                        let r = &row[s0..s0 + 16];
                        let (l0, l1) = (F32x4::load(&r[0..4]), F32x4::load(&r[4..8]));
                        let (l2, l3) = (F32x4::load(&r[8..12]), F32x4::load(&r[12..16]));
                        let taps = [
                            (F32x4::even(l0, l1), F32x4::even(l2, l3)),
                            (F32x4::odd(l0, l1), F32x4::odd(l2, l3)),
                        ];
                        for (kx, (v0, v1)) in taps.into_iter().enumerate() {
                            if ARG {
                                let idx0 = I32x4::splat(ybase + kx as i32).add(offs);
                                let idx1 = idx0.add(I32x4::splat(8));
                                a0 = F32x4::select(v0.gt(m0), idx0.to_f32_bits(), a0);
                                a1 = F32x4::select(v1.gt(m1), idx1.to_f32_bits(), a1);
                            }
                            m0 = m0.pmax(v0);
                            m1 = m1.pmax(v1);
                        }
                        continue;
                    }
                    for kx in 0..g.kw {
                        let (v0, v1) = (tap(row, s0, kx), tap(row, s0 + 4 * g.sw, kx));
                        if ARG {
                            let idx0 = I32x4::splat(ybase + kx as i32).add(offs);
                            let idx1 = idx0.add(I32x4::splat(4 * g.sw as i32));
                            // v > m, and pmax(m, v) = m < v ? v : m: the same
                            // test, so the max and its index agree (NaN never
                            // wins, the first of equal values stays).
                            a0 = F32x4::select(v0.gt(m0), idx0.to_f32_bits(), a0);
                            a1 = F32x4::select(v1.gt(m1), idx1.to_f32_bits(), a1);
                        }
                        m0 = m0.pmax(v0);
                        m1 = m1.pmax(v1);
                    }
                }
                put4::<ARG>(out, arg, m0, a0);
                put4::<ARG>(out, arg, m1, a1);
                ox += 8;
            }
            let starts = (ox..last)
                .step_by(4)
                .map(|o| (o, 0))
                .chain(back.map(|o| (o, last - o)));
            for (ox, skip) in starts {
                let s0 = ox * g.sw - g.pw;
                let mut m = F32x4::splat(f32::MIN);
                let mut at = I32x4::splat(-1).to_f32_bits();
                for y in h0..h1 {
                    let row = &xp[y * g.w..y * g.w + g.w];
                    let ybase = (base + y * g.w + s0) as i32;
                    if pair {
                        let (l0, l1) = (
                            F32x4::load(&row[s0..s0 + 4]),
                            F32x4::load(&row[s0 + 4..s0 + 8]),
                        );
                        for (kx, v) in [F32x4::even(l0, l1), F32x4::odd(l0, l1)]
                            .into_iter()
                            .enumerate()
                        {
                            if ARG {
                                let idx = I32x4::splat(ybase + kx as i32).add(offs);
                                at = F32x4::select(v.gt(m), idx.to_f32_bits(), at);
                            }
                            m = m.pmax(v);
                        }
                        continue;
                    }
                    for kx in 0..g.kw {
                        let v = tap(row, s0, kx);
                        if ARG {
                            let idx = I32x4::splat(ybase + kx as i32).add(offs);
                            at = F32x4::select(v.gt(m), idx.to_f32_bits(), at);
                        }
                        m = m.pmax(v);
                    }
                }
                out.extend_from_slice(&m.to_array()[skip..]);
                if ARG {
                    arg.extend_from_slice(&at.to_array().map(f32::to_bits)[skip..]);
                }
            }
            max_row::<f32, ARG>(xp, base, g, h0, h1, tail, g.ow, out, arg);
        }
    }
}

// ---- float32 max pooling at stride 2 as a stream of row blocks ----
//
// The windows most networks use, 2 wide pad 0 (LeNet, VGG) and 3 wide pad 1
// (the ResNet stem), at stride 2 along the row, with up to three window rows.
// A row is read once, eight elements (two loads) per four outputs: the even
// and odd lanes of the eight are the windows' first two taps, and a 3-wide
// window's third (its element before, `2j − 1`) is the previous block's odd
// lanes shifted in, so the left pad is the stream's initial -inf and no
// column needs a scalar edge case. Elements right of the row come from a
// copy padded with -inf. Padding (-inf) never wins against the running
// maximum, which starts at the lowest finite value as the scalar kernel's.
//
// Order: the taps are folded in the scalar kernel's row-major order with its
// test (`v > m`, `pmax`), except that a window row may be folded on its own
// from the lowest value and combined with the running maximum afterwards
// (with the same test): for values that are not NaN "first strictly
// greater" is associative, so that is the scalar fold exactly, to the bit
// (including which of +0 / -0 wins) and to the argmax; NaN never enters a
// fold because each fold starts from a number. This lets a 3-row window at
// row stride 2 (the stem's) reuse the fold of the row it shares with the
// previous output row instead of reading that row again.

use super::simd::{F32x4, I32x4};
use core::mem::MaybeUninit;

/// A fold's running maximum for four outputs and its indices (`ARG`).
#[derive(Clone, Copy)]
struct Fold {
    m: F32x4,
    at: F32x4,
}

/// Folds one window row's taps into `f`: `l0`, `l1` are the eight elements
/// from the block's first column, `prev` (3-wide windows) the element
/// before each output's even one; `idx` the flat indices of the even lanes.
#[inline(always)]
fn fold_row<const K3: bool, const ARG: bool>(
    f: &mut Fold,
    prev: F32x4,
    l0: F32x4,
    l1: F32x4,
    idx: I32x4,
) {
    let (e, o) = (F32x4::even(l0, l1), F32x4::odd(l0, l1));
    let mut tap = |v: F32x4, d: i32| {
        if ARG {
            let i = idx.add(I32x4::splat(d)).to_f32_bits();
            f.at = F32x4::select(v.gt(f.m), i, f.at);
        }
        f.m = f.m.pmax(v);
    };
    if K3 {
        tap(prev, -1);
    }
    tap(e, 0);
    tap(o, 1);
}

/// `f` followed by a fold `g` made on its own (see the order note above).
#[inline(always)]
fn combine<const ARG: bool>(f: &mut Fold, g: Fold) {
    if ARG {
        f.at = F32x4::select(g.m.gt(f.m), g.at, f.at);
    }
    f.m = f.m.pmax(g.m);
}

/// The start of every fold (see `row_body`).
static LOWEST: [f32; 4] = [f32::MIN; 4];

/// Blocks of a row's folds kept for the next output row, on the stack:
/// rows of up to 260 outputs (65 blocks, or 64 and the overlapping last).
const CACHE_BLOCKS: usize = 66;

/// The fold of the block at column `c` (index `b` in `cache`) from each
/// window row's `(prev, l0, l1)`, as `taps(r)` gives them (see `row_body`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block_fold<
    const R: usize,
    const K3: bool,
    const ARG: bool,
    const USE: bool,
    const SAVE: bool,
>(
    b: usize,
    c: usize,
    idx0: &[I32x4; R],
    lo: F32x4,
    cache: &mut [Fold],
    mut taps: impl FnMut(usize) -> (F32x4, F32x4, F32x4),
) -> Fold {
    let none = I32x4::splat(-1).to_f32_bits();
    let mut f = if USE {
        cache[b]
    } else {
        Fold { m: lo, at: none }
    };
    for (r, i0) in idx0.iter().enumerate().skip(USE as usize) {
        let (prev, l0, l1) = taps(r);
        let idx = i0.add(I32x4::splat(c as i32));
        if SAVE && r == R - 1 {
            let mut g = Fold { m: lo, at: none };
            fold_row::<K3, ARG>(&mut g, prev, l0, l1, idx);
            combine::<ARG>(&mut f, g);
            if ARG {
                cache[b] = g;
            } else {
                cache[b].m = g.m;
            }
        } else {
            fold_row::<K3, ARG>(&mut f, prev, l0, l1, idx);
        }
    }
    f
}

/// One output row from its `R` window rows, which start at flat indices
/// `starts` of `x` and are `w` long: `dst.len()` maxima into `dst` (and
/// their indices into `adst` with `ARG`). `USE`: the first row's folds are
/// `cache`'s, not computed; `SAVE`: the last row's folds go to `cache`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn row_body<const R: usize, const K3: bool, const ARG: bool, const USE: bool, const SAVE: bool>(
    x: &[f32],
    starts: [usize; R],
    w: usize,
    cache: &mut [Fold; CACHE_BLOCKS],
    dst: &mut [MaybeUninit<f32>],
    adst: &mut [MaybeUninit<u32>],
) {
    let ow = dst.len();
    // The lowest float, loaded through an opaque reference: as a constant
    // V8 rebuilds it at every use in the loop, and as a splat or an
    // argument LLVM orders `pmax(lo, v)`'s compare the other way round and
    // emits a compare + bitselect (four instructions, not one).
    let lo = F32x4::load(core::hint::black_box(&LOWEST));
    let rows = starts.map(|s| &x[s..s + w]);
    // (The lane offsets loaded as a float vector: loads copy bits exactly.)
    let lanes = F32x4::load(&[0u32, 2, 4, 6].map(f32::from_bits)).to_bits();
    let idx0 = starts.map(|s| I32x4::splat(s as i32).add(lanes));
    let put = |o: usize, f: Fold, dst: &mut [MaybeUninit<f32>], adst: &mut [MaybeUninit<u32>]| {
        f.m.store_uninit(&mut dst[o..o + 4]);
        if ARG {
            f.at.store_bits_uninit(&mut adst[o..o + 4]);
        }
    };
    // Blocks whose eight elements and four outputs are all in the row.
    let full = (w / 8).min(ow / 4);
    let mut carry = [F32x4::splat(f32::NEG_INFINITY); R];
    // The full blocks' part of the cache, sliced once so that indexing it
    // by a block number below `full` needs no check (untouched, and maybe
    // shorter than `full`, when neither `USE` nor `SAVE`).
    let (cf, _) = cache.split_at_mut(if USE || SAVE { full } else { 0 });
    // The full blocks by pointer: the slice checks (one per row and one
    // for the output, per block) were a fifth of the loop's instructions.
    let rp = rows.map(<[f32]>::as_ptr);
    let dp = dst.as_mut_ptr().cast::<f32>();
    let mut body = |b: usize, cache: &mut [Fold]| {
        let c = 8 * b;
        let taps = |r: usize| {
            // SAFETY: b < full ≤ w / 8, so c + 8 ≤ w: the eight floats
            // [c, c + 8) are inside row r (a slice of w floats of `x`).
            let (l0, l1) = unsafe {
                (
                    F32x4::load_ptr(rp[r].add(c)),
                    F32x4::load_ptr(rp[r].add(c + 4)),
                )
            };
            let odd = F32x4::odd(l0, l1);
            let prev = F32x4::shift_in(carry[r], odd);
            carry[r] = odd;
            (prev, l0, l1)
        };
        let f = block_fold::<R, K3, ARG, USE, SAVE>(b, c, &idx0, lo, cache, taps);
        // SAFETY: b < full ≤ ow / 4, so 4b + 4 ≤ ow = dst.len(): four
        // slots of `dst` (writing a float into `MaybeUninit<f32>` slots).
        unsafe { f.m.store_ptr(dp.add(4 * b)) };
        if ARG {
            f.at.store_bits_uninit(&mut adst[4 * b..4 * b + 4]);
        }
    };
    // Two blocks per iteration: V8 checks for interrupts on every loop
    // back-edge, and reloads what it spilled.
    let mut b = 0;
    while b + 2 <= full {
        body(b, cf);
        body(b + 1, cf);
        b += 2;
    }
    if b < full {
        body(b, cf);
    }
    if 4 * full == ow {
        return;
    }
    // The last four outputs again, from loads inside the row, when the row
    // holds their windows (2·ow ≤ w) and, for 3-wide windows, the element
    // before (ow ≥ 5): the overlap recomputes equal lanes.
    if 2 * ow <= w && ow >= 4 + K3 as usize {
        let o = ow - 4;
        let c = 2 * o;
        let taps = |r: usize| {
            let v = &rows[r][c..c + 8];
            let (l0, l1) = (F32x4::load(&v[..4]), F32x4::load(&v[4..]));
            let prev = if K3 {
                let u = &rows[r][c - 2..c + 6];
                F32x4::odd(F32x4::load(&u[..4]), F32x4::load(&u[4..]))
            } else {
                l0
            };
            (prev, l0, l1)
        };
        let f = block_fold::<R, K3, ARG, USE, SAVE>(full, c, &idx0, lo, cache, taps);
        put(o, f, dst, adst);
        return;
    }
    // Otherwise the rest from copies of the row's end padded with -inf
    // (outside the row, as the scalar kernel's clipped windows ignore it).
    let mut b = full;
    while 4 * b < ow {
        let c = 8 * b;
        let taps = |r: usize| {
            let mut buf = [f32::NEG_INFINITY; 8];
            if c < w {
                let n = (w - c).min(8);
                buf[..n].copy_from_slice(&rows[r][c..c + n]);
            }
            let (l0, l1) = (F32x4::load(&buf[..4]), F32x4::load(&buf[4..]));
            let odd = F32x4::odd(l0, l1);
            let prev = F32x4::shift_in(carry[r], odd);
            carry[r] = odd;
            (prev, l0, l1)
        };
        let f = block_fold::<R, K3, ARG, USE, SAVE>(b, c, &idx0, lo, cache, taps);
        let n = (ow - 4 * b).min(4);
        let (m, at) = (f.m.to_array(), f.at.to_array());
        for k in 0..n {
            dst[4 * b + k].write(m[k]);
            if ARG {
                adst[4 * b + k].write(at[k].to_bits());
            }
        }
        b += 1;
    }
}

/// `nrows` output rows of one plane whose window rows are alike (`R` of
/// them, the first row's starting at `starts`, each next output row's `step`
/// elements further on): `row_body` for each, outputs `ow` apart in `dst`
/// (and `adst` with `ARG`).
///
/// Not inlined: each instance is a small wasm function of its own. Inlined
/// into the op's export (a function of a quarter megabyte), V8 keeps the
/// loop's carries and pointers in stack slots and rebuilds its constants
/// at every iteration. A run of rows per call rather than one row: the
/// call and its dispatch were a sixth of a 56-wide row's time.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn stream_rows<
    const R: usize,
    const K3: bool,
    const ARG: bool,
    const USE: bool,
    const SAVE: bool,
>(
    x: &[f32],
    starts: [usize; R],
    step: usize,
    w: usize,
    cache: &mut [Fold; CACHE_BLOCKS],
    dst: &mut [MaybeUninit<f32>],
    adst: &mut [MaybeUninit<u32>],
    ow: usize,
) {
    for (i, d) in dst.chunks_exact_mut(ow).enumerate() {
        let a = if ARG {
            &mut adst[i * ow..(i + 1) * ow]
        } else {
            &mut adst[..0]
        };
        let s = starts.map(|s| s + i * step);
        row_body::<R, K3, ARG, USE, SAVE>(x, s, w, cache, d, a);
    }
}

/// `max_pool_f32_stream` over the planes from `p0` whose outputs `dst`
/// (and `adst` with `ARG`) hold: every slot written.
fn stream_planes<const ARG: bool>(
    x: &[f32],
    g: &Geom,
    k3: bool,
    p0: usize,
    dst: &mut [MaybeUninit<f32>],
    adst: &mut [MaybeUninit<u32>],
) {
    if g.oh * g.ow == 0 {
        return;
    }
    let plane = g.h * g.w;
    let (w, ow) = (g.w, g.ow);
    let none = I32x4::splat(-1).to_f32_bits();
    let mut cache = [Fold {
        m: F32x4::splat(f32::MIN),
        at: none,
    }; CACHE_BLOCKS];
    // Output rows sharing a window row with the next (3 rows at stride 2)
    // keep that row's folds, when a row's blocks fit the cache.
    let reuse = g.kh == g.sh + 1 && ow.div_ceil(4) < CACHE_BLOCKS;
    for pi in 0..dst.len() / (g.oh * ow) {
        let p = p0 + pi;
        // The input row whose folds `cache` holds.
        let mut cached = usize::MAX;
        let mut oy = 0;
        while oy < g.oh {
            let (h0, h1, _) = g.rows(oy);
            let r = h1 - h0;
            let use_cache = reuse && cached == h0;
            // The run of output rows alike: as many window rows, each
            // `sh` rows below the last, with the same use of the cache
            // (after the first, a row uses it when its window starts on
            // the last row of the window before).
            let mut n = 1;
            while r > 0 && oy + n < g.oh {
                let (a0, a1, _) = g.rows(oy + n);
                if a1 - a0 != r || a0 != h0 + n * g.sh || use_cache != (reuse && r == g.sh + 1) {
                    break;
                }
                n += 1;
            }
            let at = (pi * g.oh + oy) * ow;
            let d = &mut dst[at..at + n * ow];
            let a = if ARG {
                &mut adst[at..at + n * ow]
            } else {
                &mut adst[..0]
            };
            let s = |r: usize| p * plane + (h0 + r) * w;
            let c = &mut cache;
            let step = g.sh * w;
            macro_rules! run {
                ($r:literal, $k3:literal, $use:literal, $save:literal, $starts:expr) => {
                    stream_rows::<$r, $k3, ARG, $use, $save>(x, $starts, step, w, c, d, a, ow)
                };
            }
            match (r, k3, reuse, use_cache) {
                (3, false, true, true) => run!(3, false, true, true, [s(0), s(1), s(2)]),
                (3, true, true, true) => run!(3, true, true, true, [s(0), s(1), s(2)]),
                (1, false, true, _) => run!(1, false, false, true, [s(0)]),
                (2, false, true, _) => run!(2, false, false, true, [s(0), s(1)]),
                (3, false, true, _) => run!(3, false, false, true, [s(0), s(1), s(2)]),
                (1, true, true, _) => run!(1, true, false, true, [s(0)]),
                (2, true, true, _) => run!(2, true, false, true, [s(0), s(1)]),
                (3, true, true, _) => run!(3, true, false, true, [s(0), s(1), s(2)]),
                (1, false, false, _) => run!(1, false, false, false, [s(0)]),
                (2, false, false, _) => run!(2, false, false, false, [s(0), s(1)]),
                (3, false, false, _) => run!(3, false, false, false, [s(0), s(1), s(2)]),
                (1, true, false, _) => run!(1, true, false, false, [s(0)]),
                (2, true, false, _) => run!(2, true, false, false, [s(0), s(1)]),
                (3, true, false, _) => run!(3, true, false, false, [s(0), s(1), s(2)]),
                // A window wholly in the padding (pad ≥ kernel).
                _ => {
                    d.fill(MaybeUninit::new(f32::MIN));
                    a.fill(MaybeUninit::new(NO_ARGMAX));
                }
            }
            let last = h0 + (n - 1) * g.sh;
            cached = if r > 0 { last + r - 1 } else { usize::MAX };
            oy += n;
        }
    }
}

/// Max pooling by `row_body` when the geometry has a stream path and
/// `out` (and `arg` with `ARG`) have room for every output; false (nothing
/// written) otherwise.
fn max_pool_f32_stream<const ARG: bool>(
    x: &[f32],
    g: &Geom,
    out: &mut Vec<f32>,
    arg: &mut Vec<u32>,
) -> bool {
    let k3 = match (g.kw, g.pw) {
        (2, 0) => false,
        (3, 1) => true,
        _ => return false,
    };
    let Some(n) = g.planes.checked_mul(g.oh).and_then(|v| v.checked_mul(g.ow)) else {
        return false;
    };
    if g.sw != 2
        || g.kh > 3
        || g.ow == 0
        || out.capacity() - out.len() < n
        || (ARG && arg.capacity() - arg.len() < n)
        // Flat indices are i32 lanes (the op refuses 2³²-element inputs;
        // this path also leaves 2³¹ and more to the scalar kernel).
        || x.len() > i32::MAX as usize
    {
        return false;
    }
    let (len0, alen0) = (out.len(), arg.len());
    let dst = &mut out.spare_capacity_mut()[..n];
    let mut no_arg: [MaybeUninit<u32>; 0] = [];
    let adst: &mut [MaybeUninit<u32>] = if ARG {
        &mut arg.spare_capacity_mut()[..n]
    } else {
        &mut no_arg
    };
    // Planes are independent: in the threads build, runs of planes go to
    // the pool (each output written by one thread, so the results are the
    // same whatever the number of threads).
    let oplane = g.oh * g.ow;
    let threads = if x.len() >= super::vector::PAR_MIN && g.planes > 1 {
        crate::threads::threads()
    } else {
        1
    };
    if threads <= 1 {
        stream_planes::<ARG>(x, g, k3, 0, dst, adst);
    } else {
        // A few runs per thread, so that a thread the OS delays holds up
        // less of the job.
        let per = g.planes.div_ceil(threads * 4);
        let mut parts = Vec::with_capacity(g.planes.div_ceil(per));
        let (mut d, mut a) = (dst, adst);
        let mut p0 = 0;
        while p0 < g.planes {
            let k = per.min(g.planes - p0) * oplane;
            let (dh, dt) = d.split_at_mut(k);
            let (ah, at) = a.split_at_mut(if ARG { k } else { 0 });
            parts.push((p0, dh, ah));
            (d, a, p0) = (dt, at, p0 + per);
        }
        crate::threads::for_each(parts, threads, |_, (p0, d, a)| {
            stream_planes::<ARG>(x, g, k3, p0, d, a)
        });
    }
    // SAFETY: the parts (or the one call) cover all n slots of `dst` (and
    // of `adst` with `ARG`), and `stream_planes` writes every output row of
    // its planes: by `row_body` (its full blocks, then the overlapping
    // last block or the padded tail blocks, which reach ow) or by the fill.
    // Both vectors had room for n more.
    unsafe {
        out.set_len(len0 + n);
        if ARG {
            arg.set_len(alen0 + n);
        }
    }
    true
}
/// Max pooling's gradient for 2×2 windows at stride 2 without padding, the
/// windows inside the input (`2·oh ≤ h`, `2·ow ≤ w`: "valid", LeNet's):
/// the windows do not overlap, so every input element is written once,
/// `dy` where it is its window's argmax and zero elsewhere, with no
/// zero-fill pass before the scatter. `dy + 0` is written, as the scatter
/// into zeros computes it (a `-0` gradient lands as `+0`). `arg` must be
/// what `max_pool_f32` found for this geometry (each index inside its own
/// window, or `NO_ARGMAX`): an index elsewhere is dropped, not checked.
/// Appends `planes·h·w` elements to `dx`; false (nothing written) when the
/// geometry is another or `dx` lacks the room.
pub fn max_unpool_2x2_f32(dy: &[f32], arg: &[u32], g: &Geom, dx: &mut Vec<f32>) -> bool {
    let plane = g.h * g.w;
    let oplane = g.oh * g.ow;
    let (Some(n), Some(on)) = (g.planes.checked_mul(plane), g.planes.checked_mul(oplane)) else {
        return false;
    };
    if !g.is_2x2_tiling()
        || dy.len() != on
        || arg.len() != on
        || n > i32::MAX as usize
        || dx.capacity() - dx.len() < n
    {
        return false;
    }
    let len0 = dx.len();
    let out = &mut dx.spare_capacity_mut()[..n];
    let (w, ow) = (g.w, g.ow);
    let zero = F32x4::splat(0.0);
    let lanes = F32x4::load(&[0u32, 2, 4, 6].map(f32::from_bits)).to_bits();
    let (one, down) = (I32x4::splat(1), I32x4::splat(w as i32));
    let blocks = ow / 4;
    for p in 0..g.planes {
        let op = &mut out[p * plane..(p + 1) * plane];
        for oy in 0..g.oh {
            let k0 = p * oplane + oy * ow;
            let (d, a) = (&dy[k0..k0 + ow], &arg[k0..k0 + ow]);
            let top = p * plane + 2 * oy * w;
            let (ra, rb) = op[2 * oy * w..(2 * oy + 2) * w].split_at_mut(w);
            // Four outputs (two rows of eight inputs) at a time, the last
            // four again when `ow` is not a multiple of four (their elements
            // get the same values twice).
            let block = |j: usize, ra: &mut [MaybeUninit<f32>], rb: &mut [MaybeUninit<f32>]| {
                let dv = F32x4::load(&d[j..j + 4]).add(zero);
                let av = I32x4::load_u32(&a[j..j + 4]);
                let ia = I32x4::splat((top + 2 * j) as i32).add(lanes);
                let ib = ia.add(down);
                let at = |i: I32x4| F32x4::select(av.eq_mask(i), dv, zero);
                let (ea, oa, eb, ob) = (at(ia), at(ia.add(one)), at(ib), at(ib.add(one)));
                F32x4::zip_lo(ea, oa).store_uninit(&mut ra[2 * j..2 * j + 4]);
                F32x4::zip_hi(ea, oa).store_uninit(&mut ra[2 * j + 4..2 * j + 8]);
                F32x4::zip_lo(eb, ob).store_uninit(&mut rb[2 * j..2 * j + 4]);
                F32x4::zip_hi(eb, ob).store_uninit(&mut rb[2 * j + 4..2 * j + 8]);
            };
            for b in 0..blocks {
                block(4 * b, ra, rb);
            }
            if ow % 4 != 0 && ow >= 4 {
                block(ow - 4, ra, rb);
            } else {
                for j in 4 * blocks..ow {
                    let v = d[j] + 0.0;
                    for c in 0..2 {
                        let i = (top + 2 * j + c) as u32;
                        ra[2 * j + c].write(if a[j] == i { v } else { 0.0 });
                        rb[2 * j + c].write(if a[j] == i + w as u32 { v } else { 0.0 });
                    }
                }
            }
            // Columns right of the last window.
            ra[2 * ow..].fill(MaybeUninit::new(0.0));
            rb[2 * ow..].fill(MaybeUninit::new(0.0));
        }
        // Rows below the last window.
        op[2 * g.oh * w..].fill(MaybeUninit::new(0.0));
    }
    // SAFETY: each plane's rows [0, 2·oh) were written whole (the window
    // columns by the blocks and the tail loop, the rest by the fills), and
    // its rows [2·oh, h) by the last fill: all n slots, which `dx` had room
    // for.
    unsafe { dx.set_len(len0 + n) };
    true
}

/// Sum / average pooling (`avg` divides by the window size MXNet uses).
pub fn sum_pool<T: Float>(x: &[T], g: &Geom, avg: bool, include_pad: bool, out: &mut Vec<T>) {
    let plane = g.h * g.w;
    // Recomputed per row, not tabled (see `max_pool`).
    let cols = || (0..g.ow).map(|ox| g.cols(ox));
    for p in 0..g.planes {
        let xp = &x[p * plane..p * plane + plane];
        for oy in 0..g.oh {
            let (h0, h1, hp) = g.rows(oy);
            for (w0, w1, wp) in cols() {
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
    // Recomputed per row, not tabled (see `max_pool`).
    let cols = || (0..g.ow).map(|ox| g.cols(ox));
    for p in 0..g.planes {
        let dxp = &mut dx[p * plane..p * plane + plane];
        let dyp = &dy[p * oplane..p * oplane + oplane];
        for oy in 0..g.oh {
            let (h0, h1, hp) = g.rows(oy);
            for (ox, (w0, w1, wp)) in cols().enumerate() {
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

/// LayerNorm's forward over the middle axis of `l` (outer × channels ×
/// inner, normalising the `channels` values of each (outer, inner) pair):
/// per row the shifted one-pass statistics in float64, then
/// `(x − mean)·invstd·gamma[c] + beta[c]` appended.
pub fn layer_norm_rows<T: Float>(
    x: &[T],
    l: ChannelLayout,
    gamma: &[T],
    beta: &[T],
    eps: f64,
    out: &mut Vec<T>,
) -> crate::error::Result<()> {
    let (c, inner) = (l.channels, l.inner);
    if c == 0 {
        return Ok(());
    }
    let n = c as f64;
    // Per-row statistics of one outer block (inner rows, strided by inner).
    let mut mean = crate::storage::alloc_zeroed::<f64>(inner)?;
    let mut invstd = crate::storage::alloc_zeroed::<f64>(inner)?;
    for o in 0..l.outer {
        let blk = &x[o * c * inner..(o + 1) * c * inner];
        for i in 0..inner {
            let shift = blk[i].to_f64();
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for ch in 0..c {
                let d = blk[ch * inner + i].to_f64() - shift;
                s1 += d;
                s2 += d * d;
            }
            let m = s1 / n;
            mean[i] = shift + m;
            invstd[i] = 1.0 / ((s2 / n - m * m).max(0.0) + eps).sqrt();
        }
        for ch in 0..c {
            let (g, b) = (gamma[ch].to_f64(), beta[ch].to_f64());
            let row = &blk[ch * inner..(ch + 1) * inner];
            out.extend(row.iter().enumerate().map(|(i, &v)| {
                let s = invstd[i] * g;
                T::from_f64(v.to_f64() * s + (b - mean[i] * s))
            }));
        }
    }
    Ok(())
}

// ---- float32 vector paths of the BatchNorm kernels ----
//
// Sixteen elements per loop iteration (four vectors): V8 puts an interrupt
// check on every back-edge, as costly as a one-vector body.

/// `channel_stats` for float32: the sums of `x − s` and `(x − s)²` in four
/// float32 vector accumulators per block of 64 elements, each block's
/// partial sums added into float64 (float32 speed; the error of a block is
/// a few float32 ulps of its own sums, not of the whole channel's).
pub fn channel_stats_f32(x: &[f32], l: ChannelLayout, mean: &mut [f64], var: &mut [f64]) {
    use super::simd::F32x4;
    let n = (l.outer * l.inner) as f64;
    for c in 0..l.channels {
        let shift = if l.outer * l.inner > 0 {
            x[c * l.inner]
        } else {
            0.0
        };
        let sv = F32x4::splat(shift);
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for o in 0..l.outer {
            let run = &x[(o * l.channels + c) * l.inner..][..l.inner];
            let mut blocks = run.chunks_exact(64);
            for b in &mut blocks {
                let mut a = [F32x4::splat(0.0); 4];
                let mut q = [F32x4::splat(0.0); 4];
                for k in 0..4 {
                    for j in 0..4 {
                        let d = F32x4::load(&b[16 * k + 4 * j..]).sub(sv);
                        a[j] = a[j].add(d);
                        q[j] = q[j].add(d.mul(d));
                    }
                }
                let (a, q) = (
                    a[0].add(a[1]).add(a[2].add(a[3])),
                    q[0].add(q[1]).add(q[2].add(q[3])),
                );
                s1 += a.to_array().iter().map(|&v| v as f64).sum::<f64>();
                s2 += q.to_array().iter().map(|&v| v as f64).sum::<f64>();
            }
            for &v in blocks.remainder() {
                let d = v as f64 - shift as f64;
                s1 += d;
                s2 += d * d;
            }
        }
        let m = s1 / n;
        mean[c] = shift as f64 + m;
        var[c] = (s2 / n - m * m).max(0.0);
    }
}

/// `channel_grad_sums` for float32 (blocks of 64 as in `channel_stats_f32`,
/// around the channel's float32 mean).
pub fn channel_grad_sums_f32(
    x: &[f32],
    dy: &[f32],
    l: ChannelLayout,
    mean: &[f64],
    sum_dy: &mut [f64],
    sum_dyxc: &mut [f64],
) {
    use super::simd::F32x4;
    for c in 0..l.channels {
        let m32 = mean[c] as f32;
        // x − m32 is exact where it matters (Sterbenz) and m32's own error
        // is corrected below: Σdy(x − m) = Σdy(x − m32) − (m − m32)·Σdy.
        let mv = F32x4::splat(m32);
        let (mut s, mut d) = (0.0f64, 0.0f64);
        for o in 0..l.outer {
            let at = (o * l.channels + c) * l.inner;
            let (xr, gr) = (&x[at..at + l.inner], &dy[at..at + l.inner]);
            let full = l.inner / 64 * 64;
            for b in (0..full).step_by(64) {
                let mut a = [F32x4::splat(0.0); 4];
                let mut q = [F32x4::splat(0.0); 4];
                for k in 0..4 {
                    for j in 0..4 {
                        let i = b + 16 * k + 4 * j;
                        let g = F32x4::load(&gr[i..]);
                        a[j] = a[j].add(g);
                        q[j] = q[j].add(g.mul(F32x4::load(&xr[i..]).sub(mv)));
                    }
                }
                let (a, q) = (
                    a[0].add(a[1]).add(a[2].add(a[3])),
                    q[0].add(q[1]).add(q[2].add(q[3])),
                );
                s += a.to_array().iter().map(|&v| v as f64).sum::<f64>();
                d += q.to_array().iter().map(|&v| v as f64).sum::<f64>();
            }
            for i in full..l.inner {
                let g = gr[i] as f64;
                s += g;
                d += g * (xr[i] as f64 - m32 as f64);
            }
        }
        sum_dy[c] = s;
        sum_dyxc[c] = d - (mean[c] - m32 as f64) * s;
    }
}

/// `out = x · a + b` over one run, appended (every slot written once).
#[inline(always)]
fn affine_run(out: &mut Vec<f32>, xr: &[f32], gr: Option<&[f32]>, a: f32, b: f32, k: f32) {
    use super::simd::F32x4;
    let n = xr.len();
    let start = out.len();
    let dst = &mut out.spare_capacity_mut()[..n];
    let (av, bv, kv) = (F32x4::splat(a), F32x4::splat(b), F32x4::splat(k));
    let full = n / 16 * 16;
    for i in (0..full).step_by(16) {
        for j in 0..4 {
            let at = i + 4 * j;
            let xv = F32x4::load(&xr[at..]);
            let v = match gr {
                // dy·a + x·b + k
                Some(g) => F32x4::load(&g[at..]).mul(av).add(xv.mul(bv)).add(kv),
                // x·a + b
                None => xv.mul(av).add(bv),
            };
            v.store_uninit(&mut dst[at..at + 4]);
        }
    }
    for i in full..n {
        let v = match gr {
            Some(g) => g[i] * a + xr[i] * b + k,
            None => xr[i] * a + b,
        };
        dst[i].write(v);
    }
    // SAFETY: the loops above wrote every one of the n slots of `dst`
    // (the vector loop [0, full) in 16s, the tail [full, n)), and the
    // caller reserved them (`dst` is n slots of spare capacity).
    unsafe { out.set_len(start + n) };
}

/// `channel_affine` for float32 (`out` must have room for `x.len()` more).
pub fn channel_affine_f32(
    x: &[f32],
    l: ChannelLayout,
    scale: &[f32],
    shift: &[f32],
    out: &mut Vec<f32>,
) {
    assert!(out.capacity() - out.len() >= x.len());
    for o in 0..l.outer {
        for c in 0..l.channels {
            let run = &x[(o * l.channels + c) * l.inner..][..l.inner];
            affine_run(out, run, None, scale[c], shift[c], 0.0);
        }
    }
}

/// `channel_affine2` for float32 (`out` must have room for `x.len()` more).
#[allow(clippy::too_many_arguments)]
pub fn channel_affine2_f32(
    x: &[f32],
    dy: &[f32],
    l: ChannelLayout,
    a: &[f32],
    b: &[f32],
    k: &[f32],
    out: &mut Vec<f32>,
) {
    assert!(out.capacity() - out.len() >= x.len());
    for o in 0..l.outer {
        for c in 0..l.channels {
            let at = (o * l.channels + c) * l.inner;
            let (xr, gr) = (&x[at..at + l.inner], &dy[at..at + l.inner]);
            affine_run(out, xr, Some(gr), a[c], b[c], k[c]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector max pooling against the scalar one (the oracle): values
    /// and argmax identical, ties (few distinct values) and NaN included,
    /// over strides 1 and 2, kernels 1-4, pads 0-2 and widths around the
    /// vector block sizes.
    #[test]
    fn vector_max_pool_is_the_scalar_one() {
        let mut seed = 12345u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let mut checked = 0;
        for w in [4usize, 7, 8, 9, 13, 16, 17, 21, 24, 33, 56] {
            for kw in 1..=4usize {
                for sw in 1..=3usize {
                    for pw in 0..=2usize {
                        if kw > w + 2 * pw || pw >= kw {
                            continue;
                        }
                        // Rows as the ResNet stem's (3/2 pad 1) or LeNet's (2/2).
                        let (h, kh, sh, ph) = if (w + kw) % 2 == 0 {
                            (5, 3, 2, 1)
                        } else {
                            (6, 2, 2, 0)
                        };
                        let ow = 1 + (w + 2 * pw - kw) / sw;
                        let oh = 1 + (h + 2 * ph - kh) / sh;
                        let g = Geom {
                            planes: 2,
                            h,
                            w,
                            oh,
                            ow,
                            kh,
                            kw,
                            sh,
                            sw,
                            ph,
                            pw,
                        };
                        let x: Vec<f32> = (0..2 * h * w)
                            .map(|_| match next() % 9 {
                                0 => f32::NAN,
                                r => (r % 4) as f32 - 1.5,
                            })
                            .collect();
                        let (mut a, mut ia, mut b, mut ib) = (vec![], vec![], vec![], vec![]);
                        max_pool(&x, &g, &mut a, &mut ia);
                        max_pool_f32(&x, &g, &mut b, &mut ib);
                        assert_eq!(ia, ib, "{g:?}");
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&a), bits(&b), "{g:?}");
                        // The values-only kernels (unrecorded calls) too.
                        let (mut c, mut d) = (vec![], vec![]);
                        max_pool_f32_values(&x, &g, &mut c);
                        max_pool_values(&x, &g, &mut d);
                        assert_eq!(bits(&a), bits(&c), "{g:?}");
                        assert_eq!(bits(&a), bits(&d), "{g:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    /// The stride-2 stream path (outputs written into reserved capacity,
    /// as the op allocates them) against the scalar kernel: 2-wide pad 0
    /// and 3-wide pad 1 windows, 1-3 window rows with any row stride and
    /// pad, "valid" and "full" conventions, 1-D rows, widths 1-40 and 56.
    /// The data are few distinct values with ties of +0 and -0 (which one
    /// wins shows the fold order), NaN, -inf and the lowest float.
    #[test]
    fn stream_max_pool_is_the_scalar_one() {
        let mut seed = 777u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let out_len = |n: usize, p: usize, k: usize, s: usize, full: bool| {
            let span = n + 2 * p - k;
            1 + if full { span.div_ceil(s) } else { span / s }
        };
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        let mut checked = 0;
        // (600: rows too long for the fold cache.)
        let widths = (1..=40).chain([56, 250, 600]);
        for w in widths {
            for (kw, pw) in [(2usize, 0usize), (3, 1)] {
                if kw > w + 2 * pw {
                    continue;
                }
                // (h, kh, sh, ph): 1-D, LeNet's 2/2, the stem's 3/2 pad 1,
                // and other row windows.
                let rowg = [
                    (1, 1, 1, 0),
                    (6, 2, 2, 0),
                    (7, 2, 2, 0),
                    (5, 3, 2, 1),
                    (6, 3, 2, 1),
                    (4, 3, 1, 2),
                    (5, 2, 3, 1),
                    (3, 1, 2, 0),
                ];
                for (h, kh, sh, ph) in rowg {
                    for full in [false, true] {
                        let g = Geom {
                            planes: 3,
                            h,
                            w,
                            oh: out_len(h, ph, kh, sh, full),
                            ow: out_len(w, pw, kw, 2, full),
                            kh,
                            kw,
                            sh,
                            sw: 2,
                            ph,
                            pw,
                        };
                        let x: Vec<f32> = (0..3 * h * w)
                            .map(|_| match next() % 16 {
                                0 => f32::NAN,
                                1 => f32::NEG_INFINITY,
                                2 => f32::MIN,
                                3 | 4 => 0.0,
                                5 | 6 => -0.0,
                                r => (r % 3) as f32 - 1.0,
                            })
                            .collect();
                        let n = 3 * g.oh * g.ow;
                        let (mut a, mut ia) = (vec![], vec![]);
                        max_pool(&x, &g, &mut a, &mut ia);
                        let (mut b, mut ib) = (Vec::with_capacity(n), Vec::with_capacity(n));
                        assert!(
                            max_pool_f32_stream::<true>(&x, &g, &mut b, &mut ib),
                            "{g:?}"
                        );
                        assert_eq!(ia, ib, "{g:?}");
                        assert_eq!(bits(&a), bits(&b), "{g:?}");
                        let mut c = Vec::with_capacity(n);
                        max_pool_f32_values(&x, &g, &mut c);
                        assert_eq!(bits(&a), bits(&c), "{g:?}");
                        // What the op calls (routes to the stream path).
                        let (mut d, mut id) = (Vec::with_capacity(n), Vec::with_capacity(n));
                        max_pool_f32(&x, &g, &mut d, &mut id);
                        assert_eq!(ia, id, "{g:?}");
                        assert_eq!(bits(&a), bits(&d), "{g:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 600, "{checked}");
    }

    /// The zero-free 2×2/2 scatter against zeros + scatter-add (the op's
    /// general path) bit for bit: odd and even sizes (columns and rows left
    /// of no window), widths around the 4-output blocks, windows of NaN
    /// alone (no argmax), and gradients with -0 and NaN.
    #[test]
    fn unpool_2x2_is_the_scatter() {
        let mut seed = 4242u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        let mut checked = 0;
        for h in [2usize, 3, 4, 7, 10, 24] {
            for w in [2usize, 3, 8, 9, 10, 11, 16, 17, 24, 26] {
                let g = Geom {
                    planes: 3,
                    h,
                    w,
                    oh: h / 2,
                    ow: w / 2,
                    kh: 2,
                    kw: 2,
                    sh: 2,
                    sw: 2,
                    ph: 0,
                    pw: 0,
                };
                assert!(g.is_2x2_tiling());
                let x: Vec<f32> = (0..3 * h * w)
                    .map(|_| match next() % 6 {
                        0 => f32::NAN,
                        r => (r % 3) as f32,
                    })
                    .collect();
                let (mut y, mut arg) = (vec![], vec![]);
                max_pool(&x, &g, &mut y, &mut arg);
                let dy: Vec<f32> = (0..arg.len())
                    .map(|_| match next() % 5 {
                        0 => -0.0,
                        1 => f32::NAN,
                        r => r as f32 - 2.5,
                    })
                    .collect();
                let mut want = vec![0.0f32; x.len()];
                for (&i, &d) in arg.iter().zip(&dy) {
                    if i != NO_ARGMAX {
                        want[i as usize] += d;
                    }
                }
                let mut got = Vec::with_capacity(x.len());
                assert!(max_unpool_2x2_f32(&dy, &arg, &g, &mut got), "{g:?}");
                assert_eq!(bits(&want), bits(&got), "{g:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 60);
        // Overlapping or padded windows are not this path's.
        let mut g = Geom {
            planes: 1,
            h: 4,
            w: 4,
            oh: 2,
            ow: 2,
            kh: 2,
            kw: 2,
            sh: 2,
            sw: 2,
            ph: 0,
            pw: 0,
        };
        g.pw = 1;
        g.ow = 3;
        assert!(!max_unpool_2x2_f32(
            &[0.0; 6],
            &[0; 6],
            &g,
            &mut Vec::with_capacity(16)
        ));
    }

    /// The pool changes who pools a plane, never how: with helper threads
    /// the stream path's values and argmax are the scalar kernel's.
    #[test]
    fn stream_max_pool_on_threads() {
        crate::threads::spawn_native_helpers(2);
        crate::threads::set_helpers(2);
        let (planes, h, w) = (90, 56, 56);
        assert!(planes * h * w >= super::super::vector::PAR_MIN);
        let mut seed = 99u32;
        let x: Vec<f32> = (0..planes * h * w)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                (seed % 7) as f32 - 3.0
            })
            .collect();
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        for (k, p) in [(2usize, 0usize), (3, 1)] {
            let o = 1 + (h + 2 * p - k) / 2;
            let g = Geom {
                planes,
                h,
                w,
                oh: o,
                ow: o,
                kh: k,
                kw: k,
                sh: 2,
                sw: 2,
                ph: p,
                pw: p,
            };
            let n = planes * o * o;
            let (mut a, mut ia) = (vec![], vec![]);
            max_pool(&x, &g, &mut a, &mut ia);
            let (mut b, mut ib) = (Vec::with_capacity(n), Vec::with_capacity(n));
            max_pool_f32(&x, &g, &mut b, &mut ib);
            assert_eq!(ia, ib, "{g:?}");
            assert_eq!(bits(&a), bits(&b), "{g:?}");
            let mut c = Vec::with_capacity(n);
            max_pool_f32_values(&x, &g, &mut c);
            assert_eq!(bits(&a), bits(&c), "{g:?}");
        }
    }
}
