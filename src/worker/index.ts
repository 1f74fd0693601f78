/** The worker role: one process per GPU (worker.ts wires it). Its inner modules are not imported from outside. */

export {
  DEFAULT_BATCH_SIZE,
  type RunningWorker,
  startWorker,
  type WorkerEngine,
  type WorkerOptions,
} from "./worker.js";
