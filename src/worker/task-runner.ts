/**
 * The NATS side of a worker: pulls tasks from the shared durable consumer `workers-<model>`, hands their
 * samples to the batcher, and reports each task once its outputs are durable.
 *
 * Per task: decode (undecodable: log and `term()`) -> skip if its job is cancelled (TaskResult with every
 * sample CANCELLED, then ack) -> samples to the batcher; each image is written as soon as its batch is
 * done -> shard metadata -> publishResult -> ack. In-progress acks run from the moment the task is in hand
 * until the ack, so a busy worker's tasks are never redelivered and a dead worker's are, after ack_wait.
 *
 * Flow control: the worker pulls with `fetch` (not `consume`, which would keep a buffer of delivered
 * tasks that nobody works on), asking only for what brings the samples in hand (delivered, not finished)
 * up to `samplesInHand` (default 2 B: the batch that runs and the next one), and never more than the
 * worker finishes in half an ack_wait at the rate it has measured. At least one task is always in hand.
 *
 * Drain: stop pulling, give back (nak, redelivered at once) every task none of whose samples has reached
 * the engine, finish the started ones, then resolve with the number given back. A pull request still
 * open at that moment ends within `pullExpiresMs`; what it delivers meanwhile is given back too. The naks
 * wait until that request has ended, or the server would deliver the tasks right back to it (each time
 * counting a delivery towards max_deliver).
 *
 * Task-level failures: an output that cannot be written (disk full, permissions) or a result that cannot
 * be published makes the task go back to the queue after a pause (nak with delay), to be tried again, maybe
 * by another worker; on its last delivery (max_deliver) it is reported with every sample failed and the
 * reason, and terminated. A dead engine (fatal) gives back every task in hand and calls `onFatal`.
 */
