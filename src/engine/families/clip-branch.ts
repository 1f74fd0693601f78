/** One tokenizer and its text encoder (CLIP, or T5 for the flow families): texts to token states (and a pooled vector if asked for). */
import { performance } from "node:perf_hooks";
import type { TextEncoderModel, TextEncoding } from "../text-encoder.js";
import type { PromptTokenizer } from "../tokenizer/index.js";

export interface BranchOutput {
  encoding: TextEncoding;
  dropped: number[];
  tokenizeMs: number;
}

export class ClipBranch {
  constructor(
    readonly tokenizer: PromptTokenizer,
    readonly encoder: TextEncoderModel,
  ) {}

  get sequenceLength(): number {
    return this.tokenizer.maxLength;
  }

  async encode(texts: string[]): Promise<BranchOutput> {
    const t0 = performance.now();
    const seq = this.tokenizer.maxLength;
    const ids = new Int32Array(texts.length * seq);
    const dropped = texts.map((text, i) => {
      const tok = this.tokenizer.encode(text);
      ids.set(tok.ids, i * seq);
      return tok.truncated ? tok.droppedTokens : 0;
    });
    const tokenizeMs = performance.now() - t0;
    return { encoding: await this.encoder.encode(ids, texts.length, seq), dropped, tokenizeMs };
  }
}

/** Row i of a [N, ...] float array whose rows are `size` long. */
export function row(data: Float32Array, i: number, size: number): Float32Array {
  return data.slice(i * size, (i + 1) * size);
}

/**
 * Text i of two CLIP branches side by side on the last axis, into `out` (`width` per position, the rest
 * zeros): position t gets a's states then b's, as SDXL and SD3 concatenate their two CLIP encoders.
 */
export function concatClipStates(
  a: TextEncoding,
  b: TextEncoding,
  i: number,
  seq: number,
  out: Float32Array,
  width: number,
): void {
  const w1 = a.width;
  const w2 = b.width;
  for (let t = 0; t < seq; t++) {
    const src = i * seq + t;
    out.set(a.hidden.subarray(src * w1, (src + 1) * w1), t * width);
    out.set(b.hidden.subarray(src * w2, (src + 1) * w2), t * width + w1);
  }
}
