// autograd.Function: custom operations with hand-written gradients.
import { afterEach, describe, expect, it } from "vitest";
import { autograd, nd, NDArray } from "ndgrad";
import { liveFunctions } from "../../pkg/function.js";
import { expectNoLeaks } from "./helpers.js";

afterEach(() => {
  expectNoLeaks();
  expect(liveFunctions()).toBe(0);
});

class Sigmoid extends autograd.Function {
  override forward(x: NDArray): NDArray {
    const y = nd.sigmoid(x);
    this.saveForBackward(y);
    return y;
  }
  override backward(dy: NDArray): NDArray {
    const [y] = this.savedTensors;
    return dy.mul(y!).mul(nd.sub(1, y!));
  }
}

/** Two inputs, two outputs: (a·b, a + b). */
class MulAdd extends autograd.Function {
  override forward(a: NDArray, b: NDArray): NDArray[] {
    this.saveForBackward(a, b);
    return [a.mul(b), a.add(b)];
  }
  override backward(dp: NDArray, ds: NDArray): NDArray[] {
    const [a, b] = this.savedTensors;
    return [dp.mul(b!).add(ds), dp.mul(a!).add(ds)];
  }
}

/** x³ with a backward written in ops, so createGraph differentiates it again. */
class Cube extends autograd.Function {
  override forward(x: NDArray): NDArray {
    this.saveForBackward(x);
    return x.pow(3);
  }
  override backward(dy: NDArray): NDArray {
    const [x] = this.savedTensors;
    return dy.mul(x!.square()).mul(3);
  }
}

describe("autograd.Function", () => {
  it("a custom sigmoid gives the built-in gradient", () => {
    nd.scope(() => {
      const x = nd.array([0, 1, -2, 3.5]);
      x.attachGrad();
      autograd.record(() => (new Sigmoid().apply(x) as NDArray).mul(2).sum()).backward();
      const custom = x.grad!.data();
      autograd.record(() => x.sigmoid().mul(2).sum()).backward();
      expect(Array.from(custom)).toEqual(Array.from(x.grad!.data()));
      x.dispose();
    });
  });

  it("several inputs and outputs; each output's gradient reaches backward", () => {
    nd.scope(() => {
      const a = nd.array([1, 2]);
      const b = nd.array([3, 5]);
      a.attachGrad();
      b.attachGrad();
      const loss = autograd.record(() => {
        const [p, s] = new MulAdd().apply(a, b) as NDArray[];
        return p!.sum().add(s!.mul(10).sum());
      });
      loss.backward();
      expect(a.grad!.toArray()).toEqual([13, 15]); // b + 10
      expect(b.grad!.toArray()).toEqual([11, 12]); // a + 10
      a.dispose();
      b.dispose();
    });
  });

  it("honours gradReq 'add' (MXNet's Function does not)", () => {
    nd.scope(() => {
      const x = nd.array([0.5]);
      x.attachGrad("add");
      for (let i = 0; i < 2; i++) autograd.record(() => new Cube().apply(x) as NDArray).backward();
      expect(x.grad!.toArray()).toEqual([1.5]); // 2 · 3x²
      x.dispose();
    });
  });

  it("its backward is recorded with createGraph (second derivatives)", () => {
    nd.scope(() => {
      const x = nd.array([1, 2]);
      x.attachGrad();
      const y = autograd.record(() => (new Cube().apply(x) as NDArray).sum());
      const [g] = autograd.grad(y, x, { createGraph: true });
      expect(g!.toArray()).toEqual([3, 12]);
      autograd.record(() => g!.sum()).backward();
      expect(x.grad!.toArray()).toEqual([6, 12]);
      x.dispose();
    });
  });

  it("a backward using a saved output cannot be recorded for higher order: an Error, not a wrong derivative", () => {
    // The saved output is a constant in the recorded backward: x.grad came
    // out [0, 0] for this sigmoid (PyTorch: [-0.0576, -0.0909]).
    nd.scope(() => {
      const x = nd.array([0.5, 1], { dtype: "float64" });
      x.attachGrad();
      const y = autograd.record(() => (new Sigmoid().apply(x) as NDArray).sum());
      expect(() => autograd.grad(y, x, { createGraph: true })).toThrow(
        /Sigmoid\.backward: cannot be recorded for higher-order gradients \(createGraph\) because forward saved one of its outputs/,
      );
      // First order is unaffected, and the engine keeps working.
      const [g] = autograd.grad(y, x, { retainGraph: true });
      const s = [0.5, 1].map((v) => 1 / (1 + Math.exp(-v)));
      g!.toArray().forEach((v, i) => expect(v).toBeCloseTo(s[i]! * (1 - s[i]!), 12));
      y.backward();
      x.dispose();
    });
  });

  it("outside record nothing is recorded", () => {
    nd.scope(() => {
      const x = nd.array([1, 2]);
      x.attachGrad();
      const y = new Cube().apply(x) as NDArray;
      expect(y.toArray()).toEqual([1, 8]);
      expect(nd.memory().tapeNodes).toBe(0);
      expect(() => y.backward()).toThrow(/not in a computational graph/);
      x.dispose();
    });
  });

  it("an exception in backward reaches the caller unchanged, and the engine keeps working", () => {
    class Throws extends autograd.Function {
      override forward(x: NDArray): NDArray {
        return x.mul(2);
      }
      override backward(): NDArray {
        throw new RangeError("my backward failed");
      }
    }
    nd.scope(() => {
      const x = nd.array([1, 2]);
      x.attachGrad();
      const y = autograd.record(() => (new Throws().apply(x) as NDArray).sum());
      expect(() => y.backward()).toThrow(RangeError);
      autograd.record(() => x.mul(x).sum()).backward();
      expect(x.grad!.toArray()).toEqual([2, 4]);
      x.dispose();
    });
  });

  it("bad forward and backward results are clear errors", () => {
    class ReturnsInput extends autograd.Function {
      override forward(x: NDArray): NDArray {
        return x;
      }
    }
    class WrongShape extends autograd.Function {
      override forward(x: NDArray): NDArray {
        return x.sum();
      }
      override backward(dy: NDArray): NDArray {
        return dy; // shape [1] for an input of shape [3]
      }
    }
    class WrongCount extends autograd.Function {
      override forward(x: NDArray): NDArray {
        return x.mul(1);
      }
      override backward(dy: NDArray): NDArray[] {
        return [dy, dy];
      }
    }
    nd.scope(() => {
      const x = nd.array([1, 2, 3]);
      x.attachGrad();
      expect(() => autograd.record(() => new ReturnsInput().apply(x))).toThrow(/must return new arrays/);
      const y = autograd.record(() => new WrongShape().apply(x) as NDArray);
      expect(() => y.backward()).toThrow("WrongShape.backward: gradient 0 has shape [1] but input 0 has shape [3]");
      const z = autograd.record(() => (new WrongCount().apply(x) as NDArray).sum());
      expect(() => z.backward()).toThrow("WrongCount.backward: returned 2 gradients for 1 inputs");
      expect(() => autograd.record(() => new Sigmoid().apply(1 as unknown as NDArray))).toThrow(
        "Sigmoid: input 0 must be an NDArray (got 1)",
      );
      expect(x.toArray()).toEqual([1, 2, 3]);
      x.dispose();
    });
  });
});

