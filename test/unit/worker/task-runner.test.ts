/**
 * TaskRunner and TaskFlow on an in-memory task queue (test/helpers/fake-task-queue.ts), a batcher on a
 * gated stand-in engine and an output whose writes can be held or fail: when a delivery is acked, given
 * back or terminated, the in-progress acks that keep it, drain and back-pressure. The same worker runs on
 * a real nats-server in test/integration/worker.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import type { SampleRequest } from "../../../src/common/contract/sample.js";
import type { Task } from "../../../src/common/contract/task.js";
import { LatentFleetError } from "../../../src/common/errors.js";
import { createLogger } from "../../../src/common/log.js";
import type { ModelDescription } from "../../../src/engine/pipeline.js";
import { Batcher } from "../../../src/worker/batcher.js";
import type { JobStateSource } from "../../../src/worker/job-states.js";
import type { ShardOutput } from "../../../src/worker/sink.js";
import type { BatchEngine, EngineImage } from "../../../src/worker/submission.js";
import type { ShardOutputs, TaskEvents, TaskOutcome } from "../../../src/worker/task-flow.js";
import { TaskRunner } from "../../../src/worker/task-runner.js";
import { FakeTaskQueue } from "../../helpers/fake-task-queue.js";
import { contractTask, makeTask, TINY_MODEL_NAME, waitFor } from "../../helpers/worker-fixtures.js";

const MODEL: Pick<ModelDescription, "name" | "defaultScheduler" | "nativeSize" | "vaeScale"> = {
  name: TINY_MODEL_NAME,
  defaultScheduler: "euler",
  nativeSize: 64,
  vaeScale: 8,
};

/** A task of `count` samples with ids s<shard*100>, s<shard*100+1>, ... */
function task(shard: number, count = 2): Task {
  return contractTask(makeTask("job", shard, "/nowhere", count));
}

/** Makes 1x1 images at once, or holds every batch while `gated`. */
class GatedEngine implements BatchEngine {
  readonly batches: number[][] = [];
  gated = false;
  private readonly waiting: (() => void)[] = [];

  async generate(requests: SampleRequest[]): Promise<{ samples: EngineImage[] }> {
    this.batches.push(requests.map((r) => r.seed));
    if (this.gated) await new Promise<void>((r) => this.waiting.push(r));
    return { samples: requests.map(() => ({ rgb: new Uint8Array(3), width: 1, height: 1, warnings: [] })) };
  }

  open(): void {
    this.gated = false;
    for (const go of this.waiting.splice(0)) go();
  }
}

/** Writes nothing anywhere; records which shards were completed, can hold writes or fail them. */
class FakeOutputs implements ShardOutputs {
  readonly completed = new Set<number>();
  /** Sample writes of these shards fail. */
  readonly failingShards = new Map<number, Error>();
  /** Opening the output of these shards fails. */
  readonly unopenable = new Map<number, Error>();
  writesHeld = false;
  private readonly held: (() => void)[] = [];

  open(t: Task): ShardOutput {
    const bad = this.unopenable.get(t.shard);
    if (bad) throw bad;
    return {
      removeLeftovers: async () => undefined,
      sample: async (i, outcome) => {
        if (this.writesHeld) await new Promise<void>((r) => this.held.push(r));
        const failure = this.failingShards.get(t.shard);
        if (failure) throw failure;
        return outcome.ok ? `images/${t.shard}/${t.samples[i].sample_id}.png` : "";
      },
      finish: async () => {
        this.completed.add(t.shard);
      },
    };
  }

  releaseWrites(): void {
    this.writesHeld = false;
    for (const go of this.held.splice(0)) go();
  }
}

class RecordedEvents implements TaskEvents {
  readonly finishedAs: TaskOutcome[] = [];
  received(): void {}
  finished(outcome: TaskOutcome): void {
    this.finishedAs.push(outcome);
  }
  samplesFailed(): void {}
}

interface Setup {
  ackWaitMs?: number;
  maxDeliver?: number;
  batchSize?: number;
  samplesInHand?: number;
  retryDelayMs?: number;
  pullExpiresMs?: number;
  jobStates?: JobStateSource;
}

interface Harness {
  queue: FakeTaskQueue;
  engine: GatedEngine;
  outputs: FakeOutputs;
  events: RecordedEvents;
  runner: TaskRunner;
  lines: string[];
}

const harnesses: Harness[] = [];

