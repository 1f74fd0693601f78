/** Shared pieces of the engine tests on fixture folders: a sample request, image and tensor comparisons, a folder's parts. */
import { join } from "node:path";
import { expect } from "vitest";
import type { SampleRequest } from "../../src/common/contract/sample.js";
import { type Device, sessionOptions } from "../../src/engine/device.js";
import { type FamilyParts, folderSessions } from "../../src/engine/families/index.js";
import { readModelFolder } from "../../src/engine/model-folder.js";
import { OnnxModel } from "../../src/engine/onnx-model.js";

/** A 64x64 request for a red circle, seed 1, guidance 4; `over` changes any field. */
export function sampleRequest(over: Partial<SampleRequest> = {}): SampleRequest {
  return {
    prompt: "a red circle on a white background",
    negativePrompt: "",
    seed: 1,
    steps: 3,
    guidanceScale: 4,
    scheduler: "euler",
    width: 64,
    height: 64,
    ...over,
  };
}

export function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Largest |a - b| / (1 + |b|) over the arrays: absolute near zero, relative for large values. */
export function worstError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return worst;
}

/** The family parts of a model folder, its sessions loaded on `device`; release frees the sessions. */
export async function assembleFolderParts(
  dir: string,
  device: Device,
): Promise<{ parts: FamilyParts; release: () => Promise<void> }> {
  const folder = await readModelFolder(dir);
  const options = sessionOptions(device, {});
  const names = folderSessions(folder);
  const models = await Promise.all(
    names.map((n) => OnnxModel.load(join(folder.dir, n, "model.onnx"), options)),
  );
  const parts = await folder.family.assemble(folder, new Map(names.map((n, i) => [n, models[i]])));
  return { parts, release: async () => void (await Promise.all(models.map((m) => m.release()))) };
}
