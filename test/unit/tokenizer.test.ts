import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isLatentFleetError } from "../../src/common/errors.js";
import { BYTE_SYMBOLS, ClipTokenizer, type SpecialTokens } from "../../src/engine/tokenizer/index.js";

/**
 * A miniature CLIP vocab laid out like the real one: 256 byte symbols (ids 0-255), their `</w>` forms
 * (256-511), one entry per merge result (512...), then the two special tokens. As in real CLIP,
 * "!" is 0 and "a</w>" is 320.
 */
const MERGES = [
  ["r", "e"], // 512 re
  ["re", "d</w>"], // 513 red</w>
  ["c", "i"], // 514
  ["ci", "r"], // 515
  ["cir", "c"], // 516
  ["circ", "l"], // 517
  ["circl", "e</w>"], // 518 circle</w>
  ["p", "h"], // 519
  ["ph", "o"], // 520
  ["pho", "t"], // 521
  ["phot", "o</w>"], // 522 photo</w>
  ["c", "a"], // 523
  ["ca", "t</w>"], // 524 cat</w>
  ["o", "n</w>"], // 525 on</w>
];
const MERGES_TXT = `#version: 0.2\n${MERGES.map(([a, b]) => `${a} ${b}`).join("\n")}\n`;

function miniVocab(): Record<string, number> {
  const tokens = [...BYTE_SYMBOLS, ...BYTE_SYMBOLS.map((s) => `${s}</w>`), ...MERGES.map(([a, b]) => a + b)];
  tokens.push("<|startoftext|>", "<|endoftext|>");
  return Object.fromEntries(tokens.map((t, i) => [t, i]));
}

const BOS = 526;
const EOS = 527;
const A = 320; // a</w>
const RED = 513;
const CIRCLE = 518;
const PHOTO = 522;
const CAT = 524;

function mini(special?: SpecialTokens, maxLength?: number): ClipTokenizer {
  return ClipTokenizer.fromData(miniVocab(), MERGES_TXT, special, maxLength);
}

/** The ids before padding, for readable expectations. */
function head(tok: ClipTokenizer, text: string): number[] {
  const r = tok.encode(text);
  return Array.from(r.ids.subarray(0, r.length));
}

describe("byte-level symbols", () => {
  it("follow GPT-2's bytes_to_unicode order", () => {
    expect(BYTE_SYMBOLS).toHaveLength(256);
    expect(new Set(BYTE_SYMBOLS).size).toBe(256);
    expect(BYTE_SYMBOLS[0]).toBe("!");
    expect(BYTE_SYMBOLS[64]).toBe("a");
    expect(BYTE_SYMBOLS[188]).toBe("Ā"); // byte 0, the first non-printable, shifted to U+0100
    expect(BYTE_SYMBOLS[188 + 32]).toBe("Ġ"); // the space byte
  });
});

