/**
 * Draws a shapes model's own latents, as its users get them, for the decoder's training
 * (models/tiny-shapes/train.py --stage clean-decoder): every one of the 54 captions with --seeds seeds
 * (from 1000 on, so that no test's or contact sheet's seed is among them), a random scheduler of the model's
 * kind, 20 steps and a guidance of 2 to 7. Each batch's denoised latents are taken where the VAE decoder
 * gets them (already divided by the scaling factor, shift added).
 *
 * Writes OUT.f32 (float32 [N, C, h, w]) and OUT.json (each latent's scene, seed, scheduler and guidance).
 * Run: tsx scripts/shapes-latents.ts MODEL_DIR OUT [--seeds 24]
 */
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { SampleRequest } from "../src/common/contract/sample.js";
import type { SchedulerName } from "../src/common/contract/schedulers.js";
import { parseDevice } from "../src/engine/device.js";
import { DiffusionPipeline } from "../src/engine/pipeline.js";
import { VaeDecoderModel } from "../src/engine/vae-decoder.js";
import { allScenes, caption, type ShapeScene } from "../src/eval/shapes-adherence.js";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { seeds: { type: "string", default: "24" } },
});
if (positionals.length !== 2)
  throw new Error("usage: tsx scripts/shapes-latents.ts MODEL_DIR OUT [--seeds N]");
const [modelDir, out] = positionals.map((p) => resolve(p));
const seeds = Number(values.seeds);

const captured: Float32Array[] = [];
const decode = VaeDecoderModel.prototype.decode;
VaeDecoderModel.prototype.decode = function (latents, dims) {
  captured.push(latents.slice());
  return decode.call(this, latents, dims);
};

const pipe = await DiffusionPipeline.load(modelDir, parseDevice("cpu"));
const flow = pipe.describe().defaultScheduler === "flow_euler";
const schedulers: SchedulerName[] = flow ? ["flow_euler"] : ["euler", "ddim", "euler_ancestral", "dpmpp_2m"];
// A seeded draw of each sample's scheduler and guidance, so a run can be repeated.
let state = 0x2545f491;
const random = () => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
  return state / 2 ** 32;
};
const rows: { scene: ShapeScene; seed: number; scheduler: SchedulerName; guidance: number }[] = [];
for (let s = 0; s < seeds; s++) {
  for (const scene of allScenes()) {
    const scheduler = schedulers[Math.floor(random() * schedulers.length)];
    rows.push({ scene, seed: 1000 + s, scheduler, guidance: Math.round((2 + 5 * random()) * 100) / 100 });
  }
}
const started = performance.now();
const order: typeof rows = [];
// A batch shares its scheduler and guidance (one batch key), as a worker's batches do.
for (const scheduler of schedulers) {
  const mine = rows.filter((r) => r.scheduler === scheduler);
  for (let i = 0; i < mine.length; i += 8) {
    const chunk = mine.slice(i, i + 8);
    const guidance = chunk[0].guidance;
    const requests: SampleRequest[] = chunk.map((r) => ({
      prompt: caption(r.scene),
      negativePrompt: "",
      seed: r.seed,
      steps: 20,
      guidanceScale: guidance,
      scheduler,
      width: 64,
      height: 64,
    }));
    await pipe.generate(requests);
    for (const r of chunk) order.push({ ...r, guidance });
  }
  console.log(`${scheduler}: ${mine.length} latents, ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
await pipe.release();
const total = captured.reduce((n, a) => n + a.length, 0);
const all = new Float32Array(total);
let offset = 0;
for (const a of captured) {
  all.set(a, offset);
  offset += a.length;
}
await writeFile(`${out}.f32`, all);
await writeFile(
  `${out}.json`,
  JSON.stringify({ model: modelDir, shape: [order.length, total / order.length], rows: order }),
);
console.log(`${out}.f32: ${order.length} latents of ${total / order.length} values`);
