/**
 * Stable Diffusion 1.x / 2.x and their distillations (SD-Turbo, LCM): one CLIP text encoder whose last
 * hidden state conditions the UNet; LCM UNets add timestep_cond.
 */
import { LatentFleetError } from "../../common/errors.js";
import { TextEncoderModel } from "../text-encoder.js";
import { ClipTokenizer } from "../tokenizer/index.js";
import { UNetModel } from "../unet.js";
import { ClipBranch, row } from "./clip-branch.js";
import { timestepCondInput } from "./guidance-embedding.js";
import type {
  Conditioner,
  EncodedTexts,
  ExtraInput,
  FamilyParts,
  ModelFamily,
  ModelFolder,
  ModelIndex,
} from "./types.js";

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

export const sdFamily: ModelFamily = {
  name: "sd",
  description: "Stable Diffusion 1.x/2.x UNet (SD 1.5, SD 2.1, SD-Turbo, LCM)",
  claims(index: ModelIndex): boolean {
    return !("text_encoder_2" in index) && !("transformer" in index);
  },
  requiredFiles: [
    "text_encoder/model.onnx",
    "unet/model.onnx",
    "vae_decoder/model.onnx",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "scheduler/scheduler_config.json",
  ],
  sessions: ["text_encoder", "unet", "vae_decoder"],
  async assemble(folder: ModelFolder, sessions): Promise<FamilyParts> {
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
  },
};
