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

pub(crate) const MR: usize = 4;
pub(crate) const NR: usize = 8;
pub(crate) const KC: usize = 256;
const MC: usize = 128;
const NC: usize = 2048;

/// Below this many multiply-adds (or with fewer than `MR` rows) packing
/// costs more than it saves: rows are accumulated directly instead.
const SMALL: usize = 16 * 16 * 16;

pub(crate) fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// Append `a (m×k) · b (k×n)` to `out` (m·n values, row-major).
pub fn gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], out: &mut Vec<f32>) {
    let len = m * n;
    if len == 0 {
        return;
    }
    out.reserve(len);
    let start = out.len();
    gemm_into(m, n, k, a, b, &mut out.spare_capacity_mut()[..len], None);
    // SAFETY: `gemm_into` writes every one of the m·n slots.
    unsafe { out.set_len(start + len) };
}

/// Append `count` products `aᵢ (m×k) · bᵢ (k×n)` (stored one after the
/// other in `a` and `b`) to `out`: MXNet's `batch_dot`. A few large
/// products are each shared by the threads; many smaller ones are spread
/// over the threads a group of products at a time. Either way each product
/// is computed as `gemm` computes it, so the bits do not depend on the
/// thread count.
pub fn gemm_batched(
    count: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    out: &mut Vec<f32>,
) {
    let (len, work) = (m * n, m * n * k);
    if len == 0 || count == 0 {
        return;
    }
    out.reserve(count * len);
    let start = out.len();
    let c = &mut out.spare_capacity_mut()[..count * len];
    let threads = threads::threads();
    let product = |i: usize| (&a[i * m * k..][..m * k], &b[i * k * n..][..k * n]);
    // Groups of products, a few per thread for balance, each with its own
    // packing scratch allocated here: helpers never allocate.
    let per = count.div_ceil(threads * 4);
    let (bl, al) = if uses_blocked(m, n, k) {
        scratch_len(m, n, k, 1)
    } else {
        (0, 0)
    };
    let unit = (bl + al).max(16);
    let mut buf = Vec::new();
    let split =
        !(threads == 1 || count < 2 * threads || work >= BATCH_SPLIT || count * work < PARALLEL);
    let scratch = if split {
        count
            .div_ceil(per)
            .checked_mul(unit)
            .and_then(|len| aligned(&mut buf, len))
    } else {
        None
    };
    // Without the scratch (one thread, or memory too full for it) the
    // products run one after another, each allocating its own.
    let Some(scratch) = scratch else {
        for (i, ci) in c.chunks_mut(len).enumerate() {
            let (ai, bi) = product(i);
            gemm_into(m, n, k, ai, bi, ci, None);
        }
        // SAFETY: every product wrote all m·n slots of its part of `c`.
        unsafe { out.set_len(start + count * len) };
        return;
    };
    {
        let groups: Vec<_> = c
            .chunks_mut(per * len)
            .zip(scratch.chunks_exact_mut(unit))
            .collect();
        threads::for_each(groups, threads, |g, (cg, sg)| {
            let (bpack, apack) = sg.split_at_mut(bl);
            for (q, ci) in cg.chunks_mut(len).enumerate() {
                let (ai, bi) = product(g * per + q);
                gemm_into(m, n, k, ai, bi, ci, Some((&mut *bpack, &mut *apack)));
            }
        });
    }
    // SAFETY: every product wrote all m·n slots of its part of `c`.
    unsafe { out.set_len(start + count * len) };
}

/// Products of at least this many multiply-adds in a batch are shared one
/// at a time rather than spread a group of products per thread.
const BATCH_SPLIT: usize = 1 << 22;

fn uses_blocked(m: usize, n: usize, k: usize) -> bool {
    k != 0 && n != 1 && m >= MR && m * n * k > SMALL
}

