/**
 * Samples -> shards. A shard is up to `shardSize` consecutive samples in manifest order (batch keys may
 * mix: the worker's batcher groups them), cut earlier when its encoded task would come near the NATS
 * message limit. Cuts depend only on the samples and the two limits, so re-expanding a manifest after a
 * restart reproduces the same shards, and `<job>.<shard>` names the same samples every time.
 */
import type { OutputFormatName } from "../common/contract/output-formats.js";
import type { Task, TaskSample } from "../common/contract/task.js";
import { MAX_TASK_PAYLOAD_BYTES } from "../common/nats/index.js";
import { COORDINATOR_OPTIONS } from "../common/options/index.js";
import { utf8ByteLength } from "../common/utf8-length.js";
import type { ExpandedRow, ManifestSample } from "../manifest/index.js";

export const DEFAULT_SHARD_SIZE: number = COORDINATOR_OPTIONS.shardSize.default;
export const MAX_SHARD_SIZE: number = COORDINATOR_OPTIONS.shardSize.max;
/** Room for a task's samples: the payload limit less the job fields and protobuf framing. */
export const SHARD_BYTE_BUDGET = MAX_TASK_PAYLOAD_BYTES - 64 * 1024;

export interface Shard {
  shard: number;
  /** Index (manifest order) of the shard's first sample. */
  firstIndex: number;
  samples: TaskSample[];
  /** The samples' "file:line", for errors.jsonl. */
  sources: string[];
}

/** A manifest sample as the task carries it: "" scheduler and 0 size mean "the model's own". */
export function toTaskSample(s: ManifestSample): TaskSample {
  return {
    sample_id: s.sampleId,
    index: s.index,
    row_id: s.rowId,
    prompt: s.prompt,
    negative_prompt: s.negativePrompt,
    seed: s.seed,
    steps: s.steps,
    guidance_scale: s.guidanceScale,
    scheduler: s.scheduler ?? "",
    width: s.width ?? 0,
    height: s.height ?? 0,
    source: s.source,
  };
}

/** An upper bound of the sample's encoded size (protobuf: tag + length per field, varints <= 10 bytes). */
function sampleBytes(s: ManifestSample): number {
  return (
    utf8ByteLength(s.prompt) +
    utf8ByteLength(s.negativePrompt) +
    utf8ByteLength(s.sampleId) +
    utf8ByteLength(s.rowId) +
    utf8ByteLength(s.source) +
    (s.scheduler?.length ?? 0) +
    96
  );
}

/**
 * The row's k-th sample as the task carries it, straight from the row: what toTaskSample gives for the
 * sample expandSpecBatches makes of it (`<rowId>-<k>`, seed + k), without that sample and its event.
 */
export function rowTaskSample(r: ExpandedRow, k: number): TaskSample {
  const { row } = r;
  return {
    sample_id: `${r.rowId}-${k}`,
    index: r.firstIndex + k,
    row_id: r.rowId,
    prompt: row.prompt,
    negative_prompt: row.negativePrompt,
    seed: r.seed + k,
    steps: row.steps,
    guidance_scale: row.guidanceScale,
    scheduler: row.scheduler ?? "",
    width: row.width ?? 0,
    height: row.height ?? 0,
    source: r.where,
  };
}

/**
 * sampleBytes of the row's samples less the digits of k: they differ only in sampleId (`<rowId>-<k>`),
 * so the k-th one's size is this plus k's digits.
 */
export function rowBaseBytes(r: ExpandedRow): number {
  const { row } = r;
  return (
    utf8ByteLength(row.prompt) +
    utf8ByteLength(row.negativePrompt) +
    2 * utf8ByteLength(r.rowId) +
    1 + // the "-" of the sampleId
    utf8ByteLength(r.where) +
    (row.scheduler?.length ?? 0) +
    96
  );
}

/** ShardCuts.add: the sample closes the shard before it (it does not fit), and/or its own (it fills it). */
const CUT_BEFORE = 1;
const CUT_AFTER = 2;

/** The cut rule alone, on the samples' sizes: shared by the Sharder and the ShardCounter. */
class ShardCuts {
  private count = 0;
  private bytes = 0;

  constructor(
    private readonly shardSize: number,
    private readonly byteBudget: number,
  ) {}

  /** Samples in the shard still open. */
  get open(): number {
    return this.count;
  }

