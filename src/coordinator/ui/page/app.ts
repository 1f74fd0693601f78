// The live job page: the jobs, one job's progress, workers, failures and images. Plain DOM, no library;
// every value from the server goes in as text, never as markup. Live through server-sent events.
// Compiled with the modules beside it (dom, http, format, chart, grid, viewer) by scripts/bundle.mjs into
// one dist/ui/app.js, which the server sends as /static/app.js.

import type {
  Cursor,
  GalleryPage,
  GallerySample,
  JobDetail,
  JobErrors,
  JobSummary,
  UiConfig,
} from "./api.js";
import { renderChart } from "./chart.js";
import { byId, el, svg } from "./dom.js";
import { failuresText, fmtEta, fmtRate, progressOf } from "./format.js";
import { renderGrid } from "./grid.js";
import { getJson, HttpError, reasonOf } from "./http.js";
import { closeViewer } from "./viewer.js";

// The page's own state.

interface JobParts {
  title: HTMLHeadingElement;
  progress: HTMLProgressElement;
  stats: HTMLDivElement;
  chart: SVGSVGElement;
  workers: HTMLTableSectionElement;
  failed: HTMLTableSectionElement;
  rejected: HTMLTableSectionElement;
  failedMore: HTMLSpanElement;
  newest: HTMLDivElement;
  browseGrid: HTMLDivElement;
  prev: HTMLButtonElement;
  next: HTMLButtonElement;
  gotoShard: HTMLInputElement;
  goto: HTMLButtonElement;
  filter: HTMLInputElement;
  cancel: HTMLButtonElement;
}

/** The images browsed in manifest order: the pages come back through (Previous), the next, the filter. */
interface Browse {
  stack: Cursor[];
  next: Cursor | null;
  query: string;
  samples?: GallerySample[];
}

/** An open job: its parts of the page and what it last read. */
interface JobView {
  id: string;
  parts: JobParts;
  last: JobSummary | null;
  browse: Browse;
  newest: GallerySample[];
  /** The errors file's counts when last read. */
  errorsSeen?: { failed: number; rejected: number };
  /** A filter typed but not applied yet (applied after a pause in typing). */
  filterTimer?: number;
}

interface PageState {
  config: UiConfig;
  jobs: Map<string, JobSummary>;
  /** The open job's view, or null on the jobs list. */
  job: JobView | null;
  token: string;
}

const main = byId("main", HTMLElement);
const connection = byId("connection", HTMLElement);

const state: PageState = {
  config: { cancel: false, cancelNeedsToken: false, contactSheet: false },
  jobs: new Map(),
  job: null,
  token: sessionStorage.getItem("lf-ui-token") ?? "",
};

// The jobs list.

function renderJobs(): void {
  const jobs = [...state.jobs.values()].sort((a, b) => b.createdAtMs - a.createdAtMs);
  const rows = jobs.map((j) => {
    const p = progressOf(j);
    return el(
      "tr",
      { "data-job": j.jobId },
      el("td", {}, el("a", { href: `#/job/${encodeURIComponent(j.jobId)}` }, j.jobId)),
      el("td", {}, el("span", { class: `state ${j.state}` }, j.state)),
      el("td", {}, j.model),
      el(
        "td",
        {},
        el("progress", { class: "bar", max: Math.max(1, p.total), value: p.done }),
        ` ${p.done} / ${j.samplesTotal ?? "?"}`,
      ),
      el("td", { class: "num" }, fmtRate(j.imagesPerSecond)),
      el("td", { class: "num" }, fmtEta(j.etaSeconds)),
      el("td", {}, failuresText(j.failures)),
    );
  });
  main.replaceChildren(
    el("h1", {}, "Jobs"),
    el(
      "section",
      { class: "card" },
      jobs.length === 0
        ? el("p", { class: "muted" }, "No jobs yet.")
        : el(
            "table",
            { id: "jobs" },
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                ["Job", "State", "Model", "Progress", "Rate", "ETA", "Failures"].map((h) =>
                  el("th", { scope: "col" }, h),
                ),
              ),
            ),
            el("tbody", {}, rows),
          ),
    ),
  );
}

async function showJobs(): Promise<void> {
  state.job = null;
  const { jobs } = await getJson<{ jobs: JobSummary[] }>("/api/jobs");
  state.jobs = new Map(jobs.map((j) => [j.jobId, j]));
  if (state.job === null) renderJobs();
}

// One job.

