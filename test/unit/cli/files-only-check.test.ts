/**
 * The files-only checks that `run` and `worker` make before they start anything load no ONNX Runtime or
 * tokenizer code: both packages are replaced by modules that throw when loaded, so a check that reached
 * them fails here. (Their load is a noticeable part of every start; the engine thread loads them itself.)
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { checkJob, checkModel } from "../../../src/cli/job-checks.js";
import { ROOT, TINY_SHAPES } from "../../helpers/paths.js";

vi.mock("onnxruntime-node", () => {
  throw new Error("a files-only check loaded onnxruntime-node");
});
vi.mock("@huggingface/tokenizers", () => {
  throw new Error("a files-only check loaded @huggingface/tokenizers");
});

describe("files-only checks", () => {
  it("check the bundled model and a job on it without ONNX Runtime or tokenizers", async () => {
    const model = await checkModel(TINY_SHAPES, "cpu", "euler");
    expect(model.family).toBe("sd");
    expect(model.components.map((c) => c.name)).toContain("unet");
    const { spec } = await checkJob(join(ROOT, "examples", "shapes.yaml"), { out: tmpdir(), device: "cpu" });
    expect(spec.model).toBe(TINY_SHAPES);
  });

  it("the mocks bite: loading the engine's session code does fail", async () => {
    const err = await import("../../../src/engine/onnx-model.js").then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    // vitest wraps the factory's error; ours is its cause.
    expect(String((err?.cause as Error | undefined)?.message ?? err?.message)).toMatch(
      /loaded onnxruntime-node/,
    );
  });
});
