// comlink's Node adapter (a `worker_threads` port as a comlink endpoint),
// imported by relative URL for the reasons given in ./comlink.ts: the build
// replaces pkg/worker/node-adapter.js with the adapter bundled in. Typed
// here, so that the emitted declarations do not name the adapter's `.mjs`
// path, which TypeScript resolves only through ./comlink-node-adapter.d.ts.
import type { Endpoint } from "./comlink.js";
import adapter from "comlink/dist/esm/node-adapter.mjs";

/** What the adapter needs from a `worker_threads` Worker or MessagePort. */
export interface NodeEndpoint {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(type: string, listener: (value: unknown) => void): void;
  off(type: string, listener: (value: unknown) => void): void;
  start?: () => void;
}

const nodeEndpoint: (nep: NodeEndpoint) => Endpoint = adapter;
export default nodeEndpoint;
