/**
 * A process started beside its nats-server (as `run` starts them) waits for it to listen: its first
 * connect is tried again while the port refuses, within its wait, instead of failing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../../src/common/child-process.js";
import { isLatentFleetError } from "../../../src/common/errors.js";
import { connectJetStream } from "../../../src/common/nats/connect.js";
import {
  type EmbeddedNatsServer,
  startEmbeddedNatsServer,
} from "../../../src/common/nats/embedded-server.js";
import { findNatsServer } from "../../../src/common/nats/server-binary.js";

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected the connect to fail");
}

describe("first connect to NATS", () => {
  const store = mkdtempSync(join(tmpdir(), "lf-first-connect-"));
  let server: EmbeddedNatsServer | undefined;
  afterAll(async () => {
    await server?.stop();
    rmSync(store, { recursive: true, force: true });
  });

  it("waits for a nats-server that starts after it, and then works", async () => {
    const port = await freePort("127.0.0.1");
    const url = `nats://127.0.0.1:${port}`;
    const connecting = connectJetStream(url, "first-connect-test", { firstConnectWaitMs: 30_000 });
    let settled = false;
    void connecting.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    // Nothing listens yet: the connect is still trying, neither connected nor failed.
    await sleep(300);
    expect(settled).toBe(false);
    server = await startEmbeddedNatsServer({
      bin: findNatsServer(process.env.LF_NATS_SERVER_BIN),
      storeDir: store,
      port,
    });
    const { nc, jsm } = await connecting;
    try {
      expect((await jsm.getAccountInfo()).limits).toBeDefined();
    } finally {
      await nc.close();
    }
  });

  it("fails with NATS_UNAVAILABLE at once without a wait, and after its wait when nothing ever listens", async () => {
    const url = `nats://127.0.0.1:${await freePort("127.0.0.1")}`;
    const now = await failure(connectJetStream(url, "first-connect-test"));
    expect(isLatentFleetError(now) && now.code).toBe("NATS_UNAVAILABLE");
    expect(String(now)).toMatch(/cannot connect to NATS at .*Is a nats-server with JetStream/);
    const started = Date.now();
    const later = await failure(connectJetStream(url, "first-connect-test", { firstConnectWaitMs: 1_500 }));
    expect(isLatentFleetError(later) && later.code).toBe("NATS_UNAVAILABLE");
    // It kept trying for most of its wait (the last back-off step is at most 0.5 s).
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
  });
});
