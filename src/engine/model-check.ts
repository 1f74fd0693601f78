/**
 * `checkModelFolder`: everything Latent Fleet can tell about a model folder before a job starts it: the
 * family, its components with their ONNX signatures, sizes and parameter counts, native size, VAE scale,
 * default scheduler, dtypes, and the conditioning width, checked against the UNet. It throws the first
 * problem as a typed error (exit 2), or returns the report.
 */
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import type { SchedulerName } from "../common/contract/schedulers.js";
import { isLatentFleetError, LatentFleetError } from "../common/errors.js";
import { type Device, parseDevice } from "./device.js";
import type { ModelFolder } from "./families/types.js";
import { readModelFolder } from "./model-folder.js";
import type { OnnxModel, TensorInfo } from "./onnx-model.js";
import { countFileParameters } from "./onnx-parameters.js";
import { defaultSchedulerName } from "./schedulers/index.js";
import { checkSchedulerSuitsModel } from "./schedulers/model-family.js";

export interface TensorSignature {
  name: string;
  type: string;
  shape: (number | string)[];
}

export interface ComponentReport {
  name: string;
  files: { file: string; bytes: number }[];
  bytes: number;
  /** From the ONNX initializers; absent for non-ONNX components or when sessions were not loaded. */
  parameters?: number;
  inputs?: TensorSignature[];
  outputs?: TensorSignature[];
}

export interface ModelReport {
  dir: string;
  name: string;
  family: string;
  description: string;
  className: string | undefined;
  nativeSize: number | undefined;
  latentChannels: number | undefined;
  /** Latent down-sampling of the VAE (8). */
  vaeScale: number;
  vaeScalingFactor: number;
  defaultScheduler: string;
  schedulerClass: string | undefined;
  timestepSpacing: string | undefined;
  /** Token ids, UNet and VAE float types, as the sessions declare them. */
  dtypes?: { inputIds: string; unet: string; vae: string };
  /** The flow-matching transformer families (sd3, flux): denoiser, text encoders, σ shift, latent packing. */
  flow?: { denoiser: string; textEncoders: string; shift: string; packing: string; vaeShiftFactor: number };
  conditioning?: {
    sequenceLength: number;
    width: number;
    pooledWidth: number;
    emptyNegativeIsZeros: boolean;
  };
  components: ComponentReport[];
  parameters?: number;
  bytes: number;
  warnings: string[];
}

export interface CheckOptions {
  device?: Device;
  /** Create the ONNX sessions and encode a text (default); false reads files and configs only. */
  sessions?: boolean;
  /** A scheduler the job asks for: refused (INVALID_ARGUMENT) when it cannot drive this model's denoiser. */
  scheduler?: SchedulerName;
}

const COMPONENTS = [
  "text_encoder",
  "text_encoder_2",
  "tokenizer",
  "tokenizer_2",
  "text_encoder_3",
  "tokenizer_3",
  "unet",
  "transformer",
  "vae_decoder",
  "scheduler",
];

async function listFiles(dir: string, prefix = ""): Promise<{ file: string; bytes: number }[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: { file: string; bytes: number }[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(path, `${prefix}${e.name}/`)));
    else if (e.isFile()) out.push({ file: `${prefix}${e.name}`, bytes: (await stat(path)).size });
  }
  return out;
}

function signature(t: TensorInfo): TensorSignature {
  return { name: t.name, type: t.type, shape: [...t.shape] };
}

function fixedDim(info: TensorInfo | undefined, axis: number): number | undefined {
  const d = info?.shape[axis];
  return typeof d === "number" && d > 0 ? d : undefined;
}

function invalid(message: string): LatentFleetError {
  return new LatentFleetError("MODEL_INVALID", message);
}

