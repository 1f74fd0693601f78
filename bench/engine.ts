/**
 * bench/engine: the engine against a bare loop over the same ONNX sessions, side by side in one run.
 *
 * The bare loop runs only ONNX Runtime: text encoder (B prompts + 1 empty negative), steps x UNet on a
 * 2B batch, VAE decode. It leaves out what the engine must do besides: tokenizing, the scheduler's math
 * and the CFG combine, the seeded noise, the split of the VAE's output into images and the hop to the
 * engine thread. Both make the inputs that stay the same through the steps once per batch. The engine runs in its
 * thread and hands over the VAE's floats, as a worker's engine does: the conversion to 8-bit RGB and the
 * PNG encoding are the worker's PNG threads' (bench/write-path measures them); --png adds them here, on
 * this thread, overlapping the engine's next batch. --engine-output rgb has the engine thread make the RGB
 * bytes itself (as `sample` and the tools use it). For an SDXL folder
 * (e.g. --model test/fixtures/models/sdxl) the bare loop runs both text encoders (the penultimate hidden
 * states and text_embeds), the UNet with text_embeds and time_ids, and the VAE. For a flow folder (sd3,
 * flux; e.g. --model test/fixtures/models/sd3) it runs the CLIP encoders and T5, the transformer (SD3: a
 * 2B CFG batch with pooled_projections; FLUX: B rows of packed latents with img_ids, txt_ids and guidance)
 * and the VAE, with flow_euler on the engine side; the engine's own extra work there is tokenizing (CLIP
 * BPE, T5 through tokenizer.json), FLUX's packing and unpacking (once per batch), the scheduler, the pixels to
 * RGB bytes, and PNG. An SDXL or flow loop also prints its own text / denoise / VAE split.
 *
 * Blocks of rounds alternate between the two (A B B A) until both have run --rounds rounds and --seconds
 * each; the spread of the ratios of neighbouring blocks shows how much the machine's noise moves the
 * result, and the CPU-time ratio (the whole process during each side's blocks) how much more work the
 * engine does. The goal (engine >= 0.97 of the bare loop) is judged on a 90 % bootstrap interval of the
 * block pairs' median ratio: met when all of it is at or above 0.97, missed when all of it is below,
 * unsettled when the machine's noise spans the goal (run longer: --seconds, --rounds). Usage: npm run bench:engine -- [--model DIR] [--steps N] [--rounds N] [--seconds S]
 * [--block N] [--batches 1,2,4,8] [--threads N] [--size 64] [--spin] [--png] [--engine-output float|rgb]
 *
 * --spin lets ONNX Runtime's pool threads spin while idle (its own default), on both sides; the engine's
 * default, and so this bench's, is to let them sleep.
 *
 * On a virtual machine whose cores run at uneven speeds (a busy neighbour on one of them), the side whose
 * calling thread the kernel keeps on the slow core loses by up to 2x for minutes, and the figures swing
 * between runs. Pin the process to one core there, with one ONNX Runtime thread, and compare like with
 * like: taskset -c 0 npm run bench:engine -- --threads 1 (the header prints the cores allowed).
 *
 * --size sets the image side (a multiple of 16; 64 by default). The fixtures' sessions are tiny, so at 64x64 a
 * step of them costs about a millisecond and the engine's fixed work per batch (tokenizing, PNG) weighs far
 * more than beside a real model's step; a larger size gives the sessions more of the work a real one has.
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import ort from "onnxruntime-node";
import type { SampleRequest } from "../src/common/contract/sample.js";
import { bundledModelDir } from "../src/common/package-root.js";
import { parseDevice, sessionOptions } from "../src/engine/device.js";
import { EngineHost } from "../src/engine/engine-host.js";
import { readModelFolder } from "../src/engine/model-folder.js";
import { floatTensor, intTensor, OnnxModel, readFloats } from "../src/engine/onnx-model.js";
import type { PixelOutput } from "../src/engine/pipeline.js";
import { DEFAULT_PNG_LEVEL } from "../src/engine/png-encode.js";
import { penultimateHiddenState } from "../src/engine/text-encoder.js";
import { ClipTokenizer, loadPromptTokenizer } from "../src/engine/tokenizer/index.js";
import { latentImageIds } from "../src/engine/transformer.js";
import { splitImages, toRgbImages } from "../src/engine/vae-decoder.js";
import { encodePngImage } from "../src/worker/png-pool.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: bundledModelDir() },
    steps: { type: "string", default: "20" },
    rounds: { type: "string", default: "12" },
    seconds: { type: "string", default: "4" },
    block: { type: "string", default: "3" },
    batches: { type: "string", default: "1,2,4,8" },
    threads: { type: "string" },
    spin: { type: "boolean", default: false },
    size: { type: "string", default: "64" },
    png: { type: "boolean", default: false },
    "engine-output": { type: "string", default: "float" },
  },
});
const steps = Number(values.steps);
const minRounds = Number(values.rounds);
const minSeconds = Number(values.seconds);
const blockRounds = Number(values.block);
const batches = values.batches.split(",").map(Number);
const threads = values.threads ? Number(values.threads) : undefined;
/** Image side in pixels; the fixtures' VAEs scale by 8, so latents are size/8 on a side. */
const size = Number(values.size);
const L = size / 8;
if (!Number.isInteger(L) || L < 2 || L % 2 !== 0)
  throw new Error(`--size must be a multiple of 16, got ${values.size}`);
