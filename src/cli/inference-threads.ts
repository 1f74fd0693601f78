import { availableParallelism } from "node:os";

/**
 * The intra-op thread count `run` gives each of its local workers when --threads is not set. One worker: none,
 * so ONNX Runtime sizes its pool itself (its physical cores). Several: the cores split between them, so they
 * do not all claim every core.
 */
export function runWorkerThreads(workers: number, cores = availableParallelism()): number | undefined {
  return workers > 1 ? Math.max(1, Math.floor(cores / workers)) : undefined;
}
