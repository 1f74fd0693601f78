/**
 * Stable Diffusion XL (base, SDXL-Turbo and fine-tunes) as Optimum's ONNX exporter writes it. Conditioning
 * follows diffusers' StableDiffusionXLPipeline (huggingface/diffusers @ 91d4292411405c22b2157286f08e41f92ce05e63,
 * pipeline_stable_diffusion_xl.py: encode_prompt, _get_add_time_ids): the penultimate hidden states of both
 * CLIP encoders concatenated on the last axis (768 + 1280 = 2048 in SDXL), the pooled `text_embeds` of the
 * second encoder, time_ids = original size + crop top-left + target size = (H, W, 0, 0, H, W), and an
 * all-zero negative branch for an empty negative prompt when force_zeros_for_empty_prompt is set.
 * I/O names are those of huggingface/optimum-onnx @ ab7a3d0155e6813e753f406349b816e8d5f4c498
 * (optimum/exporters/onnx/model_configs.py: CLIPTextWithProjectionOnnxConfig, UNetOnnxConfig).
 */
import { join } from "node:path";
import { LatentFleetError } from "../../common/errors.js";
import type { OnnxModel } from "../onnx-model.js";
import { penultimateHiddenState, TextEncoderModel } from "../text-encoder.js";
import { ClipTokenizer } from "../tokenizer/index.js";
import { UNetModel } from "../unet.js";
import { invalid, requireSession } from "./assembly.js";
import { ClipBranch, concatClipStates, row } from "./clip-branch.js";
import { timestepCondInput } from "./guidance-embedding.js";
import type { Conditioner, EncodedTexts, ExtraInput, FamilyParts, ModelFolder } from "./types.js";

/** SDXL base's time_ids: original size (2), crop top-left (2), target size (2). The refiner's have 5. */
export const SDXL_TIME_IDS = 6;

/** The encoder's penultimate-layer output, or a message saying how to re-export it. */
function hiddenOutput(model: OnnxModel, component: string): string {
  const name = penultimateHiddenState(model);
  if (!name) {
    throw invalid(
      `${model.path}: ${component} has no hidden_states.N outputs (SDXL conditions on the penultimate layer); export it with optimum-cli export onnx --task stable-diffusion-xl`,
    );
  }
  return name;
}

class SdxlConditioner implements Conditioner {
  readonly zeroEmptyNegative: boolean;
  width = 0;
  pooledWidth = 0;

  constructor(
    private readonly first: ClipBranch,
    private readonly second: ClipBranch,
    forceZeros: boolean,
  ) {
    this.zeroEmptyNegative = forceZeros;
  }

  get sequenceLength(): number {
    return this.first.sequenceLength;
  }

  async encode(texts: string[]): Promise<EncodedTexts> {
    const a = await this.first.encode(texts);
    const b = await this.second.encode(texts);
    const seq = this.sequenceLength;
    const w1 = a.encoding.width;
    const w2 = b.encoding.width;
    const width = w1 + w2;
    const pooled = b.encoding.pooled;
    if (!pooled) throw new LatentFleetError("ENGINE_FAILED", "text_encoder_2 gave no text_embeds");
    this.width = width;
    this.pooledWidth = b.encoding.pooledWidth;
    const embeddings = texts.map((_, i) => {
      const hidden = new Float32Array(seq * width);
      concatClipStates(a.encoding, b.encoding, i, seq, hidden, width);
      return { hidden, pooled: row(pooled, i, this.pooledWidth) };
    });
    return {
      embeddings,
      dropped: a.dropped.map((d, i) => Math.max(d, b.dropped[i])),
      tokenizeMs: a.tokenizeMs + b.tokenizeMs,
    };
  }
}

