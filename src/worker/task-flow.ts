/**
 * One task delivery on a worker, from the moment it is in hand: checks that it can run here at all
 * (model, shard, output format: otherwise reported failed and terminated), skips it when its job is
 * cancelled, hands its samples to the batcher and writes each image as soon as its batch is done,
 * completes the shard, publishes the result, then acks. A task-level failure (an output that cannot be
 * written, a result that cannot be published) sends it back to the queue after a pause, and on its last
 * delivery, or at once when its error code says trying again cannot help (taskDisposition), reports every
 * sample failed and terminates it. Before any ack, nak or term the queue is asked to confirm that the
 * delivery is still this worker's (a confirmed progress, see the task queue port); otherwise it is left to
 * its redelivery.
 *
 * Pulling, flow control and drain around the tasks are TaskRunner's (task-runner.ts).
 */
import { performance } from "node:perf_hooks";
import { OUTPUT_FORMAT_NAMES } from "../common/contract/output-formats.js";
import type { SampleResult, Task, TaskResult } from "../common/contract/task.js";
import { isLatentFleetError, taskDisposition } from "../common/errors.js";
import { errorMessage, type Logger } from "../common/log.js";
import type { Delivery, TaskQueue } from "../common/task-queue/port.js";
import type { ModelDescription } from "../engine/pipeline.js";
import type { Batcher } from "./batcher.js";
import type { JobStateSource } from "./job-states.js";
import type { OutputOutage } from "./output-outage.js";
import type { ShardOutput } from "./sink.js";
import { errorCode, type SampleOutcome } from "./submission.js";
import { failedSamples, resolveTaskSamples, sampleResults } from "./task-results.js";

/** Output formats a task may name ("" is the default): the sink opens the format's writer (src/outputs). */
export const WORKER_OUTPUT_FORMATS: readonly string[] = ["", ...OUTPUT_FORMAT_NAMES];

/**
 * How a task left this worker: acked, given back with a delay to be tried again, terminated, released, or
 * lapsed (its delivery may have passed to another worker: left to its redelivery).
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

/** A task delivered to this worker and not yet acked or given back. */
export interface InHand {
  /** Nothing ends a delivery that is no longer held. */
  delivery: Delivery;
  /** Stops the in-progress acks (idempotent); called before the final ack, nak or term. */
  stopProgress: () => void;
  /** Samples not finished yet. */
  remaining: number;
  /** Its samples are in the batcher (or it ended without any). */
  submitted: boolean;
}

/** What a task's flow needs from the runner that holds it. */
export interface TaskHost {
  readonly draining: boolean;
  /** Gives the delivery back to the queue at once (a drain, a dead engine). */
  release(delivery: Delivery, why: string): void;
  /** The task's samples are in the batcher. */
  submitted(entry: InHand): void;
  /** A sample left the engine (`entry.remaining` went down): the runner may pull more. */
  sampleMade(): void;
  /** Samples made whose outputs are being written: +1 when a write starts, -1 when it ends. */
  writing(delta: 1 | -1): void;
  /** The engine is dead. */
  onFatal(err: unknown): void;
}

/** Where a task's outputs go: the writer of one delivery (sink.ts). */
export interface ShardOutputs {
  open(task: Task, modelName: string): ShardOutput;
}

export interface TaskFlowOptions {
  /** Results are published on it; its max_deliver tells the last delivery. */
  queue: Pick<TaskQueue, "publishResult" | "maxDeliver">;
  batcher: Batcher;
  sink: ShardOutputs;
  model: Pick<ModelDescription, "name" | "defaultScheduler" | "nativeSize" | "vaeScale">;
  workerId: string;
  jobStates: JobStateSource;
  /** Pause before a failed task is redelivered. */
  retryDelayMs: number;
  /** Holds writes to an output that takes none (disk full, read-only) and tries them again. */
  output: OutputOutage;
  log: Logger;
  events?: TaskEvents;
}

/** One delivery being handled. */
interface DeliveryContext {
  entry: InHand;
  delivery: Delivery;
  task: Task;
  log: Logger;
  /** Stops the in-progress acks (idempotent); called before the final ack, nak or term. */
  stopInProgress: () => void;
  /** A TaskResult of this task with the given samples. */
  report: (samples: SampleResult[], deadLettered: boolean) => TaskResult;
  seconds: () => number;
}

export class TaskFlow {
  constructor(
    private readonly opts: TaskFlowOptions,
    private readonly host: TaskHost,
  ) {}

  /** Handles the delivery to its end; rejects only on an unexpected error (the runner then naks it). */
  async handle(entry: InHand): Promise<void> {
    const { delivery } = entry;
    const { task, deliveryCount } = delivery;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const ctx: DeliveryContext = {
      entry,
      delivery,
      task,
      log: this.opts.log.child({ job: task.job_id, shard: task.shard, delivery: deliveryCount }),
      stopInProgress: entry.stopProgress,
      seconds,
      report: (samples, deadLettered) => ({
        job_id: task.job_id,
        shard: task.shard,
        worker_id: this.opts.workerId,
        samples,
        delivery: deliveryCount,
        seconds: seconds(),
        dead_lettered: deadLettered,
        reused: false,
      }),
    };
    try {
      await this.handleTask(ctx);
    } finally {
      ctx.stopInProgress();
    }
  }

