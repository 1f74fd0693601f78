/**
 * The Coordinator gRPC service (proto/latentfleet/v1/coordinator.proto) over a JobManager.
 *
 * Status codes (the table of error policies, common/errors.ts): INVALID_ARGUMENT for a bad spec (with the
 * manifest's message: what to fix, where) or a bad request, NOT_FOUND for an unknown job, PERMISSION_DENIED
 * for a path outside --allow-path, UNAVAILABLE when NATS does not answer, INTERNAL otherwise.
 * Deadlines: grpc-js cancels a call whose deadline passed; SubmitJob then drops what was uploaded and
 * creates nothing, WatchJob stops its timers.
 */
import { type ServerErrorResponse, type ServiceError, status } from "@grpc/grpc-js";
import { parseFailureTolerance } from "../common/contract/failure-tolerance.js";
import { isLatentFleetError, LatentFleetError } from "../common/errors.js";
import { type BadRequest, badRequestMessage, isBadRequest } from "../common/grpc/request-check.js";
import { toGrpcStatus } from "../common/grpc/status.js";
import { errorMessage, type Logger } from "../common/log.js";
import { isNatsUnreachable } from "../common/nats/index.js";
import type { CoordinatorHandlers } from "../common/proto/generated/latentfleet/v1/Coordinator.js";
import type { JobSpecFile } from "../common/proto/generated/latentfleet/v1/JobSpecFile.js";
import type { SubmitJobChunk } from "../common/proto/generated/latentfleet/v1/SubmitJobChunk.js";
import { coordinatorProto } from "../common/proto/load.js";
import { isPromptsFile, type SpecInput } from "../manifest/index.js";
import type { JobManager } from "./job-manager.js";
import { type JobSnapshot, snapshotsDiffer, toProtoJob } from "./job-snapshot.js";
import { isFinalState } from "./job-store.js";
import { UploadSpool } from "./uploads.js";

export const COORDINATOR_SERVICE_NAME = "latentfleet.v1.Coordinator";

export interface CoordinatorServiceOptions {
  log: Logger;
  /** Least time between two WatchJob updates (default 250 ms: at most 4 a second). */
  watchIntervalMs?: number;
  /** WatchJob also checks the job this often, e.g. for jobs another coordinator runs (default 1 s). */
  watchPollMs?: number;
}

/**
 * The error as a gRPC status, from the table of error policies. A NATS client error of a server that did
 * not answer (by its type, see isNatsUnreachable) is NATS_UNAVAILABLE; INTERNAL details name the code.
 */
export function toGrpcError(err: unknown): Partial<ServiceError> & ServerErrorResponse {
  const e =
    !isLatentFleetError(err) && isNatsUnreachable(err)
      ? new LatentFleetError("NATS_UNAVAILABLE", `NATS did not answer: ${errorMessage(err)}`, { cause: err })
      : err;
  const message = errorMessage(e);
  const code = toGrpcStatus(e);
  const details = code === status.INTERNAL && isLatentFleetError(e) ? `${message} [${e.code}]` : message;
  return { name: "Error", message, code, details };
}

function invalid(message: string): LatentFleetError {
  return new LatentFleetError("INVALID_ARGUMENT", message);
}

function requireJobId(jobId: string): string {
  if (!jobId) throw invalid("job_id is empty");
  return jobId;
}

