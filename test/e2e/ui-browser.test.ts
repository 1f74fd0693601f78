/// <reference lib="dom" />
/**
 * The live job page in a real browser (Debian's chromium, driven by playwright-core) while a real `run` of
 * the bundled model goes on: one run for every check, made slow enough (many steps) to be watched, and
 * stopped once the checks are done. A webdataset job submitted to the same coordinator shows on the page
 * too (one task queued ahead, so that its task does not wait for all of the first job's). Skipped only where /usr/bin/chromium is absent.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type MetadataRow, shardMetadataFile } from "../../src/common/contract/job.js";
import { type CliProcess, childRunning, runCli, startCli, stopAll } from "../helpers/cli-processes.js";
import { TINY_SHAPES } from "../helpers/paths.js";

const CHROMIUM = "/usr/bin/chromium";
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const NO_CHROMIUM = `${CHROMIUM} is not installed (apt-get install chromium)`;

const COLORS = ["red", "blue", "green", "orange"];
const SHAPES = ["circle", "square", "triangle", "star"];
/** Line of the planted bad row in prompts.jsonl (a guidance scale that is not a number). */
const BAD_LINE = 2;
/**
 * Line of a row whose samples fail in the worker: 24x24 passes the manifest's checks (a multiple of 8), but
 * the bundled UNet cannot join its 3x3 latents with their upsampled 4x4 (ONNX Runtime fails the batch).
 */
const FAILING_LINE = 3;

let tmp: string;
let run: CliProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let pageUrl: string;
let coordinator: string;
let out: string;
let wdsJob: string;
const problems: string[] = [];

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  tmp = await mkdtemp(join(tmpdir(), "lf-ui-browser-"));
  out = join(tmp, "out", "live");
  const rows = COLORS.flatMap((c, i) =>
    SHAPES.map((s, j) =>
      JSON.stringify({ id: `p${i * 4 + j}`, prompt: `a ${c} ${s} on a white background` }),
    ),
  );
  rows.splice(BAD_LINE - 1, 0, JSON.stringify({ prompt: "a bad row", guidance_scale: "high" }));
  rows.splice(
    FAILING_LINE - 1,
    0,
    JSON.stringify({
      id: "too-small",
      prompt: "a red circle on a white background",
      width: 24,
      height: 24,
      images_per_prompt: 2,
    }),
  );
  await writeFile(join(tmp, "prompts.jsonl"), `${rows.join("\n")}\n`);
  // 16 prompts x 100 images at 40 steps: far more than the checks need (about 20 s), so the job is still
  // going when they are done on a fast machine too (the run is stopped then, never waited for).
  await writeFile(
    join(tmp, "job.yaml"),
    [
      `model: ${TINY_SHAPES}`,
      "output: out/live",
      "seed: 11",
      "images_per_prompt: 100",
      "max_failed: 10",
      "defaults: { steps: 40, width: 64, height: 64 }",
      "prompts:",
      "  - file: prompts.jsonl",
    ].join("\n"),
  );
  await writeFile(
    join(tmp, "wds.yaml"),
    [
      `model: ${TINY_SHAPES}`,
      "output: { dir: out/wds, format: webdataset }",
      "seed: 5",
      "images_per_prompt: 2",
      "defaults: { steps: 4, width: 64, height: 64 }",
      "prompts:",
      '  - "a purple circle on a white background"',
      '  - "a yellow square on a black background"',
    ].join("\n"),
  );
  run = startCli(
    "run",
    [
      "run",
      join(tmp, "job.yaml"),
      "--workers",
      "1",
      "--shard-size",
      "4",
      "--batch-size",
      "4",
      "--queue-ahead",
      "1",
    ],
    {
      cwd: tmp,
    },
  );
  await run.waitForOutput(/live page: (\S+)/, 90_000);
  pageUrl = /live page: (\S+)/.exec(run.output())?.[1] ?? "";
  coordinator = /coordinator (127\.0\.0\.1:\d+)/.exec(run.output())?.[1] ?? "";
  // The webdataset job goes in now: its task takes its turn between the first job's while the checks run.
  const submitted = await runCli(["submit", join(tmp, "wds.yaml"), "--coordinator", coordinator], {
    cwd: tmp,
    timeoutMs: 60_000,
  });
  if (submitted.code !== 0) throw new Error(`cannot submit the webdataset job:\n${submitted.output}`);
  wdsJob = submitted.output.trim().split("\n").at(-1) ?? "";
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"], headless: true });
  // A window of a laptop's width: the grids wrap to a few thumbnails a row.
  page = await browser.newPage({ viewport: { width: 900, height: 900 } });
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // An event stream or an image cut short by a navigation is not a problem of the page.
    if (!/\/api\/events|aborted/i.test(`${r.url()} ${r.failure()?.errorText}`))
      problems.push(`request failed: ${r.url()}`);
  });
  await page.goto(pageUrl);
}, 150_000);

