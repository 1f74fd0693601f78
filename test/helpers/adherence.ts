/**
 * Prompt adherence of a bundled shapes model: every one of the 54 captions with 2 seeds, generated in
 * batches and read back with plain pixel statistics (src/eval/shapes-adherence.ts), twice: with the
 * reader's shape geometry (SHAPE_GEOMETRY: which shape is drawn) and with clean geometry (CLEAN_GEOMETRY:
 * a shape a clean render's tolerances accept: round circles, straight-sided squares, triangles). Prints one
 * line of figures per scheduler.
 */
import type { SampleRequest } from "../../src/common/contract/sample.js";
import type { SchedulerName } from "../../src/common/contract/schedulers.js";
import type { DiffusionPipeline } from "../../src/engine/pipeline.js";
import {
  type AdherenceScore,
  allScenes,
  CLEAN_GEOMETRY,
  caption,
  readShapeImage,
  type SceneReading,
  SHAPE_GEOMETRY,
  SHAPES,
  type Shape,
  type ShapeScene,
  scoreAdherence,
} from "../../src/eval/shapes-adherence.js";

const SEEDS = [1, 2];

export interface Adherence extends AdherenceScore {
  /** The share of images whose shape clean geometry reads as the one asked for. */
  cleanShape: number;
}

export async function measureAdherence(
  pipe: DiffusionPipeline,
  scheduler: SchedulerName,
  batch: number,
): Promise<Adherence> {
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
  const cleanShapes: Record<Shape, number> = { circle: 0, square: 0, triangle: 0 };
  const shapesAsked: Record<Shape, number> = { circle: 0, square: 0, triangle: 0 };
  for (let i = 0; i < jobs.length; i += batch) {
    const chunk = jobs.slice(i, i + batch);
    const result = await pipe.generate(chunk.map((j) => j.req));
    result.samples.forEach((s, k) => {
      const read = readShapeImage(s.rgb, s.width, s.height, SHAPE_GEOMETRY);
      if (read.miss !== undefined) unread++;
      const shape = chunk[k].scene.shape;
      shapesAsked[shape]++;
      if (readShapeImage(s.rgb, s.width, s.height, CLEAN_GEOMETRY).shape === shape) cleanShapes[shape]++;
      pairs.push({ expected: chunk[k].scene, read });
    });
  }
  const score = scoreAdherence(pairs);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const clean = SHAPES.reduce((n, shape) => n + cleanShapes[shape], 0) / score.total;
  const perShape = SHAPES.map((shape) => `${shape}s ${cleanShapes[shape]}/${shapesAsked[shape]}`).join(", ");
  console.log(
    `${scheduler}: ${score.total} images, background ${pct(score.background)}, colour ${pct(score.color)}, shape ${pct(score.shape)}, unread ${unread}, shape by clean geometry ${pct(clean)} (${perShape})`,
  );
  return { ...score, cleanShape: clean };
}
