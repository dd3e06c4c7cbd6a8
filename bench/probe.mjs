// Machine probes: what WebAssembly SIMD itself reaches on this machine, from
// a tiny module assembled here byte by byte (no toolchain, no library).
//   peak(iters): 12 independent f32x4 accumulators, acc = acc * m + c,
//                unrolled 4×: 12 live v128 + 2 constants fit V8's 15 xmm
//                registers, so nothing spills (PERF.md's probe).
//   add(x, y, z, bytes): z = x + y, 4 × v128 per iteration.
//   sum(x, bytes): 4 × v128 accumulators over x (a streaming read).
import { emit, median, now } from "./lib.mjs";
import { probeRows, sizes } from "./spec.mjs";

const quick = process.argv.includes("--quick");

// ---- a minimal WebAssembly assembler ----
const uleb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const sleb = (n) => {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const vec = (items) => [...uleb(items.length), ...items.flat()];
const section = (id, body) => [id, ...uleb(body.length), ...body];
const str = (s) => vec([...Buffer.from(s)].map((b) => [b]));
const I32 = 0x7f, F32 = 0x7d, V128 = 0x7b;
const op = {
  get: (i) => [0x20, ...uleb(i)],
  set: (i) => [0x21, ...uleb(i)],
  i32: (v) => [0x41, ...sleb(v)],
  f32: (v) => [0x43, ...new Uint8Array(new Float32Array([v]).buffer)],
  add32: [0x6a], sub32: [0x6b], ltu32: [0x49], ne32: [0x47],
  loop: [0x03, 0x40], end: [0x0b], brIf: (l) => [0x0d, ...uleb(l)],
  simd: (code, ...imm) => [0xfd, ...uleb(code), ...imm],
};
const v128load = (off) => op.simd(0x00, 4, ...uleb(off));
const v128store = (off) => op.simd(0x0b, 4, ...uleb(off));
const splat = op.simd(0x13);
const lane0 = op.simd(0x1f, 0);
const fadd = op.simd(0xe4);
const fmul = op.simd(0xe6);

const ACC = 12, UNROLL = 4;
function peakBody() {
  // param 0: iters; locals 1..12 accumulators, 13: m, 14: c
  const m = ACC + 1, c = ACC + 2;
  const b = [];
  b.push(op.f32(0.5), splat, op.set(m), op.f32(1.0), splat, op.set(c));
  for (let i = 0; i < ACC; i++) b.push(op.f32(i), splat, op.set(1 + i));
  b.push(op.loop);
  for (let u = 0; u < UNROLL; u++) {
    for (let i = 0; i < ACC; i++) b.push(op.get(1 + i), op.get(m), fmul, op.get(c), fadd, op.set(1 + i));
  }
  b.push(op.get(0), op.i32(1), op.sub32, op.set(0), op.get(0), op.i32(0), op.ne32, op.brIf(0), op.end);
  b.push(op.get(1));
  for (let i = 1; i < ACC; i++) b.push(op.get(1 + i), fadd);
  b.push(lane0);
  return [...vec([[...uleb(ACC + 2), V128]]), ...b.flat(), ...op.end];
}
function addBody() {
  // params x y z bytes; local 4: i
  const b = [op.loop];
  for (let o = 0; o < 64; o += 16) {
    b.push(op.get(2), op.get(4), op.add32);
    b.push(op.get(0), op.get(4), op.add32, v128load(o));
    b.push(op.get(1), op.get(4), op.add32, v128load(o));
    b.push(fadd, v128store(o));
  }
  b.push(op.get(4), op.i32(64), op.add32, op.set(4), op.get(4), op.get(3), op.ltu32, op.brIf(0), op.end);
  return [...vec([[...uleb(1), I32]]), ...b.flat(), ...op.end];
}
function sumBody() {
  // params x bytes; local 2: i, locals 3..6: accumulators
  const b = [op.loop];
  for (let k = 0; k < 4; k++) b.push(op.get(3 + k), op.get(0), op.get(2), op.add32, v128load(16 * k), fadd, op.set(3 + k));
  b.push(op.get(2), op.i32(64), op.add32, op.set(2), op.get(2), op.get(1), op.ltu32, op.brIf(0), op.end);
  b.push(op.get(3), op.get(4), fadd, op.get(5), op.get(6), fadd, fadd, lane0);
  return [...vec([[...uleb(1), I32], [...uleb(4), V128]]), ...b.flat(), ...op.end];
}

function assemble(pages) {
  const code = [peakBody(), addBody(), sumBody()].map((f) => [...uleb(f.length), ...f]);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([
      [0x60, ...vec([[I32]]), ...vec([[F32]])],
      [0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])],
      [0x60, ...vec([[I32], [I32]]), ...vec([[F32]])],
    ])),
    ...section(3, vec([[0], [1], [2]])),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([
      [...str("peak"), 0x00, 0],
      [...str("add"), 0x00, 1],
      [...str("sum"), 0x00, 2],
      [...str("memory"), 0x02, 0],
    ])),
    ...section(10, vec(code)),
  ]);
}

// ---- measurements ----
const bytes = sizes(quick).probeBytes;
const pages = Math.ceil((3 * bytes) / 65536) + 1;
const { instance } = await WebAssembly.instantiate(assemble(pages));
const { peak, add, sum, memory } = instance.exports;
const f32 = new Float32Array(memory.buffer);
for (let i = 0; i < (3 * bytes) / 4; i++) f32[i] = (i % 17) * 0.25; // touch every page first
const [x, y, z] = [0, bytes, 2 * bytes];

const reps = quick ? 3 : 9;
function time(fn, inner) {
  const t = [];
  for (let r = 0; r < reps; r++) {
    const t0 = now();
    for (let i = 0; i < inner; i++) fn();
    t.push((now() - t0) / inner);
  }
  return median(t);
}
// Warm up: V8 starts WebAssembly in Liftoff and tiers a function up only
// for its next call, so call each one several times before timing.
for (let i = 0; i < 20; i++) {
  peak(1000);
  add(x, y, z, Math.min(bytes, 1 << 16));
  sum(x, Math.min(bytes, 1 << 16));
}
const iters = quick ? 20_000 : 2_000_000;
const peakMs = time(() => peak(iters), 1);
const flops = iters * UNROLL * ACC * 4 * 2;
const addMs = time(() => add(x, y, z, bytes), quick ? 20 : 3);
const sumMs = time(() => sum(x, bytes), quick ? 20 : 3);
const check = f32[z / 4 + 5] === f32[x / 4 + 5] + f32[y / 4 + 5];
const values = {
  simd_peak: flops / (peakMs * 1e6),
  stream_add: (3 * bytes) / (addMs * 1e6),
  stream_read: bytes / (sumMs * 1e6),
};
const results = {};
for (const row of probeRows(quick)) results[row.id] = { value: values[row.id] };
if (!check) results.stream_add.reason = "add probe computed a wrong value";
for (const row of probeRows(quick)) process.stderr.write(`[bench probe] ${row.id}: ${values[row.id].toPrecision(4)} ${row.unit}\n`);
emit({ backend: "probe", results });
