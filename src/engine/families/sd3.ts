/** Stable Diffusion 3 / 3.5 (MMDiT): the family as a model folder shows it. */
import { claimsByClass } from "./flow-common.js";
import type { ModelFamily, ModelIndex } from "./types.js";

export const sd3Family: ModelFamily = {
  name: "sd3",
  description: "Stable Diffusion 3 / 3.5 MMDiT transformer (flow matching)",
  claims(index: ModelIndex): boolean {
    return claimsByClass(index, /StableDiffusion3/, "SD3Transformer2DModel");
  },
  requiredFiles: [
    "text_encoder/model.onnx",
    "text_encoder_2/model.onnx",
    "transformer/model.onnx",
    "vae_decoder/model.onnx",
    "scheduler/scheduler_config.json",
  ],
  sessions: ["text_encoder", "text_encoder_2", "transformer", "vae_decoder"],
  optionalSessions: ["text_encoder_3"],
  optionalFiles: () => ["text_encoder_3/model.onnx", "tokenizer_3/tokenizer.json"],
  // Its ONNX Runtime and tokenizer code loads with the sessions, not with a files-only check.
  assemble: async (folder, sessions) => (await import("./sd3-parts.js")).assembleSd3(folder, sessions),
};
