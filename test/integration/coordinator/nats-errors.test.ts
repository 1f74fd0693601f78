/**
 * The coordinator's NATS failures by type on a real nats-server: the job store's compare-and-set
 * conflicts (a cursor created twice, a stale revision, a record changed under an update) and a gRPC call
 * answered UNAVAILABLE while NATS is gone.
 */
import { credentials, type ServiceError, status } from "@grpc/grpc-js";
import type { KV } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/common/log.js";
import { connectJetStream, ensureTopology, type JetStreamContext } from "../../../src/common/nats/index.js";
import type { CoordinatorClient as RawClient } from "../../../src/common/proto/generated/latentfleet/v1/Coordinator.js";
import { coordinatorProto } from "../../../src/common/proto/load.js";
import { type RunningCoordinator, startCoordinator } from "../../../src/coordinator/index.js";
import { JobStore, StaleRevisionError } from "../../../src/coordinator/job-store.js";
import { runningJobRecord } from "../../helpers/job-records.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

let server: TestNatsServer;
let ctx: JetStreamContext;
let kv: KV;
let store: JobStore;

beforeAll(async () => {
  server = await startNatsServer();
  ctx = await connectJetStream(server.url, "nats-errors-test");
  kv = (await ensureTopology(ctx.js, ctx.jsm)).jobs;
  store = new JobStore(kv);
});

afterAll(async () => {
  await ctx?.nc.close();
  await server?.cleanup();
});

const cursor = (next: number) => ({ next_shard: next, samples_emitted: next * 8, done: false });

describe("the job store's conflicts", () => {
  it("reports a cursor another writer created first, or wrote since it was read", async () => {
    const first = await store.putCursor("j1", cursor(1), null);
    await expect(store.putCursor("j1", cursor(2), null)).rejects.toBeInstanceOf(StaleRevisionError);
    const second = await store.putCursor("j1", cursor(3), first);
    await expect(store.putCursor("j1", cursor(4), first)).rejects.toBeInstanceOf(StaleRevisionError);
    expect(await store.getCursor("j1")).toEqual({ value: cursor(3), revision: second });
  });

  it("re-reads and re-applies an update whose record was changed under it", async () => {
    await store.create(runningJobRecord("j2"));
    // The first write of the update finds that another writer changed the record since it was read.
    let interfered = false;
    const racing = new Proxy(kv, {
      get(target, prop) {
        if (prop === "update") {
          return async (key: string, value: Uint8Array, revision: number) => {
            if (!interfered) {
              interfered = true;
              await target.put(key, JSON.stringify({ ...runningJobRecord("j2"), samples_done: 5 }));
            }
            return target.update(key, value, revision);
          };
        }
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    let attempts = 0;
    const stored = await new JobStore(racing).update("j2", (r) => {
      attempts++;
      return { ...r, shards_done: 1 };
    });
    expect(interfered).toBe(true);
    expect(attempts).toBe(2);
    expect(stored).toMatchObject({ samples_done: 5, shards_done: 1 });
    expect((await store.get("j2"))?.value).toMatchObject({ samples_done: 5, shards_done: 1 });
  });
});

describe("the coordinator while NATS is gone", () => {
  let coordinator: RunningCoordinator | undefined;
  let raw: RawClient | undefined;

  afterAll(async () => {
    raw?.close();
    await coordinator?.stop();
  });

  // Last in the file: it stops the server.
  it("answers UNAVAILABLE, not INTERNAL", async () => {
    coordinator = await startCoordinator({
      natsUrl: server.url,
      grpcAddress: "127.0.0.1:0",
      log: silentLogger,
      // Reads wait out an election (NATS_READ_RETRY, 10 s); a server that stays gone is reported after it.
      storeRetry: { readRetry: { attempts: 3, minDelayMs: 100, maxDelayMs: 200, budgetMs: 1_000 } },
    });
    raw = new (coordinatorProto().latentfleet.v1.Coordinator)(
      `127.0.0.1:${coordinator.grpcPort}`,
      credentials.createInsecure(),
    );
    const getJob = (jobId: string) =>
      new Promise<ServiceError | null>((resolve) =>
        raw?.GetJob({ job_id: jobId }, { deadline: Date.now() + 60_000 }, (err) => resolve(err)),
      );
    // While NATS answers, an unknown job is NOT_FOUND.
    expect(await getJob("no-such-job")).toMatchObject({ code: status.NOT_FOUND });
    await server.stop();
    const err = await getJob("no-such-job");
    expect(err).toMatchObject({ code: status.UNAVAILABLE });
    expect(err?.details).toMatch(/^NATS did not answer: /);
  });
});
