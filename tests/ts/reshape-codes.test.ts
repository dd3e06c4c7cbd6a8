// MXNet 1.x's special values in reshape targets (0, -2, -3, -4; -1 as
// before), the examples of MXNet 1.9.1's reshape docstring
// (src/operator/tensor/matrix_op.cc), the values checked too; the worker's
// synchronous shape guess follows the same rule.
import { afterEach, describe, expect, it } from "vitest";
import { autograd, nd } from "ndgrad";
import { reshapeShape } from "../../pkg/worker/shapes.js";
import { expectNoLeaks } from "./helpers.js";

afterEach(expectNoLeaks);

const CASES: [number[], number[], number[]][] = [
  [[2, 3, 4], [4, 0, 2], [4, 3, 2]],
  [[2, 3, 4], [2, 0, 0], [2, 3, 4]],
  [[2, 3, 4], [6, 1, -1], [6, 1, 4]],
  [[2, 3, 4], [3, -1, 8], [3, 1, 8]],
  [[2, 3, 4], [-1], [24]],
  [[2, 3, 4], [-2], [2, 3, 4]],
  [[2, 3, 4], [2, -2], [2, 3, 4]],
  [[2, 3, 4], [-2, 1, 1], [2, 3, 4, 1, 1]],
  [[2, 3, 4], [-3, 4], [6, 4]],
  [[2, 3, 4, 5], [-3, -3], [6, 20]],
  [[2, 3, 4], [0, -3], [2, 12]],
  [[2, 3, 4], [-3, -2], [6, 4]],
  [[2, 3, 4], [-4, 1, 2, -2], [1, 2, 3, 4]],
  [[2, 3, 4], [2, -4, -1, 3, -2], [2, 1, 3, 4]],
  // Gluon's common x.reshape((0, -1)): keep the batch axis, flatten the rest.
  [[5, 2, 3, 4], [0, -1], [5, 24]],
];

describe("reshape: MXNet's special values", () => {
  it.each(CASES)("input %j, shape %j gives %j (values in order)", (input, spec, want) => {
    nd.scope(() => {
      const n = input.reduce((a, b) => a * b, 1);
      const x = nd.arange(0, n).reshape(input);
      const y = x.reshape(spec);
      expect(y.shape).toEqual(want);
      expect(Array.from(y.data())).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(reshapeShape(input, spec)).toEqual(want);
      expect(nd.reshape(x, spec).shape).toEqual(want);
    });
  });

  it("is differentiable like a plain reshape", () => {
    nd.scope(() => {
      const x = nd.arange(0, 24).reshape([2, 3, 4]);
      x.attachGrad();
      autograd.record(() => x.reshape([0, -3]).mul(nd.arange(0, 24).reshape([2, 12])).sum()).backward();
      expect(Array.from(x.grad!.data())).toEqual(Array.from({ length: 24 }, (_, i) => i));
      x.dispose();
    });
  });

  it("bad uses are Errors naming reshape, the spec and the input's shape", () => {
    const x = nd.zeros([2, 3, 4]);
    expect(() => x.reshape([0, 0, 0, 0])).toThrow(/reshape: 0 copies an input dimension, but the input has only 3: \[0,0,0,0\] for an array of shape \[2,3,4\]/);
    expect(() => x.reshape([2, 3, -3])).toThrow(/reshape: -3 merges two input dimensions, but fewer remain/);
    expect(() => x.reshape([-4, 2])).toThrow(/reshape: -4 must be followed by the two sizes/);
    expect(() => x.reshape([-4, -1, -1, -2])).toThrow(/reshape: split dims cannot both be -1/);
    expect(() => x.reshape([-4, 3, -1, -2])).toThrow(/reshape: split dims 3, 0 do not divide original dim 2/);
    expect(() => x.reshape([0, -1, -1])).toThrow(/reshape: can only specify one unknown dimension/);
    expect(() => x.reshape([0, -5])).toThrow(/reshape: invalid dimension -5/);
    expect(() => x.reshape([0, 5])).toThrow(/reshape/);
    // The array is intact and the engine works.
    const y = x.reshape([0, -1]);
    expect(y.shape).toEqual([2, 12]);
    y.dispose();
    x.dispose();
  });
});
