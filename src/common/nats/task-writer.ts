/**
 * latentfleet.v1.Task written by hand: every task the coordinator publishes goes through here, and
 * protobufjs's generic writer (a list of operations per field, then a second pass and copies) costs more
 * than the rest of a publish. The message is sized first and written into one buffer, with the bytes
 * protobufjs writes (fields in number order, every set field written, empty or not). Anything outside the
 * plain contract values (64-bit integers as strings or Longs, numbers that are not unsigned integers,
 * strings with a lone surrogate) returns undefined, for the generic encoder to handle.
 */
import type { SampleSpec__Input } from "../proto/generated/latentfleet/v1/SampleSpec.js";
import type { Task__Input } from "../proto/generated/latentfleet/v1/Task.js";
import { utf8ByteLength } from "../utf8-length.js";

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;
const key = (field: number, wire: number) => (field << 3) | wire;

const isUint64 = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const isUint32 = (v: unknown): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
const isText = (v: unknown): v is string => typeof v === "string";

/** String.prototype.isWellFormed (Node 20; typed from ES2024 on). */
const wellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * UTF-8 length of `s`; -1 when it holds a lone surrogate, which protobufjs writes differently by length
 * (raw below 40 units, U+FFFD above): such a task is left to it. An ASCII string (as many bytes as units)
 * has none.
 */
function utf8Length(s: string): number {
  const n = utf8ByteLength(s);
  return n === s.length || wellFormed(s) ? n : -1;
}

function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

const SAMPLE_STRINGS = ["sample_id", "row_id", "prompt", "negative_prompt", "scheduler", "source"] as const;
const SAMPLE_UINT32 = ["steps", "width", "height"] as const;

/**
 * The byte lengths of the samples' fields, worked out once for both passes: per sample, its encoded size
 * then its SAMPLE_STRINGS' lengths (-1 unset). One array for every task (writeTask does not re-enter),
 * not an object and an array per sample.
 */
const SIZES_PER_SAMPLE = 1 + SAMPLE_STRINGS.length;
let sizes = new Float64Array(16 * SIZES_PER_SAMPLE);

/** Records sample s's sizes at `at` in `sizes`; its encoded size, or -1 outside the fast path. */
function sampleSizes(s: SampleSpec__Input, at: number): number {
  let total = 0;
  for (let k = 0; k < SAMPLE_STRINGS.length; k++) {
    const v = s[SAMPLE_STRINGS[k]];
    if (v == null) {
      sizes[at + 1 + k] = -1;
      continue;
    }
    if (!isText(v)) return -1;
    const len = utf8Length(v);
    if (len < 0) return -1;
    sizes[at + 1 + k] = len;
    total += 1 + varintSize(len) + len;
  }
  const { index, seed } = s;
  if (index != null) {
    if (!isUint64(index)) return -1;
    total += 1 + varintSize(index);
  }
  if (seed != null) {
    if (!isUint64(seed)) return -1;
    total += 1 + varintSize(seed);
  }
  for (const f of SAMPLE_UINT32) {
    const v = s[f];
    if (v == null) continue;
    if (!isUint32(v)) return -1;
    total += 1 + varintSize(v);
  }
  const g = s.guidance_scale;
  if (g != null) {
    if (typeof g !== "number" && !isText(g)) return -1;
    total += 5;
  }
  sizes[at] = total;
  return total;
}

class Out {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(v: number): void {
    const buf = this.buf;
    while (v >= 128) {
      buf[this.pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    buf[this.pos++] = v;
  }

  string(field: number, v: string, len: number): void {
    this.varint(key(field, WIRE_BYTES));
    this.varint(len);
    if (len === v.length) {
      // ASCII: one byte per unit.
      const buf = this.buf;
      for (let i = 0; i < len; i++) buf[this.pos + i] = v.charCodeAt(i);
      this.pos += len;
    } else this.pos += this.buf.write(v, this.pos, len, "utf8");
  }

  uint(field: number, v: number | undefined): void {
    if (v == null) return;
    this.varint(key(field, WIRE_VARINT));
    this.varint(v);
  }
}

/** The encoded task, or undefined when it holds values outside the fast path. */
export function writeTask(task: Task__Input): Uint8Array | undefined {
  const header: [number, string | undefined][] = [
    [1, task.job_id],
    [3, task.model],
    [4, task.output_dir],
    [6, task.output_format],
  ];
  const headerLens: number[] = [];
  let total = 0;
  for (const [, v] of header) {
    if (v == null) {
      headerLens.push(-1);
      continue;
    }
    if (!isText(v)) return undefined;
    const len = utf8Length(v);
    if (len < 0) return undefined;
    headerLens.push(len);
    total += 1 + varintSize(len) + len;
  }
  const shard = task.shard;
  if (shard != null) {
    if (!isUint64(shard)) return undefined;
    total += 1 + varintSize(shard);
  }
  const samples = task.samples ?? [];
  if (sizes.length < samples.length * SIZES_PER_SAMPLE) {
    sizes = new Float64Array(2 * samples.length * SIZES_PER_SAMPLE);
  }
  for (let i = 0; i < samples.length; i++) {
    const size = sampleSizes(samples[i], i * SIZES_PER_SAMPLE);
    if (size < 0) return undefined;
    total += 1 + varintSize(size) + size;
  }

  const out = new Out(Buffer.allocUnsafe(total));
  const writeHeader = (i: number) => {
    const v = header[i][1];
    if (v != null) out.string(header[i][0], v, headerLens[i]);
  };
  writeHeader(0);
  out.uint(2, shard as number | undefined);
  writeHeader(1);
  writeHeader(2);
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    const at = i * SIZES_PER_SAMPLE;
    out.varint(key(5, WIRE_BYTES));
    out.varint(sizes[at]);
    // SAMPLE_STRINGS' k-th string is at sizes[at + 1 + k], and checked text when its length is >= 0.
    if (sizes[at + 1] >= 0) out.string(1, s.sample_id as string, sizes[at + 1]);
    out.uint(2, s.index as number | undefined);
    if (sizes[at + 2] >= 0) out.string(3, s.row_id as string, sizes[at + 2]);
    if (sizes[at + 3] >= 0) out.string(4, s.prompt as string, sizes[at + 3]);
    if (sizes[at + 4] >= 0) out.string(5, s.negative_prompt as string, sizes[at + 4]);
    out.uint(6, s.seed as number | undefined);
    out.uint(7, s.steps);
    if (s.guidance_scale != null) {
      out.varint(key(8, WIRE_FIXED32));
      out.buf.writeFloatLE(Number(s.guidance_scale), out.pos);
      out.pos += 4;
    }
    if (sizes[at + 5] >= 0) out.string(9, s.scheduler as string, sizes[at + 5]);
    out.uint(10, s.width);
    out.uint(11, s.height);
    if (sizes[at + 6] >= 0) out.string(12, s.source as string, sizes[at + 6]);
  }
  writeHeader(3);
  if (out.pos !== total) throw new Error(`task writer: wrote ${out.pos} bytes of ${total}`);
  return out.buf;
}
