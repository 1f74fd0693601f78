/**
 * The bundled flow-matching model (SD3 layout) follows its prompts: every one of the 54 captions with 2
 * seeds, with each flow scheduler the engine has, read back with the same pixel statistics as tiny-shapes.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FLOW_SCHEDULER_NAMES, type FlowSchedulerName } from "../../src/common/contract/schedulers.js";
import { parseDevice } from "../../src/engine/device.js";
import { DiffusionPipeline } from "../../src/engine/pipeline.js";
import { measureAdherence } from "../helpers/adherence.js";
import { TINY_SHAPES_FLOW } from "../helpers/paths.js";

describe("tiny-shapes-flow prompt adherence", () => {
  let pipe: DiffusionPipeline;
  beforeAll(async () => {
    pipe = await DiffusionPipeline.load(TINY_SHAPES_FLOW, parseDevice("cpu"));
  });
  afterAll(async () => {
    await pipe.release();
  });

  const measure = (scheduler: FlowSchedulerName) => measureAdherence(pipe, scheduler, 12);

  it("is an SD3-family model whose default scheduler is flow_euler", () => {
    const d = pipe.describe();
    expect(d.family).toBe("sd3");
    expect(d.latentChannels).toBe(4);
    expect(d.defaultScheduler).toBe("flow_euler");
  });

  // The goal: background >= 98 %, colour >= 95 %, shape >= 90 % (figures in models/tiny-shapes-flow/README.md),
  // far above what a broken flow path gives (about 1/6 colour, 1/3 shape).
  const GOAL = { background: 0.98, color: 0.95, shape: 0.9 };
  // Shapes clean geometry accepts (round, straight-sided): 91 of 108 with the decoder trained on the models'
  // own latents (models/tiny-shapes/README.md); this floor is 3 images below that, to catch a regression.
  const CLEAN_SHAPE_FLOOR = 0.81;
  for (const scheduler of FLOW_SCHEDULER_NAMES) {
    it(`follows all 54 captions with ${scheduler} at 20 steps: background, colour, shape >= 98 / 95 / 90 %`, async () => {
      const score = await measure(scheduler);
      expect(score.total).toBe(108);
      expect(score.background).toBeGreaterThanOrEqual(GOAL.background);
      expect(score.color).toBeGreaterThanOrEqual(GOAL.color);
      expect(score.shape).toBeGreaterThanOrEqual(GOAL.shape);
      expect(score.cleanShape).toBeGreaterThanOrEqual(CLEAN_SHAPE_FLOOR);
    });
  }
});
