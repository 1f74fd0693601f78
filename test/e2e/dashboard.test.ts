/**
 * The Grafana dashboard against real data: a real Prometheus (scraping every second) scrapes the metrics
 * addresses a real `latent-fleet run` prints while it generates on the bundled model with 2 workers; then
 * every query of every panel (the DCGM ones aside: no GPU here) is evaluated through Prometheus's HTTP API at
 * a moment when the job was running, with the template variables filled in, and must return data.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/common/child-process.js";
import {
  type DashboardQuery,
  dashboardQueries,
  type GrafanaDashboard,
  substitute,
} from "../helpers/dashboard.js";
import { CLI, ROOT, TINY_SHAPES } from "../helpers/paths.js";

const PROMETHEUS = process.env.LF_PROMETHEUS_BIN ?? "prometheus";
/** What Grafana would put in for $__rate_interval at a 1 s scrape interval (4 x scrape interval, rounded up). */
const RATE_INTERVAL = "15s";

interface PromResponse<T> {
  status: string;
  data: T;
  error?: string;
}
type InstantVector = {
  resultType: string;
  result: { metric: Record<string, string>; value: [number, string] }[];
};
type RangeMatrix = {
  resultType: string;
  result: { metric: Record<string, string>; values: [number, string][] }[];
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

async function stop(child: ChildProcess | undefined, graceMs = 20_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited(child);
  clearTimeout(timer);
}

describe("the Grafana dashboard on a real run", () => {
  let dir: string;
  let run: ChildProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let promUrl: string;
  let runErr = "";
  let promLog = "";

  async function api<T>(path: string, params: Record<string, string | number> = {}): Promise<T> {
    const qs = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
    const res = await fetch(`${promUrl}${path}?${qs}`);
    const body = (await res.json()) as PromResponse<T>;
    if (body.status !== "success") throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "lf-dashboard-"));
  });
  afterAll(async () => {
    await stop(run);
    await stop(prometheus, 10_000);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("every panel's queries return data while a job runs", { timeout: 300_000 }, async () => {
    // 4 x 4 x 4 prompts x 10 images = 640 samples, 10 steps at 64x64: some 15-25 s on 2 CPU workers, long
    // enough for Prometheus (started once `run` prints its addresses) to scrape the job in full swing, each
    // worker several times, even when a loaded machine times some scrapes out. (320 samples ran in about 8 s
    // and, under a full test run, left no moment with two scrapes of each worker in the rate window.)
    const spec = join(dir, "job.yaml");
    await writeFile(
      spec,
      [
        `model: ${TINY_SHAPES}`,
        "output: out",
        "seed: 3",
        "images_per_prompt: 10",
        "defaults: { steps: 10, guidance_scale: 4.0, scheduler: euler, width: 64, height: 64 }",
        "prompts:",
        '  - template: "a {color} {shape} on a {background} background"',
        "    vars:",
        "      color: [red, blue, green, yellow]",
        "      shape: [circle, square, triangle, star]",
        "      background: [white, black, gray, blue]",
      ].join("\n"),
    );
    const runStartedAt = Date.now() / 1000;
    run = spawn(
      process.execPath,
      [
        CLI,
        "run",
        spec,
        "--out",
        join(dir, "out"),
        "--workers",
        "2",
        "--batch-size",
        "8",
        "--shard-size",
        "8",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    run.stdout?.resume();
    run.stderr?.on("data", (b: Buffer) => {
      runErr += b.toString();
    });
    const runExit = exited(run);

    // The addresses `run` prints: the coordinator, then each worker.
    let targets: [string, string][] = [];
    for (let i = 0; i < 600 && targets.length === 0; i++) {
      const line = /^metrics: (.*)$/m.exec(runErr)?.[1];
      if (line) targets = [...line.matchAll(/(\S+) http:\/\/(\S+?)\/metrics/g)].map((m) => [m[1], m[2]]);
      else if (run.exitCode !== null) break;
      else await sleep(100);
    }
    expect(
      targets.map(([name]) => name),
      runErr,
    ).toEqual(["coordinator", "worker-0", "worker-1"]);

    const promPort = await freePort("127.0.0.1");
    promUrl = `http://127.0.0.1:${promPort}`;
    const config = join(dir, "prometheus.yml");
    await writeFile(
      config,
      [
        "global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }",
        "scrape_configs:",
        "  - job_name: latent-fleet-coordinator",
        `    static_configs: [{ targets: ["${targets[0][1]}"] }]`,
        "  - job_name: latent-fleet-worker",
        `    static_configs: [{ targets: [${targets
          .slice(1)
          .map(([, a]) => `"${a}"`)
          .join(", ")}] }]`,
      ].join("\n"),
    );
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, "tsdb")}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    prometheus.stderr?.on("data", (b: Buffer) => {
      promLog += b.toString();
    });
    prometheus.once("error", (err) => {
      promLog += `cannot start ${PROMETHEUS}: ${err.message}`;
    });

    // Poll Prometheus while the job runs: it must see the workers generate before the job ends.
    let sawImages = false;
    let runCode: number | null | undefined;
    void runExit.then((code) => {
      runCode = code;
    });
    const deadline = Date.now() + 240_000;
    while (runCode === undefined && Date.now() < deadline) {
      await sleep(1000);
      try {
        const v = await api<InstantVector>("/api/v1/query", {
          query: "sum(latent_fleet_images_generated_total)",
        });
        if (Number(v.result[0]?.value[1] ?? 0) > 0) sawImages = true;
      } catch {
        // not ready yet
      }
    }
    expect(runCode, runErr).toBe(0);
    expect(sawImages, `Prometheus saw no image while the job ran\n${promLog}`).toBe(true);
    const runEndedAt = Date.now() / 1000;
    // Query only a settled past: the scrapes that failed as the processes exited (and the staleness markers
    // they write, stamped at their start) must be in before the moment is chosen, or a moment just before
    // them looks running to the range query and empty to the panel queries made a little later.
    const settledAt = Math.ceil(runEndedAt) + 1;
    await sleep(Math.max(0, (settledAt + 3) * 1000 - Date.now()));

    // The last moment at which the job was generating and had an ETA and pending samples.
    const running = await api<RangeMatrix>("/api/v1/query_range", {
      query:
        `(sum(rate(latent_fleet_images_generated_total[${RATE_INTERVAL}])) > 0)` +
        " and on () count(latent_fleet_job_eta_seconds)" +
        ' and on () count(latent_fleet_job_samples{state="pending"})' +
        ' and on () (count(up{job="latent-fleet-worker"} == 1) == 2)' +
        // Each worker scraped at least twice within the panels' rate window (a loaded machine can time out
        // a scrape, and a rate needs two).
        ` and on () (count(rate(latent_fleet_process_cpu_seconds_total{job="latent-fleet-worker"}[${RATE_INTERVAL}])) == 2)` +
        ' and on () (count(up{job="latent-fleet-coordinator"} == 1) == 1)' +
        " and on () (count(latent_fleet_worker_info) == 2)",
      start: Math.floor(runStartedAt),
      end: settledAt,
      step: 1,
    });
    const times = running.result[0]?.values.map(([t]) => t) ?? [];
    expect(times.length, "no moment with the job running was scraped").toBeGreaterThan(0);
    const at = times[times.length - 1];

    const dashboard = JSON.parse(
      await readFile(join(ROOT, "deploy", "grafana", "latent-fleet.json"), "utf8"),
    ) as GrafanaDashboard;
    const queries = dashboardQueries(dashboard).filter((q) => !q.expr.includes("DCGM_"));
    expect(queries.length).toBeGreaterThan(30);

    // The variables' values, as Grafana's label_values() would list them.
    const models = await api<string[]>("/api/v1/label/model/values", {
      "match[]": "latent_fleet_worker_info",
      start: at - 5,
      end: at,
    });
    const workers = await api<string[]>("/api/v1/label/worker/values", {
      "match[]": "latent_fleet_worker_info",
      start: at - 5,
      end: at,
    });
    expect(models).toEqual(["tiny-shapes"]);
    expect(workers).toEqual(["worker-0", "worker-1"]);

    const empty: string[] = [];
    const check = async (q: DashboardQuery, vars: Record<string, string>) => {
      const expr = substitute(q.expr, { datasource: "", ...vars }, RATE_INTERVAL);
      const v = await api<InstantVector>("/api/v1/query", { query: expr, time: at });
      if (v.result.length === 0) empty.push(`${q.panel} [${q.refId}] ${JSON.stringify(vars)}: ${expr}`);
    };
    for (const q of queries) await check(q, { namespace: ".*", model: ".*", worker: ".*" });
    // One value of each, as a user picks them (Grafana sends a single pick as the value itself).
    for (const q of queries) await check(q, { namespace: ".*", model: models[0], worker: workers[1] });
    expect(empty, empty.join("\n")).toEqual([]);
  });
});
