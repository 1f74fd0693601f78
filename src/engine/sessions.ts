/** The ONNX sessions a model family names, created side by side; all released if one fails. */
import type { Device, SessionTuning } from "./device.js";
import { sessionOptions } from "./device.js";
import { providerLoadFailure, requireExecutionProvider } from "./execution-providers.js";
import { folderSessions } from "./families/index.js";
import type { ModelFolder } from "./families/types.js";
import { OnnxModel } from "./onnx-model.js";

export async function loadFamilySessions(
  folder: ModelFolder,
  device: Device,
  tuning: SessionTuning = {},
): Promise<Map<string, OnnxModel>> {
  requireExecutionProvider(device);
  const options = sessionOptions(device, tuning);
  const names = folderSessions(folder);
  const loaded = await Promise.allSettled(
    names.map((n) => OnnxModel.load(`${folder.dir}/${n}/model.onnx`, options)),
  );
  const failed = loaded.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    // The sessions that did load hold device memory: released. The first failure in this order is
    // reported, so the same folder always gets the same message.
    await releaseSessions(loaded.flatMap((r) => (r.status === "fulfilled" ? [r.value] : [])));
    const reason: unknown = failed.reason;
    throw providerLoadFailure(reason instanceof Error ? (reason.cause ?? reason) : reason, device) ?? reason;
  }
  return new Map(names.map((n, i) => [n, (loaded[i] as PromiseFulfilledResult<OnnxModel>).value]));
}

export async function releaseSessions(models: Iterable<OnnxModel>): Promise<void> {
  for (const m of models) await m.release().catch(() => undefined);
}
