/**
 * The queue side of a worker: pulls tasks from the task queue (the port in src/common/task-queue; on NATS
 * the shared durable consumer `workers-<model>`) and keeps the right number in hand; each delivery then
 * runs its course in a TaskFlow (task-flow.ts: checks, samples to the batcher, images written as they are
 * done, shard completed, result published, ack). Confirmed in-progress acks run from the moment the task
 * is in hand until the ack, so a busy worker's tasks are never redelivered and a dead worker's are, after
 * ack_wait.
 *
 * Flow control: each pull request asks only for what brings the samples in hand (delivered, not finished)
 * up to `samplesInHand` (default 2 B: the batch that runs and the next one), and never more than the
 * worker finishes in half an ack_wait at the rate it has measured. At least one task is always in hand.
 * It pulls nothing while the output takes no writes, or while four batches of images wait to be written.
 *
 * Drain: stop pulling, give back (nak, redelivered at once) every task none of whose samples has reached
 * the engine, finish the started ones, then resolve with the number given back. A pull request still
 * open at that moment is cancelled (it does not wait out `pullExpiresMs`); what it delivered before the
 * queue took note is given back too. The naks wait until that request has ended, or the server would
 * deliver the tasks right back to it (each time counting a delivery towards max_deliver). A dead engine (fatal) gives back every task in hand and
 * settles `fatal`.
 */
import { errorMessage, type Logger, silentLogger } from "../common/log.js";
import type { Delivery, DeliveryHandle, Pulled, TaskQueue } from "../common/task-queue/port.js";
import type { ModelDescription } from "../engine/pipeline.js";
import type { Batcher } from "./batcher.js";
import type { JobStateSource } from "./job-states.js";
import { OutputOutage } from "./output-outage.js";
import { type InHand, type ShardOutputs, type TaskEvents, TaskFlow } from "./task-flow.js";

export type RunnerState = "running" | "draining" | "stopped";

export interface TaskRunnerOptions {
  /** Where tasks come from (and results go); its ack_wait and max_deliver pace the runner. */
  queue: TaskQueue;
  batcher: Batcher;
  sink: ShardOutputs;
  model: Pick<ModelDescription, "name" | "defaultScheduler" | "nativeSize" | "vaeScale">;
  workerId: string;
  jobStates: JobStateSource;
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
  private engineDead = false;
  private pulling = false;
  private fetching = false;
  /** Cancels the pull request open now, if any (a drain or a dead engine). */
  private pullCancel: AbortController | undefined;
  /** Tasks delivered and not yet handed to the batcher. */
  private reading = 0;
  /** Samples the engine has made whose outputs are not yet written (PNG encoding, the put). */
  private unwritten = 0;
  /**
   * Past this many, no more tasks are pulled: when the output is slower than the engine (a slow object
   * store, too few encoder threads) the images would otherwise pile up in memory without bound.
   */
  private readonly maxUnwritten: number;
  private readonly deferredNaks: DeliveryHandle[] = [];
  private readonly log: Logger;
  private readonly ackWaitMs: number;
  private readonly samplesTarget: number;
  private readonly pullExpiresMs: number;
  private readonly retryDelayMs: number;
  private readonly inProgressEveryMs: number;
  private readonly output: OutputOutage;
  private readonly flow: TaskFlow;
  /**
   * Resolves with the engine's error once the engine died: the runner has then stopped pulling and given
   * its tasks back. Never settles otherwise.
   */
  readonly fatal: Promise<unknown>;
  private settleFatal!: (err: unknown) => void;
  /** Resolves once a drain began. */
  readonly drainBegun: Promise<void>;
  private beginDrain!: () => void;

