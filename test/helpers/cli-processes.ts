/**
 * The built `latent-fleet` command as separate processes, as on separate machines: start one and keep its
 * output, wait for a log line, signal it, run a short command to the end.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { MetadataRow } from "../../src/common/contract/job.js";
import { CLI } from "./paths.js";
import { healthStatus, waitFor } from "./worker-fixtures.js";

export interface CliProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** stdout and stderr, as they came. */
  output(): string;
  /** Resolves with the exit code (128 + signal number style: null code means killed; see `signal`). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until the output matches `re`; throws with the output so far after `timeoutMs`. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<void>;
}

/** `wrap`: a command that runs node (e.g. `ip netns exec NS`), which must exec it in place (same pid). */
export function startCli(
  name: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; wrap?: string[] } = {},
): CliProcess {
  const [command, ...argv] = [...(options.wrap ?? []), process.execPath, CLI, ...args];
  const child = spawn(command, argv, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const waiters = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString("utf8");
    for (const w of waiters) w();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      resolve({ code, signal });
      for (const w of waiters) w();
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  return {
    name,
    child,
    output: () => text,
    exited,
    waitForOutput(re: RegExp, timeoutMs = 60_000): Promise<void> {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (re.test(text)) finish();
          else if (done) finish(new Error(`${name} exited before printing ${re}:\n${text.slice(-3000)}`));
        };
        const timer = setTimeout(
          () => finish(new Error(`${name} did not print ${re} in ${timeoutMs} ms:\n${text.slice(-3000)}`)),
          timeoutMs,
        );
        const finish = (err?: Error) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Runs a command to its end (bounded by `timeoutMs`, then SIGKILL). */
export async function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; output: string }> {
  const p = startCli(args[0] ?? "cli", args, options);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output() };
}

/** Sends SIGTERM to whatever is still running and waits (SIGKILL after `graceMs`). */
export async function stopAll(processes: CliProcess[], graceMs = 20_000): Promise<void> {
  const alive = processes.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  for (const p of alive) p.child.kill("SIGTERM");
  const timer = setTimeout(() => {
    for (const p of alive) p.child.kill("SIGKILL");
  }, graceMs);
  await Promise.all(alive.map((p) => p.exited));
  clearTimeout(timer);
}

export async function readMetadata(out: string): Promise<MetadataRow[]> {
  const text = await readFile(join(out, "metadata.jsonl"), "utf8");
  return text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as MetadataRow);
}

/** Every file under `dir` (recursive), as full paths; [] when it does not exist. */
export async function listFiles(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

/** Waits until the process serves gRPC health SERVING on `port`; throws with its output if it exits first. */
export async function waitUntilServing(p: CliProcess, port: number, timeoutMs = 30_000): Promise<void> {
  const up = await waitFor(async () => {
    if (p.child.exitCode !== null) return true;
    return (await healthStatus(port).catch(() => "")) === "SERVING";
  }, timeoutMs);
  if (!up || p.child.exitCode !== null) throw new Error(`${p.name} did not start:\n${p.output()}`);
}

/** The child of `parentPid` whose command line matches (from /proc), e.g. the coordinator `run` started. */
export function childRunning(parentPid: number, matches: (argv: string[]) => boolean): number | undefined {
  const read = (file: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch {
      return "";
    }
  };
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = read(`/proc/${pid}/stat`);
    if (!stat || Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) !== parentPid) continue;
    if (matches(read(`/proc/${pid}/cmdline`).split("\0"))) return pid;
  }
  return undefined;
}
