/** `latent-fleet sample`: one image from one prompt, the smallest way to try a model. */
import { randomInt } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { SAMPLE_LIMITS } from "../../common/contract/sample.js";
import { parseSchedulerName } from "../../common/contract/schedulers.js";
import { MAX_SEED } from "../../common/contract/seed.js";
import { LatentFleetError } from "../../common/errors.js";
import { type OptionDefinitions, type OptionValues, WORKER_OPTIONS } from "../../common/options/index.js";
import { bundledModelDir } from "../../common/package-root.js";
import { parseDevice } from "../../engine/device.js";
import { EngineHost } from "../../engine/engine-host.js";
import { encodePng } from "../../engine/png.js";
import { addDefinedOptions, commandOptions } from "../options.js";

const SAMPLE_OPTIONS = {
  model: {
    type: "text",
    flag: "--model",
    value: "<dir>",
    unset: "the bundled model",
    help: "model folder (diffusers ONNX layout)",
  },
  prompt: { type: "text", flag: "--prompt", value: "<text>", required: true, help: "what to draw" },
  negativePrompt: {
    type: "text",
    flag: "--negative-prompt",
    value: "<text>",
    default: "",
    help: "what to steer away from",
  },
  seed: {
    type: "integer",
    flag: "--seed",
    value: "<n>",
    min: 0,
    max: MAX_SEED,
    unset: "random, printed",
    help: "seed",
  },
  steps: {
    type: "integer",
    flag: "--steps",
    value: "<n>",
    min: 1,
    max: SAMPLE_LIMITS.maxSteps,
    default: 20,
    help: "denoising steps",
  },
  guidanceScale: {
    type: "number",
    flag: "--guidance-scale",
    value: "<g>",
    min: 0,
    max: SAMPLE_LIMITS.maxGuidanceScale,
    default: 4,
    help: "classifier-free guidance scale (1 turns it off)",
  },
  scheduler: {
    type: "text",
    flag: "--scheduler",
    value: "<name>",
    unset: "the model's",
    help: "ddim, euler, euler_ancestral, dpmpp_2m, dpmpp_2m_karras or lcm; flow_euler for flow-matching models",
  },
  width: {
    type: "integer",
    flag: "--width",
    value: "<px>",
    min: 8,
    max: 4096,
    unset: "the model's native size",
    help: "image width",
  },
  height: {
    type: "integer",
    flag: "--height",
    value: "<px>",
    min: 8,
    max: 4096,
    unset: "the model's native size",
    help: "image height",
  },
  device: { ...WORKER_OPTIONS.device, help: "cpu, cuda:N or tensorrt:N" },
  threads: {
    ...WORKER_OPTIONS.threads,
    help: "CPU threads for inference",
    unset: "ONNX Runtime's choice (physical cores)",
  },
  out: { type: "text", flag: "--out", value: "<file.png>", required: true, help: "where to write the PNG" },
} as const satisfies OptionDefinitions;

type SampleOptions = OptionValues<typeof SAMPLE_OPTIONS>;

export function registerSample(program: Command): void {
  const cmd = program
    .command("sample")
    .description("generate one image from one prompt")
    .action(async (_: unknown, cmd: Command) => {
      await runSample(commandOptions(cmd, SAMPLE_OPTIONS));
    });
  addDefinedOptions(cmd, SAMPLE_OPTIONS);
}

async function runSample(opts: SampleOptions): Promise<void> {
  const device = parseDevice(opts.device);
  const scheduler = opts.scheduler === undefined ? undefined : parseSchedulerName(opts.scheduler);
  if (!opts.out.toLowerCase().endsWith(".png")) {
    throw new LatentFleetError("INVALID_ARGUMENT", `--out must name a .png file, got ${opts.out}`);
  }
  const started = Date.now();
  const modelDir = opts.model ?? bundledModelDir();
  const engine = await EngineHost.start({ modelDir, device, intraOpThreads: opts.threads });
  try {
    const size = engine.model.nativeSize ?? 512;
    const seed = opts.seed ?? randomInt(0, 2 ** 31);
    const request = {
      prompt: opts.prompt,
      negativePrompt: opts.negativePrompt,
      seed,
      steps: opts.steps,
      guidanceScale: opts.guidanceScale,
      scheduler: scheduler ?? engine.model.defaultScheduler,
      width: opts.width ?? size,
      height: opts.height ?? size,
    };
    engine.validate(request);
    const { samples } = await engine.generate([request]);
    const image = samples[0];
    for (const w of image.warnings) process.stderr.write(`warning: ${w}\n`);
    const out = resolve(opts.out);
    await mkdir(dirname(out), { recursive: true });
    const tmp = `${out}.tmp-${process.pid}`;
    await writeFile(tmp, encodePng(image.rgb, image.width, image.height));
    await rename(tmp, out);
    process.stdout.write(
      `${out}: ${image.width}x${image.height}, seed ${seed}, ${request.steps} steps, ${request.scheduler}, ` +
        `guidance ${request.guidanceScale}, ${((Date.now() - started) / 1000).toFixed(2)} s\n`,
    );
  } finally {
    await engine.close();
  }
}
