/**
 * Strict UTF-8 for specs. Node's decoders replace bytes that are not UTF-8 with U+FFFD without a word, so
 * a spec saved in Latin-1 would run with mangled prompts; instead it is refused, naming the line and column
 * of the first bad byte. (Prompts files are checked row by row: see textField.)
 */
import { specError } from "./errors.js";

const strict = new TextDecoder("utf-8", { fatal: true });

/** The text of `bytes`, or SPEC_INVALID naming `file`, line and column of the first byte that is not UTF-8. */
export function decodeSpecBytes(file: string, bytes: Uint8Array): string {
  try {
    return strict.decode(bytes);
  } catch {
    const at = firstInvalidByte(bytes);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at; i++) {
      if (bytes[i] === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    const column = Buffer.from(bytes.subarray(lineStart, at)).toString("utf8").length + 1;
    const byte = bytes[at]?.toString(16).padStart(2, "0") ?? "??";
    throw specError(
      file,
      line,
      `the spec is not valid UTF-8 (byte 0x${byte} at column ${column}); save it as UTF-8`,
    );
  }
}

/** Offset of the first byte that does not belong to a well-formed UTF-8 sequence (bytes.length if none). */
export function firstInvalidByte(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    let n: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      min = 0x10000;
    } else {
      return i;
    }
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return bytes.length;
}
