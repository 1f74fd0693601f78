import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadSpec } from "../../../src/manifest/index.js";
import { collect, copyFixture, removeTempDirs, rowErrorsOf, samplesOf } from "./helpers.js";

afterAll(removeTempDirs);

describe("bad rows", () => {
  it("are reported with file:line and field, and the rows after them still come out", async () => {
    const dir = copyFixture("bad-rows");
    const events = await collect(await loadSpec(join(dir, "job.yaml")));
    const at = (file: string, line: number) => `${join(dir, file)}:${line}`;

    expect(samplesOf(events).map((s) => [s.prompt, s.source])).toEqual([
      ["jsonl ok first", at("bad.jsonl", 1)],
      ["x", at("bad.jsonl", 10)], // the first "dup"
      ["jsonl ok last", at("bad.jsonl", 15)],
      ["csv ok first", at("bad.csv", 2)],
      ["csv ok last", at("bad.csv", 8)],
      ["before the error", at("bad-syntax.csv", 2)],
      ["after all the bad files", at("job.yaml", 8)],
    ]);

    const errors = rowErrorsOf(events).map((e) => [e.where, e.field, e.message]);
    const expected: [string, string | null, RegExp][] = [
      [at("bad.jsonl", 2), null, /^line is not valid JSON: /],
      [at("bad.jsonl", 3), "prompt", /^prompt is missing/],
      [at("bad.jsonl", 4), "prompt", /^prompt must be a string, got 42$/],
      [at("bad.jsonl", 5), "steps", /^steps must be an integer in \[1, 500\], got 0$/],
      [at("bad.jsonl", 6), "width", /^width must be a multiple of 8, got 100$/],
      [
        at("bad.jsonl", 7),
        "scheduler",
        /^scheduler: unknown scheduler "warp drive"; known schedulers: ddim, euler/,
      ],
      [at("bad.jsonl", 8), "id", /^id must be 1 to 128 characters from A-Z a-z 0-9 \. _ - .*got "a b"$/],
      [at("bad.jsonl", 9), null, /^each line must be a JSON object/],
      [at("bad.jsonl", 11), "id", /^id "DUP" is used by an earlier row/],
      [at("bad.jsonl", 12), "id", /^id "r000000001" has the form r \+ 9 or more digits, reserved/],
      [at("bad.jsonl", 13), "seed", /^seed \+ images_per_prompt - 1 must be at most 9007199254740991/],
      [at("bad.jsonl", 14), "guidance_scale", /^guidance_scale must be a number in \[0, 50\], got "high"$/],
      [at("bad.csv", 3), "prompt", /^prompt is missing/],
      [at("bad.csv", 4), "steps", /^steps must be an integer in \[1, 500\], got "twenty"$/],
      [at("bad.csv", 5), "width", /^width must be a multiple of 8, got 65$/],
      [at("bad.csv", 6), null, /^row has 2 fields, the header has 4/],
      [at("bad.csv", 7), "id", /got "bad\/id"$/],
      [
        at("bad-syntax.csv", 3),
        null,
        /^CSV syntax error: .*Quote Not Closed.*; the rest of this file was not read$/,
      ],
    ];
    expect(errors.length).toBe(expected.length);
    for (const [i, [where, field, message]] of expected.entries()) {
      expect(errors[i][0], `error ${i}`).toBe(where);
      expect(errors[i][1], `error ${i}`).toBe(field);
      expect(errors[i][2], `error ${i}`).toMatch(message);
    }
  });

  it("count in row indexes, so the rows after them keep their ids and seeds", async () => {
    const dir = copyFixture("bad-rows");
    const events = await collect(await loadSpec(join(dir, "job.yaml")));
    const indexes = events.map((e) =>
      e.type === "sample" ? e.sample.rowIndex : e.type === "row_error" ? e.rowIndex : -1,
    );
    expect(indexes).toEqual(indexes.map((_, i) => i)); // one event per row here, rows numbered in order
    expect(samplesOf(events).find((s) => s.prompt === "jsonl ok last")?.rowId).toBe("r000000014");
  });
});
