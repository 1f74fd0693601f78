/**
 * The worker's gRPC service (proto/latentfleet/v1/worker.proto) on the shared server helper, which adds
 * the standard health service (NOT_SERVING once the worker drains) and reflection.
 *
 * - Info: who the worker is and how much it has done.
 * - Drain: stops pulling, finishes the batch in hand, hands the rest back; answers once that is done,
 *   with the number of tasks handed back.
 * - Generate: up to 16 images of one prompt, seeds seed..seed+count-1, one message per image as soon as it
 *   is made. The samples go through the same batcher as tasks, so they share batches with them and are
 *   bounded by the batch size. Defaults for a bare request: 1 image, 20 steps, the model's scheduler and
 *   native size; guidance 0 (proto3 cannot tell it from unset) turns guidance off.
 */
import { performance } from "node:perf_hooks";
import { type ServerErrorResponse, type ServerWritableStream, status } from "@grpc/grpc-js";
import { float32ToDecimal } from "../common/contract/floats.js";
import type { SampleRequest } from "../common/contract/sample.js";
import { MAX_SEED, parseSeed } from "../common/contract/seed.js";
import { LatentFleetError } from "../common/errors.js";
import { type GrpcServerHandle, startGrpcServer } from "../common/grpc/server.js";
import { grpcStatusOf, toGrpcStatus } from "../common/grpc/status.js";
import type { GrpcServerTls } from "../common/grpc/tls.js";
import { errorMessage, type Logger, silentLogger } from "../common/log.js";
import type { GeneratedImage__Input } from "../common/proto/generated/latentfleet/v1/GeneratedImage.js";
import type { GenerateRequest } from "../common/proto/generated/latentfleet/v1/GenerateRequest.js";
import type { WorkerHandlers } from "../common/proto/generated/latentfleet/v1/Worker.js";
import type { WorkerInfo__Input } from "../common/proto/generated/latentfleet/v1/WorkerInfo.js";
import { workerProto } from "../common/proto/load.js";
import type { ModelDescription } from "../engine/pipeline.js";
import type { Batcher } from "./batcher.js";
import { resolveSample } from "./resolve.js";
import type { EngineImage, SampleOutcome } from "./submission.js";

export const WORKER_SERVICE_NAME = "latentfleet.v1.Worker";
export const MAX_GENERATE_COUNT = 16;
export const GENERATE_DEFAULT_STEPS = 20;

export interface WorkerServiceDeps {
  info(): WorkerInfo__Input;
  /** Drains the worker; resolves with the tasks handed back. */
  drain(): Promise<number>;
  /** False once the worker drains: Generate is refused. */
  accepting(): boolean;
  batcher: Batcher;
  /** An image as PNG bytes, encoded off the main thread. */
  encodePng(image: EngineImage): Promise<Buffer>;
  model: Pick<ModelDescription, "defaultScheduler" | "nativeSize" | "vaeScale">;
  log?: Logger;
}

/** A gRPC error with a status code. */
function grpcError(code: status, details: string): ServerErrorResponse {
  return Object.assign(new Error(details), { code, details });
}

/** The error as a gRPC error: its status from the table of error policies, its message as the details. */
function grpcErrorOf(err: unknown): ServerErrorResponse {
  return grpcError(toGrpcStatus(err), errorMessage(err));
}

/** A bad Generate request. */
function invalid(message: string): LatentFleetError {
  return new LatentFleetError("INVALID_ARGUMENT", message);
}

/** The requests of a Generate call; throws an INVALID_ARGUMENT error for a bad request. */
export function generateRequests(req: GenerateRequest, model: WorkerServiceDeps["model"]): SampleRequest[] {
  const count = req.count === 0 ? 1 : req.count;
  // As in a job's manifest: an empty prompt is a missing field (or one of the wrong type), not a request.
  if (req.prompt.trim() === "") throw invalid("prompt is missing or empty");
  if (count > MAX_GENERATE_COUNT) throw invalid(`count must be at most ${MAX_GENERATE_COUNT}, got ${count}`);
  const seed = parseSeed(req.seed);
  if (seed + count - 1 > MAX_SEED) throw invalid(`seed + count - 1 must be at most ${MAX_SEED}`);
  return Array.from({ length: count }, (_, k) =>
    resolveSample(
      {
        prompt: req.prompt,
        negative_prompt: req.negative_prompt,
        seed: seed + k,
        steps: req.steps === 0 ? GENERATE_DEFAULT_STEPS : req.steps,
        // A proto float, as in a task: the decimal the caller wrote.
        guidance_scale: float32ToDecimal(req.guidance_scale),
        scheduler: req.scheduler,
        width: req.width,
        height: req.height,
      },
      model,
    ),
  );
}

