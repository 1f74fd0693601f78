/**
 * A real nats-server for integration tests: JetStream on, its own temporary store, a free loopback port.
 * Uses the same code as `latent-fleet run` (startEmbeddedNatsServer); set LF_NATS_SERVER_BIN to test
 * another nats-server binary.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type EmbeddedNatsServer, startEmbeddedNatsServer } from "../../src/common/nats/embedded-server.js";
import { findNatsServer } from "../../src/common/nats/server-binary.js";

export interface TestNatsServer extends EmbeddedNatsServer {
  /** Stops the server and deletes its store. */
  cleanup(): Promise<void>;
}

/** `configFile`: a nats-server configuration (authorization, TLS, ...) for the security tests. */
export async function startNatsServer(options: { configFile?: string } = {}): Promise<TestNatsServer> {
  const storeDir = mkdtempSync(join(tmpdir(), "lf-nats-test-"));
  try {
    const server = await startEmbeddedNatsServer({
      bin: findNatsServer(process.env.LF_NATS_SERVER_BIN),
      storeDir,
      startTimeoutMs: 20_000,
      configFile: options.configFile,
    });
    return Object.assign(server, {
      async cleanup() {
        await server.stop();
        rmSync(storeDir, { recursive: true, force: true });
      },
    });
  } catch (err) {
    rmSync(storeDir, { recursive: true, force: true });
    throw err;
  }
}
