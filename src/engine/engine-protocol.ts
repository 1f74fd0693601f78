/** Messages between a process and its engine thread. Pixel buffers travel as transferables, not copies. */

import type { SampleRequest } from "../common/contract/sample.js";
import type { ErrorCode } from "../common/errors.js";
import type { Device } from "./device.js";
import type {
  FloatSample,
  GeneratedSample,
  ModelDescription,
  PixelOutput,
  StageTimings,
} from "./pipeline.js";

export type EngineRequest =
  | { type: "load"; modelDir: string; device: Device; intraOpThreads?: number; spinning?: boolean }
  | { type: "generate"; id: number; requests: SampleRequest[]; output: PixelOutput }
  | { type: "close" };

/** An image as 8-bit RGB, the default. */
export type EngineSample = GeneratedSample;
/** An image as the VAE's floats (generate with output "float"). */
export type EngineFloatSample = FloatSample;

export type EngineResponse =
  /** The thread's code, ONNX Runtime's native addon included, has loaded: it may be terminated safely. */
  | { type: "ready" }
  | { type: "loaded"; model: ModelDescription }
  | { type: "result"; id: number; samples: (EngineSample | EngineFloatSample)[]; timings: StageTimings }
  | { type: "error"; id?: number; code: ErrorCode; message: string }
  | { type: "closed" };
