import { describe, expect, it } from "vitest";
import { intTensor, type TensorInfo } from "../../src/engine/onnx-model.js";

const info = (type: TensorInfo["type"]): TensorInfo => ({ name: "timestep", type, shape: ["batch"] });

describe("intTensor (a timestep per row)", () => {
  it("gives the dtype and dims a denoiser declares, the value in every row", () => {
    for (const type of ["int32", "int64", "float32", "float16"] as const) {
      const t = intTensor(info(type), [999, 999, 999], [3]);
      expect(t.type).toBe(type);
      expect(t.dims).toEqual([3]);
      expect(Array.from(t.data as ArrayLike<number | bigint>)).toHaveLength(3);
    }
  });

  it("truncates for integer inputs as numpy's astype does, and keeps a float timestep whole", () => {
    expect(Array.from(intTensor(info("int64"), [946.9], []).data as BigInt64Array)).toEqual([946n]);
    expect(Array.from(intTensor(info("int32"), [946.9, 946.9], [2]).data as Int32Array)).toEqual([946, 946]);
    expect(intTensor(info("float32"), [946.9], [1]).data[0]).toBeCloseTo(946.9, 3);
  });

  it("rejects a dtype no timestep can have", () => {
    expect(() => intTensor(info("string"), [1], [1])).toThrow(/expected an int or float/);
  });

  it("copies Int32Array token ids (the tensor does not share the caller's array)", () => {
    const ids = Int32Array.from([49406, 320, 49407]);
    const t = intTensor(info("int32"), ids, [1, 3]);
    expect(Array.from(t.data as Int32Array)).toEqual([49406, 320, 49407]);
    expect(t.data).not.toBe(ids);
  });
});
