/**
 * Stable Diffusion 3 / 3.5 (MMDiT) as Optimum exports StableDiffusion3Pipeline: text_encoder (CLIP-L) and
 * text_encoder_2 (CLIP-G), both CLIPTextModelWithProjection, text_encoder_3 (T5, optional), transformer,
 * vae_decoder. Conditioning follows diffusers' StableDiffusion3Pipeline (huggingface/diffusers @
 * 91d4292411405c22b2157286f08e41f92ce05e63, pipeline_stable_diffusion_3.py: encode_prompt): the penultimate
 * hidden states of both CLIPs concatenated on the last axis and zero-padded to T5's width (joint_attention_dim),
 * then T5's last_hidden_state after them on the sequence axis (77 + 256 tokens), or, without text_encoder_3,
 * zeros of joint_attention_dim over 77 positions; pooled = both CLIPs' text_embeds concatenated. CFG as a
 * 2B batch; the scheduler's timesteps (σ·1000) go to the transformer as they are.
 */
import { join } from "node:path";
import { LatentFleetError } from "../../common/errors.js";
import type { OnnxModel } from "../onnx-model.js";
import { flowImageSeqLen } from "../schedulers/index.js";
import { penultimateHiddenState, TextEncoderModel } from "../text-encoder.js";
import { loadPromptTokenizer } from "../tokenizer/index.js";
import { TransformerModel } from "../transformer.js";
import { invalid, requireSession } from "./assembly.js";
import { ClipBranch, concatClipStates, row } from "./clip-branch.js";
import { checkPatchSize, pooledRows, shiftDescription } from "./flow-common.js";
import { loadT5Branch } from "./t5-branch.js";
import type { Conditioner, EncodedTexts, FamilyParts, ModelFolder } from "./types.js";

/** diffusers' default max_sequence_length for SD3's T5. */
export const SD3_T5_LENGTH = 256;

class Sd3Conditioner implements Conditioner {
  readonly zeroEmptyNegative = false;
  pooledWidth = 0;

  constructor(
    private readonly first: ClipBranch,
    private readonly second: ClipBranch,
    private readonly t5: ClipBranch | undefined,
    /** joint_attention_dim: the transformer's encoder_hidden_states width. */
    readonly width: number,
  ) {}

  get sequenceLength(): number {
    return this.first.sequenceLength + (this.t5 ? this.t5.sequenceLength : this.first.sequenceLength);
  }

  get promptTokens(): number {
    return this.t5 ? this.t5.sequenceLength : this.first.sequenceLength;
  }

  async encode(texts: string[]): Promise<EncodedTexts> {
    const a = await this.first.encode(texts);
    const b = await this.second.encode(texts);
    const c = this.t5 ? await this.t5.encode(texts) : undefined;
    const clipLen = this.first.sequenceLength;
    const w1 = a.encoding.width;
    const w2 = b.encoding.width;
    const width = this.width;
    if (w1 + w2 > width) {
      throw invalid(`the CLIP states are ${w1} + ${w2} wide, more than the transformer's ${width}`);
    }
    if (c && c.encoding.width !== width) {
      throw invalid(`text_encoder_3 gives ${c.encoding.width}-wide states, the transformer takes ${width}`);
    }
    const p1 = a.encoding.pooled;
    const p2 = b.encoding.pooled;
    if (!p1 || !p2) throw new LatentFleetError("ENGINE_FAILED", "a CLIP encoder gave no text_embeds");
    const pw1 = a.encoding.pooledWidth;
    const pw2 = b.encoding.pooledWidth;
    this.pooledWidth = pw1 + pw2;
    const seq = this.sequenceLength;
    const t5Len = this.t5?.sequenceLength ?? 0;
    const embeddings = texts.map((_, i) => {
      const hidden = new Float32Array(seq * width);
      concatClipStates(a.encoding, b.encoding, i, clipLen, hidden, width);
      if (c) hidden.set(row(c.encoding.hidden, i, t5Len * width), clipLen * width);
      const pooled = new Float32Array(this.pooledWidth);
      pooled.set(p1.subarray(i * pw1, (i + 1) * pw1), 0);
      pooled.set(p2.subarray(i * pw2, (i + 1) * pw2), pw1);
      return { hidden, pooled };
    });
    const clipDropped = a.dropped.map((d, i) => Math.max(d, b.dropped[i]));
    return {
      embeddings,
      dropped: c ? c.dropped : clipDropped,
      tokenizeMs: a.tokenizeMs + b.tokenizeMs + (c?.tokenizeMs ?? 0),
    };
  }
}

