/**
 * The page's URLs, parsed into routes. Every part taken from a URL is decoded once and checked against a
 * strict pattern (job ids, sample keys, shard numbers): an encoded slash, a dot segment or anything else
 * unexpected is no route. Nothing here or after reaches the file system with a part of the URL: static
 * files are a fixed table, images are looked up by key in the job's own index.
 */

export type Route =
  | { kind: "page" }
  | { kind: "favicon" }
  | { kind: "static"; name: StaticName }
  | { kind: "config" }
  | { kind: "jobs" }
  | { kind: "events" }
  | { kind: "job"; jobId: string }
  | { kind: "errors"; jobId: string }
  | { kind: "samples"; jobId: string; from: { shard: number; at: number }; limit: number; query: string }
  | { kind: "newest"; jobId: string; limit: number }
  | { kind: "image"; jobId: string; shard: number; key: string; thumbnail: boolean }
  | { kind: "contactSheet"; jobId: string }
  | { kind: "cancel"; jobId: string };

export const STATIC_FILES = {
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
} as const;
export type StaticName = keyof typeof STATIC_FILES;

/** Job ids as newJobId makes them, and a little room (letters, digits, dash, underscore). */
const JOB_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
/** Sample ids (checkSampleId) and webdataset keys: no slash, no backslash, no leading dot. */
const SAMPLE_KEY = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;
const SHARD = /^\d{1,9}$/;

export const MAX_PAGE = 200;

export type RouteResult = { route: Route } | { status: 404 | 405 | 400; why: string };

function segments(pathname: string): string[] | null {
  const parts: string[] = [];
  for (const raw of pathname.split("/").slice(1)) {
    let part: string;
    try {
      part = decodeURIComponent(raw);
    } catch {
      return null;
    }
    // After decoding, a part is one name: "%2F", "..", "\" or NUL would make it more.
    if (/[/\\\0]/.test(part) || part === "." || part === "..") return null;
    parts.push(part);
  }
  return parts;
}

function boundedInt(text: string | null, fallback: number, min: number, max: number): number | null {
  if (text === null || text === "") return fallback;
  if (!/^\d{1,9}$/.test(text)) return null;
  const n = Number(text);
  return n < min || n > max ? null : n;
}

export function parseRoute(method: string, url: string): RouteResult {
  let parsed: URL;
  try {
    parsed = new URL(url, "http://ui.invalid");
  } catch {
    return { status: 400, why: "bad URL" };
  }
  const parts = segments(parsed.pathname);
  if (!parts) return { status: 404, why: "no such page" };
  const q = parsed.searchParams;
  const get = method === "GET" || method === "HEAD";
  const notFound = { status: 404, why: "no such page" } as const;
  const found = (route: Route): RouteResult =>
    route.kind === "cancel"
      ? method === "POST"
        ? { route }
        : { status: 405, why: "POST only" }
      : get
        ? { route }
        : { status: 405, why: "GET only" };

  if (parts.length === 1 && parts[0] === "") return found({ kind: "page" });
  if (parts.length === 1 && parts[0] === "favicon.ico") return found({ kind: "favicon" });
  if (parts.length === 2 && parts[0] === "static" && Object.hasOwn(STATIC_FILES, parts[1]))
    return found({ kind: "static", name: parts[1] as StaticName });
  if (parts[0] !== "api") return notFound;
  const [, what, jobId, sub, shard, samples, key, view] = parts;
  if (parts.length === 2 && what === "config") return found({ kind: "config" });
  if (parts.length === 2 && what === "jobs") return found({ kind: "jobs" });
  if (parts.length === 2 && what === "events") return found({ kind: "events" });
  if (what !== "jobs" || jobId === undefined || !JOB_ID.test(jobId)) return notFound;
  if (parts.length === 3) return found({ kind: "job", jobId });
  if (parts.length === 4) {
    if (sub === "errors") return found({ kind: "errors", jobId });
    if (sub === "contact-sheet.png") return found({ kind: "contactSheet", jobId });
    if (sub === "cancel") return found({ kind: "cancel", jobId });
    if (sub === "samples" || sub === "newest") {
      const limit = boundedInt(q.get("limit"), 48, 1, MAX_PAGE);
      if (limit === null) return { status: 400, why: `limit is a number in [1, ${MAX_PAGE}]` };
      if (sub === "newest") return found({ kind: "newest", jobId, limit });
      const shard = boundedInt(q.get("shard"), 0, 0, 999_999_999);
      const at = boundedInt(q.get("at"), 0, 0, 999_999_999);
      if (shard === null || at === null) return { status: 400, why: "shard and at are numbers" };
      const query = (q.get("q") ?? "").slice(0, 200);
      return found({ kind: "samples", jobId, from: { shard, at }, limit, query });
    }
    return notFound;
  }
  if (
    parts.length === 8 &&
    sub === "shards" &&
    SHARD.test(shard) &&
    samples === "samples" &&
    SAMPLE_KEY.test(key) &&
    (view === "image.png" || view === "thumb.png")
  ) {
    return found({ kind: "image", jobId, shard: Number(shard), key, thumbnail: view === "thumb.png" });
  }
  return notFound;
}
