import { LatentFleetError } from "../common/errors.js";
import { intTensor, type OnnxModel, readFloats, type TensorInfo } from "./onnx-model.js";

/** Which outputs to read: the token states and, optionally, a pooled vector. */
export interface TextEncoderOutputs {
  hidden: string;
  pooled?: string;
}

export interface TextEncoding {
  hidden: Float32Array;
  width: number;
  pooled: Float32Array | undefined;
  pooledWidth: number;
}

/**
 * The output holding the penultimate layer's states, as SDXL conditions on (diffusers' hidden_states[-2]).
 * Optimum exports hidden_states.0 (the embeddings) to hidden_states.N (the last layer) when the encoder was
 * exported with output_hidden_states; the penultimate layer is hidden_states.{N-1}.
 */
export function penultimateHiddenState(model: OnnxModel): string | undefined {
  const layers = model.outputs
    .map((t) => /^hidden_states\.(\d+)$/.exec(t.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  if (layers.length < 2) return undefined;
  return `hidden_states.${Math.max(...layers) - 1}`;
}

/** A CLIP text encoder: token ids [N, L] (int32 or int64, as exported) to states [N, L, D] (+ pooled [N, P]). */
export class TextEncoderModel {
  private readonly idsInput: TensorInfo;
  private readonly outputs: TextEncoderOutputs;

  constructor(
    private readonly model: OnnxModel,
    outputs?: TextEncoderOutputs,
  ) {
    this.idsInput = model.requireInput("input_ids");
    this.outputs = outputs ?? { hidden: model.outputName("last_hidden_state") };
    const extra = model.inputs.filter((t) => t !== this.idsInput);
    if (extra.length > 0) {
      throw new LatentFleetError(
        "MODEL_INVALID",
        `${model.path}: unsupported extra inputs ${extra.map((t) => t.name).join(", ")}`,
      );
    }
  }

  get path(): string {
    return this.model.path;
  }

  /** Encodes `count` rows of `length` ids each. */
  async encode(ids: Int32Array, count: number, length: number): Promise<TextEncoding> {
    const names = [this.outputs.hidden, ...(this.outputs.pooled ? [this.outputs.pooled] : [])];
    const out = await this.model.runOutputs(
      { [this.idsInput.name]: intTensor(this.idsInput, ids, [count, length]) },
      names,
    );
    const hidden = out[this.outputs.hidden];
    const pooled = this.outputs.pooled ? out[this.outputs.pooled] : undefined;
    return {
      hidden: readFloats(hidden),
      width: Number(hidden.dims[hidden.dims.length - 1]),
      pooled: pooled ? readFloats(pooled) : undefined,
      pooledWidth: pooled ? Number(pooled.dims[pooled.dims.length - 1]) : 0,
    };
  }
}
