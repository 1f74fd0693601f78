/**
 * What the live page's server sends (server.ts), as the page reads it: the page (app.ts) imports these types,
 * and the server declares each answer with them, so the two cannot drift apart. Types only: nothing here
 * reaches the browser's script.
 */

export type JobStateName = "PENDING" | "PUBLISHING" | "RUNNING" | "SUCCEEDED" | "FAILED" | "CANCELLED";

/** A job in /api/jobs, the event stream and /api/jobs/:id (server.ts JobSummary: a JobSnapshot and its failures). */
export interface JobSummary {
  jobId: string;
  state: JobStateName;
  model: string;
  output: string;
  /** Known once every shard is published. */
  samplesTotal: number | null;
  samplesDone: number;
  samplesFailed: number;
  shardsTotal: number | null;
  shardsPublished: number;
  shardsDone: number;
  shardsReused: number;
  samplesReused: number;
  rowsRejected: number;
  imagesPerSecond: number;
  /** Seconds; -1 while unknown. */
  etaSeconds: number;
  createdAtMs: number;
  finishedAtMs: number | null;
  error: string;
  maxFailed: string;
  /** Failed samples by error code. */
  failures: Record<string, number>;
}

/** /api/config: what this page may do. */
export interface UiConfig {
  cancel: boolean;
  /** False behind mutual TLS: the browser's client certificate is what lets it cancel. */
  cancelNeedsToken: boolean;
  contactSheet: boolean;
}

/** A point of history.ts: ms since the epoch and the job's done count then. */
export interface HistoryPoint {
  t: number;
  done: number;
}

export interface WorkerRate {
  worker: string;
  done: number;
  /** Samples per second over the last half minute; null once the job has ended (its samples from _stats.json). */
  rate: number | null;
}

/** /api/jobs/:id */
export interface JobDetail {
  job: JobSummary;
  outputFormat: string;
  workers: WorkerRate[];
  history: HistoryPoint[];
}

/** A row of errors.jsonl (a failed sample has an id; a rejected row has none). */
export interface ErrorRow {
  /** "file:line" of the manifest row. */
  where: string;
  id?: string;
  field?: string | null;
  code?: string;
  error: string;
}

/** /api/jobs/:id/errors (job-errors.ts): the first rows of each kind and how many there are. */
export interface JobErrors {
  failed: ErrorRow[];
  rejected: ErrorRow[];
  failedTotal: number;
  rejectedTotal: number;
}

/** A sample's settings as its output stores them. */
export interface SampleMetadata {
  id: string;
  prompt: string;
  negative_prompt: string;
  seed: number;
  steps: number;
  guidance_scale: number;
  scheduler: string;
  width: number;
  height: number;
  model: string;
}

/** A sample of a job's output (gallery.ts GallerySample). */
export interface GallerySample {
  /** What the image URLs name it by in its shard. */
  key: string;
  ok: boolean;
  error: string;
  metadata: SampleMetadata;
  shard: number;
}

/** Where a page of samples starts: a shard, and an index in it. */
export interface Cursor {
  shard: number;
  at: number;
}

/** /api/jobs/:id/samples */
export interface GalleryPage {
  samples: GallerySample[];
  /** Where the next page starts; null at the end of what is written so far. */
  next: Cursor | null;
}

/** The body of a refusal. */
export interface ErrorBody {
  error?: string;
}
