/** The parts of a Grafana dashboard JSON the tests read, and its queries with the template variables filled. */

export interface GrafanaTarget {
  refId: string;
  expr: string;
  datasource?: { type?: string; uid?: string };
}

export interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: GrafanaTarget[];
  /** A collapsed row keeps its panels here. */
  panels?: GrafanaPanel[];
}

export interface GrafanaDashboard {
  templating: { list: { name: string; type: string; query?: unknown; includeAll?: boolean }[] };
  panels: GrafanaPanel[];
}

export interface DashboardQuery {
  panel: string;
  refId: string;
  expr: string;
}

/** Every query of every panel, rows' collapsed panels included. */
export function dashboardQueries(d: GrafanaDashboard): DashboardQuery[] {
  const panels = d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  return panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })),
  );
}

/**
 * The query as Grafana would send it: `$var` / `${var}` from `vars`, the interval macros from `interval`
 * (e.g. "15s").
 */
export function substitute(expr: string, vars: Record<string, string>, interval: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$\{__rate_interval\}|\$\{__interval\}/g, interval)
    .replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a: string | undefined, b: string | undefined) => {
      const name = a ?? b ?? "";
      const value = vars[name];
      if (value === undefined) throw new Error(`no value for ${whole} in ${expr}`);
      return value;
    });
}
