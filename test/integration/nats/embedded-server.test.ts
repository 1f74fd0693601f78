import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parentDeathSignalAvailable } from "../../../src/common/child-process.js";
import { LatentFleetError } from "../../../src/common/errors.js";
import { startEmbeddedNatsServer } from "../../../src/common/nats/embedded-server.js";
import { findNatsServer } from "../../../src/common/nats/server-binary.js";
import { ROOT } from "../../helpers/paths.js";

/** A parent process that starts an embedded server, prints its pid, then exits or waits to be killed. */
const PARENT = `
import { startEmbeddedNatsServer } from ${JSON.stringify(join(ROOT, "src/common/nats/embedded-server.ts"))};
const server = await startEmbeddedNatsServer({ bin: process.argv[2], storeDir: process.argv[3] });
console.log(JSON.stringify({ pid: server.pid, url: server.url }));
if (process.argv[4] === "exit") process.exit(0);
setInterval(() => {}, 1000);
`;

describe("embedded nats-server", () => {
  let tmp: string;
  const bin = findNatsServer(process.env.LF_NATS_SERVER_BIN);

  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), "lf-embedded-"));
    writeFileSync(join(tmp, "parent.mts"), PARENT);
  });
  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  // Surviving a SIGKILLed parent needs setpriv (util-linux); without it only the exit hook applies.
  const cases = parentDeathSignalAvailable() ? (["exit", "sigkill"] as const) : (["exit"] as const);
  it.each(cases)("goes away with its parent (%s) and writes nothing to stdout", async (how) => {
    const store = join(tmp, `store-${how}`);
    const parent = spawn(process.execPath, ["--import", "tsx", join(tmp, "parent.mts"), bin, store, how], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    parent.stdout.setEncoding("utf8");
    parent.stdout.on("data", (s: string) => {
      stdout += s;
    });
    const exited = new Promise<void>((resolve) => parent.once("exit", () => resolve()));
    const deadline = Date.now() + 30_000;
    while (!stdout.includes("\n") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const { pid, url } = JSON.parse(stdout) as { pid: number; url: string };
    expect(url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(alive(pid)).toBe(true);
    if (how === "sigkill") parent.kill("SIGKILL");
    await exited;
    await waitFor(() => !alive(pid), 10_000);
    expect(stdout.trim().split("\n")).toHaveLength(1);
  });

  describe("on a port that is taken", () => {
    let blocker: Server;
    let port: number;
    beforeAll(async () => {
      blocker = createServer();
      await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
      port = (blocker.address() as { port: number }).port;
    });
    afterAll(() => {
      blocker.close();
    });

    it("fails with the server's reason when that port was asked for", async () => {
      const err = await startEmbeddedNatsServer({ bin, storeDir: join(tmp, "store-taken"), port }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LatentFleetError);
      expect((err as LatentFleetError).code).toBe("NATS_UNAVAILABLE");
      expect((err as LatentFleetError).message).toContain("address already in use");
    });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
