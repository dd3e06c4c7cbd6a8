// Bad input never breaks the engine: a table-driven catalogue of bad inputs
// across the whole current surface. Every case must throw a JavaScript Error
// (never a WebAssembly.RuntimeError, i.e. never a trap) whose message names
// the operation and, where shapes are involved, the shapes; afterwards arrays
// created before the bad input (plain arrays, a variable with a gradient, a
// live recorded graph) still hold their exact values, no handle or tape node
// leaked, and new ops (including a backward pass) still work.
import { spawnSync } from "node:child_process";
import { freemem } from "node:os";
import { fileURLToPath } from "node:url";
import { describe, it, expect, afterEach } from "vitest";
import { nd, autograd, NDArray } from "ndgrad";
import { expectNoLeaks } from "./helpers.js";

afterEach(expectNoLeaks);

// ---------------------------------------------------------------------------
// The catalogue

interface Ctx {
  /** A [2,3] array [[1,2,3],[4,5,6]] (freed after the case). */
  a(): NDArray;
  /** A variable (gradient attached) freed after the case. */
  variable(data: number[] | number[][], gradReq?: "write" | "add" | "null"): NDArray;
  /** An array that has already been disposed. */
  disposed(): NDArray;
}

interface Case {
  name: string;
  /** The message must name this operation (or one of these). */
  op: string | string[];
  /** Substrings the message must contain: the shapes involved, byte counts, ... */
  says?: string[];
  run(c: Ctx): unknown;
}

const cases: Case[] = [];
const add = (op: Case["op"], name: string, run: Case["run"], says?: string[]): void => {
  cases.push({ name, op, run, says });
};

// -- data: jagged, non-numeric, wrong kinds --------------------------------
add("array", "jagged at depth 2", () => nd.array([[1, 2], [3]]));
add("array", "jagged at depth 3 (last leaf short)", () => nd.array([[[1, 2], [3, 4]], [[5, 6], [7]]]));
add("array", "jagged at depth 3 (middle level short)", () => nd.array([[[1], [2]], [[3]]]));
add("array", "jagged at depth 3 (a leaf that is a number)", () => nd.array([[[1, 2], [3, 4]], [[5, 6], 7]]));
add("array", "a number where a list is expected", () => nd.array([[1, 2], 3]));
add("array", "a list where a number is expected", () => nd.array([1, [2]]));
add("array", "an empty row among full ones", () => nd.array([[], [1]]));
add("array", "a string element", () => nd.array([1, "2"]));
add("array", "a string element at depth 2", () => nd.array([["a"]]));
add("array", "boolean elements", () => nd.array([true, false]));
add("array", "an undefined element", () => nd.array([1, undefined]));
add("array", "a hole in a sparse array", () => nd.array([1, , 3])); // eslint-disable-line no-sparse-arrays
add("array", "a null element", () => nd.array([[1], [null]]));
add("array", "an object element", () => nd.array([{}]));
add("array", "an NDArray element", () => nd.array([nd.zeros([1])]));
add("array", "a BigInt element", () => nd.array([1n]));
add("array", "a Symbol element", () => nd.array([Symbol("s")]));
add("array", "a string", () => nd.array("123"));
add("array", "a boolean", () => nd.array(true));
add("array", "undefined", () => nd.array(undefined));
add("array", "null", () => nd.array(null));
add("array", "a plain object", () => nd.array({ 0: 1, length: 1 }));
add("array", "a function", () => nd.array(() => 1));
add("array", "a Map", () => nd.array(new Map([[0, 1]])));
add("array", "a Symbol", () => nd.array(Symbol("s")));
add("array", "a BigInt", () => nd.array(10n));
add("array", "a DataView", () => nd.array(new DataView(new ArrayBuffer(8))));
add("array", "a BigInt64Array", () => nd.array(new BigInt64Array(2)));
add("array", "an unsupported dtype", () => nd.array([1, 2], { dtype: "float16" as "float32" }));
add("array", "nesting deeper than 32 levels", () => {
  let v: unknown = 1;
  for (let i = 0; i < 40; i++) v = [v];
  return nd.array(v);
});
add("array", "nesting 300 levels deep", () => {
  let v: unknown = 1;
  for (let i = 0; i < 300; i++) v = [v];
  return nd.array(v);
});

// -- typed arrays with a wrong shape ----------------------------------------
add("array", "Float32Array(6) with shape [4]", () => nd.array(new Float32Array(6), { shape: [4] }), ["[4]"]);
add("array", "Float32Array(6) with shape [2,4]", () => nd.array(new Float32Array(6), { shape: [2, 4] }), ["[2,4]"]);
add("array", "Int32Array(2) with shape [3]", () => nd.array(new Int32Array(2), { shape: [3] }), ["[3]"]);
add("array", "Float64Array(4) with shape [0]", () => nd.array(new Float64Array(4), { shape: [0] }), ["[0]"]);
add("array", "nested data with a contradicting shape", () => nd.array([[1, 2], [3, 4]], { shape: [3] }), ["[3]"]);
add("array", "a typed array with negative dims", () => nd.array(new Float32Array(2), { shape: [-2, -1] }));
add("array", "a typed array with a fractional dim", () => nd.array(new Float32Array(2), { shape: [0.5, 4] }));
add("array", "a shape that is an object", () => nd.array([1, 2], { shape: {} as number[] }));

// -- negative / fractional / NaN / Infinity / too many dims ------------------
add("zeros", "zeros with a negative dim", () => nd.zeros([2, -1]));
add("full", "full with a fractional dim", () => nd.full([1.5], 0));
add("full", "full with a NaN dim", () => nd.full([NaN, 2], 0));
add("full", "full with an Infinity dim", () => nd.full([Infinity], 0));
add("full", "full with a dim above 2^31-1", () => nd.full([2 ** 31], 0));
add("full", "full with rank 33", () => nd.full(new Array(33).fill(1), 0));
add("full", "full with a string shape", () => nd.full("3" as unknown as number[], 0));
add("uniform", "random.uniform with a NaN dim", () => nd.random.uniform(0, 1, [NaN]));
add("normal", "random.normal with an Infinity dim", () => nd.random.normal(0, 1, [2, Infinity]));
add("uniform", "random.uniform with a negative dim", () => nd.random.uniform(0, 1, { shape: [-3] }));

// -- huge shapes: more elements than memory can hold ------------------------
add("full", "a tensor of 2^30-1 floats (4 GiB, more than wasm32 memory)", () => nd.full([2 ** 30 - 1], 0), [
  "4294967292 bytes",
]);
add("uniform", "random.uniform of shape [65536,65536]", () => nd.random.uniform(0, 1, [2 ** 16, 2 ** 16]), [
  "[65536,65536]",
]);
add("full", "full of shape [32768,32768,2]", () => nd.full([2 ** 15, 2 ** 15, 2], 1), ["[32768,32768,2]"]);
add("add", "add broadcasting [32768,1] and [1,32768] into 4 GiB", () => nd.zeros([2 ** 15, 1]).add(nd.zeros([1, 2 ** 15])), [
  "4294967296 bytes",
]);
add("broadcastTo", "broadcastTo [65536,65536]", () => nd.zeros([1]).broadcastTo([2 ** 16, 2 ** 16]), ["[65536,65536]"]);
add("dot", "dot of [32768,1] and [1,32768] into 4 GiB", () => nd.zeros([2 ** 15, 1]).dot(nd.zeros([1, 2 ** 15])), [
  "4294967296 bytes",
]);
add("arange", "arange of 2^30-1 elements", () => nd.arange(0, 2 ** 30 - 1), ["4294967292 bytes"]);
add("arange", "arange of 10^12 elements", () => nd.arange(0, 1e12));
// A valid empty input whose result (2^31-1 zeros, 8 GiB) cannot exist.
add("sum", "sum of an empty [0,2^31-1] array over axis 0", () => nd.zeros([0, 2 ** 31 - 1]).sum(0));

// -- incompatible broadcasting, for every binary op --------------------------
const BINARY_OPS = [
  "add", "sub", "mul", "div", "pow", "maximum", "minimum",
  "equal", "notEqual", "greater", "greaterEqual", "lesser", "lesserEqual",
] as const;
for (const op of BINARY_OPS) {
  add(op, `${op}: [2,3] with [4]`, (c) => c.a()[op](nd.zeros([4])), ["[2,3]", "[4]"]);
  add(op, `nd.${op}: [4,1,3] with [2,2]`, () => nd[op](nd.zeros([4, 1, 3]), nd.zeros([2, 2])), ["[4,1,3]", "[2,2]"]);
}
add("add", "add: [4] with [2,3] (operands reversed)", (c) => nd.zeros([4]).add(c.a()), ["[4]", "[2,3]"]);
add("mul", "mul: [2,3] with [3,2]", (c) => c.a().mul(nd.zeros([3, 2])), ["[2,3]", "[3,2]"]);

// -- dot mismatches ------------------------------------------------------------
add("dot", "dot [2,3]·[2,3]", (c) => c.a().dot(c.a()), ["[2,3]"]);
add("dot", "dot [3]·[4]", () => nd.zeros([3]).dot(nd.zeros([4])), ["[3]", "[4]"]);
add("dot", "dot [2,3]·[2]", (c) => nd.dot(c.a(), nd.zeros([2])), ["[2,3]", "[2]"]);
add("dot", "dot [4]·[3,2]", () => nd.dot(nd.zeros([4]), nd.zeros([3, 2])), ["[4]", "[3,2]"]);
add("dot", "dot with a 0-d array", (c) => nd.dot(nd.array(new Float32Array([1]), { shape: [] }), c.a()));
add("dot", "dot with a number", (c) => nd.dot(c.a(), 2 as unknown as NDArray));
add("dot", "dot with a string", (c) => c.a().dot("x" as unknown as NDArray));

