/**
 * Which jobs are cancelled, as the worker sees it: a KV watch on the job records of LF_JOBS keeps a map of
 * job states up to date (a cancel reaches every worker within a round trip), and a job the watch has not
 * shown yet is read once with a get. Only `state` is used; a job without a record (tasks published by hand)
 * is not cancelled. A watch of `job.*` sees job records only, not the coordinator's cursors, and job
 * records change a few times per job, so the traffic stays small however many workers watch.
 */
import type { KV, KvEntry } from "@nats-io/kv";
import type { JobRecord, JobStateName } from "../common/contract/job.js";
import { errorMessage, type Logger, silentLogger } from "../common/log.js";
import { jobStateKey } from "../common/nats/names.js";

interface Known {
  state: JobStateName | undefined;
  revision: number;
}

/** What any code needs to decide whether to skip a job's task. */
export interface JobStateSource {
  isCancelled(jobId: string): Promise<boolean>;
}

/** A source of job states that is stopped with the worker. */
export interface WatchedJobStates extends JobStateSource {
  stop(): void;
}

/**
 * Watches the job records of the bucket `open` gives; without it (no LF_JOBS bucket) no job is ever seen as
 * cancelled (logged).
 */
export async function watchJobStates(open: () => Promise<KV>, log: Logger): Promise<WatchedJobStates> {
  try {
    return await JobStates.start(await open(), log);
  } catch (err) {
    log.warn("cannot watch job states; cancelled jobs will not be skipped", { error: errorMessage(err) });
    return { isCancelled: async () => false, stop: () => undefined };
  }
}

export class JobStates implements WatchedJobStates {
  private readonly known = new Map<string, Known>();
  private stopWatch: (() => void) | undefined;
  private stopped = false;

  private constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  /** Starts watching the job records of `kv` (the LF_JOBS bucket). */
  static async start(kv: KV, log: Logger = silentLogger): Promise<JobStates> {
    const states = new JobStates(kv, log);
    await states.watch();
    return states;
  }

  async isCancelled(jobId: string): Promise<boolean> {
    const key = jobStateKey(jobId);
    let known = this.known.get(key);
    if (!known) {
      try {
        const entry = await this.kv.get(key);
        if (entry) this.remember(entry);
      } catch (err) {
        this.log.debug("cannot read job state; treating the job as running", {
          key,
          error: errorMessage(err),
        });
      }
      known = this.known.get(key);
    }
    return known?.state === "CANCELLED";
  }

  stop(): void {
    this.stopped = true;
    this.stopWatch?.();
  }

  private async watch(): Promise<void> {
    const iter = await this.kv.watch({ key: "job.*" });
    this.stopWatch = () => iter.stop();
    void (async () => {
      try {
        for await (const entry of iter) this.remember(entry);
      } catch (err) {
        if (!this.stopped) this.log.warn("job state watch ended", { error: errorMessage(err) });
      }
    })();
  }

  private remember(entry: KvEntry): void {
    const have = this.known.get(entry.key);
    if (have && have.revision > entry.revision) return;
    if (entry.operation !== "PUT") {
      this.known.set(entry.key, { state: undefined, revision: entry.revision });
      return;
    }
    let state: JobStateName | undefined;
    try {
      state = entry.json<Partial<JobRecord>>().state;
    } catch {
      state = undefined;
    }
    this.known.set(entry.key, { state, revision: entry.revision });
  }
}
