// comlink 4.4.2 ships its Node adapter as `dist/esm/node-adapter.mjs` with a
// `.d.ts` that TypeScript does not pick up for an `.mjs` path: this shim
// types the one default export we use.
declare module "comlink/dist/esm/node-adapter.mjs" {
  import type { Endpoint } from "comlink";

  /** What the adapter needs from a `worker_threads` Worker or MessagePort. */
  export interface NodeEndpoint {
    postMessage(message: unknown, transfer?: readonly unknown[]): void;
    on(type: string, listener: (value: unknown) => void): void;
    off(type: string, listener: (value: unknown) => void): void;
    start?: () => void;
  }

  export default function nodeEndpoint(nep: NodeEndpoint): Endpoint;
}
