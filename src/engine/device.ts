/**
 * Devices and the ONNX Runtime session options for them. onnxruntime-node passes only a device id to the
 * CUDA and TensorRT providers, so the device id is the whole of the GPU configuration; CPU falls back last
 * so that operators a GPU provider lacks still run.
 */
import type { InferenceSession } from "onnxruntime-node";
import { LatentFleetError } from "../common/errors.js";

export type DeviceKind = "cpu" | "cuda" | "tensorrt";

export interface Device {
  kind: DeviceKind;
  /** GPU ordinal; 0 for cpu. */
  id: number;
}

export function parseDevice(text: string): Device {
  const match = /^(cpu|cuda|tensorrt)(?::(\d+))?$/.exec(text.trim().toLowerCase());
  if (!match) {
    throw new LatentFleetError(
      "DEVICE_INVALID",
      `unknown device "${text}": use cpu, cuda:N or tensorrt:N (N is the GPU ordinal, 0 by default)`,
    );
  }
  const kind = match[1] as DeviceKind;
  const id = match[2] === undefined ? 0 : Number(match[2]);
  if (kind === "cpu" && match[2] !== undefined) {
    throw new LatentFleetError("DEVICE_INVALID", `device "${text}": cpu takes no ordinal`);
  }
  return { kind, id };
}

export function formatDevice(device: Device): string {
  return device.kind === "cpu" ? "cpu" : `${device.kind}:${device.id}`;
}

export interface SessionTuning {
  /** Threads for one operator; CPU default: ONNX Runtime's own choice (its count of physical cores). */
  intraOpThreads?: number;
  /** Let ONNX Runtime's CPU pool threads spin while waiting for work (its default; off here, see sessionOptions). */
  spinning?: boolean;
}

export function sessionOptions(device: Device, tuning: SessionTuning = {}): InferenceSession.SessionOptions {
  const base: InferenceSession.SessionOptions = {
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    enableCpuMemArena: true,
    enableMemPattern: true,
    // Errors only: failures reach the caller as exceptions, not as screens of native log.
    logSeverityLevel: 3,
  };
  switch (device.kind) {
    case "cpu":
      return {
        ...base,
        executionProviders: ["cpu"],
        // Unset, ONNX Runtime sizes the pool itself (physical cores, not hyperthreads). Asking for every logical
        // CPU was slower: on a 2-vCPU machine where ONNX Runtime takes 1, 2 threads ran the bundled UNet at
        // batch 16 no faster (22.0 against 20.8 ms) for 1.7 times the CPU, and the fixtures' UNets at half speed.
        ...(tuning.intraOpThreads === undefined ? {} : { intraOpNumThreads: tuning.intraOpThreads }),
        interOpNumThreads: 1,
        // ONNX Runtime's pool threads spin between operators by default. On the CPU that takes the cores
        // from the other threads (this process's main thread, nats-server, the next step's own JS): with the
        // pool told to sleep, bench/engine ran the fixtures 1.1 to 3.3 times as fast on 2 cores.
        ...(tuning.spinning ? {} : { extra: { session: { intra_op: { allow_spinning: "0" } } } }),
      };
    case "cuda":
      return {
        ...base,
        executionProviders: [{ name: "cuda", deviceId: device.id }, "cpu"],
        // The GPU does the work; CPU threads only feed it.
        intraOpNumThreads: tuning.intraOpThreads ?? 1,
        interOpNumThreads: 1,
      };
    case "tensorrt":
      return {
        ...base,
        executionProviders: [
          { name: "tensorrt", deviceId: device.id },
          { name: "cuda", deviceId: device.id },
          "cpu",
        ],
        intraOpNumThreads: tuning.intraOpThreads ?? 1,
        interOpNumThreads: 1,
      };
  }
}