const device = parseDevice("cpu");
/** What the engine hands over: the VAE's floats, as a worker's engine does, or 8-bit RGB made on its thread. */
const output: PixelOutput = pixelOutput(values["engine-output"]);
function pixelOutput(v: string): PixelOutput {
  if (v !== "float" && v !== "rgb") throw new Error(`--engine-output must be float or rgb, got ${v}`);
  return v;
}

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
  /** One batch; resolves to the time of its denoising loop in ms where the loop measures it. */
  run(batch: number): Promise<unknown>;
  /** Time per stage over all runs so far (flow loops), printed beside the engine's split. */
  readonly split?: { text: number; denoise: number; vae: number; rounds: number };
  describe?(): string;
}

/** SDXL's sessions called directly: two encoders, the UNet with text_embeds and time_ids, the VAE. */
class SdxlBareLoop implements Bare {
  readonly split = { text: 0, denoise: 0, vae: 0, rounds: 0 };

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
    const options = sessionOptions(device, { intraOpThreads: threads, spinning: values.spin });
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

  async run(batch: number): Promise<number> {
    const tText = performance.now();
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
    for (let r = 0; r < rows; r++) timeIds.set([size, size, 0, 0, size, size], r * 6);
    const input = (n: string) => this.unet.requireInput(n);
    const latents = new Float32Array(rows * 4 * L * L).fill(0.5);
    // The inputs that stay the same through the steps are made once, as the engine makes them.
    const constants = {
      encoder_hidden_states: floatTensor(input("encoder_hidden_states"), context, [rows, 77, width]),
      text_embeds: floatTensor(input("text_embeds"), textEmbeds, [rows, p]),
      time_ids: floatTensor(input("time_ids"), timeIds, [rows, 6]),
    };
    let out: Float32Array = latents;
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const t = input("timestep");
      const res = await this.unet.runOutputs(
        {
          sample: floatTensor(input("sample"), latents, [rows, 4, L, L]),
          timestep: intTensor(t, [999 - s * 50], t.shape.length === 0 ? [] : [1]),
          ...constants,
        },
        ["out_sample"],
      );
      out = readFloats(res.out_sample);
    }
    const denoiseMs = performance.now() - t0;
    const tVae = performance.now();
    await this.vae.runOutputs(
      {
        latent_sample: floatTensor(this.vae.requireInput("latent_sample"), out.slice(0, batch * 4 * L * L), [
          batch,
          4,
          L,
          L,
        ]),
      },
      ["sample"],
    );
    this.split.text += t0 - tText;
    this.split.denoise += denoiseMs;
    this.split.vae += performance.now() - tVae;
    this.split.rounds++;
    return denoiseMs;
  }
}

/**
 * SD3 / FLUX sessions called directly: CLIP encoders and T5, the transformer on fixed latents, the VAE. The
 * encoders run the B prompts only: the engine caches the empty negative prompt after its first batch, so in
 * steady state it encodes B rows too. Inputs that do not change over the steps (context, pooled, img_ids,
 * txt_ids, guidance) are built once per batch, as the engine builds them.
 */
class FlowBareLoop implements Bare {
  readonly split = { text: 0, denoise: 0, vae: 0, rounds: 0 };

  private constructor(
    private readonly flux: boolean,
    private readonly encoders: { model: OnnxModel; ids: Int32Array }[],
    private readonly transformer: OnnxModel,
    private readonly vae: OnnxModel,
  ) {}

