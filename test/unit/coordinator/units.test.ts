/** The coordinator's pure parts: job ids, shard cuts, folding, the where-index, the publish window. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PubAck } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import type { TaskResult } from "../../../src/common/contract/task.js";
import { JobFold } from "../../../src/coordinator/fold.js";
import { isJobId, newJobId } from "../../../src/coordinator/job-id.js";
import { ProgressMeter } from "../../../src/coordinator/progress.js";
import { PublishWindow } from "../../../src/coordinator/publish-window.js";
import { ShardCounter, Sharder } from "../../../src/coordinator/sharder.js";
import { WhereIndex } from "../../../src/coordinator/where-index.js";
import type { ManifestSample } from "../../../src/manifest/index.js";

const dir = mkdtempSync(join(tmpdir(), "lf-coord-units-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sample(index: number, prompt = `p${index}`, source = `f.jsonl:${index + 1}`): ManifestSample {
  return {
    index,
    rowIndex: index,
    rowId: `r${index}`,
    sampleId: `r${index}-0`,
    prompt,
    negativePrompt: "",
    seed: index,
    steps: 4,
    guidanceScale: 4,
    scheduler: null,
    width: null,
    height: null,
    source,
  };
}

function result(shard: number, oks: boolean[], dead = false): TaskResult {
  return {
    job_id: "j",
    shard,
    worker_id: "w",
    delivery: 1,
    seconds: 0,
    dead_lettered: dead,
    reused: false,
    samples: oks.map((ok, i) => ({
      sample_id: `s${shard}-${i}`,
      index: shard * 10 + i,
      ok,
      file_name: "",
      error: ok ? "" : "x",
      error_code: "",
    })),
  };
}

describe("job ids", () => {
  it("sort by time and are unique", () => {
    const a = newJobId(new Date("2026-01-02T03:04:05.006Z"));
    const b = newJobId(new Date("2026-01-02T03:04:05.007Z"));
    expect(a).toMatch(/^20260102-030405-006-[0-9a-z]{8}$/);
    expect(a < b).toBe(true);
    expect(isJobId(a)).toBe(true);
    expect(new Set(Array.from({ length: 1000 }, () => newJobId())).size).toBe(1000);
  });
});

describe("sharder", () => {
  it("cuts K samples per shard, and earlier when a shard would get too big", () => {
    const s = new Sharder(3, 1000);
    const shards = [];
    for (let i = 0; i < 7; i++) shards.push(...s.add(sample(i)));
    const last = s.flush();
    if (last) shards.push(last);
    expect(shards.map((x) => [x.shard, x.firstIndex, x.samples.length])).toEqual([
      [0, 0, 3],
      [1, 3, 3],
      [2, 6, 1],
    ]);
    expect(shards[0].samples[0]).toMatchObject({
      seed: 0,
      scheduler: "",
      width: 0,
      height: 0,
      source: "f.jsonl:1",
    });
    const big = new Sharder(32, 1000);
    const cut = [...big.add(sample(0, "x".repeat(600))), ...big.add(sample(1, "y".repeat(600)))];
    expect(cut.map((x) => x.samples.length)).toEqual([1]);
  });

  it("counts the shards it would cut (ShardCounter), by size and by count alike", () => {
    // Prompts of 0 to ~900 bytes (multi-byte among them) against budgets of one to a few samples.
    const prompt = (i: number) => "ü✓x".repeat((i * 37) % 300);
    for (const [size, budget] of [
      [1, 1000],
      [3, 1000],
      [4, 2500],
      [32, 1200],
      [32, 1 << 20],
    ]) {
      const sharder = new Sharder(size, budget);
      const counter = new ShardCounter(size, budget);
      let shards = 0;
      let samplesCut = 0;
      for (let i = 0; i < 200; i++) {
        for (const cut of sharder.add(sample(i, prompt(i)))) {
          shards++;
          samplesCut += cut.samples.length;
        }
        counter.add(sample(i, prompt(i)));
        const open = i + 1 > samplesCut ? 1 : 0;
        expect(counter.shards, `size ${size}, budget ${budget}, sample ${i}`).toBe(shards + open);
      }
      if (sharder.flush()) shards++;
      expect(counter.shards, `size ${size}, budget ${budget}`).toBe(shards);
    }
  });
});

describe("fold", () => {
  it("counts a shard once; a worker's result beats a dead letter in either order", () => {
    const f = new JobFold();
    expect(f.apply(result(0, [true, false])).counted).toBe(true);
    expect(f.apply(result(0, [true, true])).counted).toBe(false);
    expect(f.apply(result(0, [false, false], true)).counted).toBe(false);
    expect([f.samplesDone, f.samplesFailed, f.shardsFolded]).toEqual([1, 1, 1]);
    expect(f.apply(result(5000, [false, false], true)).failures).toHaveLength(2);
    expect([f.samplesDone, f.samplesFailed, f.shardsFolded]).toEqual([1, 3, 2]);
    const late = f.apply(result(5000, [true, true]));
    expect(late).toMatchObject({ counted: true, replacedDead: true, newlyDone: 2 });
    expect([f.samplesDone, f.samplesFailed, f.shardsFolded]).toEqual([3, 1, 2]);
    expect(f.hasImages(5000)).toBe(true);
    expect(f.hasImages(4999)).toBe(false);
  });
});

describe("where index", () => {
  it("writes a line per shard: its first index and runs of equal sources, as JSON", async () => {
    const file = join(dir, "where-lines.jsonl");
    const w = new WhereIndex(file);
    const odd = 'dir "x"/ü✓.csv:3';
    const shards = [
      ["a:1", "a:1", "a:2"],
      ["a:2", odd, odd, "a:2"],
      [odd, odd],
    ];
    let first = 0;
    for (const [i, sources] of shards.entries()) {
      w.append(i, first, sources);
      first += sources.length;
    }
    await w.flush();
    expect(readFileSync(file, "utf8")).toBe(
      `${[
        [0, ["a:1", 2], ["a:2", 1]],
        [3, ["a:2", 1], [odd, 2], ["a:2", 1]],
        [7, [odd, 2]],
      ]
        .map((l) => JSON.stringify(l))
        .join("\n")}\n`,
    );
    expect(await w.lookup(1, 5)).toBe(odd);
    expect(await w.lookup(2, 8)).toBe(odd);
    expect(await w.lookup(1, 6)).toBe("a:2");
    await w.close();
  });

  it("finds each sample's source, waiting for shards not written yet", async () => {
    const w = new WhereIndex(join(dir, "where.jsonl"));
    w.append(0, 0, ["a:1", "a:1", "a:2"]);
    const pending = w.lookup(1, 4);
    w.append(1, 3, ["b:7", "b:8"]);
    expect(await pending).toBe("b:8");
    expect(await w.lookup(0, 1)).toBe("a:1");
    expect(await w.lookup(0, 2)).toBe("a:2");
    await w.flush();
    expect(await w.lookup(1, 3)).toBe("b:7");
    const never = w.lookup(9, 0);
    w.finish();
    expect(await never).toBe("");
    await w.close();
  });
});

describe("publish window", () => {
  it("bounds in-flight publishes and moves the frontier in order", async () => {
    const win = new PublishWindow({ size: 2 });
    const resolvers: (() => void)[] = [];
    let inFlight = 0;
    let most = 0;
    const publish = () =>
      new Promise<PubAck>((resolve) => {
        inFlight++;
        most = Math.max(most, inFlight);
        resolvers.push(() => {
          inFlight--;
          resolve({ stream: "s", seq: 1, duplicate: false, domain: "" } as PubAck);
        });
      });
    await win.push(0, publish);
    await win.push(1, publish);
    const third = win.push(2, publish);
    resolvers[1]();
    await new Promise((r) => setTimeout(r, 10));
    expect(win.frontier).toBe(-1); // 1 is acked, 0 is not
    resolvers[0]();
    await third;
    expect(win.frontier).toBe(1);
    resolvers[2]();
    await win.drain();
    expect(win.frontier).toBe(2);
    expect(most).toBe(2);
  });
});

describe("progress", () => {
  it("gives images/s over the window and an ETA", () => {
    let t = 0;
    const m = new ProgressMeter(10_000, () => t);
    expect(m.eta(100)).toBe(-1);
    m.record(10);
    t = 5_000;
    m.record(40);
    expect(m.rate()).toBeCloseTo(10, 5);
    expect(m.eta(100)).toBeCloseTo(10, 5);
    expect(m.eta(null)).toBe(-1);
  });

  it("counts images read again after a restart when they were made, not all at once", () => {
    let t = 100_000;
    const m = new ProgressMeter(10_000, () => t);
    // Read again at t: 40 images made long before the window, 20 made 5 s ago and 1 s ago.
    m.record(40, t - 60_000);
    m.record(10, t - 5_000);
    m.record(10, t - 1_000);
    expect(m.rate()).toBeCloseTo(20 / 5, 5);
    t += 5_000;
    m.record(20);
    expect(m.rate()).toBeCloseTo(40 / 10, 5);
    // A time ahead of this clock counts as now.
    m.record(10, t + 60_000);
    expect(m.rate()).toBeCloseTo(50 / 10, 5);
  });
});
