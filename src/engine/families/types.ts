/**
 * The model-family contract: what the sampling loop needs from a family (conditioning tensors and the
 * denoiser's extra inputs), so that adding a family (SD3, FLUX...) is one module, not a pipeline edit.
 */
import type { SampleRequest } from "../../common/contract/sample.js";
import type { OnnxModel, TensorInfo } from "../onnx-model.js";
import type { FlowScheduleOptions } from "../schedulers/index.js";

/** model_index.json as read: `_class_name`, the components it lists, and pipeline flags. */
export type ModelIndex = Record<string, unknown>;

/** A model folder's files and configs, read before any session is created. */
export interface ModelFolder {
  dir: string;
  /** Folder name: how jobs and metrics name the model. */
  name: string;
  family: ModelFamily;
  index: ModelIndex;
  textEncoderPath: string;
  unetPath: string;
  vaeDecoderPath: string;
  tokenizerDir: string;
  schedulerConfig: Record<string, unknown>;
  vaeScalingFactor: number;
  /** The VAE's shift_factor (SD3, FLUX): latents are decoded as latents / scaling + shift. 0 when absent. */
  vaeShiftFactor: number;
  /** Present on guidance-distilled (LCM) UNets: the width of the guidance embedding. */
  timeCondProjDim: number | undefined;
  /** Native image size in pixels, from unet/config.json sample_size (latent) times the VAE scale. */
  nativeSize: number | undefined;
  /** Latent down-sampling of the VAE. */
  vaeScale: number;
  /** The VAE's config asks for fp32 decoding (SDXL's `force_upcast`): an fp16 export of it overflows. */
  vaeForceUpcast: boolean;
  /** model_index.json's force_zeros_for_empty_prompt (SDXL): an empty negative prompt is all zeros. */
  forceZerosForEmptyPrompt: boolean;
}

/** One text's conditioning: token states [L, D] and, for families that use it, a pooled vector [P]. */
export interface TextEmbedding {
  hidden: Float32Array;
  pooled: Float32Array | undefined;
}

export interface EncodedTexts {
  embeddings: TextEmbedding[];
  /** Content tokens cut per text (0 when it fit). */
  dropped: number[];
  tokenizeMs: number;
}

/** Prompt text to conditioning tensors. */
export interface Conditioner {
  /** Token positions L of the hidden states. */
  readonly sequenceLength: number;
  /** Width D of the hidden states (known once loaded). */
  readonly width: number;
  /** Width P of the pooled vector, 0 when the family has none. */
  readonly pooledWidth: number;
  /** Tokens of the prompt a text encoder keeps (what truncation warnings name), when not sequenceLength. */
  readonly promptTokens?: number;
  /** True when an empty negative prompt is all zeros instead of the encoded empty text. */
  readonly zeroEmptyNegative: boolean;
  encode(texts: string[]): Promise<EncodedTexts>;
}

export interface ExtraInput {
  data: Float32Array;
  dims: number[];
}

/** What a family needs to build the denoiser's extra inputs for one call. */
export interface DenoiserRows {
  /** Conditioning of each denoiser row (with CFG: the negatives of the batch, then the prompts). */
  rows: TextEmbedding[];
  requests: SampleRequest[];
  width: number;
  height: number;
}

/**
 * A denoiser's own arrangement of the latents (FLUX's 2x2 packing into tokens). The sampling loop keeps the
 * latents in it from the initial noise to the VAE, so a packing transformer does not pack and unpack at
 * every step: every scheduler step and the CFG combine are elementwise, and each sample keeps its own block
 * of `size` values, so they work on either layout alike.
 */
export interface LatentLayout {
  /** [B, C, h, w] to the denoiser's layout, into `out` (the same length; not `x` itself) or a new array. */
  toModel(x: Float32Array, dims: readonly [number, number, number, number], out?: Float32Array): Float32Array;
  /** The inverse of toModel. */
  fromModel(
    x: Float32Array,
    dims: readonly [number, number, number, number],
    out?: Float32Array,
  ): Float32Array;
}

/**
 * The denoising network, UNet or transformer: it takes latents of dims [B, C, h, w], laid out as its
 * `layout` says (plain NCHW when it has none), so the sampling loop is the same for all.
 */
export interface Denoiser {
  /** Present when the denoiser's latents are not plain NCHW. */
  readonly layout?: LatentLayout;
  /** The latent input (sample or hidden_states), the text states input and any further inputs. */
  readonly sample: TensorInfo;
  readonly context: TensorInfo;
  readonly extraInputs: TensorInfo[];
  readonly latentChannels: number;
  /** Guidance is the model's own (LCM's timestep_cond, FLUX): no classifier-free guidance batch. */
  readonly guidanceDistilled: boolean;
  /**
   * One step. `context` and `extras` are the same arrays at every step of a batch and are never written
   * to once made (a denoiser may keep their tensors until other arrays come); `sample` changes every step
   * and is in the denoiser's `layout`, as is the prediction returned.
   */
  predict(
    sample: Float32Array,
    dims: readonly [number, number, number, number],
    timestep: number,
    context: Float32Array,
    contextDims: readonly [number, number, number],
    extras?: Record<string, ExtraInput>,
  ): Promise<Float32Array>;
}

/** What model check prints about a flow-matching transformer family. */
export interface FlowDescription {
  denoiser: string;
  textEncoders: string;
  /** Static shift or dynamic shifting, as the scheduler config says. */
  shift: string;
  packing: string;
}

export interface FamilyParts {
  conditioner: Conditioner;
  denoiser: Denoiser;
  /** Inputs beyond the latents, timestep and encoder_hidden_states, by input name. */
  denoiserExtras(call: DenoiserRows): Record<string, ExtraInput>;
  /** What a flow scheduler's σ depend on for an image of this size (image sequence length, σ grid). */
  flowSchedule?(width: number, height: number): FlowScheduleOptions;
  flow?: FlowDescription;
}

export interface ModelFamily {
  /** Short name, as model check prints it. */
  readonly name: string;
  readonly description: string;
  /** Whether model_index.json is this family's; families are asked in order, the first claim wins. */
  claims(index: ModelIndex): boolean;
  /** Files the folder must hold, relative to it. */
  readonly requiredFiles: readonly string[];
  /** Components with an ONNX session, each `<component>/model.onnx`. */
  readonly sessions: readonly string[];
  /** Components loaded only when model_index.json lists them (SD3's text_encoder_3). */
  readonly optionalSessions?: readonly string[];
  /** Latent size the pipeline defaults to when the denoiser's config has no sample_size (FLUX: 128). */
  readonly defaultLatentSize?: number;
  /** Files each listed optional component needs. */
  optionalFiles?(component: string): readonly string[];
  /** Wires the loaded sessions; throws MODEL_INVALID naming what does not fit. */
  assemble(folder: ModelFolder, sessions: ReadonlyMap<string, OnnxModel>): Promise<FamilyParts>;
}
