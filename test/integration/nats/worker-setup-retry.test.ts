/**
 * A worker's NATS setup rides out a JetStream that does not answer for a while (as a cluster does while it
 * elects its leaders and the fleet starts beside it): the real nats-server is stopped (SIGSTOP) while the
 * setup runs, its requests time out, and the setup is tried again until the server answers.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectNats,
  isNatsUnreachable,
  type JetStreamContext,
  openWorkerTaskQueue,
  TASKS_STREAM,
  workersConsumerName,
} from "../../../src/common/nats/index.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

/** JetStream API timeout of this test's client: short, so that a stopped server's requests fail soon. */
const API_TIMEOUT_MS = 700;
/** How long the server stays stopped: longer than two of those timeouts. */
const STOPPED_MS = 2_000;

describe("a worker's NATS setup", () => {
  let server: TestNatsServer;
  let nats: JetStreamContext;

  beforeAll(async () => {
    server = await startNatsServer();
    const nc = await connectNats(server.url, "worker-setup-retry-test");
    nats = {
      nc,
      js: jetstream(nc, { timeout: API_TIMEOUT_MS }),
      jsm: await jetstreamManager(nc, { timeout: API_TIMEOUT_MS }),
    };
  });

  afterAll(async () => {
    if (server?.pid) process.kill(server.pid, "SIGCONT");
    await nats?.nc.close();
    await server?.cleanup();
  });

  it("is tried again while JetStream does not answer, and succeeds once it does", async () => {
    const pid = server.pid as number;
    const failures: unknown[] = [];
    process.kill(pid, "SIGSTOP");
    const stoppedAt = Date.now();
    const resume = setTimeout(() => process.kill(pid, "SIGCONT"), STOPPED_MS);
    try {
      const queue = await openWorkerTaskQueue(
        nats,
        "setup-retry",
        {},
        { onRetry: (_attempt, err) => failures.push(err) },
      );
      expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(STOPPED_MS - 50);
      expect(queue).toBeDefined();
    } finally {
      clearTimeout(resume);
      process.kill(pid, "SIGCONT");
    }
    // The first attempts failed because nobody answered (timeouts), not for another reason.
    expect(failures.length).toBeGreaterThanOrEqual(2);
    for (const err of failures) expect(isNatsUnreachable(err), String(err)).toBe(true);
    const info = await nats.jsm.consumers.info(TASKS_STREAM, workersConsumerName("setup-retry"));
    expect(info.name).toBe(workersConsumerName("setup-retry"));
  });
});
