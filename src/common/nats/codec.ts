/**
 * Protobuf codec of the NATS payloads (proto/latentfleet/v1/task.proto). decodeTask and decodeTaskResult
 * give the wire form, as the generated types have it (keepCase names, 64-bit integers as decimal strings,
 * defaults filled), the same as gRPC messages loaded with @grpc/proto-loader; readTask and readTaskResult
 * give the plain values of the task contract (src/common/contract/task.ts), which the encoders take too.
 */
import { join } from "node:path";
import protobuf from "protobufjs";
import { float32ToDecimal } from "../contract/floats.js";
import type {
  SampleResult as ContractSampleResult,
  Task as ContractTask,
  TaskResult as ContractTaskResult,
} from "../contract/task.js";
import { LatentFleetError } from "../errors.js";
import { packageRoot } from "../package-root.js";
import type { Task, Task__Input } from "../proto/generated/latentfleet/v1/Task.js";
import type { TaskResult, TaskResult__Input } from "../proto/generated/latentfleet/v1/TaskResult.js";

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

interface TaskTypes {
  task: protobuf.Type;
  taskResult: protobuf.Type;
}

let types: TaskTypes | undefined;

/** Loads task.proto once, on first use. */
function taskTypes(): TaskTypes {
  if (!types) {
    const root = new protobuf.Root();
    root.loadSync(join(packageRoot(), "proto", "latentfleet", "v1", "task.proto"), { keepCase: true });
    types = {
      task: root.lookupType("latentfleet.v1.Task"),
      taskResult: root.lookupType("latentfleet.v1.TaskResult"),
    };
  }
  return types;
}

export function encodeTask(task: Task__Input): Uint8Array {
  return encode(taskTypes().task, task);
}

/** Throws PAYLOAD_INVALID when the bytes are not a Task (a task always names its job and model). */
export function decodeTask(bytes: Uint8Array): Task {
  const task = decode<Task>(taskTypes().task, bytes);
  if (task.job_id === "" || task.model === "") throw invalid("Task", bytes, "job_id or model is empty");
  return task;
}

export function encodeTaskResult(result: TaskResult__Input): Uint8Array {
  return encode(taskTypes().taskResult, result);
}

/** Throws PAYLOAD_INVALID when the bytes are not a TaskResult (a result always names its job). */
export function decodeTaskResult(bytes: Uint8Array): TaskResult {
  const result = decode<TaskResult>(taskTypes().taskResult, bytes);
  if (result.job_id === "") throw invalid("TaskResult", bytes, "job_id is empty");
  return result;
}

/** A task as the contract has it: shard, index and seed as numbers, the guidance scale as the user wrote it. */
export function readTask(bytes: Uint8Array): ContractTask {
  const wire = decodeTask(bytes);
  return {
    job_id: wire.job_id,
    shard: Number(wire.shard),
    model: wire.model,
    output_dir: wire.output_dir,
    output_format: wire.output_format,
    samples: wire.samples.map((s) => ({
      sample_id: s.sample_id,
      index: Number(s.index),
      row_id: s.row_id,
      prompt: s.prompt,
      negative_prompt: s.negative_prompt,
      // A uint64 beyond 2^53 becomes a number beyond the seed range, which the worker refuses.
      seed: Number(s.seed),
      steps: s.steps,
      guidance_scale: float32ToDecimal(s.guidance_scale),
      scheduler: s.scheduler,
      width: s.width,
      height: s.height,
      source: s.source,
    })),
  };
}

/** A task result as the contract has it: shard and indexes as numbers. */
export function readTaskResult(bytes: Uint8Array): ContractTaskResult {
  const wire = decodeTaskResult(bytes);
  return {
    ...wire,
    shard: Number(wire.shard),
    samples: wire.samples.map((s): ContractSampleResult => ({ ...s, index: Number(s.index) })),
  };
}

function encode(type: protobuf.Type, value: object): Uint8Array {
  // fromObject converts the generated input types (numbers or decimal strings for 64-bit fields).
  return type.encode(type.fromObject(value as Record<string, unknown>)).finish();
}

/** toObject with TO_OBJECT yields exactly the generated output type T. */
function decode<T>(type: protobuf.Type, bytes: Uint8Array): T {
  try {
    // A plain Uint8Array view, never a Buffer: protobufjs's Buffer reader silently cuts a truncated
    // string short instead of failing.
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return type.toObject(type.decode(view), TO_OBJECT) as T;
  } catch (err) {
    throw invalid(type.name, bytes, err instanceof Error ? err.message : String(err), err);
  }
}

function invalid(what: string, bytes: Uint8Array, why: string, cause?: unknown): LatentFleetError {
  return new LatentFleetError(
    "PAYLOAD_INVALID",
    `not a latentfleet.v1.${what} message (${bytes.length} bytes): ${why}`,
    cause === undefined ? undefined : { cause },
  );
}
