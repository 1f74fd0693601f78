import { JetStreamApiError } from "@nats-io/jetstream";
import { errors, headers } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeTask } from "../../../src/common/nats/codec.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import { isNatsUnreachable } from "../../../src/common/nats/errors.js";
import { resultSubject, TASKS_STREAM, taskSubject } from "../../../src/common/nats/names.js";
import { parsePubAck } from "../../../src/common/nats/pub-ack.js";
import { PublishPipe } from "../../../src/common/nats/publish-pipe.js";
import { pipeTask } from "../../../src/common/nats/tasks.js";
import { ensureTopology } from "../../../src/common/nats/topology.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

describe("PublishPipe", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;

  beforeAll(async () => {
    server = await startNatsServer();
    ctx = await connectJetStream(server.url, "coordinator");
    await ensureTopology(ctx.js, ctx.jsm);
  });
  afterAll(async () => {
    await ctx?.nc.close();
    await server?.cleanup();
  });

  const task = (shard: number) => ({
    job_id: "job-pipe",
    shard,
    model: "pipe-model",
    output_dir: "/out",
    samples: [{ sample_id: `s${shard}`, index: shard, prompt: "a blue square", seed: shard, steps: 4 }],
  });

  it("stores every task of a burst published without waiting, once each, and reports a republish as duplicate", async () => {
    const pipe = new PublishPipe(ctx.nc);
    try {
      const shards = Array.from({ length: 200 }, (_, i) => i);
      const acks = await Promise.all(shards.map((s) => pipeTask(pipe, task(s))));
      expect(pipe.inFlight).toBe(0);
      expect(acks.every((a) => a.stream === TASKS_STREAM && !a.duplicate)).toBe(true);
      const stored = await Promise.all(
        acks.map((a) => ctx.jsm.streams.getMessage(TASKS_STREAM, { seq: a.seq })),
      );
      const decoded = stored.map((m, i) => {
        if (m === null) throw new Error(`the stream has no message at seq ${acks[i]?.seq}`);
        return decodeTask(m.data);
      });
      expect(decoded.map((t) => Number(t.shard)).sort((a, b) => a - b)).toEqual(shards);
      expect(decoded[7]?.samples[0]).toMatchObject({ sample_id: "s7", prompt: "a blue square", steps: 4 });
      // The headers written as wire bytes are the ones the stream reads (de-duplication, expected stream).
      const byShard = new Map(decoded.map((t, i) => [Number(t.shard), stored[i]]));
      expect(byShard.get(7)?.header.get("Nats-Msg-Id")).toBe("job-pipe.7");
      expect(byShard.get(7)?.header.get("Nats-Expected-Stream")).toBe(TASKS_STREAM);
      const again = await pipeTask(pipe, task(42));
      expect(again.duplicate).toBe(true);
      expect(again.seq).toBe(acks[42]?.seq);
      // This server's acks, a first publish and a duplicate, are the forms read by hand (no JSON parse).
      for (const msgId of ["job-pipe.ack-form", "job-pipe.ack-form"]) {
        const h = headers();
        h.set("Nats-Msg-Id", msgId);
        const reply = await ctx.nc.request(taskSubject("pipe-model"), new Uint8Array([1]), {
          headers: h,
          timeout: 5_000,
        });
        const body = reply.json<{ stream: string; seq: number; duplicate?: boolean }>();
        expect(parsePubAck(reply.data), reply.string()).toEqual({
          stream: body.stream,
          seq: body.seq,
          duplicate: body.duplicate === true,
          domain: undefined,
        });
      }
    } finally {
      pipe.close();
    }
  });

  it("fails a publish nobody stores as unreachable, and one the wrong stream stores as an API error", async () => {
    const pipe = new PublishPipe(ctx.nc);
    try {
      const nobody = await pipe.publish("lf.nowhere.x", new Uint8Array([1]), { msgId: "n1" }).catch((e) => e);
      expect(nobody).toBeInstanceOf(errors.NoRespondersError);
      expect(isNatsUnreachable(nobody)).toBe(true);
      const wrong = await pipe
        .publish(resultSubject("job-pipe"), new Uint8Array([1]), { msgId: "w1", expectStream: TASKS_STREAM })
        .catch((e) => e);
      expect(wrong).toBeInstanceOf(JetStreamApiError);
      expect(isNatsUnreachable(wrong)).toBe(false);
    } finally {
      pipe.close();
    }
  });

  it("times out a publish whose ack never comes, and fails those in flight on close", async () => {
    // A plain subscriber takes the message (so no "no responders") and never answers.
    const silent = ctx.nc.subscribe("lf.silent.>");
    const pipe = new PublishPipe(ctx.nc, 300);
    try {
      const t0 = Date.now();
      const late = await pipe.publish("lf.silent.a", new Uint8Array([1]), { msgId: "t1" }).catch((e) => e);
      expect(late).toBeInstanceOf(errors.TimeoutError);
      expect(isNatsUnreachable(late)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      const open = pipe.publish("lf.silent.b", new Uint8Array([1]), { msgId: "t2" }).catch((e) => e);
      expect(pipe.inFlight).toBe(1);
      pipe.close();
      expect(await open).toBeInstanceOf(errors.ClosedConnectionError);
    } finally {
      pipe.close();
      silent.unsubscribe();
    }
  });
});
