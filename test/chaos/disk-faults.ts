/**
 * Output disk faults on a tmpfs of the suite's own (needs root): filled to ENOSPC, made read-only.
 */
import { spawnSync } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

function mount(args: string[]): { ok: boolean; why: string } {
  const r = spawnSync("mount", args, { encoding: "utf8", timeout: 10_000 });
  const why = r.stderr || r.error?.message || `exit ${r.status}`;
  return { ok: r.status === 0, why: why.replace(/\s+/g, " ").trim() };
}

/** Why a tmpfs cannot be mounted and bind-mounted read-only over itself here; undefined when it can. */
export async function diskFaultsUnavailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return "tmpfs mounts are Linux only";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "mounting a tmpfs needs root";
  const dir = await mkdtemp(join(tmpdir(), "lf-chaos-probe-"));
  try {
    for (const args of [
      ["-t", "tmpfs", "-o", "size=1m", "lf-chaos-probe", dir],
      ["--bind", dir, dir],
      ["-o", "remount,bind,ro", dir],
    ]) {
      const r = mount(args);
      if (!r.ok) return `\`mount ${args.join(" ")}\` fails here: ${r.why}`;
    }
    return undefined;
  } finally {
    // The bind mount, then the tmpfs (either may not be there: an unmount that fails does no harm).
    spawnSync("umount", ["-l", dir]);
    spawnSync("umount", ["-l", dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `size` (e.g. "48m") on `dir`. */
export function mountTmpfs(dir: string, size: string): void {
  const r = mount(["-t", "tmpfs", "-o", `size=${size}`, "lf-chaos", dir]);
  if (!r.ok) throw new Error(`cannot mount a tmpfs on ${dir}: ${r.why}`);
}

/** Writes a file until the file system is full (ENOSPC). */
export async function fillDisk(path: string): Promise<void> {
  const fh = await open(path, "w");
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (let i = 0; i < 4096; i++) await fh.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    return;
  } finally {
    await fh.close().catch(() => undefined);
  }
  throw new Error(`${path}: 4 GiB written and the file system is not full`);
}

/** Sends `signal` to each process of `pids` that is still there (a fleet's list keeps processes that ended). */
export function signalLive(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  }
}

/**
 * Makes `dir` read-only for every file opened from now on: a read-only bind mount of `dir` over itself. A
 * remount of the tmpfs itself is refused (busy) while any file on it is open for writing, which the workers'
 * store keeps for a while per image; retried, it let a loaded machine run a whole job to its end before it
 * took. A new bind mount has no writers, and the fleet's processes (`pids`) are stopped while it is made, so
 * nothing opens a file through it before it is read-only. Files opened before keep their writes, as
 * writes already under way do on a disk that turns read-only.
 */
export function makeReadOnly(dir: string, pids: number[]): void {
  signalLive(pids, "SIGSTOP");
  try {
    const bound = mount(["--bind", dir, dir]);
    if (!bound.ok) throw new Error(`cannot bind-mount ${dir} over itself: ${bound.why}`);
    const ro = mount(["-o", "remount,bind,ro", dir]);
    if (!ro.ok) {
      spawnSync("umount", ["-l", dir]);
      throw new Error(
        `read-only remount of the bind mount on ${dir} refused (${ro.why}); open there: ${openUnder(dir, pids) || "none"}`,
      );
    }
  } finally {
    signalLive(pids, "SIGCONT");
  }
}

/** Takes away the read-only bind mount of makeReadOnly: files opened from now on are on the tmpfs again. */
export function makeWritable(dir: string): void {
  const r = spawnSync("umount", ["-l", dir], { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0)
    throw new Error(`cannot unmount the read-only bind mount on ${dir}: ${r.stderr || r.status}`);
}

/** "pid: file" for the files under `dir` the processes have open, for a refused remount's message. */
function openUnder(dir: string, pids: number[]): string {
  const found: string[] = [];
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith(`${dir}/`)) found.push(`${pid}: ${target}`);
      } catch {
        // Closed in the meantime.
      }
    }
  }
  return found.slice(0, 5).join(", ");
}
