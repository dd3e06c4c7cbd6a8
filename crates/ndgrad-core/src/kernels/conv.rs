//! Convolution kernels (NCHW; a 1-D convolution is the 2-D one with a
//! height of 1): the forward product, its data gradient (the transposed
//! convolution, `col2im`) and its weight gradient (a correlation of the input
//! with the output gradient). All three are matrix products through
//! `Elem::gemm` (the packed SIMD GEMM for float32) over the patches of one
//! image and one group at a time, so the patch matrix (`im2col`) never holds
//! more than one image's patches.
//!
//! Shapes follow MXNet 1.9.1 (`src/operator/nn/convolution-inl.h`,
//! `deconvolution-inl.h`): data `(N, C, H, W)`, weight `(F, C/G, KH, KW)`,
//! output `(N, F, OH, OW)` with `OH = (H + 2·PH − (DH·(KH−1)+1)) / SH + 1`.

use crate::dtype::Elem;
use crate::error::Result;
use crate::storage::alloc_empty;

/// The geometry of one convolution: the data side `x` (`n, c, h, w`), the
/// filter side `y` (`f, oh, ow`) and how they are tied. A transposed
/// convolution uses the same geometry with the roles of `x` and `y`
/// swapped (its input is `y`, its output `x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geom {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub f: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub groups: usize,
}

impl Geom {
    /// Channels of `x` per group.
    pub fn cg(&self) -> usize {
        self.c / self.groups
    }
    /// Filters per group.
    pub fn fg(&self) -> usize {
        self.f / self.groups
    }
    /// Rows of a patch matrix: one per (channel of the group, kernel tap).
    pub fn kk(&self) -> usize {
        self.cg() * self.kh * self.kw
    }
    pub fn x_len(&self) -> usize {
        self.n * self.c * self.h * self.w
    }
    pub fn y_len(&self) -> usize {
        self.n * self.f * self.oh * self.ow
    }
    pub fn w_len(&self) -> usize {
        self.f * self.kk()
    }
    /// A 1×1 kernel with unit stride and no padding: the patch matrix of an
    /// image is the image itself (`OH·OW = H·W`), no copy needed.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
}

/// The output positions `o` in `0..len_out` whose input position
/// `o·s + off` falls inside `0..len_in`, as a range `lo..hi`.
fn valid(off: isize, s: usize, len_in: usize, len_out: usize) -> (usize, usize) {
    let s = s as isize;
    // o·s + off >= 0  ⇔  o >= ceil(-off / s)
    let lo = if off >= 0 { 0 } else { (-off + s - 1) / s };
    // o·s + off < len_in  ⇔  o < ceil((len_in - off) / s)
    let lim = len_in as isize - off;
    let hi = if lim <= 0 { 0 } else { (lim + s - 1) / s };
    let lo = (lo as usize).min(len_out);
    let hi = (hi as usize).clamp(lo, len_out);
    (lo, hi)
}

/// Append the patch matrix of one image's group (`x`: `cg` channels of
/// `h×w`) to `cols`: `cg·kh·kw` rows of `oh·ow` values, padding as zeros.
/// Every value is written once (no zero-fill first).
fn im2col<T: Elem>(g: &Geom, x: &[T], cols: &mut Vec<T>) {
    let (ohw, hw) = (g.oh * g.ow, g.h * g.w);
    for ci in 0..g.cg() {
        let plane = &x[ci * hw..(ci + 1) * hw];
        for ki in 0..g.kh {
            let offy = (ki * g.dh) as isize - g.ph as isize;
            let (ylo, yhi) = valid(offy, g.sh, g.h, g.oh);
            for kj in 0..g.kw {
                let offx = (kj * g.dw) as isize - g.pw as isize;
                let (xlo, xhi) = valid(offx, g.sw, g.w, g.ow);
                let start = cols.len();
                cols.extend(core::iter::repeat_n(T::ZERO, ylo * g.ow));
                for oy in ylo..yhi {
                    let iy = (oy * g.sh) as isize + offy;
                    let row = &plane[iy as usize * g.w..][..g.w];
                    cols.extend(core::iter::repeat_n(T::ZERO, xlo));
                    if xhi > xlo {
                        let ix0 = ((xlo * g.sw) as isize + offx) as usize;
                        if g.sw == 1 {
                            cols.extend_from_slice(&row[ix0..ix0 + (xhi - xlo)]);
                        } else {
                            cols.extend(row[ix0..].iter().step_by(g.sw).take(xhi - xlo));
                        }
                    }
                    cols.extend(core::iter::repeat_n(T::ZERO, g.ow - xhi));
                }
                cols.extend(core::iter::repeat_n(T::ZERO, (g.oh - yhi) * g.ow));
                debug_assert_eq!(cols.len() - start, ohw);
            }
        }
    }
}

