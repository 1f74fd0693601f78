/** Stable Diffusion XL (base, SDXL-Turbo and fine-tunes): the family as a model folder shows it. */
import type { ModelFamily, ModelIndex } from "./types.js";

export const sdxlFamily: ModelFamily = {
  name: "sdxl",
  description: "Stable Diffusion XL UNet (SDXL base, SDXL-Turbo, fine-tunes)",
  claims(index: ModelIndex): boolean {
    return "text_encoder_2" in index && !("transformer" in index);
  },
  requiredFiles: [
    "text_encoder/model.onnx",
    "text_encoder_2/model.onnx",
    "unet/model.onnx",
    "vae_decoder/model.onnx",
    "tokenizer/vocab.json",
    "tokenizer/merges.txt",
    "tokenizer_2/vocab.json",
    "tokenizer_2/merges.txt",
    "scheduler/scheduler_config.json",
  ],
  sessions: ["text_encoder", "text_encoder_2", "unet", "vae_decoder"],
  // Its ONNX Runtime and tokenizer code loads with the sessions, not with a files-only check.
  assemble: async (folder, sessions) => (await import("./sdxl-parts.js")).assembleSdxl(folder, sessions),
};
