import { describe, expect, it } from "vitest";
import { filledTensor, intTensor, type TensorInfo } from "../../src/engine/onnx-model.js";

const info = (type: TensorInfo["type"]): TensorInfo => ({ name: "timestep", type, shape: ["batch"] });

describe("filledTensor (a timestep per row)", () => {
  it("gives what intTensor gives for the same values, for every dtype a denoiser declares", () => {
    for (const type of ["int32", "int64", "float32", "float16"] as const) {
      for (const value of [946.4211, 999, 0, 0.5]) {
        const filled = filledTensor(info(type), value, 3, [3]);
        const reference = intTensor(info(type), [value, value, value], [3]);
        expect(filled.type).toBe(type);
        expect(filled.dims).toEqual([3]);
        expect(Array.from(filled.data as ArrayLike<number | bigint>)).toEqual(
          Array.from(reference.data as ArrayLike<number | bigint>),
        );
      }
    }
  });

  it("truncates for integer inputs as numpy's astype does, and keeps a float timestep whole", () => {
    expect(Array.from(filledTensor(info("int64"), 946.9, 1, []).data as BigInt64Array)).toEqual([946n]);
    expect(Array.from(filledTensor(info("int32"), 946.9, 2, [2]).data as Int32Array)).toEqual([946, 946]);
    expect(filledTensor(info("float32"), 946.9, 1, [1]).data[0]).toBeCloseTo(946.9, 3);
  });

  it("rejects a dtype no timestep can have, as intTensor does", () => {
    expect(() => filledTensor(info("string"), 1, 1, [1])).toThrow(/expected an int or float/);
  });
});

describe("intTensor", () => {
  it("copies Int32Array token ids (the tensor does not share the caller's array)", () => {
    const ids = Int32Array.from([49406, 320, 49407]);
    const t = intTensor(info("int32"), ids, [1, 3]);
    expect(Array.from(t.data as Int32Array)).toEqual([49406, 320, 49407]);
    expect(t.data).not.toBe(ids);
  });
});