// -- bad axes, for every reduction ------------------------------------------
const REDUCTIONS = ["sum", "mean", "max", "min", "prod", "norm"] as const;
for (const op of REDUCTIONS) {
  add(op, `${op}: axis 2 of a 2-D array`, (c) => c.a()[op](2), ["2"]);
  add(op, `${op}: axis -3 of a 2-D array`, (c) => c.a()[op](-3), ["-3"]);
  add(op, `${op}: duplicate axes [0,-2]`, (c) => c.a()[op]([0, -2]));
  add(op, `${op}: fractional axis 0.5`, (c) => c.a()[op](0.5));
  add(op, `${op}: NaN axis`, (c) => nd[op](c.a(), NaN));
  add(op, `${op}: a string axis`, (c) => c.a()[op]("0" as unknown as number));
}
add("sum", "sum: keepdims that is not a boolean", (c) => c.a().sum(0, "yes" as unknown as boolean));
add("sum", "sum: 300 axes", (c) => c.a().sum(new Array<number>(300).fill(0)));
add("max", "max of an empty array", () => nd.zeros([0]).max(), ["[0]"]);
add("min", "min over an empty axis", () => nd.zeros([0, 2]).min(0), ["[0,2]"]);
add("sum", "nd.sum of a number", () => nd.sum(1 as unknown as NDArray));

// -- reshape -------------------------------------------------------------------
add("reshape", "reshape with two -1", (c) => c.a().reshape([-1, -1]));
add("reshape", "reshape [2,3] to [4]", (c) => c.a().reshape([4]), ["[2,3]", "4"]);
add("reshape", "reshape [2,3] to [-1,4]", (c) => c.a().reshape([-1, 4]), ["[2,3]"]);
add("reshape", "reshape with a -2", (c) => c.a().reshape([-2, 3]));
add("reshape", "reshape with a fractional dim", (c) => c.a().reshape([1.5, 4]));
add("reshape", "reshape with a string dim", (c) => c.a().reshape(["6" as unknown as number]));
add("reshape", "reshape to rank 33", () => nd.zeros([1]).reshape(new Array<number>(33).fill(1)));
add("reshape", "nd.reshape of a number", () => nd.reshape(1 as unknown as NDArray, [1]));

// -- transpose -----------------------------------------------------------------
add("transpose", "transpose with too few axes", (c) => c.a().transpose([0]), ["[2,3]"]);
add("transpose", "transpose with a repeated axis", (c) => c.a().transpose([0, 0]));
add("transpose", "transpose with an axis out of range", (c) => c.a().transpose([0, 2]));
add("transpose", "transpose with axes [1,-1] (repeated after normalising)", (c) => c.a().transpose([1, -1]));
add("transpose", "transpose with a fractional axis", (c) => c.a().transpose([0, 1.5]));
add("transpose", "transpose with a string", (c) => c.a().transpose("a" as unknown as number));

// -- broadcastTo ---------------------------------------------------------------
add("broadcastTo", "broadcastTo [2,3] → [4,3]", (c) => c.a().broadcastTo([4, 3]), ["[2,3]", "[4,3]"]);
add("broadcastTo", "broadcastTo [2,3] → [3] (fewer dims)", (c) => c.a().broadcastTo([3]), ["[2,3]", "[3]"]);
add("broadcastTo", "broadcastTo [2,3] → [3,2,2]", (c) => c.a().broadcastTo([3, 2, 2]), ["[2,3]", "[3,2,2]"]);
add("broadcastTo", "broadcastTo a negative dim", (c) => c.a().broadcastTo([2, -3]));
add("broadcastTo", "broadcastTo a fractional dim", (c) => c.a().broadcastTo([2, 3.5]));
add("broadcastTo", "broadcastTo a string", (c) => c.a().broadcastTo("x" as unknown as number[]));

// -- expandDims / squeeze --------------------------------------------------------
add("expandDims", "expandDims axis out of range", (c) => c.a().expandDims(3));
add("expandDims", "expandDims fractional axis", (c) => c.a().expandDims(0.5));
add("squeeze", "squeeze an axis whose size is not 1", () => nd.zeros([2, 1]).squeeze(0), ["[2,1]"]);
add("squeeze", "squeeze an axis out of range", () => nd.zeros([2, 1]).squeeze(5));

// -- indexing ------------------------------------------------------------------
add("at", "at(2) on 2 rows", (c) => c.a().at(2), ["[2,3]"]);
add("at", "at(-3) on 2 rows", (c) => c.a().at(-3), ["[2,3]"]);
add("at", "at(1.5)", (c) => c.a().at(1.5));
add("at", "at(NaN)", (c) => c.a().at(NaN));
add("at", "at(Infinity)", (c) => c.a().at(Infinity));
add("at", "at of a string", (c) => c.a().at("1" as unknown as number));
add("at", "at on a 0-d array", () => nd.array(new Float32Array([1]), { shape: [] }).at(0));
add("slice", "slice(0.5)", (c) => c.a().slice(0.5));
add("slice", "slice(0, NaN)", (c) => c.a().slice(0, NaN));
add("slice", "slice(0, Infinity)", (c) => c.a().slice(0, Infinity));
add("slice", "slice of a string", (c) => c.a().slice("1" as unknown as number));
add("slice", "slice on a 0-d array", () => nd.array(new Float32Array([1]), { shape: [] }).slice(0, 1));

// -- conversion ----------------------------------------------------------------
add("asscalar", "asscalar on [2,3]", (c) => c.a().asscalar(), ["[2,3]"]);
add("asscalar", "asscalar on an empty array", () => nd.zeros([0]).asscalar(), ["[0]"]);
add("data", "data(out) with a too short out", (c) => c.a().data(new Float32Array(2)));
add("data", "data(out) with a plain array", (c) => c.a().data([0, 0, 0, 0, 0, 0] as unknown as Float32Array));
add("astype", "astype float16", (c) => c.a().astype("float16" as "float32"));

// -- dtypes ------------------------------------------------------------------------
const f64 = (): NDArray => nd.array([1, 2, 3], { dtype: "float64" });
const i32 = (v: number[] = [1, 2, 3]): NDArray => nd.array(v, { dtype: "int32" });
add("add", "float32 + float64", (c) => c.a().add(nd.array([[1, 2, 3]], { dtype: "float64" })), ["float32", "float64", "[2,3]", "[1,3]"]);
add("mul", "int32 * float32", () => i32().mul(nd.array([1, 2, 3])), ["int32", "float32"]);
add("maximum", "nd.maximum float64 vs int32", () => nd.maximum(f64(), i32()), ["float64", "int32"]);
add("dot", "dot of float32 and float64", () => nd.dot(nd.ones([2, 2]), nd.ones([2, 2], { dtype: "float64" })), ["float32", "float64"]);
add("concat", "concat of mixed dtypes", () => nd.concat([nd.ones([1, 2]), nd.ones([1, 2], { dtype: "int32" })], 0), ["float32", "int32"]);
add("where", "where with x and y of different dtypes", () => nd.where(nd.ones([3]), f64(), nd.ones([3])), ["float64", "float32"]);
add("div", "int32 division by an array holding 0", () => i32().div(i32([1, 0, 2])), ["int32"]);
add("div", "int32 division by the number 0", () => i32().div(0), ["int32"]);
add("div", "int32 division by 0.5 (truncated to 0)", () => i32().div(0.5), ["int32"]);
add("div", "a number divided by an int32 array holding 0", () => nd.div(6, i32([1, 0])), ["int32"]);
add("exp", "exp of int32", () => i32().exp(), ["int32", "[3]"]);
add("softmax", "softmax of int32", () => i32().softmax(), ["int32"]);
add("norm", "norm of int32", () => i32().norm(), ["int32"]);
add("attachGrad", "attachGrad on int32", () => i32().attachGrad(), ["int32"]);
add("array", "int32 from a value beyond 2^31", () => nd.array([1, 2 ** 31], { dtype: "int32" }), ["int32", "2147483648"]);
add("array", "int32 from NaN", () => nd.array([[NaN]], { dtype: "int32" }), ["int32", "NaN"]);
add("array", "dtype float16", () => nd.array([1], { dtype: "float16" as "float32" }));
add("array", "options that are not an object", () => nd.array([1], "float64" as unknown as { dtype: "float64" }));
add("zeros", "zeros with dtype bool", () => nd.zeros([2], { dtype: "bool" as "float32" }));
add("full", "full with dtype 3", () => nd.full([2], 1, { dtype: 3 as unknown as "float32" }));
add("arange", "arange with dtype int8", () => nd.arange(0, 3, 1, { dtype: "int8" as "float32" }));
add("array", "uint8 from 256", () => nd.array([1, 256], { dtype: "uint8" }), ["uint8", "256"]);
add("array", "uint8 from -1", () => nd.array([[-1]], { dtype: "uint8" }), ["uint8", "-1"]);
add("exp", "exp of uint8", () => nd.array(new Uint8Array([1, 2])).exp(), ["uint8", "[2]"]);
add("attachGrad", "attachGrad on uint8", () => nd.array(new Uint8Array([1, 2])).attachGrad(), ["uint8"]);
add("div", "uint8 division by zero", () => nd.array(new Uint8Array([1, 2])).div(nd.array(new Uint8Array([1, 0]))), ["uint8", "zero"]);
add("div", "uint8 division by a number that is 0 in uint8", () => nd.array(new Uint8Array([1, 2])).div(256), ["uint8", "zero"]);
add("add", "uint8 + float32", () => nd.array(new Uint8Array([1, 2])).add(nd.ones([2])), ["uint8", "float32"]);
add("uniform", "random.uniform uint8", () => nd.random.uniform(0, 1, [2], { dtype: "uint8" }), ["uint8"]);
add("uniform", "random.uniform int32", () => nd.random.uniform(0, 1, [2], { dtype: "int32" }), ["int32"]);
add("normal", "random.normal float16", () => nd.random.normal(0, 1, [2], "float16" as "float32"));
add("astype", "astype of a number", (c) => c.a().astype(1 as unknown as "float32"));
add("data", "data(out) with an Int16Array", (c) => c.a().data(new Int16Array(6) as unknown as Float32Array));
add("backward", "a float64 head gradient for a float32 head", (c) => {
  const v = c.variable([1, 2]);
  autograd.record(() => v.mul(2)).backward(nd.ones([2], { dtype: "float64" }));
}, ["float64", "float32"]);

