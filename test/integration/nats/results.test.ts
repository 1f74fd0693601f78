import type { Consumer } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeTaskResult } from "../../../src/common/nats/codec.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import { publishResult, replayResults } from "../../../src/common/nats/results.js";
import { ensureTopology } from "../../../src/common/nats/topology.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

describe("results stream", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;
  const seqs: number[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    ctx = await connectJetStream(server.url, "results-test");
    await ensureTopology(ctx.js, ctx.jsm);
    // Jobs a and b interleaved: a0 b0 a1 b1 a2 a3
    for (const [job, shard] of [
      ["a", 0],
      ["b", 0],
      ["a", 1],
      ["b", 1],
      ["a", 2],
      ["a", 3],
    ] as const) {
      const ack = await publishResult(ctx.js, {
        job_id: job,
        shard,
        worker_id: "w",
        delivery: 1,
        samples: [],
      });
      seqs.push(ack.seq);
    }
  });
  afterAll(async () => {
    await ctx?.nc.close();
    await server?.cleanup();
  });

  async function read(consumer: Consumer, count: number): Promise<{ seq: number; id: string }[]> {
    const out: { seq: number; id: string }[] = [];
    const deadline = Date.now() + 10_000;
    while (out.length < count && Date.now() < deadline) {
      const msg = await consumer.next({ expires: 1000 });
      if (!msg) continue;
      const r = decodeTaskResult(msg.data);
      out.push({ seq: msg.seq, id: `${r.job_id}${r.shard}` });
    }
    return out;
  }

  it("replays every result from the start, then from a given sequence", async () => {
    expect((await read(await replayResults(ctx.js), 6)).map((r) => r.id)).toEqual([
      "a0",
      "b0",
      "a1",
      "b1",
      "a2",
      "a3",
    ]);
    const fromThird = await read(await replayResults(ctx.js, { fromSeq: seqs[2] }), 4);
    expect(fromThird).toEqual([
      { seq: seqs[2], id: "a1" },
      { seq: seqs[3], id: "b1" },
      { seq: seqs[4], id: "a2" },
      { seq: seqs[5], id: "a3" },
    ]);
  });

  it("replays one job's results only, and keeps delivering new ones", async () => {
    const consumer = await replayResults(ctx.js, { jobId: "b", fromSeq: seqs[1] + 1 });
    expect((await read(consumer, 1)).map((r) => r.id)).toEqual(["b1"]);
    await publishResult(ctx.js, { job_id: "b", shard: 2, delivery: 1 });
    expect((await read(consumer, 1)).map((r) => r.id)).toEqual(["b2"]);
  });

  it("drops a result published twice for the same delivery", async () => {
    const result = { job_id: "c", shard: 0, delivery: 1 };
    expect((await publishResult(ctx.js, result)).duplicate).toBe(false);
    expect((await publishResult(ctx.js, result)).duplicate).toBe(true);
    expect((await publishResult(ctx.js, { ...result, delivery: 2 })).duplicate).toBe(false);
  });
});
