/**
 * One ONNX Runtime session with the tensor names, dtypes and shapes read from the model itself, and the
 * conversions between the engine's float32 arrays and whatever the export declares (float32 or float16,
 * int32 or int64).
 */
import ort from "onnxruntime-node";
import { LatentFleetError } from "../common/errors.js";
import { fromFloat16, toFloat16 } from "./float16.js";

// ONNX Runtime's own log (read when its first session is made): errors only, as the sessions' own level.
ort.env.logLevel = "error";

export interface TensorInfo {
  name: string;
  type: ort.Tensor.Type;
  /** Fixed sizes as numbers, symbolic ones as names (or -1). */
  shape: readonly (number | string)[];
}

function tensorInfos(meta: readonly ort.InferenceSession.ValueMetadata[], path: string): TensorInfo[] {
  return meta.map((m) => {
    if (!m.isTensor) throw new LatentFleetError("MODEL_INVALID", `${path}: ${m.name} is not a tensor`);
    return { name: m.name, type: m.type, shape: m.shape };
  });
}

/**
 * Maps ONNX Runtime failures to engine error codes: memory exhaustion can be retried with a smaller batch.
 * The one place Latent Fleet classifies an error by its text: ONNX Runtime reports running out of memory
 * (its own allocator's, CUDA's, cuDNN's, cuBLAS's) in the message alone, with no code or error type.
 */
export function engineError(err: unknown, what: string): LatentFleetError {
  if (err instanceof LatentFleetError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const oom =
    /out of memory|failed to allocate|bad_alloc|CUDNN_STATUS_ALLOC_FAILED|CUBLAS_STATUS_ALLOC_FAILED/i;
  return new LatentFleetError(oom.test(message) ? "OUT_OF_MEMORY" : "ENGINE_FAILED", `${what}: ${message}`, {
    cause: err,
  });
}

export class OnnxModel {
  private constructor(
    readonly path: string,
    private readonly session: ort.InferenceSession,
    readonly inputs: TensorInfo[],
    readonly outputs: TensorInfo[],
  ) {}

  static async load(path: string, options: ort.InferenceSession.SessionOptions): Promise<OnnxModel> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(path, options);
    } catch (err) {
      // ONNX's data type 16 is bfloat16 (FLUX and SD3.5 are published in it): ONNX Runtime for Node has no
      // bfloat16 tensors, so such I/O cannot be fed at all.
      const bf16 = /Unsupported data type: 16\b/.test(String(err))
        ? " (bfloat16 inputs or outputs, which ONNX Runtime for Node cannot feed: export in float16 or float32, see docs/models.md)"
        : "";
      throw new LatentFleetError(
        "MODEL_INVALID",
        `${path}: ONNX Runtime cannot load it: ${String(err)}${bf16}`,
        {
          cause: err,
        },
      );
    }
    return new OnnxModel(
      path,
      session,
      tensorInfos(session.inputMetadata, path),
      tensorInfos(session.outputMetadata, path),
    );
  }

  input(name: string): TensorInfo | undefined {
    return this.inputs.find((t) => t.name === name);
  }

  requireInput(...names: string[]): TensorInfo {
    const found = names.map((n) => this.input(n)).find((t) => t !== undefined);
    if (!found) {
      throw new LatentFleetError(
        "MODEL_INVALID",
        `${this.path}: expected an input named ${names.join(" or ")}, found ${this.inputs.map((t) => t.name).join(", ")}`,
      );
    }
    return found;
  }

  /** The output with one of these names, else the first output (exports differ in naming). */
  outputName(...names: string[]): string {
    const found = this.outputs.find((t) => names.includes(t.name)) ?? this.outputs[0];
    if (!found) throw new LatentFleetError("MODEL_INVALID", `${this.path}: the model has no outputs`);
    return found.name;
  }

  async run(feeds: Record<string, ort.Tensor>, outputName: string): Promise<ort.Tensor> {
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run(feeds, [outputName]);
    } catch (err) {
      throw engineError(err, this.path);
    }
    return result[outputName];
  }

  /** Runs once and returns several outputs by name. */
  async runOutputs(
    feeds: Record<string, ort.Tensor>,
    outputNames: string[],
  ): Promise<Record<string, ort.Tensor>> {
    try {
      return await this.session.run(feeds, outputNames);
    } catch (err) {
      throw engineError(err, this.path);
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** A float tensor of the dtype the model declares for this input. */
export function floatTensor(info: TensorInfo, data: Float32Array, dims: readonly number[]): ort.Tensor {
  switch (info.type) {
    case "float32":
      return new ort.Tensor("float32", data, dims);
    case "float16":
      return new ort.Tensor("float16", toFloat16(data), dims);
    default:
      throw new LatentFleetError(
        "MODEL_INVALID",
        `input ${info.name} has type ${info.type}, expected float32 or float16`,
      );
  }
}

/**
 * An integer tensor (token ids, int64 timesteps) of the dtype the model declares. Fractional values are
 * truncated, as numpy's astype does in the diffusers ONNX pipeline (Euler's 946.42 reaches an int64 UNet as 946).
 */
export function intTensor(info: TensorInfo, data: ArrayLike<number>, dims: readonly number[]): ort.Tensor {
  switch (info.type) {
    case "int32":
      // Token ids come as an Int32Array already: a plain copy, without a call per element.
      return new ort.Tensor(
        "int32",
        data instanceof Int32Array ? new Int32Array(data) : Int32Array.from(data, Math.trunc),
        dims,
      );
    case "int64":
      return new ort.Tensor(
        "int64",
        BigInt64Array.from(Array.from(data, (v) => BigInt(Math.trunc(v)))),
        dims,
      );
    case "float32":
    case "float16":
      return floatTensor(info, Float32Array.from(data), dims);
    default:
      throw new LatentFleetError(
        "MODEL_INVALID",
        `input ${info.name} has type ${info.type}, expected an int or float`,
      );
  }
}

export function readFloats(tensor: ort.Tensor): Float32Array {
  if (tensor.type === "float32") return tensor.data as Float32Array;
  if (tensor.type === "float16") return fromFloat16(tensor.data as Uint16Array);
  throw new LatentFleetError("ENGINE_FAILED", `unexpected output type ${tensor.type}`);
}
