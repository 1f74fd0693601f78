import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32Combine } from "../../src/common/crc32-combine.js";

describe("crc32Combine", () => {
  it("gives zlib's CRC-32 of two byte strings joined, for any split and length", () => {
    for (const total of [0, 1, 2, 7, 512, 4097, 100_003]) {
      const data = randomBytes(total);
      const whole = crc32(data) >>> 0;
      for (const cut of new Set(
        [0, 1, Math.floor(total / 3), total - 1, total].filter((c) => c >= 0 && c <= total),
      )) {
        const a = data.subarray(0, cut);
        const b = data.subarray(cut);
        expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(whole);
      }
    }
  });

  it("chains over many pieces, as over a tar's headers and members", () => {
    const pieces = Array.from({ length: 50 }, (_, i) => randomBytes((i * 7919) % 3000));
    let crc = 0;
    for (const p of pieces) crc = crc32Combine(crc, crc32(p), p.length);
    expect(crc).toBe(crc32(Buffer.concat(pieces)) >>> 0);
  });

  it("refuses a length that is not a byte count", () => {
    expect(() => crc32Combine(0, 0, -1)).toThrow(RangeError);
    expect(() => crc32Combine(0, 0, 1.5)).toThrow(RangeError);
  });
});
