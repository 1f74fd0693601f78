/**
 * NATS failures told apart by the client's error types and JetStream API codes on a real nats-server: a
 * KV write that loses its compare-and-set, a request nobody answers, a server that is gone, a closed
 * connection.
 */
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNatsUnreachable, isWrongLastSequence } from "../../../src/common/nats/index.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

let server: TestNatsServer;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.cleanup();
});

/** What the promise rejects with (it must reject). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );
}

const data = (s: string) => new TextEncoder().encode(s);

describe("NATS errors by type", () => {
  it("knows a KV create of a key that has a value, and an update of a stale revision, by API code", async () => {
    const nc = await connect({ servers: server.url });
    try {
      const kv = await new Kvm(nc).create("ERRORS_TEST");
      const first = await kv.create("k", data("1"));
      const exists = await rejection(kv.create("k", data("2")));
      expect(isWrongLastSequence(exists)).toBe(true);
      expect(isNatsUnreachable(exists)).toBe(false);
      await kv.update("k", data("3"), first);
      expect(isWrongLastSequence(await rejection(kv.update("k", data("4"), first)))).toBe(true);
      // Another API error is not a lost compare-and-set.
      const missing = await rejection(
        jetstream(nc)
          .streams.get("NO_SUCH_STREAM")
          .then((s) => s.info()),
      );
      expect(isWrongLastSequence(missing)).toBe(false);
      expect(isNatsUnreachable(missing)).toBe(false);
      expect(isWrongLastSequence(new Error("wrong last sequence: 1; key exists"))).toBe(false);
    } finally {
      await nc.close();
    }
  });

  it("knows a request nobody answers, a server that is gone and a closed connection", async () => {
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const noResponders = await rejection(nc.request("errors.test.nobody", data("?"), { timeout: 2000 }));
    expect(isNatsUnreachable(noResponders)).toBe(true);
    const kv = await new Kvm(jetstream(nc, { timeout: 1000 })).create("ERRORS_DOWN");
    await server.stop();
    const timedOut = await rejection(kv.get("k"));
    expect(isNatsUnreachable(timedOut)).toBe(true);
    await nc.close();
    const closed = await rejection(kv.get("k"));
    expect(isNatsUnreachable(closed)).toBe(true);
    // The same words in another error are only words.
    expect(isNatsUnreachable(new Error(`${String(timedOut)}; ${String(closed)}`))).toBe(false);
  });
});
