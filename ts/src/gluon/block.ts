// Gluon's Block, HybridBlock, Sequential (python/mxnet/gluon/block.py,
// 1.9.1). Children and parameters are whatever Block / Parameter values the
// block's own fields hold, in the order they were assigned (MXNet registers
// them in `__setattr__`); their field names make MXNet 1.x's structural
// parameter names (`"0.weight"`, `"dense0.bias"`, as `save_parameters`
// writes them).
import { describe } from "../args.js";
import { NDArray, arraysCreated } from "../ndarray.js";
import { Initializer, Uniform, create } from "./init.js";
import { Parameter, ParameterDict } from "./parameter.js";
import { loadParamsInto, saveParams, type LoadParamsOptions, type ParamSlot } from "../io.js";

/** Per-class counters for MXNet-style block names (`dense0`, `dense1` …). */
const counters = new Map<string, number>();
function autoName(cls: string): string {
  const base = cls.toLowerCase();
  const n = counters.get(base) ?? 0;
  counters.set(base, n + 1);
  return `${base}${n}`;
}

/** Fields of Block that are bookkeeping, never children. */
const RESERVED = new Set(["_name", "_prefix", "_extraChildren", "_layers"]);

// The call signature merges into the class: a block is callable, `net(x)`.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Block {
  (...args: NDArray[]): NDArray;
}

