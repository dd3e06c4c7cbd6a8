// tfjs-core's Node bundle (dist/tf-core.node.js) registers no gradients; the
// union package @tensorflow/tfjs does so by bundling tfjs-core's ESM
// `dist/register_all_gradients.js`. That file uses extensionless relative
// imports, which Node's ESM loader refuses, so a resolve hook adds `.js`
// for files inside tfjs-core's dist/. The gradient registry, the engine and
// tensor `instanceof` checks are global in tfjs, so the ESM copy's gradients
// serve the CommonJS engine the backends use (as in @tensorflow/tfjs).
import { register } from "node:module";

const hook = `
export async function resolve(spec, ctx, next) {
  if (ctx.parentURL && ctx.parentURL.includes("/@tensorflow/tfjs-core/dist/") &&
      (spec.startsWith("./") || spec.startsWith("../")) && !spec.endsWith(".js")) {
    try { return await next(spec + ".js", ctx); } catch { return next(spec + "/index.js", ctx); }
  }
  return next(spec, ctx);
}`;

export async function registerAllGradients() {
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  await import("@tensorflow/tfjs-core/dist/register_all_gradients.js");
}
