/** The throughput chart: images per second over the job's recent history. */
import type { HistoryPoint } from "./api.js";
import { svg } from "./dom.js";

export function renderChart(svgNode: SVGSVGElement, history: HistoryPoint[]): void {
  const w = 600;
  const h = 140;
  svgNode.replaceChildren();
  svgNode.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const rates: { t: number; r: number }[] = [];
  // Each point's rate over the few points before it: shards land in steps, a point-to-point rate saws.
  const spanPoints = 5;
  for (let i = 1; i < history.length; i++) {
    const from = history[Math.max(0, i - spanPoints)];
    const dt = (history[i].t - from.t) / 1000;
    if (dt > 0) rates.push({ t: history[i].t, r: Math.max(0, (history[i].done - from.done) / dt) });
  }
  svgNode.append(svg("line", { class: "axis", x1: 30, y1: h - 20, x2: w, y2: h - 20 }));
  if (rates.length < 2) {
    const t = svg("text", { x: 40, y: h / 2 });
    t.textContent = "gathering throughput…";
    svgNode.append(t);
    return;
  }
  const t0 = rates[0].t;
  const t1 = rates[rates.length - 1].t;
  const max = Math.max(...rates.map((p) => p.r), 0.001);
  const points = rates.map(
    (p) => `${30 + ((p.t - t0) / Math.max(1, t1 - t0)) * (w - 40)},${h - 20 - (p.r / max) * (h - 40)}`,
  );
  svgNode.append(svg("polyline", { points: points.join(" ") }));
  const top = svg("text", { x: 0, y: 14 });
  top.textContent = `${max.toFixed(1)}/s`;
  const span = svg("text", { x: w - 90, y: h - 4 });
  span.textContent = `last ${Math.round((t1 - t0) / 1000)} s`;
  svgNode.append(top, span);
}