// -- files: nd.load / nd.save (#13); the full corrupt-file catalogue is tests/ts/io.test.ts
/** Little-endian bytes from [value, width] pairs (width 4 or 8). */
const bytesOf = (...words: [number, number][]): Uint8Array => {
  const out = new Uint8Array(words.reduce((n, [, w]) => n + w, 0));
  const v = new DataView(out.buffer);
  let p = 0;
  for (const [x, w] of words) {
    if (w === 8) v.setBigUint64(p, BigInt(x), true);
    else v.setUint32(p, x >>> 0, true);
    p += w;
  }
  return out;
};
const list = (count: number): [number, number][] => [[0x112, 8], [0, 8], [count, 8]];
add("load", "load of an empty buffer", () => nd.load(new Uint8Array(0)), ["truncated"]);
add("load", "load with a wrong list header", () => nd.load(bytesOf([0x113, 8], [0, 8], [0, 8])), ["0x113"]);
add("load", "load of a file claiming 2^40 arrays", () => nd.load(bytesOf(...list(2 ** 40))), ["1099511627776"]);
add("load", "load of a record with a bad magic", () => nd.load(bytesOf(...list(1), [0xdeadbeef, 4], [0, 8])), ["0xdeadbeef"]);
add("load", "load of a header claiming 2^40 elements", () =>
  nd.load(bytesOf(...list(1), [0xf993fac9, 4], [0, 4], [2, 4], [2 ** 20, 8], [2 ** 20, 8], [1, 4], [0, 4], [0, 4])), ["[1048576,1048576]"]);
add("load", "load of a record whose data is missing", () =>
  nd.load(bytesOf(...list(1), [0xf993fac9, 4], [0, 4], [1, 4], [1000, 8], [1, 4], [0, 4], [0, 4])), ["truncated", "4000"]);
add("load", "load of a sparse (csr) record", () => nd.load(bytesOf(...list(1), [0xf993fac9, 4], [2, 4], [0, 8])), ["sparse", "csr"]);
add("load", "load of a file with more names than arrays", () => nd.load(bytesOf(...list(0), [1, 8], [1, 8])), ["0 arrays", "1 names"]);
add("load", "load of a number", () => nd.load(7 as never), ["got 7"]);
add("load", "load of an .npy with a complex dtype", () => {
  const header = "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }\n";
  const text = "\x93NUMPY\x01\x00" + String.fromCharCode(header.length, 0) + header + "\0".repeat(8);
  return nd.load(Uint8Array.from(text, (ch) => ch.charCodeAt(0)));
}, ["<c8"]);
add("save", "save of a string", () => nd.save(null, "x" as never), ["got"]);
add("save", "save of a dict holding a number", () => nd.save(null, { w: 1 } as never), ['"w"']);
add("save", "save of a disposed array", (c) => nd.save(null, [c.disposed()]), ["disposed"]);

// -- the model ops -----------------------------------------------------------------
add("clip", "clip with aMin > aMax", (c) => c.a().clip(2, 1), ["2", "1"]);
add("clip", "clip with NaN bound", (c) => c.a().clip(NaN, 1));
add("clip", "clip with a string bound", (c) => c.a().clip("0" as unknown as number, 1));
add("leakyRelu", "leakyRelu slope string", (c) => c.a().leakyRelu("0.1" as unknown as number));
add("softmax", "softmax axis 2 of [2,3]", (c) => c.a().softmax(2), ["[2,3]"]);
add("logSoftmax", "logSoftmax axis 1.5", (c) => c.a().logSoftmax(1.5));
add("take", "take with a number as indices", (c) => c.a().take(1 as unknown as NDArray));
add("take", "take axis 2 of [2,3]", (c) => c.a().take(nd.array([0]), 2), ["[2,3]"]);
add("take", "take mode raise", (c) => c.a().take(nd.array([0]), { mode: "raise" as "clip" }));
add("take", "take from an empty axis", () => nd.zeros([0, 2]).take(nd.array([0])), ["[0,2]"]);
add("pick", "pick with an index of the wrong shape", (c) => c.a().pick(nd.array([0, 1, 2]), 1), ["[2,3]", "[3]"]);
add("pick", "pick axis -3", (c) => c.a().pick(nd.array([0, 1]), -3), ["[2,3]"]);
add("oneHot", "oneHot depth -1", () => nd.oneHot(nd.array([1]), -1));
add("oneHot", "oneHot depth 2.5", () => nd.oneHot(nd.array([1]), 2.5));
add("oneHot", "oneHot of a list", () => nd.oneHot([1, 2] as unknown as NDArray, 3));
add("oneHot", "oneHot dtype bool", () => nd.oneHot(nd.array([1]), 2, { dtype: "bool" as "float32" }));
add("argmax", "argmax axis 5", (c) => c.a().argmax(5), ["[2,3]"]);
add("argmax", "argmax of an empty array", () => nd.zeros([0]).argmax(), ["[0]"]);
add("argmin", "argmin keepdims string", (c) => c.a().argmin(0, "yes" as unknown as boolean));
add("topk", "topk k 0", (c) => c.a().topk({ k: 0 }), ["[2,3]"]);
add("topk", "topk k 4 on an axis of 3", (c) => c.a().topk({ k: 4 }), ["[2,3]"]);
add("topk", "topk retTyp bogus", (c) => c.a().topk({ retTyp: "bogus" as "value" }));
add("topk", "topk axis -3", (c) => c.a().topk({ axis: -3 }), ["[2,3]"]);
add("sort", "sort axis 2", (c) => c.a().sort(2), ["[2,3]"]);
add("argsort", "argsort isAscend string", (c) => c.a().argsort({ isAscend: "no" as unknown as boolean }));
add("tile", "tile with negative reps", (c) => c.a().tile([-1, 2]));
add("tile", "tile with fractional reps", (c) => c.a().tile(1.5));
add("tile", "tile to an impossible size", (c) => c.a().tile([1 << 20, 1 << 20]));
add("repeat", "repeat -1", (c) => c.a().repeat(-1));
add("repeat", "repeat axis 2", (c) => c.a().repeat(2, 2), ["[2,3]"]);
add("repeat", "repeat to an impossible size", (c) => c.a().repeat(0x7fffffff, 1));
add("flip", "flip without an axis", (c) => c.a().flip(undefined as unknown as number));
add("flip", "flip axis 3", (c) => c.a().flip(3), ["[2,3]"]);
add("slice", "slice step 0", (c) => c.a().slice(0, 2, 0));
add("slice", "multi-axis slice with too many axes", (c) => c.a().slice([0, 0, 0], [1, 1, 1]), ["[2,3]"]);
add("slice", "multi-axis slice with lists of different lengths", (c) => c.a().slice([0, 0], [1]));
add("slice", "multi-axis slice with a fractional bound", (c) => c.a().slice([0.5], [1]));
add("sliceAxis", "sliceAxis axis 2", (c) => c.a().sliceAxis(2, 0, 1), ["[2,3]"]);
add("sliceAxis", "sliceAxis begin NaN", (c) => c.a().sliceAxis(0, NaN, 1));
add("dot", "dot transposeA with mismatched shapes", (c) => c.a().dot(nd.ones([2, 3]), { transposeB: true, transposeA: true }), ["[3,2]", "[3,2]"]);
add("dot", "dot transposeA string", (c) => c.a().dot(nd.ones([3, 3]), { transposeA: "yes" as unknown as boolean }));
add("norm", "norm ord 3", (c) => c.a().norm({ ord: 3 as 1 }));
add("where", "where with a number condition", () => nd.where(1 as unknown as NDArray, nd.ones([2]), nd.ones([2])));
add("where", "where with shapes that do not broadcast", () => nd.where(nd.ones([3]), nd.ones([2]), nd.ones([2])), ["[3]", "[2]"]);