export function coordinatorService(manager: JobManager, opts: CoordinatorServiceOptions) {
  const log = opts.log;
  const watchIntervalMs = opts.watchIntervalMs ?? 250;
  const watchPollMs = opts.watchPollMs ?? 1000;

  const unary = <T>(
    work: () => Promise<T>,
    callback: (err: ServerErrorResponse | null, value?: T) => void,
  ) => {
    work().then(
      (value) => callback(null, value),
      (err: unknown) => {
        const e = toGrpcError(err);
        if (e.code === status.INTERNAL || e.code === status.UNAVAILABLE) log.error("request failed", { err });
        callback(e);
      },
    );
  };

  const implementation: CoordinatorHandlers = {
    SubmitJob(call, callback) {
      unary(async () => {
        let specFile: JobSpecFile | null = null;
        let spool: UploadSpool | null = null;
        try {
          for await (const chunk of call as AsyncIterable<SubmitJobChunk | BadRequest>) {
            if (isBadRequest(chunk)) throw invalid(badRequestMessage(chunk));
            if (chunk.part === "spec" && chunk.spec) {
              if (specFile) throw invalid("the spec was sent twice; send it once, first");
              specFile = chunk.spec;
            } else if (chunk.part === "file" && chunk.file) {
              if (!specFile) throw invalid("the first message must be the spec, before any source file");
              spool ??= await UploadSpool.create();
              await spool.write(chunk.file.path, chunk.file.data, chunk.file.last);
            }
          }
          if (!specFile) throw invalid("no spec was sent");
          if (call.cancelled) throw invalid("the call was cancelled");
          const name = specFile.name || "spec.yaml";
          const spec: SpecInput =
            specFile.content.length === 0 && isPromptsFile(name) ? name : { name, content: specFile.content };
          const jobId = await manager.submit({
            spec,
            ...(specFile.output ? { output: specFile.output } : {}),
            ...(specFile.overwrite ? { overwrite: true } : {}),
            ...(specFile.max_failed ? { maxFailed: parseFailureTolerance(specFile.max_failed) } : {}),
            ...(spool ? { files: spool } : {}),
          });
          return { job_id: jobId };
        } finally {
          await spool?.discard();
        }
      }, callback);
    },

    GetJob(call, callback) {
      unary(async () => toProtoJob(await manager.get(requireJobId(call.request.job_id))), callback);
    },

    CancelJob(call, callback) {
      unary(async () => {
        const job = await manager.cancel(requireJobId(call.request.job_id));
        log.info("job cancelled", { job: job.jobId });
        return toProtoJob(job);
      }, callback);
    },

    ListJobs(_call, callback) {
      unary(async () => ({ jobs: (await manager.list()).map(toProtoJob) }), callback);
    },

    WatchJob(call) {
      const jobId = call.request.job_id;
      let last: JobSnapshot | null = null;
      let lastSentAt = 0;
      let timer: NodeJS.Timeout | null = null;
      let busy = false;
      let again = false;
      /** The job ended: that goes out at once, not after the progress throttle. */
      let hurry = false;
      let closed = false;
      let unsubscribe: (() => void) | null = null;

      /** Ends the stream: OK, with an error status, or (the client went away) not at all. */
      const close = (err?: unknown, cancelled = false) => {
        if (closed) return;
        closed = true;
        if (timer) clearTimeout(timer);
        clearInterval(poll);
        unsubscribe?.();
        if (cancelled) return;
        if (err === undefined) call.end();
        else call.emit("error", toGrpcError(err));
      };

      const send = async () => {
        timer = null;
        if (closed) return;
        if (busy) {
          again = true;
          return;
        }
        busy = true;
        try {
          const snap = await manager.get(requireJobId(jobId));
          if (closed) return;
          unsubscribe ??= manager.subscribe(jobId, changed);
          if (!last || snapshotsDiffer(last, snap)) {
            call.write(toProtoJob(snap));
            last = snap;
            lastSentAt = Date.now();
          }
          if (isFinalState(snap.state)) close();
        } catch (err) {
          close(err);
        } finally {
          busy = false;
          if (again && !closed) {
            again = false;
            schedule();
          }
        }
      };

      function schedule(): void {
        if (closed) return;
        if (hurry) {
          if (timer) clearTimeout(timer);
          timer = setTimeout(() => void send(), 0);
          return;
        }
        if (timer) return;
        timer = setTimeout(() => void send(), Math.max(0, watchIntervalMs - (Date.now() - lastSentAt)));
      }

      /**
       * The job changed: progress waits for the throttle; the end (the watcher exits on it) does not, once
       * the job has also cleaned up and let go (no longer live: that follows its last change at once).
       */
      function changed(): void {
        schedule();
        void manager.get(jobId).then(
          (snap) => {
            if (!isFinalState(snap.state) || manager.isLive(jobId) || hurry) return;
            hurry = true;
            schedule();
          },
          () => undefined,
        );
      }

      const poll = setInterval(schedule, watchPollMs);
      call.on("cancelled", () => close(undefined, true));
      void send();
    },
  };

  return {
    name: COORDINATOR_SERVICE_NAME,
    definition: coordinatorProto().latentfleet.v1.Coordinator.service,
    implementation,
  };
}