export function workerService(deps: WorkerServiceDeps): WorkerHandlers {
  const log = deps.log ?? silentLogger;
  return {
    Info: (_call, callback) => {
      callback(null, deps.info());
    },
    Drain: (_call, callback) => {
      deps.drain().then(
        (released) => callback(null, { tasks_released: released }),
        (err: unknown) => callback(grpcError(status.INTERNAL, `drain failed: ${errorMessage(err)}`)),
      );
    },
    Generate: (call: ServerWritableStream<GenerateRequest, GeneratedImage__Input>) => {
      const fail = (err: ServerErrorResponse) => {
        call.emit("error", err);
      };
      if (!deps.accepting()) {
        fail(
          grpcError(status.FAILED_PRECONDITION, "the worker is draining; send Generate to another worker"),
        );
        return;
      }
      let requests: SampleRequest[];
      try {
        requests = generateRequests(call.request, deps.model);
      } catch (err) {
        fail(grpcErrorOf(err));
        return;
      }
      const started = performance.now();
      // Images are encoded on the PNG threads, several at once, and written in the order they came from the
      // engine (a quicker encode does not overtake). `done` waits for the writes: the stream ends after them.
      let written: Promise<void> = Promise.resolve();
      const submission = deps.batcher.submit(requests, {
        onSample: (i, outcome) => {
          if (!outcome.ok || call.cancelled) return;
          const encoding = deps.encodePng(outcome.image);
          written = written.then(async () => {
            const png = await encoding;
            if (call.cancelled) return;
            call.write({
              seed: String(requests[i].seed),
              png,
              seconds: (performance.now() - started) / 1000,
            });
          });
          return written;
        },
      });
      submission.done.then(
        (outcomes: SampleOutcome[]) => {
          const bad = outcomes.find((o): o is Extract<SampleOutcome, { ok: false }> => !o.ok);
          if (call.cancelled) return;
          if (bad) fail(grpcError(grpcStatusOf(bad.code), bad.message));
          else call.end();
        },
        (err: unknown) => {
          log.warn("Generate failed", { error: errorMessage(err) });
          if (!call.cancelled) fail(grpcErrorOf(err));
        },
      );
    },
  };
}

/** The health service name for liveness probes: SERVING as long as the process serves at all. */
export const WORKER_LIVENESS_SERVICE = "liveness";

export interface WorkerGrpcServer {
  port: number;
  /** Health of the server and the Worker service: SERVING, or NOT_SERVING while draining. */
  setServing(serving: boolean): void;
  stop(graceMs?: number): Promise<void>;
}

/**
 * Serves the Worker service, health and reflection on `address` (HOST:PORT; port 0 picks a free one), over
 * TLS when `tls` is given.
 */
export async function startWorkerGrpc(
  address: string,
  deps: WorkerServiceDeps,
  tls?: GrpcServerTls,
): Promise<WorkerGrpcServer> {
  const handle: GrpcServerHandle = await startGrpcServer(
    address,
    [
      {
        definition: workerProto().latentfleet.v1.Worker.service,
        implementation: workerService(deps),
        name: WORKER_SERVICE_NAME,
      },
    ],
    "worker",
    tls,
  );
  // Liveness stays SERVING while draining: a drained worker is idle on purpose, not stuck.
  handle.setServing(WORKER_LIVENESS_SERVICE, "SERVING");
  return {
    port: handle.port,
    setServing: (serving) => {
      const s = serving ? "SERVING" : "NOT_SERVING";
      handle.setServing("", s);
      handle.setServing(WORKER_SERVICE_NAME, s);
    },
    stop: (graceMs) => handle.stop(graceMs),
  };
}
