// nd.save / nd.load (#13) against the fixtures of tests/vectors/gen_io_files.py:
// NumPy's own np.save / np.savez / np.savez_compressed files and MXNet files
// from the script's independent writer (which follows MXNet's C++), what
// nd.load must return for each, the corrupt-file catalogue, and the exact
// bytes nd.save must write. In the browser suite every fixture is fetched
// over HTTP from the Vite server.
import { readFileSync, rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { gluon, loadParamsInto, nd, NDArray, type DType, type ParamSlot } from "ndgrad";
import { createWorker, RemoteNDArray, transfer } from "ndgrad/worker";
import { expectNoLeaks, prng } from "./helpers.js";

interface Want {
  name?: string;
  dtype: DType;
  shape: number[];
  data: number[];
  source: string;
}
interface Manifest {
  load: { file: string; kind: "list" | "dict"; arrays: Want[] }[];
  errors: { file: string; words: string[] }[];
  save: { name: string; names?: string[] | null; arrays: Want[]; mx?: string; npy?: string }[];
  print: { shape: number[]; data: number[]; str: string }[];
}

/** A fixture's URL (a template, which Vite leaves alone, unlike a literal path). */
const at = (name: string): URL => new URL(`../fixtures/io/${name}`, import.meta.url);
const manifest = JSON.parse(readFileSync(at("manifest.json"), "utf8") as string) as Manifest;
const file = (name: string): Uint8Array => readFileSync(at(name)) as Uint8Array;
const inBrowser = typeof window !== "undefined";

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const live = (): number => nd.memory().arrays;

function make(w: Want): NDArray {
  const typed =
    w.dtype === "float64" ? Float64Array.from(w.data)
    : w.dtype === "int32" ? Int32Array.from(w.data)
    : w.dtype === "uint8" ? Uint8Array.from(w.data)
    : Float32Array.from(w.data);
  return nd.array(typed, { shape: w.shape, dtype: w.dtype });
}

function same(got: NDArray, w: Want, what: string): void {
  expect(got.dtype, `${what}: dtype`).toBe(w.dtype);
  expect(got.shape, `${what}: shape`).toEqual(w.shape);
  const want = w.dtype === "float32" ? w.data.map(Math.fround) : w.data;
  // exact: every value is a float32/float64/integer the loader must reproduce bit for bit
  expect(Array.from(got.data()), `${what}: values`).toEqual(want);
}

function arraysOf(r: NDArray[] | Record<string, NDArray>): NDArray[] {
  return Array.isArray(r) ? r : Object.values(r);
}

function disposeAll(r: NDArray[] | Record<string, NDArray>): void {
  for (const a of arraysOf(r)) a.dispose();
}

afterEach(() => expectNoLeaks());

describe("nd.load reads NumPy's and MXNet's files", () => {
  it.each(manifest.load.map((c) => [c.file, c] as const))("%s", (_name, c) => {
    const got = nd.load(file(c.file));
    try {
      if (c.kind === "list") {
        expect(Array.isArray(got)).toBe(true);
        const list = got as NDArray[];
        expect(list.length).toBe(c.arrays.length);
        c.arrays.forEach((w, i) => same(list[i]!, w, `${c.file}[${i}] (${w.source})`));
      } else {
        expect(Array.isArray(got)).toBe(false);
        const dict = got as Record<string, NDArray>;
        expect(Object.keys(dict)).toEqual(c.arrays.map((w) => w.name));
        for (const w of c.arrays) same(dict[w.name!]!, w, `${c.file}["${w.name}"] (${w.source})`);
      }
    } finally {
      disposeAll(got);
    }
  });

  it("cover every dtype, rank 0-5, empty arrays, lists and dicts, V2/V1/V0 records, .npy v1-3, C/Fortran, both endians, .npz stored and deflated", () => {
    const all = manifest.load.flatMap((c) => c.arrays);
    for (const s of ["float32", "float64", "float16", "uint8", "int32", "int8", "int64", "bool"]) {
      expect(all.some((w) => w.source === s), s).toBe(true);
    }
    for (let r = 0; r <= 5; r++) expect(all.some((w) => w.shape.length === r), `rank ${r}`).toBe(true);
    expect(all.some((w) => w.shape.includes(0))).toBe(true);
    const files = manifest.load.map((c) => c.file).join(" ");
    for (const f of ["mx_list_v2", "mx_dict_v2", "mx_list_v1", "mx_list_v0", "npy_v2", "npy_v3", "npy_fortran", "npy_bigendian", "npz_stored", "npz_deflated"]) {
      expect(files).toContain(f);
    }
  });

  it("in the browser: a file fetched over HTTP (in Node: read from disk)", async () => {
    const url = at("mx_two_layer.params");
    const bytes = inBrowser ? new Uint8Array(await (await fetch(url)).arrayBuffer()) : file("mx_two_layer.params");
    const got = nd.load(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    const c = manifest.load.find((x) => x.file === "mx_two_layer.params")!;
    try {
      for (const w of c.arrays) same((got as Record<string, NDArray>)[w.name!]!, w, w.name!);
    } finally {
      disposeAll(got);
    }
  });
});

describe("gluon's loadParameters reads the independent writer's file", () => {
  it("a Sequential of Dense(4) and Dense(2), shapes still deferred, takes mx_two_layer.params and computes with it", () => {
    const before = live();
    const c = manifest.load.find((x) => x.file === "mx_two_layer.params")!;
    const want = Object.fromEntries(c.arrays.map((w) => [w.name!, w]));
    const net = new gluon.nn.Sequential();
    net.add(new gluon.nn.Dense(4), new gluon.nn.Dense(2)); // in-units unknown until data or a file gives them
    net.initialize();
    net.loadParameters(file("mx_two_layer.params"));
    for (const [name, p] of net.collectParams()) same(p.data(), want[name]!, name);
    // y = W1·x + b1 then W2·h + b2, in float64 from the file's values
    const x = [0.5, -1, 2];
    const w = (n: string): number[] => want[n]!.data.map(Math.fround);
    const h = [0, 1, 2, 3].map((i) => w("0.bias")[i]! + x.reduce((s, v, j) => s + w("0.weight")[i * 3 + j]! * v, 0));
    const y = [0, 1].map((i) => w("1.bias")[i]! + h.reduce((s, v, j) => s + w("1.weight")[i * 4 + j]! * v, 0));
    nd.scope(() => {
      const got = Array.from(net.forward(nd.array([x])).data());
      got.forEach((g, i) => expect(Math.abs(g - y[i]!)).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(y[i]!))));
    });
    net.dispose();
    expect(live()).toBe(before);
  });
});

