/**
 * publishJob against a recording pipe: every shard goes out once, in order, as the bytes of its task; the
 * tasks of one turn are published in one synchronous run, so the NATS client writes them together.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/common/log.js";
import { encodeTask, type PublishPipe } from "../../../src/common/nats/index.js";
import { taskMsgId } from "../../../src/common/nats/names.js";
import { ErrorsFile } from "../../../src/coordinator/errors-file.js";
import { TASKS_PER_TURN } from "../../../src/coordinator/fair-queue.js";
import type { JobStore } from "../../../src/coordinator/job-store.js";
import { publishJob } from "../../../src/coordinator/publisher.js";
import { Sharder, type TaskHeader, toTask } from "../../../src/coordinator/sharder.js";
import { WhereIndex } from "../../../src/coordinator/where-index.js";
import { expandSpecBatches, fsSourceAccess, type JobSpec, loadSpec } from "../../../src/manifest/index.js";
import { removeTempDirs, tempDir } from "../manifest/helpers.js";

afterAll(removeTempDirs);

const SHARD_SIZE = 4;

/**
 * 11 prompts of 9 images and rows of their own (12 images, sample ids of two digits; a scheduler, a size,
 * a negative prompt, multi-byte text; a rejected row): 114 samples, 29 shards of 4 (the last of 2).
 */
async function spec(dir: string): Promise<JobSpec> {
  const path = join(dir, "job.yaml");
  const prompts = Array.from({ length: 11 }, (_, i) => `p${i}`).join(", ");
  writeFileSync(
    join(dir, "prompts.csv"),
    ["prompt,steps,images_per_prompt,guidance_scale", "a bad step count,-1,2,", "a sea,7,3,3.5", ""].join(
      "\n",
    ),
  );
  writeFileSync(
    path,
    [
      'model: "m"',
      `output: ${JSON.stringify(join(dir, "out"))}`,
      "seed: 5",
      "images_per_prompt: 9",
      "prompts:",
      '  - { prompt: "une forêt ✓", id: "row-a", images_per_prompt: 12, negative_prompt: "flou", scheduler: "ddim", width: 128, height: 64, seed: 77 }',
      "  - file: prompts.csv",
      '  - template: "a shape {p}"',
      `    vars: { p: [${prompts}] }`,
      "",
    ].join("\n"),
  );
  return loadSpec(path);
}

/** The tasks' bytes as sharding the expanded samples one by one makes them. */
async function expectedTasks(s: JobSpec, header: TaskHeader): Promise<Buffer[]> {
  const sharder = new Sharder(SHARD_SIZE);
  const out: Buffer[] = [];
  for await (const batch of expandSpecBatches(s)) {
    for (const ev of batch) {
      if (ev.type !== "sample") continue;
      for (const shard of sharder.add(ev.sample)) out.push(Buffer.from(encodeTask(toTask(header, shard))));
    }
  }
  const last = sharder.flush();
  if (last) out.push(Buffer.from(encodeTask(toTask(header, last))));
  return out;
}

interface Sent {
  msgId: string;
  data: Buffer;
  /** Which write of the client it would join: publishes before a microtask checkpoint share one. */
  write: number;
}

/** A pipe that records publishes and acks them later, counting writes as the NATS client coalesces them. */
function recordingPipe() {
  const sent: Sent[] = [];
  let write = 0;
  let open = false;
  let seq = 0;
  const pipe = {
    publish(_subject: string, data: Uint8Array, opts: { msgId: string }): Promise<PubAck> {
      if (!open) {
        // The client queues its flush as a microtask when the first publish fills an empty buffer.
        open = true;
        queueMicrotask(() => {
          open = false;
          write++;
        });
      }
      sent.push({ msgId: opts.msgId, data: Buffer.from(data), write });
      const ack: PubAck = { stream: "LF_TASKS", seq: ++seq, duplicate: false, domain: "" };
      return new Promise((r) => setImmediate(() => r(ack)));
    },
  } as unknown as PublishPipe;
  return { pipe, sent };
}

async function publish(windowSize: number) {
  const dir = tempDir("publisher");
  const s = await spec(dir);
  const header: TaskHeader = {
    jobId: "j",
    model: "m",
    outputDir: join(dir, "out"),
    outputFormat: "imagefolder",
  };
  const { pipe, sent } = recordingPipe();
  const turns: { ready: number; granted: number }[] = [];
  const cursors: number[] = [];
  const store = {
    getCursor: async () => null,
    putCursor: async (_job: string, c: { next_shard: number }) => {
      cursors.push(c.next_shard);
      return cursors.length;
    },
  } as unknown as JobStore;
  const outcome = await publishJob({
    js: {} as JetStreamClient,
    pipe,
    store,
    log: silentLogger,
    task: header,
    shardSize: SHARD_SIZE,
    spec: s,
    access: fsSourceAccess,
    where: new WhereIndex(join(dir, "where")),
    errors: new ErrorsFile(dir),
    signal: new AbortController().signal,
    windowSize,
    beforePublish: async (ready) => {
      const granted = Math.min(ready, TASKS_PER_TURN);
      turns.push({ ready, granted });
      return granted;
    },
  });
  return { outcome, sent, turns, cursors, expected: await expectedTasks(s, header) };
}

describe("publishJob", () => {
  it("publishes each shard once, in order, the tasks of a turn together", async () => {
    const { outcome, sent, turns, cursors, expected } = await publish(64);
    expect(outcome).toMatchObject({
      shardsTotal: 29,
      shardsPublished: 29,
      samplesTotal: 114,
      rowsRejected: 1,
    });
    expect(sent.map((p) => p.msgId)).toEqual(expected.map((_, i) => taskMsgId("j", i)));
    for (const [i, p] of sent.entries()) expect(p.data.equals(expected[i]), `task ${i}`).toBe(true);
    expect(turns.reduce((n, t) => n + t.granted, 0)).toBe(29);
    expect(turns.some((t) => t.granted === TASKS_PER_TURN)).toBe(true);
    // One write per turn: the writes are the turns, in their sizes.
    const perWrite = new Map<number, number>();
    for (const p of sent) perWrite.set(p.write, (perWrite.get(p.write) ?? 0) + 1);
    expect([...perWrite.values()]).toEqual(turns.map((t) => t.granted));
    expect(cursors.at(-1)).toBe(29);
  });

  it("keeps the order and the window when a turn grants more than the window has room for", async () => {
    const { sent, expected, cursors } = await publish(3);
    expect(sent.map((p) => p.msgId)).toEqual(expected.map((_, i) => taskMsgId("j", i)));
    for (const [i, p] of sent.entries()) expect(p.data.equals(expected[i]), `task ${i}`).toBe(true);
    const perWrite = new Map<number, number>();
    for (const p of sent) perWrite.set(p.write, (perWrite.get(p.write) ?? 0) + 1);
    expect(Math.max(...perWrite.values())).toBeLessThanOrEqual(3);
    expect(cursors.at(-1)).toBe(29);
  });
});