/// Write `a (m×k) · b (k×n)` into `c`, every one of its m·n slots. With
/// `scratch` (packed B, packed A: `scratch_len(m, n, k, 1)`), on this
/// thread only and without allocating (what helper threads run).
fn gemm_into(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [MaybeUninit<f32>],
    scratch: Option<(&mut [f32], &mut [f32])>,
) {
    let (a, b) = (&a[..m * k], &b[..k * n]);
    if k == 0 {
        c.iter_mut().for_each(|slot| {
            slot.write(0.0);
        });
    } else if n == 1 {
        // Matrix · vector: one dot product per row.
        for (slot, row) in c.iter_mut().zip(a.chunks_exact(k)) {
            slot.write(dot(row, b));
        }
    } else if !uses_blocked(m, n, k) {
        small(m, n, k, a, b, c);
    } else if let Some((bpack, apack)) = scratch {
        blocked_on(1, m, n, k, a, b, c, bpack, apack, Trans::NONE);
    } else {
        // `blocked` writes every slot: its tiles cover all m×n positions in
        // the first k block (see `write_tile`).
        blocked(m, n, k, a, b, c, Trans::NONE);
    }
}

/// `Σ x[i]·y[i]` in four lanes, lanes added at the end.
#[cfg_attr(ndgrad_relaxed, target_feature(enable = "relaxed-simd"))]
fn dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let body = n - n % 4;
    let mut acc = F32x4::splat(0.0);
    let mut i = 0;
    while i < body {
        acc = F32x4::mul_add(F32x4::load(&x[i..i + 4]), F32x4::load(&y[i..i + 4]), acc);
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
#[cfg_attr(not(ndgrad_relaxed), inline(always))]
#[cfg_attr(ndgrad_relaxed, target_feature(enable = "relaxed-simd"), inline)]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let body = n - n % 4;
    let av = F32x4::splat(alpha);
    let mut i = 0;
    while i < body {
        F32x4::mul_add(av, F32x4::load(&x[i..]), F32x4::load(&y[i..])).store(&mut y[i..]);
        i += 4;
    }
    for j in body..n {
        y[j] += alpha * x[j];
    }
}

/// Small products: each row of C accumulated 64 columns at a time in a
/// scratch row on the stack (axpy over the rows of B), then copied out.
#[cfg_attr(ndgrad_relaxed, target_feature(enable = "relaxed-simd"))]
fn small(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [MaybeUninit<f32>]) {
    const W: usize = 64;
    let mut row = [0f32; W];
    for (arow, crow) in a.chunks_exact(k).take(m).zip(c.chunks_exact_mut(n)) {
        for j0 in (0..n).step_by(W) {
            let acc = &mut row[..W.min(n - j0)];
            acc.fill(0.0);
            for (p, &av) in arow.iter().enumerate() {
                axpy(av, &b[p * n + j0..][..acc.len()], acc);
            }
            for (slot, &v) in crow[j0..].iter_mut().zip(acc.iter()) {
                slot.write(v);
            }
        }
    }
}

/// A zeroed scratch slice of `len` floats starting on a 64-byte boundary,
/// carved out of `buf`. The allocator only aligns to 8 bytes; packed strips
/// that start mid-line make one in four of the micro-kernel's B loads
/// straddle two cache lines.
///
/// `None` when memory is too full for it: the scratch (all of B packed)
/// is as large as B, and allocating it infallibly made products abort
/// instead of failing cleanly. Callers then compute without packing
/// (`small`: each element the same in-order sum over k as a single k
/// block, only slower), so a product whose output fits always succeeds.
fn aligned(buf: &mut Vec<f32>, len: usize) -> Option<&mut [f32]> {
    let total = len.checked_add(16)?;
    buf.clear();
    buf.try_reserve_exact(total).ok()?;
    buf.resize(total, 0.0);
    let skip = buf.as_ptr().align_offset(64).min(16);
    Some(&mut buf[skip..skip + len])
}

/// Below this many multiply-adds a product runs on one thread: waking the
/// helpers and waiting for the last task costs more than it saves.
const PARALLEL: usize = 1 << 18;

