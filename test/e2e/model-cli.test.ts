/**
 * `latent-fleet model check` and `latent-fleet run` on the SDXL fixtures (and one run of a flow fixture), as a
 * user runs them (dist/).
 */
import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exitCodeFor } from "../../src/common/errors.js";
import { parseDevice } from "../../src/engine/device.js";
import { checkModelFolder, type ModelReport } from "../../src/engine/model-check.js";
import { decodePng } from "../../src/engine/png.js";
import { expandSpec, loadSpec } from "../../src/manifest/index.js";
import { readMetadata } from "../helpers/cli-processes.js";
import { CLI, FIXTURE_MODELS, TINY_SHAPES } from "../helpers/paths.js";

const SDXL = join(FIXTURE_MODELS, "sdxl");

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A spec of two prompts, two images each, on `model` with these `defaults` (YAML flow mapping body). */
async function writeTwoPromptSpec(
  spec: string,
  model: string,
  out: string,
  seed: number,
  defaults: string,
): Promise<void> {
  await writeFile(
    spec,
    [
      `model: ${model}`,
      `output: ${out}`,
      `seed: ${seed}`,
      "images_per_prompt: 2",
      `defaults: { ${defaults} }`,
      "prompts:",
      '  - "a red circle on a white background"',
      '  - "a blue square on a gray background"',
    ].join("\n"),
  );
}

/** `run` on the spec exits 0 and writes exactly the spec's samples, each a PNG of `size` from `model`. */
async function expectEverySampleRun(
  spec: string,
  out: string,
  size: [number, number],
  model: string,
): Promise<void> {
  const r = cli(["run", spec, "--workers", "1", "--batch-size", "4"]);
  expect(r.code, r.stderr).toBe(0);
  const expected: string[] = [];
  for await (const e of expandSpec(await loadSpec(spec)))
    if (e.type === "sample") expected.push(e.sample.sampleId);
  const rows = await readMetadata(out);
  expect(rows.map((row) => row.id).sort()).toEqual([...expected].sort());
  for (const row of rows) {
    const png = decodePng(await readFile(join(out, row.file_name)));
    expect([png.width, png.height]).toEqual(size);
    expect(row.model).toBe(model);
  }
}

describe("checkModelFolder", () => {
  it("reports an SDXL folder: family, signatures, sizes, parameters, conditioning", async () => {
    const r = await checkModelFolder(SDXL, { device: parseDevice("cpu") });
    expect(r).toMatchObject({
      family: "sdxl",
      className: "ORTStableDiffusionXLPipeline",
      nativeSize: 64,
      latentChannels: 4,
      vaeScale: 8,
      vaeScalingFactor: 0.13025,
      defaultScheduler: "euler",
      timestepSpacing: "leading",
      dtypes: { inputIds: "int64", unet: "float32", vae: "float32" },
      conditioning: { sequenceLength: 77, width: 40, pooledWidth: 20, emptyNegativeIsZeros: true },
      warnings: [],
    });
    const unet = r.components.find((c) => c.name === "unet");
    // 56,844: the initializers' sizes summed by onnx in Python (sum of prod(dims) over graph.initializer).
    expect(unet?.parameters).toBe(56_844);
    expect(unet?.inputs?.map((t) => t.name)).toEqual([
      "sample",
      "timestep",
      "encoder_hidden_states",
      "text_embeds",
      "time_ids",
    ]);
    expect(unet?.inputs?.find((t) => t.name === "time_ids")?.shape).toEqual(["batch_size", 6]);
    expect(r.components.find((c) => c.name === "text_encoder_2")?.outputs?.[0]).toMatchObject({
      name: "text_embeds",
      shape: ["batch_size", 20],
    });
    expect(r.components.map((c) => c.name)).toEqual([
      "text_encoder",
      "text_encoder_2",
      "tokenizer",
      "tokenizer_2",
      "unet",
      "vae_decoder",
      "scheduler",
    ]);
    expect(r.bytes).toBe(r.components.reduce((s, c) => s + c.bytes, 0));
    expect(r.parameters).toBe(r.components.reduce((s, c) => s + (c.parameters ?? 0), 0));
  });

  it("counts external-data weights and warns about an fp16 SDXL VAE", async () => {
    const turbo = await checkModelFolder(join(FIXTURE_MODELS, "sdxl-turbo"));
    const unet = turbo.components.find((c) => c.name === "unet");
    expect(unet?.files.map((f) => f.file)).toEqual(["config.json", "model.onnx", "model.onnx_data"]);
    expect(unet?.parameters).toBe(56_844);
    expect(turbo).toMatchObject({ defaultScheduler: "euler_ancestral", timestepSpacing: "trailing" });
    const fp16 = await checkModelFolder(join(FIXTURE_MODELS, "sdxl-fp16"));
    expect(fp16.dtypes).toEqual({ inputIds: "int32", unet: "float16", vae: "float16" });
    expect(fp16.warnings.join("\n")).toMatch(/sdxl-vae-fp16-fix/);
  });

  it("reports the bundled SD model", async () => {
    const r = await checkModelFolder(TINY_SHAPES);
    expect(r).toMatchObject({ family: "sd", conditioning: { width: 64, pooledWidth: 0 }, nativeSize: 64 });
    expect(r.parameters).toBeGreaterThan(2_960_000);
  });

  it("files-only mode reads no session", async () => {
    const r = await checkModelFolder(SDXL, { sessions: false });
    expect(r.family).toBe("sdxl");
    expect(r.dtypes).toBeUndefined();
    expect(r.components.find((c) => c.name === "unet")?.inputs).toBeUndefined();
  });
});