/// Add the patch matrix `cols` (`cg·kh·kw` rows of `oh·ow`) back into the
/// image group `dx` (`cg` channels of `h×w`): the adjoint of `im2col`.
fn col2im<T: Elem>(g: &Geom, cols: &[T], dx: &mut [T]) {
    let (ohw, hw) = (g.oh * g.ow, g.h * g.w);
    let mut r = 0;
    for ci in 0..g.cg() {
        let plane = &mut dx[ci * hw..(ci + 1) * hw];
        for ki in 0..g.kh {
            let offy = (ki * g.dh) as isize - g.ph as isize;
            let (ylo, yhi) = valid(offy, g.sh, g.h, g.oh);
            for kj in 0..g.kw {
                let offx = (kj * g.dw) as isize - g.pw as isize;
                let (xlo, xhi) = valid(offx, g.sw, g.w, g.ow);
                let src = &cols[r * ohw..(r + 1) * ohw];
                r += 1;
                if xhi <= xlo {
                    continue;
                }
                for oy in ylo..yhi {
                    let iy = ((oy * g.sh) as isize + offy) as usize;
                    let ix0 = ((xlo * g.sw) as isize + offx) as usize;
                    let s = &src[oy * g.ow + xlo..oy * g.ow + xhi];
                    let row = &mut plane[iy * g.w..(iy + 1) * g.w];
                    for (q, &v) in s.iter().enumerate() {
                        let d = &mut row[ix0 + q * g.sw];
                        *d = T::bin(crate::kernels::BinOp::Add, *d, v);
                    }
                }
            }
        }
    }
}

/// `y = conv(x, w) (+ bias)`, appended to `out` (`n·f·oh·ow` values).
pub fn forward<T: Elem>(
    g: &Geom,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    out: &mut Vec<T>,
) -> Result<()> {
    let (ohw, hw, kk, cg, fg) = (g.oh * g.ow, g.h * g.w, g.kk(), g.cg(), g.fg());
    let mut cols = if g.pointwise() {
        Vec::new()
    } else {
        alloc_empty::<T>(kk * ohw)?
    };
    let start = out.len();
    for ni in 0..g.n {
        for gi in 0..g.groups {
            let xg = &x[(ni * g.c + gi * cg) * hw..][..cg * hw];
            let wg = &w[gi * fg * kk..][..fg * kk];
            if g.pointwise() {
                T::gemm(fg, ohw, kk, wg, xg, out);
            } else {
                cols.clear();
                im2col(g, xg, &mut cols);
                T::gemm(fg, ohw, kk, wg, &cols, out);
            }
        }
    }
    if let Some(b) = bias {
        for (plane, &bv) in out[start..]
            .chunks_exact_mut(ohw)
            .zip(b.iter().cycle().take(g.n * g.f))
        {
            for v in plane {
                *v = T::bin(crate::kernels::BinOp::Add, *v, bv);
            }
        }
    }
    Ok(())
}

