import { describe, expect, it } from "vitest";
import { toFloat16 } from "../../src/engine/float16.js";
import type { TensorInfo } from "../../src/engine/onnx-model.js";
import { StepConstantTensors } from "../../src/engine/step-constant-tensors.js";

const half: TensorInfo = { name: "encoder_hidden_states", type: "float16", shape: ["batch", 77, 2048] };
const single: TensorInfo = { name: "time_ids", type: "float32", shape: ["batch", 6] };

describe("StepConstantTensors", () => {
  it("converts a float16 input once while the same array comes back, step after step", () => {
    const constants = new StepConstantTensors();
    const data = Float32Array.from([0.5, -1.25, 3, 65504]);
    const first = constants.tensor(half, data, [1, 2, 2]);
    expect(first.type).toBe("float16");
    expect(Array.from(first.data as Uint16Array)).toEqual(Array.from(toFloat16(data)));
    for (let step = 0; step < 3; step++) expect(constants.tensor(half, data, [1, 2, 2])).toBe(first);
  });

  it("makes a new tensor for a new array (the next batch) or other dims, with the new values", () => {
    const constants = new StepConstantTensors();
    const batch1 = Float32Array.from([1, 2, 3, 4]);
    const t1 = constants.tensor(half, batch1, [1, 2, 2]);
    const reshaped = constants.tensor(half, batch1, [2, 1, 2]);
    expect(reshaped).not.toBe(t1);
    expect(reshaped.dims).toEqual([2, 1, 2]);
    const batch2 = Float32Array.from([5, 6, 7, 8]);
    const t2 = constants.tensor(half, batch2, [2, 1, 2]);
    expect(t2).not.toBe(reshaped);
    expect(Array.from(t2.data as Uint16Array)).toEqual(Array.from(toFloat16(batch2)));
  });

  it("keeps one tensor per input name, and a float32 tensor wraps the array itself", () => {
    const constants = new StepConstantTensors();
    const ids = Float32Array.from([64, 64, 0, 0, 64, 64]);
    const context = Float32Array.from([1, 2]);
    const a = constants.tensor(single, ids, [1, 6]);
    const c = constants.tensor(half, context, [1, 1, 2]);
    expect(a.data).toBe(ids);
    expect(constants.tensor(single, ids, [1, 6])).toBe(a);
    expect(constants.tensor(half, context, [1, 1, 2])).toBe(c);
  });
});
