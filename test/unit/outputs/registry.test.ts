/** The output formats' registry: every name of the contract has its format, and the default and unknown names. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { METADATA_FILE } from "../../../src/common/contract/job.js";
import { DEFAULT_OUTPUT_FORMAT, OUTPUT_FORMAT_NAMES } from "../../../src/common/contract/output-formats.js";
import { LatentFleetError } from "../../../src/common/errors.js";
import { LocalStorage } from "../../../src/common/storage/index.js";
import { detectFormat, outputFormat, outputFormats } from "../../../src/outputs/index.js";

describe("the output format registry", () => {
  it("holds one format under each name of the contract, and no other", () => {
    expect(
      outputFormats()
        .map((f) => f.name)
        .sort(),
    ).toEqual([...OUTPUT_FORMAT_NAMES].sort());
    for (const name of OUTPUT_FORMAT_NAMES) expect(outputFormat(name).name).toBe(name);
  });

  it('gives the default format for "" (a task that names none)', () => {
    expect(DEFAULT_OUTPUT_FORMAT).toBe("imagefolder");
    expect(outputFormat("").name).toBe(DEFAULT_OUTPUT_FORMAT);
  });

  it("refuses an unknown name with INVALID_ARGUMENT, listing the known ones", () => {
    let caught: unknown;
    try {
      outputFormat("tfrecord");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LatentFleetError);
    expect((caught as LatentFleetError).code).toBe("INVALID_ARGUMENT");
    expect((caught as LatentFleetError).message).toBe(
      "output format tfrecord is unknown (imagefolder, webdataset)",
    );
  });
});

describe("detecting an output's format", () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("finds none in an empty folder, and each format by its files", async () => {
    dir = await mkdtemp(join(tmpdir(), "lf-detect-"));
    const storage = new LocalStorage(dir, { durable: false });
    expect(await detectFormat(storage)).toBeUndefined();
    await writeFile(join(dir, METADATA_FILE), "");
    expect((await detectFormat(storage))?.name).toBe("imagefolder");
    // A later webdataset run into the same folder: its shard files win over the metadata.jsonl left there.
    await writeFile(join(dir, "00000.parquet"), "");
    expect((await detectFormat(storage))?.name).toBe("webdataset");
  });
});
