import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundledModelDir } from "../../../src/common/package-root.js";
import {
  DEFAULT_LIMITS,
  loadPromptsFileAsSpec,
  loadSpec,
  memorySourceAccess,
} from "../../../src/manifest/index.js";
import { collect, removeTempDirs, samplesOf, tempDir } from "./helpers.js";

const files = memorySourceAccess(
  new Map<string, string>([
    ["p.jsonl", '{"prompt": "a"}\n'],
    ["jobs/p.jsonl", '{"prompt": "in jobs"}\n'],
    ["noprompt.csv", "text,seed\na,1\n"],
    ["empty.csv", ""],
    ["broken.parquet", "PAR1 this is not parquet PAR1"],
  ]),
);

/** Loads `content` as job.yaml (or `name`) with the in-memory files above. */
function load(content: string, name = "job.yaml") {
  return loadSpec({ name, content }, { access: files });
}

const M = "model: m\n";

afterAll(removeTempDirs);

describe("loadSpec", () => {
  it("reads a spec given as content with a virtual name, its files through the given access", async () => {
    const spec = await load(
      "model: models/x\noutput: { dir: out/x, format: webdataset }\nprompts:\n  - file: p.jsonl\n",
      "jobs/job.yaml",
    );
    expect(spec.model).toBe("jobs/models/x");
    expect(spec.output).toEqual({ dir: "jobs/out/x", format: "webdataset" });
    const samples = samplesOf(await collect(spec, { access: files }));
    expect(samples.map((s) => [s.prompt, s.source])).toEqual([["in jobs", "jobs/p.jsonl:1"]]);
  });

  it("reads JSON specs, with built-in defaults and limits where the spec says nothing", async () => {
    const spec = await load('{\n  "model": "/abs/model",\n  "prompts": ["a cat"]\n}\n', "job.json");
    expect(spec).toMatchObject({
      model: "/abs/model",
      output: { dir: "out/job", format: "imagefolder" },
      seed: 0,
      imagesPerPrompt: 1,
      defaults: {
        steps: 20,
        guidanceScale: 4,
        scheduler: null,
        width: null,
        height: null,
        negativePrompt: "",
      },
      limits: DEFAULT_LIMITS,
    });
    expect(samplesOf(await collect(spec))[0]).toMatchObject({ prompt: "a cat", source: "job.json:3" });
  });

  it("takes limits from the spec, within the engine's hard limits", async () => {
    const spec = await load(
      `${M}limits: { max_steps: 1000, max_size: 4096 }\ndefaults: { steps: 800, width: 4096 }\nprompts: [a]\n`,
    );
    expect(spec.limits).toMatchObject({ maxSteps: 1000, maxSize: 4096 });
    expect(spec.defaults).toMatchObject({ steps: 800, width: 4096 });
  });

  it("takes max_failed as a count or a percentage, as --max-failed does; absent when the spec says nothing", async () => {
    expect((await load(`${M}max_failed: 3\nprompts: [a]\n`)).maxFailed).toEqual({ count: 3 });
    expect((await load(`${M}max_failed: "12"\nprompts: [a]\n`)).maxFailed).toEqual({ count: 12 });
    expect((await load(`${M}max_failed: 2.5%\nprompts: [a]\n`)).maxFailed).toEqual({ percent: 2.5 });
    expect((await load(`${M}prompts: [a]\n`)).maxFailed).toBeUndefined();
  });

  // Each bad spec: its message names the file, the line and the field, and says what to fix.
  const bad: [string, string, RegExp][] = [
    [
      "the example from the docs",
      `${M}prompts: [a]\ndefaults:\n  steps: twenty\n`,
      /^job\.yaml:4: defaults\.steps must be an integer in \[1, 500\], got "twenty"$/,
    ],
    [
      "an unknown key",
      `${M}sed: 1\nprompts: [a]\n`,
      /^job\.yaml:2: unknown key "sed" in the spec; did you mean "seed"\?$/,
    ],
    [
      "an unknown key in defaults",
      `${M}prompts: [a]\ndefaults: { guidance: 2 }\n`,
      /^job\.yaml:3: unknown key "guidance" in defaults; did you mean "guidance_scale"\?$/,
    ],
    [
      "an unknown key far from any",
      `${M}prompts: [a]\nzzzzzz: 1\n`,
      /^job\.yaml:3: unknown key "zzzzzz" in the spec; known keys: model, output/,
    ],
    ["no model", "prompts: [a]\n", /^job\.yaml:1: model is missing: add "model: <model folder>"/],
    ["no prompts", M, /^job\.yaml:1: prompts is missing/],
    ["an empty prompts list", `${M}prompts: []\n`, /^job\.yaml:2: prompts must be a non-empty list/],
    [
      "a model that is not a string",
      "model: [1]\nprompts: [a]\n",
      /^job\.yaml:1: model must be a non-empty string, got a list$/,
    ],
    [
      "a seed of the wrong type",
      `${M}seed: abc\nprompts: [a]\n`,
      /^job\.yaml:2: seed must be an integer in \[0, 9007199254740991\], got "abc"$/,
    ],
    [
      "a seed past 2^53",
      `${M}seed: 9007199254740993\nprompts: [a]\n`,
      /^job\.yaml:2: seed must be .*got 9007199254740993$/,
    ],
    [
      "a negative images_per_prompt",
      `${M}images_per_prompt: -1\nprompts: [a]\n`,
      /^job\.yaml:2: images_per_prompt must be an integer in \[1, 10000\], got -1$/,
    ],
    [
      "a size not a multiple of 8",
      `${M}defaults: { width: 100 }\nprompts: [a]\n`,
      /^job\.yaml:2: defaults\.width must be a multiple of 8, got 100$/,
    ],
    [
      "an unknown scheduler",
      `${M}defaults: { scheduler: warp }\nprompts: [a]\n`,
      /^job\.yaml:2: defaults\.scheduler: unknown scheduler "warp"; known schedulers: /,
    ],
    [
      "a bad output format",
      `${M}output: { dir: o, format: tiff }\nprompts: [a]\n`,
      /^job\.yaml:2: output\.format must be one of imagefolder, webdataset, got "tiff"$/,
    ],
    [
      "a limit past the hard limit",
      `${M}limits: { max_steps: 5000 }\nprompts: [a]\n`,
      /^job\.yaml:2: limits\.max_steps must be an integer in \[1, 1000\], got 5000$/,
    ],
    [
      "a default past a lowered limit",
      `${M}limits: { max_steps: 10 }\ndefaults: { steps: 20 }\nprompts: [a]\n`,
      /^job\.yaml:3: defaults\.steps must be an integer in \[1, 10\], got 20$/,
    ],
    [
      "min_size above max_size",
      `${M}limits: { min_size: 512, max_size: 256 }\nprompts: [a]\n`,
      /^job\.yaml:2: limits\.min_size \(512\) must not exceed limits\.max_size \(256\)$/,
    ],
    ["YAML that does not parse", `${M}prompts: [a\nseed: 1\n`, /^job\.yaml:3: cannot parse the spec: /],
    [
      "a key given twice",
      `${M}seed: 1\nseed: 2\nprompts: [a]\n`,
      /^job\.yaml:3: cannot parse the spec: Map keys must be unique$/,
    ],
    ["a spec that is not a mapping", "- a\n- b\n", /^job\.yaml:1: the spec must be a mapping/],
    [
      "a prompts entry of the wrong type",
      `${M}prompts:\n  - a\n  - 42\n`,
      /^job\.yaml:4: prompts\[1\] must be a prompt string, or a mapping with `prompt`, `file` or `template`, got 42$/,
    ],
    [
      "an entry with no kind",
      `${M}prompts:\n  - { text: a }\n`,
      /^job\.yaml:3: prompts\[0\] must be a prompt string, .*; it has `text`$/,
    ],
    [
      "an entry of two kinds",
      `${M}prompts:\n  - { file: p.jsonl, template: a }\n`,
      /^job\.yaml:3: prompts\[0\] has `file` and `template`: give one of them per entry$/,
    ],
    [
      "a bad inline row",
      `${M}prompts:\n  - prompt: a\n    steps: 0\n`,
      /^job\.yaml:4: prompts\[0\]\.steps must be an integer in \[1, 500\], got 0$/,
    ],
    [
      "an unknown key in an inline row",
      `${M}prompts:\n  - { prompt: a, negative_promt: b }\n`,
      /^job\.yaml:3: unknown key "negative_promt" in prompts\[0\]; did you mean "negative_prompt"\?$/,
    ],
    [
      "a missing source file",
      `${M}prompts:\n  - a\n  - file: missing.jsonl\n`,
      /^job\.yaml:4: prompts\[1\]\.file: cannot find "missing\.jsonl"/,
    ],
    [
      "a source of unknown format",
      `${M}prompts:\n  - file: p.xlsx\n`,
      /^job\.yaml:3: prompts\[0\]\.file must end in \.jsonl, .* got "p\.xlsx"$/,
    ],
    [
      "a CSV without a prompt column",
      `${M}prompts:\n  - file: noprompt.csv\n`,
      /^noprompt\.csv:1: the header has no "prompt" column \(it has "text", "seed"\)/,
    ],
    ["an empty CSV", `${M}prompts:\n  - file: empty.csv\n`, /^empty\.csv:1: the CSV file is empty/],
    [
      "a file that is not Parquet",
      `${M}prompts:\n  - file: broken.parquet\n`,
      /^broken\.parquet:1: cannot read this Parquet file/,
    ],
    [
      "a template variable used but not defined",
      `${M}prompts:\n  - template: "a {color} {shape}"\n    vars: { color: [red] }\n`,
      /^job\.yaml:3: prompts\[0\]\.template uses \{shape\}, but prompts\[0\]\.vars does not define it$/,
    ],
    [
      "a template variable defined but not used",
      `${M}prompts:\n  - template: "a {color}"\n    vars:\n      color: [red]\n      size: [big]\n`,
      /^job\.yaml:6: prompts\[0\]\.vars\.size is defined but prompts\[0\]\.template never uses \{size\}: use it or remove it$/,
    ],
    [
      "a template variable with no values",
      `${M}prompts:\n  - template: "a {color}"\n    vars: { color: [] }\n`,
      /^job\.yaml:4: prompts\[0\]\.vars\.color must be a non-empty list of values, got a list$/,
    ],
    [
      "a template with a stray brace",
      `${M}prompts:\n  - template: "a {color"\n    vars: { color: [red] }\n`,
      /^job\.yaml:3: prompts\[0\]\.template has "\{" at character 3 without a \{name\} after it/,
    ],
    [
      "a bad field on a template",
      `${M}prompts:\n  - template: "a {c}"\n    vars: { c: [x] }\n    height: 7\n`,
      /^job\.yaml:5: prompts\[0\]\.height must be an integer in \[8, 2048\], got 7$/,
    ],
    [
      "a template past the sample limit",
      `${M}limits: { max_samples_per_job: 3 }\nprompts:\n  - template: "{a}{b}"\n    vars: { a: [1, 2], b: [1, 2] }\n`,
      /^job\.yaml:4: prompts\[0\] makes 4 prompts, more than limits\.max_samples_per_job \(3\)$/,
    ],
    [
      "a max_failed over 100%",
      `${M}prompts: [a]\nmax_failed: 150%\n`,
      /^job\.yaml:3: max_failed must be a count of failures \(an integer from 0\) or a percentage from 0% to 100% \("2%"\), got "150%"$/,
    ],
    [
      "a negative max_failed",
      `${M}max_failed: -1\nprompts: [a]\n`,
      /^job\.yaml:2: max_failed must be a count of failures .* got -1$/,
    ],
    [
      "a fractional max_failed count",
      `${M}max_failed: 1.5\nprompts: [a]\n`,
      /^job\.yaml:2: max_failed must be a count of failures .* got 1\.5$/,
    ],
  ];
  it.each(bad)("refuses %s", async (_, content, message) => {
    const err = await load(content).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: "LatentFleetError", code: "SPEC_INVALID" });
    expect((err as Error).message).toMatch(message);
  });

  it("names a missing spec file", async () => {
    await expect(loadSpec("/no/such/job.yaml")).rejects.toThrow(
      /^\/no\/such\/job\.yaml: cannot find the spec file$/,
    );
  });
});

