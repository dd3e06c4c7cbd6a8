import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests run against the built package (pkg/), exactly what users import.
export default defineConfig({
  resolve: {
    // "ndgrad/worker" first: otherwise the "ndgrad" alias would rewrite it.
    alias: {
      "ndgrad/worker": fileURLToPath(new URL("./pkg/worker/index.js", import.meta.url)),
      ndgrad: fileURLToPath(new URL("./pkg/index.js", import.meta.url)),
    },
  },
  test: {
    include: ["tests/ts/**/*.test.ts"],
    testTimeout: 60_000,
  },
});
