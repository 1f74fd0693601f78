/**
 * The flow-matching transformer denoiser (SD3's SD3Transformer2DModel, FLUX's FluxTransformer2DModel) with
 * the I/O of Optimum's export configs (huggingface/optimum-onnx @ ab7a3d0155e6813e753f406349b816e8d5f4c498,
 * optimum/exporters/onnx/model_configs.py: SD3TransformerOnnxConfig, FluxTransformerOnnxConfig):
 * hidden_states, encoder_hidden_states, pooled_projections, timestep (float, one per row) -> out_hidden_states;
 * FLUX adds img_ids, txt_ids and, when guidance-distilled (dev), guidance. FLUX's hidden_states are the
 * latents packed 2x2 into a token sequence [B, (h/2)(w/2), 4C]: the transformer's `layout` packs them, and
 * the sampling loop keeps them packed from the initial noise to the VAE.
 */
import { LatentFleetError } from "../common/errors.js";
import type { Denoiser, ExtraInput, LatentLayout } from "./families/types.js";
import { floatTensor, intTensor, type OnnxModel, readFloats, type TensorInfo } from "./onnx-model.js";
import { StepConstantTensors } from "./step-constant-tensors.js";
import { extraInputsOf, feedExtraInputs, type TimestepForm, timestepForm } from "./unet.js";

export interface TransformerLayout {
  /** hidden_states are 2x2-packed latent tokens (FLUX). */
  packed: boolean;
  /** What the timestep is multiplied by before the model sees it: 1 (SD3: σ·1000), 1/1000 (FLUX: σ). */
  timestepScale: number;
  /** Inputs beyond the four common ones this family feeds. */
  extras: readonly string[];
  /** Guidance is an input (FLUX-dev) or the model was distilled to go without CFG (FLUX-schnell). */
  guidanceDistilled: boolean;
  /** What a wrong export should be told. */
  familyHint: string;
}

/** diffusers' FluxPipeline._pack_latents: [B,C,h,w] -> [B, (h/2)(w/2), 4C]; token (i,j), feature c·4 + 2·di + dj. */
export function packLatents(
  x: Float32Array,
  dims: readonly [number, number, number, number],
  out = new Float32Array(x.length),
): Float32Array {
  const [b, c, h, w] = dims;
  let k = 0;
  for (let n = 0; n < b; n++)
    for (let i = 0; i < h; i += 2)
      for (let j = 0; j < w; j += 2)
        for (let ch = 0; ch < c; ch++) {
          const top = ((n * c + ch) * h + i) * w + j;
          out[k] = x[top];
          out[k + 1] = x[top + 1];
          out[k + 2] = x[top + w];
          out[k + 3] = x[top + w + 1];
          k += 4;
        }
  return out;
}

/** The inverse of packLatents (FluxPipeline._unpack_latents). */
export function unpackLatents(
  p: Float32Array,
  dims: readonly [number, number, number, number],
  out = new Float32Array(p.length),
): Float32Array {
  const [b, c, h, w] = dims;
  let k = 0;
  for (let n = 0; n < b; n++)
    for (let i = 0; i < h; i += 2)
      for (let j = 0; j < w; j += 2)
        for (let ch = 0; ch < c; ch++) {
          const top = ((n * c + ch) * h + i) * w + j;
          out[top] = p[k];
          out[top + 1] = p[k + 1];
          out[top + w] = p[k + 2];
          out[top + w + 1] = p[k + 3];
          k += 4;
        }
  return out;
}

/** FLUX's packed token layout for the sampling loop. */
export const PACKED_2X2: LatentLayout = { toModel: packLatents, fromModel: unpackLatents };

/** FluxPipeline._prepare_latent_image_ids for latents h x w: (0, row, column) per packed token, [(h/2)(w/2), 3]. */
export function latentImageIds(h: number, w: number): ExtraInput {
  const hh = h / 2;
  const ww = w / 2;
  const data = new Float32Array(hh * ww * 3);
  for (let i = 0; i < hh; i++)
    for (let j = 0; j < ww; j++) {
      data[(i * ww + j) * 3 + 1] = i;
      data[(i * ww + j) * 3 + 2] = j;
    }
  return { data, dims: [hh * ww, 3] };
}

export class TransformerModel implements Denoiser {
  readonly sample: TensorInfo;
  readonly timestep: TensorInfo;
  readonly context: TensorInfo;
  readonly extraInputs: TensorInfo[];
  readonly latentChannels: number;
  readonly guidanceDistilled: boolean;
  private readonly form: TimestepForm;
  private readonly outputName: string;
  readonly layout: LatentLayout | undefined;
  private readonly constants = new StepConstantTensors();

  constructor(
    private readonly model: OnnxModel,
    private readonly spec: TransformerLayout,
  ) {
    this.sample = model.requireInput("hidden_states");
    this.timestep = model.requireInput("timestep");
    this.context = model.requireInput("encoder_hidden_states");
    this.form = timestepForm(this.timestep);
    this.extraInputs = extraInputsOf(
      model,
      [this.sample, this.timestep, this.context],
      spec.extras,
      "transformer",
      spec.familyHint,
    );
    const rank = spec.packed ? 3 : 4;
    if (this.sample.shape.length !== rank) {
      throw new LatentFleetError(
        "MODEL_INVALID",
        `${model.path}: hidden_states has rank ${this.sample.shape.length}, ${spec.familyHint} takes rank ${rank}`,
      );
    }
    const channels = this.sample.shape[spec.packed ? 2 : 1];
    const fixed = typeof channels === "number" && channels > 0 ? channels : undefined;
    this.latentChannels = fixed === undefined ? 16 : spec.packed ? fixed / 4 : fixed;
    this.guidanceDistilled = spec.guidanceDistilled;
    this.layout = spec.packed ? PACKED_2X2 : undefined;
    this.outputName = model.outputName("out_hidden_states");
  }

  async predict(
    sample: Float32Array,
    dims: readonly [number, number, number, number],
    timestep: number,
    context: Float32Array,
    contextDims: readonly [number, number, number],
    extras: Record<string, ExtraInput> = {},
  ): Promise<Float32Array> {
    const [batch, c, h, w] = dims;
    // Packed latents arrive packed (see `layout`): the tensor is the loop's own array.
    const hidden = floatTensor(this.sample, sample, this.layout ? [batch, (h / 2) * (w / 2), 4 * c] : dims);
    const t = timestep * this.spec.timestepScale;
    const rows = this.form === "batch" ? batch : 1;
    const tDims = this.form === "scalar" ? [] : [rows];
    const feeds = {
      [this.sample.name]: hidden,
      [this.timestep.name]: intTensor(this.timestep, new Array<number>(rows).fill(t), tDims),
      [this.context.name]: this.constants.tensor(this.context, context, contextDims),
    };
    feedExtraInputs(feeds, this.extraInputs, extras, "transformer", this.constants);
    return readFloats(await this.model.run(feeds, this.outputName));
  }
}