fn blocked(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [MaybeUninit<f32>],
    tr: Trans,
) {
    let threads = if m * n * k >= PARALLEL {
        threads::threads()
    } else {
        1
    };
    let (bl, al) = scratch_len(m, n, k, threads);
    let mut buf = Vec::new();
    let Some(scratch) = aligned(&mut buf, bl + al) else {
        // Memory too full for the packed scratch: the same products unpacked.
        unpacked(m, n, k, a, b, c, tr);
        return;
    };
    let (bpack, apack) = scratch.split_at_mut(bl);
    blocked_on(threads, m, n, k, a, b, c, bpack, apack, tr);
}

/// `blocked`'s product without its packed scratch (memory too full for
/// it): `small` for plain operands, else each element summed over k in order
/// from the operands as stored. Slower, never larger.
fn unpacked(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [MaybeUninit<f32>],
    tr: Trans,
) {
    if tr == Trans::NONE {
        return small(m, n, k, a, b, c);
    }
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                let av = if tr.a { a[p * m + i] } else { a[i * k + p] };
                let bv = if tr.b { b[j * k + p] } else { b[p * n + j] };
                acc += av * bv;
            }
            c[i * n + j].write(acc);
        }
    }
}

/// How the blocked product cuts its work: k blocks of `kb`, `strips` of B
/// per k block (`strip_len` floats each), bands of `band` rows of C (packed
/// A: `apack_len` floats per band).
struct Plan {
    kb: usize,
    strips: usize,
    strip_len: usize,
    band: usize,
    apack_len: usize,
}

fn plan(m: usize, n: usize, k: usize, threads: usize) -> Plan {
    // k is cut into equal blocks of at most KC (784 → 4 × 196, not
    // 3 × 256 + 16: a thin last block would pay the tile write-back for
    // little work).
    let kb = k.div_ceil(k.div_ceil(KC));
    let band = MC.min(round_up(m.div_ceil(threads), MR));
    Plan {
        kb,
        strips: n.div_ceil(NR),
        strip_len: kb * NR,
        band,
        apack_len: round_up(band, MR) * kb,
    }
}

/// Floats of packed B and packed A that `blocked_on(threads, m, n, k, …)`
/// needs, each a multiple of 16 (64 bytes: a second buffer cut from the same
/// aligned allocation stays aligned).
fn scratch_len(m: usize, n: usize, k: usize, threads: usize) -> (usize, usize) {
    let p = plan(m, n, k, threads);
    let b = k.div_ceil(p.kb) * p.strips * p.strip_len;
    let a = m.div_ceil(p.band) * p.apack_len;
    (round_up(b, 16), round_up(a, 16))
}

