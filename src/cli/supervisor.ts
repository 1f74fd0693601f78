/**
 * The child processes of `run`: each started with its output appended to its own log file, restarted
 * after an unexpected exit as its RestartPolicy allows, and stopped together (SIGTERM, then SIGKILL).
 * A child that may not be restarted, or keeps crashing, ends the supervision: `failed` resolves.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { withParentDeathSignal } from "../common/child-process.js";
import type { EmbeddedNatsServer } from "../common/nats/index.js";
import { packageRoot } from "../common/package-root.js";
import { RestartPolicy, type RestartPolicyOptions } from "./restart-policy.js";

export interface ChildSpec {
  name: string;
  /** The `latent-fleet` command line of the child. */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Restart it when it exits on its own; otherwise its exit ends the supervision. */
  restart: boolean;
  /** A line of its output that says it is ready (its crashes before that are start-up crashes). */
  ready?: RegExp;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** "killed by SIGKILL" or "exited with code 1". */
export function describeExit(exit: ChildExit): string {
  return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
}

/** A child's crash that was mended by a restart. */
export interface Restart {
  name: string;
  how: string;
}

/** Why the supervision ended: a child exited and was not restarted. */
export interface ChildFailure {
  name: string;
  how: string;
  /** Why it was not restarted (again): undefined for a child that is never restarted. */
  gaveUp?: string;
  /** Its log file, or (nats-server, which keeps its log in memory) its last lines. */
  logFile?: string;
  logText?: string;
}

export interface SupervisorOptions {
  logDir: string;
  policy?: Partial<RestartPolicyOptions>;
  /** Told of each crash and restart, as a line for the user. */
  onNotice?: (line: string) => void;
}

interface Supervised {
  spec: ChildSpec;
  logFile: string;
  log: WriteStream;
  policy: RestartPolicy;
  process: ChildProcess;
  exited: Promise<ChildExit>;
  ready: boolean;
  /** Resolves the first time it says it is ready (a restart does not make a new one). */
  firstReady: Promise<void>;
  markReady: () => void;
  /** Killed by killAll(): its exit is no crash. */
  discarded?: boolean;
}

/** How long stop() waits for the children to end after SIGTERM (workers drain) before SIGKILL. */
const STOP_GRACE_MS = 30_000;

export class Supervisor {
  private readonly children: Supervised[] = [];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private readonly restarted: Restart[] = [];
  private stopping = false;
  private fail!: (failure: ChildFailure) => void;
  /** Resolves when a child exits and is not restarted (never after stop()). */
  readonly failed: Promise<ChildFailure>;

  constructor(private readonly opts: SupervisorOptions) {
    this.failed = new Promise((resolve) => {
      this.fail = resolve;
    });
  }

  async start(spec: ChildSpec): Promise<void> {
    await mkdir(this.opts.logDir, { recursive: true });
    const logFile = join(this.opts.logDir, `${spec.name}.log`);
    // Appended to by every start of the child: its log tells its whole story.
    const log = createWriteStream(logFile, { flags: "a" });
    const policy = new RestartPolicy(this.opts.policy);
    const child = { spec, logFile, log, policy } as Supervised;
    child.firstReady = new Promise<void>((resolve) => {
      child.markReady = resolve;
    });
    this.spawnInto(child);
    this.children.push(child);
  }

  /**
   * Resolves when the child first logs its ready line (never for one without a `ready` pattern): waiting on
   * it costs no polling.
   */
  whenReady(name: string): Promise<void> {
    const child = this.children.find((c) => c.spec.name === name);
    if (!child) throw new Error(`no child named ${name}`);
    return child.firstReady;
  }

  /** Process ids by child name (the current process of each). */
  pids(): Map<string, number | undefined> {
    return new Map(this.children.map((c) => [c.spec.name, c.process.pid]));
  }

  /** The crashes mended by a restart so far, in order. */
  restarts(): readonly Restart[] {
    return this.restarted;
  }

  logFiles(): { name: string; logFile: string }[] {
    return this.children.map((c) => ({ name: c.spec.name, logFile: c.logFile }));
  }

  /**
   * No more restarts: exits from now on are expected (on Ctrl-C the terminal signals nats-server too,
   * which shares `run`'s process group).
   */
  endRestarts(): void {
    this.stopping = true;
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
  }