// -- Pooling, BatchNorm, LayerNorm (pool branch) -----------------------------------
const img = (): NDArray => nd.ones([2, 3, 4, 4]);
const ch = (n = 3, dtype: "float32" | "float64" = "float32"): NDArray => nd.ones([n], { dtype });
add("Pooling", "Pooling kernel larger than the padded input", () => nd.Pooling(img(), { kernel: 5 }), ["[2,3,4,4]", "5"]);
add("Pooling", "Pooling kernel larger than the padded input (1-D)", () => nd.Pooling(nd.ones([1, 1, 3]), { kernel: [6], pad: [1] }), ["[1,1,3]"]);
add("Pooling", "Pooling stride 0", () => nd.Pooling(img(), { kernel: 2, stride: 0 }), ["[2,3,4,4]", "stride"]);
add("Pooling", "Pooling negative pad", () => nd.Pooling(img(), { kernel: 2, pad: [-1, 0] }), ["[2,3,4,4]", "pad"]);
add("Pooling", "Pooling kernel 0", () => nd.Pooling(img(), { kernel: [0, 2] }), ["[2,3,4,4]"]);
add("Pooling", "Pooling unknown poolType", () => nd.Pooling(img(), { kernel: 2, poolType: "lp" as "max" }), ["lp"]);
add("Pooling", "Pooling unknown poolingConvention", () => nd.Pooling(img(), { kernel: 2, poolingConvention: "same" as "valid" }), ["same"]);
add("Pooling", "Pooling of 2-D data", () => nd.Pooling(nd.ones([4, 4]), { kernel: 2 }), ["[4,4]"]);
add("Pooling", "Pooling of 5-D data (3-D pooling)", () => nd.Pooling(nd.ones([1, 1, 2, 2, 2]), { kernel: [1, 1, 1] }), ["[1,1,2,2,2]"]);
add("Pooling", "Pooling 1-D kernel on 4-D data", () => nd.Pooling(img(), { kernel: [2] }), ["[2,3,4,4]"]);
add("Pooling", "Pooling stride of the wrong length", () => nd.Pooling(img(), { kernel: [2, 2], stride: [1, 1, 1] }), ["[2,3,4,4]"]);
add("Pooling", "Pooling without a kernel", () => nd.Pooling(img()), ["[2,3,4,4]", "kernel"]);
add("Pooling", "Pooling of int32", () => nd.Pooling(nd.ones([1, 1, 4, 4], { dtype: "int32" }), { kernel: 2 }), ["int32", "[1,1,4,4]"]);
add("Pooling", "Pooling kernel string", () => nd.Pooling(img(), { kernel: "2" as unknown as number }));
add("Pooling", "Pooling options a number", () => nd.Pooling(img(), 2 as unknown as { kernel: number }));
add("Pooling", "Pooling of a list", () => nd.Pooling([[1]] as unknown as NDArray, { kernel: 1 }));
add("Pooling", "poolingShape kernel too large", () => nd.poolingShape([1, 1, 2, 2], { kernel: 3 }), ["[1,1,2,2]"]);
add("BatchNorm", "BatchNorm gamma of the wrong shape", () => nd.BatchNorm(img(), ch(4), ch(), ch(), ch()), ["[2,3,4,4]", "[4]", "gamma"]);
add("BatchNorm", "BatchNorm movingVar of the wrong shape", () => nd.BatchNorm(img(), ch(), ch(), ch(), nd.ones([3, 1])), ["[2,3,4,4]", "[3,1]"]);
add("BatchNorm", "BatchNorm float64 movingMean with float32 data", () => nd.BatchNorm(img(), ch(), ch(), ch(3, "float64"), ch()), ["float64", "float32"]);
add("BatchNorm", "BatchNorm axis 4 of 4-D data", () => nd.BatchNorm(img(), ch(), ch(), ch(), ch(), { axis: 4 }), ["[2,3,4,4]"]);
add("BatchNorm", "BatchNorm of 1-D data", () => nd.BatchNorm(nd.ones([3]), ch(), ch(), ch(), ch()), ["[3]"]);
add("BatchNorm", "BatchNorm of int32", () => nd.BatchNorm(nd.ones([2, 3], { dtype: "int32" }), ch(), ch(), ch(), ch()), ["int32"]);
add("BatchNorm", "BatchNorm eps NaN", () => nd.BatchNorm(img(), ch(), ch(), ch(), ch(), { eps: NaN }), ["eps"]);
add("BatchNorm", "BatchNorm fixGamma string", () => nd.BatchNorm(img(), ch(), ch(), ch(), ch(), { fixGamma: "no" as unknown as boolean }));
add("BatchNorm", "BatchNorm without moving statistics", () => nd.BatchNorm(img(), ch(), ch(), undefined as unknown as NDArray, ch()));
add("BatchNorm", "BatchNorm updating moving statistics a recorded op still needs", () => {
  const x = nd.array([[1, 2], [3, 5]]);
  x.attachGrad();
  const mm = nd.zeros([2]);
  try {
    autograd.record(() => nd.BatchNorm(x, nd.ones([2]), nd.zeros([2]), mm, nd.ones([2])).add(x.mul(mm).sum())).backward();
  } finally {
    x.dispose();
  }
}, ["moving statistics", "[2]"]);
add("LayerNorm", "LayerNorm gamma of the wrong shape", () => nd.LayerNorm(img(), ch(), ch(4)), ["[2,3,4,4]", "[3]"]);
add("LayerNorm", "LayerNorm axis -5", () => nd.LayerNorm(img(), ch(4), ch(4), { axis: -5 }), ["[2,3,4,4]"]);
add("LayerNorm", "LayerNorm negative eps", () => nd.LayerNorm(img(), ch(4), ch(4), { eps: -1 }), ["eps"]);
add("LayerNorm", "LayerNorm beta a number", () => nd.LayerNorm(img(), ch(4), 0 as unknown as NDArray));

// -- every method on a disposed array ------------------------------------------
const disposedCalls: [string | string[], string, (x: NDArray, c: Ctx) => unknown][] = [
  ...BINARY_OPS.map((op): [string, string, (x: NDArray) => unknown] => [op, `${op}(1)`, (x) => x[op](1)]),
  ...(["neg", "exp", "log", "sqrt", "square", "abs", "sigmoid", "tanh", "relu", "sign"] as const).map(
    (op): [string, string, (x: NDArray) => unknown] => [op, `${op}()`, (x) => x[op]()],
  ),
  ...REDUCTIONS.map((op): [string, string, (x: NDArray) => unknown] => [op, `${op}()`, (x) => x[op]()]),
  ["reshape", "reshape([4])", (x) => x.reshape([4])],
  ["transpose", "transpose()", (x) => x.transpose()],
  [["T", "transpose"], ".T", (x) => x.T],
  ["expandDims", "expandDims(0)", (x) => x.expandDims(0)],
  ["squeeze", "squeeze()", (x) => x.squeeze()],
  ["broadcastTo", "broadcastTo([2,2])", (x) => x.broadcastTo([2, 2])],
  ["dot", "dot(x)", (x) => x.dot(nd.zeros([2, 2]))],
  ["at", "at(0)", (x) => x.at(0)],
  ["slice", "slice(0, 1)", (x) => x.slice(0, 1)],
  ["set", "set(1)", (x) => x.set(1)],
  ["set", "set(NDArray)", (x) => x.set(nd.zeros([2, 2]))],
  ["asscalar", "asscalar()", (x) => x.asscalar()],
  ["data", "data()", (x) => x.data()],
  ["toArray", "toArray()", (x) => x.toArray()],
  ["astype", "astype('float32')", (x) => x.astype("float32")],
  ["copy", "copy()", (x) => x.copy()],
  ["detach", "detach()", (x) => x.detach()],
  ["attachGrad", "attachGrad()", (x) => x.attachGrad()],
  ["grad", ".grad", (x) => x.grad],
  ["backward", "backward()", (x) => x.backward()],
  ["toString", "toString()", (x) => x.toString()],
  ["toString", "String(x)", (x) => String(x)],
  // ... and as an argument
  ["add", "a.add(disposed)", (x, c) => c.a().add(x)],
  ["dot", "nd.dot(a, disposed)", (x) => nd.dot(nd.zeros([2, 2]), x)],
  ["set", "a.set(disposed)", (x) => nd.zeros([2, 2]).set(x)],
  ["array", "nd.array(disposed)", (x) => nd.array(x)],
  ["zerosLike", "nd.zerosLike(disposed)", (x) => nd.zerosLike(x)],
  ["onesLike", "nd.onesLike(disposed)", (x) => nd.onesLike(x)],
  ["backward", "autograd.backward([disposed])", (x) => autograd.backward([x])],
  [
    "backward",
    "y.backward(disposed head gradient)",
    (x, c) => {
      const v = c.variable([[1, 2], [3, 4]]);
      autograd.record(() => v.mul(2)).backward(x);
    },
  ],
];
for (const [op, what, call] of disposedCalls) {
  add(op, `disposed array: ${what}`, (c) => call(c.disposed(), c), ["disposed"]);
}

// -- wrong argument types ----------------------------------------------------------
add("add", "add a string", (c) => c.a().add("1" as unknown as number));
add("sub", "nd.sub with a string", () => nd.sub("a" as unknown as number, 1));
add("mul", "mul by null", (c) => c.a().mul(null as unknown as number));
add("div", "div by undefined", (c) => c.a().div(undefined as unknown as number));
add("pow", "pow with an object", (c) => c.a().pow({} as unknown as number));
add("maximum", "maximum with a plain array", (c) => c.a().maximum([1] as unknown as number));
add("exp", "nd.exp of a number", () => nd.exp(1 as unknown as NDArray));
add("full", "full with a string value", () => nd.full([2], "1" as unknown as number));
add("set", "set a string", (c) => c.a().set("1" as unknown as number));
add("set", "set null", (c) => c.a().set(null as unknown as number));
add("arange", "arange of a string", () => nd.arange("a" as unknown as number));
add("uniform", "random.uniform with a string bound", () => nd.random.uniform("0" as unknown as number, 1, [2]));
add("zerosLike", "nd.zerosLike of a string", () => nd.zerosLike("a" as unknown as NDArray));
add("scope", "nd.scope of a number", () => nd.scope(5 as unknown as () => void));
add("record", "autograd.record of a number", () => autograd.record(5 as unknown as () => void));
add("pause", "autograd.pause of null", () => autograd.pause(null as unknown as () => void));
add("record", "autograd.record with a non-boolean trainMode", () =>
  autograd.record(() => 1, { trainMode: 1 as unknown as boolean }),
);
add("backward", "backward(2): a number as the head gradient", (c) => {
  const v = c.variable([1, 2]);
  autograd.record(() => v.mul(2)).backward(2 as unknown as NDArray);
});
add("backward", "backward with a non-boolean retainGraph", (c) => {
  const v = c.variable([1, 2]);
  autograd.record(() => v.mul(2)).backward(null, { retainGraph: "yes" as unknown as boolean });
});

// -- attachGrad with a bad gradReq --------------------------------------------------
for (const req of ["foo", "WRITE", "toString", null, 1]) {
  add("attachGrad", `attachGrad(${JSON.stringify(req)})`, (c) =>
    c.a().attachGrad(req as unknown as "write"),
  );
}

