/** `latent-fleet sample`: one image from one prompt, the smallest way to try a model. */
import { randomInt } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { SAMPLE_LIMITS } from "../../common/contract/sample.js";
import { parseSchedulerName } from "../../common/contract/schedulers.js";
import { MAX_SEED } from "../../common/contract/seed.js";
import { LatentFleetError } from "../../common/errors.js";
import { bundledModelDir } from "../../common/package-root.js";
import { parseDevice } from "../../engine/device.js";
import { EngineHost } from "../../engine/engine-host.js";
import { encodePng } from "../../engine/png.js";
import { integerOption, numberOption } from "../options.js";

interface SampleOptions {
  model: string;
  prompt: string;
  negativePrompt: string;
  seed?: number;
  steps: number;
  guidanceScale: number;
  scheduler?: string;
  width?: number;
  height?: number;
  device: string;
  threads?: number;
  out: string;
}

export function registerSample(program: Command): void {
  program
    .command("sample")
    .description("generate one image from one prompt")
    .option("--model <dir>", "model folder (diffusers ONNX layout)", bundledModelDir())
    .requiredOption("--prompt <text>", "what to draw")
    .option("--negative-prompt <text>", "what to steer away from", "")
    .option("--seed <n>", "seed (random when not given; printed)", integerOption("--seed", 0, MAX_SEED))
    .option("--steps <n>", "denoising steps", integerOption("--steps", 1, SAMPLE_LIMITS.maxSteps), 20)
    .option(
      "--guidance-scale <g>",
      "classifier-free guidance scale (1 turns it off)",
      numberOption("--guidance-scale", 0, SAMPLE_LIMITS.maxGuidanceScale),
      4,
    )
    .option(
      "--scheduler <name>",
      "ddim, euler, euler_ancestral, dpmpp_2m, dpmpp_2m_karras or lcm (default: the model's)",
    )
    .option(
      "--width <px>",
      "image width (default: the model's native size)",
      integerOption("--width", 8, 4096),
    )
    .option(
      "--height <px>",
      "image height (default: the model's native size)",
      integerOption("--height", 8, 4096),
    )
    .option("--device <device>", "cpu, cuda:N or tensorrt:N", "cpu")
    .option(
      "--threads <n>",
      "CPU threads for inference (default: all cores)",
      integerOption("--threads", 1, 1024),
    )
    .requiredOption("--out <file.png>", "where to write the PNG")
    .action(async (opts: SampleOptions) => {
      await runSample(opts);
    });
}

async function runSample(opts: SampleOptions): Promise<void> {
  const device = parseDevice(opts.device);
  const scheduler = opts.scheduler === undefined ? undefined : parseSchedulerName(opts.scheduler);
  if (!opts.out.toLowerCase().endsWith(".png")) {
    throw new LatentFleetError("INVALID_ARGUMENT", `--out must name a .png file, got ${opts.out}`);
  }
  const started = Date.now();
  const engine = await EngineHost.start({ modelDir: opts.model, device, intraOpThreads: opts.threads });
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
