/**
 * What the worker relies on from a task queue (src/common/task-queue/port.ts), as tests any implementation
 * must pass: the NATS adapter on a real nats-server (test/integration/nats/task-queue.test.ts) and the
 * in-memory one the worker's unit tests use (test/unit/worker/fake-task-queue.test.ts), so that the fake
 * behaves as the real queue does where the worker can tell.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { expect, it } from "vitest";
import type { Task, TaskResult } from "../../src/common/contract/task.js";
import type { LeaseTerms, Pulled, TaskQueue } from "../../src/common/task-queue/port.js";

export interface QueueUnderTest {
  queue: TaskQueue;
  /** The model the queue's tasks are for (a task added is for it). */
  model: string;
  /** Queues a task; or, given bytes, a payload that is no task. */
  add(task: Task | Uint8Array): Promise<void>;
  /** The results published so far. */
  results(): Promise<TaskResult[]>;
}

/** Opens a queue with these terms, its own (no task of another test in it). */
export type OpenQueue = (terms: LeaseTerms) => Promise<QueueUnderTest>;

let jobs = 0;

/** A task of `count` samples; its ids differ from every other task's. */
function task(model: string, shard: number, count = 1): Task {
  const job = `contract-${process.pid}-${++jobs}`;
  return {
    job_id: job,
    shard,
    model,
    output_dir: "/out",
    output_format: "imagefolder",
    samples: Array.from({ length: count }, (_, k) => ({
      sample_id: `${job}-${k}`,
      index: 12 + k,
      row_id: job,
      prompt: "a red circle on a white background",
      negative_prompt: "",
      seed: 2 ** 53 - 1 - k,
      steps: 4,
      guidance_scale: 7.3,
      scheduler: "euler",
      width: 64,
      height: 64,
      source: "prompts.jsonl:4",
    })),
  };
}

async function pullAll(queue: TaskQueue, max: number, expiresMs: number): Promise<Pulled[]> {
  const out: Pulled[] = [];
  for await (const d of queue.pull({ max, expiresMs })) out.push(d);
  return out;
}

