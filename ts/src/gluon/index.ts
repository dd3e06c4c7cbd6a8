// MXNet's Gluon, camelCased: `gluon.nn`, `gluon.loss`, `gluon.Trainer`,
// `gluon.data`, `gluon.lrScheduler`, plus `init` and `metric`.
import { Block, HybridBlock, HybridSequential, Sequential } from "./block.js";
import { ArrayDataset, Dataset, SimpleDataset } from "./data/dataset.js";
import { DataLoader } from "./data/loader.js";
import { vision } from "./data/vision.js";
import { loss } from "./loss.js";
import { lrScheduler } from "./lr_scheduler.js";
import { Activation, Dense, Dropout, ELU, Flatten, GELU, LeakyReLU, PReLU, SELU, Swish } from "./nn/basic.js";
import {
  AvgPool1D,
  AvgPool2D,
  Conv1D,
  Conv1DTranspose,
  Conv2D,
  Conv2DTranspose,
  GlobalAvgPool2D,
  GlobalMaxPool2D,
  MaxPool1D,
  MaxPool2D,
} from "./nn/conv.js";
import { BatchNorm, Embedding, LayerNorm } from "./nn/norm.js";
import { Parameter, ParameterDict } from "./parameter.js";
import { Trainer } from "./trainer.js";

export const nn = {
  Block,
  HybridBlock,
  Sequential,
  HybridSequential,
  Dense,
  Flatten,
  Dropout,
  Activation,
  LeakyReLU,
  PReLU,
  ELU,
  SELU,
  GELU,
  Swish,
  Conv1D,
  Conv2D,
  Conv1DTranspose,
  Conv2DTranspose,
  MaxPool1D,
  MaxPool2D,
  AvgPool1D,
  AvgPool2D,
  GlobalMaxPool2D,
  GlobalAvgPool2D,
  BatchNorm,
  LayerNorm,
  Embedding,
};

export const data = { Dataset, SimpleDataset, ArrayDataset, DataLoader, vision };

export const gluon = { nn, loss, Trainer, Parameter, ParameterDict, data, lrScheduler };

export { Block, HybridBlock, Sequential, HybridSequential } from "./block.js";
export { Parameter, ParameterDict } from "./parameter.js";
export type { ParameterOptions } from "./parameter.js";
export { Trainer } from "./trainer.js";
export type { OptimizerParams } from "./trainer.js";
export { init, Initializer } from "./init.js";
export { metric, EvalMetric } from "./metric.js";
export type { DataLoaderOptions, LastBatch } from "./data/loader.js";
export type { Sample, Item, Transform, BatchTransform } from "./data/dataset.js";
export type { DenseOptions, ActivationName } from "./nn/basic.js";
export type { LossOptions } from "./loss.js";
