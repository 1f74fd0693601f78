/**
 * Sums a V8 .cpuprofile (node --cpu-prof) by function and by file: self time (the function itself was
 * running) and total time (it was anywhere on the stack), in ms and as a share of the busy time (all but
 * V8's "(idle)" samples).
 *
 * Usage: node dist/bench/cpuprofile-summary.js FILE.cpuprofile [--top 40] [--match TEXT]
 *   --match: only the functions and files whose name or path contains TEXT; with it, also the callers of the
 *   functions that match (their total time split by the calling function).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "40" }, match: { type: "string", default: "" } },
});
const file = positionals[0];
if (!file) throw new Error("usage: cpuprofile-summary FILE.cpuprofile [--top N] [--match TEXT]");
const top = Number(values.top);
const match = values.match ?? "";

const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
const byId = new Map<number, ProfileNode>();
const parent = new Map<number, number>();
for (const n of profile.nodes) {
  byId.set(n.id, n);
  for (const c of n.children ?? []) parent.set(c, n.id);
}

/** A file's path from the repository or package on: dist/src/..., node_modules/<pkg>/..., node:... */
function shortFile(url: string): string {
  if (url === "") return "(native)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) return url.slice(nm);
  const dist = url.indexOf("/dist/");
  if (dist >= 0) return url.slice(dist + 1);
  return url.replace(/^file:\/\//, "");
}

const functionKey = (f: CallFrame) =>
  `${f.functionName || "(anonymous)"}  ${shortFile(f.url)}:${f.lineNumber + 1}`;
const fileKey = (f: CallFrame) => shortFile(f.url);

const selfFn = new Map<string, number>();
const totalFn = new Map<string, number>();
const selfFile = new Map<string, number>();
const callers = new Map<string, number>();
let busyUs = 0;
let idleUs = 0;
const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);

for (let i = 0; i < profile.samples.length; i++) {
  // timeDeltas[i] is the time before sample i; the time after it is the better weight of sample i.
  const us = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
  const node = byId.get(profile.samples[i]);
  if (!node) continue;
  const name = node.callFrame.functionName;
  if (name === "(idle)" || name === "(program)") {
    idleUs += name === "(idle)" ? us : 0;
    if (name === "(idle)") continue;
  }
  busyUs += us;
  add(selfFn, functionKey(node.callFrame), us);
  add(selfFile, fileKey(node.callFrame), us);
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const n = byId.get(id);
    if (!n) break;
    const k = functionKey(n.callFrame);
    if (seen.has(k)) continue;
    seen.add(k);
    add(totalFn, k, us);
    const up = parent.get(id);
    const caller = up === undefined ? undefined : byId.get(up);
    if (match !== "" && k.includes(match) && caller)
      add(callers, `${k}  <-  ${functionKey(caller.callFrame)}`, us);
  }
}

const ms = (us: number) => (us / 1000).toFixed(1).padStart(9);
const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1).padStart(5)} %`;

function print(title: string, m: Map<string, number>): void {
  console.log(`\n${title}`);
  const rows = [...m].filter(([k]) => match === "" || k.includes(match)).sort((a, b) => b[1] - a[1]);
  for (const [k, us] of rows.slice(0, top)) console.log(`${ms(us)} ms ${pct(us)}  ${k}`);
}

console.log(`${file}: busy ${ms(busyUs).trim()} ms, idle ${ms(idleUs).trim()} ms`);
print("self time by file", selfFile);
print("self time by function", selfFn);
print("total time by function (on the stack)", totalFn);
if (match !== "") print("callers of the matching functions", callers);
