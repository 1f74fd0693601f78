/**
 * Whether this onnxruntime-node install can run a GPU device. Its npm package ships the CPU provider only;
 * the CUDA and TensorRT provider libraries are downloaded beside the native binding at install time
 * (ONNXRUNTIME_NODE_INSTALL=cuda12). Without them ONNX Runtime fails each session with screens of native
 * errors that blame the model file, so the check runs before any session is made.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LatentFleetError } from "../common/errors.js";
import type { Device } from "./device.js";

const INSTALL_HINT =
  "install onnxruntime-node's GPU binaries with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`, or use the image of deploy/docker/Dockerfile.cuda (README: Devices)";

/** The folder that holds onnxruntime-node's native binding (and the provider libraries beside it). */
export function onnxRuntimeBindingDir(): string {
  const entry = createRequire(import.meta.url).resolve("onnxruntime-node");
  return join(dirname(entry), "..", "bin", "napi-v6", process.platform, process.arch);
}

/** The file name of a provider's shared library on this platform. */
export function providerLibrary(provider: "cuda" | "tensorrt"): string {
  if (process.platform === "win32") return `onnxruntime_providers_${provider}.dll`;
  return `libonnxruntime_providers_${provider}.so`;
}

/** True when the provider library of this GPU kind is installed beside the binding. */
export function hasExecutionProvider(provider: "cuda" | "tensorrt"): boolean {
  return existsSync(join(onnxRuntimeBindingDir(), providerLibrary(provider)));
}

/** Throws DEVICE_UNAVAILABLE, one line, when the device's provider libraries are not installed. */
export function requireExecutionProvider(device: Device): void {
  if (device.kind === "cpu") return;
  // TensorRT falls back to CUDA for what it cannot run: both are needed.
  const needed = device.kind === "tensorrt" ? (["tensorrt", "cuda"] as const) : (["cuda"] as const);
  for (const provider of needed) {
    if (!hasExecutionProvider(provider)) {
      throw new LatentFleetError(
        "DEVICE_UNAVAILABLE",
        `--device ${device.kind}:${device.id}: the ${provider === "cuda" ? "CUDA" : "TensorRT"} execution provider is not available in this onnxruntime-node install (${providerLibrary(provider)} is missing); ${INSTALL_HINT}`,
      );
    }
  }
}

/**
 * A session that failed because a provider library could not be loaded (it is there, but CUDA, cuDNN or
 * TensorRT themselves are missing): a set-up problem of the machine, not a broken model.
 */
export function providerLoadFailure(err: unknown, device: Device): LatentFleetError | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (device.kind === "cpu" || !/AppendExecutionProvider|providers_(shared|cuda|tensorrt)/i.test(message)) {
    return undefined;
  }
  return new LatentFleetError(
    "DEVICE_UNAVAILABLE",
    `--device ${device.kind}:${device.id}: ONNX Runtime cannot load its ${device.kind === "cuda" ? "CUDA" : "TensorRT"} execution provider (${message.split("\n")[0]}); check the CUDA/cuDNN libraries, or ${INSTALL_HINT}`,
    { cause: err },
  );
}
