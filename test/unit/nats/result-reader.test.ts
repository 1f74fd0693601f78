/** The hand reader of TaskResult against protobufjs: the same values, or left to protobufjs. */
import { describe, expect, it } from "vitest";
import { encodeTaskResult, readTaskResult, readTaskResultGeneric } from "../../../src/common/nats/codec.js";
import { readTaskResultPlain } from "../../../src/common/nats/result-reader.js";
import type { TaskResult__Input } from "../../../src/common/proto/generated/latentfleet/v1/TaskResult.js";
import { seededRandom as rng } from "../../helpers/seeded-random.js";

const PIECES = ["a", "00012.png", " ", "ünï", "✓", "猫", "🐈", "\n", "x".repeat(130)];
const text = (r: () => number, max: number) =>
  Array.from({ length: Math.floor(r() * max) }, () => PIECES[Math.floor(r() * PIECES.length)]).join("");
const uint = (r: () => number, max: number) => {
  const edges = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 - 1, 2 ** 35, 2 ** 53 - 1].filter(
    (e) => e <= max,
  );
  return r() < 0.5 ? edges[Math.floor(r() * edges.length)] : Math.floor(r() * max);
};

function randomResult(r: () => number): TaskResult__Input {
  return {
    job_id: r() < 0.05 ? "" : text(r, 3),
    shard: uint(r, 2 ** 53 - 1),
    worker_id: text(r, 2),
    samples: Array.from({ length: Math.floor(r() * 40) }, () => ({
      sample_id: text(r, 3),
      index: uint(r, 2 ** 53 - 1),
      ok: r() < 0.8,
      file_name: text(r, 2),
      error: r() < 0.8 ? "" : text(r, 4),
      error_code: r() < 0.8 ? "" : "ENGINE_FAILED",
    })),
    delivery: uint(r, 2 ** 32 - 1),
    seconds: r() < 0.2 ? 0 : r() * 1000,
    dead_lettered: r() < 0.1,
    reused: r() < 0.1,
  };
}

/** What readTaskResult makes of `bytes` through `read`: its value, or the error's code and message. */
function outcome(read: (b: Uint8Array) => unknown, bytes: Uint8Array): unknown {
  try {
    return { value: read(bytes) };
  } catch (err) {
    return { error: (err as { code?: string }).code ?? String(err) };
  }
}

const varint = (v: number) => {
  const out: number[] = [];
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
};
const bytesOf = (...parts: (number[] | Uint8Array)[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

describe("task result reader", () => {
  it("reads what protobufjs reads from 100 varied results, and from pairs of them merged", () => {
    const r = rng(20_261_206);
    let plain = 0;
    for (let i = 0; i < 100; i++) {
      const a = encodeTaskResult(randomResult(r));
      const b = encodeTaskResult(randomResult(r));
      // Concatenated messages merge: scalars take the last value, samples add up.
      for (const bytes of [a, bytesOf(a, b)]) {
        if (readTaskResultPlain(bytes)) plain++;
        expect(outcome(readTaskResult, bytes), `result ${i}`).toEqual(outcome(readTaskResultGeneric, bytes));
      }
    }
    // The encoder's own output is read by hand, all of it.
    expect(plain).toBe(200);
  });

  it("skips unknown fields as protobufjs does", () => {
    const known = encodeTaskResult({
      job_id: "j",
      shard: 3,
      samples: [{ sample_id: "s", index: 9, ok: true }],
    });
    const unknown = bytesOf(
      [(15 << 3) | 0, ...varint(2 ** 60)],
      [...varint((16 << 3) | 1), 1, 2, 3, 4, 5, 6, 7, 8],
      [...varint((17 << 3) | 2), 3, 1, 2, 3],
      [...varint((18 << 3) | 5), 1, 2, 3, 4],
    );
    for (const bytes of [bytesOf(unknown, known), bytesOf(known, unknown)]) {
      expect(readTaskResultPlain(bytes)).toBeDefined();
      expect(readTaskResult(bytes)).toEqual(readTaskResultGeneric(bytes));
    }
  });

  it("leaves to protobufjs what it does not read alike: big integers, wrong wire types, bad text, cut messages", () => {
    const job = [(1 << 3) | 2, 1, 0x6a]; // job_id "j"
    const odd: Uint8Array[] = [
      bytesOf(job, [(2 << 3) | 0, ...varint(2 ** 53)]), // shard past 2^53
      bytesOf(job, [(5 << 3) | 0, ...varint(2 ** 32)]), // delivery past uint32
      bytesOf(job, [(7 << 3) | 0, 2]), // bool 2
      bytesOf(job, [(2 << 3) | 2, 1, 5]), // shard as bytes
      bytesOf([(1 << 3) | 2, 2, 0xc3, 0x28]), // job_id not UTF-8
      bytesOf(job, [(4 << 3) | 2, 4, (2 << 3) | 0, ...varint(2 ** 53)]), // a sample's index past 2^53
      bytesOf(job, [(9 << 3) | 3]), // a group
    ];
    const full = encodeTaskResult({
      job_id: "job",
      shard: 1,
      samples: [{ sample_id: "s", file_name: "f.png" }],
    });
    for (let n = 1; n < full.length; n++) odd.push(full.subarray(0, n));
    for (const [i, bytes] of odd.entries()) {
      if (i < 7) expect(readTaskResultPlain(bytes), `case ${i}`).toBeUndefined();
      expect(outcome(readTaskResult, bytes), `case ${i}`).toEqual(outcome(readTaskResultGeneric, bytes));
    }
  });
});
