/**
 * bench/engine: the engine against a bare loop over the same ONNX sessions, side by side in one run.
 *
 * The bare loop runs only ONNX Runtime: text encoder (B prompts + 1 empty negative), steps x UNet on a
 * 2B batch, VAE decode; no tokenizer, no scheduler, no PNG. The engine runs everything (in its thread, as
 * workers run it) plus PNG encoding. Runs alternate between the two at every batch size, so machine noise
 * hits both alike. For an SDXL folder (e.g. --model test/fixtures/models/sdxl) the bare loop runs both
 * text encoders (the penultimate hidden states and text_embeds), the UNet with text_embeds and time_ids, and
 * the VAE. For a flow folder (sd3, flux; e.g. --model test/fixtures/models/sd3) it runs the CLIP encoders and
 * T5 on the B prompts, the transformer (SD3: a 2B CFG batch with pooled_projections; FLUX: B rows of packed
 * latents with img_ids, txt_ids and guidance) and the VAE, with flow_euler on the engine side; the engine's
 * own extra work there is tokenizing (CLIP BPE, T5 through tokenizer.json), FLUX's packing and unpacking at
 * each step, the scheduler, the pixels to RGB bytes, and PNG.
 *
 * Each line gives the throughput ratio (engine img/s over bare img/s), the same ratio over the fastest
 * quarter of each side's per-batch times (load from other processes only adds time, so on a busy machine
 * this one moves least), and the ratio of process CPU time per image (bare over engine).
 * Usage: npm run bench:engine -- [--model DIR] [--steps N] [--rounds N] [--blocks N] [--batches 1,2,4] [--threads N]
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import ort from "onnxruntime-node";
import type { SampleRequest } from "../src/common/contract/sample.js";
import { bundledModelDir } from "../src/common/package-root.js";
import { parseDevice, sessionOptions } from "../src/engine/device.js";
import { type EngineBatch, EngineHost } from "../src/engine/engine-host.js";
import { readModelFolder } from "../src/engine/model-folder.js";
import { floatTensor, intTensor, OnnxModel, readFloats } from "../src/engine/onnx-model.js";
import { encodePng } from "../src/engine/png.js";
import { penultimateHiddenState } from "../src/engine/text-encoder.js";
import { ClipTokenizer, loadPromptTokenizer } from "../src/engine/tokenizer/index.js";
import { latentImageIds } from "../src/engine/transformer.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: bundledModelDir() },
    steps: { type: "string", default: "20" },
    rounds: { type: "string", default: "3" },
    blocks: { type: "string", default: "2" },
    batches: { type: "string", default: "1,2,4,8,16" },
    threads: { type: "string" },
  },
});
const steps = Number(values.steps);
const rounds = Number(values.rounds);
const blocks = Math.max(1, Number(values.blocks));
const batches = values.batches.split(",").map(Number);
const threads = values.threads ? Number(values.threads) : undefined;
const device = parseDevice("cpu");

const COLORS = ["red", "green", "blue", "yellow", "purple", "orange"];
const SHAPES = ["circle", "square", "triangle"];
const BACKGROUNDS = ["white", "black", "gray"];
let promptCounter = 0;
/** Unique prompts, so the engine's text-embedding cache gives it no edge over the bare loop. */
function nextPrompt(): string {
  const i = promptCounter++;
  return `a ${COLORS[i % 6]} ${SHAPES[Math.floor(i / 6) % 3]} on a ${BACKGROUNDS[Math.floor(i / 18) % 3]} background ${i}`;
}

interface Bare {
  run(batch: number): Promise<void>;
  /** Time per stage over all runs so far (flow loops), printed beside the engine's split. */
  readonly split?: { text: number; denoise: number; vae: number };
  describe?(): string;
}

/** SDXL's sessions called directly: two encoders, the UNet with text_embeds and time_ids, the VAE. */
class SdxlBareLoop implements Bare {
  private constructor(
    private readonly te1: OnnxModel,
    private readonly te2: OnnxModel,
    private readonly unet: OnnxModel,
    private readonly vae: OnnxModel,
    private readonly ids: Int32Array,
    private readonly ids2: Int32Array,
  ) {}

