/**
 * Starts a worker thread from a module next to the caller. Built code runs the .js file directly; under
 * the test runner the sources are .ts, and a small bootstrap registers the TypeScript loader first.
 * Thread modules take their settings from their first message, not from workerData, so both paths match.
 */
import { fileURLToPath } from "node:url";
import { Worker, type WorkerOptions } from "node:worker_threads";

export function startThread(
  callerUrl: string,
  moduleBaseName: string,
  options: Omit<WorkerOptions, "workerData"> = {},
): Worker {
  const fromSource = callerUrl.endsWith(".ts");
  const entry = new URL(`./${moduleBaseName}${fromSource ? ".ts" : ".js"}`, callerUrl);
  if (!fromSource) return new Worker(entry, options);
  const boot = new URL("../../scripts/ts-thread-boot.mjs", import.meta.url);
  return new Worker(fileURLToPath(boot), { ...options, workerData: { entry: entry.href } });
}