function renderJobHead(view: JobView, detail: JobDetail): void {
  const j = detail.job;
  const p = progressOf(j);
  view.parts.title.replaceChildren(j.jobId, " ", el("span", { class: `state ${j.state}` }, j.state));
  view.parts.progress.max = Math.max(1, p.total);
  view.parts.progress.value = p.done;
  view.parts.progress.textContent = `${p.pct.toFixed(0)}%`;
  view.parts.stats.replaceChildren(
    el("span", {}, "model ", el("b", {}, j.model), ` (${detail.outputFormat})`),
    el("span", {}, "done ", el("b", { id: "done" }, String(j.samplesDone)), ` / ${j.samplesTotal ?? "?"}`),
    el("span", {}, "failed ", el("b", {}, String(j.samplesFailed))),
    el("span", {}, "rejected rows ", el("b", {}, String(j.rowsRejected))),
    el("span", {}, "rate ", el("b", {}, fmtRate(j.imagesPerSecond))),
    el("span", {}, "ETA ", el("b", {}, fmtEta(j.etaSeconds))),
    el("span", {}, "failures ", el("b", {}, failuresText(j.failures))),
  );
  renderChart(view.parts.chart, detail.history);
  view.parts.workers.replaceChildren(
    ...(detail.workers.length === 0
      ? [el("tr", {}, el("td", { colspan: 3, class: "muted" }, "no worker has reported yet"))]
      : detail.workers.map((w) =>
          el(
            "tr",
            {},
            el("td", {}, w.worker),
            el("td", { class: "num" }, String(w.done)),
            el("td", { class: "num" }, w.rate === null ? "–" : fmtRate(w.rate)),
          ),
        )),
  );
  view.parts.cancel.hidden = !state.config.cancel || ["SUCCEEDED", "FAILED", "CANCELLED"].includes(j.state);
}

function renderErrors(view: JobView, errors: JobErrors): void {
  const failed = errors.failed.map((e) =>
    el(
      "tr",
      {},
      el("td", {}, e.where),
      el("td", {}, e.id ?? ""),
      el("td", {}, e.code ?? ""),
      el("td", {}, e.error),
    ),
  );
  const rejected = errors.rejected.map((e) =>
    el("tr", {}, el("td", {}, e.where), el("td", {}, e.field ?? ""), el("td", {}, e.error)),
  );
  view.parts.failed.replaceChildren(
    ...(failed.length ? failed : [el("tr", {}, el("td", { colspan: 4, class: "muted" }, "none"))]),
  );
  view.parts.rejected.replaceChildren(
    ...(rejected.length ? rejected : [el("tr", {}, el("td", { colspan: 3, class: "muted" }, "none"))]),
  );
  view.parts.failedMore.textContent =
    errors.failedTotal > errors.failed.length ? `first ${errors.failed.length} of ${errors.failedTotal}` : "";
}

function table(id: string, headings: string[]): { node: HTMLTableElement; body: HTMLTableSectionElement } {
  const body = el("tbody", { id });
  return {
    node: el(
      "table",
      {},
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          headings.map((h) => el("th", { scope: "col" }, h)),
        ),
      ),
      body,
    ),
    body,
  };
}