describe("nd.save writes MXNet's bytes and NumPy's", () => {
  it.each(manifest.save.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const arrays = c.arrays.map(make);
    try {
      if (c.mx !== undefined) {
        const data = c.names ? Object.fromEntries(c.names.map((n, i) => [n, arrays[i]!])) : arrays;
        expect(hex(nd.save(null, data))).toBe(c.mx);
        // and back
        const back = nd.load(nd.save(null, data));
        try {
          const list = arraysOf(back);
          c.arrays.forEach((w, i) => same(list[i]!, w, `${c.name} round trip [${i}]`));
          if (c.names) expect(Object.keys(back)).toEqual(c.names);
        } finally {
          disposeAll(back);
        }
      }
      if (c.npy !== undefined) {
        expect(hex(nd.save(null, arrays, { format: "npy" }))).toBe(c.npy);
      }
    } finally {
      for (const a of arrays) a.dispose();
    }
  });

  it("round trips every dtype through MXNet's format, .npy and .npz", () => {
    const dtypes: DType[] = ["float32", "float64", "int32", "uint8"];
    const arrays = dtypes.map((d, i) => nd.scope(() => nd.arange(0, 24, 1, { dtype: d }).reshape([2, 3, 4]).add(i)));
    try {
      const dict = Object.fromEntries(dtypes.map((d, i) => [d, arrays[i]!]));
      for (const bytes of [nd.save(null, dict), nd.save(null, dict, { format: "npz" })]) {
        const back = nd.load(bytes) as Record<string, NDArray>;
        try {
          expect(Object.keys(back)).toEqual(dtypes);
          for (const [i, d] of dtypes.entries()) {
            expect(back[d]!.dtype).toBe(d);
            expect(String(back[d])).toBe(String(arrays[i]));
          }
        } finally {
          disposeAll(back);
        }
      }
      for (const a of arrays) {
        const back = nd.load(nd.save(null, a, { format: "npy" })) as NDArray[];
        expect(back.length).toBe(1);
        expect(back[0]!.dtype).toBe(a.dtype);
        expect(String(back[0])).toBe(String(a));
        back[0]!.dispose();
      }
    } finally {
      for (const a of arrays) a.dispose();
    }
  });

  it("writes files by path in Node (the extension picks the format); says it needs Node in browsers", () => {
    using x = nd.array([[1, 2], [3, 4]]);
    if (inBrowser) {
      expect(() => nd.save("/tmp/x.params", [x])).toThrow(/needs Node/);
      expect(() => nd.load("/tmp/x.params")).toThrow(/needs Node/);
      return;
    }
    const base = `${process.env.TMPDIR ?? "/tmp"}/ndgrad-io-${process.pid}`;
    for (const ext of [".params", ".npy", ".npz"]) {
      const bytes = nd.save(base + ext, { x });
      expect(hex(readFileSync(base + ext) as Uint8Array)).toBe(hex(bytes));
      const back = nd.load(base + ext);
      const y = Array.isArray(back) ? back[0]! : back.x!;
      expect(y.toArray()).toEqual([[1, 2], [3, 4]]);
      disposeAll(back);
      expect(bytes[0]).toBe(ext === ".params" ? 0x12 : ext === ".npy" ? 0x93 : 0x50);
      rmSync(base + ext);
    }
  });
});

