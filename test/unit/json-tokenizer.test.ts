import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isLatentFleetError } from "../../src/common/errors.js";
import { ClipTokenizer, JsonTokenizer, loadPromptTokenizer } from "../../src/engine/tokenizer/index.js";
import { allScenes, caption } from "../../src/eval/shapes-adherence.js";

const T5_DIR = new URL("../fixtures/tokenizers/t5-layout/", import.meta.url).pathname;
const TINY_SHAPES = new URL("../../models/tiny-shapes/tokenizer/", import.meta.url).pathname;

async function expectRejects(p: Promise<unknown>, code: string, text: string): Promise<void> {
  const caught = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isLatentFleetError(caught), String(caught)).toBe(true);
  if (isLatentFleetError(caught)) {
    expect(caught.code).toBe(code);
    expect(caught.message).toContain(text);
  }
}

function expectThrows(fn: () => unknown, code: string, text: string): Promise<void> {
  return expectRejects(Promise.resolve().then(fn), code, text);
}

const head = (r: { ids: Int32Array; length: number }) => Array.from(r.ids.subarray(0, r.length));

/**
 * The tokenizer.json that transformers' CLIPConverter (convert_slow_tokenizer.py) writes for a CLIP
 * vocab.json + merges.txt: NFC, whitespace runs to one space, lowercase; CLIP's split regex then byte-level
 * symbols; BPE with "</w>" word ends; BOS/EOS added by RobertaProcessing.
 */
