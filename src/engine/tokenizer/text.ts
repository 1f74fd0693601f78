import { decodeHTML } from "entities";

/** What Python's str.isspace() accepts; JS's \s differs (it has U+FEFF, lacks U+001C-U+001F and U+0085). */
const WS = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WS_RUN = new RegExp(`[${WS}]+`, "gu");

/** CLIP's pre-tokenizer: special tokens, contractions, letter runs, single digits, other-symbol runs. */
const PIECES = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${WS}\\p{L}\\p{N}]+`,
  "giu",
);

/**
 * CLIP's basic_clean + whitespace_clean + lower(). NFC stands in for ftfy.fix_text; HTML is unescaped
 * twice, as CLIP does, so doubly escaped captions ("&amp;amp;") come out plain.
 */
export function cleanText(text: string): string {
  const unescaped = decodeHTML(decodeHTML(text.normalize("NFC")));
  return unescaped.replace(WS_RUN, " ").replace(/^ | $/g, "").toLowerCase();
}

/** Splits cleaned text into the words BPE runs on. */
export function preTokenize(cleaned: string): string[] {
  return cleaned.match(PIECES) ?? [];
}
