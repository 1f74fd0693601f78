/**
 * bench/denoiser-inputs: does the denoiser's run time depend on the values it is fed? bench/engine's bare loop
 * feeds constant latents (0.5) and the engine its real, changing ones; if ONNX Runtime were faster on the
 * constant ones (denormals, say), the bare loop's per-step time would not be the engine's to match.
 *
 * The pipeline runs here, in this thread, batch after batch; every other batch has the denoiser's latent input
 * replaced by 0.5 for the call (and put back after it, so sampling goes on as before). The median run time
 * of each kind of call, side by side in one process, answers the question without the machine's drift.
 * Usage: node dist/bench/denoiser-inputs.js [--model DIR] [--batch 8] [--threads N] [--batches 80]
 */
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type ort from "onnxruntime-node";
import type { SampleRequest } from "../src/common/contract/sample.js";
import { bundledModelDir } from "../src/common/package-root.js";
import { parseDevice } from "../src/engine/device.js";
import { OnnxModel } from "../src/engine/onnx-model.js";
import { DiffusionPipeline } from "../src/engine/pipeline.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: bundledModelDir() },
    batch: { type: "string", default: "8" },
    threads: { type: "string" },
    batches: { type: "string", default: "80" },
  },
});
const batch = Number(values.batch);
const batches = Number(values.batches);

type Kind = "engine" | "constant";
const runs: Record<Kind, number[]> = { engine: [], constant: [] };
let kind: Kind = "engine";
let timing = false;

const run = OnnxModel.prototype.run;
OnnxModel.prototype.run = async function (
  this: OnnxModel,
  feeds: Record<string, ort.Tensor>,
  outputName: string,
): Promise<ort.Tensor> {
  // The denoiser's latent input: sample (UNet) or hidden_states (transformer); other sessions pass through.
  const latent = feeds.sample ?? feeds.hidden_states;
  if (!latent || !(latent.data instanceof Float32Array)) return run.call(this, feeds, outputName);
  const saved = kind === "constant" ? latent.data.slice() : undefined;
  if (saved) latent.data.fill(0.5);
  const t = performance.now();
  const out = await run.call(this, feeds, outputName);
  if (timing) runs[kind].push(performance.now() - t);
  if (saved && latent.data instanceof Float32Array) latent.data.set(saved);
  return out;
};

const quantile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * (xs.length - 1))];

const pipeline = await DiffusionPipeline.load(values.model, parseDevice("cpu"), {
  intraOpThreads: values.threads ? Number(values.threads) : undefined,
});
const model = pipeline.describe();
const flow = model.family === "sd3" || model.family === "flux";
let counter = 0;
const request = (): SampleRequest => ({
  prompt: `a red circle on a white background ${counter++}`,
  negativePrompt: "",
  seed: counter,
  steps: 20,
  guidanceScale: 4,
  scheduler: flow ? "flow_euler" : "euler",
  width: 64,
  height: 64,
});
const next = () => pipeline.generate(Array.from({ length: batch }, request));
for (let i = 0; i < 10; i++) await next();
timing = true;
for (let i = 0; i < batches; i++) {
  kind = i % 2 === 0 ? "engine" : "constant";
  await next();
}
const cell = (xs: number[]) =>
  `median ${quantile(xs, 0.5).toFixed(3)} ms (p25 ${quantile(xs, 0.25).toFixed(3)}, ${xs.length} runs)`;
console.log(
  `${model.name} (${model.family}) batch ${batch}, ${values.threads ?? "ONNX Runtime's choice of"} threads, load ${loadavg()[0].toFixed(2)}`,
);
console.log(`denoiser run with the engine's latents: ${cell(runs.engine)}`);
console.log(`denoiser run with constant 0.5:         ${cell(runs.constant)}`);
await pipeline.release();
