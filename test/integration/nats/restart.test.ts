import type { KV } from "@nats-io/kv";
import type { Status } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeTask } from "../../../src/common/nats/codec.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import { jobCursorKey, jobStateKey } from "../../../src/common/nats/names.js";
import { publishTask, workerTasks } from "../../../src/common/nats/tasks.js";
import { ensureTopology, ensureWorkerConsumer } from "../../../src/common/nats/topology.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

describe("a nats-server restart", () => {
  let server: TestNatsServer;
  let ctx: JetStreamContext;
  let jobs: KV;
  const events: Status["type"][] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    ctx = await connectJetStream(server.url, "restart-test");
    void (async () => {
      for await (const s of ctx.nc.status()) events.push(s.type);
    })();
    ({ jobs } = await ensureTopology(ctx.js, ctx.jsm));
    await ensureWorkerConsumer(ctx.jsm, "tiny-shapes");
  });
  afterAll(async () => {
    await ctx?.nc.close();
    await server?.cleanup();
  });

  async function reconnected(since: number): Promise<void> {
    const deadline = Date.now() + 20_000;
    while (!events.slice(since).includes("reconnect")) {
      if (Date.now() > deadline) throw new Error(`no reconnect within 20 s; events: ${events.join(", ")}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it.each([
    ["stopped (SIGTERM)", "stop"],
    ["killed (SIGKILL)", "kill"],
  ] as const)(
    "keeps job state and tasks when nats-server is %s, and the client reconnects by itself",
    async (_, how) => {
      const job = `job-${how}`;
      const state = JSON.stringify({ state: "running", done: 3 });
      const rev = await jobs.put(jobStateKey(job), state);
      await jobs.put(jobCursorKey(job), JSON.stringify({ rows: 10, shards: 2 }));
      await publishTask(ctx.js, { job_id: job, shard: 0, model: "tiny-shapes" });
      const port = server.port;
      const pid = server.pid;

      const mark = events.length;
      await server[how]();
      expect(server.running).toBe(false);
      await new Promise((r) => setTimeout(r, 1500)); // nats is down for a while
      await server.restart();
      expect(server.port).toBe(port);
      expect(server.pid).not.toBe(pid);
      await reconnected(mark);
      expect(events.slice(mark)).toContain("disconnect");

      const entry = await jobs.get(jobStateKey(job));
      expect(entry?.string()).toBe(state);
      expect(entry?.revision).toBe(rev);
      expect((await jobs.get(jobCursorKey(job)))?.json()).toEqual({ rows: 10, shards: 2 });
      // CAS update still works on the same revision after the restart.
      await jobs.update(jobStateKey(job), JSON.stringify({ state: "done" }), rev);

      const msg = await (await workerTasks(ctx.js, "tiny-shapes")).next({ expires: 5000 });
      expect(msg && decodeTask(msg.data).job_id).toBe(job);
      await msg?.ackAck();
    },
  );
});
