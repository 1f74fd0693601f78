/**
 * Reads a model folder in the diffusers/Optimum ONNX layout: model_index.json, tokenizer/,
 * text_encoder/, unet/, vae_decoder/, scheduler/. Only the files are checked here; tensor names,
 * dtypes and shapes are read from the ONNX sessions when they are created.
 */
import { stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { LatentFleetError } from "../common/errors.js";
import { isRecord, readJsonFile } from "../common/json-file.js";

/** SD 1.x / 2.x VAE scaling factor, used when vae_decoder/config.json does not give one. */
export const DEFAULT_VAE_SCALING_FACTOR = 0.18215;

export interface ModelFolder {
  dir: string;
  /** Folder name: how jobs and metrics name the model. */
  name: string;
  textEncoderPath: string;
  unetPath: string;
  vaeDecoderPath: string;
  tokenizerDir: string;
  schedulerConfig: Record<string, unknown>;
  vaeScalingFactor: number;
  /** Present on guidance-distilled (LCM) UNets: the width of the guidance embedding. */
  timeCondProjDim: number | undefined;
  /** Native image size in pixels, from unet/config.json sample_size (latent) times 8, if known. */
  nativeSize: number | undefined;
  /** Latent down-sampling of the VAE. */
  vaeScale: number;
}

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
  if ("text_encoder_2" in index && index.text_encoder_2 !== null) {
    throw new LatentFleetError(
      "MODEL_INVALID",
      `${dir}: SDXL-style models (text_encoder_2) are not supported yet; use an SD 1.x/2.x, SD-Turbo or LCM export`,
    );
  }
  const textEncoderPath = await requireFile(dir, "text_encoder/model.onnx");
  const unetPath = await requireFile(dir, "unet/model.onnx");
  const vaeDecoderPath = await requireFile(dir, "vae_decoder/model.onnx");
  await requireFile(dir, "tokenizer/vocab.json");
  await requireFile(dir, "tokenizer/merges.txt");
  const schedulerPath = await requireFile(dir, "scheduler/scheduler_config.json");
  const schedulerConfig = await optionalJson(schedulerPath);
  const vaeConfigPath = join(dir, "vae_decoder/config.json");
  const vaeConfig = await optionalJson(vaeConfigPath);
  const unetConfigPath = join(dir, "unet/config.json");
  const unetConfig = await optionalJson(unetConfigPath);
  const blockChannels = vaeConfig?.block_out_channels;
  const vaeScale =
    Array.isArray(blockChannels) && blockChannels.length > 0 ? 2 ** (blockChannels.length - 1) : 8;
  const latentSize = positiveNumber(unetConfig?.sample_size, unetConfigPath, "sample_size");
  return {
    dir,
    name: basename(dir),
    textEncoderPath,
    unetPath,
    vaeDecoderPath,
    tokenizerDir: join(dir, "tokenizer"),
    schedulerConfig: schedulerConfig ?? {},
    vaeScalingFactor:
      positiveNumber(vaeConfig?.scaling_factor, vaeConfigPath, "scaling_factor") ??
      DEFAULT_VAE_SCALING_FACTOR,
    timeCondProjDim: positiveNumber(unetConfig?.time_cond_proj_dim, unetConfigPath, "time_cond_proj_dim"),
    nativeSize: latentSize === undefined ? undefined : latentSize * vaeScale,
    vaeScale,
  };
}