async function showJob(id: string): Promise<void> {
  const failedTable = table("failed", ["Row", "Sample", "Code", "Reason"]);
  const rejectedTable = table("rejected", ["Row", "Field", "Reason"]);
  const p: JobParts = {
    title: el("h1", { id: "job-title" }, id),
    progress: el("progress", { id: "progress", max: 1, value: 0 }),
    stats: el("div", { class: "stats", id: "stats" }),
    chart: svg("svg", { class: "chart", role: "img", "aria-label": "throughput over time" }),
    workers: el("tbody", { id: "workers" }),
    failed: failedTable.body,
    rejected: rejectedTable.body,
    failedMore: el("span", { class: "muted" }),
    newest: el("div", { class: "grid", id: "newest" }),
    browseGrid: el("div", { class: "grid", id: "browse" }),
    prev: el("button", { type: "button", id: "browse-prev", onclick: () => browse(view, -1) }, "← Previous"),
    next: el("button", { type: "button", id: "browse-next", onclick: () => browse(view, 1) }, "Next →"),
    // A job of a million samples is thousands of pages: jump to a shard (Previous comes back).
    gotoShard: el("input", {
      type: "number",
      id: "goto-shard",
      min: 0,
      placeholder: "shard",
      "aria-label": "Go to shard",
      onkeydown: (e) => {
        if (e.key === "Enter") jumpToShard(view);
      },
    }),
    goto: el("button", { type: "button", id: "goto", onclick: () => jumpToShard(view) }, "Go"),
    filter: el("input", {
      type: "search",
      id: "filter",
      placeholder: "filter by prompt, id or key",
      "aria-label": "Filter images",
    }),
    cancel: el(
      "button",
      { type: "button", class: "danger", id: "cancel", hidden: true, onclick: () => cancelJob(view) },
      "Cancel job",
    ),
  };
  const view: JobView = {
    id,
    parts: p,
    last: null,
    browse: { stack: [{ shard: 0, at: 0 }], next: null, query: "" },
    newest: [],
  };
  state.job = view;
  p.filter.addEventListener("input", () => {
    clearTimeout(view.filterTimer);
    view.filterTimer = setTimeout(() => {
      view.filterTimer = undefined;
      view.browse = { stack: [{ shard: 0, at: 0 }], next: null, query: p.filter.value };
      void loadBrowse(view);
    }, 250);
  });
  const sheet = state.config.contactSheet
    ? el(
        "a",
        {
          href: `/api/jobs/${encodeURIComponent(id)}/contact-sheet.png`,
          download: `contact-sheet-${id}.png`,
        },
        "Download a contact sheet",
      )
    : null;
  main.replaceChildren(
    el("p", {}, el("a", { href: "#/" }, "← All jobs")),
    p.title,
    el("section", { class: "card" }, p.progress, p.stats, el("div", { class: "toolbar" }, sheet, p.cancel)),
    el(
      "div",
      { class: "two" },
      el("section", { class: "card" }, el("h2", {}, "Throughput"), p.chart),
      el(
        "section",
        { class: "card" },
        el("h2", {}, "Workers"),
        el(
          "table",
          {},
          el("thead", {}, el("tr", {}, el("th", {}, "Worker"), el("th", {}, "Done"), el("th", {}, "Rate"))),
          p.workers,
        ),
      ),
    ),
    el("section", { class: "card" }, el("h2", {}, "Newest images"), p.newest),
    el(
      "section",
      { class: "card" },
      el("h2", {}, "All images, in manifest order"),
      el("div", { class: "toolbar" }, p.filter, p.prev, p.next, p.gotoShard, p.goto),
      p.browseGrid,
    ),
    el("section", { class: "card" }, el("h2", {}, "Failed samples ", p.failedMore), failedTable.node),
    el("section", { class: "card" }, el("h2", {}, "Rejected rows"), rejectedTable.node),
  );
  await Promise.all([refreshJob(view, true), loadBrowse(view)]);
}

/** The job's numbers; its images and errors when they changed. */
async function refreshJob(view: JobView, all = false): Promise<void> {
  const enc = encodeURIComponent(view.id);
  const detail = await getJson<JobDetail>(`/api/jobs/${enc}`);
  if (state.job !== view) return;
  renderJobHead(view, detail);
  const j = detail.job;
  const last = view.last;
  view.last = j;
  const jobs: Promise<void>[] = [];
  if (all || !last || last.samplesDone !== j.samplesDone || last.state !== j.state) {
    jobs.push(
      getJson<{ samples: GallerySample[] }>(`/api/jobs/${enc}/newest?limit=24`).then(({ samples }) => {
        if (state.job !== view) return;
        view.newest = samples;
        renderGrid(view.parts.newest, view.id, samples);
      }),
    );
    // The last page of the browsed images grows as shards are written.
    if (view.browse.next === null) jobs.push(loadBrowse(view));
  }
  // Read again as the job moves and until the file has what the counts say: rows are rejected as the
  // manifest is read, and the counts and the file do not change at the same moment.
  const seen = view.errorsSeen;
  if (
    all ||
    !seen ||
    seen.failed !== j.samplesFailed ||
    seen.rejected !== j.rowsRejected ||
    last?.state !== j.state ||
    last?.samplesDone !== j.samplesDone
  ) {
    jobs.push(
      getJson<JobErrors>(`/api/jobs/${enc}/errors`).then((errors) => {
        if (state.job !== view) return;
        view.errorsSeen = { failed: errors.failedTotal, rejected: errors.rejectedTotal };
        renderErrors(view, errors);
        // The file lags the counts: read it again shortly, even if the job sends no news meanwhile (a
        // slow first batch, a job that waits for workers).
        if (errors.failedTotal < j.samplesFailed || errors.rejectedTotal < j.rowsRejected)
          setTimeout(() => {
            if (state.job === view) refreshOpenJob();
          }, 1000);
      }),
    );
  }
  await Promise.all(jobs);
}

async function loadBrowse(view: JobView): Promise<void> {
  const b = view.browse;
  // Never empty: the first page's cursor stays at the bottom.
  const from = b.stack[b.stack.length - 1];
  const q = new URLSearchParams({ shard: String(from.shard), at: String(from.at), limit: "48" });
  if (b.query) q.set("q", b.query);
  const page = await getJson<GalleryPage>(`/api/jobs/${encodeURIComponent(view.id)}/samples?${q}`);
  if (state.job !== view || view.browse !== b) return;
  b.next = page.next;
  b.samples = page.samples;
  renderGrid(view.parts.browseGrid, view.id, page.samples);
  view.parts.prev.disabled = b.stack.length < 2;
  view.parts.next.disabled = page.next === null;
}

