/** Messages between bench/dispatch.ts and its child processes (Node IPC), and the CPU figures they carry. */

/** process.cpuUsage(), in microseconds. */
export interface Cpu {
  user: number;
  system: number;
}

/** Log lines at warn or above that a child saw (the rest are formatted, then dropped). */
export interface LogCount {
  warnings: number;
  last: string[];
}

/** Set in the coordinator process's environment: the folder of a CPU profile of each job (job<N>.cpuprofile). */
export const CPU_PROFILE_DIR_ENV = "LF_BENCH_CPU_PROFILE_DIR";

export type CoordinatorRequest =
  | { type: "job"; id: number; spec: string; shardSize: number }
  | { type: "stop" };

export interface JobReport {
  state: string;
  error: string;
  samplesTotal: number;
  samplesDone: number;
  samplesFailed: number;
  shardsTotal: number;
  /** From submit() to the final state, in the coordinator process. */
  wallMs: number;
  /** When submit() was called and when the final state was seen (epoch ms). */
  submittedAt: number;
  finishedAt: number;
  /** Coordinator CPU over the same span. */
  cpu: Cpu;
}

export type CoordinatorReply =
  | { type: "ready" }
  | { type: "stopped" }
  | { type: "job"; id: number; report: JobReport; log: LogCount }
  | { type: "error"; id?: number; message: string };

export interface StandInSettings {
  /** Time the stand-in device takes per batch, whatever its size (0: the next turn of the event loop). */
  batchMs: number;
  batchSize: number;
  /** Replicas the workers ask for the model's consumer (a cluster's streams at --replicas). */
  replicas?: number;
  /** fsync every output file and folder (the worker default), or not. */
  durable: boolean;
}

export type HostRequest =
  | {
      type: "start";
      natsUrl: string;
      modelDir: string;
      count: number;
      prefix: string;
      settings: StandInSettings;
    }
  | { type: "stats" }
  | { type: "stop" };

/** Stand-in device counters, summed over a host's workers, and the host's own CPU. */
export interface HostStats {
  batches: number;
  samples: number;
  busyMs: number;
  cpu: Cpu;
  /** Since the previous stats request: when each batch left a device (epoch ms) and its size. */
  batchEnds: number[];
  batchSizes: number[];
  /** Since the previous stats request: samples per worker. */
  perWorker: number[];
}

export type HostReply =
  | { type: "started"; model: string }
  | { type: "stats"; stats: HostStats; log: LogCount }
  | { type: "stopped"; log: LogCount }
  | { type: "error"; message: string };

/** A logger sink that formats every line as the real processes do, keeps warnings, and writes nothing. */
export function countingLogSink(): { write: (line: string) => void; count: () => LogCount } {
  let warnings = 0;
  const last: string[] = [];
  return {
    write: (line) => {
      if (!line.includes('"level":"warn"') && !line.includes('"level":"error"')) return;
      warnings++;
      last.push(line.trimEnd());
      if (last.length > 5) last.shift();
    },
    count: () => ({ warnings, last: [...last] }),
  };
}
