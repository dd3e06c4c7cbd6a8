import { defineConfig } from "vite";

// ndgrad's worker loads the engine with top-level await: Vite's default
// worker format (iife) cannot bundle that.
export default defineConfig({ worker: { format: "es" } });
