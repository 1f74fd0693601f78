/**
 * CPU time of a process tree, sampled from /proc (Linux only; elsewhere `available` is false and every
 * figure is 0). A process's time is kept at its last sampled value once it exits, so a tree's total stays
 * right to within one sampling interval per process. Each sample groups processes by a role (from argv),
 * and `at(t)` interpolates between samples, so the CPU spent inside a window known only afterwards (say,
 * between two file mtimes) can be read back.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every mainstream Linux architecture. */
const TICKS_PER_SECOND = 100;

interface Proc {
  role: string;
  ticks: number;
}

interface Sample {
  /** Epoch ms. */
  t: number;
  seconds: Map<string, number>;
}

/** utime + stime and ppid of a process (fields after the parenthesised command name, which may hold spaces). */
function readStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

function readArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}

/** Direct children of a process: /proc/<pid>/task/<tid>/children for each of its threads, else a scan. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) out.push(...text.split(" ").map(Number));
    }
    return out;
  } catch {
    // Kernels without CONFIG_PROC_CHILDREN: find them by ppid.
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      if (readStat(Number(name))?.ppid === pid) out.push(Number(name));
    }
    return out;
  }
}

/** CPU seconds of the calling process's reaped children (cutime + cstime), from /proc/self/stat. */
export function reapedChildrenCpuSeconds(): number {
  try {
    const text = readFileSync("/proc/self/stat", "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // cutime is field 16, cstime 17.
    return (Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

export class ProcTreeCpu {
  static readonly available = existsSync("/proc/self/stat");
  private readonly procs = new Map<number, Proc>();
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly root: number,
    private readonly roleOf: (argv: string[], isRoot: boolean) => string,
    private readonly everyMs = 250,
  ) {}

  start(): void {
    if (!ProcTreeCpu.available) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  /** Takes a last sample (when the root may already be gone, the values seen last stand). */
  stop(): void {
    clearInterval(this.timer);
    if (ProcTreeCpu.available) this.sample();
  }

  /** CPU seconds per role, up to epoch ms `t` (interpolated between samples). */
  at(t: number): Map<string, number> {
    const s = this.samples;
    if (s.length === 0) return new Map();
    if (t <= s[0].t) return s[0].seconds;
    let i = 1;
    while (i < s.length && s[i].t < t) i++;
    if (i === s.length) return s[s.length - 1].seconds;
    const a = s[i - 1];
    const b = s[i];
    const w = (t - a.t) / (b.t - a.t);
    const out = new Map<string, number>();
    for (const [role, v] of b.seconds) {
      const u = a.seconds.get(role) ?? 0;
      out.set(role, u + w * (v - u));
    }
    return out;
  }

  /** CPU seconds per role between two epoch-ms times. */
  between(from: number, to: number): Map<string, number> {
    const a = this.at(from);
    const out = new Map<string, number>();
    for (const [role, v] of this.at(to)) out.set(role, v - (a.get(role) ?? 0));
    return out;
  }

  private sample(): void {
    const seen: number[] = [];
    const walk = (pid: number) => {
      seen.push(pid);
      for (const c of childrenOf(pid)) walk(c);
    };
    if (existsSync(`/proc/${this.root}`)) walk(this.root);
    for (const pid of seen) {
      const stat = readStat(pid);
      if (!stat) continue;
      // argv is read each time: a child started through `setpriv` becomes node or nats-server by exec.
      const role = this.roleOf(readArgv(pid), pid === this.root);
      this.procs.set(pid, { role, ticks: stat.ticks });
    }
    const seconds = new Map<string, number>();
    for (const p of this.procs.values()) {
      seconds.set(p.role, (seconds.get(p.role) ?? 0) + p.ticks / TICKS_PER_SECOND);
    }
    this.samples.push({ t: Date.now(), seconds });
  }
}