describe("loadPromptsFileAsSpec", () => {
  it("runs a bare text file with the bundled model and built-in defaults", async () => {
    const dir = tempDir("bare");
    const path = join(dir, "my prompts.txt");
    writeFileSync(path, "\ufeff  a red circle  \n\n\ta blue square\r\n   \nlast line without newline");
    const spec = await loadPromptsFileAsSpec(path);
    expect(spec).toMatchObject({
      model: bundledModelDir(),
      output: { dir: "out/my prompts", format: "imagefolder" },
      seed: 0,
      limits: DEFAULT_LIMITS,
    });
    const samples = samplesOf(await collect(spec));
    expect(samples.map((s) => [s.sampleId, s.prompt, s.source])).toEqual([
      ["r000000000-0", "a red circle", `${path}:1`],
      ["r000000001-0", "a blue square", `${path}:3`],
      ["r000000002-0", "last line without newline", `${path}:5`],
    ]);
    expect((await loadPromptsFileAsSpec(path, { outputOverride: "o" })).output.dir).toBe("o");
  });

  it("refuses unknown extensions, missing files and CSVs without a prompt column", async () => {
    await expect(loadPromptsFileAsSpec("prompts.xlsx")).rejects.toThrow(
      /^prompts\.xlsx: a prompts file must end in/,
    );
    await expect(loadPromptsFileAsSpec("/no/such.jsonl")).rejects.toThrow(/^\/no\/such\.jsonl: cannot find/);
    await expect(loadPromptsFileAsSpec("noprompt.csv", { access: files })).rejects.toThrow(
      /^noprompt\.csv:1: the header has no "prompt" column/,
    );
  });
});