  constructor(private readonly opts: TaskRunnerOptions) {
    this.log = opts.log ?? silentLogger;
    this.ackWaitMs = opts.queue.ackWaitMs;
    this.samplesTarget = Math.max(1, opts.samplesInHand ?? 2 * opts.batcher.batchSize);
    this.maxUnwritten = Math.max(this.samplesTarget, 4 * opts.batcher.batchSize);
    // At most half of ack_wait: a task delivered at the end of a pull request still has half of its lease.
    this.pullExpiresMs = Math.max(1000, Math.min(opts.pullExpiresMs ?? 2000, Math.floor(this.ackWaitMs / 2)));
    this.retryDelayMs = opts.retryDelayMs ?? 5000;
    // Four in-progress acks per ack_wait: two may be lost before the task is redelivered.
    this.inProgressEveryMs = Math.max(100, Math.floor(this.ackWaitMs / 4));
    this.output = new OutputOutage({ log: this.log, maxHoldMs: opts.outputHoldMs });
    this.fatal = new Promise((resolve) => {
      this.settleFatal = resolve;
    });
    this.drainBegun = new Promise((resolve) => {
      this.beginDrain = resolve;
    });
    const runner = this;
    this.flow = new TaskFlow(
      { ...opts, retryDelayMs: this.retryDelayMs, output: this.output, log: this.log },
      {
        get draining() {
          return runner.draining;
        },
        release: (delivery, why) => this.release(delivery, why),
        submitted: (entry) => this.submitted(entry),
        sampleMade: () => this.wake(),
        writing: (delta) => {
          this.unwritten += delta;
          if (delta < 0) this.wake();
        },
        onFatal: (err) => this.onFatal(err),
      },
    );
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
    this.beginDrain();
    this.drainPromise = (async () => {
      this.log.info("draining: no more tasks are pulled", { in_hand: this.inHand.size });
      this.stopPulling();
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

  /** Wakes the pull loop to see that it is draining, and cancels its open pull request. */
  private stopPulling(): void {
    this.wake();
    this.pullCancel?.abort();
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
      const inHalfAckWait = Math.floor(this.ackWaitMs / 1000 / 2 / perSample);
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
      for (const delivery of this.deferredNaks.splice(0)) if (delivery.held) delivery.nak();
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
      const cancel = new AbortController();
      this.pullCancel = cancel;
      try {
        this.setFetching(true);
        const request = { max: want, expiresMs: this.pullExpiresMs, signal: cancel.signal };
        for await (const pulled of this.opts.queue.pull(request)) this.accept(pulled);
        backoffMs = 500;
      } catch (err) {
        this.setFetching(false);
        if (this.draining) break;
        this.log.warn("pulling tasks failed; retrying", { error: errorMessage(err), retry_ms: backoffMs });
        await this.sleep(backoffMs);
        backoffMs = Math.min(10_000, backoffMs * 2);
      } finally {
        this.pullCancel = undefined;
        this.setFetching(false);
      }
    }
  }

  private accept(pulled: Pulled): void {
    this.opts.events?.received(pulled.deliveryCount);
    if (this.draining) {
      this.release(pulled, "draining");
      return;
    }
    if (pulled.task === undefined) {
      // Nobody can ever run it, and it names no job to report to: log it and drop it from the queue.
      this.log.error("undecodable task terminated", {
        seq: pulled.seq,
        delivery: pulled.deliveryCount,
        bytes: pulled.bytes,
        error: errorMessage(pulled.error),
      });
      pulled.term(`not a task: ${errorMessage(pulled.error)}`);
      this.opts.events?.finished("terminated");
      return;
    }
    const delivery: Delivery = pulled;
    const { task } = delivery;
    this.log.debug("task received", {
      job: task.job_id,
      shard: task.shard,
      delivery: delivery.deliveryCount,
      samples: task.samples.length,
    });
    const entry: InHand = {
      delivery,
      stopProgress: keepProgressing(delivery, this.inProgressEveryMs),
      remaining: task.samples.length,
      submitted: false,
    };
    this.reading++;
    this.announceMoreComing();
    this.largestTask = Math.max(this.largestTask, task.samples.length);
    this.inHand.add(entry);
    const p = this.flow
      .handle(entry)
      .catch((err: unknown) => {
        this.log.error("task failed unexpectedly; it goes back to the queue", { error: errorMessage(err) });
        if (delivery.held) {
          delivery.nak(this.retryDelayMs);
          this.opts.events?.finished("retried");
        } else {
          this.opts.events?.finished("lapsed");
        }
      })
      .finally(() => {
        entry.stopProgress();
        this.submitted(entry);
        this.inHand.delete(entry);
        this.handling.delete(p);
        this.wake();
      });
    this.handling.add(p);
  }

  private setFetching(fetching: boolean): void {
    this.fetching = fetching;
    this.announceMoreComing();
  }

  /**
   * Tells the batcher whether samples may be on their way to it: a pull request is out, or a delivered
   * task has not been handed to the batcher yet. It then holds a partial batch back for a moment (lingerMs).
   */
  private announceMoreComing(): void {
    this.opts.batcher.expectMore(this.fetching || this.reading > 0);
  }

  private submitted(entry: InHand): void {
    if (entry.submitted) return;
    entry.submitted = true;
    this.reading--;
    this.announceMoreComing();
  }

  /**
   * Gives a task back to the queue (nak, no delay). While this worker's own pull request may still be open
   * the nak waits until it has ended: the server would hand the task straight back to that request, and
   * every such round trip counts as a delivery (max_deliver). A delivery no longer held is not naked: it
   * may be another worker's by now.
   */
  private release(delivery: DeliveryHandle, why: string): void {
    this.released++;
    this.opts.events?.finished("released");
    this.log.debug("task given back", { seq: delivery.seq, why });
    if (this.pulling) this.deferredNaks.push(delivery);
    else if (delivery.held) delivery.nak();
  }

  private onFatal(err: unknown): void {
    if (this.engineDead) return;
    this.engineDead = true;
    this.stateName = "draining";
    this.stopPulling();
    this.settleFatal(err);
  }
}

/**
 * Confirmed progress on a delivery now and every `everyMs` until stopped, so that a busy worker's task is
 * never handed out again; it stops by itself once the delivery is no longer held.
 */
function keepProgressing(delivery: DeliveryHandle, everyMs: number): () => void {
  const progress = () => void delivery.progress().catch(() => false);
  const timer = setInterval(() => {
    if (delivery.held) progress();
    else clearInterval(timer);
  }, everyMs);
  progress();
  return () => clearInterval(timer);
}
