import { describe, expect, it } from "vitest";
import { formatDevice, parseDevice, sessionOptions } from "../../src/engine/device.js";

// No GPU here: these tests check the options handed to ONNX Runtime, not a GPU run.
describe("devices", () => {
  it("parses cpu, cuda:N and tensorrt:N", () => {
    expect(parseDevice("cpu")).toEqual({ kind: "cpu", id: 0 });
    expect(parseDevice("cuda")).toEqual({ kind: "cuda", id: 0 });
    expect(parseDevice("cuda:3")).toEqual({ kind: "cuda", id: 3 });
    expect(parseDevice(" TensorRT:1 ")).toEqual({ kind: "tensorrt", id: 1 });
    expect(formatDevice(parseDevice("cuda:2"))).toBe("cuda:2");
  });

  it("rejects unknown devices with a message that lists the valid ones", () => {
    expect(() => parseDevice("gpu")).toThrow(/use cpu, cuda:N or tensorrt:N/);
    expect(() => parseDevice("cuda:x")).toThrow(/unknown device/);
    expect(() => parseDevice("cpu:1")).toThrow(/cpu takes no ordinal/);
  });

  it("builds CPU options with the requested threads", () => {
    const o = sessionOptions(parseDevice("cpu"), { intraOpThreads: 3 });
    expect(o.executionProviders).toEqual(["cpu"]);
    expect(o.intraOpNumThreads).toBe(3);
    expect(o.graphOptimizationLevel).toBe("all");
  });

  it("leaves the CPU thread count to ONNX Runtime unless one is asked for", () => {
    expect(sessionOptions(parseDevice("cpu"))).not.toHaveProperty("intraOpNumThreads");
    expect(sessionOptions(parseDevice("cpu"), { intraOpThreads: 1 }).intraOpNumThreads).toBe(1);
  });

  it("lets the CPU pool threads sleep between operators unless spinning is asked for", () => {
    const sleeping = { session: { intra_op: { allow_spinning: "0" } } };
    expect(sessionOptions(parseDevice("cpu")).extra).toEqual(sleeping);
    expect(sessionOptions(parseDevice("cpu"), { spinning: false }).extra).toEqual(sleeping);
    expect(sessionOptions(parseDevice("cpu"), { spinning: true }).extra).toBeUndefined();
  });

  it("pins CUDA to its device id with a CPU fallback", () => {
    const o = sessionOptions(parseDevice("cuda:1"));
    expect(o.executionProviders).toEqual([{ name: "cuda", deviceId: 1 }, "cpu"]);
    expect(o.intraOpNumThreads).toBe(1);
  });

  it("puts TensorRT first, then CUDA, then CPU, all on the same GPU", () => {
    const o = sessionOptions(parseDevice("tensorrt:2"));
    expect(o.executionProviders).toEqual([
      { name: "tensorrt", deviceId: 2 },
      { name: "cuda", deviceId: 2 },
      "cpu",
    ]);
  });
});
