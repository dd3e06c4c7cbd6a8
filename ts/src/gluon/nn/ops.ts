// The neural-network operators the conv, pooling and normalisation layers
// call (API.md "Neural-network operators"). They are engine operators added
// by other issues; a layer whose operator is missing from this build says
// so instead of failing obscurely.
import { nd } from "../../nd.js";
import type { NDArray } from "../../ndarray.js";

export interface NNOps {
  Convolution(data: NDArray, weight: NDArray, bias: NDArray | null, o: Record<string, unknown>): NDArray;
  Deconvolution(data: NDArray, weight: NDArray, bias: NDArray | null, o: Record<string, unknown>): NDArray;
  Pooling(data: NDArray, o: Record<string, unknown>): NDArray;
  BatchNorm(data: NDArray, gamma: NDArray, beta: NDArray, mean: NDArray, vari: NDArray, o: Record<string, unknown>): NDArray;
  LayerNorm(data: NDArray, gamma: NDArray, beta: NDArray, o: Record<string, unknown>): NDArray;
  Embedding(data: NDArray, weight: NDArray, o: Record<string, unknown>): NDArray;
}

/** `nd[name]`, or an Error naming the layer and the missing operator. */
export function op<K extends keyof NNOps>(layer: string, name: K): NNOps[K] {
  const f = (nd as unknown as Partial<NNOps>)[name];
  if (typeof f !== "function") {
    throw new Error(`${layer}: this build of ndgrad has no nd.${name} operator, which the layer needs`);
  }
  return f as NNOps[K];
}
