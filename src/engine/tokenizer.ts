/** CLIP BPE tokenizer for Stable Diffusion text encoders; the parts live in ./tokenizer/. */
export { BYTE_SYMBOLS } from "./tokenizer/byte-encoder.js";
export { ClipTokenizer, type TokenizedText } from "./tokenizer/clip-tokenizer.js";
export { DEFAULT_MAX_LENGTH, type SpecialTokens } from "./tokenizer/load.js";
