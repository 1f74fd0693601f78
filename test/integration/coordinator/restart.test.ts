/**
 * A coordinator stopped in the middle of publishing a large job (20,000 samples), and a new one started
 * on the same NATS: it resumes from the KV cursor, the shards published twice are dropped by the stream's
 * de-duplication, and the job completes with every sample once, in manifest order.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MetadataRow } from "../../../src/common/contract/job.js";
import { createLogger } from "../../../src/common/log.js";
import { connectJetStream, ensureTopology, type JetStreamContext } from "../../../src/common/nats/index.js";
import { type RunningCoordinator, startCoordinator } from "../../../src/coordinator/index.js";
import { JobStore } from "../../../src/coordinator/job-store.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { FakeWorker, readJsonl, waitFor } from "./fake-worker.js";

let server: TestNatsServer;
let ctx: JetStreamContext;
let worker: FakeWorker;
const coordinators: RunningCoordinator[] = [];
const dir = mkdtempSync(join(tmpdir(), "lf-coord-restart-"));

beforeAll(async () => {
  server = await startNatsServer();
  ctx = await connectJetStream(server.url, "restart-test");
  worker = await FakeWorker.start({ natsUrl: server.url, model: "tiny-shapes", batch: 64 });
});

afterAll(async () => {
  for (const c of coordinators) await c.stop();
  await worker?.stop();
  await ctx?.nc.close();
  await server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

describe("coordinator restart", () => {
  it("resumes publishing a half-published job without duplicate shards", async () => {
    // 20 x 10 x 10 x 10 = 20,000 samples in shards of 8: 2,500 shards.
    const values = (n: number, p: string) =>
      `[${Array.from({ length: n }, (_, i) => `${p}${i}`).join(", ")}]`;
    const specPath = join(dir, "big.yaml");
    writeFileSync(
      specPath,
      [
        "model: models/tiny-shapes",
        "prompts:",
        '  - template: "{a} {b} {c} {d}"',
        `    vars: { a: ${values(20, "a")}, b: ${values(10, "b")}, c: ${values(10, "c")}, d: ${values(10, "d")} }`,
        "",
      ].join("\n"),
    );
    const options = {
      natsUrl: server.url,
      shardSize: 8,
      maxInFlight: 16,
      // Frequent cursor writes, so the test sees one long before the 2,500th shard even on a fast machine.
      cursorIntervalMs: 20,
    };
    const logA: string[] = [];
    const first = await startCoordinator({
      ...options,
      log: createLogger({}, { write: (l) => logA.push(l) }),
    });
    coordinators.push(first);
    const jobId = await first.submit({ spec: specPath });
    const store = new JobStore((await ensureTopology(ctx.js, ctx.jsm)).jobs);

    // Stop it once a few hundred shards are out, well before all 2,500.
    const cursor = await waitFor(
      "publishing to get going",
      async () => {
        const c = await store.getCursor(jobId);
        return c && c.value.next_shard >= 300 ? c.value : null;
      },
      20_000,
      5,
    );
    await first.stop();
    const after = (await store.getCursor(jobId))?.value;
    expect(after?.done).toBe(false);
    expect(after?.next_shard).toBeLessThan(2500);
    expect(cursor.samples_emitted).toBe(cursor.next_shard * 8);
    const before = await store.get(jobId);
    expect(before?.value.state).toBe("PUBLISHING");

    const logB: string[] = [];
    const second = await startCoordinator({
      ...options,
      log: createLogger({}, { write: (l) => logB.push(l) }),
    });
    coordinators.push(second);
    const job = await second.waitForJob(jobId, { timeoutMs: 45_000 });
    expect(job).toMatchObject({
      state: "SUCCEEDED",
      samplesTotal: 20_000,
      samplesDone: 20_000,
      samplesFailed: 0,
      shardsTotal: 2_500,
      shardsDone: 2_500,
    });

    // Every shard reached a worker exactly once.
    const mine = [...worker.deliveries].filter(([k]) => k.startsWith(`${jobId}.`));
    expect(mine).toHaveLength(2_500);
    expect(mine.every(([, n]) => n === 1)).toBe(true);

    // The resumed coordinator republishes the shards its cursor had not recorded (none when the cursor was
    // written just before the stop), and the stream drops them: the exactly-once check above holds either way.
    const resumed = logB.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(
      resumed.find((l) => l.msg === "resuming job" && l.job === jobId && "next_shard" in l),
    ).toBeDefined();
    const dropped = resumed.find((l) => l.msg === "republished shards dropped as duplicates");
    if (dropped) expect(Number(dropped.shards)).toBeGreaterThan(0);

    const meta = await readJsonl<MetadataRow>(join(dir, "out", "big", "metadata.jsonl"));
    expect(meta).toHaveLength(20_000);
    expect(new Set(meta.map((r) => r.id)).size).toBe(20_000);
    expect(meta[0].prompt).toBe("a0 b0 c0 d0");
    expect(meta[1].prompt).toBe("a0 b0 c0 d1");
    expect(meta[19_999].prompt).toBe("a19 b9 c9 d9");
    expect(meta.map((r) => r.id)).toEqual(meta.map((_, i) => `r${String(i).padStart(9, "0")}-0`));
  });

  it("counts a resumed job's shards published before the restart while its next ones wait their turn", async () => {
    // 200 samples in shards of 8: 25 shards, one batch of rows (the publisher's count used to follow batches).
    const specPath = join(dir, "queued.yaml");
    writeFileSync(
      specPath,
      [
        "model: models/queued-shapes",
        "prompts:",
        '  - template: "{a} {b}"',
        `    vars: { a: [${Array.from({ length: 20 }, (_, i) => `a${i}`).join(", ")}], b: [${Array.from({ length: 10 }, (_, i) => `b${i}`).join(", ")}] }`,
        "",
      ].join("\n"),
    );
    // A few tasks queued ahead at most: once its worker stops, the job waits for turns that never come.
    const options = {
      natsUrl: server.url,
      shardSize: 8,
      cursorIntervalMs: 0,
      fairShare: { minQueued: 2, maxQueued: 4, pollMs: 50 },
    };
    const queuedWorker = await FakeWorker.start({
      natsUrl: server.url,
      model: "queued-shapes",
      batch: 1,
      taskMs: 50,
    });
    const first = await startCoordinator({ ...options, log: createLogger({}, { write: () => undefined }) });
    coordinators.push(first);
    const jobId = await first.submit({ spec: specPath });
    const store = new JobStore((await ensureTopology(ctx.js, ctx.jsm)).jobs);
    await waitFor(
      "a few shards published and recorded",
      async () => ((await store.getCursor(jobId))?.value.next_shard ?? 0) >= 4,
      20_000,
    );
    await queuedWorker.stop();
    await first.stop();
    const cursor = (await store.getCursor(jobId))?.value;
    expect(cursor?.done).toBe(false);
    const recorded = cursor?.next_shard ?? 0;
    expect(recorded).toBeLessThan(25);

    const second = await startCoordinator({ ...options, log: createLogger({}, { write: () => undefined }) });
    coordinators.push(second);
    const shown = await waitFor(
      "the resumed job to count its published shards",
      async () => {
        const snap = await second.getJob(jobId);
        return snap.shardsPublished >= recorded ? snap : null;
      },
      10_000,
    );
    // Still waiting for its turns: what it shows is what was published, not the whole job.
    expect(shown.state).toBe("PUBLISHING");
    expect(shown.shardsPublished).toBeLessThan(25);
  });
});