// -- backward misuse --------------------------------------------------------------------
add("backward", "backward twice without retainGraph", (c) => {
  const x = c.variable([[1, 2], [3, 4]]);
  const y = autograd.record(() => x.mul(x).sum());
  y.backward();
  y.backward();
}, ["retain_graph"]);
add("backward", "backward on an array never recorded", (c) => c.a().backward(), ["computational graph"]);
add("backward", "backward on an array computed outside record", (c) => {
  const x = c.variable([1, 2]);
  x.mul(2).backward();
}, ["computational graph"]);
// A float comparison is recorded (zero gradients, MXNet's MakeZeroGradNodes:
// tests/ts/audit-ops.test.ts); an integer result never is.
add("backward", "backward on an integer comparison (integer arrays have no gradients)", () => {
  const i = nd.array([1, 2], { dtype: "int32" });
  autograd.record(() => i.greater(0)).backward();
}, ["computational graph"]);
add("backward", "backward with a head gradient of the wrong shape", (c) => {
  const x = c.variable([1, 2]);
  autograd.record(() => x.mul(2)).backward(nd.ones([3]));
}, ["[3]", "[2]"]);
add("backward", "autograd.backward with a head gradient of the wrong shape", (c) => {
  const x = c.variable([[1, 2], [3, 4]]);
  autograd.backward(autograd.record(() => x.mul(2)), { headGrads: [nd.ones([4])] });
}, ["[4]", "[2,2]"]);
add("backward", "autograd.backward with more head gradients than heads", (c) => {
  const x = c.variable([1, 2]);
  autograd.backward([autograd.record(() => x.mul(2))], { headGrads: [null, null] });
});
add("backward", "autograd.backward with no heads", () => autograd.backward([]));
add("backward", "autograd.backward with a string head", () => autograd.backward(["y"] as unknown as NDArray[]));

// -- set ------------------------------------------------------------------------------
add("set", "set [2,3] from [3,2]", (c) => c.a().set(nd.zeros([3, 2])), ["[3,2]", "[2,3]"]);
add("set", "set [2,3] from [4]", (c) => c.a().set(nd.zeros([4])), ["[4]", "[2,3]"]);
add("set", "set [2] from [2,2] (broadcast the wrong way)", () => nd.zeros([2]).set(nd.zeros([2, 2])), ["[2,2]", "[2]"]);
add("set", "set on a variable a live recorded graph needs", (c) => {
  const x = c.variable([1, 2]);
  autograd.record(() => x.mul(x));
  x.set(3);
});
add("set", "set(NDArray) on a variable a live recorded graph needs", (c) => {
  const x = c.variable([1, 2]);
  autograd.record(() => x.exp());
  x.set(nd.zeros([2]));
});
add("set", "set through a reshaped view of an array a live graph needs", (c) => {
  const x = c.variable([1, 2]);
  autograd.record(() => x.mul(x));
  x.reshape([2, 1]).set(1);
});
add("set", "set through a detached view of an array a live graph needs", (c) => {
  const x = c.variable([1, 2]);
  autograd.record(() => x.mul(x));
  x.detach().set(1);
});
add("set", "set on a recorded result while recording", (c) => {
  const x = c.variable([1, 2]);
  autograd.record(() => x.add(1).set(0));
});

// -- random ---------------------------------------------------------------------------
for (const s of [-1, 1.5, NaN, Infinity, 2 ** 53, "1", undefined, null]) {
  add("seed", `random.seed(${String(s)})`, () => nd.random.seed(s as number));
}
add("uniform", "random.uniform with a NaN bound", () => nd.random.uniform(0, NaN, [2]));
add("normal", "random.normal with a negative scale", () => nd.random.normal(0, -1, [2]));
add("normal", "random.normal with an infinite scale", () => nd.random.normal(0, Infinity, [2]));

// -- arange -----------------------------------------------------------------------------
add("arange", "arange with step 0", () => nd.arange(0, 10, 0));
add("arange", "arange with a NaN stop", () => nd.arange(0, NaN));
add("arange", "arange with an infinite start", () => nd.arange(-Infinity, 3));

// -- concat / stack / batchDot -----------------------------------------------------
add("concat", "concat [2,3] and [2,2] on axis 0", (c) => nd.concat([c.a(), nd.zeros([2, 2])], 0), ["[2,3]", "[2,2]"]);
add("concat", "concat arrays of different rank", (c) => nd.concat([c.a(), nd.zeros([3])], 0), ["[2,3]", "[3]"]);
add("concat", "concat on axis 2 of 2-D arrays", (c) => nd.concat([c.a(), c.a()], 2));
add("concat", "concat on a fractional axis", (c) => nd.concat([c.a(), c.a()], 0.5));
add("concat", "concat of nothing", () => nd.concat([], 0));
add("concat", "concat with a string among the arrays", (c) => nd.concat([c.a(), "x" as unknown as NDArray], 0));
add("concat", "concat of 0-d arrays", () => {
  const s = nd.array(new Float32Array([1]), { shape: [] });
  return nd.concat([s, s], 0);
});
add("stack", "stack [2,3] and [3,2]", (c) => nd.stack([c.a(), nd.zeros([3, 2])], 0), ["[2,3]", "[3,2]"]);
add("stack", "stack on axis 3 of 2-D arrays", (c) => nd.stack([c.a(), c.a()], 3));
add("stack", "stack of nothing", () => nd.stack([], 0));
add("batchDot", "batchDot of 2-D arrays", (c) => nd.batchDot(c.a(), c.a()), ["[2,3]"]);
add("batchDot", "batchDot with inner dims 4 and 3", () => nd.batchDot(nd.zeros([2, 3, 4]), nd.zeros([2, 3, 4])), ["[2,3,4]"]);
add("batchDot", "batchDot with batch sizes 2 and 3", () => nd.batchDot(nd.zeros([2, 3, 4]), nd.zeros([3, 4, 5])), [
  "[2,3,4]",
  "[3,4,5]",
]);
add("batchDot", "batchDot with a number", (c) => nd.batchDot(c.a(), 1 as unknown as NDArray));
for (const op of ["concat", "stack"] as const) {
  add(op, `disposed array: nd.${op}`, (c) => nd[op]([nd.zeros([2, 2]), c.disposed()], 0), ["disposed"]);
}
add("batchDot", "disposed array: nd.batchDot", (c) => nd.batchDot(c.disposed(), c.disposed()), ["disposed"]);

// -- dropout ------------------------------------------------------------------------------
add("dropout", "dropout with p = 1", (c) => nd.dropout(c.a(), 1));
add("dropout", "dropout with a negative p", (c) => nd.dropout(c.a(), -0.1));
add("dropout", "dropout with a NaN p", (c) => nd.dropout(c.a(), NaN));
add("dropout", "dropout of a string", () => nd.dropout("x" as unknown as NDArray));
add("dropout", "disposed array: nd.dropout", (c) => nd.dropout(c.disposed()), ["disposed"]);

// -- Convolution / Deconvolution (issue #12, conv branch) ----------------------------------------
{
  const x = (): NDArray => nd.zeros([2, 4, 5, 5]);
  const w = (): NDArray => nd.zeros([6, 4, 3, 3]);
  const k = { kernel: [3, 3], numFilter: 6, noBias: true };
  add("Convolution", "Convolution with a weight of the wrong shape", () => nd.Convolution(x(), nd.zeros([6, 3, 3, 3]), null, k), [
    "[6,4,3,3]",
    "[6,3,3,3]",
    "[2,4,5,5]",
  ]);
  add("Convolution", "Convolution with a kernel larger than the padded input", () =>
    nd.Convolution(x(), nd.zeros([6, 4, 7, 3]), null, { ...k, kernel: [7, 3] }), ["kernel size exceeds", "[2,4,5,5]"]);
  add("Convolution", "Convolution whose numGroup does not divide the channels", () =>
    nd.Convolution(x(), nd.zeros([6, 1, 3, 3]), null, { ...k, numGroup: 3 }), ["numGroup 3", "4 channels", "[2,4,5,5]"]);
  add("Convolution", "Convolution whose numGroup does not divide numFilter", () =>
    nd.Convolution(x(), nd.zeros([6, 1, 3, 3]), null, { ...k, numGroup: 4 }), ["numGroup 4", "numFilter 6"]);
  add("Convolution", "Convolution with a zero stride", () => nd.Convolution(x(), w(), null, { ...k, stride: [0, 1] }), ["stride"]);
  add("Convolution", "Convolution with a negative pad", () => nd.Convolution(x(), w(), null, { ...k, pad: [-1, 0] }), ["pad"]);
  add("Convolution", "Convolution with a zero dilate", () => nd.Convolution(x(), w(), null, { ...k, dilate: [1, 0] }), ["dilate"]);
  add("Convolution", "Convolution of 3-D data with a 2-D kernel", () => nd.Convolution(nd.zeros([2, 4, 5]), w(), null, k), ["[2,4,5]"]);
  add("Convolution", "Convolution with a 3-D kernel", () =>
    nd.Convolution(nd.zeros([1, 1, 2, 2, 2]), nd.zeros([1, 1, 1, 1, 1]), null, { ...k, kernel: [1, 1, 1] }), ["kernel"]);
  add("Convolution", "Convolution with a stride list of the wrong length", () => nd.Convolution(x(), w(), null, { ...k, stride: [1] }), [
    "stride",
  ]);
  add("Convolution", "Convolution with a bias of the wrong shape", () =>
    nd.Convolution(x(), w(), nd.zeros([5]), { kernel: [3, 3], numFilter: 6 }), ["bias", "[5]"]);
  add("Convolution", "Convolution without a bias and noBias false", () => nd.Convolution(x(), w(), null, { kernel: [3, 3], numFilter: 6 }), [
    "bias",
  ]);
  add("Convolution", "Convolution with a bias and noBias true", () => nd.Convolution(x(), w(), nd.zeros([6]), k), ["noBias"]);
  add("Convolution", "Convolution without numFilter", () =>
    nd.Convolution(x(), w(), null, { kernel: [3, 3], noBias: true } as unknown as { kernel: number[]; numFilter: number }), ["numFilter"]);
  add("Convolution", "Convolution with numFilter 0", () => nd.Convolution(x(), nd.zeros([0, 4, 3, 3]), null, { ...k, numFilter: 0 }), [
    "numFilter",
  ]);
  add("Convolution", "Convolution with an unknown option", () =>
    nd.Convolution(x(), w(), null, { ...k, adj: [1, 1] } as unknown as { kernel: number[]; numFilter: number }), ["adj"]);
  add("Convolution", "Convolution of float64 data with a float32 weight", () =>
    nd.Convolution(nd.zeros([2, 4, 5, 5], { dtype: "float64" }), w(), null, k), ["float64", "float32"]);
  add("Convolution", "Convolution of int32 data", () =>
    nd.Convolution(nd.zeros([2, 4, 5, 5], { dtype: "int32" }), nd.zeros([6, 4, 3, 3], { dtype: "int32" }), null, k), ["int32"]);
  add("Convolution", "Convolution of a number", () => nd.Convolution(1 as unknown as NDArray, w(), null, k));
  add("Convolution", "disposed array: nd.Convolution", (c) => nd.Convolution(c.disposed(), w(), null, k), ["disposed"]);
  add("Deconvolution", "Deconvolution with adj not below the stride", () =>
    nd.Deconvolution(x(), nd.zeros([4, 2, 3, 3]), null, { kernel: [3, 3], numFilter: 2, stride: [2, 2], adj: [2, 0] }), ["adj", "stride"]);
  add("Deconvolution", "Deconvolution with the convolution's weight layout", () =>
    nd.Deconvolution(x(), w(), null, { kernel: [3, 3], numFilter: 2 }), ["weight", "[4,2,3,3]", "[6,4,3,3]"]);
  add("Deconvolution", "Deconvolution whose pad leaves no output", () =>
    nd.Deconvolution(nd.zeros([1, 4, 1, 1]), nd.zeros([4, 2, 1, 1]), null, { kernel: [1, 1], numFilter: 2, pad: [1, 1] }), ["pad"]);
  add("Deconvolution", "Deconvolution whose numGroup does not divide the channels", () =>
    nd.Deconvolution(x(), nd.zeros([4, 1, 3, 3]), null, { kernel: [3, 3], numFilter: 3, numGroup: 3 }), ["numGroup 3"]);
  add("Deconvolution", "Deconvolution of 2-D data", (c) => nd.Deconvolution(c.a(), w(), null, { kernel: [3, 3], numFilter: 2 }), ["[2,3]"]);
}

