//! Matrix multiplication: `C (m×n) = A (m×k) · B (k×n)`, all row-major.
//!
//! The classic blocked layout (Goto / BLIS): B is packed into column strips
//! of `NR = 8` floats (all of it, once, shared by every thread), A a
//! `MC×KC` block at a time into row strips of `MR = 4`, and a 4×8
//! micro-kernel multiplies one A strip by one B strip, keeping the whole
//! 4×8 tile of C in 8 `F32x4` accumulators. With the B strip (8 floats)
//! and one A broadcast that is 11 live vectors: under the 15 `xmm`
//! registers V8 gives WebAssembly, so the loop never spills (a 6×8 tile
//! would need 15 and runs at half speed).
//! k is cut into equal blocks of at most `KC = 256`, which keeps a B strip
//! (8 KiB) in L1 while the A block (128 KiB) streams from L2.
//!
//! Each element of C is a sum over k in order, `((0 + a₀b₀) + a₁b₁) + …`,
//! within a k block, and the blocks' sums are added in order; for
//! `k <= KC` that is bit for bit the plain triple loop.
//!
//! Large products are split over the threads of `crate::threads` (the
//! threads build of the WebAssembly module): packing B by runs of strips,
//! then C by bands of rows. One thread computes each element, in the same
//! order, so results are bitwise identical for any number of threads.
//!
//! C is appended to a `Vec` and written straight into its spare capacity:
//! the first k block stores each tile, later blocks add to it, so the
//! output needs no zero-fill.

use core::mem::MaybeUninit;

use super::simd::F32x4;
use crate::threads;

const MR: usize = 4;
const NR: usize = 8;
const KC: usize = 256;
const MC: usize = 128;
const NC: usize = 2048;

/// Below this many multiply-adds (or with fewer than `MR` rows) packing
/// costs more than it saves: rows are accumulated directly instead.
const SMALL: usize = 16 * 16 * 16;

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// Append `a (m×k) · b (k×n)` to `out` (m·n values, row-major).
pub fn gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], out: &mut Vec<f32>) {
    let len = m * n;
    if len == 0 {
        return;
    }
    let (a, b) = (&a[..m * k], &b[..k * n]);
    out.reserve(len);
    if k == 0 {
        out.resize(out.len() + len, 0.0);
    } else if n == 1 {
        // Matrix · vector: one dot product per row.
        out.extend(a.chunks_exact(k).map(|row| dot(row, b)));
    } else if m < MR || m * n * k <= SMALL {
        small(m, n, k, a, b, out);
    } else {
        let start = out.len();
        let c = &mut out.spare_capacity_mut()[..len];
        blocked(m, n, k, a, b, c);
        // SAFETY: `blocked` writes every element of `c`: its tiles cover all
        // m×n positions in the first k block (see `write_tile`).
        unsafe { out.set_len(start + len) };
    }
}

/// `Σ x[i]·y[i]` in four lanes, lanes added at the end.
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let body = n - n % 4;
    let mut acc = F32x4::splat(0.0);
    let mut i = 0;
    while i < body {
        acc = acc.add(F32x4::load(&x[i..i + 4]).mul(F32x4::load(&y[i..i + 4])));
        i += 4;
    }
    let l = acc.to_array();
    let mut s = (l[0] + l[1]) + (l[2] + l[3]);
    for j in body..n {
        s += x[j] * y[j];
    }
    s
}

/// `y += alpha · x`, vectorised.
#[inline(always)]
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

/// Small products: each row of C accumulated in a scratch row (axpy over
/// the rows of B), then appended.
fn small(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], out: &mut Vec<f32>) {
    let mut row = vec![0f32; n];
    for arow in a.chunks_exact(k).take(m) {
        row.fill(0.0);
        for (p, &av) in arow.iter().enumerate() {
            axpy(av, &b[p * n..(p + 1) * n], &mut row);
        }
        out.extend_from_slice(&row);
    }
}

/// A zeroed scratch slice of `len` floats starting on a 64-byte boundary,
/// carved out of `buf`. The allocator only aligns to 8 bytes; packed strips
/// that start mid-line make one in four of the micro-kernel's B loads
/// straddle two cache lines.
fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    *buf = vec![0f32; len + 16];
    let skip = buf.as_ptr().align_offset(64).min(16);
    &mut buf[skip..skip + len]
}

/// Below this many multiply-adds a product runs on one thread: waking the
/// helpers and waiting for the last task costs more than it saves.
const PARALLEL: usize = 1 << 18;

fn blocked(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [MaybeUninit<f32>]) {
    let threads = if m * n * k >= PARALLEL {
        threads::threads()
    } else {
        1
    };
    blocked_on(threads, m, n, k, a, b, c);
}

