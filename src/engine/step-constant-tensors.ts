/**
 * The denoiser inputs that stay the same through all the steps of one batch (the text states, SDXL's
 * text_embeds and time_ids, FLUX's ids and guidance): each tensor is made when its array first comes and
 * reused for as long as the same array comes again, so a float16 input is converted once per batch rather
 * than once per step. Keyed by the array itself: the sampling loop makes these arrays afresh for each batch
 * and never writes into them afterwards.
 */
import type ort from "onnxruntime-node";
import { floatTensor, type TensorInfo } from "./onnx-model.js";

interface Made {
  data: Float32Array;
  dims: readonly number[];
  tensor: ort.Tensor;
}

export class StepConstantTensors {
  private readonly made = new Map<string, Made>();

  /** The tensor of `info`'s dtype for `data`: the one made last for this input when data and dims are the same. */
  tensor(info: TensorInfo, data: Float32Array, dims: readonly number[]): ort.Tensor {
    const last = this.made.get(info.name);
    if (last && last.data === data && sameDims(last.dims, dims)) return last.tensor;
    const tensor = floatTensor(info, data, dims);
    this.made.set(info.name, { data, dims: [...dims], tensor });
    return tensor;
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