// -- autograd.grad / markVariables ------------------------------------------------------------
add("grad", "autograd.grad of an array never recorded", (c) => {
  const x = c.variable([1, 2]);
  autograd.grad(x.mul(2), x);
}, ["computational graph"]);
add("grad", "autograd.grad twice without retainGraph", (c) => {
  const x = c.variable([1, 2]);
  const y = autograd.record(() => x.mul(x).sum());
  autograd.grad(y, x);
  autograd.grad(y, x);
}, ["retain_graph"]);
add("grad", "autograd.grad w.r.t. an array without a gradient", (c) => {
  const x = c.variable([1, 2]);
  const y = autograd.record(() => x.mul(2));
  autograd.grad(y, nd.zeros([2]));
});
add("grad", "autograd.grad w.r.t. nothing", (c) => {
  const x = c.variable([1, 2]);
  autograd.grad(autograd.record(() => x.mul(2)), []);
});
add("grad", "autograd.grad with a head gradient of the wrong shape", (c) => {
  const x = c.variable([1, 2]);
  autograd.grad(autograd.record(() => x.mul(2)), x, { headGrads: [nd.zeros([3])] });
}, ["[3]", "[2]"]);
add("grad", "autograd.grad with a non-boolean createGraph", (c) => {
  const x = c.variable([1, 2]);
  autograd.grad(autograd.record(() => x.mul(2)), x, { createGraph: "yes" as unknown as boolean });
});
add("grad", "autograd.grad w.r.t. a disposed variable", (c) => {
  const x = c.variable([1, 2]);
  const y = autograd.record(() => x.mul(2));
  x.dispose();
  autograd.grad(y, x);
}, ["disposed"]);
add("markVariables", "markVariables with a gradient of another shape", () =>
  autograd.markVariables([nd.zeros([2])], [nd.zeros([3])]), ["[3]", "[2]"]);
add("markVariables", "markVariables with fewer gradients than variables", () =>
  autograd.markVariables([nd.zeros([2]), nd.zeros([2])], [nd.zeros([2])]));
add("markVariables", "markVariables with a string", () =>
  autograd.markVariables(["x" as unknown as NDArray], [nd.zeros([2])]));
add("markVariables", "markVariables with a bad gradReq", () =>
  autograd.markVariables([nd.zeros([2])], [nd.zeros([2])], "sometimes" as "write"));

// -- autograd.Function misuse ----------------------------------------------------------------
class TwoGrads extends autograd.Function {
  forward(x: NDArray): NDArray {
    return x.mul(2);
  }
  backward(dy: NDArray): NDArray[] {
    return [dy.mul(2), dy.mul(2)];
  }
}
class WrongGradShape extends autograd.Function {
  forward(x: NDArray): NDArray {
    return x.mul(2);
  }
  backward(): NDArray {
    return nd.ones([7]);
  }
}
class NumberGrad extends autograd.Function {
  forward(x: NDArray): NDArray {
    return x.mul(2);
  }
  backward(): NDArray {
    return 5 as unknown as NDArray;
  }
}
class ReturnsInput extends autograd.Function {
  forward(x: NDArray): NDArray {
    return x;
  }
  backward(dy: NDArray): NDArray {
    return dy;
  }
}
class ReturnsNothing extends autograd.Function {
  forward(): NDArray[] {
    return [];
  }
}
class BadBackwardOp extends autograd.Function {
  forward(x: NDArray): NDArray {
    return x.mul(2);
  }
  backward(dy: NDArray): NDArray {
    return dy.add(nd.ones([5]));
  }
}
const runFunction = (F: new () => autograd.Function) => (c: Ctx): void => {
  const x = c.variable([1, 2]);
  const y = autograd.record(() => new F().apply(x) as NDArray);
  autograd.record(() => y.sum()).backward();
};
add("TwoGrads", "a Function whose backward returns two gradients for one input", runFunction(TwoGrads));
add("WrongGradShape", "a Function whose backward returns a [7] gradient for a [2] input", runFunction(WrongGradShape), [
  "[7]",
  "[2]",
]);
add("NumberGrad", "a Function whose backward returns a number", runFunction(NumberGrad));
add(["ReturnsInput", "Function"], "a Function whose forward returns its input", runFunction(ReturnsInput));
add(["ReturnsNothing", "Function"], "a Function whose forward returns nothing", runFunction(ReturnsNothing));
add("add", "a Function whose backward hits an engine error", runFunction(BadBackwardOp), ["[2]", "[5]"]);
add("NoBackward", "a Function with no backward", (c) => {
  class NoBackward extends autograd.Function {
    forward(x: NDArray): NDArray {
      return x.exp();
    }
  }
  runFunction(NoBackward)(c);
});

// -- nnmisc group (issue #12): FullyConnected Embedding Activation LeakyReLU Flatten softmaxCrossEntropy --
const fc = nd.FullyConnected;
add("FullyConnected", "FullyConnected weight of the wrong shape", (c) => fc(c.a(), nd.ones([4, 2]), null, { numHidden: 4, noBias: true }), ["[2,3]", "[4,2]", "[4,3]"]);
add("FullyConnected", "FullyConnected numHidden not the weight's rows", (c) => fc(c.a(), nd.ones([4, 3]), nd.ones([4]), { numHidden: 5 }), ["[4,3]", "[2,3]"]);
add("FullyConnected", "FullyConnected bias of the wrong shape", (c) => fc(c.a(), nd.ones([4, 3]), nd.ones([3]), { numHidden: 4 }), ["[3]", "[2,3]"]);
add("FullyConnected", "FullyConnected without bias and noBias false", (c) => fc(c.a(), nd.ones([4, 3]), null, { numHidden: 4 }), ["[2,3]"]);
add("FullyConnected", "FullyConnected with a bias and noBias true", (c) => fc(c.a(), nd.ones([4, 3]), nd.ones([4]), { numHidden: 4, noBias: true }), ["[4]"]);
add("FullyConnected", "FullyConnected numHidden 0", (c) => fc(c.a(), nd.ones([0, 3]), null, { numHidden: 0, noBias: true }), ["[2,3]"]);
add("FullyConnected", "FullyConnected numHidden missing", (c) => fc(c.a(), nd.ones([4, 3]), null, {} as { numHidden: number }));
add("FullyConnected", "FullyConnected flatten=false: the last axis, not the rest", () => fc(nd.ones([2, 3, 4]), nd.ones([5, 12]), null, { numHidden: 5, noBias: true, flatten: false }), ["[2,3,4]", "[5,12]"]);
add("FullyConnected", "FullyConnected of a 0-d array", () => fc(nd.array(new Float32Array([1]), { shape: [] }), nd.ones([1, 1]), null, { numHidden: 1, noBias: true }));
add("FullyConnected", "FullyConnected of int32 data", () => fc(nd.ones([2, 3], { dtype: "int32" }), nd.ones([4, 3], { dtype: "int32" }), null, { numHidden: 4, noBias: true }), ["int32"]);
add("FullyConnected", "FullyConnected float32 data, float64 weight", (c) => fc(c.a(), nd.ones([4, 3], { dtype: "float64" }), null, { numHidden: 4, noBias: true }), ["float64"]);
add("FullyConnected", "FullyConnected weight a number", (c) => fc(c.a(), 1 as unknown as NDArray, null, { numHidden: 4, noBias: true }));
add("Embedding", "Embedding weight not (inputDim, outputDim)", () => nd.Embedding(nd.array([0, 1]), nd.ones([3, 2]), { inputDim: 4, outputDim: 2 }), ["[3,2]", "[4,2]"]);
add("Embedding", "Embedding inputDim 0", () => nd.Embedding(nd.array([0]), nd.ones([0, 2]), { inputDim: 0, outputDim: 2 }));
add("Embedding", "Embedding of an int32 weight", () => nd.Embedding(nd.array([0]), nd.ones([2, 2], { dtype: "int32" }), { inputDim: 2, outputDim: 2 }), ["int32"]);
add("Embedding", "Embedding outputDim a string", () => nd.Embedding(nd.array([0]), nd.ones([2, 2]), { inputDim: 2, outputDim: "2" as unknown as number }));
add("Activation", "Activation unknown actType", (c) => nd.Activation(c.a(), { actType: "swish" as "relu" }), ["swish"]);
add("Activation", "Activation without options", (c) => nd.Activation(c.a(), undefined as unknown as { actType: "relu" }));
add("Activation", "Activation of int32", () => nd.Activation(nd.ones([2], { dtype: "int32" }), { actType: "relu" }), ["int32"]);
add("LeakyReLU", "LeakyReLU unknown actType", (c) => nd.LeakyReLU(c.a(), { actType: "rrelu" as "leaky" }), ["rrelu"]);
add("LeakyReLU", "LeakyReLU prelu without gamma", (c) => nd.LeakyReLU(c.a(), { actType: "prelu" }), ["[2,3]"]);
add("LeakyReLU", "LeakyReLU prelu gamma not per channel", (c) => nd.LeakyReLU(c.a(), { actType: "prelu", gamma: nd.ones([4]) }), ["[4]", "[2,3]"]);
add("LeakyReLU", "LeakyReLU gamma with actType elu", (c) => nd.LeakyReLU(c.a(), { actType: "elu", gamma: nd.ones([3]) }), ["[3]"]);
add("LeakyReLU", "LeakyReLU slope a string", (c) => nd.LeakyReLU(c.a(), { slope: "0.1" as unknown as number }));
add("LeakyReLU", "LeakyReLU prelu gamma float64 on float32 data", (c) => nd.LeakyReLU(c.a(), { actType: "prelu", gamma: nd.ones([3], { dtype: "float64" }) }), ["float64"]);
add("Flatten", "Flatten of a 0-d array", () => nd.Flatten(nd.array(new Float32Array([2]), { shape: [] })), ["[]"]);
add("Flatten", "Flatten of a number", () => nd.Flatten(2 as unknown as NDArray));
add("softmaxCrossEntropy", "softmaxCrossEntropy 1-D data", () => nd.softmaxCrossEntropy(nd.ones([3]), nd.ones([3])), ["[3]"]);
add("softmaxCrossEntropy", "softmaxCrossEntropy label batch mismatch", (c) => nd.softmaxCrossEntropy(c.a(), nd.array([0, 1, 2])), ["[2,3]", "[3]"]);
add("softmaxCrossEntropy", "softmaxCrossEntropy 2-D label", (c) => nd.softmaxCrossEntropy(c.a(), nd.zeros([2, 1])), ["[2,3]", "[2,1]"]);
add("softmaxCrossEntropy", "softmaxCrossEntropy of int32 data", () => nd.softmaxCrossEntropy(nd.ones([2, 3], { dtype: "int32" }), nd.zeros([2])), ["int32"]);
add("softmaxCrossEntropy", "softmaxCrossEntropy with no classes", () => nd.softmaxCrossEntropy(nd.ones([2, 0]), nd.zeros([2])), ["[2,0]"]);

