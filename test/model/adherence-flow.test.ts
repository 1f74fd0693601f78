/**
 * The bundled flow-matching model (SD3 layout) follows its prompts: every one of the 54 captions with 2
 * seeds, with each flow scheduler the engine has, read back with the same pixel statistics as tiny-shapes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SampleRequest } from "../../src/common/contract/sample.js";
import { FLOW_SCHEDULER_NAMES, type FlowSchedulerName } from "../../src/common/contract/schedulers.js";
import { parseDevice } from "../../src/engine/device.js";
import { DiffusionPipeline } from "../../src/engine/pipeline.js";
import {
  allScenes,
  caption,
  readShapeImage,
  type SceneReading,
  type ShapeScene,
  scoreAdherence,
} from "../../src/eval/shapes-adherence.js";
import { TINY_SHAPES_FLOW } from "../helpers/paths.js";

const SEEDS = [1, 2];
const BATCH = 12;

describe("tiny-shapes-flow prompt adherence", () => {
  let pipe: DiffusionPipeline;
  beforeAll(async () => {
    pipe = await DiffusionPipeline.load(TINY_SHAPES_FLOW, parseDevice("cpu"));
  });
  afterAll(async () => {
    await pipe.release();
  });

  async function measure(scheduler: FlowSchedulerName) {
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
    for (let i = 0; i < jobs.length; i += BATCH) {
      const chunk = jobs.slice(i, i + BATCH);
      const result = await pipe.generate(chunk.map((j) => j.req));
      result.samples.forEach((s, k) => {
        const read = readShapeImage(s.rgb, s.width, s.height);
        if (read.miss !== undefined) unread++;
        pairs.push({ expected: chunk[k].scene, read });
      });
    }
    const score = scoreAdherence(pairs);
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    console.log(
      `${scheduler}: ${score.total} images, background ${pct(score.background)}, colour ${pct(score.color)}, shape ${pct(score.shape)}, unread ${unread}`,
    );
    return score;
  }

  it("is an SD3-family model whose default scheduler is flow_euler", () => {
    const d = pipe.describe();
    expect(d.family).toBe("sd3");
    expect(d.latentChannels).toBe(4);
    expect(d.defaultScheduler).toBe("flow_euler");
  });

  for (const scheduler of FLOW_SCHEDULER_NAMES) {
    it(`follows all 54 captions with ${scheduler} at 20 steps`, async () => {
      const score = await measure(scheduler);
      expect(score.total).toBe(108);
      expect(score.background).toBeGreaterThanOrEqual(0.98);
      expect(score.color).toBeGreaterThanOrEqual(0.95);
      expect(score.shape).toBeGreaterThanOrEqual(0.9);
    });
  }
});