/// The blocked product on `threads` threads (1: this one, without
/// allocating), with scratch of `scratch_len(m, n, k, threads)` floats.
#[allow(clippy::too_many_arguments)]
fn blocked_on(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [MaybeUninit<f32>],
    bpack: &mut [f32],
    apack: &mut [f32],
    tr: Trans,
) {
    let p = plan(m, n, k, threads);

    // All of B is packed once, up front, and shared by every thread: block
    // `q` (rows q·kb..) holds the strips of all n columns, strip `s` at
    // `(q·strips + s)·strip_len` (a short last block leaves its strips'
    // tails unused). Each task packs a run of strips.
    let all = k.div_ceil(p.kb) * p.strips;
    let bpack = &mut bpack[..all * p.strip_len];
    let pack = |first: usize, run: &mut [f32]| {
        for (i, dst) in run.chunks_exact_mut(p.strip_len).enumerate() {
            let (q, s) = ((first + i) / p.strips, (first + i) % p.strips);
            let pc = q * p.kb;
            let kc = p.kb.min(k - pc);
            if tr.b {
                pack_bt_strip(b, n, k, pc, kc, s * NR, &mut dst[..kc * NR]);
            } else {
                pack_b_strip(b, n, pc, kc, s * NR, &mut dst[..kc * NR]);
            }
        }
    };
    if threads <= 1 {
        pack(0, bpack);
    } else {
        let per = all.div_ceil(threads);
        let runs: Vec<&mut [f32]> = bpack.chunks_mut(per * p.strip_len).collect();
        threads::for_each(runs, threads, |t, run| pack(t * per, run));
    }

    // Then C is cut into bands of whole rows (at most MC, a multiple of MR),
    // one task each, with its own packed-A scratch. Every element of C is
    // computed by one thread exactly as in a single-threaded run (same k
    // blocks, same micro-kernel), so the result does not depend on the
    // number of threads, bit for bit.
    let bpack = &*bpack;
    let band = |i0: usize, cband: &mut [MaybeUninit<f32>], apack: &mut [f32]| {
        let rows = cband.len() / n;
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for (q, pc) in (0..k).step_by(p.kb).enumerate() {
                let kc = p.kb.min(k - pc);
                if tr.a {
                    pack_at(a, m, i0, rows, pc, kc, apack);
                } else {
                    pack_a(a, k, i0, rows, pc, kc, apack);
                }
                for jr in (0..nc).step_by(NR) {
                    let s = (jc + jr) / NR;
                    let bp = &bpack[(q * p.strips + s) * p.strip_len..][..kc * NR];
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
    };
    let pairs = c
        .chunks_mut(p.band * n)
        .zip(apack.chunks_exact_mut(p.apack_len));
    if threads <= 1 {
        for (t, (cband, ap)) in pairs.enumerate() {
            band(t * p.band, cband, ap);
        }
    } else {
        let bands: Vec<_> = pairs.collect();
        threads::for_each(bands, threads, |t, (cband, ap)| band(t * p.band, cband, ap));
    }
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
pub(crate) fn pack_a(
    a: &[f32],
    k: usize,
    ic: usize,
    mc: usize,
    pc: usize,
    kc: usize,
    dst: &mut [f32],
) {
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

/// Pack one strip of B from `bt = Bᵀ (n×k)`: for each p, the `NR` floats
/// `bt[j0..j0+NR, pc+p]` (zero-padded past column n). Rows of `bt` are
/// read contiguously.
fn pack_bt_strip(bt: &[f32], n: usize, k: usize, pc: usize, kc: usize, j0: usize, dst: &mut [f32]) {
    let w = NR.min(n - j0);
    for j in 0..NR {
        if j < w {
            let row = &bt[(j0 + j) * k + pc..][..kc];
            for (p, &v) in row.iter().enumerate() {
                dst[p * NR + j] = v;
            }
        } else {
            for p in 0..kc {
                dst[p * NR + j] = 0.0;
            }
        }
    }
}

/// `pack_a` from `at = Aᵀ (k×m)`: strip `s` holds, for each p, the 4 floats
/// `at[pc+p, ic+4s..ic+4s+4]`, already contiguous there.
fn pack_at(at: &[f32], m: usize, ic: usize, mc: usize, pc: usize, kc: usize, dst: &mut [f32]) {
    for (s, i0) in (0..mc).step_by(MR).enumerate() {
        let h = MR.min(mc - i0);
        let strip = &mut dst[s * kc * MR..(s + 1) * kc * MR];
        for (p, d) in strip.chunks_exact_mut(MR).enumerate() {
            d[..h].copy_from_slice(&at[(pc + p) * m + ic + i0..][..h]);
            d[h..].fill(0.0);
        }
    }
}

/// Which operands of `gemm_t` are stored transposed: `a` as Aᵀ (k×m),
/// `b` as Bᵀ (n×k), row-major.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trans {
    pub a: bool,
    pub b: bool,
}

impl Trans {
    pub const NONE: Trans = Trans { a: false, b: false };
}

/// Append `A (m×k) · B (k×n)` to `out`, reading the operands flagged in
/// `tr` from their transposes (`FullyConnected`'s `x · wᵀ` and the weight
/// gradient `dyᵀ · x`) without a transposed copy: the blocked product packs
/// straight from them, so its results are bit for bit `gemm`'s on the
/// transposed copies. Products too small to pack are summed directly, over
/// k in order.
pub fn gemm_t(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], tr: Trans, out: &mut Vec<f32>) {
    if tr == Trans::NONE {
        return gemm(m, n, k, a, b, out);
    }
    let len = m * n;
    if len == 0 {
        return;
    }
    let (a, b) = (&a[..m * k], &b[..k * n]);
    out.reserve(len);
    let start = out.len();
    let c = &mut out.spare_capacity_mut()[..len];
    if k == 0 {
        c.iter_mut().for_each(|slot| {
            slot.write(0.0);
        });
    } else if uses_blocked(m, n, k) {
        blocked(m, n, k, a, b, c, tr);
    } else if !tr.a {
        // A·Bᵀ: rows of A against rows of Bᵀ, both contiguous.
        for (crow, arow) in c.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
            for (slot, brow) in crow.iter_mut().zip(b.chunks_exact(k)) {
                slot.write(dot(arow, brow));
            }
        }
    } else {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0.0f32;
                for p in 0..k {
                    let bv = if tr.b { b[j * k + p] } else { b[p * n + j] };
                    acc += a[p * m + i] * bv;
                }
                c[i * n + j].write(acc);
            }
        }
    }
    // SAFETY: every branch above wrote all m·n slots.
    unsafe { out.set_len(start + len) };
}