  private async handleTask(ctx: DeliveryContext): Promise<void> {
    const { delivery, task, log } = ctx;
    if (task.model !== this.opts.model.name) {
      const why = `task for model ${task.model} reached a worker of model ${this.opts.model.name}`;
      await this.reportAndTerminate(ctx, "MODEL_MISMATCH", why);
      return;
    }
    if (!Number.isSafeInteger(task.shard)) {
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
    if (this.host.draining) {
      this.host.release(delivery, "draining");
      return;
    }
    await this.run(ctx);
  }

  /** A task nobody can run as it is: report every sample failed, and take it off the queue. */
  private async reportAndTerminate(ctx: DeliveryContext, code: string, why: string): Promise<void> {
    ctx.log.error("task cannot run; reported failed and terminated", { code, error: why });
    await this.publish(ctx.report(failedSamples(ctx.task, code, why), true));
    ctx.stopInProgress();
    ctx.delivery.term(`${code}: ${why}`);
    this.opts.events?.samplesFailed(code, ctx.task.samples.length);
    this.opts.events?.finished("terminated");
  }

  private async run(ctx: DeliveryContext): Promise<void> {
    const { entry, delivery, task, log } = ctx;
    const { sink, batcher, model, output } = this.opts;
    let out: ShardOutput;
    try {
      out = sink.open(task, model.name);
    } catch (err) {
      // A bad output location (a malformed s3:// URL) fails on every worker: take it off the queue.
      if (taskDisposition(err) === "term") {
        await this.reportAndTerminate(ctx, errorCode(err), errorMessage(err));
      } else {
        await this.giveUpOrRetry(ctx, err);
      }
      return;
    }
    if (delivery.deliveryCount > 1) await out.removeLeftovers();

    const { entries, requests } = resolveTaskSamples(task, model);
    const holding = () => !this.host.draining && delivery.held;
    let writesRetried = false;
    const retried = () => {
      writesRetried = true;
    };
    const fileNames = new Array<string>(task.samples.length).fill("");
    // (submitted() runs right after submit, in the same turn: the batcher pumps on the next one.)
    const submission = batcher.submit(entries, {
      onSample: async (i, outcome) => {
        entry.remaining--;
        this.host.sampleMade();
        const sampleId = task.samples[i].sample_id;
        this.host.writing(1);
        try {
          fileNames[i] = await output.write(() => out.sample(i, outcome, requests[i]), holding, retried);
        } finally {
          this.host.writing(-1);
        }
        if (outcome.ok) {
          for (const w of outcome.image.warnings)
            log.info("sample warning", { sample: sampleId, warning: w });
        }
      },
    });

    this.host.submitted(entry);
    let outcomes: SampleOutcome[];
    try {
      outcomes = await submission.done;
    } catch (err) {
      if (isLatentFleetError(err) && err.code === "WORKER_DRAINING") {
        this.host.release(delivery, "draining");
        return;
      }
      if (batcher.fatalError !== undefined) {
        this.host.release(delivery, "engine failed");
        this.host.onFatal(batcher.fatalError);
        return;
      }
      await this.giveUpOrRetry(ctx, err);
      return;
    }

    try {
      await output.write(() => out.finish(requests, outcomes, fileNames), holding, retried);
      // A write that failed on a read-only output could not remove its temporary file either.
      if (writesRetried) await out.removeLeftovers().catch(() => undefined);
      const samples = sampleResults(task, outcomes, fileNames);
      // Published (and stored) before the ack: should the ack land on another worker's delivery after all
      // (the confirmation and the ack are a round trip apart), the shard is already complete and reported.
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

  /**
   * A task-level failure: try again later, or report every sample failed and terminate it on its last
   * delivery or when its error says trying again cannot help (taskDisposition).
   */
  private async giveUpOrRetry(ctx: DeliveryContext, err: unknown): Promise<void> {
    const { delivery, log } = ctx;
    const code = errorCode(err);
    // Most often after results could not be published: NATS is out of reach, and the delivery may be
    // another worker's by the time a nak or term would arrive.
    if (!(await this.holdsDelivery(ctx, "retry"))) return;
    const { maxDeliver } = this.opts.queue;
    const last = maxDeliver > 0 && delivery.deliveryCount >= maxDeliver;
    if (!last && taskDisposition(err) === "nak") {
      log.warn("task failed; it goes back to the queue", {
        code,
        error: errorMessage(err),
        retry_ms: this.opts.retryDelayMs,
      });
      ctx.stopInProgress();
      delivery.nak(this.opts.retryDelayMs);
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

  /** Publishes a result, tried three times over a few seconds (a reconnect in progress). */
  private async publish(result: TaskResult): Promise<void> {
    let delay = 500;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.opts.queue.publishResult(result);
        return;
      } catch (err) {
        if (attempt >= 3) throw err;
        this.opts.log.warn("publishing a task result failed; retrying", {
          error: errorMessage(err),
          attempt,
        });
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  /** Acks the delivery if it is still this worker's (see holdsDelivery), and waits for the confirmation. */
  private async ack(ctx: DeliveryContext): Promise<void> {
    if (!(await this.holdsDelivery(ctx, "ack"))) return;
    try {
      await ctx.delivery.ack();
    } catch (err) {
      // The task will be redelivered and its identical outputs rewritten: wasted work, nothing wrong.
      ctx.log.warn("ack not confirmed", { error: errorMessage(err) });
    }
    this.opts.events?.finished("acked");
  }

  /**
   * Asks the queue whether the delivery is still this worker's (a confirmed in-progress ack) before an
   * ack, nak or term. Without a timely answer the task is left alone: after its ack_wait it goes (or has
   * gone) to another worker, and a late ack would end that worker's delivery.
   */
  private async holdsDelivery(ctx: DeliveryContext, ending: "ack" | "retry"): Promise<boolean> {
    if (await ctx.delivery.progress()) return true;
    ctx.stopInProgress();
    ctx.log.warn("task left to its redelivery: NATS did not confirm this delivery within ack_wait", {
      instead_of: ending,
      seconds: ctx.seconds(),
    });
    this.opts.events?.finished("lapsed");
    return false;
  }
}