#[allow(clippy::too_many_arguments)]
fn blocked_on(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [MaybeUninit<f32>],
) {
    // k is cut into equal blocks of at most KC (784 → 4 × 196, not
    // 3 × 256 + 16: a thin last block would pay the tile write-back for
    // little work).
    let kb = k.div_ceil(k.div_ceil(KC));

    // All of B is packed once, up front, and shared by every thread: block
    // `p` (rows p·kb..) holds the strips of all n columns, strip `s` at
    // `(p·strips + s)·kb·NR` (a short last block leaves its strips' tails
    // unused). Each task packs a run of strips.
    let strips = n.div_ceil(NR);
    let strip_len = kb * NR;
    let all = k.div_ceil(kb) * strips;
    let mut bbuf = Vec::new();
    let bpack = aligned(&mut bbuf, all * strip_len);
    let per = all.div_ceil(threads);
    let runs: Vec<&mut [f32]> = bpack.chunks_mut(per * strip_len).collect();
    threads::for_each(runs, threads, |t, run| {
        for (q, dst) in run.chunks_exact_mut(strip_len).enumerate() {
            let (p, s) = ((t * per + q) / strips, (t * per + q) % strips);
            let pc = p * kb;
            let kc = kb.min(k - pc);
            pack_b_strip(b, n, pc, kc, s * NR, &mut dst[..kc * NR]);
        }
    });

    // Then C is cut into bands of whole rows (at most MC, a multiple of MR),
    // one task each, with its own packed-A scratch. Every element of C is
    // computed by one thread exactly as in a single-threaded run (same k
    // blocks, same micro-kernel), so the result does not depend on the
    // number of threads, bit for bit.
    let band = MC.min(round_up(m.div_ceil(threads), MR));
    let apack_len = round_up(band, MR) * kb;
    let mut abuf = Vec::new();
    let apack = aligned(&mut abuf, m.div_ceil(band) * apack_len);
    let bands: Vec<_> = c
        .chunks_mut(band * n)
        .zip(apack.chunks_exact_mut(apack_len))
        .collect();
    let bpack = &*bpack;
    threads::for_each(bands, threads, |t, (cband, apack)| {
        let (i0, rows) = (t * band, cband.len() / n);
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for (p, pc) in (0..k).step_by(kb).enumerate() {
                let kc = kb.min(k - pc);
                pack_a(a, k, i0, rows, pc, kc, apack);
                for jr in (0..nc).step_by(NR) {
                    let s = (jc + jr) / NR;
                    let bp = &bpack[(p * strips + s) * strip_len..][..kc * NR];
                    for ir in (0..rows).step_by(MR) {
                        let ap = &apack[ir * kc..ir * kc + kc * MR];
                        let acc = micro(kc, ap, bp);
                        let tile = Tile {
                            i: ir,
                            j: jc + jr,
                            rows: MR.min(rows - ir),
                            cols: NR.min(nc - jr),
                        };
                        write_tile(cband, n, &tile, &acc, pc > 0);
                    }
                }
            }
        }
    });
}

/// Pack one strip of B: for each p, the `NR` floats
/// `b[pc+p, j0..j0+NR]` (zero-padded past column n).
fn pack_b_strip(b: &[f32], n: usize, pc: usize, kc: usize, j0: usize, dst: &mut [f32]) {
    let w = NR.min(n - j0);
    for (p, d) in dst.chunks_exact_mut(NR).take(kc).enumerate() {
        d[..w].copy_from_slice(&b[(pc + p) * n + j0..][..w]);
        d[w..].fill(0.0);
    }
}

/// Pack `a[ic..ic+mc, pc..pc+kc]` as strips of `MR` rows: strip `s` holds,
/// for each p, the 4 floats `a[ic+4s..ic+4s+4, pc+p]` (zero-padded past
/// `mc`). Full strips transpose 4×4 blocks in registers.
fn pack_a(a: &[f32], k: usize, ic: usize, mc: usize, pc: usize, kc: usize, dst: &mut [f32]) {
    for (s, i0) in (0..mc).step_by(MR).enumerate() {
        let h = MR.min(mc - i0);
        let strip = &mut dst[s * kc * MR..(s + 1) * kc * MR];
        let row = |r: usize| &a[(ic + i0 + r) * k + pc..][..kc];
        if h == MR {
            let rows = [row(0), row(1), row(2), row(3)];
            let k4 = kc - kc % 4;
            for p in (0..k4).step_by(4) {
                let t = F32x4::transpose4(rows.map(|r| F32x4::load(&r[p..p + 4])));
                for (q, v) in t.iter().enumerate() {
                    v.store(&mut strip[(p + q) * MR..]);
                }
            }
            for p in k4..kc {
                for r in 0..MR {
                    strip[p * MR + r] = rows[r][p];
                }
            }
        } else {
            for p in 0..kc {
                for r in 0..MR {
                    strip[p * MR + r] = if r < h { row(r)[p] } else { 0.0 };
                }
            }
        }
    }
}

