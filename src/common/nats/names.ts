/** Names of every JetStream object Latent Fleet uses, and the subjects and ids derived from them. */
import { createHash } from "node:crypto";
import { LatentFleetError } from "../errors.js";

export const TASKS_STREAM = "LF_TASKS";
export const RESULTS_STREAM = "LF_RESULTS";
/** Durable copy of the dead-letter advisories, which core NATS would drop while no coordinator listens. */
export const DEAD_LETTERS_STREAM = "LF_DEAD_LETTERS";
export const JOBS_BUCKET = "LF_JOBS";
/** The coordinator's durable consumer on DEAD_LETTERS_STREAM. */
export const DEAD_LETTERS_CONSUMER = "coordinator";

export const TASKS_SUBJECT_PREFIX = "lf.tasks";
export const RESULTS_SUBJECT_PREFIX = "lf.results";

const ADVISORY_PREFIX = "$JS.EVENT.ADVISORY.CONSUMER";
const MAX_TOKEN_LENGTH = 64;

/**
 * Turns a free-form name (model folder, job id) into one subject token that is also a valid consumer
 * name: letters, digits, '-' and '_' only. Names that are already safe are kept as they are, so the
 * usual names read well in `nats` tooling; any other name gets a hash suffix, so two different names
 * never share a token (and so never share a consumer or a work queue subject).
 */
export function subjectToken(name: string): string {
  if (name.length === 0)
    throw new LatentFleetError("INVALID_ARGUMENT", "a NATS subject token cannot be empty");
  if (/^[A-Za-z0-9_-]+$/.test(name) && name.length <= MAX_TOKEN_LENGTH) return name;
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 10);
  const safe = name.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, MAX_TOKEN_LENGTH - hash.length - 1);
  return `${safe}-${hash}`;
}

/** `lf.tasks.<model>`: the work queue subject of one model. */
export function taskSubject(model: string): string {
  return `${TASKS_SUBJECT_PREFIX}.${subjectToken(model)}`;
}

/** `lf.results.<job>`: where workers report the outcome of a job's tasks. */
export function resultSubject(jobId: string): string {
  return `${RESULTS_SUBJECT_PREFIX}.${subjectToken(jobId)}`;
}

/** Nats-Msg-Id of a task, `<job>.<shard>`: a republished shard is dropped by the stream's de-duplication. */
export function taskMsgId(jobId: string, shard: number | bigint | string): string {
  return `${jobId}.${shard}`;
}

/** `workers-<model>`: the durable pull consumer that all workers of one model share. */
export function workersConsumerName(model: string): string {
  return `workers-${subjectToken(model)}`;
}

/** Max-deliveries advisory subject for a consumer of LF_TASKS (`*` matches every consumer). */
export function maxDeliveriesAdvisorySubject(consumer = "*"): string {
  return `${ADVISORY_PREFIX}.MAX_DELIVERIES.${TASKS_STREAM}.${consumer}`;
}

/** KV key of a job's state in LF_JOBS. */
export function jobStateKey(jobId: string): string {
  return `job.${subjectToken(jobId)}`;
}

/** KV key of the coordinator's publishing cursor of a job (rows read, shards published). */
export function jobCursorKey(jobId: string): string {
  return `cursor.${subjectToken(jobId)}`;
}