// ---------------------------------------------------------------------------
// Runner

interface Outcome {
  threw: boolean;
  error: unknown;
}

/** Run one case in a scope; free everything it created, even on error. */
function runCase(c: Case): Outcome {
  const owned: NDArray[] = [];
  const ctx: Ctx = {
    a: () => {
      // Tracked as well: a case may make it a variable, which outlives scopes.
      const a = nd.array([[1, 2, 3], [4, 5, 6]]);
      owned.push(a);
      return a;
    },
    variable: (data, gradReq = "write") => {
      const v = nd.array(data);
      owned.push(v);
      v.attachGrad(gradReq);
      return v;
    },
    disposed: () => {
      const x = nd.array([[1, 2], [3, 4]]);
      x.dispose();
      return x;
    },
  };
  try {
    nd.scope(() => {
      c.run(ctx);
    });
    return { threw: false, error: undefined };
  } catch (error) {
    return { threw: true, error };
  } finally {
    for (const v of owned) v.dispose();
  }
}

/** Whether `message` names `op`: it starts with the name (`add: ...`), or
 *  mentions it as `add:`, `add(`, or quoted. A bare word is not enough:
 *  "the array has been disposed" does not name the operation `array`. */
const namesOp = (message: string, op: string): boolean =>
  new RegExp(`^${op}(?![A-Za-z])|(^|[^A-Za-z.])${op}[:(]|["'\`]${op}["'\`]`).test(message);

function expectCleanError(c: Case, r: Outcome): void {
  expect(r.threw, `${c.name}: expected an Error to be thrown`).toBe(true);
  expect(r.error).toBeInstanceOf(Error);
  expect(r.error, "a trap of the WebAssembly instance").not.toBeInstanceOf(WebAssembly.RuntimeError);
  const message = (r.error as Error).message;
  const ops = [c.op].flat();
  expect(
    ops.some((op) => namesOp(message, op)),
    `the message ${JSON.stringify(message)} should name the operation ${ops.join(" or ")}`,
  ).toBe(true);
  for (const s of c.says ?? []) expect(message).toContain(s);
}

/** Arrays created before the bad input: plain values, a variable with a
 *  computed gradient, and a live recorded graph. */
interface Sentinels {
  a: NDArray;
  b: NDArray;
  v: NDArray;
  w: NDArray;
  live: NDArray;
}

function makeSentinels(): Sentinels {
  const a = nd.array([[1, 2, 3], [4, 5, 6]]);
  const b = nd.arange(0, 5);
  const v = nd.array([0.5, -1.5]);
  v.attachGrad();
  nd.scope(() => autograd.record(() => v.mul(v).sum()).backward()); // v.grad = 2v
  const w = nd.array([2, 3]);
  w.attachGrad();
  const live = nd.scope(() => autograd.record(() => w.mul(w).mul(3).sum())); // 3·Σw²
  return { a, b, v, w, live };
}

function expectIntact(s: Sentinels): void {
  expect(autograd.isRecording()).toBe(false);
  expect(autograd.isTraining()).toBe(false);
  expect(s.a.toArray()).toEqual([[1, 2, 3], [4, 5, 6]]);
  expect(s.b.toArray()).toEqual([0, 1, 2, 3, 4]);
  expect(s.v.toArray()).toEqual([0.5, -1.5]);
  expect(s.v.grad!.toArray()).toEqual([1, -3]);
  expect(s.w.toArray()).toEqual([2, 3]);
  expect(s.live.toArray()).toEqual([39]);
  expect(nd.memory().tapeNodes).toBe(3);
  // New ops still work, recorded ones included.
  nd.scope(() => {
    expect(s.a.add(s.b.slice(0, 3)).toArray()).toEqual([[1, 3, 5], [4, 6, 8]]);
    expect(s.a.dot(s.a.T).toArray()).toEqual([[14, 32], [32, 77]]);
    expect(s.a.sum(1).toArray()).toEqual([6, 15]);
    expect(String(s.b.at(-1))).toBe("\n[4.]\n<NDArray 1 @cpu(0)>");
    const u = nd.array([1, 2, 3]);
    u.attachGrad();
    autograd.record(() => u.mul(u).sum()).backward();
    expect(u.grad!.toArray()).toEqual([2, 4, 6]);
    u.dispose();
  });
}

/** The live graph still differentiates correctly; then free everything. */
function finish(s: Sentinels): void {
  s.live.backward();
  expect(s.w.grad!.toArray()).toEqual([12, 18]);
  expect(nd.memory().tapeNodes).toBe(0);
  for (const x of Object.values(s)) x.dispose();
}

const counts = (): [number, number, number] => {
  const m = nd.memory();
  return [m.arrays, m.bytes, m.tapeNodes];
};

