/** Stable Diffusion 1.x / 2.x and their distillations (SD-Turbo, LCM): the family as a model folder shows it. */
import type { ModelFamily, ModelIndex } from "./types.js";

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
  // Its ONNX Runtime and tokenizer code loads with the sessions, not with a files-only check.
  assemble: async (folder, sessions) => (await import("./sd-parts.js")).assembleSd(folder, sessions),
};
