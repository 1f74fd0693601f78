/**
 * The model families, asked in order. A folder is matched from model_index.json (`_class_name` and the
 * components it lists); each family then checks the sessions' own inputs and outputs when it wires them
 * (its <family>-parts.ts, loaded then: a files-only check loads no ONNX Runtime or tokenizer code).
 */
import { LatentFleetError } from "../../common/errors.js";
import { fluxFamily } from "./flux.js";
import { sdFamily } from "./sd.js";
import { sd3Family } from "./sd3.js";
import { sdxlFamily } from "./sdxl.js";
import type { ModelFamily, ModelFolder, ModelIndex } from "./types.js";

export { fluxFamily } from "./flux.js";
export { sdFamily } from "./sd.js";
export { sd3Family } from "./sd3.js";
export { sdxlFamily } from "./sdxl.js";
export type * from "./types.js";

export const FAMILIES: readonly ModelFamily[] = [sd3Family, fluxFamily, sdxlFamily, sdFamily];

/** The components model_index.json lists (keys whose value is a [library, class] pair, not null). */
export function listedComponents(index: ModelIndex): string[] {
  return Object.entries(index)
    .filter(([k, v]) => !k.startsWith("_") && Array.isArray(v) && v.length === 2 && v[1] !== null)
    .map(([k]) => k);
}

/** The components a folder's sessions are created for: the family's, plus its optional ones the index lists. */
export function folderSessions(folder: Pick<ModelFolder, "family" | "index">): string[] {
  const listed = listedComponents(folder.index);
  return [
    ...folder.family.sessions,
    ...(folder.family.optionalSessions ?? []).filter((c) => listed.includes(c)),
  ];
}

/** Refiners and image-to-image pipelines condition on an input image (and an aesthetic score). */
function refusal(index: ModelIndex, dir: string): string | undefined {
  const cls = typeof index._class_name === "string" ? index._class_name : "";
  if (/Img2Img|Inpaint|Refiner/i.test(cls) || index.requires_aesthetics_score === true) {
    return `${dir}: ${cls || "this pipeline"}${index.requires_aesthetics_score === true ? " (requires_aesthetics_score)" : ""} is an image-to-image model such as the SDXL refiner; Latent Fleet generates from text only: use a text-to-image export (SDXL base, SDXL-Turbo)`;
  }
  return undefined;
}

/** The family of a folder, or MODEL_INVALID saying what was found and what each family needs. */
export function detectFamily(index: ModelIndex, dir: string): ModelFamily {
  const refused = refusal(index, dir);
  if (refused) throw new LatentFleetError("MODEL_INVALID", refused);
  const family = FAMILIES.find((f) => f.claims(index));
  if (family) return family;
  const found = listedComponents(index);
  const cls = typeof index._class_name === "string" ? `${index._class_name}, ` : "";
  throw new LatentFleetError(
    "MODEL_INVALID",
    `${dir}: no supported model family: model_index.json lists ${cls}${found.join(", ") || "no components"}; ` +
      FAMILIES.map((f) => `${f.name} needs ${f.sessions.join(", ")}`).join("; "),
  );
}
