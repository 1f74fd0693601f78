/**
 * The model check of job-checks.ts, apart: a worker, which has no spec, checks its model without loading
 * the manifest's code.
 */
import type { SchedulerName } from "../common/contract/schedulers.js";
import { parseDevice } from "../engine/device.js";
import { requireExecutionProvider } from "../engine/execution-providers.js";
import { checkModelFolder, type ModelReport } from "../engine/model-check.js";

/**
 * The model folder as the workers will load it, and the device's provider when the device is known here
 * (`submit` leaves it to the workers). The one place that decides what "a usable model" means before a start.
 */
export async function checkModel(
  dir: string,
  device?: string,
  scheduler?: SchedulerName,
): Promise<ModelReport> {
  // Files and configs only: the sessions are the workers' to create (a real SDXL is gigabytes).
  const model = await checkModelFolder(dir, { sessions: false, ...(scheduler ? { scheduler } : {}) });
  if (device !== undefined) requireExecutionProvider(parseDevice(device));
  return model;
}
