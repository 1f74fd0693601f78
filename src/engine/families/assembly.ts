/** What every family's assemble step uses: a model error and a session that must have been loaded. */
import { LatentFleetError } from "../../common/errors.js";
import type { OnnxModel } from "../onnx-model.js";

export function invalid(message: string): LatentFleetError {
  return new LatentFleetError("MODEL_INVALID", message);
}

export function requireSession(
  sessions: ReadonlyMap<string, OnnxModel>,
  name: string,
  family: string,
): OnnxModel {
  const s = sessions.get(name);
  if (!s) throw new LatentFleetError("ENGINE_FAILED", `${family} family: ${name} not loaded`);
  return s;
}