  static async create(dir: string): Promise<SdxlBareLoop> {
    const folder = await readModelFolder(dir);
    const options = sessionOptions(device, { intraOpThreads: threads });
    const tok = await ClipTokenizer.fromFolder(folder.tokenizerDir);
    const tok2 = await ClipTokenizer.fromFolder(`${folder.dir}/tokenizer_2`);
    const load = (n: string) => OnnxModel.load(`${folder.dir}/${n}/model.onnx`, options);
    const text = "a red circle on a white background";
    return new SdxlBareLoop(
      await load("text_encoder"),
      await load("text_encoder_2"),
      await load("unet"),
      await load("vae_decoder"),
      tok.encode(text).ids,
      tok2.encode(text).ids,
    );
  }

  private async encode(model: OnnxModel, ids: Int32Array, rows: number, pooled: boolean) {
    const all = new Int32Array(rows * 77);
    for (let r = 0; r < rows; r++) all.set(ids, r * 77);
    const hidden = penultimateHiddenState(model) ?? "last_hidden_state";
    const out = await model.runOutputs(
      { input_ids: intTensor(model.requireInput("input_ids"), all, [rows, 77]) },
      pooled ? [hidden, "text_embeds"] : [hidden],
    );
    return { hidden: readFloats(out[hidden]), pooled: pooled ? readFloats(out.text_embeds) : undefined };
  }

  async run(batch: number): Promise<void> {
    const a = await this.encode(this.te1, this.ids, batch, false);
    const b = await this.encode(this.te2, this.ids2, batch, true);
    const w1 = a.hidden.length / batch / 77;
    const w2 = b.hidden.length / batch / 77;
    const width = w1 + w2;
    const p = (b.pooled?.length ?? 0) / batch;
    const rows = 2 * batch;
    const context = new Float32Array(rows * 77 * width);
    for (let t = 0; t < batch * 77; t++) {
      context.set(a.hidden.subarray(t * w1, (t + 1) * w1), (batch * 77 + t) * width);
      context.set(b.hidden.subarray(t * w2, (t + 1) * w2), (batch * 77 + t) * width + w1);
    }
    const textEmbeds = new Float32Array(rows * p);
    if (b.pooled) textEmbeds.set(b.pooled, batch * p);
    const timeIds = new Float32Array(rows * 6);
    for (let r = 0; r < rows; r++) timeIds.set([64, 64, 0, 0, 64, 64], r * 6);
    const input = (n: string) => this.unet.requireInput(n);
    const latents = new Float32Array(rows * 4 * 8 * 8).fill(0.5);
    let out: Float32Array = latents;
    for (let s = 0; s < steps; s++) {
      const t = input("timestep");
      const res = await this.unet.runOutputs(
        {
          sample: floatTensor(input("sample"), latents, [rows, 4, 8, 8]),
          timestep: intTensor(t, [999 - s * 50], t.shape.length === 0 ? [] : [1]),
          encoder_hidden_states: floatTensor(input("encoder_hidden_states"), context, [rows, 77, width]),
          text_embeds: floatTensor(input("text_embeds"), textEmbeds, [rows, p]),
          time_ids: floatTensor(input("time_ids"), timeIds, [rows, 6]),
        },
        ["out_sample"],
      );
      out = readFloats(res.out_sample);
    }
    await this.vae.runOutputs(
      {
        latent_sample: floatTensor(this.vae.requireInput("latent_sample"), out.slice(0, batch * 256), [
          batch,
          4,
          8,
          8,
        ]),
      },
      ["sample"],
    );
  }
}

/**
 * SD3 / FLUX sessions called directly: CLIP encoders and T5, the transformer on fixed latents, the VAE. The
 * encoders run the B prompts only: the engine caches the empty negative prompt after its first batch, so in
 * steady state it encodes B rows too. Inputs that do not change over the steps (context, pooled, img_ids,
 * txt_ids, guidance) are built once per batch, as the engine builds them.
 */
class FlowBareLoop implements Bare {
  readonly split = { text: 0, denoise: 0, vae: 0 };

  private constructor(
    private readonly flux: boolean,
    private readonly encoders: { model: OnnxModel; ids: Int32Array }[],
    private readonly transformer: OnnxModel,
    private readonly vae: OnnxModel,
  ) {}

