/**
 * The live page's thumbnails: made in a thread of their own, not on the coordinator's main thread, and
 * each made once while the gallery keeps it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { threadId } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { imageFileName, type MetadataRow, shardMetadataFile } from "../../../src/common/contract/job.js";
import { LocalStorage } from "../../../src/common/storage/index.js";
import { Gallery } from "../../../src/coordinator/ui/gallery.js";
import { ThumbnailMaker } from "../../../src/coordinator/ui/thumbnail-maker.js";
import { decodePng, encodePng } from "../../../src/engine/png.js";

function gradient(side: number): Buffer {
  const rgb = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) rgb.set([i % 256, (i >> 8) % 256, 128], i * 3);
  return Buffer.from(encodePng(rgb, side, side));
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "lf-thumbs-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("the live page's thumbnails", () => {
  it("are made in a thread of their own, 160 px on their longer side", async () => {
    const maker = new ThumbnailMaker();
    try {
      const small = decodePng(await maker.make(gradient(1024)));
      expect([small.width, small.height]).toEqual([160, 160]);
      expect(maker.threadId).toBeGreaterThan(threadId);
      // A PNG that is not one fails that request alone; the thread goes on.
      await expect(maker.make(Buffer.from("not a png"))).rejects.toThrow(/cannot make a thumbnail/);
      expect(decodePng(await maker.make(gradient(320))).width).toBe(160);
    } finally {
      await maker.close();
    }
  });

  it("are made once while the gallery keeps them", async () => {
    const storage = new LocalStorage(tmp);
    const row: MetadataRow = {
      file_name: imageFileName(0, "a"),
      id: "a",
      prompt: "a red circle",
      text: "a red circle",
      negative_prompt: "",
      seed: 1,
      steps: 4,
      guidance_scale: 2,
      scheduler: "euler",
      width: 512,
      height: 512,
      model: "tiny-shapes",
    };
    await storage.put(row.file_name, gradient(512));
    await storage.put(shardMetadataFile(0), Buffer.from(`${JSON.stringify(row)}\n`));
    const made = vi.spyOn(ThumbnailMaker.prototype, "make");
    const gallery = new Gallery();
    try {
      const job = { jobId: "j", output: tmp, outputFormat: "imagefolder" };
      const first = await gallery.image(job, 0, "a", true);
      const again = await gallery.image(job, 0, "a", true);
      expect(first && decodePng(first).width).toBe(160);
      expect(again).toBe(first);
      expect(made).toHaveBeenCalledTimes(1);
    } finally {
      gallery.close();
      made.mockRestore();
    }
  });
});