describe("ClipTokenizer.encode", () => {
  const tok = mini();

  it("gives exact ids for simple prompts, padded with EOS to 77", () => {
    const r = tok.encode("a red circle");
    expect(r.ids).toBeInstanceOf(Int32Array);
    expect(r.ids).toHaveLength(77);
    expect(Array.from(r.ids.subarray(0, 5))).toEqual([BOS, A, RED, CIRCLE, EOS]);
    expect(Array.from(r.ids.subarray(5)).every((id) => id === EOS)).toBe(true);
    expect(r).toMatchObject({ truncated: false, droppedTokens: 0, length: 5 });
    // "of" has no merges: "o" (byte symbol 78) and "f</w>" (256 + 69).
    expect(head(tok, "a photo of a cat")).toEqual([BOS, A, PHOTO, 78, 325, A, CAT, EOS]);
    expect(tok.tokenize("a photo of a cat")).toEqual([
      "a</w>",
      "photo</w>",
      "o",
      "f</w>",
      "a</w>",
      "cat</w>",
    ]);
    expect(tok.maxLength).toBe(77);
    expect([tok.bosId, tok.eosId, tok.padId]).toEqual([BOS, EOS, EOS]);
  });

  it("lower-cases and cleans up whitespace", () => {
    const expected = [BOS, A, RED, CIRCLE, EOS];
    expect(head(tok, "A RED Circle")).toEqual(expected);
    expect(head(tok, "  A   Red\n\tCircle ")).toEqual(expected);
    expect(head(tok, "a\u00a0red\u3000circle")).toEqual(expected);
  });

  it("unescapes HTML entities twice, as CLIP does", () => {
    expect(tok.tokenize("cat &amp; photo")).toEqual(["cat</w>", "&</w>", "photo</w>"]);
    expect(tok.tokenize("&amp;amp;")).toEqual(["&</w>"]);
    expect(tok.tokenize("&lt;cat&gt;")).toEqual(["<</w>", "cat</w>", "></w>"]);
  });

  it("splits punctuation and contractions like CLIP's pre-tokenizer", () => {
    expect(tok.tokenize("it's")).toEqual(["i", "t</w>", "'", "s</w>"]);
    expect(head(tok, "it's")).toEqual([BOS, 72, 339, 6, 338, EOS]);
    expect(head(tok, "a, b!")).toEqual([BOS, A, 267, 321, 256, EOS]);
    expect(tok.tokenize("red!!")).toEqual(["red</w>", "!", "!</w>"]);
    expect(head(tok, "red!!")).toEqual([BOS, RED, 0, 256, EOS]);
    expect(tok.tokenize("we'll")).toEqual(["w", "e</w>", "'", "l", "l</w>"]);
  });

  it("splits digits one by one", () => {
    expect(tok.tokenize("2024")).toEqual(["2</w>", "0</w>", "2</w>", "4</w>"]);
    expect(head(tok, "2024")).toEqual([BOS, 273, 271, 273, 275, EOS]);
    expect(tok.tokenize("cat42")).toEqual(["cat</w>", "4</w>", "2</w>"]);
  });

  it("falls back to byte-level symbols for unicode letters and emoji", () => {
    // é is C3 A9: "Ã" (127) then "©</w>" (256 + 102); NFC makes the decomposed form identical.
    expect(head(tok, "é")).toEqual([BOS, 127, 358, EOS]);
    expect(head(tok, "e\u0301")).toEqual([BOS, 127, 358, EOS]);
    // 猫 is E7 8C AB; 8C is not printable, so it is the shifted symbol at index 188 + 46.
    expect(head(tok, "猫")).toEqual([BOS, 163, 234, 360, EOS]);
    for (const text of [
      "🐱 cat",
      "👩‍🚀",
      "naïve café",
      "Ελληνικά",
      "\ud800 lone surrogate",
      "\u0000\u001f",
    ]) {
      const r = tok.encode(text);
      expect(Array.from(r.ids.subarray(1, r.length - 1))).not.toContain(tok.unkId);
    }
    expect(tok.tokenize("🐱")).toHaveLength(4);
  });

  it("keeps the special token strings whole", () => {
    expect(head(tok, "a<|endoftext|>cat")).toEqual([BOS, A, EOS, CAT, EOS]);
    expect(head(tok, "<|STARTOFTEXT|>")).toEqual([BOS, BOS, EOS]);
  });

  it("encodes empty text as BOS, EOS and padding", () => {
    for (const text of ["", "   \n\t "]) {
      const r = tok.encode(text);
      expect(r.length).toBe(2);
      expect(Array.from(r.ids.subarray(0, 3))).toEqual([BOS, EOS, EOS]);
    }
  });

  it("pads with the pad token from the special tokens (SD 2.x pads with '!')", () => {
    const sd2 = mini({ pad: "!" });
    expect(sd2.padId).toBe(0);
    const r = sd2.encode("a cat");
    expect(Array.from(r.ids.subarray(0, 5))).toEqual([BOS, A, CAT, EOS, 0]);
    expect(Array.from(r.ids.subarray(4)).every((id) => id === 0)).toBe(true);
  });

  it("truncates to maxLength - 2 content tokens plus EOS and reports the drop", () => {
    const r = tok.encode("a ".repeat(100));
    expect(r).toMatchObject({ truncated: true, droppedTokens: 25, length: 77 });
    expect(r.ids[0]).toBe(BOS);
    expect(r.ids[75]).toBe(A);
    expect(r.ids[76]).toBe(EOS);
    const full = tok.encode("a ".repeat(75));
    expect(full).toMatchObject({ truncated: false, droppedTokens: 0, length: 77 });
    expect(full.ids[76]).toBe(EOS);
    const short = mini({}, 6).encode("a red circle on a cat");
    expect(Array.from(short.ids)).toEqual([BOS, A, RED, CIRCLE, 525, EOS]);
    expect(short).toMatchObject({ truncated: true, droppedTokens: 2, length: 6 });
  });

  it("maps tokens missing from the vocab to the unk id", () => {
    const vocab = {
      "<|startoftext|>": 0,
      "<|endoftext|>": 1,
      "<unk>": 2,
      "cat</w>": 3,
      c: 4,
      a: 5,
      "t</w>": 6,
    };
    const t = ClipTokenizer.fromData(vocab, "#version: 0.2\nc a\nca t</w>\n", { unk: "<unk>" });
    // Each of "d", "o", "g</w>" is missing.
    expect(head(t, "cat dog")).toEqual([0, 3, 2, 2, 2, 1]);
  });
});

