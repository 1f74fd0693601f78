/** Helpers for the worker tests: tasks to publish, results to collect, outputs to read. */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import {
  type ChannelCredentials,
  type Client,
  type ClientDuplexStream,
  credentials,
  loadPackageDefinition,
  makeGenericClientConstructor,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import type { JetStreamClient } from "@nats-io/jetstream";
import { service as healthService } from "grpc-health-check";
import type { MetadataRow } from "../../src/common/contract/job.js";
import { shardMetadataFile } from "../../src/common/contract/job.js";
import type { Task } from "../../src/common/contract/task.js";
import { decodeTaskResult, encodeTask, readTask } from "../../src/common/nats/codec.js";
import { replayResults } from "../../src/common/nats/results.js";
import type { SampleSpec__Input } from "../../src/common/proto/generated/latentfleet/v1/SampleSpec.js";
import type { Task__Input } from "../../src/common/proto/generated/latentfleet/v1/Task.js";
import type { TaskResult } from "../../src/common/proto/generated/latentfleet/v1/TaskResult.js";
import type { WorkerClient } from "../../src/common/proto/generated/latentfleet/v1/Worker.js";
import { workerProto } from "../../src/common/proto/load.js";
import { ROOT, TINY_SHAPES } from "./paths.js";

/** The model name tasks for the bundled model carry (its folder name). */
export const TINY_MODEL_NAME = basename(TINY_SHAPES);

/** Small and fast: 64x64, few steps. */
export function sampleSpec(
  id: string,
  seed: number,
  over: Partial<SampleSpec__Input> = {},
): SampleSpec__Input {
  return {
    sample_id: id,
    index: seed,
    row_id: id,
    prompt: "a red circle on a white background",
    negative_prompt: "",
    seed,
    steps: 4,
    guidance_scale: 4,
    scheduler: "euler",
    width: 64,
    height: 64,
    source: `test:${seed}`,
    ...over,
  };
}

/** A task of `count` samples with seeds firstSeed... and ids `<job>-<seed>`. */
export function makeTask(
  jobId: string,
  shard: number,
  outputDir: string,
  count: number,
  firstSeed = shard * 100,
  over: Partial<SampleSpec__Input> = {},
): Task__Input {
  return {
    job_id: jobId,
    shard,
    model: TINY_MODEL_NAME,
    output_dir: outputDir,
    output_format: "imagefolder",
    samples: Array.from({ length: count }, (_, k) => sampleSpec(`s${firstSeed + k}`, firstSeed + k, over)),
  };
}

/** A task as a worker receives it: through the wire and back into the contract's plain values. */
export function contractTask(task: Task__Input): Task {
  return readTask(encodeTask(task));
}

/** Reads `count` results of a job from LF_RESULTS, waiting at most `timeoutMs`; sorted by shard. */
export async function collectResults(
  js: JetStreamClient,
  jobId: string,
  count: number,
  timeoutMs = 30_000,
): Promise<TaskResult[]> {
  const consumer = await replayResults(js, { jobId });
  const out: TaskResult[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count && Date.now() < deadline) {
    const msg = await consumer.next({ expires: Math.max(1000, Math.min(2000, deadline - Date.now())) });
    if (msg) out.push(decodeTaskResult(msg.data));
  }
  return out.sort((a, b) => Number(a.shard) - Number(b.shard));
}

export function readShardRows(outputDir: string, shard: number): MetadataRow[] {
  return readFileSync(join(outputDir, shardMetadataFile(shard)), "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as MetadataRow);
}

/** Polls `check` every 50 ms until it is true or `timeoutMs` passed; returns its last value. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function workerClient(port: number): WorkerClient {
  const Client = workerProto().latentfleet.v1.Worker;
  return new Client(`127.0.0.1:${port}`, credentials.createInsecure());
}

interface HealthClient {
  check(
    req: { service: string },
    callback: (err: Error | null, res?: { status: string | number }) => void,
  ): void;
  close(): void;
}

/** The grpc.health.v1 status of `service` ("" for the server). */
export async function healthStatus(port: number, service = ""): Promise<string> {
  const Client = makeGenericClientConstructor(healthService, "Health");
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as HealthClient;
  try {
    return await new Promise<string>((resolve, reject) => {
      client.check({ service }, (err, res) => {
        if (err) reject(err);
        else {
          const status = res?.status;
          resolve(
            typeof status === "number"
              ? (["UNKNOWN", "SERVING", "NOT_SERVING"][status] ?? "")
              : String(status),
          );
        }
      });
    });
  } finally {
    client.close();
  }
}

interface ReflectionResponse {
  list_services_response?: { service: { name: string }[] };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_message: string };
}

/**
 * Asks the server's gRPC reflection (grpc.reflection.v1, as grpcurl does) one question: `list_services: ""`
 * lists the services, `file_containing_symbol: NAME` returns the descriptors that define NAME.
 */
export async function reflectionAnswer(
  port: number,
  request: { list_services: string } | { file_containing_symbol: string },
): Promise<ReflectionResponse> {
  const file = join(ROOT, "node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");
  const definition = loadSync(file, { keepCase: true, defaults: false, oneofs: true });
  const Client = loadPackageDefinition(definition).grpc as unknown as {
    reflection: { v1: { ServerReflection: new (address: string, creds: ChannelCredentials) => Client } };
  };
  const client = new Client.reflection.v1.ServerReflection(
    `127.0.0.1:${port}`,
    credentials.createInsecure(),
  ) as unknown as Client & { ServerReflectionInfo(): ClientDuplexStream<object, ReflectionResponse> };
  try {
    return await new Promise<ReflectionResponse>((resolve, reject) => {
      const call = client.ServerReflectionInfo();
      call.once("data", (answer: ReflectionResponse) => {
        resolve(answer);
        call.end();
      });
      call.once("error", reject);
      call.write(request);
    });
  } finally {
    client.close();
  }
}
