/**
 * latentfleet.v1.TaskResult read by hand into the contract's values: the coordinator reads one per task,
 * and protobufjs's generic reader (a message object per sample, then a copy into the contract's shape)
 * costs more than the rest of folding it. It reads what protobufjs reads: unset fields as their defaults,
 * the last value of a repeated scalar field, unknown fields skipped. Anything else (an integer past 2^53,
 * a uint32 past 2^32, a bool other than 0 or 1, a field of another wire type than its own, text that is
 * not UTF-8, a group, a truncated message) returns undefined, for the generic reader to decode or refuse.
 */
import { isUtf8 } from "node:buffer";
import type { SampleResult, TaskResult } from "../contract/task.js";

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;

/** Thrown inside the reader only: the message is left to the generic reader. */
const NOT_PLAIN = Symbol("not plain");

class Reader {
  pos: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** An unsigned varint up to 2^53 - 1. */
  varint(): number {
    const buf = this.buf;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw NOT_PLAIN;
      const b = buf[this.pos++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (value > Number.MAX_SAFE_INTEGER) throw NOT_PLAIN;
        return value;
      }
      scale *= 128;
    }
    throw NOT_PLAIN; // 2^56 and up
  }

  uint32(): number {
    const v = this.varint();
    if (v > 0xffff_ffff) throw NOT_PLAIN;
    return v;
  }

  bool(): boolean {
    const v = this.varint();
    if (v > 1) throw NOT_PLAIN;
    return v === 1;
  }

  /** The end of a length-delimited field starting here. */
  span(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw NOT_PLAIN;
    return end;
  }

  string(): string {
    const end = this.span();
    const start = this.pos;
    this.pos = end;
    const buf = this.buf;
    for (let i = start; i < end; i++) {
      if (buf[i] >= 0x80) {
        if (!isUtf8(buf.subarray(start, end))) throw NOT_PLAIN;
        return buf.toString("utf8", start, end);
      }
    }
    return buf.toString("latin1", start, end);
  }

  double(): number {
    if (this.pos + 8 > this.end) throw NOT_PLAIN;
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  skip(wire: number): void {
    if (wire === WIRE_VARINT) {
      for (let i = 0; ; i++) {
        if (i >= 10 || this.pos >= this.end) throw NOT_PLAIN;
        if (this.buf[this.pos++] < 0x80) return;
      }
    }
    const size = wire === WIRE_FIXED64 ? 8 : wire === WIRE_FIXED32 ? 4 : -1;
    if (wire === WIRE_BYTES) this.pos = this.span();
    else if (size > 0 && this.pos + size <= this.end) this.pos += size;
    else throw NOT_PLAIN; // groups, wire types 6 and 7, or past the end
  }
}

/** A known field of another wire type than its own: left to the generic reader. */
function requireWire(tag: number, wire: number): void {
  if ((tag & 7) !== wire) throw NOT_PLAIN;
}

function readSample(r: Reader, end: number): SampleResult {
  const s: SampleResult = { sample_id: "", index: 0, ok: false, file_name: "", error: "", error_code: "" };
  while (r.pos < end) {
    const tag = r.uint32();
    switch (tag >>> 3) {
      case 1:
        requireWire(tag, WIRE_BYTES);
        s.sample_id = r.string();
        break;
      case 2:
        requireWire(tag, WIRE_VARINT);
        s.index = r.varint();
        break;
      case 3:
        requireWire(tag, WIRE_VARINT);
        s.ok = r.bool();
        break;
      case 4:
        requireWire(tag, WIRE_BYTES);
        s.file_name = r.string();
        break;
      case 5:
        requireWire(tag, WIRE_BYTES);
        s.error = r.string();
        break;
      case 6:
        requireWire(tag, WIRE_BYTES);
        s.error_code = r.string();
        break;
      default:
        r.skip(tag & 7);
    }
  }
  if (r.pos !== end) throw NOT_PLAIN;
  return s;
}

/** The result's contract values, or undefined for a message the generic reader must handle. */
export function readTaskResultPlain(bytes: Uint8Array): TaskResult | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf, 0, buf.length);
  const result: TaskResult = {
    job_id: "",
    shard: 0,
    worker_id: "",
    samples: [],
    delivery: 0,
    seconds: 0,
    dead_lettered: false,
    reused: false,
  };
  try {
    while (r.pos < r.end) {
      const tag = r.uint32();
      switch (tag >>> 3) {
        case 1:
          requireWire(tag, WIRE_BYTES);
          result.job_id = r.string();
          break;
        case 2:
          requireWire(tag, WIRE_VARINT);
          result.shard = r.varint();
          break;
        case 3:
          requireWire(tag, WIRE_BYTES);
          result.worker_id = r.string();
          break;
        case 4: {
          requireWire(tag, WIRE_BYTES);
          const end = r.span();
          result.samples.push(readSample(r, end));
          break;
        }
        case 5:
          requireWire(tag, WIRE_VARINT);
          result.delivery = r.uint32();
          break;
        case 6:
          requireWire(tag, WIRE_FIXED64);
          result.seconds = r.double();
          break;
        case 7:
          requireWire(tag, WIRE_VARINT);
          result.dead_lettered = r.bool();
          break;
        case 8:
          requireWire(tag, WIRE_VARINT);
          result.reused = r.bool();
          break;
        default:
          r.skip(tag & 7);
      }
    }
  } catch (err) {
    if (err === NOT_PLAIN) return undefined;
    throw err;
  }
  return result;
}
