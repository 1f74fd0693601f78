/**
 * A PublishPipe behind the coordinator's PublishWindow facing a nats-server that dies (SIGKILL) with a
 * window of publishes in flight and comes back on the same port and store: the publishes whose acks died
 * with it are sent again once it is back, not after an ack timeout (5 s), and the stream ends up with every
 * task exactly once (msg-id de-duplication across the restart). Also the two signals that fail a publish
 * early without a lost connection: a later 503 from the same stream, and a silence of every answer.
 */
import { performance } from "node:perf_hooks";
import { errors } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeTask } from "../../../src/common/nats/codec.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import { isNatsUnreachable } from "../../../src/common/nats/errors.js";
import { TASKS_STREAM } from "../../../src/common/nats/names.js";
import { PUBLISH_ACK_TIMEOUT_MS, PublishPipe } from "../../../src/common/nats/publish-pipe.js";
import { pipeTask } from "../../../src/common/nats/tasks.js";
import { ensureTopology } from "../../../src/common/nats/topology.js";
import { PublishWindow } from "../../../src/coordinator/publish-window.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

const MODEL = "recovery-model";
const JOB = "job-recovery";
const TASKS = 400;
const WINDOW = 64;
/** Publishes sent to the frozen server just before its kill. */
const LOST = 16;
/** The restart must be shorter than this for the old behaviour (waiting out the ack timeout) to show. */
const MAX_OUTAGE_MS = 1_500;
/**
 * Longest stall allowed once the server is back (a reconnect, retries while JetStream starts). Waiting out
 * the ack timeout instead makes it the timeout less the outage: 3.5 s at the least.
 */
const MAX_STALL_AFTER_BACK_MS = 3_000;

describe("PublishPipe through a lost server and a stream without a leader", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;

  beforeAll(async () => {
    server = await startNatsServer();
    // Reconnects at once and every 100 ms: the stall measured is the pipe's, not the client's back-off.
    ctx = await connectJetStream(server.url, "pipe-recovery", { reconnectTimeWait: 100, reconnectJitter: 0 });
    await ensureTopology(ctx.js, ctx.jsm);
  });
  afterAll(async () => {
    await ctx?.nc.close();
    await server?.cleanup();
  });

  const task = (shard: number) => ({
    job_id: JOB,
    shard,
    model: MODEL,
    output_dir: "/out",
    samples: [{ sample_id: `s${shard}`, index: shard, prompt: "a red circle", seed: shard, steps: 4 }],
  });

  it("sends the publishes in flight again once a killed server is back, and the stream holds each task once", async (t) => {
    const pipe = new PublishPipe(ctx.nc);
    const window = new PublishWindow({ size: WINDOW });
    /** When each shard's publish was acked (the last attempt's ack). */
    const ackedAt = new Map<number, number>();
    const killShard = TASKS / 4;
    let stoppedAt = 0;
    let backAt = 0;
    let inFlightAtKill = 0;
    try {
      for (let shard = 0; shard < TASKS; shard++) {
        await window.push(shard, async () => {
          const ack = await pipeTask(pipe, task(shard));
          ackedAt.set(shard, performance.now());
          return ack;
        });
        if (shard === killShard - LOST) {
          // Frozen first, so that the publishes still to come reach it and are never read: lost for sure.
          process.kill(server.pid as number, "SIGSTOP");
          stoppedAt = performance.now();
        }
        if (shard === killShard) {
          await new Promise((r) => setTimeout(r, 50)); // the client writes them out
          inFlightAtKill = pipe.inFlight;
          await server.kill();
          await server.restart();
          backAt = performance.now();
        }
      }
      await window.drain();
    } finally {
      pipe.close();
    }
    const outage = backAt - stoppedAt;
    if (inFlightAtKill === 0) t.skip(`no publish was in flight when the server was killed`);
    if (outage > MAX_OUTAGE_MS) t.skip(`the restart took ${Math.round(outage)} ms: too slow to tell`);
    // Publishing has recovered when every publish sent before the kill is acked.
    const sentBefore = Array.from({ length: killShard + 1 }, (_, s) => ackedAt.get(s) ?? Number.NaN);
    const stallAfterBack = Math.max(...sentBefore) - backAt;
    console.log(
      `publish pipe: ${inFlightAtKill} in flight at the kill, server back ${Math.round(outage)} ms after it froze, ` +
        `all sent before it acked ${Math.round(stallAfterBack)} ms after that (ack timeout ${PUBLISH_ACK_TIMEOUT_MS} ms)`,
    );
    expect(stallAfterBack).toBeLessThan(MAX_STALL_AFTER_BACK_MS);

    // Every task once: the stream's messages (this server's stream holds this job only) are the shards.
    const { state } = await ctx.jsm.streams.info(TASKS_STREAM);
    expect(state.messages).toBe(TASKS);
    const seqs = Array.from({ length: state.last_seq - state.first_seq + 1 }, (_, i) => state.first_seq + i);
    const stored = await Promise.all(seqs.map((seq) => ctx.jsm.streams.getMessage(TASKS_STREAM, { seq })));
    const shards = stored.flatMap((m) => (m ? [Number(decodeTask(m.data).shard)] : []));
    expect(shards.sort((x, y) => x - y)).toEqual(Array.from({ length: TASKS }, (_, i) => i));
  });

  it("fails the publishes sent before one the stream answers 503, and those left unanswered through a silence", async () => {
    // A plain subscriber takes the messages and never answers: a leader that died with them.
    const subject = "lf.lost.a";
    const taker = ctx.nc.subscribe(subject);
    await ctx.nc.flush();
    // Neither the ack timeout nor the silence may end these: only the 503 does.
    const pipe = new PublishPipe(ctx.nc, 10_000, 10_000);
    try {
      const t0 = performance.now();
      const lost = [1, 2, 3].map((i) =>
        pipe.publish(subject, new Uint8Array([i]), { msgId: `lost-${i}` }).catch((e: unknown) => e),
      );
      await ctx.nc.flush();
      taker.unsubscribe();
      await ctx.nc.flush();
      const told = await pipe.publish(subject, new Uint8Array([4]), { msgId: "lost-4" }).catch((e) => e);
      expect(told).toBeInstanceOf(errors.NoRespondersError);
      for (const err of await Promise.all(lost)) {
        expect(err).toBeInstanceOf(errors.TimeoutError);
        expect(isNatsUnreachable(err)).toBe(true);
      }
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(pipe.inFlight).toBe(0);
    } finally {
      pipe.close();
    }

    const silent = ctx.nc.subscribe("lf.lost.b");
    await ctx.nc.flush();
    const quiet = new PublishPipe(ctx.nc, 10_000, 300);
    try {
      const t0 = performance.now();
      const err = await quiet.publish("lf.lost.b", new Uint8Array([5]), { msgId: "lost-5" }).catch((e) => e);
      const waited = performance.now() - t0;
      expect(err).toBeInstanceOf(errors.TimeoutError);
      expect(waited).toBeGreaterThanOrEqual(250);
      expect(waited).toBeLessThan(3_000);
    } finally {
      quiet.close();
      silent.unsubscribe();
    }
  });
});
