/**
 * The sampling pipeline: condition on the text (the model family's conditioner), run the scheduler loop
 * over the UNet (classifier-free guidance as one 2B batch; the family supplies any extra UNet inputs),
 * decode with the VAE. One call handles one batch of samples that share a batch key; every sample draws
 * its noise from its own seeded stream, so its image does not depend on what else is in the batch.
 */
import { performance } from "node:perf_hooks";
import { type SampleRequest, validateSampleRequest } from "../common/contract/sample.js";
import type { SchedulerName } from "../common/contract/schedulers.js";
import { LatentFleetError } from "../common/errors.js";
import { batchKey } from "./batch-key.js";
import type { Device, SessionTuning } from "./device.js";
import type { DenoiserRows, ExtraInput, FamilyParts, TextEmbedding } from "./families/types.js";
import { type ModelFolder, readModelFolder } from "./model-folder.js";
import type { OnnxModel } from "./onnx-model.js";
import { SampleRandom } from "./random.js";
import { createScheduler, defaultSchedulerName } from "./schedulers/index.js";
import { loadFamilySessions, releaseSessions } from "./sessions.js";
import { TEXT_CACHE_BYTES, TEXT_CACHE_SIZE, TextEmbeddingCache } from "./text-embedding-cache.js";
import { NAN_PIXELS_WARNING, splitImages, toRgbImages, VaeDecoderModel } from "./vae-decoder.js";

export interface StageTimings {
  tokenizeMs: number;
  textEncoderMs: number;
  /** One entry per denoising step (UNet plus scheduler). */
  stepMs: number[];
  vaeMs: number;
}

interface SampleImage {
  width: number;
  height: number;
  /** Non-fatal notes, e.g. a prompt truncated to the tokenizer's 77 positions. */
  warnings: string[];
}

/** An image as packed 8-bit RGB (HWC). */
export interface GeneratedSample extends SampleImage {
  rgb: Uint8Array;
}

/**
 * An image as the VAE decoded it: planar RGB floats (CHW) in [-1, 1], its own buffer. toRgbImages makes
 * the bytes; a worker has its PNG threads do that, off the engine thread. Not checked for NaN: whoever
 * makes the bytes adds NAN_PIXELS_WARNING where toRgbImages finds one.
 */
export interface FloatSample extends SampleImage {
  pixels: Float32Array;
}

/**
 * How generate() hands over images: "rgb" converts them to bytes in the engine thread; "float" leaves them
 * as the VAE's floats. At 1024x1024 the conversion costs 10-20 ms of a core per image (bench/engine prints
 * it), spent on the engine thread while the device waits.
 */
export type PixelOutput = "rgb" | "float";

export interface BatchResult<S extends GeneratedSample | FloatSample = GeneratedSample> {
  samples: S[];
  timings: StageTimings;
}

export interface ModelDescription {
  name: string;
  /** The model family (sd, sdxl). */
  family: string;
  dir: string;
  defaultScheduler: SchedulerName;
  nativeSize: number | undefined;
  vaeScale: number;
  latentChannels: number;
  guidanceDistilled: boolean;
}

export { TEXT_CACHE_BYTES, TEXT_CACHE_SIZE };

export class DiffusionPipeline {
  private constructor(
    readonly folder: ModelFolder,
    private readonly parts: FamilyParts,
    private readonly vae: VaeDecoderModel,
    private readonly models: OnnxModel[],
    /** Text embeddings kept for later batches (the least recently used go first). */
    private readonly embeddingCache: TextEmbeddingCache,
  ) {}

  /**
   * `textCacheSize` and `textCacheBytes` bound the text-embedding cache: at most that many texts and that
   * many bytes of embeddings (hidden states plus pooled vectors) are kept.
   */
  static async load(
    modelDir: string,
    device: Device,
    tuning: SessionTuning = {},
    textCacheSize = TEXT_CACHE_SIZE,
    textCacheBytes = TEXT_CACHE_BYTES,
  ): Promise<DiffusionPipeline> {
    const cache = new TextEmbeddingCache(textCacheSize, textCacheBytes);
    const folder = await readModelFolder(modelDir);
    const sessions = await loadFamilySessions(folder, device, tuning);
    const models = [...sessions.values()];
    try {
      const parts = await folder.family.assemble(folder, sessions);
      const vae = new VaeDecoderModel(sessions.get("vae_decoder")!);
      // Scheduler config errors surface at load time, not on the first job.
      const side = 2 * folder.vaeScale;
      createScheduler(
        defaultSchedulerName(folder.schedulerConfig),
        folder.schedulerConfig,
        1,
        undefined,
        parts.flowSchedule?.(side, side),
      );
      return new DiffusionPipeline(folder, parts, vae, models, cache);
    } catch (err) {
      await releaseSessions(models);
      throw err;
    }
  }

