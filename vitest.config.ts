import { defineConfig } from "vitest/config";

/**
 * Files that spend their time waiting (on NATS ack waits and redeliveries, on a cluster's elections, on
 * processes killed and restarted) rather than computing. They run one at a time beside the others, which
 * also run one at a time: two files at once in all, on a 2-core machine one of them mostly idle. Files
 * share no state (each starts its own nats-server on a free port, with temporary folders and network
 * namespaces of their own).
 */
const WAITING = [
  "test/chaos/**/*.test.ts",
  "test/cluster/**/*.test.ts",
  "test/deploy/**/*.test.ts",
  "test/integration/coordinator/**/*.test.ts",
  "test/integration/nats/**/*.test.ts",
  "test/integration/storage/**/*.test.ts",
  "test/integration/worker/**/*.test.ts",
  "test/integration/metrics.test.ts",
  "test/load/grpc-requests.test.ts",
  "test/unit/worker/fake-task-queue.test.ts",
  "test/e2e/s3-upload-kill.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        // The engine tests use every core: two of them side by side each take about twice as long, for
        // little gain overall. These files run in sequence.
        test: { name: "compute", include: ["test/**/*.test.ts"], exclude: WAITING, fileParallelism: false },
      },
      {
        extends: true,
        test: { name: "waiting", include: WAITING, fileParallelism: false },
      },
    ],
  },
});