describe("latent-fleet model check and run on SDXL", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-model-cli-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("model check prints the report (exit 0) and --json parses", () => {
    const text = cli(["model", "check", SDXL]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^family +sdxl: /m);
    expect(text.stdout).toMatch(/in +time_ids float32 \[batch_size, 6\]/);
    expect(text.stdout).toMatch(/VAE scaling factor 0\.13025/);
    const json = cli(["model", "check", SDXL, "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const report = JSON.parse(json.stdout) as ModelReport;
    expect(report.family).toBe("sdxl");
    expect(report.components.find((c) => c.name === "unet")?.parameters).toBe(56_844);
  });

  it("model check exits 2 with one line naming the first problem", async () => {
    const dir = join(tmp, "no-te2");
    await cp(SDXL, dir, { recursive: true });
    await rm(join(dir, "text_encoder_2"), { recursive: true });
    const r = cli(["model", "check", dir]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/text_encoder_2\/model\.onnx is missing \[MODEL_INVALID\]/);
    await expect(checkModelFolder(dir)).rejects.toSatisfy((e) => exitCodeFor(e) === 2);
  });

  it("run generates every sample of an SDXL job, and refuses a refiner before starting anything", async () => {
    const spec = join(tmp, "sdxl.yaml");
    const out = join(tmp, "out");
    await writeTwoPromptSpec(
      spec,
      SDXL,
      out,
      7,
      "steps: 2, guidance_scale: 3.0, scheduler: euler, width: 64, height: 48",
    );
    await expectEverySampleRun(spec, out, [64, 48], "sdxl");

    const refiner = join(tmp, "refiner");
    await cp(SDXL, refiner, { recursive: true });
    const index = JSON.parse(await readFile(join(refiner, "model_index.json"), "utf8")) as object;
    await writeFile(
      join(refiner, "model_index.json"),
      JSON.stringify({
        ...index,
        _class_name: "StableDiffusionXLImg2ImgPipeline",
        requires_aesthetics_score: true,
      }),
    );
    const refSpec = join(tmp, "refiner.yaml");
    await writeFile(
      refSpec,
      (await readFile(spec, "utf8")).replace(SDXL, refiner).replace(out, join(tmp, "out2")),
    );
    const refused = cli(["run", refSpec]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refiner/);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("run generates every sample of a FLUX-dev job (flow_euler, guidance as an input, packed latents)", async () => {
    const spec = join(tmp, "flux.yaml");
    const out = join(tmp, "out-flux");
    await writeTwoPromptSpec(
      spec,
      join(FIXTURE_MODELS, "flux-dev"),
      out,
      11,
      "steps: 2, guidance_scale: 3.5, scheduler: flow_euler, width: 64, height: 32",
    );
    await expectEverySampleRun(spec, out, [64, 32], "flux-dev");
  });
});