  private get denoiser() {
    return this.parts.denoiser;
  }

  describe(): ModelDescription {
    return {
      name: this.folder.name,
      family: this.folder.family.name,
      dir: this.folder.dir,
      defaultScheduler: defaultSchedulerName(this.folder.schedulerConfig),
      nativeSize: this.folder.nativeSize,
      vaeScale: this.folder.vaeScale,
      latentChannels: this.denoiser.latentChannels,
      guidanceDistilled: this.denoiser.guidanceDistilled,
    };
  }

  /** CFG doubles the denoiser batch; it is off at guidance <= 1 and for guidance-distilled models (LCM, FLUX). */
  usesCfg(req: SampleRequest): boolean {
    return req.guidanceScale > 1 && !this.denoiser.guidanceDistilled;
  }

  batchKey(req: SampleRequest): string {
    return batchKey(req, (r) => this.usesCfg(r));
  }

  validate(req: SampleRequest): void {
    validateSampleRequest(req, this.folder.vaeScale);
  }

  generate(requests: SampleRequest[], output?: "rgb"): Promise<BatchResult>;
  generate(requests: SampleRequest[], output: "float"): Promise<BatchResult<FloatSample>>;
  generate(
    requests: SampleRequest[],
    output: PixelOutput,
  ): Promise<BatchResult<GeneratedSample | FloatSample>>;
  async generate(
    requests: SampleRequest[],
    output: PixelOutput = "rgb",
  ): Promise<BatchResult<GeneratedSample | FloatSample>> {
    if (requests.length === 0)
      return { samples: [], timings: { tokenizeMs: 0, textEncoderMs: 0, stepMs: [], vaeMs: 0 } };
    for (const r of requests) this.validate(r);
    const key = this.batchKey(requests[0]);
    if (requests.some((r) => this.batchKey(r) !== key)) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        "all samples of a batch must share size, steps, scheduler and guidance mode",
      );
    }
    const first = requests[0];
    const batch = requests.length;
    const cfg = this.usesCfg(first);
    const warnings = requests.map(() => [] as string[]);

    // Text: unique texts are encoded once and cached (negative prompts and repeated prompts are common).
    const conditioner = this.parts.conditioner;
    const texts = cfg
      ? [...requests.map((r) => r.negativePrompt), ...requests.map((r) => r.prompt)]
      : requests.map((r) => r.prompt);
    const isZeroNegative = (t: string, i: number) =>
      cfg && i < batch && t === "" && conditioner.zeroEmptyNegative;
    // This batch's cached embeddings are taken before any new one is remembered: remembering evicts the
    // least recently used entries (by count or by bytes), which may include one this batch needs (say the
    // negative prompt, TEXT_CACHE_SIZE prompts on). A hit moves the text to the back of the eviction order.
    const found = new Map<string, TextEmbedding>();
    for (const t of texts) {
      if (found.has(t)) continue;
      const hit = this.embeddingCache.get(t);
      if (hit) found.set(t, hit);
    }
    const pending = [...new Set(texts.filter((t, i) => !isZeroNegative(t, i) && !found.has(t)))];
    let tokenizeMs = 0;
    const t0 = performance.now();
    if (pending.length > 0) {
      const encoded = await conditioner.encode(pending);
      tokenizeMs = encoded.tokenizeMs;
      for (const [i, text] of pending.entries()) {
        found.set(text, encoded.embeddings[i]);
        this.embeddingCache.set(text, encoded.embeddings[i]);
        const dropped = encoded.dropped[i];
        if (dropped === 0) continue;
        requests.forEach((r, b) => {
          if (r.prompt === text || r.negativePrompt === text) {
            const kept = conditioner.promptTokens ?? conditioner.sequenceLength;
            warnings[b].push(`prompt truncated to ${kept} tokens (${dropped} dropped)`);
          }
        });
      }
    }
    const seq = conditioner.sequenceLength;
    const width = conditioner.width;
    const rowSize = seq * width;
    const zero: TextEmbedding = {
      hidden: new Float32Array(rowSize),
      pooled: conditioner.pooledWidth > 0 ? new Float32Array(conditioner.pooledWidth) : undefined,
    };
    const rows = texts.map((t, i) => (isZeroNegative(t, i) ? zero : found.get(t)!));
    const context = new Float32Array(texts.length * rowSize);
    for (const [i, r] of rows.entries()) context.set(r.hidden, i * rowSize);
    const textEncoderMs = performance.now() - t0 - tokenizeMs;

    // Latents: each sample's own stream gives its initial noise, then any ancestral noise in step order.
    const scheduler = createScheduler(
      first.scheduler,
      this.folder.schedulerConfig,
      first.steps,
      undefined,
      this.parts.flowSchedule?.(first.width, first.height),
    );
    const channels = this.denoiser.latentChannels;
    const h = first.height / this.folder.vaeScale;
    const w = first.width / this.folder.vaeScale;
    const size = channels * h * w;
    const streams = requests.map((r) => new SampleRandom(r.seed));
    const dims = [batch, channels, h, w] as const;
    const layout = this.denoiser.layout;
    // The latents stay in the denoiser's layout through the loop; the noise is drawn in NCHW per sample.
    const drawn = new Float32Array(batch * size);
    for (const [b, s] of streams.entries()) s.fillNormal(drawn, b * size, size, scheduler.initNoiseSigma);
    const latents = layout ? layout.toModel(drawn, dims) : drawn;

    const unetBatch = cfg ? 2 * batch : batch;
    const unetDims = [unetBatch, channels, h, w] as const;
    // Buffers reused by every step: a large array allocated per step costs more than the arithmetic in it.
    const unetInput = cfg ? new Float32Array(unetBatch * size) : undefined;
    const scaledInput = cfg ? undefined : new Float32Array(batch * size);
    const eps = cfg ? new Float32Array(batch * size) : undefined;
    let noise: Float32Array | undefined;
    const call: DenoiserRows = { rows, requests, width: first.width, height: first.height };
    const extras: Record<string, ExtraInput> = this.parts.denoiserExtras(call);
    const stepMs: number[] = [];
    for (let i = 0; i < scheduler.timesteps.length; i++) {
      const ts = performance.now();
      let input: Float32Array;
      if (unetInput) {
        const half = unetInput.subarray(0, batch * size);
        const scaled = scheduler.scaleModelInput(latents, i, half);
        if (scaled !== half) half.set(scaled);
        unetInput.copyWithin(batch * size, 0, batch * size);
        input = unetInput;
      } else {
        input = scheduler.scaleModelInput(latents, i, scaledInput);
      }
      const out = await this.denoiser.predict(
        input,
        unetDims,
        scheduler.timesteps[i],
        context,
        [unetBatch, seq, width],
        extras,
      );
      const prediction = eps ? applyGuidance(out, requests, size, eps) : out;
      let stepNoise: Float32Array | undefined;
      if (scheduler.needsNoise(i)) {
        noise ??= new Float32Array(batch * size);
        // Without a layout `drawn` holds the latents; with one it is free once they are packed.
        const target = layout ? drawn : noise;
        for (const [b, s] of streams.entries()) s.fillNormal(target, b * size, size);
        stepNoise = layout ? layout.toModel(drawn, dims, noise) : noise;
      }
      // In place where the scheduler's step is elementwise; a scheduler that keeps state returns a new array.
      const next = scheduler.step(prediction, i, latents, stepNoise, latents);
      if (next !== latents) latents.set(next);
      stepMs.push(performance.now() - ts);
    }

    const tv = performance.now();
    const pixels = await this.vae.decodeScaled(
      layout ? layout.fromModel(latents, dims, drawn) : latents,
      dims,
      this.folder.vaeScalingFactor,
      this.folder.vaeShiftFactor,
    );
    // Floats are checked for NaN where they become bytes (a worker's PNG threads), in the same pass.
    const nanImages: boolean[] = [];
    const images =
      output === "rgb"
        ? toRgbImages(pixels, batch, first.height, first.width, nanImages)
        : splitImages(pixels, batch, 3 * first.height * first.width);
    for (let b = 0; b < batch; b++) if (nanImages[b]) warnings[b].push(NAN_PIXELS_WARNING);
    const vaeMs = performance.now() - tv;
    const meta = (b: number) => ({ width: first.width, height: first.height, warnings: warnings[b] });
    return {
      samples: images.map((img, b) =>
        img instanceof Uint8Array ? { rgb: img, ...meta(b) } : { pixels: img, ...meta(b) },
      ),
      timings: { tokenizeMs, textEncoderMs, stepMs, vaeMs },
    };
  }

  async release(): Promise<void> {
    await Promise.all(this.models.map((m) => m.release()));
  }
}

/** eps = uncond + g * (cond - uncond), per sample (the first half of the UNet batch is unconditional), into `eps`. */
function applyGuidance(
  out: Float32Array,
  requests: SampleRequest[],
  size: number,
  eps: Float32Array,
): Float32Array {
  const batch = requests.length;
  for (let b = 0; b < batch; b++) {
    const g = requests[b].guidanceScale;
    const u = b * size;
    const c = (batch + b) * size;
    for (let k = 0; k < size; k++) eps[u + k] = out[u + k] + g * (out[c + k] - out[u + k]);
  }
  return eps;
}
