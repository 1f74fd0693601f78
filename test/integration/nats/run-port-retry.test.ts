/**
 * `run` starts its processes beside nats-server on a port chosen beforehand. When another program takes
 * that port before nats-server listens, the processes are stopped and started again beside a server on
 * another port; a failure of any other kind, or the last try's, stops them and is thrown.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startNatsBesideProcesses } from "../../../src/cli/commands/run-nats-start.js";
import { freePortExcept } from "../../../src/cli/commands/run-ports.js";
import { connectJetStream } from "../../../src/common/nats/connect.js";
import {
  type EmbeddedNatsServer,
  startEmbeddedNatsServer,
} from "../../../src/common/nats/embedded-server.js";
import { findNatsServer } from "../../../src/common/nats/server-binary.js";

/** Another program on the loopback port: nats-server cannot listen there. */
function squat(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected the start to fail");
}

describe("run's nats-server start when its port is taken", () => {
  const dir = mkdtempSync(join(tmpdir(), "lf-run-port-retry-"));
  const squatters: Server[] = [];
  let nats: EmbeddedNatsServer | undefined;
  afterAll(async () => {
    await nats?.stop();
    for (const s of squatters) s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const bin = findNatsServer(process.env.LF_NATS_SERVER_BIN);
  /** What happened to the processes, in order. */
  const processes = (events: string[]) => ({
    stopProcesses: async () => {
      events.push("stop");
    },
    startProcesses: async (port: number) => {
      events.push(`start on ${port}`);
    },
  });

  it("starts the processes again beside a server on another port, which then serves JetStream", async () => {
    const first = await freePortExcept([]);
    squatters.push(await squat(first));
    const events: string[] = [];
    const picked: number[] = [];
    nats = await startNatsBesideProcesses({
      port: first,
      startServer: (port) => startEmbeddedNatsServer({ bin, storeDir: join(dir, "store"), port }),
      pickPort: async () => {
        const port = await freePortExcept([first]);
        picked.push(port);
        return port;
      },
      ...processes(events),
    });
    expect(picked).toHaveLength(1);
    expect(nats.port).toBe(picked[0]);
    expect(nats.port).not.toBe(first);
    expect(events).toEqual(["stop", `start on ${picked[0]}`]);
    // A clean start: a client gets JetStream from it.
    const client = await connectJetStream(nats.url, "run-port-retry-test");
    try {
      expect((await client.jsm.getAccountInfo()).limits).toBeDefined();
    } finally {
      await client.nc.close();
    }
  });

  it("gives up after its last try, the processes stopped", async () => {
    const taken = [await freePortExcept([])];
    squatters.push(await squat(taken[0]));
    const events: string[] = [];
    const err = await failure(
      startNatsBesideProcesses({
        port: taken[0],
        attempts: 2,
        startServer: (port) => startEmbeddedNatsServer({ bin, storeDir: join(dir, "store-2"), port }),
        // The next port is taken too.
        pickPort: async () => {
          const port = await freePortExcept(taken);
          taken.push(port);
          squatters.push(await squat(port));
          return port;
        },
        ...processes(events),
      }),
    );
    expect(err.message).toMatch(/address already in use/);
    expect(events).toEqual(["stop", `start on ${taken[1]}`, "stop"]);
  });

  it("tries no other port for another failure", async () => {
    const badConfig = join(dir, "bad.conf");
    writeFileSync(badConfig, "this is { not a configuration\n");
    const events: string[] = [];
    const port = await freePortExcept([]);
    const err = await failure(
      startNatsBesideProcesses({
        port,
        startServer: (p) =>
          startEmbeddedNatsServer({ bin, storeDir: join(dir, "store-3"), port: p, configFile: badConfig }),
        pickPort: () => freePortExcept([port]),
        ...processes(events),
      }),
    );
    expect(err.message).not.toMatch(/address already in use/);
    expect(events).toEqual(["stop"]);
  });
});
