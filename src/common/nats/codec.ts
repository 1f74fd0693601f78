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
import { readTaskResultPlain } from "./result-reader.js";
import { writeTask } from "./task-writer.js";

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

/**
 * Tasks are the coordinator's hottest payload: the contract's plain values are written by hand
 * (task-writer.ts); anything else goes straight to the generated encoder, without fromObject's copy (a
 * Task__Input already has the field types it takes: 64-bit integers as numbers or decimal strings).
 */
export function encodeTask(task: Task__Input): Uint8Array {
  return writeTask(task) ?? encodeTaskGeneric(task);
}

/** The generated encoder's bytes for `task` (task-writer.ts writes the same). */
export function encodeTaskGeneric(task: Task__Input): Uint8Array {
  return taskTypes().task.encode(task).finish();
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

/** A uint64 as protobufjs decodes it: a number, or a Long when the long package is present. */
type DecodedLong = number | { toNumber(): number };

/** A decoded SampleResult message (unset fields read their defaults from the prototype). */
interface DecodedSampleResult {
  sample_id: string;
  index: DecodedLong;
  ok: boolean;
  file_name: string;
  error: string;
  error_code: string;
}

interface DecodedTaskResult {
  job_id: string;
  shard: DecodedLong;
  worker_id: string;
  samples: DecodedSampleResult[];
  delivery: number;
  seconds: number;
  dead_lettered: boolean;
  reused: boolean;
}

const toNumber = (v: DecodedLong): number => (typeof v === "number" ? v : v.toNumber());

/**
 * A task result as the contract has it: shard and indexes as numbers. The coordinator reads one per task:
 * by hand (result-reader.ts) when the message holds plain values, else from protobufjs's decoded message
 * directly (no toObject pass with 64-bit integers as strings).
 */
export function readTaskResult(bytes: Uint8Array): ContractTaskResult {
  const plain = readTaskResultPlain(bytes);
  if (plain) {
    if (plain.job_id === "") throw invalid("TaskResult", bytes, "job_id is empty");
    return plain;
  }
  return readTaskResultGeneric(bytes);
}

/** readTaskResult through protobufjs alone (tests compare the two). */
export function readTaskResultGeneric(bytes: Uint8Array): ContractTaskResult {
  const type = taskTypes().taskResult;
  const m = decodeMessage(type, bytes) as unknown as DecodedTaskResult;
  if (m.job_id === "") throw invalid("TaskResult", bytes, "job_id is empty");
  return {
    job_id: m.job_id,
    shard: toNumber(m.shard),
    worker_id: m.worker_id,
    samples: m.samples.map(
      (s): ContractSampleResult => ({
        sample_id: s.sample_id,
        index: toNumber(s.index),
        ok: s.ok,
        file_name: s.file_name,
        error: s.error,
        error_code: s.error_code,
      }),
    ),
    delivery: m.delivery,
    seconds: m.seconds,
    dead_lettered: m.dead_lettered,
    reused: m.reused,
  };
}

function encode(type: protobuf.Type, value: object): Uint8Array {
  // fromObject converts the generated input types (numbers or decimal strings for 64-bit fields).
  return type.encode(type.fromObject(value as Record<string, unknown>)).finish();
}

/** toObject with TO_OBJECT yields exactly the generated output type T. */
function decode<T>(type: protobuf.Type, bytes: Uint8Array): T {
  return type.toObject(decodeMessage(type, bytes), TO_OBJECT) as T;
}

/** The decoded message; PAYLOAD_INVALID when the bytes are not one. */
function decodeMessage(type: protobuf.Type, bytes: Uint8Array): protobuf.Message {
  try {
    // A plain Uint8Array view, never a Buffer: protobufjs's Buffer reader silently cuts a truncated
    // string short instead of failing.
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return type.decode(view);
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
