/** PublishPipe hands the publishes of one event-loop turn to the client together, whatever microtasks made them. */
import type { NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { PublishPipe } from "../../../src/common/nats/publish-pipe.js";

/** A connection that records publishes and never answers. */
function recordingConnection() {
  const published: { subject: string; msgId: string | undefined }[] = [];
  const nc = {
    subscribe: () => ({ unsubscribe: () => undefined }),
    status: async function* () {},
    publish: (subject: string, _data: Uint8Array, opts: { headers?: { get(k: string): string } }) => {
      published.push({ subject, msgId: opts.headers?.get("Nats-Msg-Id") });
    },
  } as unknown as NatsConnection;
  return { nc, published };
}

describe("publish pipe batching", () => {
  it("hands the publishes of one turn to the client in one run, in order, at the turn's end", async () => {
    const { nc, published } = recordingConnection();
    const pipe = new PublishPipe(nc, 60_000);
    try {
      const acks: Promise<unknown>[] = [];
      for (let i = 0; i < 3; i++) {
        acks.push(
          pipe.publish("lf.tasks.m", new Uint8Array([i]), { msgId: `job.${i}`, expectStream: "LF_TASKS" }),
        );
        for (const a of acks) a.catch(() => undefined);
        // Each publish in a microtask of its own, as a job's publisher makes them.
        await Promise.resolve();
      }
      expect(published).toEqual([]);
      await new Promise((r) => setImmediate(r));
      expect(published).toEqual([0, 1, 2].map((i) => ({ subject: "lf.tasks.m", msgId: `job.${i}` })));
      expect(pipe.inFlight).toBe(3);
    } finally {
      pipe.close();
    }
  });

  it("does not send a publish that failed before its turn ended", async () => {
    const { nc, published } = recordingConnection();
    const pipe = new PublishPipe(nc, 60_000);
    const ack = pipe.publish("lf.tasks.m", new Uint8Array([1]), { msgId: "job.0" });
    pipe.close();
    await expect(ack).rejects.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(published).toEqual([]);
  });
});
