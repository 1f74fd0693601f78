import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Files share no state (each starts its own nats-server on a free port, with temporary folders), but
    // the engine tests use every core: on 2 cores, files side by side each take about twice as long, for
    // little gain overall. Keep files in sequence.
    fileParallelism: false,
  },
});