/** SDXL's VAE overflows in float16 (its config says force_upcast); what to export instead. */
function vaeWarnings(folder: ModelFolder, vae: OnnxModel | undefined): string[] {
  const type = vae?.input("latent_sample")?.type;
  if (type !== "float16" || !(folder.vaeForceUpcast || folder.family.name === "sdxl")) return [];
  return [
    "vae_decoder is float16, and this VAE overflows in float16 (force_upcast in its config): expect black or NaN images. " +
      "Export the VAE in float32 (it is small; docs/models.md shows how) or use the madebyollin/sdxl-vae-fp16-fix VAE",
  ];
}

/** Reads, loads and cross-checks a model folder; throws the first problem found (exit code 2). */
export async function checkModelFolder(dirArg: string, options: CheckOptions = {}): Promise<ModelReport> {
  const folder = await readModelFolder(dirArg);
  const defaultScheduler = defaultSchedulerName(folder.schedulerConfig);
  if (options.scheduler !== undefined) checkSchedulerSuitsModel(options.scheduler, folder.schedulerConfig);
  const components: ComponentReport[] = [];
  for (const name of COMPONENTS) {
    const files = await listFiles(join(folder.dir, name));
    if (files.length === 0) continue;
    components.push({ name, files, bytes: files.reduce((s, f) => s + f.bytes, 0) });
  }
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  const report: ModelReport = {
    dir: folder.dir,
    name: folder.name,
    family: folder.family.name,
    description: folder.family.description,
    className: str(folder.index._class_name),
    nativeSize: folder.nativeSize,
    latentChannels: undefined,
    vaeScale: folder.vaeScale,
    vaeScalingFactor: folder.vaeScalingFactor,
    defaultScheduler,
    schedulerClass: str(folder.schedulerConfig._class_name),
    timestepSpacing: str(folder.schedulerConfig.timestep_spacing),
    components,
    bytes: components.reduce((s, c) => s + c.bytes, 0),
    warnings: [],
  };
  if (options.sessions === false) return report;

  // Loaded only here: a files-only check (what `run` and `submit` do before a start) needs no ONNX Runtime.
  const { loadFamilySessions, releaseSessions } = await import("./sessions.js");
  const sessions = await loadFamilySessions(folder, options.device ?? parseDevice("cpu"));
  try {
    const parts = await folder.family.assemble(folder, sessions);
    for (const c of components) {
      const model = sessions.get(c.name);
      if (!model) continue;
      c.inputs = model.inputs.map(signature);
      c.outputs = model.outputs.map(signature);
      c.parameters = await countFileParameters(join(folder.dir, c.name, "model.onnx"));
    }
    const counts = components.map((c) => c.parameters).filter((n): n is number => n !== undefined);
    report.parameters = counts.length > 0 ? counts.reduce((s, n) => s + n, 0) : undefined;
    const unet = parts.denoiser;
    report.latentChannels = unet.latentChannels;
    if (parts.flow) report.flow = { ...parts.flow, vaeShiftFactor: folder.vaeShiftFactor };
    const vae = sessions.get("vae_decoder");
    report.dtypes = {
      inputIds: sessions.get("text_encoder")?.input("input_ids")?.type ?? "?",
      unet: unet.sample.type,
      vae: vae?.input("latent_sample")?.type ?? "?",
    };
    // One real encode: the text encoders run, and their width must be what the UNet takes.
    const conditioner = parts.conditioner;
    try {
      await conditioner.encode([""]);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw invalid(`${folder.dir}: the text encoders fail on an empty prompt: ${why}`);
    }
    report.conditioning = {
      sequenceLength: conditioner.sequenceLength,
      width: conditioner.width,
      pooledWidth: conditioner.pooledWidth,
      emptyNegativeIsZeros: conditioner.zeroEmptyNegative,
    };
    const ctx = fixedDim(unet.context, 2);
    if (ctx !== undefined && ctx !== conditioner.width) {
      throw invalid(
        `${folder.dir}: the text encoders give ${conditioner.width}-wide states but the UNet's encoder_hidden_states takes ${ctx}`,
      );
    }
    const pooledInput = unet.extraInputs.find(
      (t) => t.name === "text_embeds" || t.name === "pooled_projections",
    );
    const pooled = fixedDim(pooledInput, 1);
    if (pooled !== undefined && pooled !== conditioner.pooledWidth) {
      throw invalid(
        pooledInput?.name === "text_embeds"
          ? `${folder.dir}: text_encoder_2 gives ${conditioner.pooledWidth}-wide text_embeds but the UNet takes ${pooled}`
          : `${folder.dir}: the text encoders give a ${conditioner.pooledWidth}-wide pooled vector but the transformer's pooled_projections takes ${pooled}`,
      );
    }
    report.warnings.push(...vaeWarnings(folder, vae));
    const device = options.device ?? parseDevice("cpu");
    if (device.kind === "cpu" && unet.sample.type === "float16") {
      report.warnings.push(
        "float16 export on CPU: ONNX Runtime's CPU kernels are slow in float16; use a float32 export",
      );
    }
  } catch (err) {
    // A session that loads but fails to run is a model problem found before any work: exit 2, not 1.
    if (isLatentFleetError(err) && err.code !== "ENGINE_FAILED") throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new LatentFleetError("MODEL_INVALID", `${folder.dir}: ${why}`, { cause: err });
  } finally {
    await releaseSessions(sessions.values());
  }
  return report;
}