function jumpToShard(view: JobView): void {
  const shard = Number(view.parts.gotoShard.value);
  if (view.parts.gotoShard.value === "" || !Number.isInteger(shard) || shard < 0) return;
  if (view.filterTimer !== undefined) {
    // A filter still pending applies now, with the jump, instead of undoing it a moment later.
    clearTimeout(view.filterTimer);
    view.filterTimer = undefined;
    view.browse = { stack: [{ shard: 0, at: 0 }], next: null, query: view.parts.filter.value };
  }
  view.browse.stack.push({ shard, at: 0 });
  void loadBrowse(view);
}

function browse(view: JobView, step: number): void {
  const b = view.browse;
  if (step > 0 && b.next) b.stack.push(b.next);
  if (step < 0 && b.stack.length > 1) b.stack.pop();
  void loadBrowse(view);
}

async function cancelJob(view: JobView): Promise<void> {
  if (!state.config.cancelNeedsToken) {
    // Mutual TLS: the browser's client certificate is what lets it cancel.
    const res = await fetch(`/api/jobs/${encodeURIComponent(view.id)}/cancel`, { method: "POST" });
    if (res.ok) await refreshJob(view);
    else window.alert(`Not cancelled: ${(await reasonOf(res)) ?? res.status}`);
    return;
  }
  let token = state.token;
  if (!token) {
    token = window.prompt("Token to cancel jobs (--ui-token):") ?? "";
    if (!token) return;
  }
  const res = await fetch(`/api/jobs/${encodeURIComponent(view.id)}/cancel`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  if (res.ok) {
    state.token = token;
    sessionStorage.setItem("lf-ui-token", token);
    await refreshJob(view);
  } else {
    state.token = "";
    window.alert(`Not cancelled: ${(await reasonOf(res)) ?? res.status}`);
  }
}

// Routing and live updates.

/**
 * The view shown failed to load for want of the server (the coordinator restarting cut its requests off):
 * it is loaded again once the event stream is back, else the page would show the error for good.
 */
let routeLost = false;

async function route(): Promise<void> {
  closeViewer();
  routeLost = false;
  const m = /^#\/job\/(.+)$/.exec(location.hash);
  try {
    if (m) await showJob(decodeURIComponent(m[1]));
    else await showJobs();
  } catch (err) {
    routeLost = !(err instanceof HttpError);
    main.replaceChildren(
      el("p", { class: "muted" }, `Cannot load: ${err instanceof Error ? err.message : String(err)}`),
      el("p", {}, el("a", { href: "#/" }, "All jobs")),
    );
  }
  main.focus({ preventScroll: true });
}

let rerouting: Promise<void> | null = null;
function routeAgainIfLost(): boolean {
  if (!routeLost || rerouting) return false;
  rerouting = route().finally(() => {
    rerouting = null;
  });
  return true;
}

/** One refresh of the open job at a time; updates that come meanwhile make one more. */
let refreshing: Promise<void> | null = null;
let again = false;
function refreshOpenJob(): void {
  const view = state.job;
  if (!view) return;
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = refreshJob(view)
    .catch(() => undefined)
    .finally(() => {
      refreshing = null;
      if (again) {
        again = false;
        refreshOpenJob();
      }
    });
}

function onJobs(jobs: JobSummary[]): void {
  for (const j of jobs) state.jobs.set(j.jobId, j);
  if (routeAgainIfLost() || rerouting) return;
  const view = state.job;
  if (view === null) renderJobs();
  else if (jobs.some((j) => j.jobId === view.id)) refreshOpenJob();
}

function connect(): void {
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    connection.textContent = "live";
    connection.className = "connection live";
    // Back after an outage: what failed to load is loaded again, and the open job is read again even if
    // the server has no news of it to send.
    if (!routeAgainIfLost()) refreshOpenJob();
  });
  events.addEventListener("error", () => {
    connection.textContent = "reconnecting…";
    connection.className = "connection lost";
  });
  events.addEventListener("jobs", (e) => onJobs((JSON.parse(e.data) as { jobs: JobSummary[] }).jobs));
}

async function start(): Promise<void> {
  state.config = await getJson<UiConfig>("/api/config").catch(() => state.config);
  window.addEventListener("hashchange", () => void route());
  connect();
  await route();
}

void start();
