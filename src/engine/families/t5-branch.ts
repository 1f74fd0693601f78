/** The T5 text branch of the flow-matching families (SD3, FLUX), loaded with their sessions. */
import type { OnnxModel } from "../onnx-model.js";
import { TextEncoderModel } from "../text-encoder.js";
import { loadPromptTokenizer } from "../tokenizer/index.js";
import { ClipBranch } from "./clip-branch.js";

/**
 * T5's tokenizer (tokenizer.json, SentencePiece Unigram) and encoder. diffusers pads T5 prompts to
 * max_sequence_length (SD3: 256, FLUX: 512); a tokenizer_config.json with a smaller model_max_length wins.
 */
export async function loadT5Branch(
  dir: string,
  model: OnnxModel,
  maxSequenceLength: number,
): Promise<ClipBranch> {
  let tokenizer = await loadPromptTokenizer(dir);
  if (tokenizer.maxLength > maxSequenceLength)
    tokenizer = await loadPromptTokenizer(dir, { maxLength: maxSequenceLength });
  return new ClipBranch(tokenizer, new TextEncoderModel(model));
}