/// `dx = convᵀ(dy, w)`: the gradient of `conv` w.r.t. its data (and the
/// forward of a transposed convolution), appended to `out` (`n·c·h·w`).
pub fn backward_data<T: Elem>(g: &Geom, dy: &[T], w: &[T], out: &mut Vec<T>) -> Result<()> {
    let (ohw, hw, kk, cg, fg) = (g.oh * g.ow, g.h * g.w, g.kk(), g.cg(), g.fg());
    // wᵀ per group: (kk × fg), so that dcols = wᵀ · dy is a plain product.
    let mut wt = alloc_empty::<T>(g.w_len())?;
    for gi in 0..g.groups {
        T::transpose2d(&w[gi * fg * kk..][..fg * kk], fg, kk, &mut wt);
    }
    let start = out.len();
    if g.pointwise() {
        // The patch matrix is the image: the product is dx itself.
        for ni in 0..g.n {
            for gi in 0..g.groups {
                let dyg = &dy[(ni * g.f + gi * fg) * ohw..][..fg * ohw];
                T::gemm(kk, ohw, fg, &wt[gi * kk * fg..][..kk * fg], dyg, out);
            }
        }
        return Ok(());
    }
    // col2im accumulates (taps overlap), so dx starts as zeros.
    out.extend(core::iter::repeat_n(T::ZERO, g.x_len()));
    let dx = &mut out[start..];
    let mut dcols = alloc_empty::<T>(kk * ohw)?;
    for ni in 0..g.n {
        for gi in 0..g.groups {
            let dyg = &dy[(ni * g.f + gi * fg) * ohw..][..fg * ohw];
            dcols.clear();
            T::gemm(kk, ohw, fg, &wt[gi * kk * fg..][..kk * fg], dyg, &mut dcols);
            col2im(g, &dcols, &mut dx[(ni * g.c + gi * cg) * hw..][..cg * hw]);
        }
    }
    Ok(())
}

