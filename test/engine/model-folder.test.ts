import { cp, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_VAE_SCALING_FACTOR, readModelFolder } from "../../src/engine/model-folder.js";
import { FIXTURE_MODELS, TINY_SHAPES } from "../helpers/paths.js";

describe("model folders", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-model-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function copyOf(name: string): Promise<string> {
    const dir = join(tmp, name);
    await cp(join(FIXTURE_MODELS, "reference"), dir, { recursive: true });
    return dir;
  }

  it("reads the bundled model", async () => {
    const m = await readModelFolder(TINY_SHAPES);
    expect(m.name).toBe("tiny-shapes");
    expect(m.vaeScale).toBe(8);
    expect(m.nativeSize).toBe(64);
    expect(m.vaeScalingFactor).toBeGreaterThan(0);
    expect(m.vaeScalingFactor).not.toBe(DEFAULT_VAE_SCALING_FACTOR);
  });

  it("says when the folder does not exist", async () => {
    await expect(readModelFolder(join(tmp, "nope"))).rejects.toMatchObject({
      code: "MODEL_NOT_FOUND",
      message: expect.stringContaining("does not exist"),
    });
  });

  it("names the missing file", async () => {
    const dir = await copyOf("no-unet");
    await rm(join(dir, "unet"), { recursive: true });
    await expect(readModelFolder(dir)).rejects.toMatchObject({
      code: "MODEL_INVALID",
      message: expect.stringContaining("unet/model.onnx is missing"),
    });
  });

  it("names the malformed file and the parser's reason", async () => {
    const dir = await copyOf("bad-json");
    await writeFile(join(dir, "scheduler", "scheduler_config.json"), "{ not json");
    await expect(readModelFolder(dir)).rejects.toMatchObject({
      code: "MODEL_INVALID",
      message: expect.stringMatching(/scheduler_config\.json: not valid JSON/),
    });
  });

  it("rejects a bad scaling factor with the field name", async () => {
    const dir = await copyOf("bad-scale");
    await writeFile(join(dir, "vae_decoder", "config.json"), JSON.stringify({ scaling_factor: "big" }));
    await expect(readModelFolder(dir)).rejects.toMatchObject({
      message: expect.stringContaining("scaling_factor"),
    });
  });

  it("an SDXL-style folder without SDXL's parts says which are missing", async () => {
    const dir = await copyOf("sdxl");
    await writeFile(
      join(dir, "model_index.json"),
      JSON.stringify({
        text_encoder_2: ["diffusers", "OnnxRuntimeModel"],
        unet: ["diffusers", "OnnxRuntimeModel"],
      }),
    );
    await expect(readModelFolder(dir)).rejects.toMatchObject({ message: expect.stringContaining("SDXL") });
    await expect(readModelFolder(dir)).rejects.toMatchObject({
      code: "MODEL_INVALID",
      message: expect.stringContaining(
        "text_encoder_2/model.onnx, tokenizer_2/vocab.json, tokenizer_2/merges.txt are missing",
      ),
    });
  });
});
