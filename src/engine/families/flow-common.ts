/** What the flow-matching transformer families (SD3, FLUX) share: claims, shift wording, size checks (T5 loading: t5-branch.ts). */
import { LatentFleetError } from "../../common/errors.js";
import { resolveFlowMatchConfig } from "../schedulers/index.js";
import type { ModelFolder, ModelIndex } from "./types.js";

/** The diffusers class model_index.json gives a component (["diffusers", "SD3Transformer2DModel"]). */
export function componentClass(index: ModelIndex, component: string): string {
  const v = index[component];
  return Array.isArray(v) && typeof v[1] === "string" ? v[1] : "";
}

/** A folder is the family's when its pipeline class matches `pipeline` or its transformer is `transformerClass`. */
export function claimsByClass(index: ModelIndex, pipeline: RegExp, transformerClass: string): boolean {
  const cls = typeof index._class_name === "string" ? index._class_name : "";
  return pipeline.test(cls) || componentClass(index, "transformer") === transformerClass;
}

/** The scheduler's σ shift as model check prints it. */
export function shiftDescription(config: Record<string, unknown>): string {
  const c = resolveFlowMatchConfig(config);
  if (!c.use_dynamic_shifting) return `static shift ${c.shift}`;
  return `dynamic shift: mu from the image tokens, ${c.base_shift} at ${c.base_image_seq_len} to ${c.max_shift} at ${c.max_image_seq_len} (${c.time_shift_type})`;
}

/** Both families cut the latents into 2x2 patches: width and height must be multiples of 2·vaeScale. */
export function checkPatchSize(folder: ModelFolder, width: number, height: number): void {
  const side = 2 * folder.vaeScale;
  if (width % side !== 0 || height % side !== 0) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `${folder.family.name} takes width and height in multiples of ${side} (2x2 latent patches); got ${width}x${height}`,
    );
  }
}

/** Rows [n, width] of the pooled vectors, zeros where a row has none. */
export function pooledRows(rows: { pooled: Float32Array | undefined }[], width: number): Float32Array {
  const out = new Float32Array(rows.length * width);
  rows.forEach((r, i) => {
    if (r.pooled) out.set(r.pooled, i * width);
  });
  return out;
}