  static async create(dir: string, family: string): Promise<FlowBareLoop> {
    const folder = await readModelFolder(dir);
    const options = sessionOptions(device, { intraOpThreads: threads, spinning: values.spin });
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

  async run(batch: number): Promise<number> {
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
      const ids = latentImageIds(L, L);
      constant.img_ids = floatTensor(input("img_ids"), ids.data, ids.dims);
      constant.txt_ids = floatTensor(input("txt_ids"), new Float32Array(seq * 3), [seq, 3]);
      const g = this.transformer.input("guidance");
      if (g) constant.guidance = floatTensor(g, new Float32Array(rows).fill(4), [rows]);
    }
    // Latent channels from the transformer's own input: 16 in SD3 and FLUX exports, 4 in tiny-shapes-flow.
    const C = this.flux
      ? Number(input("hidden_states").shape[2]) / 4
      : Number(input("hidden_states").shape[1]);
    const latents = new Float32Array(batch * C * L * L).fill(0.5);
    const hiddenRows = this.flux ? latents : new Float32Array(rows * C * L * L).fill(0.5);
    let out: Float32Array = latents;
    const t1 = performance.now();
    for (let s = 0; s < steps; s++) {
      const t = 1000 - s * (1000 / steps);
      const feeds: Record<string, ort.Tensor> = {
        ...constant,
        hidden_states: this.flux
          ? floatTensor(input("hidden_states"), hiddenRows, [rows, (L / 2) * (L / 2), 4 * C])
          : floatTensor(input("hidden_states"), hiddenRows, [rows, C, L, L]),
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
        latent_sample: floatTensor(this.vae.requireInput("latent_sample"), out.slice(0, batch * C * L * L), [
          batch,
          C,
          L,
          L,
        ]),
      },
      ["sample"],
    );
    const t3 = performance.now();
    this.split.text += t1 - t0;
    this.split.denoise += t2 - t1;
    this.split.vae += t3 - t2;
    this.split.rounds++;
    return t2 - t1;
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
    const options = sessionOptions(device, { intraOpThreads: threads, spinning: values.spin });
    const tok = await ClipTokenizer.fromFolder(folder.tokenizerDir);
    return new BareLoop(
      await ort.InferenceSession.create(folder.textEncoderPath, options),
      await ort.InferenceSession.create(folder.unetPath, options),
      await ort.InferenceSession.create(folder.vaeDecoderPath, options),
      tok.encode("a red circle on a white background").ids,
    );
  }

  async run(batch: number): Promise<number> {
    const rows = batch + 1;
    const ids = new Int32Array(rows * 77);
    for (let r = 0; r < rows; r++) ids.set(this.ids, r * 77);
    const te = await this.te.run({ input_ids: new ort.Tensor("int32", ids, [rows, 77]) });
    const hidden = te.last_hidden_state.data as Float32Array;
    const width = hidden.length / rows / 77;
    const context = new Float32Array(2 * batch * 77 * width);
    for (let r = 0; r < 2 * batch; r++) context.set(hidden.subarray(0, 77 * width), r * 77 * width);
    const latents = new Float32Array(2 * batch * 4 * L * L).fill(0.5);
    const contextTensor = new ort.Tensor("float32", context, [2 * batch, 77, width]);
    let out: Float32Array = latents;
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) {
      const res = await this.unet.run({
        sample: new ort.Tensor("float32", latents, [2 * batch, 4, L, L]),
        timestep: new ort.Tensor("float32", new Float32Array(2 * batch).fill(999 - s * 50), [2 * batch]),
        encoder_hidden_states: contextTensor,
      });
      out = res.out_sample.data as Float32Array;
    }
    const denoiseMs = performance.now() - t0;
    await this.vae.run({
      latent_sample: new ort.Tensor("float32", out.slice(0, batch * 4 * L * L), [batch, 4, L, L]),
    });
    return denoiseMs;
  }
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
    width: size,
    height: size,
  };
}

/** Rounds of one side, and the wall time of each block of them and the process's CPU time in them. */
interface Side {
  rounds: number;
  blockMs: number[];
  cpuMs: number;
  /** The denoising loops' time, summed over the rounds that report it. */
  denoiseMs: number;
  denoiseRounds: number;
}

/** CPU time of the whole process (all its threads: the engine's, ONNX Runtime's, this one), in ms. */
function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** The p-th quantile (0..1) of `xs`, by nearest rank. */
function quantile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))];
}

/**
 * A 90 % interval of the median of `xs` by the bootstrap (2,000 resamples, seeded, so a run's figures can be
 * recomputed): how far the machine's noise leaves the block median from the one a quiet run would give.
 */
