import type ort from "onnxruntime-node";
import { LatentFleetError } from "../common/errors.js";
import { floatTensor, intTensor, type OnnxModel, readFloats, type TensorInfo } from "./onnx-model.js";
import { StepConstantTensors } from "./step-constant-tensors.js";

/** How an export wants its timestep: a scalar, a [1] tensor, or one per batch row ([B]). */
export type TimestepForm = "scalar" | "single" | "batch";

export function timestepForm(info: TensorInfo): TimestepForm {
  if (info.shape.length === 0) return "scalar";
  if (info.shape.length === 1) return info.shape[0] === 1 ? "single" : "batch";
  throw new LatentFleetError(
    "MODEL_INVALID",
    `timestep input ${info.name} has rank ${info.shape.length}, expected 0 or 1`,
  );
}

/** An extra denoiser input: its values and their dims. */
export interface UNetExtraInput {
  data: Float32Array;
  dims: number[];
}

/**
 * The denoising UNet: sample [B,C,h,w], timestep, encoder_hidden_states [B,L,D], plus the extra inputs
 * its family allows (LCM's timestep_cond; SDXL's text_embeds and time_ids), fed by name.
 */
export class UNetModel {
  readonly sample: TensorInfo;
  readonly timestep: TensorInfo;
  readonly context: TensorInfo;
  readonly timestepCond: TensorInfo | undefined;
  readonly form: TimestepForm;
  readonly latentChannels: number;
  private readonly outputName: string;
  private readonly constants = new StepConstantTensors();

  /** Extra inputs the export declares, beyond sample, timestep and encoder_hidden_states. */
  readonly extraInputs: TensorInfo[];

  /** LCM UNets take the guidance as timestep_cond: no CFG batch. */
  get guidanceDistilled(): boolean {
    return this.timestepCond !== undefined;
  }

  constructor(
    private readonly model: OnnxModel,
    allowedExtras: readonly string[] = ["timestep_cond"],
    familyHint = "SDXL-style conditioning needs the SDXL family (text_encoder_2 in model_index.json)",
  ) {
    this.sample = model.requireInput("sample");
    this.timestep = model.requireInput("timestep");
    this.context = model.requireInput("encoder_hidden_states");
    this.timestepCond = model.input("timestep_cond");
    this.form = timestepForm(this.timestep);
    this.extraInputs = extraInputsOf(
      model,
      [this.sample, this.timestep, this.context],
      allowedExtras,
      "UNet",
      familyHint,
    );
    const channels = this.sample.shape[1];
    this.latentChannels = typeof channels === "number" && channels > 0 ? channels : 4;
    this.outputName = model.outputName("out_sample");
  }

  /** Width of LCM's guidance embedding, from the timestep_cond input's shape. */
  get timestepCondDim(): number | undefined {
    if (!this.timestepCond) return undefined;
    const dim = this.timestepCond.shape[1];
    return typeof dim === "number" ? dim : undefined;
  }

  async predict(
    sample: Float32Array,
    dims: readonly [number, number, number, number],
    timestep: number,
    context: Float32Array,
    contextDims: readonly [number, number, number],
    extras: Record<string, UNetExtraInput> = {},
  ): Promise<Float32Array> {
    const batch = dims[0];
    const tDims = this.form === "scalar" ? [] : this.form === "single" ? [1] : [batch];
    const tValues = new Array<number>(this.form === "batch" ? batch : 1).fill(timestep);
    const feeds = {
      [this.sample.name]: floatTensor(this.sample, sample, dims),
      [this.timestep.name]: intTensor(this.timestep, tValues, tDims),
      [this.context.name]: this.constants.tensor(this.context, context, contextDims),
    };
    feedExtraInputs(feeds, this.extraInputs, extras, "UNet", this.constants);
    return readFloats(await this.model.run(feeds, this.outputName));
  }
}

/** The inputs beyond `known` the export declares; one the family does not feed is MODEL_INVALID with `familyHint`. */
export function extraInputsOf(
  model: OnnxModel,
  known: readonly TensorInfo[],
  allowed: readonly string[],
  network: string,
  familyHint: string,
): TensorInfo[] {
  const extra = model.inputs.filter((t) => !known.includes(t));
  const unknown = extra.filter((t) => !allowed.includes(t.name));
  if (unknown.length > 0) {
    throw new LatentFleetError(
      "MODEL_INVALID",
      `${model.path}: unsupported ${network} inputs ${unknown.map((t) => t.name).join(", ")} (${familyHint})`,
    );
  }
  return extra;
}

/**
 * Adds each extra input the denoiser declares to its feeds; a missing one is an engine failure naming
 * `network`. The extras are the same arrays at every step of a batch: their tensors come from `constants`.
 */
export function feedExtraInputs(
  feeds: Record<string, ort.Tensor>,
  infos: readonly TensorInfo[],
  extras: Record<string, UNetExtraInput>,
  network: string,
  constants: StepConstantTensors,
): void {
  for (const info of infos) {
    const value = extras[info.name];
    if (!value) throw new LatentFleetError("ENGINE_FAILED", `the ${network} needs its ${info.name} input`);
    feeds[info.name] = constants.tensor(info, value.data, value.dims);
  }
}

/** LCM's guidance embedding: sinusoid of (guidance - 1) * 1000, half sin then half cos. */
export function guidanceEmbedding(guidanceScale: number, dim: number): Float32Array {
  const w = (guidanceScale - 1) * 1000;
  const half = dim / 2;
  const out = new Float32Array(dim);
  const base = Math.log(10000) / (half - 1);
  for (let k = 0; k < half; k++) {
    const a = w * Math.exp(-base * k);
    out[k] = Math.sin(a);
    out[half + k] = Math.cos(a);
  }
  return out;
}
