/** CLIP BPE tokenizer for Stable Diffusion text encoders; its public names. */
export { BYTE_SYMBOLS } from "./byte-encoder.js";
export { ClipTokenizer, type TokenizedText } from "./clip-tokenizer.js";
export { DEFAULT_MAX_LENGTH, type SpecialTokens } from "./load.js";
