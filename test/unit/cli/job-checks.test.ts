/**
 * The checks every command makes before it starts anything (src/cli/job-checks.ts) and the job summary of
 * `validate` / `run --dry-run`, in process: each bad spec fixture is refused with one line that exits 2 and
 * creates nothing; a rejected row is the first problem of a job; the output check probes without leaving
 * anything behind, and an S3 output's bucket must answer (a real S3-compatible server).
 */
import { readdirSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkJob, checkModel, checkOutputWritable } from "../../../src/cli/job-checks.js";
import { summarizeJob } from "../../../src/cli/job-summary.js";
import { exitCodeFor, isLatentFleetError, type LatentFleetError } from "../../../src/common/errors.js";
import { expandSpec } from "../../../src/manifest/index.js";
import { ROOT, TINY_SHAPES } from "../../helpers/paths.js";
import { startS3Server, type TestS3Server } from "../../helpers/s3-server.js";

const BAD_SPECS = join(ROOT, "test", "fixtures", "bad-input", "specs");

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

async function refusal(p: Promise<unknown>): Promise<LatentFleetError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isLatentFleetError(err)) throw new Error(`expected a LatentFleetError, got ${String(err)}`);
  return err;
}

describe("checks before a job starts", () => {
  let tmp: string;
  let specs: string;
  let s3: TestS3Server;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-job-checks-"));
    specs = join(tmp, "specs");
    await cp(BAD_SPECS, specs, { recursive: true });
    s3 = await startS3Server(["datasets"]);
  });
  afterAll(async () => {
    await s3?.stop();
    await rm(tmp, { recursive: true, force: true });
  });

  const badSpecs = readdirSync(BAD_SPECS)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort();

  it("finds the bad spec fixtures", () => {
    expect(badSpecs.length).toBeGreaterThan(30);
  });

  it.each(badSpecs)("%s: one line naming the file and line, exit 2, nothing created", async (name) => {
    const before = await listTree(tmp);
    const err = await refusal(checkJob(join(specs, name), { device: "cpu" }));
    expect(exitCodeFor(err), err.message).toBe(2);
    expect(err.message).not.toContain("\n");
    expect(err.message.startsWith(join(specs, name))).toBe(true);
    expect(await listTree(tmp)).toEqual(before);
  });

  it("a job with a row it would reject: the row's file:line and field is the first problem", async () => {
    const dir = join(tmp, "bad-rows");
    await cp(join(ROOT, "test", "fixtures", "manifests", "bad-rows"), dir, { recursive: true });
    await mkdir(join(dir, "models"));
    await symlink(TINY_SHAPES, join(dir, "models", "tiny-shapes"));
    const job = await checkJob(join(dir, "job.yaml"), { device: "cpu" });
    // The first row error the expansion itself reports, read independently of the summary.
    let first: { where: string; message: string } | undefined;
    for await (const ev of expandSpec(job.spec)) {
      if (ev.type === "row_error") {
        first = ev;
        break;
      }
    }
    expect(first?.where).toMatch(/bad\.jsonl:\d+$/);
    const err = await refusal(summarizeJob(job.spec, 32));
    expect(err.code).toBe("ROW_INVALID");
    expect(exitCodeFor(err)).toBe(2);
    expect(err.message).toBe(`${first?.where}: ${first?.message}`);
  });

  it("summarizes the example: rows, samples, shards of the given size, the first samples in order", async () => {
    const job = await checkJob(join(ROOT, "examples", "shapes.yaml"), { device: "cpu", out: join(tmp, "o") });
    // One prompt, then 6 colours x 3 shapes x 3 backgrounds; 2 images each.
    const rows = 1 + 6 * 3 * 3;
    const summary = await summarizeJob(job.spec, 32);
    expect([summary.rows, summary.samples, summary.shards]).toEqual([
      rows,
      rows * 2,
      Math.ceil((rows * 2) / 32),
    ]);
    expect((await summarizeJob(job.spec, 7)).shards).toBe(Math.ceil((rows * 2) / 7));
    const firstIds: string[] = [];
    for await (const ev of expandSpec(job.spec)) {
      if (ev.type === "sample") firstIds.push(ev.sample.sampleId);
      if (firstIds.length === summary.first.length) break;
    }
    expect(summary.first.map((s) => s.sampleId)).toEqual(firstIds);
    expect(summary.first[0].prompt).toBe("a red circle on a white background");
    expect(job.model.name).toBe("tiny-shapes");
    await expect(readdir(join(tmp, "o"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a missing model folder is refused before the output is looked at", async () => {
    const err = await refusal(checkModel(join(tmp, "no-model"), "cpu"));
    expect(err.code).toBe("MODEL_NOT_FOUND");
    expect(exitCodeFor(err)).toBe(2);
  });

  it("a spec's default scheduler must suit the model's denoiser, before anything starts", async () => {
    const flux = join(ROOT, "test", "fixtures", "models", "flux-schnell");
    const cases = [
      { model: TINY_SHAPES, scheduler: "flow_euler", says: /flow-matching scheduler, for flow models/ },
      { model: flux, scheduler: "ddim", says: /is for noise-prediction \(UNet-family\) models/ },
    ];
    for (const c of cases) {
      const spec = join(tmp, `scheduler-${c.scheduler}.yaml`);
      await writeFile(
        spec,
        `model: ${c.model}\noutput: ${join(tmp, "never")}\ndefaults: { scheduler: ${c.scheduler} }\nprompts: ["a red circle"]\n`,
      );
      const err = await refusal(checkJob(spec, { device: "cpu" }));
      expect(err.code, c.scheduler).toBe("INVALID_ARGUMENT");
      expect(exitCodeFor(err)).toBe(2);
      expect(err.message).toMatch(c.says);
    }
    // The pairings that suit pass.
    for (const [model, scheduler] of [
      [TINY_SHAPES, "euler"],
      [flux, "flow_euler"],
    ]) {
      const spec = join(tmp, `scheduler-ok-${scheduler}.yaml`);
      await writeFile(
        spec,
        `model: ${model}\noutput: ${join(tmp, "never")}\ndefaults: { scheduler: ${scheduler} }\nprompts: ["a red circle"]\n`,
      );
      await expect(checkJob(spec, { device: "cpu" })).resolves.toMatchObject({ model: { dir: model } });
    }
    await expect(readdir(join(tmp, "never"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("a local output: probed where it would be made, nothing left behind", async () => {
    const base = join(tmp, "outputs");
    await mkdir(base);
    await checkOutputWritable(join(base, "a", "b", "c"));
    await checkOutputWritable(base);
    expect(await readdir(base)).toEqual([]);
    await writeFile(join(base, "file"), "x");
    for (const location of [join(base, "file"), join(base, "file", "sub")]) {
      const err = await refusal(checkOutputWritable(location));
      expect(err.code, location).toBe("OUTPUT_UNAVAILABLE");
      expect(exitCodeFor(err)).toBe(2);
      expect(err.message).toContain("is a file, not a folder");
    }
    expect(await readdir(base)).toEqual(["file"]);
  });

  it("an S3 output: its bucket must answer", async () => {
    const env = { ...process.env };
    Object.assign(process.env, s3.env);
    try {
      await checkOutputWritable("s3://datasets/job-1");
      const err = await refusal(checkOutputWritable("s3://no-such-bucket/job-1"));
      expect(err.code).toBe("OUTPUT_UNAVAILABLE");
      expect(exitCodeFor(err)).toBe(2);
      expect(err.message).toMatch(
        /s3:\/\/no-such-bucket\/job-1: cannot reach it: .*(NoSuchBucket|does not exist)/,
      );
    } finally {
      for (const k of Object.keys(s3.env)) {
        if (env[k] === undefined) delete process.env[k];
        else process.env[k] = env[k];
      }
    }
  });
});