/// The 4×8 micro-kernel: `Σ_p ap[p]ᵀ · bp[p]` over `kc` steps, in 8
/// accumulators (row r of the tile is `acc[2r]`, `acc[2r+1]`). The
/// relaxed-SIMD build compiles it (and `dot`, `axpy`, `small`) with
/// `relaxed-simd` (see `F32x4::mul_add`), so it is a call per tile there.
#[cfg_attr(not(ndgrad_relaxed), inline(always))]
#[cfg_attr(ndgrad_relaxed, target_feature(enable = "relaxed-simd"), inline)]
pub(crate) fn micro(kc: usize, ap: &[f32], bp: &[f32]) -> [F32x4; 8] {
    let ap = &ap[..kc * MR];
    let bp = &bp[..kc * NR];
    let z = F32x4::splat(0.0);
    let (mut c00, mut c01, mut c10, mut c11) = (z, z, z, z);
    let (mut c20, mut c21, mut c30, mut c31) = (z, z, z, z);
    for (a, b) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
        let b0 = F32x4::load(&b[0..4]);
        let b1 = F32x4::load(&b[4..8]);
        let a0 = F32x4::splat(a[0]);
        c00 = F32x4::mul_add(a0, b0, c00);
        c01 = F32x4::mul_add(a0, b1, c01);
        let a1 = F32x4::splat(a[1]);
        c10 = F32x4::mul_add(a1, b0, c10);
        c11 = F32x4::mul_add(a1, b1, c11);
        let a2 = F32x4::splat(a[2]);
        c20 = F32x4::mul_add(a2, b0, c20);
        c21 = F32x4::mul_add(a2, b1, c21);
        let a3 = F32x4::splat(a[3]);
        c30 = F32x4::mul_add(a3, b0, c30);
        c31 = F32x4::mul_add(a3, b1, c31);
    }
    [c00, c01, c10, c11, c20, c21, c30, c31]
}

