/**
 * The streams, consumers and KV bucket, their settings and why, and their idempotent setup. Anyone may
 * call it at start-up (coordinator and workers alike); see ensure.ts for how drift is handled.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/transport-node";
import { ensureConsumer, ensureStream, setupStep } from "./ensure.js";
import {
  DEAD_LETTERS_CONSUMER,
  DEAD_LETTERS_STREAM,
  JOBS_BUCKET,
  maxDeliveriesAdvisorySubject,
  RESULTS_STREAM,
  RESULTS_SUBJECT_PREFIX,
  TASKS_STREAM,
  TASKS_SUBJECT_PREFIX,
  taskSubject,
  workersConsumerName,
} from "./names.js";
import { MAX_TASK_MESSAGE_BYTES, TOPOLOGY_DEFAULTS, WORKER_CONSUMER_DEFAULTS } from "./topology-defaults.js";

// Plain values, apart so that the option definitions read them without loading the NATS client.
export {
  MAX_TASK_MESSAGE_BYTES,
  MAX_TASK_PAYLOAD_BYTES,
  TOPOLOGY_DEFAULTS,
  WORKER_CONSUMER_DEFAULTS,
} from "./topology-defaults.js";

export interface TopologyOptions {
  taskDuplicateWindowMs?: number;
  resultsMaxAgeMs?: number;
  deadLettersMaxAgeMs?: number;
  /** Replicas of every stream, KV bucket and consumer: 1 for one server, 3 for a cluster. */
  replicas?: number;
}

export interface WorkerConsumerOptions {
  ackWaitMs?: number;
  maxDeliver?: number;
  maxAckPending?: number;
  maxWaiting?: number;
  replicas?: number;
}

export interface Topology {
  /** The job state and cursor bucket. */
  jobs: KV;
}

export function tasksStreamConfig(opts: TopologyOptions = {}): StreamConfig {
  const o = { ...TOPOLOGY_DEFAULTS, ...opts };
  return streamConfig({
    name: TASKS_STREAM,
    subjects: [`${TASKS_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Workqueue,
    duplicate_window: nanos(o.taskDuplicateWindowMs),
    max_msg_size: MAX_TASK_MESSAGE_BYTES,
    // A full queue must refuse new tasks (the publisher sees an error), never drop queued ones.
    discard: DiscardPolicy.New,
    num_replicas: o.replicas,
  });
}

export function resultsStreamConfig(opts: TopologyOptions = {}): StreamConfig {
  const o = { ...TOPOLOGY_DEFAULTS, ...opts };
  return streamConfig({
    name: RESULTS_STREAM,
    subjects: [`${RESULTS_SUBJECT_PREFIX}.>`],
    retention: RetentionPolicy.Limits,
    max_age: nanos(o.resultsMaxAgeMs),
    discard: DiscardPolicy.Old,
    num_replicas: o.replicas,
  });
}

/**
 * Captures the max-deliveries advisories of LF_TASKS: they are core NATS messages, lost when no coordinator
 * listens. (Terminated tasks are not captured: nats-server removes a `term()`ed message from a work queue,
 * so there is nothing left to fetch; a worker that terminates a task reports it in its TaskResult first.)
 */
export function deadLettersStreamConfig(opts: TopologyOptions = {}): StreamConfig {
  const o = { ...TOPOLOGY_DEFAULTS, ...opts };
  return streamConfig({
    name: DEAD_LETTERS_STREAM,
    subjects: [maxDeliveriesAdvisorySubject("*")],
    // Acked by the coordinator once the dead task is reported and removed.
    retention: RetentionPolicy.Workqueue,
    max_age: nanos(o.deadLettersMaxAgeMs),
    discard: DiscardPolicy.Old,
    num_replicas: o.replicas,
  });
}

export function workerConsumerConfig(model: string, opts: WorkerConsumerOptions = {}): ConsumerConfig {
  const o = { ...WORKER_CONSUMER_DEFAULTS, ...opts };
  const name = workersConsumerName(model);
  return {
    name,
    durable_name: name,
    filter_subject: taskSubject(model),
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(o.ackWaitMs),
    max_deliver: o.maxDeliver,
    max_ack_pending: o.maxAckPending,
    max_waiting: o.maxWaiting,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    num_replicas: o.replicas ?? 0,
  };
}

function deadLettersConsumerConfig(): ConsumerConfig {
  return {
    name: DEAD_LETTERS_CONSUMER,
    durable_name: DEAD_LETTERS_CONSUMER,
    ack_policy: AckPolicy.Explicit,
    ack_wait: nanos(30_000),
    // Handling needs NATS itself; never give up on a dead letter because NATS flapped.
    max_deliver: -1,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    num_replicas: 0,
  };
}

function streamConfig(cfg: Partial<StreamConfig> & Pick<StreamConfig, "name">): StreamConfig {
  return { storage: StorageType.File, ...cfg } as StreamConfig;
}

/** Creates or updates LF_TASKS, LF_RESULTS, LF_DEAD_LETTERS (+ its consumer) and the LF_JOBS bucket. */
export async function ensureTopology(
  js: JetStreamClient,
  jsm: JetStreamManager,
  opts: TopologyOptions = {},
): Promise<Topology> {
  const replicas = opts.replicas ?? TOPOLOGY_DEFAULTS.replicas;
  await ensureStream(jsm, tasksStreamConfig(opts));
  await ensureStream(jsm, resultsStreamConfig(opts));
  await ensureStream(jsm, deadLettersStreamConfig(opts));
  await ensureConsumer(jsm, DEAD_LETTERS_STREAM, deadLettersConsumerConfig());
  const jobs = await setupStep(`KV bucket ${JOBS_BUCKET}`, () =>
    new Kvm(js).create(JOBS_BUCKET, { history: 1, storage: StorageType.File, replicas }),
  );
  return { jobs };
}

/** Creates or updates the durable `workers-<model>` consumer; LF_TASKS must exist (ensureTopology). */
export function ensureWorkerConsumer(
  jsm: JetStreamManager,
  model: string,
  opts: WorkerConsumerOptions = {},
): Promise<ConsumerInfo> {
  return ensureConsumer(jsm, TASKS_STREAM, workerConsumerConfig(model, opts));
}
