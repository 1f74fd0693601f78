/** LCM's guidance embedding as a denoiser input (timestep_cond), for any family whose UNet takes it. */
import type { SampleRequest } from "../../common/contract/sample.js";
import { guidanceEmbedding, type UNetModel } from "../unet.js";
import type { ExtraInput } from "./types.js";

/** One embedding per denoiser row (row r belongs to request r mod batch); undefined without timestep_cond. */
export function timestepCondInput(
  unet: UNetModel,
  fallbackDim: number | undefined,
  requests: SampleRequest[],
  rows: number,
): ExtraInput | undefined {
  const dim = unet.timestepCondDim ?? fallbackDim;
  if (!unet.timestepCond || dim === undefined) return undefined;
  const data = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    data.set(guidanceEmbedding(requests[r % requests.length].guidanceScale, dim), r * dim);
  }
  return { data, dims: [rows, dim] };
}
