/**
 * Reads a model folder in the diffusers/Optimum ONNX layout: model_index.json, tokenizer/,
 * text_encoder/, unet/, vae_decoder/, scheduler/ (SDXL adds tokenizer_2/ and text_encoder_2/). The family
 * comes from model_index.json and says which files must be there; tensor names, dtypes and shapes are read
 * from the ONNX sessions when they are created.
 */
import { stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { LatentFleetError } from "../common/errors.js";
import { isRecord, readJsonFile } from "../common/json-file.js";
import { detectFamily, listedComponents } from "./families/index.js";
import type { ModelFolder } from "./families/types.js";

/** SD 1.x / 2.x VAE scaling factor, used when vae_decoder/config.json does not give one. */
export const DEFAULT_VAE_SCALING_FACTOR = 0.18215;

export type { ModelFolder } from "./families/types.js";

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function requireFile(dir: string, rel: string): Promise<string> {
  const path = join(dir, rel);
  if (!(await exists(path))) {
    throw new LatentFleetError(
      "MODEL_INVALID",
      `${dir} is not a complete diffusers ONNX model: ${rel} is missing`,
    );
  }
  return path;
}

async function optionalJson(path: string): Promise<Record<string, unknown> | undefined> {
  if (!(await exists(path))) return undefined;
  const value = await readJsonFile(path, "MODEL_INVALID");
  if (!isRecord(value)) throw new LatentFleetError("MODEL_INVALID", `${path}: expected a JSON object`);
  return value;
}

function positiveNumber(value: unknown, file: string, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new LatentFleetError("MODEL_INVALID", `${file}: field ${field} must be a positive number`);
  }
  return value;
}

function finiteNumber(value: unknown, file: string, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new LatentFleetError("MODEL_INVALID", `${file}: field ${field} must be a number`);
  }
  return value;
}

/** A model's name, as tasks are routed by it: its folder's name. */
export function modelNameOf(dirArg: string): string {
  return basename(resolve(dirArg));
}

export async function readModelFolder(dirArg: string): Promise<ModelFolder> {
  const dir = resolve(dirArg);
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(dir);
  } catch {
    throw new LatentFleetError("MODEL_NOT_FOUND", `model folder ${dir} does not exist`);
  }
  if (!info.isDirectory()) throw new LatentFleetError("MODEL_NOT_FOUND", `${dir} is not a folder`);
  const indexPath = await requireFile(dir, "model_index.json");
  const index = await readJsonFile(indexPath, "MODEL_INVALID");
  if (!isRecord(index)) throw new LatentFleetError("MODEL_INVALID", `${indexPath}: expected a JSON object`);
  const family = detectFamily(index, dir);
  const missing: string[] = [];
  const listed = listedComponents(index);
  const optional = (family.optionalSessions ?? []).filter((c) => listed.includes(c));
  const required = [...family.requiredFiles, ...optional.flatMap((c) => family.optionalFiles?.(c) ?? [])];
  for (const rel of required) if (!(await exists(join(dir, rel)))) missing.push(rel);
  if (missing.length > 0) {
    throw new LatentFleetError(
      "MODEL_INVALID",
      `${dir} is not a complete ${family.description} ONNX model: ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} missing`,
    );
  }
  const schedulerPath = join(dir, "scheduler/scheduler_config.json");
  const schedulerConfig = await optionalJson(schedulerPath);
  const vaeConfigPath = join(dir, "vae_decoder/config.json");
  const vaeConfig = await optionalJson(vaeConfigPath);
  const unetConfigPath = join(dir, "unet/config.json");
  const unetConfig = await optionalJson(unetConfigPath);
  const blockChannels = vaeConfig?.block_out_channels;
  const vaeScale =
    Array.isArray(blockChannels) && blockChannels.length > 0 ? 2 ** (blockChannels.length - 1) : 8;
  const transformerConfigPath = join(dir, "transformer/config.json");
  const transformerConfig = unetConfig ? undefined : await optionalJson(transformerConfigPath);
  const latentSize =
    positiveNumber(unetConfig?.sample_size, unetConfigPath, "sample_size") ??
    positiveNumber(transformerConfig?.sample_size, transformerConfigPath, "sample_size") ??
    family.defaultLatentSize;
  return {
    dir,
    name: modelNameOf(dir),
    family,
    index,
    textEncoderPath: join(dir, "text_encoder/model.onnx"),
    unetPath: join(dir, "unet/model.onnx"),
    vaeDecoderPath: join(dir, "vae_decoder/model.onnx"),
    tokenizerDir: join(dir, "tokenizer"),
    schedulerConfig: schedulerConfig ?? {},
    vaeScalingFactor:
      positiveNumber(vaeConfig?.scaling_factor, vaeConfigPath, "scaling_factor") ??
      DEFAULT_VAE_SCALING_FACTOR,
    vaeShiftFactor: finiteNumber(vaeConfig?.shift_factor, vaeConfigPath, "shift_factor") ?? 0,
    timeCondProjDim: positiveNumber(unetConfig?.time_cond_proj_dim, unetConfigPath, "time_cond_proj_dim"),
    nativeSize: latentSize === undefined ? undefined : latentSize * vaeScale,
    vaeScale,
    vaeForceUpcast: vaeConfig?.force_upcast === true,
    forceZerosForEmptyPrompt: index.force_zeros_for_empty_prompt !== false && family.name === "sdxl",
  };
}
