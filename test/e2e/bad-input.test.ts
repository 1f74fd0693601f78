/**
 * The bad-input corpus (test/fixtures/bad-input): malformed specs and prompts files, submitted to a real
 * coordinator over gRPC as a client would, and run by a real worker on the bundled model.
 *
 * - specs/: each spec is refused before anything starts, with a message naming the file, the line and what
 *   to fix; no job, no output folder.
 * - rows/: each prompts file has a good row, a bad one, a good one. The bad row is reported in errors.jsonl
 *   with file:line and why, the good rows around it complete, and nothing is written outside the job's
 *   output folder. (A file that is bad as a whole is refused like a bad spec.)
 *
 * Table-driven: each case names its file and the message it must get. Messages never hold a stack trace.
 * Parquet files are written here (binary); the raw gRPC requests have their own table in
 * test/load/grpc-requests.test.ts.
 */
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parquetWriteFile } from "hyparquet-writer";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinatorClient } from "../../src/cli/coordinator-client.js";
import type { ErrorRow, MetadataRow } from "../../src/common/contract/job.js";
import { createLogger, silentLogger } from "../../src/common/log.js";
import type { Job } from "../../src/common/proto/generated/latentfleet/v1/Job.js";
import { type RunningCoordinator, startCoordinator } from "../../src/coordinator/coordinator.js";
import { type RunningWorker, startWorker } from "../../src/worker/worker.js";
import { listFiles, runCli } from "../helpers/cli-processes.js";
import { startNatsServer, type TestNatsServer } from "../helpers/nats-server.js";
import { ROOT, TINY_SHAPES } from "../helpers/paths.js";

const FIXTURES = join(ROOT, "test", "fixtures", "bad-input");

/** A spec refused at submission: the message must match (after "<file>:<line>: "). */
interface SpecCase {
  file: string;
  expect: RegExp;
}