import { performance } from "node:perf_hooks";
import type { Consumer, JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { isLatentFleetError } from "../common/errors.js";
import { errorMessage, type Logger, silentLogger } from "../common/log.js";
import { decodeTask } from "../common/nats/codec.js";
import { DeliveryLease } from "../common/nats/tasks.js";
import type { SampleResult__Input } from "../common/proto/generated/latentfleet/v1/SampleResult.js";
import type { Task } from "../common/proto/generated/latentfleet/v1/Task.js";
import type { TaskResult__Input } from "../common/proto/generated/latentfleet/v1/TaskResult.js";
import { type Batcher, errorCode, type SampleOutcome } from "./batcher.js";
import type { ModelDescription } from "./engine/pipeline.js";
import type { JobStateSource } from "./job-states.js";
import { OutputOutage } from "./output-outage.js";
import type { ImageSink, ShardOutput } from "./sink.js";
import {
  ackConfirmed,
  failedSamples,
  publishResultWithRetry,
  resolveTaskSamples,
  sampleResults,
} from "./task-results.js";

/**
 * Output formats a task may name ("" is imagefolder): the sink opens the matching writer (imagefolder:
 * images/<shard>/ and .shards/<shard>.jsonl; webdataset: one tar and one Parquet file per shard).
 */
export const WORKER_OUTPUT_FORMATS: readonly string[] = ["", "imagefolder", "webdataset"];

export type RunnerState = "running" | "draining" | "stopped";

/**
 * How a task left this worker: acked, given back with a delay to be tried again, terminated, released, or
 * lapsed (its delivery may have passed to another worker, see DeliveryLease: left to its redelivery).
 */
export type TaskOutcome = "acked" | "retried" | "terminated" | "released" | "lapsed";

/** What the runner reports as it goes (metrics); every method is cheap and must not throw. */
export interface TaskEvents {
  /** A task was delivered; `delivery` > 1 is a redelivery. */
  received(delivery: number): void;
  finished(outcome: TaskOutcome): void;
  /** Samples reported failed for a reason of the whole task (no engine outcome of their own). */
  samplesFailed(code: string, count: number): void;
}

export interface TaskRunnerOptions {
  js: JetStreamClient;
  /** The connection under `js` (confirmed in-progress acks, see DeliveryLease). */
  nc: NatsConnection;
  /** The shared durable pull consumer of the model (workerTasks). */
  consumer: Consumer;
  batcher: Batcher;
  sink: ImageSink;
  model: Pick<ModelDescription, "name" | "defaultScheduler" | "nativeSize" | "vaeScale">;
  workerId: string;
  jobStates: JobStateSource;
  /** The consumer's ack_wait. */
  ackWaitMs: number;
  /** The consumer's max_deliver (-1 or 0: unlimited). */
  maxDeliver: number;
  /** Samples to keep in hand (default 2 x the batch size). */
  samplesInHand?: number;
  /** How long one pull request waits for tasks (default 2000; the server's minimum is 1000). */
  pullExpiresMs?: number;
  /** Pause before a failed task is redelivered (default 5000). */
  retryDelayMs?: number;
  /** How long a write to an output that takes none (disk full, read-only) is held and retried (10 min). */
  outputHoldMs?: number;
  log?: Logger;
  events?: TaskEvents;
  /** Called once when the engine is dead; the runner has stopped pulling and given its tasks back. */
  onFatal?: (err: unknown) => void;
}

interface InHand {
  msg: JsMsg;
  /** This worker's hold on the delivery; nothing ends a delivery that is no longer held. */
  lease: DeliveryLease;
  /** Samples not finished yet. */
  remaining: number;
  /** Its samples are in the batcher (or it ended without any). */
  submitted: boolean;
}

/** One task being handled. */
interface TaskContext {
  entry: InHand;
  msg: JsMsg;
  task: Task;
  log: Logger;
  /** Stops the in-progress acks (idempotent); called before the final ack, nak or term. */
  stopInProgress: () => void;
  /** A TaskResult of this task with the given samples. */
  report: (samples: SampleResult__Input[], deadLettered: boolean) => TaskResult__Input;
  seconds: () => number;
}

export class TaskRunner {
  private stateName: RunnerState = "running";
  private readonly inHand = new Set<InHand>();
  private readonly handling = new Set<Promise<void>>();
  private wakeUp: (() => void) | undefined;
  private released = 0;
  private largestTask = 0;
  private drainPromise: Promise<number> | undefined;
  private loop: Promise<void> = Promise.resolve();
  private fatal = false;
  private pulling = false;
  private fetching = false;
  /** Tasks delivered and not yet handed to the batcher. */
  private reading = 0;
  /** Samples the engine has made whose outputs are not yet written (PNG encoding, the put). */
  private unwritten = 0;
  /**
   * Past this many, no more tasks are pulled: when the output is slower than the engine (a slow object
   * store, too few encoder threads) the images would otherwise pile up in memory without bound.
   */
  private readonly maxUnwritten: number;
  private readonly deferredNaks: { msg: JsMsg; lease?: DeliveryLease }[] = [];
  private readonly log: Logger;
  private readonly samplesTarget: number;
  private readonly pullExpiresMs: number;
  private readonly retryDelayMs: number;
  private readonly inProgressEveryMs: number;
  private readonly output: OutputOutage;

  constructor(private readonly opts: TaskRunnerOptions) {
    this.log = opts.log ?? silentLogger;
    this.samplesTarget = Math.max(1, opts.samplesInHand ?? 2 * opts.batcher.batchSize);
    this.maxUnwritten = Math.max(this.samplesTarget, 4 * opts.batcher.batchSize);
    // At most half of ack_wait: a task delivered at the end of a pull request still has half of its lease.
    this.pullExpiresMs = Math.max(1000, Math.min(opts.pullExpiresMs ?? 2000, Math.floor(opts.ackWaitMs / 2)));
    this.retryDelayMs = opts.retryDelayMs ?? 5000;
    // Four in-progress acks per ack_wait: two may be lost before the task is redelivered.
    this.inProgressEveryMs = Math.max(100, Math.floor(opts.ackWaitMs / 4));
    this.output = new OutputOutage({ log: this.log, maxHoldMs: opts.outputHoldMs });
  }

  get state(): RunnerState {
    return this.stateName;
  }

  /** Tasks delivered to this worker and not yet acked or given back. */
  get tasksInHand(): number {
    return this.inHand.size;
  }

  /** Samples the engine has made whose outputs are not yet written. */
  get samplesUnwritten(): number {
    return this.unwritten;
  }

  start(): void {
    this.loop = this.pullLoop();
  }

  /**
   * Stops pulling, gives back the tasks not started, finishes the others; resolves with the number of
   * tasks given back. Calling it again returns the same promise.
   */
  drain(): Promise<number> {
    if (this.drainPromise) return this.drainPromise;
    this.stateName = "draining";
    this.drainPromise = (async () => {
      this.log.info("draining: no more tasks are pulled", { in_hand: this.inHand.size });
      this.wake();
      this.opts.batcher.withdrawUnstarted({ close: true });
      await this.loop;
      while (this.handling.size > 0) await Promise.allSettled([...this.handling]);
      this.stateName = "stopped";
      this.log.info("drained", { released: this.released });
      return this.released;
    })();
    return this.drainPromise;
  }

  private get draining(): boolean {
    return this.stateName !== "running";
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }

  /** Waits until woken (a task finished a sample, or a drain began) or `ms` passed. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** How many tasks to ask for now (0: enough in hand). */
  private tasksToFetch(): number {
    if (this.inHand.size === 0) return 1;
    // The tasks in hand wait for the output to take writes again; more would only wait too.
    if (this.output.down) return 0;
    if (this.unwritten >= this.maxUnwritten) return 0;
    let unfinished = 0;
    for (const t of this.inHand) unfinished += t.remaining;
    let target = this.samplesTarget;
    const perSample = this.opts.batcher.secondsPerSample;
    if (perSample !== undefined && perSample > 0) {
      const inHalfAckWait = Math.floor(this.opts.ackWaitMs / 1000 / 2 / perSample);
      target = Math.min(target, Math.max(1, inHalfAckWait));
    }
    if (unfinished >= target) return 0;
    // Until a task has been seen, one at a time: a task may hold many samples.
    if (this.largestTask === 0) return 1;
    return Math.max(1, Math.min(256, Math.ceil((target - unfinished) / this.largestTask)));
  }

  private async pullLoop(): Promise<void> {
    this.pulling = true;
    try {
      await this.pullUntilDraining();
    } finally {
      this.pulling = false;
      for (const { msg, lease } of this.deferredNaks.splice(0)) if (lease?.held !== false) msg.nak();
    }
  }

  private async pullUntilDraining(): Promise<void> {
    let backoffMs = 500;
    while (!this.draining) {
      const want = this.tasksToFetch();
      if (want === 0) {
        await this.sleep(this.pullExpiresMs);
        continue;
      }
      try {
        this.fetching = true;
        const requestedAt = performance.now();
        const messages = await this.opts.consumer.fetch({ max_messages: want, expires: this.pullExpiresMs });
        for await (const msg of messages) this.accept(msg, requestedAt);
        backoffMs = 500;
      } catch (err) {
        this.fetching = false;
        if (this.draining) break;
        this.log.warn("pulling tasks failed; retrying", { error: errorMessage(err), retry_ms: backoffMs });
        await this.sleep(backoffMs);
        backoffMs = Math.min(10_000, backoffMs * 2);
      } finally {
        this.fetching = false;
        this.opts.batcher.poke();
      }
    }
  }

  private accept(msg: JsMsg, requestedAt: number): void {
    this.opts.events?.received(msg.info.deliveryCount);
    if (this.draining) {
      this.release(msg, "draining");
      return;
    }
    let task: Task;
    try {
      task = decodeTask(msg.data);
    } catch (err) {
      // Nobody can ever run it, and it names no job to report to: log it and drop it from the queue.
      this.log.error("undecodable task terminated", {
        seq: msg.seq,
        delivery: msg.info.deliveryCount,
        bytes: msg.data.length,
        error: errorMessage(err),
      });
      msg.term();
      this.opts.events?.finished("terminated");
      return;
    }
    const lease = new DeliveryLease(msg, {
      nc: this.opts.nc,
      ackWaitMs: this.opts.ackWaitMs,
      requestedAt,
      everyMs: this.inProgressEveryMs,
    });
    const entry: InHand = { msg, lease, remaining: task.samples.length, submitted: false };
    this.reading++;
    this.largestTask = Math.max(this.largestTask, task.samples.length);
    this.inHand.add(entry);
    const p = this.handle(entry, task)
      .catch((err: unknown) => {
        this.log.error("task failed unexpectedly; it goes back to the queue", { error: errorMessage(err) });
        if (lease.held) {
          msg.nak(this.retryDelayMs);
          this.opts.events?.finished("retried");
        } else {
          this.opts.events?.finished("lapsed");
        }
      })
      .finally(() => {
        lease.stop();
        this.submitted(entry);
        this.inHand.delete(entry);
        this.handling.delete(p);
        this.wake();
      });
    this.handling.add(p);
  }

  /**
   * Samples may be on their way to the batcher: a pull request is out, or a delivered task has not been
   * handed to the batcher yet. The batcher then holds a partial batch back for a moment (lingerMs).
   */
  moreComing(): boolean {
    return this.fetching || this.reading > 0;
  }

  private submitted(entry: InHand): void {
    if (entry.submitted) return;
    entry.submitted = true;
    this.reading--;
    if (this.reading === 0) this.opts.batcher.poke();
  }

  /**
   * Gives a task back to the queue (nak, no delay). While this worker's own pull request may still be open
   * the nak waits until it has ended: the server would hand the task straight back to that request, and
   * every such round trip counts as a delivery (max_deliver). A delivery no longer held is not naked: it
   * may be another worker's by now.
   */
  private release(msg: JsMsg, why: string, lease?: DeliveryLease): void {
    this.released++;
    this.opts.events?.finished("released");
    this.log.debug("task given back", { seq: msg.seq, why });
    if (this.pulling) this.deferredNaks.push({ msg, lease });
    else if (lease?.held !== false) msg.nak();
  }

  private async handle(entry: InHand, task: Task): Promise<void> {
    const { msg } = entry;
    const started = performance.now();
    const delivery = msg.info.deliveryCount;
    const seconds = () => (performance.now() - started) / 1000;
    const ctx: TaskContext = {
      entry,
      msg,
      task,
      log: this.log.child({ job: task.job_id, shard: task.shard, delivery }),
      stopInProgress: () => entry.lease.stop(),
      seconds,
      report: (samples, deadLettered) => ({
        job_id: task.job_id,
        shard: task.shard,
        worker_id: this.opts.workerId,
        samples,
        delivery,
        seconds: seconds(),
        dead_lettered: deadLettered,
      }),
    };
    try {
      await this.handleTask(ctx);
    } finally {
      ctx.stopInProgress();
    }
  }

  private async handleTask(ctx: TaskContext): Promise<void> {
    const { msg, task, log } = ctx;
    const shard = Number(task.shard);
    if (task.model !== this.opts.model.name) {
      const why = `task for model ${task.model} reached a worker of model ${this.opts.model.name}`;
      await this.reportAndTerminate(ctx, "MODEL_MISMATCH", why);
      return;
    }
    if (!Number.isSafeInteger(shard)) {
      await this.reportAndTerminate(ctx, "PAYLOAD_INVALID", `shard ${task.shard} is out of range`);
      return;
    }
    if (!WORKER_OUTPUT_FORMATS.includes(task.output_format)) {
      const why = `output format ${task.output_format} is unknown (${WORKER_OUTPUT_FORMATS.slice(1).join(", ")})`;
      await this.reportAndTerminate(ctx, "INVALID_ARGUMENT", why);
      return;
    }
    if (await this.opts.jobStates.isCancelled(task.job_id)) {
      await this.publish(ctx.report(failedSamples(task, "CANCELLED", "the job was cancelled"), true));
      ctx.stopInProgress();
      await this.ack(ctx);
      log.info("task of a cancelled job skipped", { samples: task.samples.length });
      return;
    }
    if (this.draining) {
      this.release(msg, "draining", ctx.entry.lease);
      return;
    }
    await this.run(ctx);
  }

  /** A task nobody can run as it is: report every sample failed, and take it off the queue. */
  private async reportAndTerminate(ctx: TaskContext, code: string, why: string): Promise<void> {
    ctx.log.error("task cannot run; reported failed and terminated", { code, error: why });
    await this.publish(ctx.report(failedSamples(ctx.task, code, why), true));
    ctx.stopInProgress();
    ctx.msg.term();
    this.opts.events?.samplesFailed(code, ctx.task.samples.length);
    this.opts.events?.finished("terminated");
  }

  private async run(ctx: TaskContext): Promise<void> {
    const { entry, msg, task, log } = ctx;
    const { sink, batcher, model } = this.opts;
    let out: ShardOutput;
    try {
      out = sink.open(task, model.name);
    } catch (err) {
      // A bad output location (a malformed s3:// URL) fails on every worker: take it off the queue.
      await this.reportAndTerminate(ctx, errorCode(err), errorMessage(err));
      return;
    }
    if (msg.info.deliveryCount > 1) await out.removeLeftovers();

    const { entries, requests } = resolveTaskSamples(task, model);
    const holding = () => !this.draining && entry.lease.held;
    let writesRetried = false;
    const retried = () => {
      writesRetried = true;
    };
    const fileNames = new Array<string>(task.samples.length).fill("");
    // (submitted() runs right after submit, in the same turn: the batcher pumps on the next one.)
    const job = batcher.submit(entries, {
      onSample: async (i, outcome) => {
        entry.remaining--;
        this.wake();
        const sampleId = task.samples[i].sample_id;
        this.unwritten++;
        try {
          fileNames[i] = await this.output.write(() => out.sample(i, outcome, requests[i]), holding, retried);
        } finally {
          this.unwritten--;
          this.wake();
        }
        if (outcome.ok) {
          for (const w of outcome.image.warnings)
            log.info("sample warning", { sample: sampleId, warning: w });
        }
      },
    });

    this.submitted(entry);
    let outcomes: SampleOutcome[];
    try {
      outcomes = await job.done;
    } catch (err) {
      if (isLatentFleetError(err) && err.code === "WORKER_DRAINING") {
        this.release(msg, "draining", entry.lease);
        return;
      }
      if (batcher.fatalError !== undefined) {
        this.release(msg, "engine failed", entry.lease);
        this.onFatal(batcher.fatalError);
        return;
      }
      await this.giveUpOrRetry(ctx, err);
      return;
    }

    try {
      await this.output.write(() => out.finish(requests, outcomes, fileNames), holding, retried);
      // A write that failed on a read-only output could not remove its temporary file either.
      if (writesRetried) await out.removeLeftovers().catch(() => undefined);
      const samples = sampleResults(task, outcomes, fileNames);
      // Published (and stored) before the ack: should the ack land on another worker's delivery after all
      // (see DeliveryLease), the shard is already complete and reported.
      await this.publish(ctx.report(samples, false));
      ctx.stopInProgress();
      await this.ack(ctx);
      const failed = outcomes.filter((o): o is Extract<SampleOutcome, { ok: false }> => !o.ok);
      log.info("task done", { samples: samples.length, failed: failed.length, seconds: ctx.seconds() });
      if (failed.length > 0) {
        log.warn("samples failed", { failed: failed.length, code: failed[0].code, error: failed[0].message });
      }
    } catch (err) {
      await this.giveUpOrRetry(ctx, err);
    }
  }

  /** A task-level failure: try again later, or on the last delivery report every sample failed. */
  private async giveUpOrRetry(ctx: TaskContext, err: unknown): Promise<void> {
    const { msg, log } = ctx;
    const code = errorCode(err);
    // Most often after results could not be published: NATS is out of reach, and the delivery may be
    // another worker's by the time a nak or term would arrive.
    if (!(await this.holdsDelivery(ctx, "retry"))) return;
    const last = this.opts.maxDeliver > 0 && msg.info.deliveryCount >= this.opts.maxDeliver;
    if (!last) {
      log.warn("task failed; it goes back to the queue", {
        code,
        error: errorMessage(err),
        retry_ms: this.retryDelayMs,
      });
      ctx.stopInProgress();
      msg.nak(this.retryDelayMs);
      this.opts.events?.finished("retried");
      return;
    }
    try {
      await this.reportAndTerminate(ctx, code, errorMessage(err));
    } catch (publishErr) {
      // Not terminated: after ack_wait the dead-letter advisory reports it instead, without the reason.
      log.error("cannot report the failed task", { error: errorMessage(publishErr) });
    }
  }

  private onFatal(err: unknown): void {
    if (this.fatal) return;
    this.fatal = true;
    this.stateName = "draining";
    this.wake();
    this.opts.onFatal?.(err);
  }

  private publish(result: TaskResult__Input): Promise<void> {
    return publishResultWithRetry(this.opts.js, result, this.log);
  }

  /** Acks the delivery if it is still this worker's (see holdsDelivery). */
  private async ack(ctx: TaskContext): Promise<void> {
    if (!(await this.holdsDelivery(ctx, "ack"))) return;
    await ackConfirmed(ctx.msg, ctx.log);
    this.opts.events?.finished("acked");
  }

  /**
   * Asks the server whether the delivery is still this worker's (a confirmed in-progress ack, see
   * DeliveryLease) before an ack, nak or term. Without a timely answer the task is left alone: after its
   * ack_wait it goes (or has gone) to another worker, and a late ack would end that worker's delivery.
   */
  private async holdsDelivery(ctx: TaskContext, ending: "ack" | "retry"): Promise<boolean> {
    if (await ctx.entry.lease.confirm()) return true;
    ctx.stopInProgress();
    ctx.log.warn("task left to its redelivery: NATS did not confirm this delivery within ack_wait", {
      instead_of: ending,
      seconds: ctx.seconds(),
    });
    this.opts.events?.finished("lapsed");
    return false;
  }
}
