/**
 * A stand-in for `latent-fleet worker` in coordinator tests: pulls tasks of one model, writes the files a
 * real worker writes (`.shards/<shard>.jsonl`, optionally empty placeholder images), publishes a TaskResult
 * and acks, with hooks to fail samples, hang on tasks (never ack: dead letters) or skip cancelled jobs.
 */
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import {
  imageFileName,
  type JobRecord,
  type MetadataRow,
  shardMetadataFile,
} from "../../../src/common/contract/job.js";
import {
  connectJetStream,
  decodeTask,
  ensureTopology,
  ensureWorkerConsumer,
  type JetStreamContext,
  jobStateKey,
  publishResult,
  workerTasks,
} from "../../../src/common/nats/index.js";
import type { SampleResult__Input } from "../../../src/common/proto/generated/latentfleet/v1/SampleResult.js";
import type { SampleSpec } from "../../../src/common/proto/generated/latentfleet/v1/SampleSpec.js";
import type { Task } from "../../../src/common/proto/generated/latentfleet/v1/Task.js";

export interface FakeWorkerOptions {
  natsUrl: string;
  model: string;
  ackWaitMs?: number;
  maxDeliver?: number;
  /** Fails the sample with this message (null: it succeeds). */
  failSample?: (s: SampleSpec) => string | null;
  /** Take the task and never ack it (it comes back after ack_wait, then is dead-lettered). */
  hang?: (task: Task) => boolean;
  /** Time each task takes. */
  taskMs?: number;
  /** Write empty image files too (default false: only the shard metadata). */
  writeImages?: boolean;
  /** Tasks per fetch (default 32). */
  batch?: number;
}

export class FakeWorker {
  /** `<job>.<shard>` -> how many times this worker was handed the task. */
  readonly deliveries = new Map<string, number>();
  /** `<job>.<shard>` of tasks run (results published), in order. */
  readonly ran: string[] = [];
  /** Tasks skipped because their job was cancelled. */
  skipped = 0;
  private running = true;
  private loop: Promise<void> = Promise.resolve();

  private constructor(
    private readonly ctx: JetStreamContext,
    private readonly kv: KV,
    private readonly o: FakeWorkerOptions,
  ) {}

  static async start(o: FakeWorkerOptions): Promise<FakeWorker> {
    const ctx = await connectJetStream(o.natsUrl, `fake-worker-${o.model}`);
    const { jobs } = await ensureTopology(ctx.js, ctx.jsm);
    await ensureWorkerConsumer(ctx.jsm, o.model, {
      ackWaitMs: o.ackWaitMs ?? 30_000,
      maxDeliver: o.maxDeliver ?? 5,
    });
    const w = new FakeWorker(ctx, jobs, o);
    w.loop = w.run();
    return w;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.ctx.nc.close();
  }

  private async run(): Promise<void> {
    const consumer = await workerTasks(this.ctx.js, this.o.model);
    while (this.running) {
      const batch: JsMsg[] = [];
      try {
        for await (const m of await consumer.fetch({ max_messages: this.o.batch ?? 32, expires: 1000 }))
          batch.push(m);
      } catch {
        if (!this.running) return;
        continue;
      }
      for (const msg of batch) await this.handle(msg);
    }
  }

  private async handle(msg: JsMsg): Promise<void> {
    const task = decodeTask(msg.data);
    const key = `${task.job_id}.${task.shard}`;
    this.deliveries.set(key, (this.deliveries.get(key) ?? 0) + 1);
    if (this.o.hang?.(task)) return;
    const entry = await this.kv.get(jobStateKey(task.job_id));
    if (entry?.operation === "PUT" && entry.json<JobRecord>().state === "CANCELLED") {
      this.skipped++;
      msg.ack();
      return;
    }
    if (this.o.taskMs) await new Promise((r) => setTimeout(r, this.o.taskMs));
    const shard = Number(task.shard);
    const rows: MetadataRow[] = [];
    const results: SampleResult__Input[] = [];
    for (const s of task.samples) {
      const failure = this.o.failSample?.(s) ?? null;
      if (failure !== null) {
        results.push({
          sample_id: s.sample_id,
          index: s.index,
          ok: false,
          error: failure,
          error_code: "ENGINE_FAILED",
        });
        continue;
      }
      const fileName = imageFileName(shard, s.sample_id);
      if (this.o.writeImages) await atomicWrite(join(task.output_dir, fileName), "");
      rows.push({
        file_name: fileName,
        id: s.sample_id,
        prompt: s.prompt,
        text: s.prompt,
        negative_prompt: s.negative_prompt,
        seed: Number(s.seed),
        steps: s.steps,
        guidance_scale: s.guidance_scale,
        scheduler: s.scheduler || "euler",
        width: s.width || 64,
        height: s.height || 64,
        model: task.model,
      });
      results.push({ sample_id: s.sample_id, index: s.index, ok: true, file_name: fileName });
    }
    await atomicWrite(
      join(task.output_dir, shardMetadataFile(shard)),
      rows.map((r) => `${JSON.stringify(r)}\n`).join(""),
    );
    await publishResult(this.ctx.js, {
      job_id: task.job_id,
      shard: task.shard,
      worker_id: "fake",
      samples: results,
      delivery: msg.info.deliveryCount,
      seconds: 0.01,
    });
    this.ran.push(key);
    await msg.ackAck();
  }
}

async function atomicWrite(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** Lines of a JSONL file as objects. */
export async function readJsonl<T>(path: string): Promise<T[]> {
  const text = await readFile(path, "utf8");
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