afterAll(async () => {
  await browser?.close();
  if (run) await stopAll([run]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** The thumbnails of a grid that the browser decoded, by key. */
async function decodedThumbs(selector: string): Promise<string[]> {
  return page.$$eval(`${selector} .thumb`, (buttons) =>
    buttons
      .filter((b) => {
        const img = b.querySelector("img");
        return img?.complete === true && img.naturalWidth > 0;
      })
      .map((b) => (b as HTMLElement).dataset.key ?? ""),
  );
}

describe("the live job page in a browser", () => {
  it("loads without console errors, and its progress advances as the job runs", async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(NO_CHROMIUM);
    await page.waitForSelector("#progress");
    await page.waitForFunction(
      () => (document.querySelector("#progress") as HTMLProgressElement).value > 0,
      null,
      {
        timeout: 90_000,
      },
    );
    const first = await page.$eval("#progress", (p) => (p as HTMLProgressElement).value);
    await page.waitForFunction(
      // The page re-renders the job when its stream comes back: the bar may be briefly absent.
      (v) => ((document.querySelector("#progress") as HTMLProgressElement | null)?.value ?? -1) > v,
      first,
      { timeout: 90_000 },
    );
    expect(await page.$eval("#connection", (c) => c.textContent)).toBe("live");
    // The worker's rate, and the throughput chart drawn once it has a few points.
    await expect
      .poll(
        () =>
          page.$$eval("#workers tr", (trs) =>
            trs.map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent ?? "")),
          ),
        { timeout: 60_000 },
      )
      .toSatisfy(
        (r: string[][]) =>
          r.length === 1 &&
          Number(r[0][1]) > 0 &&
          /^[\d.]+ img\/s$/.test(r[0][2]) &&
          Number.parseFloat(r[0][2]) > 0,
      );
    await expect
      .poll(
        () =>
          page.$eval(
            ".chart",
            (c) => c.querySelector("polyline")?.getAttribute("points")?.split(" ").length ?? 0,
          ),
        { timeout: 60_000 },
      )
      .toBeGreaterThanOrEqual(2);
    expect(problems).toEqual([]);
  });

  it("shows new thumbnails as they are made, each decoded by the browser", async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(NO_CHROMIUM);
    await page.waitForFunction(() => document.querySelectorAll("#newest .thumb").length > 0, null, {
      timeout: 90_000,
    });
    await expect.poll(() => decodedThumbs("#newest"), { timeout: 30_000 }).not.toEqual([]);
    const seen = await decodedThumbs("#newest");
    // A shard written after the page first drew its images: one of its thumbnails comes in, decoded.
    await expect
      .poll(async () => (await decodedThumbs("#newest")).some((k) => !seen.includes(k)), { timeout: 90_000 })
      .toBe(true);
    expect(problems).toEqual([]);
  });

  it("opens the full-size image with its metadata row, and is driven from the keyboard", async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(NO_CHROMIUM);
    const rows = (await readFile(join(out, shardMetadataFile(0)), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as MetadataRow);
    // The last page of the grid grows as shards are written.
    await page.waitForSelector("#browse .thumb:nth-child(2)", { timeout: 60_000 });
    await page.focus("#browse .thumb");
    await page.keyboard.press("ArrowRight");
    expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.key)).toBe(rows[1].id);
    await page.keyboard.press("ArrowLeft");
    // Down moves by a row of the grid, as wide as the window makes it; up comes back.
    const columns = await page.$$eval(
      "#browse .thumb",
      (t) => t.filter((b) => (b as HTMLElement).offsetTop === (t[0] as HTMLElement).offsetTop).length,
    );
    // A second row comes as the job goes on (the window is 900 px wide: a few thumbnails a row).
    await page.waitForSelector(`#browse .thumb:nth-child(${columns + 1})`, { timeout: 60_000 });
    await page.keyboard.press("ArrowDown");
    expect(
      await page.evaluate(() =>
        Array.from(document.querySelectorAll("#browse .thumb")).indexOf(document.activeElement as Element),
      ),
    ).toBe(columns);
    await page.keyboard.press("ArrowUp");
    expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.key)).toBe(rows[0].id);
    await page.keyboard.press("Enter");
    await page.waitForSelector("#viewer[open]");
    const field = (f: string) => page.$eval(`#viewer-meta td[data-field="${f}"]`, (td) => td.textContent);
    const expectRow = async (row: MetadataRow) => {
      await expect.poll(() => field("id")).toBe(row.id);
      for (const f of ["prompt", "seed", "steps", "guidance_scale", "scheduler", "width", "model"] as const)
        expect([f, await field(f)]).toEqual([f, String(row[f])]);
      await page.waitForFunction(() => {
        const img = document.querySelector("#viewer-image") as HTMLImageElement;
        return img.complete && img.naturalWidth === 64;
      });
    };
    await expectRow(rows[0]);
    await page.keyboard.press("ArrowRight");
    await expectRow(rows[1]);
    await page.keyboard.press("Escape");
    await page.waitForFunction(() => !(document.querySelector("#viewer") as HTMLDialogElement).open);
    expect(problems).toEqual([]);
  });

  it("filters the images by text", async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(NO_CHROMIUM);
    await page.fill("#filter", "circle");
    await expect
      .poll(() => page.$$eval("#browse .caption", (c) => c.map((x) => x.textContent ?? "")), {
        timeout: 30_000,
      })
      .toSatisfy((captions: string[]) => captions.length > 0 && captions.every((t) => t.includes("circle")));
  });

  it("jumps to a shard, and Previous comes back", async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(NO_CHROMIUM);
    const firstShard = () =>
      page.$eval("#browse .thumb img", (img) => /\/shards\/(\d+)\//.exec((img as HTMLImageElement).src)?.[1]);
    await page.fill("#filter", "");
    // Jumping at once: the filter still pending applies with the jump, not after it.
    await page.fill("#goto-shard", "2");
    await page.press("#goto-shard", "Enter");
    await expect.poll(firstShard, { timeout: 30_000 }).toBe("2");
    await page.click("#browse-prev");
    await expect.poll(firstShard, { timeout: 30_000 }).toBe("0");
    expect(problems).toEqual([]);
  });

  it("lists the planted bad row, and the samples that failed in the worker, with their file and line", async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(NO_CHROMIUM);
    await expect
      .poll(() => page.$eval("#rejected", (t) => t.textContent ?? ""), { timeout: 30_000 })
      .toMatch(new RegExp(`prompts\\.jsonl:${BAD_LINE}.*guidance`));
    // Both samples of the failing row, each with its row, id, code and ONNX Runtime's reason.
    await expect
      .poll(
        () =>
          page.$$eval("#failed tr", (trs) =>
            trs.map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent ?? "")),
          ),
        { timeout: 90_000 },
      )
      .toSatisfy(
        (r: string[][]) =>
          r.length === 2 &&
          r.every(
            ([where, id, code, reason]) =>
              where.endsWith(`/prompts.jsonl:${FAILING_LINE}`) &&
              id.startsWith("too-small") &&
              code === "ENGINE_FAILED" &&
              /Concat/.test(reason),
          ),
      );
  });

  it("shows a webdataset job's images too, and lists both jobs", async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(NO_CHROMIUM);
    await page.goto(`${pageUrl.replace(/#.*$/, "")}#/job/${wdsJob}`);
    await expect.poll(() => decodedThumbs("#newest"), { timeout: 90_000 }).not.toEqual([]);
    expect((await decodedThumbs("#newest"))[0]).toMatch(/^\d{9}$/);
    await page.click("a[href='#/']");
    await page.waitForSelector("#jobs");
    expect(await page.$$eval("#jobs tbody tr", (r) => r.length)).toBe(2);
    expect(problems).toEqual([]);
  });

  it("reconnects after the coordinator restarts, and goes on showing the job's progress", async (ctx) => {
    if (!HAVE_CHROMIUM) ctx.skip(NO_CHROMIUM);
    const liveJob = /job (\S+): writing to/.exec(run?.output() ?? "")?.[1] ?? "";
    // The kill cuts off the job page's first listing of its images, as it does whenever it lands while the
    // page is still loading: the page must load again once the coordinator is back, not show the error.
    let cut: () => void = () => undefined;
    const killed = new Promise<void>((resolve) => {
      cut = resolve;
    });
    let held = false;
    await page.route(
      "**/api/jobs/*/samples?*",
      async (r) => {
        held = true;
        await killed;
        await r.abort("connectionreset");
      },
      { times: 1 },
    );
    await page.goto(`${pageUrl.replace(/#.*$/, "")}#/job/${liveJob}`);
    await page.waitForFunction(() => document.querySelector("#connection")?.textContent === "live");
    const coordinatorPid = childRunning(run?.child.pid as number, (argv) => argv.includes("coordinator"));
    if (coordinatorPid === undefined) throw new Error("cannot find the coordinator `run` started");
    await expect.poll(() => held, { timeout: 30_000 }).toBe(true);
    await page.waitForSelector("#done");
    const before = await page.$eval("#progress", (p) => (p as HTMLProgressElement).value);
    process.kill(coordinatorPid, "SIGKILL");
    cut();
    await page.waitForFunction(
      () => document.querySelector("#connection")?.textContent === "reconnecting…",
      null,
      {
        timeout: 30_000,
      },
    );
    // `run` starts it again on the same ports; the page's event stream finds it by itself.
    await page.waitForFunction(() => document.querySelector("#connection")?.textContent === "live", null, {
      timeout: 60_000,
    });
    await page.waitForFunction(
      // The page re-renders the job when its stream comes back: the bar may be briefly absent.
      (v) => ((document.querySelector("#progress") as HTMLProgressElement | null)?.value ?? -1) > v,
      before,
      { timeout: 60_000 },
    );
    expect(run?.output()).toMatch(/coordinator killed by SIGKILL; restarting it/);
  });
});