describe("corrupt files are Errors that say what is wrong; nothing is half-loaded", () => {
  it.each(manifest.errors.map((c) => [c.file, c] as const))("%s", (_name, c) => {
    using keep = nd.array([1, 2, 3]);
    const before = live();
    let err: unknown = null;
    try {
      disposeAll(nd.load(file(c.file)));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg.startsWith("load:"), msg).toBe(true);
    for (const w of c.words) expect(msg, msg).toContain(w);
    expect(live()).toBe(before);
    expect(keep.toArray()).toEqual([1, 2, 3]);
  });

  it("a failure in the last array frees the arrays loaded before it", () => {
    const good = file("mx_list_v2.params");
    const before = live();
    expect(() => nd.load(good.subarray(0, good.length - 20))).toThrow(/truncated/);
    expect(live()).toBe(before);
  });

  it("bad arguments", () => {
    expect(() => nd.load(42 as never)).toThrow(/load: source must be a path, an ArrayBuffer or a Uint8Array \(got 42\)/);
    expect(() => nd.save(null, [1] as never)).toThrow(/save: element 0 is not an NDArray/);
    expect(() => nd.save(null, { a: "b" } as never)).toThrow(/save: value of "a" is not an NDArray/);
    expect(() => nd.save(null, [], { format: "hdf5" as never })).toThrow(/save: format must be/);
    using a = nd.ones([2]);
    using b = nd.ones([2]);
    expect(() => nd.save(null, [a, b], { format: "npy" })).toThrow(/one array/);
    const d = nd.ones([2]);
    d.dispose();
    expect(() => nd.save(null, [d])).toThrow(/disposed/);
  });
});