/** Defines the contract's tests (call inside a describe). */
export function taskQueueContract(open: OpenQueue): void {
  it("hands out at most the deliveries asked for, each task as sent, 64-bit fields as numbers", async () => {
    const q = await open({ ackWaitMs: 30_000, maxDeliver: 5 });
    const sent = [task(q.model, 7, 2), task(q.model, 8), task(q.model, 9)];
    for (const t of sent) await q.add(t);
    const first = await pullAll(q.queue, 2, 2000);
    expect(first.map((d) => d.task)).toEqual(sent.slice(0, 2));
    expect(first.map((d) => [d.deliveryCount, d.held])).toEqual([
      [1, true],
      [1, true],
    ]);
    const rest = await pullAll(q.queue, 5, 1000);
    expect(rest.map((d) => d.task)).toEqual(sent.slice(2));
    for (const d of [...first, ...rest]) await d.ack();
  });

  it("yields a delivery as it arrives, and ends a request with nothing after it expired", async () => {
    const q = await open({ ackWaitMs: 30_000, maxDeliver: 5 });
    const t0 = performance.now();
    expect(await pullAll(q.queue, 3, 1000)).toEqual([]);
    const waited = performance.now() - t0;
    expect(waited).toBeGreaterThan(800);
    expect(waited).toBeLessThan(10_000);

    await q.add(task(q.model, 0));
    let firstAt = 0;
    const started = performance.now();
    for await (const d of q.queue.pull({ max: 3, expiresMs: 2000 })) {
      firstAt = performance.now();
      await d.ack();
    }
    // The request went on waiting for more, but the first delivery did not wait for it to end.
    expect(performance.now() - firstAt).toBeGreaterThan(500);
    expect(firstAt - started).toBeLessThan(1500);
  });

  it("ends a cancelled request at once; a task queued after goes to the next request, as its first delivery", async () => {
    const q = await open({ ackWaitMs: 30_000, maxDeliver: 5 });
    const cancelledBefore = new AbortController();
    cancelledBefore.abort();
    const t0 = performance.now();
    for await (const _ of q.queue.pull({ max: 1, expiresMs: 20_000, signal: cancelledBefore.signal })) {
      expect.unreachable("a request cancelled before it began delivers nothing");
    }

    const first = task(q.model, 0);
    await q.add(first);
    const cancel = new AbortController();
    const got: Pulled[] = [];
    for await (const d of q.queue.pull({ max: 3, expiresMs: 20_000, signal: cancel.signal })) {
      got.push(d);
      cancel.abort();
    }
    // Far under the 20 s expiry, even on a loaded machine.
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(got.map((d) => [d.task, d.deliveryCount])).toEqual([[first, 1]]);

    // Had the cancelled request stayed open on the queue, it would hold this task until ack_wait.
    const later = task(q.model, 1);
    await q.add(later);
    const next = await pullAll(q.queue, 1, 3000);
    expect(next.map((d) => [d.task, d.deliveryCount])).toEqual([[later, 1]]);
    for (const d of [...got, ...next]) await d.ack();
  });

  it("loses no task queued while a request is cancelled: each is yielded by it or by the next, once", async () => {
    const q = await open({ ackWaitMs: 30_000, maxDeliver: 5 });
    const sent = Array.from({ length: 12 }, (_, shard) => task(q.model, shard));
    const cancel = new AbortController();
    const cancelled: Pulled[] = [];
    const adding = (async () => {
      for (const t of sent) {
        await q.add(t);
        if (t.shard === 3) cancel.abort();
      }
    })();
    for await (const d of q.queue.pull({ max: sent.length, expiresMs: 20_000, signal: cancel.signal })) {
      cancelled.push(d);
    }
    await adding;
    const rest = await pullAll(q.queue, sent.length, 2000);
    const all = [...cancelled, ...rest];
    expect(all.map((d) => d.deliveryCount).every((n) => n === 1)).toBe(true);
    expect(all.map((d) => d.task?.shard ?? -1).sort((a, b) => a - b)).toEqual(sent.map((t) => t.shard));
    for (const d of all) await d.ack();
  });

  it("takes an acked or terminated task off the queue", async () => {
    const q = await open({ ackWaitMs: 1000, maxDeliver: 5 });
    await q.add(task(q.model, 0));
    await q.add(task(q.model, 1));
    const [a, b] = await pullAll(q.queue, 2, 2000);
    await a.ack();
    b.term("cannot run");
    // Past ack_wait: neither comes back.
    expect(await pullAll(q.queue, 2, 2000)).toEqual([]);
  });

  it("hands a nak'ed task out again after its delay, as the next delivery", async () => {
    const q = await open({ ackWaitMs: 30_000, maxDeliver: 5 });
    const sent = task(q.model, 0);
    await q.add(sent);
    const [first] = await pullAll(q.queue, 1, 2000);
    const nakedAt = performance.now();
    first.nak(1500);
    const again = await pullAll(q.queue, 1, 5000);
    expect(performance.now() - nakedAt).toBeGreaterThan(1200);
    expect(again.map((d) => [d.task, d.deliveryCount])).toEqual([[sent, 2]]);
    await again[0].ack();
  });

  it("keeps a delivery whose progress is confirmed; hands out again one without, which is then no longer held", async () => {
    const ackWaitMs = 1000;
    const q = await open({ ackWaitMs, maxDeliver: 5 });
    await q.add(task(q.model, 0));
    await q.add(task(q.model, 1));
    const [kept, dropped] = await pullAll(q.queue, 2, 2000);
    const confirmed: boolean[] = [];
    let progressing = true;
    const progress = (async () => {
      while (progressing) {
        confirmed.push(await kept.progress());
        await sleep(ackWaitMs / 4);
      }
    })();
    await sleep(2.5 * ackWaitMs);
    expect(kept.held).toBe(true);
    expect(dropped.held).toBe(false);
    expect(await dropped.progress()).toBe(false);
    const again = await pullAll(q.queue, 1, 2000);
    progressing = false;
    await progress;
    expect(again.map((d) => [d.task?.shard, d.deliveryCount])).toEqual([[1, 2]]);
    expect(confirmed.length).toBeGreaterThan(4);
    expect(confirmed.every((c) => c)).toBe(true);
    await kept.ack();
    await again[0].ack();
  });

  it("gives a task up after max_deliver deliveries", async () => {
    const q = await open({ ackWaitMs: 30_000, maxDeliver: 2 });
    await q.add(task(q.model, 0));
    for (let delivery = 1; delivery <= 2; delivery++) {
      const [d] = await pullAll(q.queue, 1, 3000);
      expect(d?.deliveryCount).toBe(delivery);
      d.nak();
    }
    expect(await pullAll(q.queue, 1, 1500)).toEqual([]);
  });

  it("delivers a payload that is no task as such, to be terminated", async () => {
    const q = await open({ ackWaitMs: 30_000, maxDeliver: 5 });
    await q.add(Uint8Array.of(0xff, 0xff, 0xff));
    const [d] = await pullAll(q.queue, 1, 2000);
    expect(d.task).toBeUndefined();
    if (d.task !== undefined) return;
    expect(d.error).toMatchObject({ code: "PAYLOAD_INVALID" });
    expect(d.bytes).toBe(3);
    d.term("not a task");
    expect(await pullAll(q.queue, 1, 1000)).toEqual([]);
  });

  it("publishes results, 64-bit fields as numbers", async () => {
    const q = await open({ ackWaitMs: 30_000, maxDeliver: 5 });
    const result: TaskResult = {
      job_id: `contract-${process.pid}-${++jobs}`,
      shard: 2 ** 40,
      worker_id: "w",
      samples: [
        { sample_id: "a-0", index: 2 ** 40 + 1, ok: true, file_name: "x.png", error: "", error_code: "" },
      ],
      delivery: 1,
      seconds: 0.5,
      dead_lettered: false,
      reused: false,
    };
    await q.queue.publishResult(result);
    expect((await q.results()).filter((r) => r.job_id === result.job_id)).toEqual([result]);
  });
}
