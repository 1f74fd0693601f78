/** The worker: one process per GPU (see worker.ts for the wiring, task-runner.ts for the NATS protocol). */

export { createLogger, type Logger, silentLogger } from "../common/log.js";
export { type BatchEngine, Batcher, type BatchJob, type EngineImage, type SampleOutcome } from "./batcher.js";
export { startWorkerGrpc, WORKER_SERVICE_NAME } from "./grpc-service.js";
export { resolveSample } from "./resolve.js";
export { ImageSink } from "./sink.js";
export { type RunnerState, TaskRunner } from "./task-runner.js";
export {
  DEFAULT_BATCH_SIZE,
  type RunningWorker,
  startWorker,
  type WorkerEngine,
  type WorkerOptions,
} from "./worker.js";
