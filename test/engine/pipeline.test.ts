import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleRequest } from "../../src/common/contract/sample.js";
import { parseDevice } from "../../src/engine/device.js";
import { DiffusionPipeline } from "../../src/engine/pipeline.js";
import { encodePng } from "../../src/engine/png.js";
import { maxAbsDiff, meanAbsDiff, sampleRequest } from "../helpers/engine-fixtures.js";
import { FIXTURE_MODELS, TINY_SHAPES } from "../helpers/paths.js";

const cpu = parseDevice("cpu");
const request = (over: Partial<SampleRequest> = {}): SampleRequest => sampleRequest({ steps: 8, ...over });

describe("the sampling pipeline on the bundled model", () => {
  let pipe: DiffusionPipeline;
  beforeAll(async () => {
    pipe = await DiffusionPipeline.load(TINY_SHAPES, cpu);
  });
  afterAll(async () => {
    await pipe.release();
  });

  it("describes the model from its files", () => {
    const d = pipe.describe();
    expect(d).toMatchObject({
      name: "tiny-shapes",
      vaeScale: 8,
      nativeSize: 64,
      latentChannels: 4,
      guidanceDistilled: false,
    });
  });

  it("gives byte-identical PNGs for the same seed", async () => {
    const a = await pipe.generate([request({ seed: 123 })]);
    const b = await pipe.generate([request({ seed: 123 })]);
    const pa = encodePng(a.samples[0].rgb, 64, 64);
    const pb = encodePng(b.samples[0].rgb, 64, 64);
    expect(pa.equals(pb)).toBe(true);
    const c = await pipe.generate([request({ seed: 124 })]);
    expect(meanAbsDiff(a.samples[0].rgb, c.samples[0].rgb)).toBeGreaterThan(1);
  });

  it("gives the same image alone and inside a batch of 8 (within 1/255 per pixel)", async () => {
    for (const scheduler of ["euler", "euler_ancestral", "dpmpp_2m"] as const) {
      const prompts = [
        "a blue square on a black background",
        "a green triangle on a gray background",
        "a red circle on a white background",
      ];
      const batch = Array.from({ length: 8 }, (_, i) =>
        request({ scheduler, seed: 1000 + i, prompt: prompts[i % 3], guidanceScale: 2 + i * 0.5 }),
      );
      const together = await pipe.generate(batch);
      for (const i of [0, 5]) {
        const alone = await pipe.generate([batch[i]]);
        expect(
          maxAbsDiff(alone.samples[0].rgb, together.samples[i].rgb),
          `${scheduler} sample ${i}`,
        ).toBeLessThanOrEqual(1);
      }
    }
  });

  it("reports per-stage timings, one entry per step", async () => {
    const r = await pipe.generate([request({ steps: 5 })]);
    expect(r.timings.stepMs).toHaveLength(5);
    expect(r.timings.vaeMs).toBeGreaterThan(0);
  });

  it("warns when a prompt is truncated to 77 tokens", async () => {
    const long = Array.from({ length: 100 }, () => "red").join(" ");
    const r = await pipe.generate([request({ prompt: long, steps: 1 })]);
    expect(r.samples[0].warnings.join()).toMatch(/truncated to 77 tokens \(25 dropped\)/);
  });

  it("rejects a size that is not a multiple of 8, an unknown scheduler and a bad seed", async () => {
    await expect(pipe.generate([request({ width: 60 })])).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: "width must be a multiple of 8, got 60",
    });
    await expect(pipe.generate([request({ scheduler: "plms" as never })])).rejects.toMatchObject({
      code: "SCHEDULER_UNKNOWN",
    });
    await expect(pipe.generate([request({ seed: -3 })])).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });

  it("refuses to mix batch keys in one batch", async () => {
    await expect(pipe.generate([request(), request({ steps: 3 })])).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });
});

describe("exports with other I/O conventions load unchanged", () => {
  // Same random weights, exported with int32/int64 ids, float [B] / int64 [B] / scalar timesteps, float16 I/O.
  const ddim = request({ scheduler: "ddim", steps: 4, guidanceScale: 3, seed: 5 });
  let reference: Uint8Array;

  beforeAll(async () => {
    const p = await DiffusionPipeline.load(join(FIXTURE_MODELS, "reference"), cpu);
    reference = (await p.generate([ddim])).samples[0].rgb;
    await p.release();
  });

  for (const variant of ["int64", "scalar-timestep"]) {
    it(`${variant} gives the reference image`, async () => {
      const p = await DiffusionPipeline.load(join(FIXTURE_MODELS, variant), cpu);
      const img = (await p.generate([ddim])).samples[0].rgb;
      await p.release();
      expect(maxAbsDiff(img, reference)).toBeLessThanOrEqual(1);
    });
  }

  it("float16 inputs and outputs give the reference image within half precision", async () => {
    const p = await DiffusionPipeline.load(join(FIXTURE_MODELS, "fp16-io"), cpu);
    const img = (await p.generate([ddim])).samples[0].rgb;
    await p.release();
    expect(meanAbsDiff(img, reference)).toBeLessThan(2);
  });

  it("an LCM UNet gets timestep_cond and no CFG doubling", async () => {
    const p = await DiffusionPipeline.load(join(FIXTURE_MODELS, "lcm"), cpu);
    expect(p.describe()).toMatchObject({ guidanceDistilled: true, defaultScheduler: "lcm" });
    const lcm = request({ scheduler: "lcm", steps: 4, guidanceScale: 8 });
    expect(p.usesCfg(lcm)).toBe(false);
    const a = (await p.generate([lcm])).samples[0].rgb;
    const b = (await p.generate([{ ...lcm, guidanceScale: 2 }])).samples[0].rgb;
    await p.release();
    expect(meanAbsDiff(a, b)).toBeGreaterThan(0.01);
  });
});