  /** The next sample, of `size` bytes: CUT_BEFORE and/or CUT_AFTER, or 0. */
  add(size: number): number {
    let cuts = 0;
    if (this.count > 0 && this.bytes + size > this.byteBudget) {
      cuts |= CUT_BEFORE;
      this.count = 0;
      this.bytes = 0;
    }
    this.count++;
    this.bytes += size;
    if (this.count >= this.shardSize) {
      cuts |= CUT_AFTER;
      this.count = 0;
      this.bytes = 0;
    }
    return cuts;
  }
}

/** Decimal digits of k (k >= 0). */
function decimalDigits(k: number): number {
  let digits = 1;
  for (let p = 10; k >= p; p *= 10) digits++;
  return digits;
}

/** What most samples complete: no shard (one array for all of them, not one per sample). */
const NO_SHARDS: readonly Shard[] = Object.freeze([]);

export class Sharder {
  private nextShard = 0;
  private current: Shard | null = null;
  private readonly cuts: ShardCuts;

  constructor(shardSize: number, byteBudget: number = SHARD_BYTE_BUDGET) {
    this.cuts = new ShardCuts(shardSize, byteBudget);
  }

  /** Adds the next sample (in manifest order); returns the shards it completed (0, 1 or 2). */
  add(sample: ManifestSample): readonly Shard[] {
    return this.push(toTaskSample(sample), sampleBytes(sample));
  }

  /**
   * Adds the row's k-th sample, as add does the sample expandSpecBatches makes of it (rows and samples in
   * manifest order); `base` is rowBaseBytes(r), worked out once per row.
   */
  addRowSample(r: ExpandedRow, k: number, base: number): readonly Shard[] {
    return this.push(rowTaskSample(r, k), base + decimalDigits(k));
  }

  private push(sample: TaskSample, bytes: number): readonly Shard[] {
    const cuts = this.cuts.add(bytes);
    if (cuts === 0 && this.current) {
      this.current.samples.push(sample);
      this.current.sources.push(sample.source);
      return NO_SHARDS;
    }
    const out: Shard[] = [];
    if (cuts & CUT_BEFORE) out.push(this.take());
    if (!this.current) {
      this.current = { shard: this.nextShard++, firstIndex: sample.index, samples: [], sources: [] };
    }
    this.current.samples.push(sample);
    this.current.sources.push(sample.source);
    if (cuts & CUT_AFTER) out.push(this.take());
    return out;
  }

  /** The last, partial shard, if any. */
  flush(): Shard | null {
    return this.current ? this.take() : null;
  }

  private take(): Shard {
    const s = this.current as Shard;
    this.current = null;
    return s;
  }
}

/** The Sharder's cuts without the shards: how many there are, for a count of the manifest. */
export class ShardCounter {
  private closed = 0;
  private readonly cuts: ShardCuts;

  constructor(shardSize: number, byteBudget: number = SHARD_BYTE_BUDGET) {
    this.cuts = new ShardCuts(shardSize, byteBudget);
  }

  add(sample: ManifestSample): void {
    const cuts = this.cuts.add(sampleBytes(sample));
    this.closed += (cuts & CUT_BEFORE) + (cuts >> 1);
  }

  /**
   * Adds a row's samples without making them: they differ only in sampleId (`<rowId>-<k>`), so each one's
   * size is the row's plus k's digits, the same sizes sampleBytes gives the expanded samples.
   */
  addRow(r: ExpandedRow): void {
    const base = rowBaseBytes(r);
    const n = r.row.imagesPerPrompt;
    for (let k = 0, digits = 1, nextPower = 10; k < n; k++) {
      if (k === nextPower) {
        digits++;
        nextPower *= 10;
      }
      const cuts = this.cuts.add(base + digits);
      this.closed += (cuts & CUT_BEFORE) + (cuts >> 1);
    }
  }

  /** The shards of the samples added so far, a last partial one included. */
  get shards(): number {
    return this.closed + (this.cuts.open > 0 ? 1 : 0);
  }
}

/** What every task of a job carries besides its samples. */
export interface TaskHeader {
  jobId: string;
  model: string;
  outputDir: string;
  outputFormat: OutputFormatName;
}

export function toTask(header: TaskHeader, shard: Shard): Task {
  return {
    job_id: header.jobId,
    shard: shard.shard,
    model: header.model,
    output_dir: header.outputDir,
    samples: shard.samples,
    output_format: header.outputFormat,
  };
}
