import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The machine has few cores and the engine tests run real ONNX models: keep files in sequence.
    fileParallelism: false,
  },
});