  /** SIGTERM to every child (workers drain, the coordinator stops), then SIGKILL whatever is left. */
  async stop(): Promise<void> {
    this.endRestarts();
    const alive = this.children.filter((c) => c.process.exitCode === null && c.process.signalCode === null);
    for (const c of alive) c.process.kill("SIGTERM");
    const timer = setTimeout(() => {
      for (const c of alive) c.process.kill("SIGKILL");
    }, STOP_GRACE_MS);
    await Promise.all(this.children.map((c) => c.exited));
    clearTimeout(timer);
    await Promise.all(this.children.map((c) => new Promise<void>((done) => c.log.end(done))));
  }

  /**
   * SIGKILL to every child, and forgets them (their log files stay, and a later start appends to them): for
   * children started beside a NATS server that did not come up, which have nothing to drain.
   */
  async killAll(): Promise<void> {
    const all = this.children.splice(0);
    for (const c of all) {
      c.discarded = true;
      c.process.kill("SIGKILL");
    }
    await Promise.all(all.map((c) => c.exited));
    await Promise.all(all.map((c) => new Promise<void>((done) => c.log.end(done))));
  }

  /**
   * Restarts the embedded nats-server on its port and store when it exits before stop() (the children's
   * NATS clients reconnect by themselves), under the same policy; a restart that fails ends the supervision.
   */
  watchEmbeddedNats(nats: EmbeddedNatsServer): void {
    const name = "nats-server";
    const policy = new RestartPolicy(this.opts.policy);
    const watch = async (): Promise<void> => {
      for (;;) {
        const exit = await nats.whenExited();
        if (this.stopping) return;
        const how = /^SIG/.test(exit) ? `killed by ${exit}` : `exited (${exit})`;
        // It was ready: start() waits until it serves.
        const decision = policy.crashed(Date.now(), true);
        if (!decision.restart) {
          this.fail({
            name,
            how,
            gaveUp: `not restarted again, ${decision.reason}`,
            logText: nats.logTail(),
          });
          return;
        }
        this.opts.onNotice?.(
          `${name} ${how}; restarting it on the same port and store in ${(decision.delayMs / 1000).toFixed(1)} s`,
        );
        this.restarted.push({ name, how });
        await new Promise((r) => setTimeout(r, decision.delayMs));
        if (this.stopping) return;
        try {
          await nats.restart();
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          this.fail({ name, how, gaveUp: `its restart failed: ${why}` });
          return;
        }
      }
    };
    void watch();
  }

  private spawnInto(child: Supervised): void {
    const cli = join(packageRoot(), "bin", "latent-fleet.js");
    const [command, argv] = withParentDeathSignal(process.execPath, [cli, ...child.spec.args]);
    // Own process group: Ctrl-C reaches only `run`, which then stops the children in order (drain first).
    const proc = spawn(command, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      env: child.spec.env,
    });
    child.process = proc;
    child.ready = false;
    const ready = child.spec.ready;
    // The end of the last chunk is kept: a ready line may come in two pieces.
    let recent = "";
    const onData = (chunk: Buffer) => {
      if (!ready || child.ready) return;
      recent = (recent + chunk.toString("utf8")).slice(-4096);
      if (ready.test(recent)) {
        child.ready = true;
        child.markReady();
      }
    };
    for (const stream of [proc.stdout, proc.stderr]) {
      stream?.on("data", onData);
      stream?.pipe(child.log, { end: false });
    }
    child.exited = new Promise<ChildExit>((resolveExit) => {
      proc.once("exit", (code, signal) => resolveExit({ code, signal }));
      proc.once("error", () => resolveExit({ code: 127, signal: null }));
    });
    void child.exited.then((exit) => this.onExit(child, proc, exit));
  }

  private onExit(child: Supervised, proc: ChildProcess, exit: ChildExit): void {
    if (this.stopping || child.discarded || child.process !== proc) return;
    const { name } = child.spec;
    const how = describeExit(exit);
    if (!child.spec.restart) {
      this.fail({ name, how, logFile: child.logFile });
      return;
    }
    const decision = child.policy.crashed(Date.now(), child.ready);
    if (!decision.restart) {
      this.fail({ name, how, gaveUp: `not restarted again, ${decision.reason}`, logFile: child.logFile });
      return;
    }
    this.opts.onNotice?.(`${name} ${how}; restarting it in ${(decision.delayMs / 1000).toFixed(1)} s`);
    this.restarted.push({ name, how });
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (!this.stopping && !child.discarded) this.spawnInto(child);
    }, decision.delayMs);
    this.restartTimers.add(timer);
  }
}

/** The last lines of a log file ("" when it cannot be read). */
export async function logTail(logFile: string, lines: number): Promise<string> {
  const text = await readFile(logFile, "utf8").catch(() => "");
  return text.trim().split("\n").slice(-lines).join("\n");
}
