/**
 * A nats-server child process with JetStream, for `latent-fleet run` and the tests.
 *
 * Readiness: nats-server writes `<exe>_<pid>.ports` into --ports_file_dir once it accepts clients, so
 * the file proves that *this* process listens (a plain TCP probe could reach another server that took
 * the port first). If the free port was taken before nats-server bound it, the server exits and start
 * retries on another port.
 *
 * Cleanup: `stop()` sends SIGTERM and waits. If the parent exits without calling it, an `exit` hook
 * sends SIGTERM; on Ctrl-C the terminal signals the whole foreground process group, this child included.
 * On Linux the child is also started through `setpriv --pdeathsig TERM` (util-linux) when available, so
 * the kernel stops it even when the parent is SIGKILLed. Nothing is written to stdout: the server's log
 * (stderr) is kept in memory, and its tail is shown when start fails. The store folder is the caller's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, withParentDeathSignal } from "../child-process.js";
import { LatentFleetError } from "../errors.js";

export interface EmbeddedNatsServerOptions {
  /** nats-server executable (see findNatsServer). */
  bin: string;
  /** JetStream store folder; created if missing, kept on stop (restart reuses it). */
  storeDir: string;
  /** Listen address; loopback by default so the embedded server is not reachable from the network. */
  host?: string;
  /** Client port; default a free one. */
  port?: number;
  /**
   * A nats-server configuration file (authorization, accounts, TLS, ...). The listen address, port, store
   * and JetStream come from the options above and win over the file.
   */
  configFile?: string;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export interface EmbeddedNatsServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly storeDir: string;
  /** Process id while running. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** The last lines nats-server logged. */
  logTail(): string;
  /** SIGTERM, then SIGKILL if it has not exited within stopTimeoutMs. */
  stop(): Promise<void>;
  /** SIGKILL: a crash (chaos tests), or the quick end of a server whose store is thrown away. */
  kill(): Promise<void>;
  /** Stops the server if it runs, and starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Resolves when the process running now exits (at once if none runs), with how: a signal or exit code. */
  whenExited(): Promise<string>;
}

const DEFAULT_HOST = "127.0.0.1";
const START_ATTEMPTS = 5;
const POLL_MS = 25;
const LOG_LINES = 80;

export async function startEmbeddedNatsServer(opts: EmbeddedNatsServerOptions): Promise<EmbeddedNatsServer> {
  const host = opts.host ?? DEFAULT_HOST;
  mkdirSync(opts.storeDir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort(host));
    const server = new NatsServerProcess(opts, host, port);
    try {
      await server.start();
      return server;
    } catch (err) {
      const portTaken = server.logTail().includes("address already in use");
      if (opts.port !== undefined || !portTaken || attempt >= START_ATTEMPTS) throw err;
    }
  }
}

class NatsServerProcess implements EmbeddedNatsServer {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private lastExit = "not started";
  private log: string[] = [];
  private readonly portsDir: string;
  private readonly onParentExit = () => this.child?.kill("SIGTERM");

  constructor(
    private readonly opts: EmbeddedNatsServerOptions,
    readonly host: string,
    readonly port: number,
  ) {
    this.url = `nats://${host}:${port}`;
    this.portsDir = join(opts.storeDir, "ports");
  }

  get storeDir(): string {
    return this.opts.storeDir;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  logTail(): string {
    return this.log.join("\n");
  }

  async start(): Promise<void> {
    if (this.child) return;
    rmSync(this.portsDir, { recursive: true, force: true });
    mkdirSync(this.portsDir, { recursive: true });
    const args = [
      ...(this.opts.configFile === undefined ? [] : ["-c", this.opts.configFile]),
      ...["-a", this.host, "-p", String(this.port)],
      ...["-js", "-sd", this.opts.storeDir],
      ...["--ports_file_dir", this.portsDir],
    ];
    const [command, argv] = withParentDeathSignal(this.opts.bin, args);
    const child = spawn(command, argv, { stdio: ["ignore", "ignore", "pipe"] });
    this.child = child;
    this.log = [];
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => this.appendLog(chunk));
    let exitCode: string | undefined;
    this.exited = new Promise((done) => {
      const finish = (code: string) => {
        if (exitCode !== undefined) return;
        exitCode = code;
        this.lastExit = code;
        if (this.child === child) this.child = undefined;
        process.off("exit", this.onParentExit);
        done();
      };
      // A spawn failure (ENOENT, EACCES) may come without a "close".
      child.once("error", (err) => {
        this.appendLog(`spawn failed: ${err.message}`);
        finish("spawn error");
      });
      child.once("close", (code, signal) => finish(signal ?? String(code)));
    });
    process.on("exit", this.onParentExit);

    const timeoutMs = this.opts.startTimeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    while (exitCode === undefined && !this.ready(child.pid)) {
      if (Date.now() > deadline) {
        await this.kill();
        throw this.startError(`did not start within ${timeoutMs} ms`);
      }
      await sleep(POLL_MS);
    }
    if (exitCode !== undefined) throw this.startError(`exited (${exitCode}) while starting`);
  }

  async stop(): Promise<void> {
    await this.signal("SIGTERM", this.opts.stopTimeoutMs ?? 10_000);
  }

  async kill(): Promise<void> {
    await this.signal("SIGKILL", 5_000);
  }

  async restart(): Promise<void> {
    await this.stop();
    // The port may be in the middle of being released by the old process: retry briefly.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.start();
        return;
      } catch (err) {
        if (attempt >= START_ATTEMPTS || !this.logTail().includes("address already in use")) throw err;
        await sleep(200 * attempt);
      }
    }
  }

  whenExited(): Promise<string> {
    return this.exited.then(() => this.lastExit);
  }

  private async signal(sig: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(sig);
    // Unref'd: a timer left over once the server is gone must not keep the process alive for its length.
    const gone = await Promise.race([
      this.exited.then(() => true),
      sleep(timeoutMs, undefined, { ref: false }).then(() => false),
    ]);
    if (!gone) {
      child.kill("SIGKILL");
      await Promise.race([this.exited, sleep(5_000, undefined, { ref: false })]);
    }
  }

  private ready(pid: number | undefined): boolean {
    if (pid === undefined) return false;
    const file = safeReaddir(this.portsDir).find((f) => f.endsWith(`_${pid}.ports`));
    if (!file) return false;
    try {
      const ports = JSON.parse(readFileSync(join(this.portsDir, file), "utf8")) as { nats?: string[] };
      return (ports.nats ?? []).some((u) => u.endsWith(`:${this.port}`));
    } catch {
      return false; // caught mid-write
    }
  }

  private appendLog(chunk: string): void {
    this.log.push(...chunk.split("\n").filter((l) => l.length > 0));
    if (this.log.length > LOG_LINES) this.log.splice(0, this.log.length - LOG_LINES);
  }

  private startError(what: string): LatentFleetError {
    return new LatentFleetError(
      "NATS_UNAVAILABLE",
      `nats-server (${this.opts.bin}) on ${this.host}:${this.port} ${what}; its log:\n${this.logTail()}`,
    );
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
