import { DiffusionPipeline } from "../src/engine/pipeline.js";
import { parseDevice } from "../src/engine/device.js";
import { allScenes, caption, CLEAN_GEOMETRY, readShapeImage, SHAPES, type Shape } from "../src/eval/shapes-adherence.js";
import type { SchedulerName } from "../src/common/contract/schedulers.js";
const model = process.argv[2] ?? "models/tiny-shapes";
const pipe = await DiffusionPipeline.load(model, parseDevice("cpu"));
const configs: [SchedulerName, number, number][] = JSON.parse(process.argv[3] ?? "[]");
for (const [scheduler, steps, g] of configs) {
  const clean: Record<Shape, number> = { circle: 0, square: 0, triangle: 0 };
  let n = 0;
  const reqs = allScenes().flatMap((scene) => [1, 2].map((seed) => ({ scene, req: { prompt: caption(scene), negativePrompt: "", seed, steps, guidanceScale: g, scheduler, width: 64, height: 64 } })));
  for (let i = 0; i < reqs.length; i += 8) {
    const chunk = reqs.slice(i, i + 8);
    const r = await pipe.generate(chunk.map((c) => c.req));
    r.samples.forEach((s, k) => { n++; if (readShapeImage(s.rgb, s.width, s.height, CLEAN_GEOMETRY).shape === chunk[k].scene.shape) clean[chunk[k].scene.shape]++; });
  }
  const tot = SHAPES.reduce((a, s) => a + clean[s], 0);
  console.log(`${scheduler} steps ${steps} g ${g}: clean ${(100 * tot / n).toFixed(1)}% (${SHAPES.map((s) => clean[s]).join("/")})`);
}
await pipe.release();
