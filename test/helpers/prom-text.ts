/** Reading the Prometheus text format in tests: types by metric family, samples with their labels. */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Metric family name -> type (counter, gauge, histogram, summary). */
  types: Map<string, string>;
  samples: PromSample[];
}

export function parsePromText(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      types.set(name, type);
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return { types, samples };
}

export async function scrape(port: number, host = "127.0.0.1"): Promise<Scrape> {
  const res = await fetch(`http://${host}:${port}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  return parsePromText(await res.text());
}

/** The samples of `name` whose labels include `match`. */
export function find(s: Scrape, name: string, match: Record<string, string> = {}): PromSample[] {
  return s.samples.filter(
    (x) => x.name === name && Object.entries(match).every(([k, v]) => x.labels[k] === v),
  );
}

/** The sum of the values of `name` whose labels include `match` (0 when there is none). */
export function total(s: Scrape, name: string, match: Record<string, string> = {}): number {
  return find(s, name, match).reduce((acc, x) => acc + x.value, 0);
}
