/**
 * The imagefolder writer flushes a shard's images once, before its metadata file. Should that flush fail,
 * a second fsync could report success for pages the kernel already dropped, so the writer tried again must
 * write the images again rather than flush once more. A failing fsync cannot be made to happen on demand
 * here, so the folder storage is wrapped and its first sync fails with EIO. The images are made here (no
 * engine); the folder, the PNG encoding and the writer are the real ones.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { imageFileName, shardMetadataFile } from "../../../src/common/contract/job.js";
import type { SampleRequest } from "../../../src/common/contract/sample.js";
import { LocalStorage, type ObjectStorage, type PutOptions } from "../../../src/common/storage/index.js";
import { decodePng } from "../../../src/engine/png.js";
import { ImagefolderWriter } from "../../../src/outputs/imagefolder/writer.js";
import { PngPool } from "../../../src/worker/png-pool.js";
import type { EngineImage, SampleOutcome } from "../../../src/worker/submission.js";
import { contractTask, makeTask } from "../../helpers/worker-fixtures.js";

class FirstSyncFails extends LocalStorage {
  readonly durablePuts: string[] = [];
  private failed = false;
  override async put(key: string, data: Uint8Array | readonly Uint8Array[], opts?: PutOptions) {
    if (opts?.durable !== false) this.durablePuts.push(key);
    await super.put(key, data, opts);
  }
  override async sync(keys: readonly string[]): Promise<void> {
    if (!this.failed) {
      this.failed = true;
      throw Object.assign(new Error("EIO: i/o error, fsync"), { code: "EIO" });
    }
    await super.sync(keys);
  }
}

describe("the imagefolder writer after a failed flush", () => {
  let out: string;
  const pool = new PngPool({ threads: 0 });
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), "lf-flush-"));
  });
  afterAll(async () => {
    await pool.close();
    if (out) await rm(out, { recursive: true, force: true });
  });

  it("writes the shard's images again, then its metadata", async () => {
    const storage = new FirstSyncFails(out);
    const task = contractTask(makeTask("flush", 3, out, 3));
    const output = new ImagefolderWriter<EngineImage>({
      storage: storage as ObjectStorage,
      task,
      shard: 3,
      modelName: "m",
      encode: (image) => pool.encodeImage(image),
    });
    const rgb = (v: number) => new Uint8Array(8 * 8 * 3).fill(v);
    const outcomes: SampleOutcome[] = [10, 20, 30].map((v) => ({
      ok: true,
      image: { rgb: rgb(v), width: 8, height: 8, warnings: [] },
    }));
    const requests: SampleRequest[] = task.samples.map((s) => ({
      prompt: s.prompt,
      negativePrompt: "",
      seed: s.seed,
      steps: 4,
      guidanceScale: 4,
      scheduler: "euler",
      width: 8,
      height: 8,
    }));
    const names = await Promise.all(outcomes.map((o, i) => output.sample(i, o, requests[i])));
    expect(storage.durablePuts).toEqual([]);
    await expect(output.finish(requests, outcomes, names)).rejects.toThrow(/EIO/);
    expect(await storage.stat(shardMetadataFile(3))).toBeNull();

    await output.finish(requests, outcomes, names);
    const images = task.samples.map((s) => imageFileName(3, s.sample_id));
    expect(storage.durablePuts).toEqual([...images, shardMetadataFile(3)]);
    for (const [i, key] of images.entries()) {
      const png = decodePng(await readFile(join(out, key)));
      expect(png.rgb[0]).toBe([10, 20, 30][i]);
    }
    const rows = (await readFile(join(out, shardMetadataFile(3)), "utf8")).trim().split("\n");
    expect(rows).toHaveLength(3);
  });
});
