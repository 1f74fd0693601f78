/**
 * The flow-matching transformer families (sd3, flux) on the conformance fixtures (scripts/make-model-fixtures.py):
 * tiny random-weight SD3 (with and without T5) and FLUX schnell / dev folders with Optimum's transformer I/O,
 * against the conditioning and first-step transformer outputs the script computed in torch.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleRequest } from "../../src/common/contract/sample.js";
import { parseDevice, sessionOptions } from "../../src/engine/device.js";
import { folderSessions } from "../../src/engine/families/index.js";
import { checkModelFolder, formatModelReport } from "../../src/engine/model-check.js";
import { readModelFolder } from "../../src/engine/model-folder.js";
import { OnnxModel } from "../../src/engine/onnx-model.js";
import { DiffusionPipeline } from "../../src/engine/pipeline.js";
import { latentImageIds, packLatents, unpackLatents } from "../../src/engine/transformer.js";
import { VaeDecoderModel } from "../../src/engine/vae-decoder.js";
import { assembleFolderParts, maxAbsDiff, sampleRequest, worstError } from "../helpers/engine-fixtures.js";
import { FIXTURE_MODELS } from "../helpers/paths.js";

const cpu = parseDevice("cpu");
const dims = (d: number[]) => d as unknown as [number, number, number, number];

interface Reference {
  texts: string[];
  clip_length: number;
  t5_length: number;
  joint_width: number;
  size: number;
  latent: number[];
  latent_dims: number[];
  sd3: {
    input_ids: number[][];
    input_ids_2: number[][];
    input_ids_3: number[][];
    hidden: number[][];
    hidden_no_t5: number[][];
    pooled: number[][];
    guidance_scale: number;
    timestep: number;
    out: Record<string, number[]>;
    vae_rows: number[];
  };
  flux: {
    input_ids: number[][];
    input_ids_2: number[][];
    hidden: number[][];
    pooled: number[][];
    packed: number[];
    img_ids: number[][];
    txt_ids_shape: number[];
    timestep: number;
    guidance: number;
    out: Record<string, number[]>;
    vae_rows: number[];
  };
}

// float32 graphs in ONNX Runtime and torch differ by summation order (~1e-6) and the reference keeps 6
// significant digits; a wrong layer, order, padding or input scale moves values by O(0.1) or more.
const TOL = 1e-4;

const assemble = (name: string) => assembleFolderParts(join(FIXTURE_MODELS, name), cpu);
const request = (over: Partial<SampleRequest> = {}): SampleRequest =>
  sampleRequest({ scheduler: "flow_euler", ...over });

let ref: Reference;
beforeAll(async () => {
  ref = JSON.parse(await readFile(join(FIXTURE_MODELS, "flow-reference.json"), "utf8")) as Reference;
});

describe("SD3 conditioning and first step match the torch reference", () => {
  for (const variant of ["sd3", "sd3-no-t5"] as const) {
    it(`${variant}: CLIP-L + CLIP-G penultimate states padded to the joint width, then ${variant === "sd3" ? "T5" : "zeros"}; pooled both text_embeds; CFG transformer output`, async () => {
      const { parts, release } = await assemble(variant);
      try {
        const c = parts.conditioner;
        const encoded = await c.encode(ref.texts);
        const t5Len = variant === "sd3" ? ref.t5_length : ref.clip_length;
        expect(c.sequenceLength).toBe(ref.clip_length + t5Len);
        expect(c.width).toBe(ref.joint_width);
        expect(c.zeroEmptyNegative).toBe(false);
        const hidden = variant === "sd3" ? ref.sd3.hidden : ref.sd3.hidden_no_t5;
        for (const [i, text] of ref.texts.entries()) {
          expect(worstError(encoded.embeddings[i].hidden, hidden[i]), `${text} hidden`).toBeLessThan(TOL);
          expect(worstError(encoded.embeddings[i].pooled!, ref.sd3.pooled[i]), `${text} pooled`).toBeLessThan(
            TOL,
          );
        }
        if (variant === "sd3-no-t5") {
          // The T5 half is exactly zero, as diffusers' torch.zeros.
          const tail = encoded.embeddings[0].hidden.subarray(ref.clip_length * ref.joint_width);
          expect(tail.every((v) => v === 0)).toBe(true);
        }
        // First step with CFG: rows [negative, prompt], the same latent twice, timestep σ·1000 = 1000.
        const [prompt, negative] = encoded.embeddings;
        const rows = [negative, prompt];
        const size = ref.latent.length;
        const x = new Float32Array(2 * size);
        x.set(ref.latent, 0);
        x.set(ref.latent, size);
        const ctx = new Float32Array(2 * c.sequenceLength * c.width);
        ctx.set(negative.hidden, 0);
        ctx.set(prompt.hidden, c.sequenceLength * c.width);
        const extras = parts.denoiserExtras({
          rows,
          requests: [request()],
          width: ref.size,
          height: ref.size,
        });
        expect(extras.pooled_projections.dims).toEqual([2, ref.sd3.pooled[0].length]);
        // SD3's transformer takes plain NCHW latents: no layout of its own.
        expect(parts.denoiser.layout).toBeUndefined();
        const out = await parts.denoiser.predict(
          x,
          dims([2, ...ref.latent_dims.slice(1)]),
          ref.sd3.timestep,
          ctx,
          [2, c.sequenceLength, c.width],
          extras,
        );
        expect(worstError(out, ref.sd3.out[variant])).toBeLessThan(TOL);
      } finally {
        await release();
      }
    });
  }
});

describe("FLUX packing, ids, conditioning and first step match the torch reference", () => {
  it("_pack_latents, _unpack_latents and _prepare_latent_image_ids", () => {
    const d = dims(ref.latent_dims);
    const packed = packLatents(Float32Array.from(ref.latent), d);
    expect(worstError(packed, ref.flux.packed)).toBeLessThan(1e-6);
    expect(Array.from(unpackLatents(packed, d))).toEqual(Array.from(Float32Array.from(ref.latent)));
    const ids = latentImageIds(d[2], d[3]);
    expect(ids.dims).toEqual([ref.flux.img_ids.length, 3]);
    expect(Array.from(ids.data)).toEqual(ref.flux.img_ids.flat());
  });

  for (const variant of ["flux-schnell", "flux-dev"] as const) {
    it(`${variant}: CLIP pooled + T5 states; transformer output for σ = 1 (timestep / 1000)${variant === "flux-dev" ? " and guidance" : ""}`, async () => {
      const { parts, release } = await assemble(variant);
      try {
        const c = parts.conditioner;
        const encoded = await c.encode(ref.texts);
        expect(c.sequenceLength).toBe(ref.t5_length);
        expect(c.width).toBe(ref.joint_width);
        for (const [i, text] of ref.texts.entries()) {
          expect(worstError(encoded.embeddings[i].hidden, ref.flux.hidden[i]), `${text} hidden`).toBeLessThan(
            TOL,
          );
          expect(
            worstError(encoded.embeddings[i].pooled!, ref.flux.pooled[i]),
            `${text} pooled`,
          ).toBeLessThan(TOL);
        }
        expect(parts.denoiser.guidanceDistilled).toBe(true);
        const rows = [encoded.embeddings[0]];
        const extras = parts.denoiserExtras({
          rows,
          requests: [request({ guidanceScale: ref.flux.guidance })],
          width: ref.size,
          height: ref.size,
        });
        expect(extras.txt_ids.dims).toEqual(ref.flux.txt_ids_shape);
        expect(extras.txt_ids.data.every((v) => v === 0)).toBe(true);
        expect("guidance" in extras).toBe(variant === "flux-dev");
        // The sampling loop keeps FLUX's latents packed: the denoiser's layout is diffusers' packing.
        const layout = parts.denoiser.layout;
        expect(layout).toBeDefined();
        const packed = layout!.toModel(Float32Array.from(ref.latent), dims(ref.latent_dims));
        expect(worstError(packed, ref.flux.packed)).toBeLessThan(1e-6);
        // The scheduler's first timestep is σ·1000 = 1000; the transformer must see σ = 1.
        const out = await parts.denoiser.predict(
          packed,
          dims(ref.latent_dims),
          ref.flux.timestep * 1000,
          rows[0].hidden,
          [1, c.sequenceLength, c.width],
          extras,
        );
        expect(worstError(out, ref.flux.out[variant])).toBeLessThan(TOL);
      } finally {
        await release();
      }
    });
  }
});

describe("the VAE decodes latents / scaling_factor + shift_factor", () => {
  for (const [name, key] of [
    ["sd3", "sd3"],
    ["flux-dev", "flux"],
  ] as const) {
    it(`${name}: the folder's shift factor is read and applied as diffusers does`, async () => {
      const folder = await readModelFolder(join(FIXTURE_MODELS, name));
      expect(folder.vaeShiftFactor).toBe(key === "sd3" ? 0.0609 : 0.1159);
      const model = await OnnxModel.load(
        join(folder.dir, "vae_decoder", "model.onnx"),
        sessionOptions(cpu, {}),
      );
      try {
        const d = dims(ref.latent_dims);
        const pixels = await new VaeDecoderModel(model).decodeScaled(
          Float32Array.from(ref.latent),
          d,
          folder.vaeScalingFactor,
          folder.vaeShiftFactor,
        );
        // The reference keeps the first 8 pixel rows of each channel.
        const side = ref.size;
        const rows = new Float32Array(3 * 8 * side);
        for (let c = 0; c < 3; c++)
          rows.set(pixels.subarray(c * side * side, c * side * side + 8 * side), c * 8 * side);
        expect(worstError(rows, ref[key].vae_rows)).toBeLessThan(TOL);
      } finally {
        await model.release();
      }
    });
  }
});

it("a bfloat16 export is refused with what to do (ONNX Runtime for Node has no bfloat16 tensors)", async () => {
  await expect(
    OnnxModel.load(join(FIXTURE_MODELS, "bf16-io", "transformer.onnx"), sessionOptions(cpu, {})),
  ).rejects.toMatchObject({
    code: "MODEL_INVALID",
    message: expect.stringMatching(/bfloat16 .*export in float16 or float32/),
  });
});

describe("an SD3 folder that lists text_encoder_3 needs its files", () => {
  it("names each missing file (MODEL_INVALID); listed as [null, null] it is not loaded", async () => {
    const dir = await mkdtemp(join(tmpdir(), "lf-sd3-"));
    try {
      await cp(join(FIXTURE_MODELS, "sd3"), dir, { recursive: true });
      await rm(join(dir, "text_encoder_3"), { recursive: true });
      await rm(join(dir, "tokenizer_3"), { recursive: true });
      await expect(readModelFolder(dir)).rejects.toMatchObject({
        code: "MODEL_INVALID",
        message: expect.stringMatching(
          /text_encoder_3\/model\.onnx, tokenizer_3\/tokenizer\.json are missing/,
        ),
      });
      const index = JSON.parse(await readFile(join(dir, "model_index.json"), "utf8")) as Record<
        string,
        unknown
      >;
      await writeFile(
        join(dir, "model_index.json"),
        JSON.stringify({ ...index, text_encoder_3: [null, null], tokenizer_3: [null, null] }),
      );
      const folder = await readModelFolder(dir);
      expect(folderSessions(folder)).not.toContain("text_encoder_3");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("flow fixtures generate images", () => {
  const pipelines = new Map<string, DiffusionPipeline>();
  beforeAll(async () => {
    for (const n of ["sd3", "sd3-no-t5", "flux-schnell", "flux-dev"]) {
      pipelines.set(n, await DiffusionPipeline.load(join(FIXTURE_MODELS, n), cpu));
    }
  });
  afterAll(async () => {
    for (const p of pipelines.values()) await p.release();
  });

  for (const [name, family] of [
    ["sd3", "sd3"],
    ["sd3-no-t5", "sd3"],
    ["flux-schnell", "flux"],
    ["flux-dev", "flux"],
  ] as const) {
    it(`${name}: 16-channel latents, flow Euler, the same image alone and inside a batch of 8 (within 1/255)`, async () => {
      const p = pipelines.get(name)!;
      expect(p.describe()).toMatchObject({
        family,
        latentChannels: 16,
        defaultScheduler: "flow_euler",
        vaeScale: 8,
      });
      const batch = Array.from({ length: 8 }, (_, i) =>
        request({
          seed: 100 + i,
          prompt: i % 2 ? "a blue square on a black background" : "a red circle on a white background",
        }),
      );
      const together = await p.generate(batch);
      for (const i of [0, 5]) {
        const alone = await p.generate([batch[i]]);
        expect(maxAbsDiff(alone.samples[0].rgb, together.samples[i].rgb)).toBeLessThanOrEqual(1);
      }
      // Different seeds are different images (the noise reaches the image).
      expect(maxAbsDiff(together.samples[0].rgb, together.samples[2].rgb)).toBeGreaterThan(10);
    });
  }

  it("SD3 runs CFG (guidance changes the image); FLUX-dev feeds guidance without a CFG batch; schnell ignores it", async () => {
    const sd3 = pipelines.get("sd3")!;
    expect(sd3.usesCfg(request())).toBe(true);
    const g1 = (await sd3.generate([request({ guidanceScale: 1 })])).samples[0].rgb;
    const g4 = (await sd3.generate([request({ guidanceScale: 4 })])).samples[0].rgb;
    expect(maxAbsDiff(g1, g4)).toBeGreaterThan(0);
    const dev = pipelines.get("flux-dev")!;
    const schnell = pipelines.get("flux-schnell")!;
    expect(dev.usesCfg(request())).toBe(false);
    expect(schnell.usesCfg(request())).toBe(false);
    const d1 = (await dev.generate([request({ guidanceScale: 1 })])).samples[0].rgb;
    const d4 = (await dev.generate([request({ guidanceScale: 4 })])).samples[0].rgb;
    expect(maxAbsDiff(d1, d4)).toBeGreaterThan(0);
    const s1 = (await schnell.generate([request({ guidanceScale: 1 })])).samples[0].rgb;
    const s4 = (await schnell.generate([request({ guidanceScale: 4 })])).samples[0].rgb;
    expect(maxAbsDiff(s1, s4)).toBe(0);
  });

  // One text's embedding in the sd3 fixture: 77 + 32 positions x 48 float32 states, plus 40 pooled.
  const sd3EmbeddingBytes = ((77 + 32) * 48 + 40) * 4;
  for (const [bound, size, bytes] of [
    ["4 texts", 4, undefined],
    ["the bytes of 4 texts", 1024, 4 * sd3EmbeddingBytes + 100],
  ] as const) {
    it(`SD3: the negative prompt every batch shares stays usable while new prompts push older texts out of a cache of ${bound}`, async () => {
      // Each batch of 3 new prompts evicts older entries while the batch still needs "".
      const small = await DiffusionPipeline.load(join(FIXTURE_MODELS, "sd3"), cpu, {}, size, bytes);
      try {
        const batchOf = (from: number) =>
          Array.from({ length: 3 }, (_, i) =>
            request({ steps: 1, seed: i, prompt: `a red circle ${from + i}` }),
          );
        for (let b = 0; b < 3; b++) expect((await small.generate(batchOf(b * 3))).samples).toHaveLength(3);
        const last = await small.generate(batchOf(9));
        const alone = await pipelines.get("sd3")!.generate([batchOf(9)[2]]);
        expect(maxAbsDiff(alone.samples[0].rgb, last.samples[2].rgb)).toBeLessThanOrEqual(1);
      } finally {
        await small.release();
      }
    });
  }

  it("width and height must be multiples of 16 (2x2 latent patches)", async () => {
    await expect(pipelines.get("flux-dev")!.generate([request({ width: 72 })])).rejects.toThrow(
      /multiples of 16/,
    );
  });
});

describe("model check reports the flow families", () => {
  it("sd3 with T5: transformer, three text encoders, static shift, shift factor; sd3 without T5 says so", async () => {
    const r = await checkModelFolder(join(FIXTURE_MODELS, "sd3"));
    expect(r.family).toBe("sd3");
    expect(r.flow).toMatchObject({ shift: "static shift 3", vaeShiftFactor: 0.0609 });
    expect(r.flow?.textEncoders).toMatch(/T5 \(32 tokens\)/);
    expect(r.conditioning).toMatchObject({ sequenceLength: 77 + 32, width: 48, pooledWidth: 40 });
    expect(formatModelReport(r)).toMatch(/denoiser +transformer \(SD3Transformer2DModel\)/);
    const noT5 = await checkModelFolder(join(FIXTURE_MODELS, "sd3-no-t5"));
    expect(noT5.flow?.textEncoders).toMatch(/no T5/);
    expect(noT5.components.map((c) => c.name)).not.toContain("text_encoder_3");
  });

  it("flux-dev: dynamic shift, packing, guidance input; flux-schnell: static shift 1", async () => {
    const dev = await checkModelFolder(join(FIXTURE_MODELS, "flux-dev"));
    expect(dev.family).toBe("flux");
    expect(dev.flow?.shift).toMatch(/^dynamic shift/);
    expect(dev.flow?.packing).toMatch(/2x2/);
    expect(dev.flow?.denoiser).toMatch(/guidance input/);
    const text = formatModelReport(dev);
    expect(text).toMatch(/packing +2x2/);
    expect(text).toMatch(/in {2}guidance float32 \[batch_size\]/);
    // FLUX's transformer config has no sample_size: FluxPipeline's default 1024 (128 latents).
    expect(dev.nativeSize).toBe(1024);
    const schnell = await checkModelFolder(join(FIXTURE_MODELS, "flux-schnell"));
    expect(schnell.flow?.shift).toBe("static shift 1");
    expect(schnell.flow?.denoiser).toMatch(/no guidance input/);
  });
});
