import { describe, expect, it } from "vitest";
import { utf8ByteLength } from "../../src/common/utf8-length.js";

describe("utf8ByteLength", () => {
  it("counts what Buffer.byteLength counts, short and long, lone surrogates included", () => {
    const pieces = ["a", "é", "✓", "猫", "🐈", "\ud800", "\udc00", "\n", "\u07ff", "\u0800", "\uffff"];
    const strings = [""];
    for (const a of pieces) for (const b of pieces) strings.push(a + b, `${a}x${b}`, b + a.repeat(40));
    // Around the length where the native count takes over, and a lone high surrogate at the very end.
    for (let n = 60; n < 68; n++) strings.push("ü".repeat(n), `${"x".repeat(n)}\ud83d`);
    for (const s of strings) expect(utf8ByteLength(s), JSON.stringify(s)).toBe(Buffer.byteLength(s));
  });
});