describe("calling a Function instance", () => {
  it("f(x) is f.apply(x), as MXNet's f(x)", () => {
    nd.scope(() => {
      const x = nd.array([3, -1]);
      x.attachGrad();
      const f = new Cube();
      expect(typeof f).toBe("function");
      expect(f).toBeInstanceOf(Cube);
      expect(f).toBeInstanceOf(autograd.Function);
      const y = autograd.record(() => (f(x) as NDArray).sum());
      y.backward();
      expect(x.grad!.toArray()).toEqual([27, 3]);
      x.dispose();
    });
  });
});

describe("autograd.checkGrad", () => {
  it("passes correct gradients, built-in and custom", () => {
    nd.scope(() => {
      const x = nd.array([[0.3, -1.2, 2.1], [0.7, 1.4, -0.4]]);
      const w = nd.array([[0.5], [-1], [0.25]]);
      expect(autograd.checkGrad((a, b) => a.dot(b).tanh().mul(a.sum()), [x, w])).toBe(true);
      expect(autograd.checkGrad((a) => new Sigmoid().apply(a) as NDArray, [x])).toBe(true);
      expect(autograd.checkGrad((a) => new Cube()(a) as NDArray, [x])).toBe(true);
      // The inputs are untouched and not made variables.
      expect(x.grad).toBeNull();
      expect(Array.from(x.data())).toEqual(Array.from(Float32Array.from([0.3, -1.2, 2.1, 0.7, 1.4, -0.4])));
    });
  });

  it("catches a wrong gradient, naming the input and element", () => {
    class WrongCube extends autograd.Function {
      override forward(x: NDArray): NDArray {
        this.saveForBackward(x);
        return x.pow(3);
      }
      override backward(dy: NDArray): NDArray {
        const [x] = this.savedTensors;
        return dy.mul(x!.square()).mul(2.9); // should be 3
      }
    }
    nd.scope(() => {
      const x = nd.array([0.5, 1.5]);
      expect(() => autograd.checkGrad((a) => new WrongCube()(a) as NDArray, [x])).toThrow(
        /checkGrad: gradient of input 0 at flat index 0 \(shape \[2\]\): autograd gives .*, finite differences give/,
      );
      expect(autograd.checkGrad((a) => new WrongCube()(a) as NDArray, [x], { raiseException: false })).toBe(false);
      // Detach hides the gradient: also caught.
      expect(autograd.checkGrad((a) => a.mul(a.detach()), [x], { raiseException: false })).toBe(false);
      expect(() => autograd.checkGrad((a) => a, [] as NDArray[])).toThrow("checkGrad: inputs must be a non-empty array");
      expect(() => autograd.checkGrad((a) => a, [nd.array([1], { dtype: "int32" })])).toThrow("checkGrad: input 0 is int32");
    });
  });

  it("checks float64 functions in float64, with a tolerance float32 could not meet", () => {
    nd.scope(() => {
      const x = nd.array([[0.3, -1.2, 2.1], [0.7, 1.4, -0.4]], { dtype: "float64" });
      expect(autograd.checkGrad((a) => a.sin().mul(a.exp()).softmax(), [x])).toBe(true);
      expect(autograd.checkGrad((a) => a.erf().logSoftmax(0), [x], { rtol: 1e-8, atol: 0 })).toBe(true);
      // A gradient 1e-5 off (relative) passes float32's default tolerance but
      // not float64's.
      class Off extends autograd.Function {
        override forward(a: NDArray): NDArray {
          return a.mul(2);
        }
        override backward(dy: NDArray): NDArray {
          return dy.mul(2 * (1 + 1e-5));
        }
      }
      expect(autograd.checkGrad((a) => new Off()(a) as NDArray, [x.astype("float32")])).toBe(true);
      expect(autograd.checkGrad((a) => new Off()(a) as NDArray, [x], { raiseException: false })).toBe(false);
    });
  });
});