/// Where a micro-tile lands in C: top-left `(i, j)`, and how many of its
/// rows and columns are inside C.
pub(crate) struct Tile {
    pub(crate) i: usize,
    pub(crate) j: usize,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

/// Store (first k block) or add (later blocks) a micro-tile into C (row
/// stride `ldc`). The tiles of one k block cover C exactly once, and the
/// first block (`accumulate == false`) comes before any later one for the
/// same tile, so every read below is of a slot already written.
#[inline(always)]
pub(crate) fn write_tile(
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
                let (bl, al) = scratch_len(m, n, k, threads);
                let (mut bp, mut ap) = (vec![0.0; bl], vec![0.0; al]);
                let spare = &mut c.spare_capacity_mut()[..m * n];
                blocked_on(
                    threads,
                    m,
                    n,
                    k,
                    &a,
                    &b,
                    spare,
                    &mut bp,
                    &mut ap,
                    Trans::NONE,
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

    /// When memory is too full for the packing scratch, a product runs
    /// unpacked (`small`): no abort, and for k within one block the very
    /// same bits as the blocked product (beyond, the same sums grouped
    /// differently: within rounding).
    #[test]
    fn unpacked_fallback_matches_the_blocked_product() {
        let mut buf = Vec::new();
        assert!(
            aligned(&mut buf, usize::MAX / 8).is_none(),
            "impossible scratch is None, not an abort"
        );
        assert!(aligned(&mut buf, usize::MAX).is_none());
        let mut seed = 0x1234_5678_u32;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        for &(m, n, k) in &[(64, 256, 200), (131, 67, 256), (40, 40, 700)] {
            let a: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
            let mut blocked_c = Vec::new();
            gemm(m, n, k, &a, &b, &mut blocked_c);
            let mut c = Vec::with_capacity(m * n);
            small(m, n, k, &a, &b, &mut c.spare_capacity_mut()[..m * n]);
            // SAFETY: `small` writes all m·n elements.
            unsafe { c.set_len(m * n) };
            if k <= KC {
                assert_eq!(bits(&c), bits(&blocked_c), "{m}x{n}x{k}");
            } else {
                for (x, y) in c.iter().zip(&blocked_c) {
                    assert!(
                        (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                        "{m}x{n}x{k}: {x} vs {y}"
                    );
                }
            }
        }
    }

    /// A batch of products is each product as `gemm` computes it, however
    /// the batch is spread over threads.
    #[test]
    fn batched_products_are_each_product_bit_for_bit() {
        threads::spawn_native_helpers(2);
        threads::set_helpers(2);
        let mut seed = 0x9e37_79b9_u32;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        for &(count, m, n, k) in &[
            (1, 3, 4, 5),
            (300, 9, 17, 33),
            (64, 32, 32, 64),
            (7, 1, 50, 20),
            (40, 20, 1, 30),
            (50, 8, 8, 0),
            (3, 100, 200, 300),
        ] {
            let a: Vec<f32> = (0..count * m * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..count * k * n).map(|_| rnd()).collect();
            let mut want = Vec::new();
            for i in 0..count {
                let (ai, bi) = (
                    &a[i * m * k..(i + 1) * m * k],
                    &b[i * k * n..(i + 1) * k * n],
                );
                gemm(m, n, k, ai, bi, &mut want);
            }
            let mut got = vec![7.0];
            gemm_batched(count, m, n, k, &a, &b, &mut got);
            assert_eq!(got[0], 7.0, "appends after what was there");
            assert_eq!(bits(&got[1..]), bits(&want), "{count} × {m}x{k}·{k}x{n}");
        }
    }

    /// `gemm_t` packs from the transposed operands: bit for bit `gemm` of
    /// the transposed copies where it packs; close to it where it sums
    /// directly.
    #[test]
    fn transposed_operands_match_gemm_of_the_copies() {
        threads::spawn_native_helpers(2);
        threads::set_helpers(2);
        let mut seed = 0x1234_5679_u32;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        let tr2 = |x: &[f32], r: usize, c: usize| -> Vec<f32> {
            (0..c)
                .flat_map(|j| (0..r).map(move |i| (i, j)))
                .map(|(i, j)| x[i * c + j])
                .collect()
        };
        for &(m, n, k) in &[
            (3, 5, 7),
            (2, 40, 300),
            (4, 8, 2),
            (64, 120, 400),
            (131, 67, 300),
            (256, 10, 84),
            (5, 9, 1000),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
            let (at, bt) = (tr2(&a, m, k), tr2(&b, k, n));
            let mut want = Vec::new();
            gemm(m, n, k, &a, &b, &mut want);
            {
                for (ta, tb) in [(false, true), (true, false), (true, true)] {
                    let mut got = vec![9.0];
                    let (ax, bx) = (if ta { &at } else { &a }, if tb { &bt } else { &b });
                    gemm_t(m, n, k, ax, bx, Trans { a: ta, b: tb }, &mut got);
                    assert_eq!(got[0], 9.0);
                    let got = &got[1..];
                    if uses_blocked(m, n, k) {
                        assert_eq!(bits(got), bits(&want), "{m}x{n}x{k} ta={ta} tb={tb}");
                    } else {
                        for (g, w) in got.iter().zip(&want) {
                            assert!(
                                (g - w).abs() <= 1e-5 * (k as f32),
                                "{m}x{n}x{k}: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }
}
