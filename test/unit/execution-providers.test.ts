import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isLatentFleetError } from "../../src/common/errors.js";
import { parseDevice, sessionOptions } from "../../src/engine/device.js";
import {
  onnxRuntimeBindingDir,
  providerLoadFailure,
  requireExecutionProvider,
} from "../../src/engine/execution-providers.js";

describe("execution providers", () => {
  it("finds onnxruntime-node's native binding where the provider libraries are installed", () => {
    expect(existsSync(join(onnxRuntimeBindingDir(), "onnxruntime_binding.node"))).toBe(true);
  });

  it("needs nothing for cpu", () => {
    expect(() => requireExecutionProvider(parseDevice("cpu"))).not.toThrow();
  });

  it("asks every session for errors only in ONNX Runtime's log", () => {
    for (const d of ["cpu", "cuda:0", "tensorrt:0"]) {
      expect(sessionOptions(parseDevice(d)).logSeverityLevel).toBe(3);
    }
  });

  it("turns ONNX Runtime's provider load failure into DEVICE_UNAVAILABLE, other failures into nothing", () => {
    // What onnxruntime-node 1.30 throws when a provider's shared library (or CUDA under it) cannot load.
    const native = new Error("OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library");
    const mapped = providerLoadFailure(native, parseDevice("cuda:1"));
    expect(isLatentFleetError(mapped) && mapped.code).toBe("DEVICE_UNAVAILABLE");
    expect(mapped?.message).toMatch(/^--device cuda:1: ONNX Runtime cannot load its CUDA execution provider/);
    expect(mapped?.message).toContain("ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci");
    expect(mapped?.message).not.toContain("\n");
    expect(providerLoadFailure(native, parseDevice("cpu"))).toBeUndefined();
    expect(providerLoadFailure(new Error("Protobuf parsing failed"), parseDevice("cuda:0"))).toBeUndefined();
  });
});
