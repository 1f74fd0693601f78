/** Prompt tokenizers: CLIP BPE from vocab.json + merges.txt, or any tokenizer.json (T5, fast CLIP); their public names. */
export { BYTE_SYMBOLS } from "./byte-encoder.js";
export { ClipTokenizer, type TokenizedText } from "./clip-tokenizer.js";
export { JsonTokenizer, type JsonTokenizerOptions } from "./json-tokenizer.js";
export { DEFAULT_MAX_LENGTH, type SpecialTokens } from "./load.js";
export { loadPromptTokenizer, type PromptTokenizer } from "./prompt-tokenizer.js";