/// `dw = Σₙ dyₙ · patches(xₙ)ᵀ`: the gradient of `conv` w.r.t. its weight,
/// appended to `out` (`f·cg·kh·kw`).
pub fn backward_weight<T: Elem>(g: &Geom, x: &[T], dy: &[T], out: &mut Vec<T>) -> Result<()> {
    let (ohw, hw, kk, cg, fg) = (g.oh * g.ow, g.h * g.w, g.kk(), g.cg(), g.fg());
    let mut cols = alloc_empty::<T>(kk * ohw)?;
    let mut colst = alloc_empty::<T>(kk * ohw)?;
    let mut part = alloc_empty::<T>(fg * kk)?;
    for gi in 0..g.groups {
        let start = out.len();
        for ni in 0..g.n {
            let xg = &x[(ni * g.c + gi * cg) * hw..][..cg * hw];
            let dyg = &dy[(ni * g.f + gi * fg) * ohw..][..fg * ohw];
            cols.clear();
            let src: &[T] = if g.pointwise() {
                xg
            } else {
                im2col(g, xg, &mut cols);
                &cols
            };
            colst.clear();
            T::transpose2d(src, kk, ohw, &mut colst);
            if ni == 0 {
                T::gemm(fg, kk, ohw, dyg, &colst, out);
            } else {
                part.clear();
                T::gemm(fg, kk, ohw, dyg, &colst, &mut part);
                for (d, &s) in out[start..].iter_mut().zip(&part) {
                    *d = T::bin(crate::kernels::BinOp::Add, *d, s);
                }
            }
        }
        if g.n == 0 {
            out.extend(core::iter::repeat_n(T::ZERO, fg * kk));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// float32: the packed GEMM's micro-kernel fed straight from the images
// ---------------------------------------------------------------------------

use super::gemm::{micro, pack_a, round_up, write_tile, Tile, KC, MR, NR};
use super::simd::F32x4;
use crate::threads;
use core::mem::MaybeUninit;

/// Below this many multiply-adds a convolution stays on one thread.
const PARALLEL: usize = 1 << 18;

/// Where tap `t` (a row of the patch matrix) reads: its channel plane's
/// offset and its kernel offsets `ki·dh`, `kj·dw` (a table built once per
/// call, so packing does no division).
#[derive(Clone, Copy, Default)]
struct Tap {
    plane: usize,
    dy: usize,
    dx: usize,
}

fn taps(g: &Geom) -> Result<Vec<Tap>> {
    let mut t = Vec::new();
    t.try_reserve_exact(g.kk())
        .map_err(|_| crate::error::Error::oom(g.kk() * 3, crate::dtype::DType::I32))?;
    for ci in 0..g.cg() {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                t.push(Tap {
                    plane: ci * g.h * g.w,
                    dy: ki * g.dh,
                    dx: kj * g.dw,
                });
            }
        }
    }
    Ok(t)
}

/// One strip of the patch matrix, packed as the GEMM's B panels are: for
/// each tap `t` in `pc..pc+kc`, the 8 values of output positions
/// `j0..j0+8` (zeros past the padding and past the last position). This is
/// `im2col` for 8 columns at a time, written into an L1-resident buffer
/// instead of a matrix of the whole image.
fn pack_patch_strip(
    g: &Geom,
    taps: &[Tap],
    x: &[f32],
    pc: usize,
    kc: usize,
    j0: usize,
    dst: &mut [f32],
) {
    let hw = g.h * g.w;
    let cols = NR.min(g.oh * g.ow - j0);
    let (oy0, ox0) = (j0 / g.ow, j0 % g.ow);
    // All 8 positions on one output row with unit stride: each tap reads 8
    // consecutive input values (two vector loads) when they are inside.
    let one_row = cols == NR && ox0 + NR <= g.ow && g.sw == 1;
    let iy_base = (oy0 * g.sh) as isize - g.ph as isize;
    let ix_base = ox0 as isize - g.pw as isize;
    // Otherwise each position's top-left input corner, once per strip
    // (positions may wrap onto the next output row).
    let mut at = [(0isize, 0isize); NR];
    if !one_row {
        let (mut oy, mut ox) = (oy0, ox0);
        for a in at.iter_mut().take(cols) {
            *a = (
                (oy * g.sh) as isize - g.ph as isize,
                (ox * g.sw) as isize - g.pw as isize,
            );
            ox += 1;
            if ox == g.ow {
                ox = 0;
                oy += 1;
            }
        }
    }
    for (d, tap) in dst.chunks_exact_mut(NR).zip(&taps[pc..pc + kc]) {
        let plane = &x[tap.plane..tap.plane + hw];
        if one_row {
            let iy = iy_base + tap.dy as isize;
            let ix = ix_base + tap.dx as isize;
            if iy < 0 || iy >= g.h as isize {
                d.fill(0.0);
            } else if ix >= 0 && ix as usize + NR <= g.w {
                let src = &plane[iy as usize * g.w + ix as usize..][..NR];
                F32x4::load(&src[..4]).store(&mut d[..4]);
                F32x4::load(&src[4..]).store(&mut d[4..]);
            } else {
                let row = &plane[iy as usize * g.w..][..g.w];
                for (q, v) in d.iter_mut().enumerate() {
                    let i = ix + q as isize;
                    *v = if i >= 0 && (i as usize) < g.w {
                        row[i as usize]
                    } else {
                        0.0
                    };
                }
            }
        } else {
            for (q, v) in d.iter_mut().enumerate() {
                let (iy, ix) = (at[q].0 + tap.dy as isize, at[q].1 + tap.dx as isize);
                *v = if q < cols && iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w
                {
                    plane[iy as usize * g.w + ix as usize]
                } else {
                    0.0
                };
            }
        }
    }
}

/// `y = conv(x, w) (+ bias)` in float32, appended to `out`: per image and
/// group `y (fg × oh·ow) = w (fg × kk) · patches (kk × oh·ow)` with the
/// weight packed once into the GEMM's A strips and the patches packed 8
/// output positions at a time straight from the image (no im2col matrix).
/// Images are shared out over the thread pool; each output element is
/// computed by one thread in a fixed order, so the bits do not depend on
/// the thread count.
pub fn forward_f32(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut Vec<f32>,
) -> Result<()> {
    let (ohw, hw, kk, cg, fg) = (g.oh * g.ow, g.h * g.w, g.kk(), g.cg(), g.fg());
    let len = g.y_len();
    if len == 0 {
        return Ok(());
    }
    let kb = kk.div_ceil(kk.div_ceil(KC)).max(1);
    let mrows = round_up(fg, MR);
    // A: the weight of each group, in k blocks of MR-row strips.
    let per_group = mrows * kk;
    let mut apack = crate::storage::alloc_zeroed::<f32>(g.groups * per_group)?;
    for gi in 0..g.groups {
        let wg = &w[gi * fg * kk..][..fg * kk];
        for pc in (0..kk).step_by(kb) {
            let kc = kb.min(kk - pc);
            pack_a(
                wg,
                kk,
                0,
                fg,
                pc,
                kc,
                &mut apack[gi * per_group + mrows * pc..][..mrows * kc],
            );
        }
    }
    let work = len * kk;
    let threads = if work >= PARALLEL {
        threads::threads().min(g.n)
    } else {
        1
    };
    out.try_reserve(len)
        .map_err(|_| crate::error::Error::oom(len, crate::dtype::DType::F32))?;
    let start = out.len();
    let c = &mut out.spare_capacity_mut()[..len];
    let apack = &apack[..];
    let taps = taps(g)?;
    let taps = &taps[..];
    let image = |ni: usize, cimg: &mut [MaybeUninit<f32>], bstrip: &mut [f32]| {
        for gi in 0..g.groups {
            let xg = &x[(ni * g.c + gi * cg) * hw..][..cg * hw];
            let cgrp = &mut cimg[gi * fg * ohw..][..fg * ohw];
            for pc in (0..kk).step_by(kb) {
                let kc = kb.min(kk - pc);
                let ablock = &apack[gi * per_group + mrows * pc..][..mrows * kc];
                for j0 in (0..ohw).step_by(NR) {
                    pack_patch_strip(g, taps, xg, pc, kc, j0, bstrip);
                    for ir in (0..fg).step_by(MR) {
                        let mut acc = micro(kc, &ablock[ir * kc..][..kc * MR], bstrip);
                        let rows = MR.min(fg - ir);
                        if let (Some(b), 0) = (bias, pc) {
                            // The bias joins the first k block's tile.
                            for r in 0..rows {
                                let bv = F32x4::splat(b[gi * fg + ir + r]);
                                acc[2 * r] = acc[2 * r].add(bv);
                                acc[2 * r + 1] = acc[2 * r + 1].add(bv);
                            }
                        }
                        let tile = Tile {
                            i: ir,
                            j: j0,
                            rows,
                            cols: NR.min(ohw - j0),
                        };
                        write_tile(cgrp, ohw, &tile, &acc, pc > 0);
                    }
                }
            }
        }
    };
    let per = g.n.div_ceil(threads.max(1) * 4).max(1);
    if threads <= 1 {
        let mut bstrip = crate::storage::alloc_zeroed::<f32>(kb * NR)?;
        for (ni, cimg) in c.chunks_mut(g.f * ohw).enumerate() {
            image(ni, cimg, &mut bstrip);
        }
    } else {
        // Runs of `per` images, a few per thread for balance, each task
        // with its own B strip scratch allocated here (helpers never
        // allocate).
        let tasks: Vec<_> = c.chunks_mut(per * g.f * ohw).collect();
        let mut scr = crate::storage::alloc_zeroed::<f32>(tasks.len() * kb * NR)?;
        let parts: Vec<_> = tasks
            .into_iter()
            .zip(scr.chunks_exact_mut(kb * NR))
            .collect();
        threads::for_each(parts, threads, |t, (cimgs, bstrip)| {
            for (q, cimg) in cimgs.chunks_mut(g.f * ohw).enumerate() {
                image(t * per + q, cimg, bstrip);
            }
        });
    }
    // SAFETY: every image's every group wrote all fg·oh·ow slots of its
    // part of `c`: the tiles of the first k block cover them (write_tile).
    unsafe { out.set_len(start + len) };
    Ok(())
}

/// `dx = convᵀ(dy, w)` in float32 when the stride is 1 and the padding at
/// most the dilated kernel's reach: then it is the plain convolution of
/// `dy` with the kernel flipped and its two channel axes swapped, padded by
/// `d·(k−1) − p` (each input position collects the taps that read it), and
/// runs on the packed kernel above. None: another geometry (the caller
/// falls back to `backward_data`).
pub fn backward_data_f32(
    g: &Geom,
    dy: &[f32],
    w: &[f32],
    out: &mut Vec<f32>,
) -> Result<Option<()>> {
    let (rh, rw) = (g.dh * (g.kh - 1), g.dw * (g.kw - 1));
    if g.sh != 1 || g.sw != 1 || g.ph > rh || g.pw > rw {
        return Ok(None);
    }
    let (cg, fg, khw) = (g.cg(), g.fg(), g.kh * g.kw);
    // w' (c, fg, kh, kw): w'[gi·cg + ci, fo, kh-1-ki, kw-1-kj] = w[gi·fg + fo, ci, ki, kj]
    let mut wf = crate::storage::alloc_empty::<f32>(g.w_len())?;
    for gi in 0..g.groups {
        for ci in 0..cg {
            for fo in 0..fg {
                let src = &w[((gi * fg + fo) * cg + ci) * khw..][..khw];
                wf.extend(src.iter().rev());
            }
        }
    }
    let flipped = Geom {
        n: g.n,
        c: g.f,
        h: g.oh,
        w: g.ow,
        f: g.c,
        oh: g.h,
        ow: g.w,
        kh: g.kh,
        kw: g.kw,
        sh: 1,
        sw: 1,
        ph: rh - g.ph,
        pw: rw - g.pw,
        dh: g.dh,
        dw: g.dw,
        groups: g.groups,
    };
    forward_f32(&flipped, dy, &wf, None, out)?;
    Ok(Some(()))
}

/// `dw = Σₙ dyₙ · patches(xₙ)ᵀ` in float32, appended to `out`, on the
/// packed micro-kernel: per group, `dwᵀ (kk × fg) = Σₙ patches(xₙ) (kk ×
/// oh·ow) · dyₙᵀ (oh·ow × fg)`, the patch rows packed 4 taps at a time
/// straight from the image (A strips) and `dyₙᵀ` 8 filters at a time (B
/// strips). The images are cut into at most 8 runs whose length depends
/// only on the batch; each run's sum is one task's (on any thread), and the
/// runs' sums are added in order: the bits do not depend on the thread
/// count.
pub fn backward_weight_f32(g: &Geom, x: &[f32], dy: &[f32], out: &mut Vec<f32>) -> Result<()> {
    let (ohw, hw, kk, cg, fg) = (g.oh * g.ow, g.h * g.w, g.kk(), g.cg(), g.fg());
    let len = g.w_len();
    if len == 0 {
        return Ok(());
    }
    if g.n == 0 || ohw == 0 {
        out.extend(core::iter::repeat_n(0.0, len));
        return Ok(());
    }
    let kb = ohw.div_ceil(ohw.div_ceil(KC)).max(1);
    let nstrips = fg.div_ceil(NR);
    let run = g.n.div_ceil(8);
    let runs = g.n.div_ceil(run);
    let taps = taps(g)?;
    let taps = &taps[..];
    // Per run: its dwᵀ (kk × fg), its packed dyᵀ (one image), an A strip.
    let (clen, blen, alen) = (kk * fg, round_up(ohw, kb) * nstrips * NR, kb * MR);
    let mut sums = crate::storage::alloc_zeroed::<f32>(runs * clen)?;
    let mut scratch = crate::storage::alloc_zeroed::<f32>(runs * (blen + alen))?;
    let threads = if len * ohw * g.n >= PARALLEL {
        threads::threads().min(runs)
    } else {
        1
    };
    let (sh, sw, ph, pw) = (g.sh, g.sw, g.ph as isize, g.pw as isize);
    for gi in 0..g.groups {
        let task = |r: usize, (c, scr): (&mut [f32], &mut [f32])| {
            let (bpack, astrip) = scr.split_at_mut(blen);
            for ni in r * run..((r + 1) * run).min(g.n) {
                let xg = &x[(ni * g.c + gi * cg) * hw..][..cg * hw];
                let dyg = &dy[(ni * g.f + gi * fg) * ohw..][..fg * ohw];
                // dyᵀ: block q, strip s at (q·nstrips + s)·kb·NR, [p][8 filters].
                for (q, pc) in (0..ohw).step_by(kb).enumerate() {
                    let kc = kb.min(ohw - pc);
                    for s in 0..nstrips {
                        let dst = &mut bpack[(q * nstrips + s) * kb * NR..][..kc * NR];
                        for (p, d) in dst.chunks_exact_mut(NR).enumerate() {
                            for (f, v) in d.iter_mut().enumerate() {
                                let fo = s * NR + f;
                                *v = if fo < fg { dyg[fo * ohw + pc + p] } else { 0.0 };
                            }
                        }
                    }
                }
                for (q, pc) in (0..ohw).step_by(kb).enumerate() {
                    let kc = kb.min(ohw - pc);
                    for ir in (0..kk).step_by(MR) {
                        let rows = MR.min(kk - ir);
                        // A strip: for each position, the 4 taps' input values.
                        let (mut oy, mut ox) = (pc / g.ow, pc % g.ow);
                        for d in astrip.chunks_exact_mut(MR).take(kc) {
                            let iy0 = (oy * sh) as isize - ph;
                            let ix0 = (ox * sw) as isize - pw;
                            for (r, v) in d.iter_mut().enumerate() {
                                *v = if r < rows {
                                    let t = taps[ir + r];
                                    let (iy, ix) = (iy0 + t.dy as isize, ix0 + t.dx as isize);
                                    if iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < g.h
                                        && (ix as usize) < g.w
                                    {
                                        xg[t.plane + iy as usize * g.w + ix as usize]
                                    } else {
                                        0.0
                                    }
                                } else {
                                    0.0
                                };
                            }
                            ox += 1;
                            if ox == g.ow {
                                ox = 0;
                                oy += 1;
                            }
                        }
                        for s in 0..nstrips {
                            let bp = &bpack[(q * nstrips + s) * kb * NR..][..kc * NR];
                            let acc = micro(kc, &astrip[..kc * MR], bp);
                            // Sums start at zero: every tile accumulates.
                            let cols = NR.min(fg - s * NR);
                            for rr in 0..rows {
                                let (lo, hi) = (acc[2 * rr].to_array(), acc[2 * rr + 1].to_array());
                                let row = &mut c[(ir + rr) * fg + s * NR..][..cols];
                                for (qq, slot) in row.iter_mut().enumerate() {
                                    *slot += if qq < 4 { lo[qq] } else { hi[qq - 4] };
                                }
                            }
                        }
                    }
                }
            }
        };
        sums.fill(0.0);
        let parts: Vec<_> = sums
            .chunks_exact_mut(clen)
            .zip(scratch.chunks_exact_mut(blen + alen))
            .collect();
        threads::for_each(parts, threads, task);
        // The runs' sums, in order, then dwᵀ → dw for this group.
        let (first, rest) = sums.split_at_mut(clen);
        for part in rest.chunks_exact(clen) {
            for (a, &b) in first.iter_mut().zip(part) {
                *a += b;
            }
        }
        for fo in 0..fg {
            out.extend((0..kk).map(|t| first[t * fg + fo]));
        }
    }
    Ok(())
}
