import type { SampleRequest } from "../common/contract/sample.js";

/** Samples with the same key can share one UNet batch: same shape, steps, scheduler and guidance mode. */
export function batchKey(req: SampleRequest, usesCfg: (req: SampleRequest) => boolean): string {
  return `${req.width}x${req.height}/${req.steps}/${req.scheduler}/${usesCfg(req) ? "cfg" : "nocfg"}`;
}
