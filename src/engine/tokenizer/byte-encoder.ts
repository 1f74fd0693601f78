/**
 * GPT-2's bytes_to_unicode table, as CLIP uses it: every byte maps to one printable character, so that
 * BPE works on arbitrary UTF-8 without whitespace or control characters inside tokens.
 */

function buildTable(): { byteToChar: string[]; vocabOrder: string[] } {
  const printable: number[] = [];
  const push = (from: string, to: string) => {
    for (let b = from.charCodeAt(0); b <= to.charCodeAt(0); b++) printable.push(b);
  };
  push("!", "~");
  push("¡", "¬");
  push("®", "ÿ");
  const byteToChar = new Array<string>(256);
  const vocabOrder: string[] = [];
  for (const b of printable) {
    byteToChar[b] = String.fromCharCode(b);
    vocabOrder.push(byteToChar[b]);
  }
  // The remaining bytes (controls, space, etc.) are shifted to 256+n, in byte order.
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (byteToChar[b] !== undefined) continue;
    byteToChar[b] = String.fromCharCode(256 + n++);
    vocabOrder.push(byteToChar[b]);
  }
  return { byteToChar, vocabOrder };
}

const TABLE = buildTable();

/** Character for each byte value, indexed by byte. */
export const BYTE_ENCODER: readonly string[] = TABLE.byteToChar;

/** The 256 byte symbols in the order CLIP's vocab lists them (ids 0..255 of the original vocab). */
export const BYTE_SYMBOLS: readonly string[] = TABLE.vocabOrder;

const utf8 = new TextEncoder();

/** UTF-8 encodes `text` and maps every byte through the table (lone surrogates become U+FFFD). */
export function byteEncode(text: string): string {
  let out = "";
  for (const b of utf8.encode(text)) out += BYTE_ENCODER[b];
  return out;
}