/**
 * MXNet's `gluon.Block`. Subclass it, assign layers and parameters to
 * fields in the constructor, and write `forward`:
 * ```ts
 * class Net extends nn.Block {
 *   dense0 = new nn.Dense(128, { activation: "relu" });
 *   dense1 = new nn.Dense(10);
 *   forward(x: NDArray) { return this.dense1(this.dense0(x)); }
 * }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class Block {
  /** @internal */
  declare _name: string;
  /** @internal Children registered under explicit names (Sequential's "0", "1" …). */
  declare _extraChildren: Map<string, Block>;

  constructor() {
    // A callable object: an arrow function with this class's prototype, so
    // that `net(x)` runs `net.forward(x)` (arrow functions have no
    // `prototype` of their own; `name` and `length` are removed so the
    // prototype's accessors are seen).
    const self = ((...args: NDArray[]): NDArray => (self as unknown as Block).forward(...args)) as unknown as Block;
    delete (self as unknown as { name?: string }).name;
    delete (self as unknown as { length?: number }).length;
    Object.setPrototypeOf(self, new.target.prototype);
    Object.defineProperty(self, "_name", { value: autoName(new.target.name), writable: true, enumerable: false });
    Object.defineProperty(self, "_extraChildren", { value: new Map(), enumerable: false });
    return self;
  }

  /** MXNet's block name (`dense0`), the prefix of its parameters' names. */
  get name(): string {
    return this._name;
  }

  /** Run the block; subclasses override. */
  forward(...args: NDArray[]): NDArray {
    void args;
    throw new Error(`${this.constructor.name}: forward is not implemented`);
  }

  /** MXNet's `register_child`. */
  registerChild<B extends Block>(block: B, name?: string): B {
    if (!(block instanceof Block)) throw new Error(`registerChild: expected a Block (got ${describe(block)})`);
    this._extraChildren.set(name ?? String(this._extraChildren.size), block);
    return block;
  }

  /** Child blocks by name, in registration order. */
  children(): [string, Block][] {
    const out: [string, Block][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (!RESERVED.has(k) && v instanceof Block) out.push([k, v]);
    }
    for (const e of this._extraChildren) out.push(e);
    return out;
  }

  /** This block's own parameters by field name. */
  ownParams(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [k, v] of Object.entries(this)) {
      if (!RESERVED.has(k) && v instanceof Parameter) out.push([k, v]);
    }
    return out;
  }

  /**
   * Every parameter of this block and its children, by structural name;
   * `select` (a RegExp or a regular expression string) keeps the names it
   * matches, as MXNet's `collect_params(select)`.
   */
  collectParams(select?: string | RegExp): ParameterDict {
    const all = new ParameterDict();
    collect(this, "", all, new Set());
    if (select === undefined) return all;
    // MXNet's collect_params (gluon/block.py): `re.compile(select).match(name)`,
    // anchored at the start only ("dense0" selects dense0_weight and
    // dense0_bias). A RegExp is used as given.
    let re: RegExp;
    if (typeof select === "string") {
      try {
        re = new RegExp(`^(?:${select})`);
      } catch (e) {
        throw new Error(`collectParams: select is not a valid regular expression: ${select} (${e instanceof Error ? e.message : String(e)})`);
      }
    } else if (select instanceof RegExp) re = select;
    else throw new Error(`collectParams: select must be a string or a RegExp (got ${describe(select)})`);
    const out = new ParameterDict();
    for (const [k, p] of all) {
      if (re.test(k) || re.test(p.name)) out.set(k, p);
    }
    return out;
  }

  /**
   * MXNet's `Block.initialize`: every parameter with its own initializer or
   * else `init` (default `Uniform(0.07)`); parameters whose shape depends
   * on the input wait for the first batch.
   */
  initialize(init: Initializer | string = new Uniform(), options: { forceReinit?: boolean } = {}): void {
    this.collectParams().initialize(create(init), options);
  }

  /**
   * MXNet's `save_parameters`: the file of structural names to values,
   * byte for byte what MXNet 1.x writes; returned, and written to `path`
   * when given (Node).
   */
  saveParameters(path?: string): Uint8Array {
    const record: Record<string, NDArray> = {};
    for (const [k, p] of this.collectParams()) record[k] = p.data();
    return saveParams(path ?? null, record);
  }

  /**
   * MXNet's `load_parameters`: from a path (Node) or the bytes, through
   * `nd.load` (so files MXNet 1.x wrote load too). A missing, extra or
   * wrongly shaped parameter is an Error naming it (unless `allowMissing` /
   * `ignoreExtra`), and so is one saved in another dtype (unless
   * `castDtype`, MXNet's `cast_dtype`); nothing is loaded unless everything fits.
   */
  loadParameters(source: string | ArrayBuffer | Uint8Array, options: LoadParamsOptions = {}): void {
    if (typeof source !== "string" && !(source instanceof ArrayBuffer) && !(source instanceof Uint8Array)) {
      throw new Error(`loadParameters: expected a path, an ArrayBuffer or a Uint8Array (got ${describe(source)})`);
    }
    const slots: Record<string, ParamSlot> = {};
    for (const [k, p] of this.collectParams()) {
      // Unknown (deferred) dimensions are 0; an unknown rank is no shape.
      slots[k] = { shape: p.shape.length === 0 ? null : p.shape, dtype: p.dtype, setData: (v) => p.loadData(v) };
    }
    loadParamsInto(source, slots, options);
  }

  /** MXNet's `hybridize`: accepted; ndgrad runs blocks eagerly either way. */
  hybridize(active = true, _options: Record<string, unknown> = {}): void {
    void active;
    for (const [, c] of this.children()) c.hybridize(active);
  }

  /** Free every parameter's value (the block needs `initialize` again). */
  dispose(): void {
    for (const [, p] of this.collectParams()) p.dispose();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** MXNet's `apply`: `fn` on every block, children first. */
  apply(fn: (b: Block) => void): this {
    for (const [, c] of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  toString(): string {
    const kids = this.children();
    if (kids.length === 0) return `${this.constructor.name}(${this.describe()})`;
    const lines = kids.map(([k, c]) => `  (${k}): ${c.toString().split("\n").join("\n  ")}`);
    return `${this.constructor.name}(\n${lines.join("\n")}\n)`;
  }

  /** @internal The repr's arguments. */
  describe(): string {
    return "";
  }
}

/** MXNet's `_collect_params_with_prefix`: structural names. (A function,
 *  not a private method: Block's constructor returns another object, which
 *  carries no private brand of Block's own.) */
function collect(b: Block, prefix: string, into: ParameterDict, seen: Set<Parameter>): void {
  for (const [k, p] of b.ownParams()) {
    if (seen.has(p)) continue;
    seen.add(p);
    into.set(prefix + k, p);
  }
  for (const [k, c] of b.children()) collect(c, `${prefix}${k}.`, into, seen);
}

/** MXNet's `HybridBlock`: a Block; `hybridize()` changes nothing in results. */
export class HybridBlock extends Block {}

/** MXNet's `nn.Sequential`: children run one after another. */
export class Sequential extends Block {
  /** Stack `blocks` at the end. */
  add(...blocks: Block[]): this {
    for (const b of blocks) {
      if (!(b instanceof Block)) throw new Error(`${this.constructor.name}.add: expected Blocks (got ${describe(b)})`);
      this.registerChild(b);
    }
    return this;
  }
  override forward(x: NDArray, ...rest: NDArray[]): NDArray {
    // MXNet's Sequential.forward (gluon/nn/basic_layers.py) only chains the
    // children. Intermediate outputs are freed here (a recorded graph keeps
    // what backward needs), but only arrays a child made during this call:
    // a child may return its input (an identity block, an empty Sequential),
    // the caller's `x`, or an array it keeps; none of those is ours.
    const before = arraysCreated();
    let out = x;
    let first = true;
    for (const [, b] of this._extraChildren) {
      const next = first ? b.forward(out, ...rest) : b.forward(out);
      if (!first && out !== next && out._serial > before) out.dispose();
      out = next;
      first = false;
    }
    return out;
  }
  /** The i-th block (negative counts from the end). */
  at(i: number): Block {
    const blocks = [...this._extraChildren.values()];
    const j = i < 0 ? blocks.length + i : i;
    const b = blocks[j];
    if (b === undefined) throw new Error(`${this.constructor.name}.at: index ${i} out of range (length ${blocks.length})`);
    return b;
  }
  override get length(): number {
    return this._extraChildren.size;
  }
}

/** MXNet's `nn.HybridSequential`. */
export class HybridSequential extends Sequential {}
