/**
 * FLUX.1 (schnell, dev) as Optimum exports FluxPipeline: text_encoder (CLIP-L, pooled only), text_encoder_2
 * (T5), transformer, vae_decoder. Follows diffusers' FluxPipeline (huggingface/diffusers @
 * 91d4292411405c22b2157286f08e41f92ce05e63, pipeline_flux.py): the CLIP pooler_output as pooled_projections,
 * T5's last_hidden_state (512 tokens) as encoder_hidden_states, txt_ids zeros [L, 3], img_ids (0, row, column)
 * of each 2x2-packed latent token, the timestep as σ (the scheduler's σ·1000 divided by 1000), guidance [B]
 * when the transformer has a guidance input (dev: guidance-distilled, no CFG batch; schnell: no guidance at
 * all), σ on FluxPipeline's grid linspace(1, 1/steps) with mu from the image sequence length.
 */
import { join } from "node:path";
import type { OnnxModel } from "../onnx-model.js";
import { TextEncoderModel } from "../text-encoder.js";
import { loadPromptTokenizer } from "../tokenizer/index.js";
import { latentImageIds, TransformerModel } from "../transformer.js";
import { invalid, requireSession } from "./assembly.js";
import { ClipBranch, row } from "./clip-branch.js";
import { checkPatchSize, pooledRows, shiftDescription } from "./flow-common.js";
import { loadT5Branch } from "./t5-branch.js";
import type { Conditioner, EncodedTexts, ExtraInput, FamilyParts, ModelFolder } from "./types.js";

/** diffusers' default max_sequence_length for FLUX's T5. */
export const FLUX_T5_LENGTH = 512;

class FluxConditioner implements Conditioner {
  readonly zeroEmptyNegative = false;
  width = 0;
  pooledWidth = 0;

  constructor(
    private readonly clip: ClipBranch,
    private readonly t5: ClipBranch,
  ) {}

  get sequenceLength(): number {
    return this.t5.sequenceLength;
  }

  async encode(texts: string[]): Promise<EncodedTexts> {
    const a = await this.clip.encode(texts);
    const c = await this.t5.encode(texts);
    const pooled = a.encoding.pooled;
    if (!pooled) throw invalid(`${this.clip.encoder.path}: text_encoder gave no pooler_output`);
    this.width = c.encoding.width;
    this.pooledWidth = a.encoding.pooledWidth;
    const size = this.sequenceLength * this.width;
    return {
      embeddings: texts.map((_, i) => ({
        hidden: row(c.encoding.hidden, i, size),
        pooled: row(pooled, i, this.pooledWidth),
      })),
      dropped: c.dropped,
      tokenizeMs: a.tokenizeMs + c.tokenizeMs,
    };
  }
}

/** Wires the flux family's sessions (the family itself, in flux.ts, is what a files-only check needs). */
export async function assembleFlux(
  folder: ModelFolder,
  sessions: ReadonlyMap<string, OnnxModel>,
): Promise<FamilyParts> {
  const te = requireSession(sessions, "text_encoder", "flux");
  const tr = requireSession(sessions, "transformer", "flux");
  if (!te.outputs.some((t) => t.name === "pooler_output")) {
    throw invalid(`${te.path}: text_encoder has no pooler_output (FLUX conditions on CLIP's pooled output)`);
  }
  const denoiser = new TransformerModel(tr, {
    packed: true,
    timestepScale: 1 / 1000,
    extras: ["pooled_projections", "img_ids", "txt_ids", "guidance"],
    guidanceDistilled: true,
    familyHint:
      "a FLUX transformer takes packed hidden_states [B, tokens, 4C], img_ids, txt_ids and, for dev, guidance",
  });
  const hasGuidance = denoiser.extraInputs.some((t) => t.name === "guidance");
  const clipTokenizer = await loadPromptTokenizer(folder.tokenizerDir);
  const clip = new ClipBranch(
    clipTokenizer,
    new TextEncoderModel(te, { hidden: te.outputName("last_hidden_state"), pooled: "pooler_output" }),
  );
  const t5 = await loadT5Branch(
    join(folder.dir, "tokenizer_2"),
    requireSession(sessions, "text_encoder_2", "flux"),
    FLUX_T5_LENGTH,
  );
  const conditioner = new FluxConditioner(clip, t5);
  return {
    conditioner,
    denoiser,
    denoiserExtras({ rows, requests, width, height }) {
      checkPatchSize(folder, width, height);
      const n = rows.length;
      const p = conditioner.pooledWidth;
      const extras: Record<string, ExtraInput> = {
        pooled_projections: { data: pooledRows(rows, p), dims: [n, p] },
        img_ids: latentImageIds(height / folder.vaeScale, width / folder.vaeScale),
        txt_ids: {
          data: new Float32Array(conditioner.sequenceLength * 3),
          dims: [conditioner.sequenceLength, 3],
        },
      };
      if (hasGuidance) {
        extras.guidance = { data: Float32Array.from(requests, (r) => r.guidanceScale), dims: [n] };
      }
      return extras;
    },
    flowSchedule: (width, height) => ({
      imageSeqLen: (height / folder.vaeScale / 2) * (width / folder.vaeScale / 2),
      sigmaGrid: "flux_pipeline",
    }),
    flow: {
      denoiser: `transformer (FluxTransformer2DModel), ${hasGuidance ? "guidance input (dev: guidance-distilled)" : "no guidance input (schnell)"}, timestep σ`,
      textEncoders: `CLIP-L pooled + T5 (${t5.sequenceLength} tokens)`,
      shift: shiftDescription(folder.schedulerConfig),
      packing: "2x2 latent patches packed into tokens, img_ids/txt_ids",
    },
  };
}