describe("the reader under fuzzing", () => {
  it("random bytes and mutated valid files: an Error or arrays, never anything else; no leaks", () => {
    const rand = prng(1305);
    const seeds = ["mx_list_v2.params", "mx_dict_mixed.params", "mx_list_v0.params", "npy_float16_2x3.npy", "npy_fortran_int64.npy", "npz_deflated.npz", "npz_stored.npz"].map(file);
    const counts = { cases: 0, loaded: 0, errors: 0 };
    const before = live();
    const run = (bytes: Uint8Array): void => {
      counts.cases++;
      try {
        disposeAll(nd.load(bytes));
        counts.loaded++;
      } catch (e) {
        if (!(e instanceof Error) || !e.message.startsWith("load:")) throw new Error(`fuzz case ${counts.cases}: ${String(e)}`);
        counts.errors++;
      }
    };
    for (let i = 0; i < 1500; i++) {
      const n = Math.floor(rand() * 200);
      const b = new Uint8Array(n);
      for (let j = 0; j < n; j++) b[j] = Math.floor(rand() * 256);
      // half of them start like a real file, to get past the first check
      if (i % 2 === 0 && n >= 8) b.set(i % 4 === 0 ? [0x12, 0x01, 0, 0, 0, 0, 0, 0] : [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      run(b);
    }
    for (let i = 0; i < 3500; i++) {
      const src = seeds[i % seeds.length]!;
      const b = new Uint8Array(src); // a copy (a Node Buffer's slice is a view)
      const kind = i % 3;
      if (kind === 0) {
        for (let k = 0, m = 1 + Math.floor(rand() * 4); k < m; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      } else if (kind === 1) {
        const p = Math.floor(rand() * b.length);
        const v = [0xff, 0x7f, 0x80, 0x00][Math.floor(rand() * 4)]!;
        for (let k = 0; k < 4 && p + k < b.length; k++) b[p + k] = v;
      }
      run(kind === 2 ? b.subarray(0, Math.floor(rand() * b.length)) : b);
    }
    expect(live()).toBe(before);
    expect(counts.cases).toBe(5000);
    expect(counts.errors).toBeGreaterThan(2500);
    expect(counts.loaded).toBeGreaterThan(100);
    console.log(`[io fuzz] ${counts.cases} cases: ${counts.loaded} loaded, ${counts.errors} Errors, 0 other exceptions, 0 leaks`);
  });
});

describe("uint8 prints as NumPy prints it", () => {
  it.each(manifest.print.map((c) => [c.shape.join("x"), c] as const))("%s", (_name, c) => {
    using a = nd.array(Uint8Array.from(c.data), { shape: c.shape });
    expect(a.dtype).toBe("uint8");
    expect(String(a)).toBe(`\n${c.str}\n<NDArray ${c.shape.join("x")} @cpu(0)>`);
  });
});

describe("Gluon parameters: loadParamsInto (load_parameters' checks)", () => {
  const two = (): { slots: Record<string, ParamSlot>; got: Record<string, number[]> } => {
    const got: Record<string, number[]> = {};
    const slot = (name: string, shape: number[] | null): ParamSlot => ({
      shape,
      dtype: "float32",
      setData: (v) => {
        got[name] = Array.from(v.data());
      },
    });
    return {
      slots: { "0.weight": slot("0.weight", [4, 0]), "0.bias": slot("0.bias", [4]), "1.weight": slot("1.weight", null), "1.bias": slot("1.bias", [2]) },
      got,
    };
  };
  const c = manifest.load.find((x) => x.file === "mx_two_layer.params")!;

  it("a two-layer net's file from the independent writer loads by structural name", () => {
    const { slots, got } = two();
    loadParamsInto(file("mx_two_layer.params"), slots);
    for (const w of c.arrays) expect(got[w.name!]).toEqual(w.data.map(Math.fround));
  });

  it("missing, extra and misshaped parameters are Errors naming them, and nothing is set", () => {
    const bytes = file("mx_two_layer.params");
    let t = two();
    const extra = { ...t.slots, "2.weight": { shape: [3], setData: () => undefined } };
    expect(() => loadParamsInto(bytes, extra)).toThrow(/Parameter '2.weight' is missing/);
    expect(t.got).toEqual({});
    loadParamsInto(bytes, extra, { allowMissing: true });
    expect(Object.keys(t.got).sort()).toEqual(["0.bias", "0.weight", "1.bias", "1.weight"]);
    t = two();
    const fewer: Record<string, ParamSlot> = { ...t.slots };
    delete fewer["1.bias"];
    expect(() => loadParamsInto(bytes, fewer)).toThrow(/Parameter '1.bias' loaded from file is not present/);
    expect(t.got).toEqual({});
    loadParamsInto(bytes, fewer, { ignoreExtra: true });
    expect(Object.keys(t.got).length).toBe(3);
    t = two();
    const bad = { ...t.slots, "0.bias": { shape: [5], setData: () => undefined } };
    expect(() => loadParamsInto(bytes, bad)).toThrow(/'0.bias'.*shape incompatible expected \[5\] vs saved \[4\]/);
    expect(t.got).toEqual({});
    expect(() => loadParamsInto(file("mx_list_v2.params"), t.slots)).toThrow(/not a dict/);
  });
});

describe("the worker loads and saves too", () => {
  it("bytes go across (copied, or moved with transfer()); arrays come back as remote arrays; errors arrive as the main API's", async () => {
    await using w = await createWorker();
    const local = nd.array([[1.5, -2], [3, 4]], { dtype: "float64" });
    const img = nd.array(new Uint8Array([0, 7, 255]));
    try {
      const x = w.nd.array([[1.5, -2], [3, 4]], { dtype: "float64" });
      const y = w.nd.array(new Uint8Array([0, 7, 255]));
      const bytes = await w.nd.save(null, { x, y });
      expect(hex(bytes)).toBe(hex(nd.save(null, { x: local, y: img })));
      const c = manifest.load.find((f) => f.file === "mx_two_layer.params")!;
      const src = new Uint8Array(file("mx_two_layer.params"));
      const size = src.length;
      const back = (await w.nd.load(src)) as Record<string, RemoteNDArray>;
      expect(src.length).toBe(size); // copied, as the synchronous nd.load reads them
      // Marked with transfer(): moved (detached here).
      const moved = transfer(new Uint8Array(file("mx_two_layer.params")));
      const again = (await w.nd.load(moved)) as Record<string, RemoteNDArray>;
      expect(moved.length).toBe(0);
      for (const r of Object.values(again)) r.dispose();
      expect(Object.keys(back)).toEqual(c.arrays.map((a) => a.name));
      for (const want of c.arrays) {
        const r = back[want.name!]!;
        expect(r.shape).toEqual(want.shape);
        expect(Array.from(await r.data())).toEqual(want.data.map(Math.fround));
        r.dispose();
      }
      const list = (await w.nd.load(bytes)) as Record<string, RemoteNDArray>;
      expect(await list.y!.toArray()).toEqual([0, 7, 255]);
      for (const r of Object.values(list)) r.dispose();
      await expect(w.nd.load(new Uint8Array([1, 2, 3]))).rejects.toThrow(/^load: truncated/);
      x.dispose();
      y.dispose();
      expect((await w.nd.memory()).arrays).toBe(0);
    } finally {
      local.dispose();
      img.dispose();
    }
  });
});