  static async create(dir: string, family: string): Promise<FlowBareLoop> {
    const folder = await readModelFolder(dir);
    const options = sessionOptions(device, { intraOpThreads: threads });
    const flux = family === "flux";
    const names = flux
      ? ([
          ["text_encoder", "tokenizer", 77],
          ["text_encoder_2", "tokenizer_2", 512],
        ] as const)
      : ([
          ["text_encoder", "tokenizer", 77],
          ["text_encoder_2", "tokenizer_2", 77],
          ["text_encoder_3", "tokenizer_3", 256],
        ] as const);
    const text = "a red circle on a white background";
    const encoders: { model: OnnxModel; ids: Int32Array }[] = [];
    for (const [te, tok, max] of names) {
      if (te === "text_encoder_3" && !(folder.index.text_encoder_3 as unknown[] | undefined)?.[1]) continue;
      const t = await loadPromptTokenizer(`${folder.dir}/${tok}`);
      const tokenizer =
        t.maxLength > max ? await loadPromptTokenizer(`${folder.dir}/${tok}`, { maxLength: max }) : t;
      encoders.push({
        model: await OnnxModel.load(`${folder.dir}/${te}/model.onnx`, options),
        ids: Int32Array.from(tokenizer.encode(text).ids),
      });
    }
    const load = (n: string) => OnnxModel.load(`${folder.dir}/${n}/model.onnx`, options);
    return new FlowBareLoop(flux, encoders, await load("transformer"), await load("vae_decoder"));
  }

  /** What the bare loop runs per batch, for checking it against the engine's work. */
  describe(): string {
    const enc = this.encoders.map((e) => `${e.model.path.split("/").at(-2)} [B, ${e.ids.length}]`);
    const rows = this.flux ? "B" : "2B";
    return `bare loop: ${enc.join(", ")}; transformer ${rows} rows x ${steps} steps; VAE [B]`;
  }

  async run(batch: number): Promise<void> {
    const t0 = performance.now();
    const states: Record<string, Float32Array>[] = [];
    for (const { model, ids } of this.encoders) {
      const all = new Int32Array(batch * ids.length);
      for (let r = 0; r < batch; r++) all.set(ids, r * ids.length);
      const names = model.outputs.map((o) => o.name);
      const hidden = penultimateHiddenState(model) ?? "last_hidden_state";
      const wanted = [hidden, ...names.filter((n) => n === "text_embeds" || n === "pooler_output")];
      const out = await model.runOutputs(
        { input_ids: intTensor(model.requireInput("input_ids"), all, [batch, ids.length]) },
        wanted,
      );
      states.push(Object.fromEntries(wanted.map((n) => [n, readFloats(out[n])])));
    }
    const input = (n: string) => this.transformer.requireInput(n);
    const joint = Number(input("encoder_hidden_states").shape[2]);
    const pooledWidth = Number(input("pooled_projections").shape[1]);
    const rows = this.flux ? batch : 2 * batch;
    const seq = this.flux ? this.encoders[1].ids.length : 77 + (this.encoders[2]?.ids.length ?? 77);
    // The bare loop copies the encoders' states into the transformer's layout once, as the engine must.
    const context = new Float32Array(rows * seq * joint);
    const last = states[states.length - 1];
    const lastHidden = last.last_hidden_state ?? Object.values(last)[0];
    for (let r = 0; r < rows; r++)
      context.set(lastHidden.subarray(0, Math.min(lastHidden.length, seq * joint)), r * seq * joint);
    const constant: Record<string, ort.Tensor> = {
      encoder_hidden_states: floatTensor(input("encoder_hidden_states"), context, [rows, seq, joint]),
      pooled_projections: floatTensor(input("pooled_projections"), new Float32Array(rows * pooledWidth), [
        rows,
        pooledWidth,
      ]),
    };
    if (this.flux) {
      const ids = latentImageIds(8, 8);
      constant.img_ids = floatTensor(input("img_ids"), ids.data, ids.dims);
      constant.txt_ids = floatTensor(input("txt_ids"), new Float32Array(seq * 3), [seq, 3]);
      const g = this.transformer.input("guidance");
      if (g) constant.guidance = floatTensor(g, new Float32Array(rows).fill(4), [rows]);
    }
    const latents = new Float32Array(batch * 16 * 8 * 8).fill(0.5);
    const hiddenRows = this.flux ? latents : new Float32Array(rows * 16 * 64).fill(0.5);
    let out: Float32Array = latents;
    const t1 = performance.now();
    for (let s = 0; s < steps; s++) {
      const t = 1000 - s * (1000 / steps);
      const feeds: Record<string, ort.Tensor> = {
        ...constant,
        hidden_states: this.flux
          ? floatTensor(input("hidden_states"), hiddenRows, [rows, 16, 64])
          : floatTensor(input("hidden_states"), hiddenRows, [rows, 16, 8, 8]),
        timestep: floatTensor(input("timestep"), new Float32Array(rows).fill(this.flux ? t / 1000 : t), [
          rows,
        ]),
      };
      const res = await this.transformer.runOutputs(feeds, ["out_hidden_states"]);
      out = readFloats(res.out_hidden_states);
    }
    const t2 = performance.now();
    await this.vae.runOutputs(
      {
        latent_sample: floatTensor(this.vae.requireInput("latent_sample"), out.slice(0, batch * 1024), [
          batch,
          16,
          8,
          8,
        ]),
      },
      ["sample"],
    );
    const t3 = performance.now();
    this.split.text += t1 - t0;
    this.split.denoise += t2 - t1;
    this.split.vae += t3 - t2;
  }
}