describe("ClipTokenizer data validation", () => {
  const expectInvalid = (fn: () => unknown, pattern: RegExp) => {
    try {
      fn();
    } catch (err) {
      expect(isLatentFleetError(err) && err.code).toBe("TOKENIZER_INVALID");
      expect((err as Error).message).toMatch(pattern);
      return;
    }
    expect.fail("expected TOKENIZER_INVALID");
  };

  it("rejects malformed merges, ids and special tokens", () => {
    expectInvalid(() => ClipTokenizer.fromData(miniVocab(), "#version: 0.2\na b c\n"), /merges\.txt: line 2/);
    expectInvalid(() => ClipTokenizer.fromData({ ...miniVocab(), x: 1.5 }, MERGES_TXT), /vocab\.json.*"x"/);
    expectInvalid(() => mini({ pad: "<pad>" }), /pad token "<pad>"/);
    expectInvalid(() => mini({}, 1), /max length/);
  });
});

describe("ClipTokenizer.fromFolder", () => {
  let root: string;
  let n = 0;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "lf-tokenizer-"));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Writes a tokenizer folder; a file given as null is left out. */
  async function folder(files: Record<string, string | null>): Promise<string> {
    const dir = join(root, `t${n++}`);
    await mkdir(dir);
    const all: Record<string, string | null> = {
      "vocab.json": JSON.stringify(miniVocab()),
      "merges.txt": MERGES_TXT,
      ...files,
    };
    for (const [name, text] of Object.entries(all)) if (text !== null) await writeFile(join(dir, name), text);
    return dir;
  }

  async function loadError(dir: string): Promise<Error> {
    const err = await ClipTokenizer.fromFolder(dir).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isLatentFleetError(err) && err.code).toBe("TOKENIZER_INVALID");
    return err as Error;
  }

  it("loads an SD 1.x style folder", async () => {
    const special = { bos_token: "<|startoftext|>", eos_token: "<|endoftext|>", pad_token: "<|endoftext|>" };
    const dir = await folder({
      "special_tokens_map.json": JSON.stringify(special),
      "tokenizer_config.json": JSON.stringify({ model_max_length: 77 }),
    });
    const tok = await ClipTokenizer.fromFolder(dir);
    expect(tok.maxLength).toBe(77);
    expect(head(tok, "a red circle")).toEqual([BOS, A, RED, CIRCLE, EOS]);
    expect(tok.padId).toBe(EOS);
  });

  it("reads AddedToken objects, lets special_tokens_map.json win and ignores absurd max lengths", async () => {
    const dir = await folder({
      "special_tokens_map.json": JSON.stringify({
        pad_token: { content: "!", lstrip: false, normalized: true },
      }),
      "tokenizer_config.json": JSON.stringify({ model_max_length: 1e30, pad_token: "<|endoftext|>" }),
    });
    const tok = await ClipTokenizer.fromFolder(dir);
    expect(tok.padId).toBe(0);
    expect(tok.maxLength).toBe(77);
    const short = await ClipTokenizer.fromFolder(
      await folder({ "tokenizer_config.json": JSON.stringify({ model_max_length: 16 }) }),
    );
    expect(short.maxLength).toBe(16);
    expect(short.encode("cat").ids).toHaveLength(16);
  });

  it("works without the optional files", async () => {
    const tok = await ClipTokenizer.fromFolder(await folder({}));
    expect([tok.maxLength, tok.padId]).toEqual([77, EOS]);
  });

  it("names the missing or malformed file", async () => {
    expect((await loadError(await folder({ "vocab.json": null }))).message).toMatch(
      /vocab\.json: file not found/,
    );
    expect((await loadError(await folder({ "vocab.json": "{ nope" }))).message).toMatch(
      /vocab\.json: malformed JSON/,
    );
    expect((await loadError(await folder({ "vocab.json": "[1, 2]" }))).message).toMatch(
      /vocab\.json: expected a JSON object/,
    );
    expect((await loadError(await folder({ "merges.txt": null }))).message).toMatch(
      /merges\.txt: file not found/,
    );
    expect((await loadError(await folder({ "special_tokens_map.json": "{" }))).message).toMatch(
      /special_tokens_map\.json: malformed JSON/,
    );
    expect(
      (await loadError(await folder({ "special_tokens_map.json": JSON.stringify({ pad_token: 3 }) })))
        .message,
    ).toMatch(/special_tokens_map\.json: "pad_token"/);
    expect(
      (await loadError(await folder({ "special_tokens_map.json": JSON.stringify({ bos_token: "<s>" }) })))
        .message,
    ).toMatch(/special_tokens_map\.json.*bos token "<s>" is not in the vocabulary/);
    expect((await loadError(join(root, "does-not-exist"))).message).toMatch(/vocab\.json: file not found/);
  });
});