function clipTokenizerJson(vocab: Record<string, number>, merges: string[], unk = "<|endoftext|>") {
  const bos = vocab["<|startoftext|>"];
  const eos = vocab["<|endoftext|>"];
  const added = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: true,
    special: true,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [added(bos, "<|startoftext|>"), added(eos, "<|endoftext|>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "NFC" },
        { type: "Replace", pattern: { Regex: "\\s+" }, content: " " },
        { type: "Lowercase" },
      ],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        {
          type: "Split",
          pattern: { Regex: "'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" },
          behavior: "Removed",
          invert: true,
        },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: "RobertaProcessing",
      sep: ["<|endoftext|>", eos],
      cls: ["<|startoftext|>", bos],
      trim_offsets: false,
      add_prefix_space: false,
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: "",
      end_of_word_suffix: "</w>",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

describe("published goldens", () => {
  it("Unigram: the tokenizers crate's own test_encode2 segmentations (models/unigram/model.rs)", () => {
    // huggingface/tokenizers 284a1dbee77f3a3f4378ceee7a286fb94c9495b4, tokenizers/src/models/unigram/model.rs.
    const pieces: [string, number][] = [
      ["<unk>", 0],
      ["ab", 0],
      ["cd", -0.1],
      ["abc", -0.2],
      ["a", -0.3],
      ["b", -0.4],
      ["c", -0.5],
      ["ABC", -0.5],
      ["abcdabcd", 20],
      ["q", 20.5],
      ["r", 20.5],
      ["qr", -0.5],
    ];
    const json = {
      version: "1.0",
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      model: { type: "Unigram", unk_id: 0, vocab: pieces, byte_fallback: false },
    };
    const tok = JsonTokenizer.fromData(json, { pad_token: "<unk>" }, { maxLength: 16 });
    const cases: [string, string[]][] = [
      ["abc", ["abc"]],
      ["AB", ["AB"]], // unknown characters fuse into one <unk>
      ["abcd", ["ab", "cd"]],
      ["abcc", ["abc", "c"]],
      ["xabcabaabcdd", ["x", "abc", "ab", "a", "ab", "cd", "d"]],
      ["xyz東京", ["xyz東京"]],
      ["ABC", ["ABC"]],
      ["abABCcd", ["ab", "ABC", "cd"]],
      ["ababcdabcdcd", ["ab", "abcdabcd", "cd"]],
      ["abqrcd", ["ab", "q", "r", "cd"]],
    ];
    const idOf = new Map(pieces.map(([p], i) => [p, i]));
    for (const [text, tokens] of cases) {
      expect(tok.tokenize(text), text).toEqual(tokens);
      expect(head(tok.encode(text)), text).toEqual(tokens.map((t) => idOf.get(t) ?? 0));
    }
  });

  it("CLIP BPE: transformers' test_tokenization_clip.py vocab gives its published ids", () => {
    // huggingface/transformers 02d54151e9ede73b0a0cbdade8e05158fac0961f, tests/models/clip/test_tokenization_clip.py
    // test_full_tokenizer: "lower newer" -> ["lo", "w", "er</w>", "n", "e", "w", "er</w>"] = [10, 2, 16, 9, 3, 2, 16].
    const words = [
      "l",
      "o",
      "w",
      "e",
      "r",
      "s",
      "t",
      "i",
      "d",
      "n",
      "lo",
      "l</w>",
      "w</w>",
      "r</w>",
      "t</w>",
    ];
    words.push(
      "low</w>",
      "er</w>",
      "lowest</w>",
      "newer</w>",
      "wider",
      "<unk>",
      "<|startoftext|>",
      "<|endoftext|>",
    );
    const vocab = Object.fromEntries(words.map((w, i) => [w, i]));
    const json = clipTokenizerJson(vocab, ["l o", "lo w</w>", "e r</w>"], "<unk>");
    const tok = JsonTokenizer.fromData(json, { model_max_length: 77, pad_token: "<|endoftext|>" });
    expect(tok.tokenize("lower newer")).toEqual(["lo", "w", "er</w>", "n", "e", "w", "er</w>"]);
    const r = tok.encode("lower newer");
    expect(head(r)).toEqual([21, 10, 2, 16, 9, 3, 2, 16, 22]);
    expect(r.ids).toHaveLength(77);
    expect(Array.from(r.ids.subarray(9)).every((id) => id === 22)).toBe(true);
    // The slow tokenizer this project already has agrees on the same files.
    const slow = ClipTokenizer.fromData(vocab, "#version: 0.2\nl o\nlo w</w>\ne r</w>\n", { unk: "<unk>" });
    expect(Array.from(slow.encode("lower newer").ids)).toEqual(Array.from(r.ids));
  });
});

describe("CLIP from tokenizer.json agrees with ClipTokenizer (tiny-shapes vocab)", () => {
  it("on every shapes caption and on prompts with case, digits, punctuation and overflow", async () => {
    const vocab = JSON.parse(await readFile(join(TINY_SHAPES, "vocab.json"), "utf8")) as Record<
      string,
      number
    >;
    const mergesTxt = await readFile(join(TINY_SHAPES, "merges.txt"), "utf8");
    const merges = mergesTxt.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#version"));
    const fast = JsonTokenizer.fromData(clipTokenizerJson(vocab, merges), {
      model_max_length: 77,
      pad_token: "<|endoftext|>",
    });
    const slow = await ClipTokenizer.fromFolder(TINY_SHAPES);
    const prompts = allScenes().map(caption);
    prompts.push(
      "A RED  Circle,\ton a white background!",
      "2 blue squares (42) & 1 triangle... isn't it?",
      "",
      Array.from({ length: 40 }, () => "red circle").join(" "),
    );
    let compared = 0;
    for (const p of prompts) {
      const a = fast.encode(p);
      const b = slow.encode(p);
      expect(Array.from(a.ids), p).toEqual(Array.from(b.ids));
      expect([a.length, a.truncated, a.droppedTokens], p).toEqual([b.length, b.truncated, b.droppedTokens]);
      compared++;
    }
    expect(compared).toBe(58);
    expect(fast.encode(prompts[57]).truncated).toBe(true);
  });
});

describe("T5 layout (SentencePiece Unigram, hand-made vocabulary)", () => {
  // Hand-made fixture in the layout of transformers' T5 converter; the expected ids follow from its scores
  // (Viterbi over pieces), not from a published T5 vocabulary, which is not available offline.
  it("appends EOS, pads with id 0 to model_max_length, picks the best segmentation", async () => {
    const tok = await JsonTokenizer.fromFolder(T5_DIR);
    expect([tok.maxLength, tok.padId, tok.prefixIds, tok.suffixIds]).toEqual([512, 0, [], [1]]);
    const r = tok.encode("a red circle on a blue background.");
    expect(head(r)).toEqual([4, 5, 7, 9, 4, 6, 10, 17, 1]);
    expect(r.ids).toHaveLength(512);
    expect(r.ids.subarray(9).every((id) => id === 0)).toBe(true);
    expect([r.truncated, r.droppedTokens]).toEqual([false, 0]);
    // Runs of spaces collapse; "▁squares" is "▁square" + "s"; a character outside the vocabulary is <unk>.
    expect(tok.tokenize("red  squares")).toEqual(["▁red", "▁square", "s"]);
    expect(head(tok.encode("red  squares"))).toEqual([5, 8, 15, 1]);
    expect(head(tok.encode("a red 猫"))).toEqual([4, 5, 3, 2, 1]);
    expect(head(tok.encode(""))).toEqual([1]);
  });

  it("takes the caller's length (256 for SD3) and reports truncation, keeping EOS", async () => {
    const t256 = await loadPromptTokenizer(T5_DIR, { maxLength: 256 });
    expect(t256).toBeInstanceOf(JsonTokenizer);
    expect(t256.encode("a red circle").ids).toHaveLength(256);
    const long = Array.from({ length: 300 }, () => "red").join(" ");
    const r = t256.encode(long);
    expect([r.truncated, r.droppedTokens, r.length, r.ids[255], r.ids[254]]).toEqual([true, 45, 256, 1, 5]);
    const t4 = await JsonTokenizer.fromFolder(T5_DIR, { maxLength: 4 });
    const cut = t4.encode("a red circle on a blue background.");
    expect(Array.from(cut.ids)).toEqual([4, 5, 7, 1]);
    expect([cut.truncated, cut.droppedTokens, cut.length]).toEqual([true, 5, 4]);
  });
});

describe("loading and errors", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "json-tokenizer-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function folder(name: string, files: Record<string, string>): Promise<string> {
    const path = join(dir, name);
    await mkdir(path, { recursive: true });
    for (const [file, text] of Object.entries(files)) await writeFile(join(path, file), text);
    return path;
  }

  it("a folder without tokenizer.json keeps the CLIP tokenizer, at the caller's length if given", async () => {
    const clip = await loadPromptTokenizer(TINY_SHAPES);
    expect(clip).toBeInstanceOf(ClipTokenizer);
    expect(clip.maxLength).toBe(77);
    expect(
      (await loadPromptTokenizer(TINY_SHAPES, { maxLength: 16 })).encode("a red circle").ids,
    ).toHaveLength(16);
  });

  it("names the file at fault", async () => {
    const t5 = await readFile(join(T5_DIR, "tokenizer.json"), "utf8");
    const config = JSON.parse(await readFile(join(T5_DIR, "tokenizer_config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    const bad = await folder("malformed", { "tokenizer.json": "{ not json" });
    await expectRejects(loadPromptTokenizer(bad), "TOKENIZER_INVALID", join(bad, "tokenizer.json"));
    const noLength = await folder("no-length", { "tokenizer.json": t5 });
    await expectRejects(JsonTokenizer.fromFolder(noLength), "TOKENIZER_INVALID", "model_max_length");
    const badPad = await folder("bad-pad", {
      "tokenizer.json": t5,
      "tokenizer_config.json": JSON.stringify({ ...config, pad_token: "<nope>" }),
    });
    await expectRejects(JsonTokenizer.fromFolder(badPad), "TOKENIZER_INVALID", '"<nope>"');
    await expectRejects(JsonTokenizer.fromFolder(T5_DIR, { maxLength: 1 }), "TOKENIZER_INVALID", "no room");
    const unsupported = await folder("unsupported-model", {
      "tokenizer.json": JSON.stringify({ ...JSON.parse(t5), model: { type: "NoSuchModel" } }),
      "tokenizer_config.json": JSON.stringify(config),
    });
    await expectRejects(JsonTokenizer.fromFolder(unsupported), "TOKENIZER_INVALID", "tokenizer.json");
    await expectThrows(
      () => JsonTokenizer.fromData({}, { model_max_length: 8 }),
      "TOKENIZER_INVALID",
      "tokenizer.json",
    );
  });
});
