import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Tests run against the built package (pkg/), exactly what users import.
export default defineConfig({
  resolve: {
    alias: { ndgrad: fileURLToPath(new URL("./pkg/index.js", import.meta.url)) },
  },
  test: {
    include: ["tests/ts/**/*.test.ts"],
    testTimeout: 60_000,
  },
});
