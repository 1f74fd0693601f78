/** FLUX.1 (schnell, dev): the family as a model folder shows it. */
import { claimsByClass } from "./flow-common.js";
import type { ModelFamily, ModelIndex } from "./types.js";

export const fluxFamily: ModelFamily = {
  name: "flux",
  description: "FLUX.1 transformer (flow matching; schnell, dev)",
  claims(index: ModelIndex): boolean {
    return claimsByClass(index, /Flux/, "FluxTransformer2DModel");
  },
  requiredFiles: [
    "text_encoder/model.onnx",
    "text_encoder_2/model.onnx",
    "transformer/model.onnx",
    "vae_decoder/model.onnx",
    "tokenizer_2/tokenizer.json",
    "scheduler/scheduler_config.json",
  ],
  sessions: ["text_encoder", "text_encoder_2", "transformer", "vae_decoder"],
  // FluxPipeline's default_sample_size: FLUX's transformer config has no sample_size; 128 x 8 = 1024 pixels.
  defaultLatentSize: 128,
  // Its ONNX Runtime and tokenizer code loads with the sessions, not with a files-only check.
  assemble: async (folder, sessions) => (await import("./flux-parts.js")).assembleFlux(folder, sessions),
};