class BareLoop implements Bare {
  private constructor(
    private readonly te: ort.InferenceSession,
    private readonly unet: ort.InferenceSession,
    private readonly vae: ort.InferenceSession,
    private readonly ids: Int32Array,
  ) {}

  static async create(dir: string): Promise<BareLoop> {
    const folder = await readModelFolder(dir);
    const options = sessionOptions(device, { intraOpThreads: threads });
    const tok = await ClipTokenizer.fromFolder(folder.tokenizerDir);
    return new BareLoop(
      await ort.InferenceSession.create(folder.textEncoderPath, options),
      await ort.InferenceSession.create(folder.unetPath, options),
      await ort.InferenceSession.create(folder.vaeDecoderPath, options),
      tok.encode("a red circle on a white background").ids,
    );
  }

  async run(batch: number): Promise<void> {
    const rows = batch + 1;
    const ids = new Int32Array(rows * 77);
    for (let r = 0; r < rows; r++) ids.set(this.ids, r * 77);
    const te = await this.te.run({ input_ids: new ort.Tensor("int32", ids, [rows, 77]) });
    const hidden = te.last_hidden_state.data as Float32Array;
    const width = hidden.length / rows / 77;
    const context = new Float32Array(2 * batch * 77 * width);
    for (let r = 0; r < 2 * batch; r++) context.set(hidden.subarray(0, 77 * width), r * 77 * width);
    const latents = new Float32Array(2 * batch * 4 * 8 * 8).fill(0.5);
    let out: Float32Array = latents;
    for (let s = 0; s < steps; s++) {
      const res = await this.unet.run({
        sample: new ort.Tensor("float32", latents, [2 * batch, 4, 8, 8]),
        timestep: new ort.Tensor("float32", new Float32Array(2 * batch).fill(999 - s * 50), [2 * batch]),
        encoder_hidden_states: new ort.Tensor("float32", context, [2 * batch, 77, width]),
      });
      out = res.out_sample.data as Float32Array;
    }
    await this.vae.run({
      latent_sample: new ort.Tensor("float32", out.slice(0, batch * 256), [batch, 4, 8, 8]),
    });
  }
}

/** The q-quantile of `xs` (nearest rank). */
function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Process CPU time (all threads) since `start`, in ms. */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

let schedulerName: SampleRequest["scheduler"] = "euler";

function request(seed: number): SampleRequest {
  return {
    prompt: nextPrompt(),
    negativePrompt: "",
    seed,
    steps,
    guidanceScale: 4,
    scheduler: schedulerName,
    width: 64,
    height: 64,
  };
}

