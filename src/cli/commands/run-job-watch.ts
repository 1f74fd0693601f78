/**
 * How `run` follows its job: connects to the coordinator once it serves (failing at once when a child
 * exits first), and watches the job to its end across the coordinator's restarts. Their code (gRPC and
 * protobuf are much of `run`'s) loads while the processes start.
 */
import { isLatentFleetError, LatentFleetError } from "../../common/errors.js";
import type { Job } from "../../common/proto/generated/latentfleet/v1/Job.js";
import type { CoordinatorClient } from "../coordinator-client.js";
import type { ChildFailure } from "../supervisor.js";
import type { ChildFailureReport } from "./run-failures.js";

/** Watching the job again after the coordinator went away: tries, 0.5 s apart (a minute in all). */
const REWATCH_ATTEMPTS = 120;
const REWATCH_PAUSE_MS = 500;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Follows the job until it ends. When the coordinator goes away before that, watches again once its restart
 * serves (it resumes the job from NATS); a coordinator that is not restarted ends the run through the
 * supervisor's `failed`, which aborts `signal`.
 */
export async function watchUntilEnd(
  client: CoordinatorClient,
  isFinalJobState: (state: Job["state"]) => boolean,
  jobId: string,
  signal: AbortSignal,
  onJob: (job: Job) => void,
): Promise<void> {
  let final = false;
  for (let attempt = 1; ; attempt++) {
    try {
      for await (const job of client.watchJob(jobId, { signal })) {
        onJob(job);
        final = isFinalJobState(job.state);
        attempt = 1;
      }
      if (signal.aborted || final) return;
    } catch (err) {
      if (!isLatentFleetError(err) || err.code !== "COORDINATOR_UNAVAILABLE") throw err;
    }
    if (attempt >= REWATCH_ATTEMPTS) {
      throw new LatentFleetError(
        "COORDINATOR_UNAVAILABLE",
        "lost the job's progress: the coordinator did not come back",
      );
    }
    await sleep(REWATCH_PAUSE_MS);
    if (signal.aborted) return;
  }
}

/**
 * Connects once the coordinator serves; fails at once when it exits first (NATS refused it, say: its log
 * tail, shown on failure, says why) or on Ctrl-C.
 */
export async function connectCoordinator(
  client: typeof CoordinatorClient,
  address: string,
  failed: Promise<ChildFailure>,
  failures: ChildFailureReport,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<CoordinatorClient> {
  const deadline = Date.now() + timeoutMs;
  let failure: ChildFailure | undefined;
  void failed.then((f) => {
    failure = f;
  });
  for (;;) {
    try {
      return await client.connect(address, { connectTimeoutMs: 1_000 });
    } catch (err) {
      if (failure?.name === "coordinator") {
        throw new LatentFleetError(
          "PROCESS_FAILED",
          `the coordinator ${failure.how} before it served its gRPC API`,
        );
      }
      if (failure) throw await failures.error(failure);
      if (signal.aborted || Date.now() >= deadline) throw err;
    }
  }
}

/**
 * The coordinator's gRPC client and the job's progress lines: what `run` needs once the processes are
 * started, not before (gRPC and protobuf are much of its code).
 */
export async function loadClientCode() {
  const [client, lines, view] = await Promise.all([
    import("../coordinator-client.js"),
    import("./jobs-client.js"),
    import("./progress-view.js"),
  ]);
  return {
    CoordinatorClient: client.CoordinatorClient,
    isFinalJobState: client.isFinalJobState,
    formatJobLine: lines.formatJobLine,
    reuseLine: lines.reuseLine,
    toleranceSource: lines.toleranceSource,
    createProgressView: view.createProgressView,
  };
}
