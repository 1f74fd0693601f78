/**
 * Stable Diffusion 1.x / 2.x and their distillations (SD-Turbo, LCM): one CLIP text encoder whose last
 * hidden state conditions the UNet; LCM UNets add timestep_cond.
 */
import { LatentFleetError } from "../../common/errors.js";
import type { OnnxModel } from "../onnx-model.js";
import { TextEncoderModel } from "../text-encoder.js";
import { ClipTokenizer } from "../tokenizer/index.js";
import { UNetModel } from "../unet.js";
import { ClipBranch, row } from "./clip-branch.js";
import { timestepCondInput } from "./guidance-embedding.js";
import type { Conditioner, EncodedTexts, ExtraInput, FamilyParts, ModelFolder } from "./types.js";

class SdConditioner implements Conditioner {
  readonly zeroEmptyNegative = false;
  readonly pooledWidth = 0;
  width = 0;

  constructor(private readonly branch: ClipBranch) {}

  get sequenceLength(): number {
    return this.branch.sequenceLength;
  }

  async encode(texts: string[]): Promise<EncodedTexts> {
    const { encoding, dropped, tokenizeMs } = await this.branch.encode(texts);
    this.width = encoding.width;
    const size = this.sequenceLength * encoding.width;
    return {
      embeddings: texts.map((_, i) => ({ hidden: row(encoding.hidden, i, size), pooled: undefined })),
      dropped,
      tokenizeMs,
    };
  }
}

/** Wires the sd family's sessions (the family itself, in sd.ts, is what a files-only check needs). */
export async function assembleSd(
  folder: ModelFolder,
  sessions: ReadonlyMap<string, OnnxModel>,
): Promise<FamilyParts> {
  const te = sessions.get("text_encoder");
  const un = sessions.get("unet");
  if (!te || !un) throw new LatentFleetError("ENGINE_FAILED", "sd family: sessions not loaded");
  const tokenizer = await ClipTokenizer.fromFolder(folder.tokenizerDir);
  const unet = new UNetModel(un);
  return {
    conditioner: new SdConditioner(new ClipBranch(tokenizer, new TextEncoderModel(te))),
    denoiser: unet,
    denoiserExtras({ requests, rows }): Record<string, ExtraInput> {
      const cond = timestepCondInput(unet, folder.timeCondProjDim, requests, rows.length);
      return cond ? { timestep_cond: cond } : {};
    },
  };
}