async function main(): Promise<void> {
  const engine = await EngineHost.start({ modelDir: values.model, device, intraOpThreads: threads });
  const family = engine.model.family;
  const flow = family === "sd3" || family === "flux";
  if (flow) schedulerName = "flow_euler";
  const bare: Bare =
    family === "sdxl"
      ? await SdxlBareLoop.create(values.model)
      : flow
        ? await FlowBareLoop.create(values.model, family)
        : await BareLoop.create(values.model);
  console.log(
    `model ${engine.model.name} (${family}), ${steps} steps, ${schedulerName}, ${family === "flux" ? "guidance 4 (no CFG batch)" : "CFG 4"}, 64x64, cpu, ${rounds} rounds per batch size`,
  );
  console.log(
    `batch | bare img/s | engine img/s | ratio | fastest 1/4 r | cpu ratio | engine split: tokenize / text / denoise / vae / png (ms per batch)${flow ? " | bare: text / denoise / vae" : ""}`,
  );
  if (bare.describe) console.log(bare.describe());
  await engine.generate([request(0)]);
  await bare.run(1);
  const batchOf = (batch: number, base: number) => Array.from({ length: batch }, (_, i) => request(base + i));
  for (const batch of batches) {
    // Warm-up at this shape: ONNX Runtime plans memory per input shape on first use.
    await bare.run(batch);
    await engine.generate(batchOf(batch, 0));
    let bareCpuMs = 0;
    let engineCpuMs = 0;
    // Time per batch: each bare run; for the engine, the gap between one result and the next (steady state).
    const bareTimes: number[] = [];
    const engineTimes: number[] = [];
    const split = { tokenize: 0, text: 0, denoise: 0, vae: 0, png: 0 };
    const bareSplit = bare.split ? { ...bare.split } : undefined;
    // Blocks of rounds alternate between the two (ABBA: the side that goes first alternates), so a noisy
    // neighbour hits both alike.
    const perBlock = Math.max(2, Math.ceil(rounds / blocks));
    for (let b = 0; b < blocks; b++) {
      const timeBare = async () => {
        const cpu = process.cpuUsage();
        for (let r = 0; r < perBlock; r++) {
          const t = performance.now();
          await bare.run(batch);
          bareTimes.push(performance.now() - t);
        }
        bareCpuMs += cpuMsSince(cpu);
      };
      // The engine as a worker's batcher drives it: two batches handed over at once (one running, the next
      // queued in the engine thread), while this thread encodes the PNGs of the one that came back.
      const timeEngine = async () => {
        const cpu = process.cpuUsage();
        const inFlight: Promise<EngineBatch>[] = [];
        let handed = 0;
        const handOver = () => inFlight.push(engine.generate(batchOf(batch, (b * 100 + handed++) * 100)));
        handOver();
        handOver();
        let last = performance.now();
        for (let r = 0; r < perBlock; r++) {
          const result = await inFlight.shift()!;
          const now = performance.now();
          engineTimes.push(now - last);
          last = now;
          if (handed < perBlock) handOver();
          for (const s of result.samples) encodePng(s.rgb, s.width, s.height);
          split.png += performance.now() - now;
          split.tokenize += result.timings.tokenizeMs;
          split.text += result.timings.textEncoderMs;
          split.denoise += result.timings.stepMs.reduce((x, y) => x + y, 0);
          split.vae += result.timings.vaeMs;
        }
        engineCpuMs += cpuMsSince(cpu);
      };
      if (b % 2 === 0) {
        await timeBare();
        await timeEngine();
      } else {
        await timeEngine();
        await timeBare();
      }
    }
    const n = blocks * perBlock;
    const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
    const bareRate = (batch * n * 1000) / sum(bareTimes);
    const engineRate = (batch * n * 1000) / sum(engineTimes);
    // Load from other processes only ever adds time: the fastest quarter of each side is the least disturbed.
    const fastQuarter = quantile(bareTimes, 0.25) / quantile(engineTimes, 0.25);
    const per = (x: number) => (x / n).toFixed(1);
    const bareStages =
      bare.split && bareSplit
        ? ` | bare: ${per(bare.split.text - bareSplit.text)} / ${per(bare.split.denoise - bareSplit.denoise)} / ${per(bare.split.vae - bareSplit.vae)}`
        : "";
    console.log(
      `${String(batch).padStart(5)} | ${bareRate.toFixed(2).padStart(10)} | ${engineRate.toFixed(2).padStart(12)} | ` +
        `${(engineRate / bareRate).toFixed(3).padStart(5)} | ${fastQuarter.toFixed(3).padStart(13)} | ${(bareCpuMs / engineCpuMs).toFixed(3).padStart(9)} | ` +
        `${per(split.tokenize)} / ${per(split.text)} / ${per(split.denoise)} / ${per(split.vae)} / ${per(split.png)}${bareStages}`,
    );
  }
  await engine.close();
}

await main();
