/**
 * The per-sample random stream. An image depends only on its own seed, never on its batch, its worker
 * or its retry, because every sample owns one stream and draws from it in a fixed order.
 *
 * Algorithm (stable across versions; changing it changes every image of every dataset):
 * - the seed is an integer in [0, 2^53 - 1]; splitmix64 applied to it four times gives the 128-bit
 *   state of xoshiro128** (the low 32 bits of each output, re-drawn if the state would be all zero);
 * - uniforms are u = (next() + 0.5) / 2^32, in (0, 1);
 * - normals come in pairs by Box-Muller: r = sqrt(-2 ln u1), z0 = r cos(2 pi u2), z1 = r sin(2 pi u2);
 * - the initial latents are the first C*h*w normals, in NCHW order; ancestral or LCM noise follows,
 *   C*h*w normals per step that needs it, in step order.
 */
import { validateSeed } from "../common/contract/seed.js";

const MASK64 = (1n << 64n) - 1n;

function splitmix64(state: bigint): [bigint, bigint] {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = next;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, z ^ (z >> 31n)];
}

export class SampleRandom {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** The second normal of the last Box-Muller pair, not yet used (a number field, so no boxing per draw). */
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    let state = BigInt(validateSeed(seed));
    const words: number[] = [];
    while (words.length < 4) {
      const [next, out] = splitmix64(state);
      state = next;
      words.push(Number(out & 0xffffffffn) >>> 0);
      if (words.length === 4 && words.every((w) => w === 0)) words.length = 0;
    }
    [this.s0, this.s1, this.s2, this.s3] = words as [number, number, number, number];
  }

  /** Next 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in the open interval (0, 1). */
  uniform(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  normal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const theta = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(theta);
    this.hasSpare = true;
    return r * Math.cos(theta);
  }

  /**
   * Fills `out[offset .. offset+count)` with unit normals times `scale`: the same values, in the same order,
   * as `count` calls of normal(), a whole Box-Muller pair per turn of the loop.
   */
  fillNormal(out: Float32Array, offset = 0, count = out.length - offset, scale = 1): void {
    let i = 0;
    if (this.hasSpare && count > 0) out[offset + i++] = this.normal() * scale;
    for (; i + 1 < count; i += 2) {
      const r = Math.sqrt(-2 * Math.log(this.uniform()));
      const theta = 2 * Math.PI * this.uniform();
      out[offset + i] = r * Math.cos(theta) * scale;
      out[offset + i + 1] = r * Math.sin(theta) * scale;
    }
    if (i < count) out[offset + i] = this.normal() * scale;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