function medianInterval(xs: number[]): [number, number] {
  let state = 0x9e3779b9;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const medians = Array.from({ length: 2000 }, () =>
    quantile(
      xs.map(() => xs[Math.floor(next() * xs.length)]),
      0.5,
    ),
  );
  return [quantile(medians, 0.05), quantile(medians, 0.95)];
}

/** The engine bench's goal (engine >= 0.97 of the bare loop), judged on the block median's interval. */
const GOAL = 0.97;
const goalVerdict = ([low, high]: [number, number]) =>
  low >= GOAL ? "met" : high < GOAL ? "missed" : "unsettled";

async function main(): Promise<void> {
  const engine = await EngineHost.start({
    modelDir: values.model,
    device,
    intraOpThreads: threads,
    spinning: values.spin,
  });
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
    `model ${engine.model.name} (${family}), ${steps} steps, ${schedulerName}, ${family === "flux" ? "guidance 4 (no CFG batch)" : "CFG 4"}, ${size}x${size}, cpu, ` +
      `${threads ?? "ONNX Runtime's choice of"} ORT threads${values.spin ? " (spinning)" : ""}; per batch size and side at least ${minRounds} rounds and ${minSeconds} s, in blocks of ${blockRounds}`,
  );
  console.log(`load average at start ${loadLine()}; cores allowed ${coresAllowed()}`);
  console.log(
    "batch | bare img/s | engine img/s | ratio | block median | median 90% CI | goal 0.97 | block p10-p90 | CPU ratio | denoise ms/step bare / engine | rounds | engine split: tokenize / text / denoise / vae / png (--png: RGB and PNG on this thread) (ms per batch)",
  );
  if (bare.describe) console.log(bare.describe());
  await engine.generate([request(0)], output);
  await bare.run(1);
  const batchOf = (batch: number, base: number) => Array.from({ length: batch }, (_, i) => request(base + i));
  for (const batch of batches) {
    // Warm-up at this shape: ONNX Runtime plans memory per input shape on first use.
    await bare.run(batch);
    await engine.generate(batchOf(batch, 0), output);
    if (bare.split) Object.assign(bare.split, { text: 0, denoise: 0, vae: 0, rounds: 0 });
    const bareSide: Side = { rounds: 0, blockMs: [], cpuMs: 0, denoiseMs: 0, denoiseRounds: 0 };
    const engineSide: Side = { rounds: 0, blockMs: [], cpuMs: 0, denoiseMs: 0, denoiseRounds: 0 };
    const split = { tokenize: 0, text: 0, denoise: 0, vae: 0, png: 0 };
    const runBare = async () => {
      const t = performance.now();
      const cpu = processCpuMs();
      for (let r = 0; r < blockRounds; r++) {
        const denoiseMs = await bare.run(batch);
        if (typeof denoiseMs !== "number") continue;
        bareSide.denoiseMs += denoiseMs;
        bareSide.denoiseRounds++;
      }
      bareSide.cpuMs += processCpuMs() - cpu;
      bareSide.blockMs.push(performance.now() - t);
      bareSide.rounds += blockRounds;
    };
    // The engine as a worker's batcher drives it: two batches handed over at once (one running, the next
    // queued behind it in the engine thread), so the engine never waits for this thread, which encodes the
    // PNGs of the batch before.
    const runEngine = async (block: number) => {
      const batchOf = (r: number) =>
        Array.from({ length: batch }, (_, i) => request(block * 10_000 + r * 100 + i));
      const t = performance.now();
      const cpu = processCpuMs();
      const pending = [engine.generate(batchOf(0), output)];
      if (blockRounds > 1) pending.push(engine.generate(batchOf(1), output));
      for (let r = 0; r < blockRounds; r++) {
        const result = await pending[r];
        if (r + 2 < blockRounds) pending.push(engine.generate(batchOf(r + 2), output));
        if (values.png) {
          const tp = performance.now();
          for (const s of result.samples) encodePngImage(s, DEFAULT_PNG_LEVEL);
          split.png += performance.now() - tp;
        }
        split.tokenize += result.timings.tokenizeMs;
        split.text += result.timings.textEncoderMs;
        split.denoise += result.timings.stepMs.reduce((x, y) => x + y, 0);
        split.vae += result.timings.vaeMs;
      }
      engineSide.cpuMs += processCpuMs() - cpu;
      engineSide.blockMs.push(performance.now() - t);
      engineSide.rounds += blockRounds;
    };
    // Blocks alternate A B B A, so that a noisy neighbour, or a trend in the machine's load, hits both alike;
    // bounded by a block count as well as by the time asked for.
    const started = performance.now();
    const maxBlocks = 50 * Math.ceil(minRounds / blockRounds);
    for (let block = 0; block < maxBlocks; block++) {
      const enough =
        bareSide.rounds >= minRounds &&
        engineSide.rounds >= minRounds &&
        performance.now() - started >= 2 * minSeconds * 1000;
      if (enough && block % 2 === 0) break;
      if (block % 2 === 0) {
        await runBare();
        await runEngine(block);
      } else {
        await runEngine(block);
        await runBare();
      }
    }
    const total = (side: Side) => side.blockMs.reduce((x, y) => x + y, 0);
    const bareRate = (batch * bareSide.rounds * 1000) / total(bareSide);
    const engineRate = (batch * engineSide.rounds * 1000) / total(engineSide);
    // Each pair of blocks run next to each other gives a ratio of its own: their spread shows the noise.
    const pairRatios = bareSide.blockMs.map((ms, i) => ms / engineSide.blockMs[i]);
    const interval = medianInterval(pairRatios);
    const n = engineSide.rounds;
    const per = (x: number) => (x / n).toFixed(1);
    const bareStep =
      bareSide.denoiseRounds > 0 ? (bareSide.denoiseMs / bareSide.denoiseRounds / steps).toFixed(2) : "-";
    const cells = [
      String(batch).padStart(5),
      bareRate.toFixed(2).padStart(10),
      engineRate.toFixed(2).padStart(12),
      (engineRate / bareRate).toFixed(3),
      quantile(pairRatios, 0.5).toFixed(3).padStart(12),
      `${interval[0].toFixed(3)}-${interval[1].toFixed(3)}`.padStart(13),
      goalVerdict(interval).padStart(9),
      `${quantile(pairRatios, 0.1).toFixed(3)}-${quantile(pairRatios, 0.9).toFixed(3)}`.padStart(11),
      (bareSide.cpuMs / bareSide.rounds / (engineSide.cpuMs / n)).toFixed(3).padStart(9),
      `${bareStep} / ${(split.denoise / n / steps).toFixed(2)}`.padStart(25),
      String(n).padStart(6),
      `${per(split.tokenize)} / ${per(split.text)} / ${per(split.denoise)} / ${per(split.vae)} / ${values.png ? per(split.png) : "off"}`,
    ];
    console.log(cells.join(" | "));
    const bs = bare.split;
    if (bs && bs.rounds > 0) {
      const perBare = (x: number) => (x / bs.rounds).toFixed(1);
      console.log(
        `      bare split: text / denoise / vae (ms per batch) ${perBare(bs.text)} / ${perBare(bs.denoise)} / ${perBare(bs.vae)}`,
      );
      Object.assign(bs, { text: 0, denoise: 0, vae: 0, rounds: 0 });
    }
  }
  console.log(`load average at end ${loadLine()}`);
  handoverCost(1024);
  await engine.close();
}

