/**
 * Writes docs/<model>-contact-sheet.png: one sample of each of a shapes model's 54 captions, with the
 * model's default scheduler.
 * Run: npm run docs:contact-sheet [-- MODEL_DIR] (default: the bundled models/tiny-shapes)
 */
import { writeFile } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { bundledModelDir, packageRoot } from "../src/common/package-root.js";
import { parseDevice } from "../src/engine/device.js";
import { DiffusionPipeline } from "../src/engine/pipeline.js";
import { encodePng } from "../src/engine/png.js";
import { composeContactSheet, type SheetTile } from "../src/eval/contact-sheet.js";
import { allScenes, caption } from "../src/eval/shapes-adherence.js";

const modelDir = process.argv[2] ? resolve(process.argv[2]) : bundledModelDir();
const pipe = await DiffusionPipeline.load(modelDir, parseDevice("cpu"));
const scheduler = pipe.describe().defaultScheduler;
// All 54 captions: 6 colours x 3 shapes x 3 backgrounds, one seed each.
const scenes = allScenes();
const tiles: SheetTile[] = [];
for (let i = 0; i < scenes.length; i += 9) {
  const requests = scenes.slice(i, i + 9).map((scene, k) => ({
    prompt: caption(scene),
    negativePrompt: "",
    seed: i + k,
    steps: 20,
    guidanceScale: 4,
    scheduler,
    width: 64,
    height: 64,
  }));
  const result = await pipe.generate(requests);
  result.samples.forEach((s, k) => {
    tiles.push({ ...s, label: `${requests[k].prompt.replace(/^a /, "")}, seed ${requests[k].seed}` });
  });
}
await pipe.release();
const sheet = composeContactSheet(tiles, { columns: 9, scale: 2 });
const out = join(packageRoot(), "docs", `${basename(modelDir)}-contact-sheet.png`);
await writeFile(out, encodePng(sheet.rgb, sheet.width, sheet.height));
console.log(`${out}: ${tiles.length} samples, ${sheet.width}x${sheet.height}`);