function harness(o: Setup = {}): Harness {
  const queue = new FakeTaskQueue({ ackWaitMs: o.ackWaitMs ?? 30_000, maxDeliver: o.maxDeliver ?? 5 });
  const engine = new GatedEngine();
  const batcher = new Batcher({ engine, batchSize: o.batchSize ?? 4, batchKey: () => "all" });
  const outputs = new FakeOutputs();
  const events = new RecordedEvents();
  const lines: string[] = [];
  const runner = new TaskRunner({
    queue,
    batcher,
    sink: outputs,
    model: MODEL,
    workerId: "w",
    jobStates: o.jobStates ?? { isCancelled: async () => false },
    samplesInHand: o.samplesInHand,
    pullExpiresMs: o.pullExpiresMs ?? 1000,
    retryDelayMs: o.retryDelayMs,
    log: createLogger({}, { level: "debug", write: (l) => void lines.push(l) }),
    events,
  });
  const h = { queue, engine, outputs, events, runner, lines };
  harnesses.push(h);
  return h;
}

afterEach(async () => {
  for (const h of harnesses.splice(0)) {
    h.engine.open();
    h.outputs.releaseWrites();
    h.queue.linkDown = false;
    await Promise.race([h.runner.drain(), sleep(10_000)]);
  }
});

const messages = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { msg: string }).msg);