async function clipBranch(
  folder: ModelFolder,
  sessions: ReadonlyMap<string, OnnxModel>,
  n: string,
): Promise<ClipBranch> {
  const component = n === "" ? "text_encoder" : `text_encoder${n}`;
  const model = requireSession(sessions, component, "sd3");
  const hidden = penultimateHiddenState(model);
  if (!hidden || !model.outputs.some((t) => t.name === "text_embeds")) {
    throw invalid(
      `${model.path}: ${component} needs text_embeds and hidden_states.N outputs (CLIPTextModelWithProjection with output_hidden_states); export it with optimum-cli export onnx --task text-to-image`,
    );
  }
  const tokenizer = await loadPromptTokenizer(join(folder.dir, `tokenizer${n}`));
  return new ClipBranch(tokenizer, new TextEncoderModel(model, { hidden, pooled: "text_embeds" }));
}

/** Wires the sd3 family's sessions (the family itself, in sd3.ts, is what a files-only check needs). */
export async function assembleSd3(
  folder: ModelFolder,
  sessions: ReadonlyMap<string, OnnxModel>,
): Promise<FamilyParts> {
  const tr = requireSession(sessions, "transformer", "sd3");
  const denoiser = new TransformerModel(tr, {
    packed: false,
    timestepScale: 1,
    extras: ["pooled_projections"],
    guidanceDistilled: false,
    familyHint:
      "an SD3 transformer takes hidden_states [B,C,H,W], encoder_hidden_states, pooled_projections, timestep",
  });
  const joint = denoiser.context.shape[2];
  if (typeof joint !== "number") {
    throw invalid(`${tr.path}: encoder_hidden_states has no fixed width (joint_attention_dim)`);
  }
  const te3 = sessions.get("text_encoder_3");
  const [first, second, t5] = await Promise.all([
    clipBranch(folder, sessions, ""),
    clipBranch(folder, sessions, "_2"),
    te3 ? loadT5Branch(join(folder.dir, "tokenizer_3"), te3, SD3_T5_LENGTH) : Promise.resolve(undefined),
  ]);
  if (first.sequenceLength !== second.sequenceLength) {
    throw invalid(
      `${folder.dir}: tokenizer and tokenizer_2 differ in length; SD3 concatenates them per position`,
    );
  }
  const conditioner = new Sd3Conditioner(first, second, t5, joint);
  return {
    conditioner,
    denoiser,
    denoiserExtras({ rows, width, height }) {
      checkPatchSize(folder, width, height);
      const p = conditioner.pooledWidth;
      return { pooled_projections: { data: pooledRows(rows, p), dims: [rows.length, p] } };
    },
    flowSchedule: (width, height) => ({ imageSeqLen: flowImageSeqLen(width, height, folder.vaeScale) }),
    flow: {
      denoiser: `transformer (SD3Transformer2DModel), latents [B, ${denoiser.latentChannels}, h, w], timestep σ·1000`,
      textEncoders: t5
        ? `CLIP-L + CLIP-G + T5 (${t5.sequenceLength} tokens)`
        : "CLIP-L + CLIP-G, no T5 (text_encoder_3 absent: zeros in its place)",
      shift: shiftDescription(folder.schedulerConfig),
      packing: "none (the transformer patches 2x2 itself)",
    },
  };
}
