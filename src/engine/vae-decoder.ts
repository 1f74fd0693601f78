import { floatTensor, type OnnxModel, readFloats, type TensorInfo } from "./onnx-model.js";

/** The VAE decoder: latent_sample [B,C,h,w] (already divided by the scaling factor) to sample [B,3,H,W] in [-1, 1]. */
export class VaeDecoderModel {
  private readonly latent: TensorInfo;
  private readonly outputName: string;

  constructor(private readonly model: OnnxModel) {
    this.latent = model.requireInput("latent_sample");
    this.outputName = model.outputName("sample");
  }

  async decode(
    latents: Float32Array,
    dims: readonly [number, number, number, number],
  ): Promise<Float32Array> {
    return readFloats(
      await this.model.run({ [this.latent.name]: floatTensor(this.latent, latents, dims) }, this.outputName),
    );
  }

  /**
   * Denoised latents to pixels as diffusers decodes them: latents / scaling_factor + shift_factor (SD3 and
   * FLUX have a shift; SD and SDXL 0). Works in place on `latents`.
   */
  async decodeScaled(
    latents: Float32Array,
    dims: readonly [number, number, number, number],
    scalingFactor: number,
    shiftFactor: number,
  ): Promise<Float32Array> {
    const inv = 1 / scalingFactor;
    for (let i = 0; i < latents.length; i++) latents[i] = latents[i] * inv + shiftFactor;
    return this.decode(latents, dims);
  }
}

/** NaN would silently become black pixels; a float16 SDXL VAE overflowing is the usual cause. */
export const NAN_PIXELS_WARNING =
  "the VAE decoded NaN pixels (written as black): a float16 VAE overflowing? see docs/models.md, float16 or float32";

/**
 * NCHW floats in [-1, 1] to packed 8-bit RGB (HWC), one image per entry. With `nanImages`, entry b is set
 * to whether image b had a NaN value (written as 0), found in the same pass.
 */
export function toRgbImages(
  pixels: Float32Array,
  batch: number,
  height: number,
  width: number,
  nanImages?: boolean[],
): Uint8Array[] {
  const plane = height * width;
  const images: Uint8Array[] = [];
  for (let b = 0; b < batch; b++) {
    const rgb = new Uint8Array(plane * 3);
    const r = b * 3 * plane;
    const g = r + plane;
    const bl = g + plane;
    let nan = false;
    // Pixel by pixel, so the bytes are written in order.
    for (let p = 0, q = 0; p < plane; p++, q += 3) {
      const x = pixels[r + p];
      const y = pixels[g + p];
      const z = pixels[bl + p];
      if (Number.isNaN(x) || Number.isNaN(y) || Number.isNaN(z)) nan = true;
      rgb[q] = toByte(x);
      rgb[q + 1] = toByte(y);
      rgb[q + 2] = toByte(z);
    }
    if (nanImages) nanImages[b] = nan;
    images.push(rgb);
  }
  return images;
}

/**
 * The batch's NCHW floats as one array per image, each with its own buffer, so that each can be moved to
 * another thread alone. A batch of one that owns its buffer (the decoder's output) is handed over as it is.
 */
export function splitImages(pixels: Float32Array, batch: number, imageSize: number): Float32Array[] {
  if (batch === 1 && pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength)
    return [pixels];
  return Array.from({ length: batch }, (_, b) => pixels.slice(b * imageSize, (b + 1) * imageSize));
}

/**
 * [-1, 1] to 0..255, halves rounded up as Math.round does (NaN gives 0). `(v + 0.5) | 0` is that rounding
 * at a sixth of Math.round's cost here: for a float32 x, v has so few significant bits that v + 0.5 is
 * exact, so no value just below a half is carried up (test/engine/rgb-images.test.ts checks every
 * boundary's neighbours).
 */
function toByte(x: number): number {
  const v = (x + 1) * 127.5;
  return v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
}
