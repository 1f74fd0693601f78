/**
 * Output disk faults on a tmpfs of the suite's own (needs root): filled to ENOSPC, remounted read-only.
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

/** Why a tmpfs cannot be mounted, remounted read-only and back here; undefined when it can. */
export async function diskFaultsUnavailable(): Promise<string | undefined> {
  if (process.platform !== "linux") return "tmpfs mounts are Linux only";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "mounting a tmpfs needs root";
  const dir = await mkdtemp(join(tmpdir(), "lf-chaos-probe-"));
  try {
    for (const args of [
      ["-t", "tmpfs", "-o", "size=1m", "lf-chaos-probe", dir],
      ["-o", "remount,ro", dir],
    ]) {
      const r = mount(args);
      if (!r.ok) return `\`mount ${args.join(" ")}\` fails here: ${r.why}`;
    }
    return undefined;
  } finally {
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

/**
 * `mount -o remount,ro`. The kernel refuses it (busy) while a file on it is open for writing, which the
 * workers do for a moment per image: tried again at once, up to `maxTries` times within `maxMs`. Throws when
 * it stays refused, naming the files the fleet's processes (`pids`) have open there. Returns the tries.
 */
export async function remountReadOnly(
  dir: string,
  pids: number[],
  maxTries = 500,
  maxMs = 10_000,
): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = "";
  for (let i = 1; i <= maxTries && Date.now() < deadline; i++) {
    const r = mount(["-o", "remount,ro", dir]);
    if (r.ok) return i;
    last = r.why;
    // A short pause now and then lets the writers' turns move on.
    if (i % 10 === 0) await new Promise((res) => setTimeout(res, 5));
  }
  throw new Error(
    `read-only remount of ${dir} refused (${last}); open there: ${openUnder(dir, pids) || "none"}`,
  );
}

export function remountReadWrite(dir: string): void {
  const r = mount(["-o", "remount,rw", dir]);
  if (!r.ok) throw new Error(`cannot remount ${dir} read-write: ${r.why}`);
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
