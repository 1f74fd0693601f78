import { describe, expect, it } from "vitest";
import { runWorkerThreads } from "../../src/cli/inference-threads.js";

describe("run's thread count per worker", () => {
  it("leaves one worker's count to ONNX Runtime and splits the cores between several", () => {
    expect(runWorkerThreads(1, 16)).toBeUndefined();
    expect(runWorkerThreads(2, 16)).toBe(8);
    expect(runWorkerThreads(3, 16)).toBe(5);
    expect(runWorkerThreads(4, 2)).toBe(1);
  });
});