describe("a task runner on a task queue", () => {
  it("acks a task once its outputs are complete and its result is published", async () => {
    const h = harness();
    const seqs = [0, 1].map((shard) => h.queue.add(task(shard)));
    const atEnd: unknown[] = [];
    h.queue.onEnd = (end) => {
      const shard = end.seq - 1;
      atEnd.push({
        seq: end.seq,
        op: end.op,
        complete: h.outputs.completed.has(shard),
        published: h.queue.results.some((r) => r.shard === shard),
      });
    };
    h.runner.start();
    expect(await waitFor(() => seqs.every((s) => h.queue.state(s) === "acked"), 10_000)).toBe(true);

    expect(atEnd).toEqual(seqs.map((seq) => ({ seq, op: "ack", complete: true, published: true })));
    expect(h.queue.ends.map((e) => [e.seq, e.deliveryCount, e.stale])).toEqual([
      [1, 1, false],
      [2, 1, false],
    ]);
    const results = [...h.queue.results].sort((a, b) => a.shard - b.shard);
    expect(results.map((r) => [r.shard, r.worker_id, r.delivery, r.dead_lettered])).toEqual([
      [0, "w", 1, false],
      [1, "w", 1, false],
    ]);
    expect(results[1].samples).toEqual([
      { sample_id: "s100", index: 100, ok: true, file_name: "images/1/s100.png", error: "", error_code: "" },
      { sample_id: "s101", index: 101, ok: true, file_name: "images/1/s101.png", error: "", error_code: "" },
    ]);
    expect(h.events.finishedAs).toEqual(["acked", "acked"]);
  });

  it("gives a task whose outputs cannot be written back with a delay; on its last delivery reports it failed and terms it", async () => {
    const h = harness({ maxDeliver: 2, retryDelayMs: 50 });
    h.outputs.failingShards.set(0, new LatentFleetError("OUTPUT_FAILED", "cannot write images/0/s0.png"));
    const seq = h.queue.add(task(0));
    h.runner.start();
    expect(await waitFor(() => h.queue.state(seq) === "terminated", 10_000)).toBe(true);

    expect(h.queue.ends.map((e) => [e.deliveryCount, e.op, e.delayMs, e.stale])).toEqual([
      [1, "nak", 50, false],
      [2, "term", undefined, false],
    ]);
    expect(h.queue.ends[1].reason).toMatch(/^OUTPUT_FAILED: cannot write/);
    // Only the last delivery reports, once: the first one's failure was the task's to retry.
    expect(h.queue.results.map((r) => [r.delivery, r.dead_lettered])).toEqual([[2, true]]);
    expect(h.queue.results[0].samples.map((s) => [s.sample_id, s.ok, s.error_code])).toEqual([
      ["s0", false, "OUTPUT_FAILED"],
      ["s1", false, "OUTPUT_FAILED"],
    ]);
    expect(h.events.finishedAs).toEqual(["retried", "terminated"]);
  });

  it("terms at once a task that cannot run here: another model, an output that cannot be opened, no task at all", async () => {
    const h = harness();
    const otherModel = h.queue.add({ ...task(0), model: "another-model" });
    const unopenable = h.queue.add(task(1));
    h.outputs.unopenable.set(1, new LatentFleetError("INVALID_ARGUMENT", "s3:// names no bucket"));
    const garbage = h.queue.add(undefined);
    h.runner.start();
    const seqs = [otherModel, unopenable, garbage];
    expect(await waitFor(() => seqs.every((s) => h.queue.state(s) === "terminated"), 10_000)).toBe(true);

    const ends = [...h.queue.ends].sort((a, b) => a.seq - b.seq);
    expect(ends.map((e) => [e.seq, e.deliveryCount, e.op])).toEqual(seqs.map((seq) => [seq, 1, "term"]));
    const codes = (shard: number) =>
      h.queue.results.find((r) => r.shard === shard)?.samples.map((s) => s.error_code);
    expect(h.queue.results.map((r) => r.dead_lettered)).toEqual([true, true]);
    expect(h.queue.deliveries(garbage)).toBe(1);
    expect(codes(0)).toEqual(["MODEL_MISMATCH", "MODEL_MISMATCH"]);
    expect(codes(1)).toEqual(["INVALID_ARGUMENT", "INVALID_ARGUMENT"]);
    expect(h.engine.batches).toEqual([]);
    expect(messages(h.lines)).toContain("undecodable task terminated");
    expect(h.events.finishedAs).toEqual(["terminated", "terminated", "terminated"]);
  });

  it("reports a cancelled job's task skipped and acks it, without running it", async () => {
    const h = harness({ jobStates: { isCancelled: async (job) => job === "job" } });
    const seq = h.queue.add(task(0));
    h.runner.start();
    expect(await waitFor(() => h.queue.state(seq) === "acked", 10_000)).toBe(true);
    expect(h.queue.results[0].samples.map((s) => s.error_code)).toEqual(["CANCELLED", "CANCELLED"]);
    expect(h.queue.results[0].dead_lettered).toBe(true);
    expect(h.engine.batches).toEqual([]);
  });

  it("keeps a busy task's delivery with confirmed progress, past several ack_waits", async () => {
    const ackWaitMs = 1000;
    const h = harness({ ackWaitMs });
    h.engine.gated = true;
    const seq = h.queue.add(task(0));
    h.runner.start();
    expect(await waitFor(() => h.engine.batches.length === 1, 5000)).toBe(true);
    await sleep(2.5 * ackWaitMs);

    // Without progress the lease would have run out twice and the task been handed out again.
    const [delivery] = h.queue.delivered;
    expect(delivery.held).toBe(true);
    expect(h.queue.deliveries(seq)).toBe(1);
    expect(delivery.progressConfirmed).toBeGreaterThanOrEqual(3);
    h.engine.open();
    expect(await waitFor(() => h.queue.state(seq) === "acked", 5000)).toBe(true);
    expect(h.queue.ends.map((e) => [e.deliveryCount, e.op, e.stale])).toEqual([[1, "ack", false]]);
  });

  it("neither acks nor naks a delivery it no longer holds: the task is left to its redelivery", async () => {
    const h = harness({ ackWaitMs: 1000 });
    h.engine.gated = true;
    const seq = h.queue.add(task(0));
    h.runner.start();
    expect(await waitFor(() => h.engine.batches.length === 1, 5000)).toBe(true);
    // Cut off: progress goes unconfirmed until the lease runs out; then the images are made and written,
    // and the link comes back while the result is being published.
    h.queue.linkDown = true;
    const [first] = h.queue.delivered;
    expect(await waitFor(() => !first.held, 5000)).toBe(true);
    h.engine.open();
    await sleep(300);
    h.queue.linkDown = false;

    // The queue hands the task out again; this worker takes it and acks that delivery only.
    expect(await waitFor(() => h.queue.state(seq) === "acked", 10_000)).toBe(true);
    expect(await waitFor(() => h.events.finishedAs.includes("lapsed"), 5000)).toBe(true);
    expect(h.queue.ends.map((e) => [e.deliveryCount, e.op, e.stale])).toEqual([[2, "ack", false]]);
    expect(h.queue.results.map((r) => r.delivery).sort()).toEqual([1, 2]);
    expect(messages(h.lines).some((m) => m.startsWith("task left to its redelivery"))).toBe(true);
  });

  it("drains: pulls no more, cancels its open pull request, gives back the tasks not started once it ended, finishes the others", async () => {
    // Two samples a task and a batch; room for four tasks in hand, three in the queue: a pull stays open.
    const h = harness({ batchSize: 2, samplesInHand: 8 });
    h.engine.gated = true;
    const seqs = [0, 1, 2].map((shard) => h.queue.add(task(shard)));
    h.runner.start();
    const ready = () => h.runner.tasksInHand === 3 && h.engine.batches.length === 2 && h.queue.pullOpen;
    expect(await waitFor(ready, 10_000)).toBe(true);

    const pullsBefore = h.queue.pulls.length;
    const drained = h.runner.drain();
    expect(h.runner.state).toBe("draining");
    // Queued after the drain began: the open request was cancelled, so it is never handed to this worker.
    const late = h.queue.add(task(3));
    const naks = () => h.queue.ends.filter((e) => e.op === "nak");
    expect(await waitFor(() => naks().length === 1, 5000)).toBe(true);
    // The started tasks are still running: what was given back did not wait for them.
    expect(h.queue.ends.filter((e) => e.op === "ack")).toEqual([]);
    h.engine.open();
    expect(await drained).toBe(1);

    expect(h.runner.state).toBe("stopped");
    expect(h.queue.pulls.length).toBe(pullsBefore);
    expect(naks().map((e) => [e.seq, e.delayMs, e.duringPull])).toEqual([[seqs[2], undefined, false]]);
    expect(seqs.map((s) => h.queue.state(s))).toEqual(["acked", "acked", "ready"]);
    expect([h.queue.state(late), h.queue.deliveries(late)]).toEqual(["ready", 0]);
    expect(h.queue.results.map((r) => r.shard).sort()).toEqual([0, 1]);
    expect([...h.events.finishedAs].sort()).toEqual(["acked", "acked", "released"]);
  });

  it("drains without waiting for its open pull request to expire, and what that request delivered goes back", async () => {
    // A pull request of 20 s stays open: the one task in the queue leaves room for more.
    const pullExpiresMs = 20_000;
    const h = harness({ ackWaitMs: 60_000, batchSize: 2, samplesInHand: 8, pullExpiresMs });
    h.engine.gated = true;
    const started = [0, 1].map((shard) => h.queue.add(task(shard)));
    h.runner.start();
    expect(await waitFor(() => h.engine.batches.length === 2 && h.queue.pullOpen, 10_000)).toBe(true);
    // Delivered to the open request just before the drain, not yet started: it goes back.
    const late = h.queue.add(task(2));
    expect(await waitFor(() => h.runner.tasksInHand === 3, 5000)).toBe(true);

    const t0 = performance.now();
    const drained = h.runner.drain();
    expect(await waitFor(() => !h.queue.pullOpen, 5000)).toBe(true);
    h.engine.open();
    expect(await drained).toBe(1);
    const tookMs = performance.now() - t0;
    // Well under the request's expiry, even on a loaded machine.
    expect(tookMs).toBeLessThan(pullExpiresMs / 4);

    expect(h.queue.ends[0]).toMatchObject({ seq: late, op: "nak", duringPull: false, stale: false });
    expect(h.queue.ends.map((e) => [e.seq, e.op, e.stale]).sort()).toEqual([
      [started[0], "ack", false],
      [started[1], "ack", false],
      [late, "nak", false],
    ]);
    expect([...started, late].map((s) => h.queue.state(s))).toEqual(["acked", "acked", "ready"]);
    expect(h.queue.deliveries(late)).toBe(1);
    expect(h.queue.results.map((r) => r.shard).sort()).toEqual([0, 1]);
  });

  it("pulls nothing while the images made wait to be written, and goes on once they are", async () => {
    // Batches of 2, 4 samples in hand: at most 4 batches (8 samples) may wait to be written.
    const h = harness({ batchSize: 2, samplesInHand: 4 });
    h.outputs.writesHeld = true;
    const seqs = Array.from({ length: 20 }, (_, shard) => h.queue.add(task(shard)));
    h.runner.start();
    expect(await waitFor(() => h.runner.samplesUnwritten >= 8 && !h.queue.pullOpen, 10_000)).toBe(true);
    const pulls = h.queue.pulls.length;
    const delivered = h.queue.delivered.length;
    // Over two pull requests' time: a runner that still pulled would have asked again.
    await sleep(2500);
    expect(h.queue.pulls.length).toBe(pulls);
    expect(h.queue.delivered.length).toBe(delivered);
    // What it holds: the waiting writes (4 tasks) and at most one more pull's worth (2 tasks).
    expect(delivered).toBeLessThanOrEqual(6);

    h.outputs.releaseWrites();
    expect(await waitFor(() => seqs.every((s) => h.queue.state(s) === "acked"), 20_000)).toBe(true);
    expect(h.queue.results).toHaveLength(20);
    expect(h.queue.ends.every((e) => e.op === "ack" && !e.stale)).toBe(true);
  });
});