describe("the bad-input catalogue", () => {
  it("has at least 50 cases, each with a distinct name", () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  for (const c of cases) {
    it(c.name, () => {
      const s = makeSentinels();
      try {
        const before = counts();
        const r = runCase(c);
        expect(counts(), "no handle, byte or tape node leaks from the failed call").toEqual(before);
        expectIntact(s);
        expectCleanError(c, r);
      } finally {
        finish(s);
      }
    });
  }

  it("runs back to back against the same arrays, which stay intact throughout", () => {
    const s = makeSentinels();
    try {
      const before = counts();
      for (const c of cases) {
        const r = runCase(c);
        // Whatever the case did, it must not have trapped the instance.
        expect(r.error, c.name).not.toBeInstanceOf(WebAssembly.RuntimeError);
        expect(counts(), c.name).toEqual(before);
      }
      expectIntact(s);
    } finally {
      finish(s);
    }
  });
});

describe("failed calls leave no temporaries behind (checked without nd.scope)", () => {
  // The catalogue runs each case in nd.scope, which would also free arrays
  // an op created internally and forgot on its error path. Here the inputs
  // are made first and the failing call runs bare.
  const bare: [string, (xs: NDArray[]) => unknown][] = [
    ["stack with a disposed last array", ([a, b, , d]) => nd.stack([a!, b!, d!], 0)],
    ["stack with a disposed first array", ([a, b, , d]) => nd.stack([d!, a!, b!], 1)],
    ["stack with mismatched shapes", ([a, , c]) => nd.stack([a!, c!], 0)],
    ["stack on a bad axis", ([a, b]) => nd.stack([a!, b!], 7)],
    ["concat with a disposed array", ([a, b, , d]) => nd.concat([a!, b!, d!], 0)],
    ["concat with mismatched shapes", ([a, , c]) => nd.concat([a!, c!], 0)],
    ["dropout with p = 2", ([a]) => nd.dropout(a!, 2)],
    ["expandDims out of range", ([a]) => a!.expandDims(5)],
    ["squeeze a non-1 axis", ([a]) => a!.squeeze(0)],
    ["astype float16", ([a]) => a!.astype("float16" as "float32")],
    ["nd.array of a disposed array", ([, , , d]) => nd.array(d!)],
    ["add of a number and a string", () => nd.add(1, "2" as unknown as number)],
    ["batchDot of 2-D arrays", ([a, b]) => nd.batchDot(a!, b!)],
    ["backward of an unrecorded array", ([a]) => a!.backward()],
    [
      "autograd.grad w.r.t. a plain array",
      ([a, , , , v]) => {
        const y = autograd.record(() => v!.mul(2));
        try {
          autograd.grad(y, [v!, a!]);
        } finally {
          y.dispose();
        }
      },
    ],
    [
      "a Function whose backward returns the wrong shape",
      ([, , c, , v]) => {
        // It returns an array the caller owns (c), so that only the engine's
        // error path is measured here (see memory.test.ts for arrays the
        // user's backward creates).
        class Bad extends autograd.Function {
          forward(x: NDArray): NDArray {
            return x.mul(2);
          }
          backward(): NDArray {
            return c!;
          }
        }
        const y = autograd.record(() => new Bad().apply(v!) as NDArray);
        try {
          y.backward();
        } finally {
          y.dispose();
        }
      },
    ],
  ];
  for (const [name, call] of bare) {
    it(name, () => {
      const a = nd.array([[1, 2], [3, 4]]);
      const b = nd.array([[5, 6], [7, 8]]);
      const c = nd.array([1, 2, 3]);
      const d = nd.zeros([2, 2]);
      d.dispose();
      const v = nd.array([1, 2]);
      v.attachGrad();
      const g = v.grad!;
      const before = counts();
      try {
        expect(() => call([a, b, c, d, v])).toThrow(Error);
        expect(counts(), "arrays left behind by the failed call").toEqual(before);
        expect(g.toArray()).toEqual([0, 0]);
      } finally {
        for (const x of [a, b, c, v]) x.dispose();
      }
    });
  }
});

// ---------------------------------------------------------------------------
// Inputs that could take the whole process down run in a child process.

const pkgUrl = new URL("../../pkg/index.js", import.meta.url).href;

interface ChildReport {
  threw: boolean;
  isError: boolean;
  trapped: boolean;
  message: string;
  /** An array created before `body` still holds its values ... */
  intact: boolean;
  /** ... and a new op on it works. */
  works: boolean;
  /** Whatever `body` stored in `out`. */
  out: unknown;
}

/** Run `body` (which may throw, and may set `out`) in a fresh Node with the
 *  package loaded, so that a crash or a hang cannot take the test run down. */
function inChild(body: string, { heapMb = 256, timeout = 60_000 } = {}): ChildReport {
  const script = `
    import { nd, autograd } from ${JSON.stringify(pkgUrl)};
    const before = nd.array([[1, 2], [3, 4]]);
    const report = { threw: false, isError: false, trapped: false, message: "", intact: false, works: false, out: null };
    let out = null;
    try { ${body} } catch (e) {
      report.threw = true;
      report.isError = e instanceof Error;
      report.trapped = e instanceof WebAssembly.RuntimeError;
      report.message = String(e && e.message);
    }
    report.out = out;
    try { report.intact = JSON.stringify(before.toArray()) === "[[1,2],[3,4]]"; } catch {}
    try { report.works = JSON.stringify(before.add(1).toArray()) === "[[2,3],[4,5]]"; } catch {}
    console.log(JSON.stringify(report));
  `;
  const r = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout,
    cwd: fileURLToPath(new URL("../../", import.meta.url)),
  });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  expect(
    r.status === 0 && last.startsWith("{"),
    `the child process died (status ${r.status}, signal ${r.signal}): ${r.stderr.slice(-300)}`,
  ).toBe(true);
  return JSON.parse(last) as ChildReport;
}

describe("inputs that could kill the process", () => {
  it("a cyclic nested array throws an Error naming array (it must not hang or exhaust the heap)", () => {
    const r = inChild(`const c = []; c.push(c); nd.array(c);`);
    expect(r).toMatchObject({ threw: true, isError: true, trapped: false, intact: true, works: true });
    expect(namesOp(r.message, "array"), r.message).toBe(true);
  });

  it("an array that contains itself deeper inside the data throws too", () => {
    const r = inChild(`const c = [1, 2]; const d = [c, c]; c[0] = d; nd.array(d);`);
    expect(r).toMatchObject({ threw: true, isError: true, trapped: false, intact: true, works: true });
    expect(namesOp(r.message, "array"), r.message).toBe(true);
  });

  // Real exhaustion of the 4 GiB wasm32 memory (not just an impossible size):
  // a 2 GiB array exists, so neither a second one nor a same-size temporary
  // fits. This also puts arrays and error messages above the 2 GiB mark,
  // where pointers no longer fit a signed 32-bit integer. The child needs
  // about 2.2 GB of RAM.
  it.runIf(freemem() > 6 * 2 ** 30)(
    "exhausting wasm memory gives OutOfMemory Errors naming the bytes; arrays above 2 GiB stay readable",
    () => {
      const r = inChild(
        `
        const big = nd.zeros([536870911]);             // 2147483644 bytes, the largest single tensor
        const high = nd.full([1000], 7);               // lands above the 2 GiB mark
        const filler = nd.zeros([4000000]);
        const attempt = (f) => {
          try { f(); return "no error"; } catch (e) {
            if (e instanceof WebAssembly.RuntimeError) throw e;
            return e.constructor.name + ": " + e.message;
          }
        };
        out = {
          add: attempt(() => big.add(1)),
          // x[:] = v broadcasts in place: it needs no memory at all.
          set: attempt(() => { const one = nd.array([1]); big.set(one); one.dispose(); if (big.at(-1).asscalar() !== 1) throw new Error("set did not write"); }),
          zeros: attempt(() => nd.zeros([536870911])),
          copy: attempt(() => big.copy()),
          highSum: attempt(() => { if (high.sum().asscalar() !== 7000) throw new Error("wrong sum"); }),
          highData: attempt(() => { if (high.data().length !== 1000) throw new Error("wrong length"); }),
          setScalar: attempt(() => { big.set(2); if (big.at(-1).asscalar() !== 2) throw new Error("set did not write"); }),
        };
        `,
        { timeout: 120_000 },
      );
      expect(r.threw, r.message).toBe(false);
      expect(r.out).toEqual({
        add: expect.stringMatching(/^NDGradError: add: .*2147483644 bytes/),
        set: "no error",
        zeros: expect.stringMatching(/^NDGradError: (zeros|full): .*2147483644 bytes/),
        copy: expect.stringMatching(/^NDGradError: copy: .*2147483644 bytes/),
        highSum: "no error",
        highData: "no error",
        setScalar: "no error",
      });
      expect(r).toMatchObject({ intact: true, works: true });
    },
  );
});

describe("valid inputs that pass many arrays in one call", () => {
  // Not bad input at all: MXNet concatenates, stacks and differentiates any
  // number of arrays. They must work (or at least fail naming the operation).
  it("concat of 300 arrays", () => {
    nd.scope(() => {
      const parts = Array.from({ length: 300 }, (_, i) => nd.full([1, 2], i));
      const c = nd.concat(parts, 0);
      expect(c.shape).toEqual([300, 2]);
      expect(c.sum().asscalar()).toBe(2 * ((299 * 300) / 2));
    });
  });

  it("stack of 300 arrays", () => {
    nd.scope(() => {
      const parts = Array.from({ length: 300 }, (_, i) => nd.full([2], i));
      expect(nd.stack(parts, 1).shape).toEqual([2, 300]);
    });
  });

  it("autograd.backward with 200 heads", () => {
    const x = nd.array([1, 2]);
    x.attachGrad();
    try {
      nd.scope(() => {
        const heads = autograd.record(() => Array.from({ length: 200 }, (_, i) => x.mul(i)));
        autograd.backward(heads);
        expect(x.grad!.toArray()).toEqual([19900, 19900]);
      });
    } finally {
      x.dispose();
    }
  });
});

describe("errors thrown by user code inside autograd.Function.backward", () => {
  it("reach the caller unchanged, and the engine keeps working", () => {
    class Boom extends autograd.Function {
      forward(x: NDArray): NDArray {
        return x.mul(2);
      }
      backward(): NDArray {
        throw new RangeError("user boom");
      }
    }
    const s = makeSentinels();
    const x = nd.array([1, 2]);
    x.attachGrad();
    try {
      const before = counts();
      let caught: unknown;
      try {
        nd.scope(() => autograd.record(() => (new Boom().apply(x) as NDArray).sum()).backward());
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(RangeError);
      expect((caught as Error).message).toBe("user boom");
      expect(counts()).toEqual(before);
      expectIntact(s);
      // The same variable differentiates fine afterwards.
      nd.scope(() => autograd.record(() => x.mul(x).sum()).backward());
      expect(x.grad!.toArray()).toEqual([2, 4]);
    } finally {
      x.dispose();
      finish(s);
    }
  });
});

describe("engine calls from inside a Function's backward", () => {
  it("a nested backward of the graph being walked is an Error, never a trap, and the engine keeps working", () => {
    let outer: NDArray | null = null;
    class Reenters extends autograd.Function {
      forward(x: NDArray): NDArray {
        return x.mul(3);
      }
      backward(dy: NDArray): NDArray {
        outer!.backward(); // the graph this backward belongs to, mid-walk
        return dy.mul(3);
      }
    }
    const x = nd.array([1, 2]);
    x.attachGrad();
    try {
      let caught: unknown;
      try {
        nd.scope(() => {
          outer = autograd.record(() => (new Reenters().apply(x) as NDArray).sum());
          outer.backward();
        });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(Error);
      expect(caught).not.toBeInstanceOf(WebAssembly.RuntimeError);
      expect(String((caught as Error).message)).toMatch(/backward/);
      nd.scope(() => autograd.record(() => x.mul(x).sum()).backward());
      expect(x.grad!.toArray()).toEqual([2, 4]);
      expect(nd.memory().tapeNodes).toBe(0);
    } finally {
      x.dispose();
    }
  });
});
