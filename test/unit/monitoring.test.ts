/**
 * The Grafana dashboard and the Prometheus files, checked without running anything long: the dashboard's
 * structure (a datasource variable, not __inputs, so Grafana's sidecar loads it), every metric its queries
 * and the alert rules name is one the processes export, and promtool accepts the config, the rules and the
 * rules' own tests.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CoordinatorMetrics } from "../../src/coordinator/metrics.js";
import { WorkerMetrics } from "../../src/worker/metrics.js";
import { dashboardQueries, type GrafanaDashboard, type GrafanaPanel } from "../helpers/dashboard.js";
import { ROOT } from "../helpers/paths.js";
import { parsePromText } from "../helpers/prom-text.js";

const DASHBOARD = join(ROOT, "deploy", "grafana", "latent-fleet.json");
/** Grafana's reference to the datasource variable, in every panel and query. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
const DATASOURCE_UID = "${datasource}";
const PROMETHEUS_DIR = join(ROOT, "deploy", "prometheus");

/** Every series name the worker and coordinator export (histograms with their _bucket, _sum, _count). */
async function exportedNames(): Promise<Set<string>> {
  const worker = new WorkerMetrics({
    workerId: "w",
    model: "m",
    device: "cpu",
    tasksInFlight: () => 0,
    samplesQueued: () => 0,
    samplesUnwritten: () => 0,
  });
  const jsm = { consumers: { list: () => ({ next: async () => [] }) } } as unknown as JetStreamManager;
  const coordinator = new CoordinatorMetrics({ jobs: () => [], jsm });
  const names = new Set<string>();
  for (const registry of [worker.registry, coordinator.registry]) {
    for (const [name, type] of parsePromText(await registry.metrics()).types) {
      names.add(name);
      if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
    }
  }
  worker.close();
  return names;
}

function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(latent_fleet_[a-z0-9_]+|DCGM_[A-Z0-9_]+)\b/g)].map((m) => m[1]);
}

function promtool(...args: string[]) {
  const r = spawnSync("promtool", args, { cwd: PROMETHEUS_DIR, encoding: "utf8", timeout: 60_000 });
  if (r.error) throw new Error(`promtool cannot run (install Prometheus' promtool): ${r.error.message}`);
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("the Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as GrafanaDashboard & Record<string, unknown>;

  it("has a datasource variable and the namespace, model and worker variables, and no __inputs", () => {
    expect(dashboard.__inputs).toBeUndefined();
    const vars = dashboard.templating.list;
    expect(vars.find((v) => v.name === "datasource")).toMatchObject({
      type: "datasource",
      query: "prometheus",
    });
    for (const name of ["namespace", "model", "worker"]) {
      expect(
        vars.find((v) => v.name === name),
        name,
      ).toMatchObject({ type: "query", includeAll: true });
    }
    expect(JSON.stringify(dashboard)).not.toContain("${DS_");
  });

  it("has unique panel ids, every panel and query on the datasource variable, within the grid", () => {
    const panels: GrafanaPanel[] = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
      if (p.type === "row") continue;
      expect(p.datasource, p.title).toEqual({ type: "prometheus", uid: DATASOURCE_UID });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe(DATASOURCE_UID);
    }
  });

  it("covers what the fleet needs watched", () => {
    const titles = dashboard.panels.map((p) => p.title).join("\n");
    for (const t of [
      /Throughput/,
      /Scaling efficiency/,
      /Stage latency p50/,
      /Stage latency p95/,
      /Stage latency p99/,
      /Batch size/,
      /Queue depth/,
      /Queue lag/,
      /Job progress/,
      /Job ETA/,
      /Failed samples/,
      /Redeliveries/,
      /GPU utilisation/,
      /GPU memory/,
    ]) {
      expect(titles).toMatch(t);
    }
    const exprs = dashboardQueries(dashboard).map((q) => q.expr);
    expect(exprs.some((e) => e.includes("DCGM_FI_DEV_GPU_UTIL"))).toBe(true);
    expect(exprs.some((e) => e.includes("DCGM_FI_DEV_FB_USED"))).toBe(true);
  });

  it("queries only metrics the coordinator and workers export", async () => {
    const names = await exportedNames();
    for (const { panel, expr } of dashboardQueries(dashboard)) {
      for (const name of metricNames(expr)) {
        if (name.startsWith("DCGM_")) continue;
        expect(names.has(name), `${panel}: ${name}`).toBe(true);
      }
    }
  });
});

describe("the Prometheus files", () => {
  it("alert rules name only exported metrics", async () => {
    const names = await exportedNames();
    const rules = parse(readFileSync(join(PROMETHEUS_DIR, "alerts.yml"), "utf8")) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const alerts = rules.groups.flatMap((g) => g.rules);
    expect(alerts.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        "LatentFleetJobStalled",
        "LatentFleetWorkerFailures",
        "LatentFleetQueueGrowingWhileWorkersIdle",
      ]),
    );
    for (const r of alerts)
      for (const name of metricNames(r.expr)) expect(names.has(name), r.alert).toBe(true);
  });

  it("promtool accepts the config and the rules, and the rules pass their tests", () => {
    const config = promtool("check", "config", "prometheus.yml");
    expect(config.code, config.out).toBe(0);
    const rules = promtool("check", "rules", "alerts.yml");
    expect(rules.code, rules.out).toBe(0);
    const tests = promtool("test", "rules", "alerts.test.yml");
    expect(tests.code, tests.out).toBe(0);
  });
});