/// The 4×8 micro-kernel: `Σ_p ap[p]ᵀ · bp[p]` over `kc` steps, in 8
/// accumulators (row r of the tile is `acc[2r]`, `acc[2r+1]`).
#[inline(always)]
fn micro(kc: usize, ap: &[f32], bp: &[f32]) -> [F32x4; 8] {
    let ap = &ap[..kc * MR];
    let bp = &bp[..kc * NR];
    let z = F32x4::splat(0.0);
    let (mut c00, mut c01, mut c10, mut c11) = (z, z, z, z);
    let (mut c20, mut c21, mut c30, mut c31) = (z, z, z, z);
    for (a, b) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
        let b0 = F32x4::load(&b[0..4]);
        let b1 = F32x4::load(&b[4..8]);
        let a0 = F32x4::splat(a[0]);
        c00 = c00.add(a0.mul(b0));
        c01 = c01.add(a0.mul(b1));
        let a1 = F32x4::splat(a[1]);
        c10 = c10.add(a1.mul(b0));
        c11 = c11.add(a1.mul(b1));
        let a2 = F32x4::splat(a[2]);
        c20 = c20.add(a2.mul(b0));
        c21 = c21.add(a2.mul(b1));
        let a3 = F32x4::splat(a[3]);
        c30 = c30.add(a3.mul(b0));
        c31 = c31.add(a3.mul(b1));
    }
    [c00, c01, c10, c11, c20, c21, c30, c31]
}

/// Where a micro-tile lands in C: top-left `(i, j)`, and how many of its
/// rows and columns are inside C.
struct Tile {
    i: usize,
    j: usize,
    rows: usize,
    cols: usize,
}

/// Store (first k block) or add (later blocks) a micro-tile into C (row
/// stride `ldc`). The tiles of one k block cover C exactly once, and the
/// first block (`accumulate == false`) comes before any later one for the
/// same tile, so every read below is of a slot already written.
#[inline(always)]
fn write_tile(
    c: &mut [MaybeUninit<f32>],
    ldc: usize,
    t: &Tile,
    acc: &[F32x4; 8],
    accumulate: bool,
) {
    if t.rows == MR && t.cols == NR {
        for r in 0..MR {
            let row = &mut c[(t.i + r) * ldc + t.j..][..NR];
            let (mut lo, mut hi) = (acc[2 * r], acc[2 * r + 1]);
            if accumulate {
                // SAFETY: the first k block stored this tile (see above).
                let (plo, phi) =
                    unsafe { (F32x4::load_init(&row[..4]), F32x4::load_init(&row[4..])) };
                lo = plo.add(lo);
                hi = phi.add(hi);
            }
            lo.store_uninit(&mut row[..4]);
            hi.store_uninit(&mut row[4..]);
        }
    } else {
        for r in 0..t.rows {
            let (lo, hi) = (acc[2 * r].to_array(), acc[2 * r + 1].to_array());
            let row = &mut c[(t.i + r) * ldc + t.j..][..t.cols];
            for (q, slot) in row.iter_mut().enumerate() {
                let mut v = if q < 4 { lo[q] } else { hi[q - 4] };
                if accumulate {
                    // SAFETY: the first k block stored this slot (see above).
                    v += unsafe { slot.assume_init() };
                }
                slot.write(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Threads change who computes an element, never how: bit for bit the
    /// same C for 1 to 4 threads, on shapes with edge tiles, several k
    /// blocks and several row bands.
    #[test]
    fn threads_give_bitwise_identical_results() {
        threads::spawn_native_helpers(3);
        threads::set_helpers(3);
        let mut seed = 0x2545_f491_u32;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        for &(m, n, k) in &[
            (4, 8, 1),
            (5, 9, 3),
            (64, 256, 784),
            (131, 67, 300),
            (257, 129, 513),
            (300, 17, 40),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
            let run = |threads: usize| {
                let mut c = Vec::with_capacity(m * n);
                blocked_on(
                    threads,
                    m,
                    n,
                    k,
                    &a,
                    &b,
                    &mut c.spare_capacity_mut()[..m * n],
                );
                // SAFETY: `blocked_on` writes all m·n elements.
                unsafe { c.set_len(m * n) };
                c
            };
            let one = run(1);
            let mut plain = Vec::new();
            gemm(m, n, k, &a, &b, &mut plain);
            assert_eq!(bits(&plain), bits(&one), "{m}x{n}x{k}: gemm vs blocked");
            for t in 2..=4 {
                assert_eq!(bits(&run(t)), bits(&one), "{m}x{n}x{k} on {t} threads");
            }
        }
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }
}
