/**
 * A coordinator confined to some folders (--allow-path): submissions may read prompt files from its disk
 * and write outputs only inside them; files sent with the spec are not affected.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../../src/common/log.js";
import { type RunningCoordinator, startCoordinator } from "../../../src/coordinator/index.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";

let server: TestNatsServer;
let coordinator: RunningCoordinator;
const dir = mkdtempSync(join(tmpdir(), "lf-coord-paths-"));
const allowed = join(dir, "allowed");
const outside = join(dir, "outside");

beforeAll(async () => {
  mkdirSync(allowed);
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.jsonl"), '{"prompt": "not yours"}\n');
  writeFileSync(join(allowed, "prompts.jsonl"), '{"prompt": "a red circle"}\n');
  // A link inside the allowed folder that leads out of it.
  symlinkSync(join(outside, "secret.jsonl"), join(allowed, "link.jsonl"));
  server = await startNatsServer();
  coordinator = await startCoordinator({
    natsUrl: server.url,
    allowedPaths: [allowed],
    log: silentLogger,
  });
});

afterAll(async () => {
  await coordinator?.stop();
  await server?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const spec = (prompts: string) => `model: models/tiny-shapes\nprompts:\n${prompts}\n`;

describe("a coordinator confined with allowedPaths", () => {
  it("refuses an output folder outside the allowed folders", async () => {
    await expect(
      coordinator.submit({
        spec: { name: join(allowed, "job.yaml"), content: spec('  - "a red circle"') },
        output: join(outside, "out"),
      }),
    ).rejects.toMatchObject({
      code: "PATH_NOT_ALLOWED",
      message: expect.stringContaining(join(outside, "out")),
    });
    // ../ cannot climb out either.
    await expect(
      coordinator.submit({
        spec: { name: join(allowed, "job.yaml"), content: spec('  - "a red circle"') },
        output: join(allowed, "..", "outside", "x"),
      }),
    ).rejects.toMatchObject({ code: "PATH_NOT_ALLOWED" });
  });

  it("refuses prompt files on its disk outside them, naming the spec's line, and links that lead out", async () => {
    await expect(
      coordinator.submit({
        spec: {
          name: join(allowed, "job.yaml"),
          content: spec(`  - file: ${join(outside, "secret.jsonl")}`),
        },
        output: join(allowed, "out-a"),
      }),
    ).rejects.toMatchObject({
      code: "SPEC_INVALID",
      message: expect.stringMatching(
        /job\.yaml:3: prompts\[0\]\.file: .*secret\.jsonl is outside the folders/,
      ),
    });
    await expect(
      coordinator.submit({
        spec: { name: join(allowed, "job.yaml"), content: spec("  - file: link.jsonl") },
        output: join(allowed, "out-b"),
      }),
    ).rejects.toMatchObject({
      code: "SPEC_INVALID",
      message: expect.stringContaining("is outside the folders"),
    });
    await expect(coordinator.submit({ spec: join(outside, "secret.jsonl") })).rejects.toMatchObject({
      code: "PATH_NOT_ALLOWED",
    });
  });

  it("accepts files inside them, and files sent with the spec from anywhere", async () => {
    const inside = await coordinator.submit({
      spec: { name: join(allowed, "job.yaml"), content: spec("  - file: prompts.jsonl") },
      output: join(allowed, "out-c"),
    });
    expect(inside).toMatch(/\S/);
    const uploaded = await coordinator.submit({
      spec: { name: "/client/machine/job.yaml", content: spec("  - file: mine.jsonl") },
      output: join(allowed, "out-d"),
      files: new Map([["/client/machine/mine.jsonl", '{"prompt": "a blue square"}\n']]),
    });
    expect(uploaded).toMatch(/\S/);
  });
});