/** (H, W, 0, 0, H, W) per row: diffusers' _get_add_time_ids with the defaults original = target = (H, W). */
export function sdxlTimeIds(rows: number, height: number, width: number): ExtraInput {
  const data = new Float32Array(rows * SDXL_TIME_IDS);
  for (let r = 0; r < rows; r++) data.set([height, width, 0, 0, height, width], r * SDXL_TIME_IDS);
  return { data, dims: [rows, SDXL_TIME_IDS] };
}

function checkUnet(unet: UNetModel, path: string): void {
  const names = unet.extraInputs.map((t) => t.name);
  const missing = ["text_embeds", "time_ids"].filter((n) => !names.includes(n));
  if (missing.length > 0) {
    throw invalid(
      `${path}: an SDXL UNet takes text_embeds and time_ids; this one lacks ${missing.join(" and ")} (inputs: ${[unet.sample, unet.timestep, unet.context, ...unet.extraInputs].map((t) => t.name).join(", ")})`,
    );
  }
  const timeIds = unet.extraInputs.find((t) => t.name === "time_ids");
  const n = timeIds?.shape[1];
  if (n === 5) {
    throw invalid(
      `${path}: time_ids of 5 (aesthetic score) is an SDXL refiner, which needs an input image; refiners and img2img are not supported`,
    );
  }
  if (typeof n === "number" && n !== SDXL_TIME_IDS) {
    throw invalid(`${path}: time_ids has ${n} values per sample, SDXL's has ${SDXL_TIME_IDS}`);
  }
}

/** Wires the sdxl family's sessions (the family itself, in sdxl.ts, is what a files-only check needs). */
export async function assembleSdxl(
  folder: ModelFolder,
  sessions: ReadonlyMap<string, OnnxModel>,
): Promise<FamilyParts> {
  const te1 = requireSession(sessions, "text_encoder", "sdxl");
  const te2 = requireSession(sessions, "text_encoder_2", "sdxl");
  const un = requireSession(sessions, "unet", "sdxl");
  if (!te2.outputs.some((t) => t.name === "text_embeds")) {
    throw invalid(
      `${te2.path}: text_encoder_2 has no text_embeds output (CLIPTextModelWithProjection's pooled embedding)`,
    );
  }
  const [tok1, tok2] = await Promise.all([
    ClipTokenizer.fromFolder(folder.tokenizerDir),
    ClipTokenizer.fromFolder(join(folder.dir, "tokenizer_2")),
  ]);
  if (tok1.maxLength !== tok2.maxLength) {
    throw invalid(
      `${folder.dir}: tokenizer has ${tok1.maxLength} positions and tokenizer_2 ${tok2.maxLength}; SDXL concatenates them per position`,
    );
  }
  const unet = new UNetModel(
    un,
    ["text_embeds", "time_ids", "timestep_cond"],
    "an SDXL UNet takes text_embeds, time_ids and, if guidance-distilled, timestep_cond",
  );
  checkUnet(unet, un.path);
  const conditioner = new SdxlConditioner(
    new ClipBranch(tok1, new TextEncoderModel(te1, { hidden: hiddenOutput(te1, "text_encoder") })),
    new ClipBranch(
      tok2,
      new TextEncoderModel(te2, { hidden: hiddenOutput(te2, "text_encoder_2"), pooled: "text_embeds" }),
    ),
    folder.forceZerosForEmptyPrompt,
  );
  return {
    conditioner,
    denoiser: unet,
    denoiserExtras({ rows, requests, width, height }) {
      const n = rows.length;
      const p = conditioner.pooledWidth;
      const textEmbeds = new Float32Array(n * p);
      rows.forEach((r, i) => {
        if (r.pooled) textEmbeds.set(r.pooled, i * p);
      });
      const extras: Record<string, ExtraInput> = {
        text_embeds: { data: textEmbeds, dims: [n, p] },
        time_ids: sdxlTimeIds(n, height, width),
      };
      const cond = timestepCondInput(unet, folder.timeCondProjDim, requests, n);
      if (cond) extras.timestep_cond = cond;
      return extras;
    },
  };
}