function megabytes(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function count(n: number | undefined): string {
  if (n === undefined) return "?";
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : `${n}`;
}

function shape(s: TensorSignature): string {
  return `${s.name} ${s.type} [${s.shape.join(", ")}]`;
}

/** The report as `latent-fleet model check` prints it. */
export function formatModelReport(r: ModelReport): string {
  const lines = [
    r.dir,
    `family        ${r.family}: ${r.description}${r.className ? ` (${r.className})` : ""}`,
    `native size   ${r.nativeSize === undefined ? `unknown (${r.flow ? "transformer" : "unet"}/config.json has no sample_size)` : `${r.nativeSize}x${r.nativeSize}`}`,
    `latents       ${r.latentChannels ?? "?"} channels, 1/${r.vaeScale} of the image; VAE scaling factor ${r.vaeScalingFactor}${r.flow ? `, shift factor ${r.flow.vaeShiftFactor}` : ""}`,
    `scheduler     ${r.defaultScheduler} (${r.schedulerClass ?? "no _class_name"}${r.timestepSpacing ? `, ${r.timestepSpacing} spacing` : ""})`,
  ];
  if (r.flow) {
    lines.push(
      `denoiser      ${r.flow.denoiser}`,
      `text encoders ${r.flow.textEncoders}`,
      `shift         ${r.flow.shift}`,
      `packing       ${r.flow.packing}`,
    );
  }
  if (r.dtypes)
    lines.push(
      `dtypes        input_ids ${r.dtypes.inputIds}, ${r.flow ? "transformer" : "unet"} ${r.dtypes.unet}, vae ${r.dtypes.vae}`,
    );
  if (r.conditioning) {
    const c = r.conditioning;
    lines.push(
      `conditioning  ${c.sequenceLength} tokens x ${c.width}${c.pooledWidth > 0 ? `, pooled ${c.pooledWidth}` : ""}; empty negative prompt: ${c.emptyNegativeIsZeros ? "zeros" : "encoded"}`,
    );
  }
  lines.push(`size          ${count(r.parameters)} parameters, ${megabytes(r.bytes)} on disk`, "components");
  for (const c of r.components) {
    const params = c.parameters === undefined ? "" : `, ${count(c.parameters)} parameters`;
    lines.push(
      `  ${c.name.padEnd(15)} ${megabytes(c.bytes)}${params}: ${c.files.map((f) => f.file).join(", ")}`,
    );
    for (const s of c.inputs ?? []) lines.push(`      in  ${shape(s)}`);
    for (const s of c.outputs ?? []) lines.push(`      out ${shape(s)}`);
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return `${lines.join("\n")}\n`;
}
