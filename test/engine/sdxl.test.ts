/**
 * The SDXL family on the conformance fixtures (scripts/make-model-fixtures.py): tiny random-weight folders
 * with Optimum's SDXL names, dtypes and axes, and the conditioning the script computed in torch.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseDevice } from "../../src/engine/device.js";
import { DiffusionPipeline } from "../../src/engine/pipeline.js";
import { ClipTokenizer } from "../../src/engine/tokenizer/index.js";
import {
  assembleFolderParts,
  maxAbsDiff,
  meanAbsDiff,
  sampleRequest,
  worstError,
} from "../helpers/engine-fixtures.js";
import { FIXTURE_MODELS } from "../helpers/paths.js";

const cpu = parseDevice("cpu");
const SDXL = join(FIXTURE_MODELS, "sdxl");
const request = sampleRequest;
const assembleParts = (dir: string) => assembleFolderParts(dir, cpu);

interface ReferenceText {
  text: string;
  input_ids: number[];
  input_ids_2: number[];
  hidden: number[];
  pooled: number[];
}
interface Reference {
  sequence_length: number;
  width: number;
  pooled_width: number;
  height: number;
  width_px: number;
  time_ids: number[];
  texts: ReferenceText[];
}

describe("SDXL conditioning matches the torch reference", () => {
  let ref: Reference;
  beforeAll(async () => {
    ref = JSON.parse(await readFile(join(FIXTURE_MODELS, "sdxl-reference.json"), "utf8")) as Reference;
  });

  it("both tokenizers give the reference ids (tokenizer_2 pads with its own pad token, '!' = id 0)", async () => {
    const tok1 = await ClipTokenizer.fromFolder(join(SDXL, "tokenizer"));
    const tok2 = await ClipTokenizer.fromFolder(join(SDXL, "tokenizer_2"));
    expect(tok2.padId).toBe(0);
    expect(tok1.padId).not.toBe(0);
    for (const t of ref.texts) {
      expect(Array.from(tok1.encode(t.text).ids)).toEqual(t.input_ids);
      expect(Array.from(tok2.encode(t.text).ids)).toEqual(t.input_ids_2);
    }
  });

  // float32 exports: ONNX Runtime and torch run the same float32 graph with different kernels (summation
  // order), which moves layer-normed values of magnitude ~1 by ~1e-6; the reference is stored to 6
  // significant digits (5e-7 relative). 1e-4 leaves room for both and still catches any wrong layer,
  // order or concatenation (those move values by O(1)). float16 I/O rounds each output to 11 bits
  // (4.9e-4 relative), so 2e-3 there.
  for (const [variant, tolerance] of [
    ["sdxl", 1e-4],
    ["sdxl-fp16", 2e-3],
  ] as const) {
    it(`${variant}: penultimate states of both encoders concatenated, pooled text_embeds, time_ids`, async () => {
      const { parts, release } = await assembleParts(join(FIXTURE_MODELS, variant));
      try {
        const encoded = await parts.conditioner.encode(ref.texts.map((t) => t.text));
        expect(parts.conditioner.sequenceLength).toBe(ref.sequence_length);
        expect(parts.conditioner.width).toBe(ref.width);
        expect(parts.conditioner.pooledWidth).toBe(ref.pooled_width);
        expect(parts.conditioner.zeroEmptyNegative).toBe(true);
        for (const [i, t] of ref.texts.entries()) {
          expect(worstError(encoded.embeddings[i].hidden, t.hidden), `${t.text} hidden`).toBeLessThan(
            tolerance,
          );
          expect(worstError(encoded.embeddings[i].pooled ?? [], t.pooled), `${t.text} pooled`).toBeLessThan(
            tolerance,
          );
        }
        // Two texts that differ give different conditioning (the comparison above is not vacuous).
        expect(worstError(encoded.embeddings[0].hidden, ref.texts[1].hidden)).toBeGreaterThan(0.01);
        const requests = [request({ width: ref.width_px, height: ref.height })];
        const extras = parts.denoiserExtras({
          rows: [encoded.embeddings[2], encoded.embeddings[0]],
          requests,
          width: ref.width_px,
          height: ref.height,
        });
        expect(extras.time_ids.dims).toEqual([2, 6]);
        expect(Array.from(extras.time_ids.data)).toEqual([...ref.time_ids, ...ref.time_ids]);
        expect(extras.text_embeds.dims).toEqual([2, ref.pooled_width]);
        expect(
          worstError(extras.text_embeds.data.subarray(ref.pooled_width), ref.texts[0].pooled),
        ).toBeLessThan(tolerance);
        expect(
          worstError(extras.text_embeds.data.subarray(0, ref.pooled_width), ref.texts[2].pooled),
        ).toBeLessThan(tolerance);
      } finally {
        await release();
      }
    });
  }
});

describe("SDXL fixtures generate images", () => {
  let sdxl: DiffusionPipeline;
  beforeAll(async () => {
    sdxl = await DiffusionPipeline.load(SDXL, cpu);
  });
  afterAll(async () => {
    await sdxl.release();
  });

  it("describes the model: family, native size from the UNet config, SDXL's VAE scale", async () => {
    expect(sdxl.describe()).toMatchObject({ family: "sdxl", nativeSize: 64, vaeScale: 8, latentChannels: 4 });
    expect(sdxl.folder.vaeScalingFactor).toBe(0.13025);
    expect(sdxl.folder.forceZerosForEmptyPrompt).toBe(true);
  });

  it("gives the same image alone and inside a batch of 8 (within 1/255 per pixel)", async () => {
    const prompts = ["a blue square on a black background", "a red circle on a white background"];
    const batch = Array.from({ length: 8 }, (_, i) =>
      request({
        seed: 300 + i,
        prompt: prompts[i % 2],
        // Empty negatives (zeros) and a written one in the same batch.
        negativePrompt: i % 3 === 0 ? "a green triangle on a gray background" : "",
        guidanceScale: 2 + i * 0.5,
      }),
    );
    const together = await sdxl.generate(batch);
    for (const i of [0, 5]) {
      const alone = await sdxl.generate([batch[i]]);
      expect(maxAbsDiff(alone.samples[0].rgb, together.samples[i].rgb), `sample ${i}`).toBeLessThanOrEqual(1);
    }
    expect(meanAbsDiff(together.samples[0].rgb, together.samples[1].rgb)).toBeGreaterThan(1);
  });

  it("the empty negative prompt is zeros, not the encoded empty text", async () => {
    // With force_zeros_for_empty_prompt off, "" is encoded like any text: the image changes.
    const tmp = await mkdtemp(join(tmpdir(), "lf-sdxl-"));
    try {
      const dir = join(tmp, "sdxl-no-zeros");
      await cp(SDXL, dir, { recursive: true });
      const index = JSON.parse(await readFile(join(dir, "model_index.json"), "utf8")) as Record<
        string,
        unknown
      >;
      await writeFile(
        join(dir, "model_index.json"),
        JSON.stringify({ ...index, force_zeros_for_empty_prompt: false }),
      );
      const p = await DiffusionPipeline.load(dir, cpu);
      const encoded = (await p.generate([request({ seed: 9 })])).samples[0].rgb;
      await p.release();
      const zeros = (await sdxl.generate([request({ seed: 9 })])).samples[0].rgb;
      expect(meanAbsDiff(encoded, zeros)).toBeGreaterThan(0.5);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("the int32/float16 export gives the float32 image within half precision", async () => {
    const p = await DiffusionPipeline.load(join(FIXTURE_MODELS, "sdxl-fp16"), cpu);
    const half = (await p.generate([request({ seed: 4 })])).samples[0].rgb;
    await p.release();
    const full = (await sdxl.generate([request({ seed: 4 })])).samples[0].rgb;
    expect(meanAbsDiff(half, full)).toBeLessThan(2);
  });

  it("SDXL-Turbo (external-data UNet, trailing EulerAncestral) runs 1 step at guidance 0 without a CFG batch", async () => {
    const p = await DiffusionPipeline.load(join(FIXTURE_MODELS, "sdxl-turbo"), cpu);
    expect(p.describe()).toMatchObject({ family: "sdxl", defaultScheduler: "euler_ancestral" });
    const turbo = request({ scheduler: "euler_ancestral", steps: 1, guidanceScale: 0, seed: 11 });
    expect(p.usesCfg(turbo)).toBe(false);
    const img = (await p.generate([turbo])).samples[0].rgb;
    await p.release();
    // Same weights as the sdxl folder: given Turbo's scheduler config, the sdxl folder (weights inside
    // model.onnx) draws the same image, so the external-data file was read whole.
    const tmp = await mkdtemp(join(tmpdir(), "lf-sdxl-"));
    try {
      const dir = join(tmp, "sdxl-trailing");
      await cp(SDXL, dir, { recursive: true });
      await cp(join(FIXTURE_MODELS, "sdxl-turbo", "scheduler"), join(dir, "scheduler"), { recursive: true });
      const q = await DiffusionPipeline.load(dir, cpu);
      const same = (await q.generate([turbo])).samples[0].rgb;
      await q.release();
      expect(maxAbsDiff(img, same)).toBeLessThanOrEqual(1);
      // ...and the trailing spacing matters: the sdxl folder's own (leading) schedule gives another image.
      const leading = (await sdxl.generate([turbo])).samples[0].rgb;
      expect(meanAbsDiff(img, leading)).toBeGreaterThan(1);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

describe("wrong SDXL folders get one line saying what is wrong", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-sdxl-bad-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function copyOf(name: string): Promise<string> {
    const dir = join(tmp, name);
    await cp(SDXL, dir, { recursive: true });
    return dir;
  }

  async function loadError(dir: string): Promise<{ code: string; message: string }> {
    const err = await DiffusionPipeline.load(dir, cpu).then(
      async (p) => {
        await p.release();
        throw new Error("expected the load to fail");
      },
      (e: unknown) => e as { code: string; message: string },
    );
    expect(err.message).not.toContain("\n");
    return err;
  }

  it("missing text_encoder_2", async () => {
    const dir = await copyOf("no-te2");
    await rm(join(dir, "text_encoder_2"), { recursive: true });
    const err = await loadError(dir);
    expect(err.code).toBe("MODEL_INVALID");
    expect(err.message).toContain("text_encoder_2/model.onnx is missing");
    expect(err.message).toContain("XL");
  });

  it("a UNet without time_ids and text_embeds", async () => {
    const dir = await copyOf("sd-unet");
    await cp(join(FIXTURE_MODELS, "reference", "unet", "model.onnx"), join(dir, "unet", "model.onnx"));
    await rm(join(dir, "unet", "model.onnx_data"), { force: true });
    const err = await loadError(dir);
    expect(err.code).toBe("MODEL_INVALID");
    expect(err.message).toMatch(/lacks text_embeds and time_ids/);
  });

  it("a refiner (img2img, aesthetic score)", async () => {
    const dir = await copyOf("refiner");
    const index = JSON.parse(await readFile(join(dir, "model_index.json"), "utf8")) as Record<
      string,
      unknown
    >;
    await writeFile(
      join(dir, "model_index.json"),
      JSON.stringify({
        ...index,
        _class_name: "ORTStableDiffusionXLImg2ImgPipeline",
        requires_aesthetics_score: true,
        text_encoder: [null, null],
        tokenizer: [null, null],
      }),
    );
    const err = await loadError(dir);
    expect(err.code).toBe("MODEL_INVALID");
    expect(err.message).toMatch(/refiner/);
    expect(err.message).toMatch(/text only/);
  });

  it("a folder no family claims names what it found and what each family needs", async () => {
    const dir = await copyOf("transformer");
    await writeFile(
      join(dir, "model_index.json"),
      JSON.stringify({
        // A transformer pipeline of no supported family (SD3 and FLUX have theirs: test/engine/flow.test.ts).
        _class_name: "PixArtSigmaPipeline",
        transformer: ["diffusers", "PixArtTransformer2DModel"],
        text_encoder_3: ["transformers", "T5EncoderModel"],
        vae_decoder: ["diffusers", "AutoencoderKL"],
      }),
    );
    const err = await loadError(dir);
    expect(err.message).toContain("PixArtSigmaPipeline, transformer, text_encoder_3, vae_decoder");
    expect(err.message).toContain("sdxl needs text_encoder, text_encoder_2, unet, vae_decoder");
    expect(err.message).toContain("sd3 needs text_encoder, text_encoder_2, transformer, vae_decoder");
  });
});
