/**
 * The bundled model follows its prompts: every one of the 54 captions with 2 seeds, read back with plain
 * pixel statistics. A broken scheduler, guidance or VAE scaling shows up here as wrong colours or shapes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleRequest } from "../../src/common/contract/sample.js";
import type { SchedulerName } from "../../src/common/contract/schedulers.js";
import { parseDevice } from "../../src/engine/device.js";
import { DiffusionPipeline } from "../../src/engine/pipeline.js";
import {
  allScenes,
  CLEAN_GEOMETRY,
  caption,
  readShapeImage,
  type SceneReading,
  type ShapeScene,
  scoreAdherence,
} from "../../src/eval/shapes-adherence.js";
import { TINY_SHAPES } from "../helpers/paths.js";

const SEEDS = [1, 2];
const BATCH = 8;

describe("tiny-shapes prompt adherence", () => {
  let pipe: DiffusionPipeline;
  beforeAll(async () => {
    pipe = await DiffusionPipeline.load(TINY_SHAPES, parseDevice("cpu"));
  });
  afterAll(async () => {
    await pipe.release();
  });

  async function measure(scheduler: SchedulerName) {
    const jobs: { scene: ShapeScene; req: SampleRequest }[] = [];
    for (const scene of allScenes()) {
      for (const seed of SEEDS) {
        jobs.push({
          scene,
          req: {
            prompt: caption(scene),
            negativePrompt: "",
            seed,
            steps: 20,
            guidanceScale: 4,
            scheduler,
            width: 64,
            height: 64,
          },
        });
      }
    }
    const pairs: { expected: ShapeScene; read: SceneReading }[] = [];
    let unread = 0;
    // Shapes read by clean geometry: reported, not yet required (the model's circles and squares are not clean).
    let cleanShapes = 0;
    for (let i = 0; i < jobs.length; i += BATCH) {
      const chunk = jobs.slice(i, i + BATCH);
      const result = await pipe.generate(chunk.map((j) => j.req));
      result.samples.forEach((s, k) => {
        const read = readShapeImage(s.rgb, s.width, s.height);
        if (read.miss !== undefined) unread++;
        if (readShapeImage(s.rgb, s.width, s.height, CLEAN_GEOMETRY).shape === chunk[k].scene.shape)
          cleanShapes++;
        pairs.push({ expected: chunk[k].scene, read });
      });
    }
    const score = scoreAdherence(pairs);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    console.log(
      `${scheduler}: ${score.total} images, background ${pct(score.background)}, colour ${pct(score.color)}, shape ${pct(score.shape)}, unread ${unread}, shape by clean geometry ${pct(cleanShapes / score.total)}`,
    );
    return score;
  }

  it("uses the model's default scheduler (euler) at the default settings", () => {
    expect(pipe.describe().defaultScheduler).toBe("euler");
  });

  for (const scheduler of ["euler", "ddim", "euler_ancestral", "dpmpp_2m"] as const) {
    it(`follows all 54 captions with ${scheduler} at 20 steps`, async () => {
      const score = await measure(scheduler);
      expect(score.total).toBe(108);
      expect(score.background).toBeGreaterThanOrEqual(0.98);
      expect(score.color).toBeGreaterThanOrEqual(0.95);
      expect(score.shape).toBeGreaterThanOrEqual(0.9);
    });
  }
});
