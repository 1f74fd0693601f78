import { LatentFleetError } from "../common/errors.js";
import { intTensor, type OnnxModel, readFloats, type TensorInfo } from "./onnx-model.js";

/** The CLIP text encoder: token ids [N, L] (int32 or int64, as exported) to last_hidden_state [N, L, D]. */
export class TextEncoderModel {
  private readonly idsInput: TensorInfo;
  private readonly outputName: string;

  constructor(private readonly model: OnnxModel) {
    this.idsInput = model.requireInput("input_ids");
    this.outputName = model.outputName("last_hidden_state");
    const extra = model.inputs.filter((t) => t !== this.idsInput);
    if (extra.length > 0) {
      throw new LatentFleetError(
        "MODEL_INVALID",
        `${model.path}: unsupported extra inputs ${extra.map((t) => t.name).join(", ")}`,
      );
    }
  }

  /** Encodes `count` rows of `length` ids each; returns the hidden states and their width D. */
  async encode(
    ids: Int32Array,
    count: number,
    length: number,
  ): Promise<{ hidden: Float32Array; width: number }> {
    const out = await this.model.run(
      { [this.idsInput.name]: intTensor(this.idsInput, ids, [count, length]) },
      this.outputName,
    );
    const width = Number(out.dims[out.dims.length - 1]);
    return { hidden: readFloats(out), width };
  }
}
