/** The model description a stand-in engine (bench/dispatch/stand-in-engine.ts) reports, read from a folder. */
import { readModelFolder } from "../../src/worker/engine/model-folder.js";
import type { ModelDescription } from "../../src/worker/engine/pipeline.js";
import { defaultSchedulerName } from "../../src/worker/engine/schedulers/index.js";

export async function describeModel(modelDir: string): Promise<ModelDescription> {
  const folder = await readModelFolder(modelDir);
  return {
    name: folder.name,
    dir: folder.dir,
    defaultScheduler: defaultSchedulerName(folder.schedulerConfig),
    nativeSize: folder.nativeSize,
    vaeScale: folder.vaeScale,
    latentChannels: 4,
    guidanceDistilled: folder.timeCondProjDim !== undefined,
  };
}