/**
 * What handing over an image costs the engine thread at a real model's size: converting the VAE's floats
 * to 8-bit RGB there (what it did for every image) against the copy of the float handover a worker uses
 * (a batch of two: a batch of one is handed over without it), alternated, medians of 9.
 */
function handoverCost(side: number): void {
  const size = 3 * side * side;
  const pixels = Float32Array.from({ length: 2 * size }, (_, i) => Math.sin(i * 0.37) * 1.05);
  const rgbMs: number[] = [];
  const floatMs: number[] = [];
  for (let r = 0; r < 9; r++) {
    let t = performance.now();
    toRgbImages(pixels, 2, side, side, []);
    rgbMs.push((performance.now() - t) / 2);
    t = performance.now();
    splitImages(pixels, 2, size);
    floatMs.push((performance.now() - t) / 2);
  }
  const [a, b] = [quantile(rgbMs, 0.5), quantile(floatMs, 0.5)];
  console.log(
    `engine thread per ${side}x${side} image: RGB conversion ${a.toFixed(1)} ms, float handover (a copy) ${b.toFixed(1)} ms (${(a / b).toFixed(1)}x less)`,
  );
}

/** The cores this process may run on (Linux; "?" elsewhere), to tell a pinned run from a free one. */
function coresAllowed(): string {
  try {
    return /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync("/proc/self/status", "utf8"))?.[1] ?? "?";
  } catch {
    return "?";
  }
}

function loadLine(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(", ");
}

await main();
