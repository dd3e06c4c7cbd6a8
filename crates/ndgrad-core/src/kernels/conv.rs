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