const SPEC_CASES: SpecCase[] = [
  { file: "specs/yaml-syntax.yaml", expect: /:3: cannot parse the spec: Missing closing "quote/ },
  { file: "specs/yaml-tabs.yaml", expect: /:3: cannot parse the spec: Tabs are not allowed/ },
  { file: "specs/json-syntax.json", expect: /:2: cannot parse the spec: Flow map must end with a \}/ },
  { file: "specs/not-a-mapping.yaml", expect: /:1: the spec must be a mapping/ },
  { file: "specs/empty.yaml", expect: /:1: the spec must be a mapping with at least `model` and `prompts`/ },
  { file: "specs/invalid-utf8.yaml", expect: /:3: the spec is not valid UTF-8 \(byte 0xff at column 12\)/ },
  {
    file: "specs/unknown-field.yaml",
    expect: /:2: unknown key "promts" in the spec; did you mean "prompts"\?/,
  },
  { file: "specs/duplicate-key.yaml", expect: /:3: cannot parse the spec: Map keys must be unique/ },
  { file: "specs/no-model.yaml", expect: /:1: model is missing/ },
  { file: "specs/no-prompts.yaml", expect: /:1: prompts is missing/ },
  { file: "specs/prompts-empty.yaml", expect: /:2: prompts must be a non-empty list/ },
  { file: "specs/prompts-not-a-list.yaml", expect: /:2: prompts must be a non-empty list/ },
  {
    file: "specs/images-per-prompt-string.yaml",
    expect: /:2: images_per_prompt must be an integer .* got "two"/,
  },
  { file: "specs/images-per-prompt-zero.yaml", expect: /:2: images_per_prompt must be an integer in \[1, / },
  {
    file: "specs/seed-negative.yaml",
    expect: /:2: seed must be an integer in \[0, 9007199254740991\], got -1/,
  },
  { file: "specs/seed-huge.yaml", expect: /:2: seed must be an integer .* got 18446744073709551616/ },
  { file: "specs/steps-zero.yaml", expect: /:2: defaults.steps must be an integer in \[1, 500\], got 0/ },
  {
    file: "specs/steps-huge.yaml",
    expect: /:2: defaults.steps must be an integer in \[1, 500\], got 100000/,
  },
  {
    file: "specs/guidance-string.yaml",
    expect: /:2: defaults.guidance_scale must be a number .* got "high"/,
  },
  { file: "specs/guidance-nan.yaml", expect: /:2: defaults.guidance_scale must be a number .* got NaN/ },
  { file: "specs/guidance-negative.yaml", expect: /:2: defaults.guidance_scale must be a number .* got -1/ },
  { file: "specs/width-not-multiple.yaml", expect: /:2: defaults.width must be a multiple of 8, got 100/ },
  { file: "specs/width-huge.yaml", expect: /:2: defaults.width must be an integer in \[8, 2048\], got 8192/ },
  { file: "specs/scheduler-unknown.yaml", expect: /:2: defaults.scheduler: unknown scheduler "pndm"; known/ },
  { file: "specs/defaults-unknown-field.yaml", expect: /:2: unknown key "stepz" in defaults; did you mean/ },
  { file: "specs/limits-unknown.yaml", expect: /:2: unknown key "max_gpus" in limits/ },
  { file: "specs/output-format-unknown.yaml", expect: /:2: output.format must be one of .* got "tfrecord"/ },
  {
    file: "specs/max-failed-not-a-tolerance.yaml",
    expect:
      /:2: max_failed must be a count of failures .* or a percentage from 0% to 100% .* got "5 percent"/,
  },
  { file: "specs/file-missing.yaml", expect: /:3: prompts\[0\].file: cannot find ".*nope.jsonl"/ },
  { file: "specs/file-is-folder.yaml", expect: /:3: prompts\[0\].file: .*folder.jsonl/ },
  { file: "specs/file-unknown-type.yaml", expect: /:3: prompts\[0\].file must end in .* got "prompts.xlsx"/ },
  { file: "specs/file-outside.yaml", expect: /:3: prompts\[0\].file: .*passwd.jsonl/ },
  {
    file: "specs/template-unknown-var.yaml",
    expect: /:4: prompts\[0\].vars.color is defined but .* \{color\}/,
  },
  { file: "specs/template-empty-var.yaml", expect: /:4: prompts\[0\].vars.color must be a non-empty list/ },
  {
    file: "specs/template-explosion.yaml",
    expect: /:3: prompts\[0\] makes 1000000000 prompts, more than limits.max_samples_per_job/,
  },
  { file: "specs/alias-bomb.yaml", expect: /:6: prompts\[0\].vars.b must list strings or numbers/ },
  { file: "specs/inline-prompt-too-long.yaml", expect: /:3: prompts\[0\].prompt is 2999 characters long/ },
];

/** A prompts file refused as a whole, like a bad spec (the message names the file itself). */
const FILE_CASES: SpecCase[] = [
  { file: "rows/empty.jsonl", expect: /:1: the file has no rows: it is empty, or blank lines only/ },
  { file: "rows/blank-lines.jsonl", expect: /:1: the file has no rows/ },
  { file: "rows/empty.csv", expect: /:1: the CSV file is empty/ },
  {
    file: "rows/no-prompt-column.csv",
    expect: /:1: the header has no "prompt" column \(it has "id", "text"\)/,
  },
  { file: "rows/csv-text.parquet", expect: /:1: cannot read this Parquet file/ },
  { file: "rows/truncated.parquet", expect: /:1: cannot read this Parquet file/ },
  { file: "rows/no-prompt-column.parquet", expect: /:1: .*prompt/ },
  { file: "rows/no-rows.parquet", expect: /:1: the Parquet file has no rows/ },
];

/** A bad row between two good ones: reported at `line` (Parquet: row number), the good rows complete. */
interface RowCase {
  file: string;
  line: number;
  field: string | null;
  expect: RegExp;
  /** Ids of the good rows' samples (default good-first-0, good-last-0). */
  good?: string[];
}

const ROW_CASES: RowCase[] = [
  { file: "rows/not-json.jsonl", line: 2, field: null, expect: /line is not valid JSON/ },
  { file: "rows/array-row.jsonl", line: 2, field: null, expect: /each line must be a JSON object/ },
  { file: "rows/invalid-utf8.jsonl", line: 2, field: "prompt", expect: /prompt is not valid UTF-8/ },
  { file: "rows/prompt-number.jsonl", line: 2, field: "prompt", expect: /prompt must be a string, got 42/ },
  { file: "rows/prompt-missing.jsonl", line: 2, field: "prompt", expect: /prompt is missing/ },
  { file: "rows/prompt-empty.jsonl", line: 2, field: "prompt", expect: /prompt must not be empty/ },
  { file: "rows/prompt-too-long.jsonl", line: 2, field: "prompt", expect: /2500 characters long; the limit/ },
  {
    file: "rows/negative-prompt-number.jsonl",
    line: 2,
    field: "negative_prompt",
    expect: /negative_prompt must be a string/,
  },
  {
    file: "rows/steps-range.jsonl",
    line: 2,
    field: "steps",
    expect: /steps must be an integer in \[1, 500\]/,
  },
  {
    file: "rows/scheduler-unknown.jsonl",
    line: 2,
    field: "scheduler",
    expect: /unknown scheduler "warp drive"/,
  },
  { file: "rows/width-odd.jsonl", line: 2, field: "width", expect: /width must be a multiple of 8, got 100/ },
  { file: "rows/seed-negative.jsonl", line: 2, field: "seed", expect: /seed must be an integer .* got -5/ },
  {
    file: "rows/images-per-prompt-huge.jsonl",
    line: 2,
    field: "images_per_prompt",
    expect: /images_per_prompt must be an integer .* got 1000000000/,
  },
  { file: "rows/guidance-string.jsonl", line: 2, field: "guidance_scale", expect: /got "high"/ },
  {
    file: "rows/id-dotdot.jsonl",
    line: 2,
    field: "id",
    expect: /it names output files.*"\.\.\/\.\.\/escaped"/,
  },
  { file: "rows/id-slash.jsonl", line: 2, field: "id", expect: /it names output files.*"a\/b"/ },
  { file: "rows/id-absolute.jsonl", line: 2, field: "id", expect: /it names output files.*"\/etc\/passwd"/ },
  { file: "rows/id-dot.jsonl", line: 2, field: "id", expect: /it names output files.*"\."/ },
  {
    file: "rows/id-reserved.jsonl",
    line: 2,
    field: "id",
    expect: /reserved for the ids of rows without one/,
  },
  {
    file: "rows/id-duplicate.jsonl",
    line: 2,
    field: "id",
    expect: /id "SAME" is used by an earlier row/,
    good: ["same-0", "good-last-0"],
  },
  { file: "rows/unbalanced-quote.csv", line: 3, field: null, expect: /row has 2 fields, the header has 3/ },
  {
    file: "rows/steps-not-a-number.csv",
    line: 3,
    field: "steps",
    expect: /steps must be an integer .* "twenty"/,
  },
  { file: "rows/too-few-cells.csv", line: 3, field: null, expect: /row has 1 fields, the header has 3/ },
  { file: "rows/id-escape.csv", line: 3, field: "id", expect: /it names output files.*"\.\.\/up"/ },
  { file: "rows/invalid-utf8.csv", line: 3, field: "prompt", expect: /prompt is not valid UTF-8/ },
  {
    file: "rows/invalid-utf8.txt",
    line: 2,
    field: "prompt",
    expect: /prompt is not valid UTF-8/,
    good: ["r000000000-0", "r000000002-0"],
  },
  { file: "rows/null-prompt.parquet", line: 2, field: "prompt", expect: /prompt/ },
  {
    file: "rows/steps-zero.parquet",
    line: 2,
    field: "steps",
    expect: /steps must be an integer in \[1, 500\], got 0/,
  },
];

const GOOD = ["good-first-0", "good-last-0"];

/** The Parquet files of the corpus: binary, so written here. */
async function writeParquetCases(dir: string): Promise<void> {
  const ids = ["good-first", "bad", "good-last"];
  const prompts = [
    "a red circle on a white background",
    "a green circle",
    "a blue square on a black background",
  ];
  parquetWriteFile({
    filename: join(dir, "null-prompt.parquet"),
    columnData: [
      { name: "id", data: ids, type: "STRING" },
      { name: "prompt", data: [prompts[0], null, prompts[2]], type: "STRING", nullable: true },
    ],
  });
  parquetWriteFile({
    filename: join(dir, "steps-zero.parquet"),
    columnData: [
      { name: "id", data: ids, type: "STRING" },
      { name: "prompt", data: prompts, type: "STRING" },
      { name: "steps", data: [1, 0, 1], type: "INT32" },
    ],
  });
  parquetWriteFile({
    filename: join(dir, "no-prompt-column.parquet"),
    columnData: [{ name: "text", data: prompts, type: "STRING" }],
  });
  parquetWriteFile({
    filename: join(dir, "no-rows.parquet"),
    columnData: [{ name: "prompt", data: [], type: "STRING" }],
  });
  const whole = join(dir, "whole.parquet");
  parquetWriteFile({ filename: whole, columnData: [{ name: "prompt", data: prompts, type: "STRING" }] });
  const bytes = await readFile(whole);
  await writeFile(join(dir, "truncated.parquet"), bytes.subarray(0, bytes.length - 9));
  await rm(whole);
}

function specFor(file: string): string {
  return [
    "model: tiny-shapes",
    "defaults: { steps: 1, guidance_scale: 1, width: 16, height: 16 }",
    "prompts:",
    `  - file: ${file}`,
    "",
  ].join("\n");
}

async function readJsonl<T>(path: string): Promise<T[]> {
  return (await readFile(path, "utf8"))
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

describe("the bad-input corpus", () => {
  let tmp: string;
  let cases: string;
  let nats: TestNatsServer;
  let coordinator: RunningCoordinator;
  let worker: RunningWorker;
  let client: CoordinatorClient;
  let address: string;
  const workerLog: string[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-bad-input-"));
    cases = join(tmp, "cases");
    await cp(FIXTURES, cases, { recursive: true });
    await writeParquetCases(join(cases, "rows"));
    nats = await startNatsServer();
    coordinator = await startCoordinator({
      natsUrl: nats.url,
      grpcAddress: "127.0.0.1:0",
      allowedPaths: [tmp],
      shardSize: 4,
      log: silentLogger,
    });
    address = `127.0.0.1:${coordinator.grpcPort}`;
    worker = await startWorker({
      natsUrl: nats.url,
      modelDir: TINY_SHAPES,
      intraOpThreads: 1,
      batchSize: 8,
      pullExpiresMs: 1000,
      durable: false,
      log: createLogger({ worker: "bad-input" }, { level: "info", write: (l) => void workerLog.push(l) }),
    });
    client = await CoordinatorClient.connect(address);
  });

  afterAll(async () => {
    client?.close();
    await worker?.stop();
    await coordinator?.stop();
    await nats?.cleanup();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it(`has at least 40 cases (${SPEC_CASES.length + FILE_CASES.length + ROW_CASES.length + 1})`, () => {
    expect(SPEC_CASES.length + FILE_CASES.length + ROW_CASES.length + 1).toBeGreaterThanOrEqual(40);
  });

  describe("specs and whole files are refused before anything starts", () => {
    const refused = [
      ...SPEC_CASES.map((c) => ({ ...c, spec: c.file, named: c.file })),
      ...FILE_CASES.map((c) => ({ ...c, spec: `${c.file}.yaml`, named: c.file })),
    ];
    it.each(refused)("$file", async ({ file, spec, named, expect: pattern }) => {
      const specPath = join(cases, spec);
      if (spec !== file) await writeFile(specPath, specFor(file.split("/")[1]));
      const out = join(tmp, "out", file.replace(/\W/g, "_"));
      const before = (await coordinator.listJobs()).length;
      const err = await client.submit(specPath, { out }).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err, "the submission was accepted").toBeDefined();
      // Which file (the spec, or the prompts file named in it), which line, what.
      const message = err?.message ?? "";
      expect(message).toContain(named.split("/")[1]);
      expect(message).toMatch(pattern);
      expect(message).not.toMatch(/\n\s+at /);
      expect(err?.code).toBe("SPEC_INVALID");
      expect((await coordinator.listJobs()).length).toBe(before);
      expect(await exists(out)).toBe(false);
    });

    it("`latent-fleet submit` prints the message on one line and exits 2, no stack trace", async () => {
      const cliCases = [
        ["specs/yaml-syntax.yaml", "yaml-syntax.yaml:3"],
        ["specs/invalid-utf8.yaml", "invalid-utf8.yaml:3"],
        ["rows/empty.jsonl.yaml", "empty.jsonl:1"],
      ];
      await writeFile(join(cases, "rows/empty.jsonl.yaml"), specFor("empty.jsonl"));
      for (const [file, named] of cliCases) {
        const r = await runCli(["submit", join(cases, file), "--coordinator", address], {
          timeoutMs: 30_000,
        });
        expect(r.code, r.output).toBe(2);
        expect(r.output.trim().split("\n")).toHaveLength(1);
        expect(r.output).toContain(named);
        expect(r.output).not.toMatch(/\n\s+at /);
      }
    });
  });

  describe("a bad row is reported with file:line; the good rows around it complete", () => {
    const runs = new Map<string, Promise<{ job: Job; out: string }>>();

    beforeAll(async () => {
      // Every case as its own job, all at once (they share the worker).
      for (const c of [...ROW_CASES, { file: "rows/prompt-many-tokens.jsonl" }]) {
        const specPath = join(cases, `${c.file}.yaml`);
        await writeFile(specPath, specFor(c.file.split("/")[1]));
        const out = join(tmp, "out", c.file.replace(/\W/g, "_"));
        runs.set(
          c.file,
          client.submit(specPath, { out }).then(async (id) => {
            for (;;) {
              const job = await client.getJob(id);
              if (["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"].includes(job.state)) {
                return { job, out };
              }
              await new Promise((r) => setTimeout(r, 200));
            }
          }),
        );
      }
      await Promise.allSettled(runs.values());
    });

    it.each(ROW_CASES)("$file", async ({ file, line, field, expect: pattern, good }) => {
      const { job, out } = await (runs.get(file) as Promise<{ job: Job; out: string }>);
      expect(job.state, job.error).toBe("JOB_STATE_FAILED");
      expect(job.error).toMatch(/1 manifest row was rejected; see .*errors\.jsonl/);
      expect(Number(job.samples_done)).toBe(2);
      expect(Number(job.rows_rejected)).toBe(1);
      const meta = await readJsonl<MetadataRow>(join(out, "metadata.jsonl"));
      expect(meta.map((r) => r.id)).toEqual(good ?? GOOD);
      const errors = await readJsonl<ErrorRow>(join(out, "errors.jsonl"));
      expect(errors).toHaveLength(1);
      expect(errors[0].where).toMatch(new RegExp(`${file.split("/")[1].replace(/\./g, "\\.")}:${line}$`));
      expect(errors[0].field ?? null).toBe(field);
      expect(errors[0].error).toMatch(pattern);
      expect(errors[0].error).not.toMatch(/\n\s+at /);
    });

    it("rows/prompt-many-tokens.jsonl: a prompt far past 77 tokens runs, truncated, with a warning", async () => {
      const { job, out } = await (runs.get("rows/prompt-many-tokens.jsonl") as Promise<{
        job: Job;
        out: string;
      }>);
      expect(job.state, job.error).toBe("JOB_STATE_SUCCEEDED");
      const meta = await readJsonl<MetadataRow>(join(out, "metadata.jsonl"));
      expect(meta.map((r) => r.id)).toEqual(["good-first-0", "long-0", "good-last-0"]);
      expect(workerLog.join("")).toMatch(/"sample":"long-0","warning":"prompt truncated to 77 tokens/);
    });

    it("writes nothing outside the jobs' output folders", async () => {
      const outside = (await listFiles(tmp))
        .map((f) => relative(tmp, f))
        .filter((f) => !f.startsWith("out/") && !f.startsWith("cases/"));
      expect(outside).toEqual([]);
      // And inside each, only the contract's files: images named by valid ids, metadata, errors.
      for (const { out } of await Promise.all(runs.values())) {
        for (const f of await listFiles(out)) {
          expect(relative(out, f)).toMatch(
            /^(images\/\d{6}\/[A-Za-z0-9][A-Za-z0-9._-]*\.png|metadata\.jsonl|errors\.jsonl|\.shards\/\d{6}\.jsonl|_stats\.json|\.job\/.*)$/,
          );
        }
      }
      await mkdir(join(tmp, "out"), { recursive: true });
    });
  });
});
