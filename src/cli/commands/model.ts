/**
 * `latent-fleet model check DIR`: what the engine makes of a model folder (family, components and their
 * ONNX signatures, native size, VAE scale, scheduler, dtypes, parameters, sizes). Exit 0, or 2 with the
 * first problem found.
 */
import type { Command } from "commander";
import { parseDevice } from "../../engine/device.js";
import { checkModelFolder, formatModelReport } from "../../engine/model-check.js";

interface CheckCliOptions {
  json?: boolean;
  device: string;
}

export function registerModel(program: Command): void {
  const model = program.command("model").description("model folder tools");
  model
    .command("check")
    .description("load a model folder and print what the engine finds in it; exit 2 with the first problem")
    .argument("<dir>", "model folder (diffusers/Optimum ONNX layout)")
    .option("--json", "print JSON")
    .option("--device <device>", "cpu, cuda:N or tensorrt:N: where the sessions are created", "cpu")
    .action(async (dir: string, opts: CheckCliOptions) => {
      const report = await checkModelFolder(dir, { device: parseDevice(opts.device) });
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatModelReport(report));
    });
}
