/**
 * The live job page (`--ui HOST:PORT`): the page and its two static files, a JSON API over the jobs this
 * coordinator knows, a server-sent-events stream fed by the same job updates WatchJob uses, and a job's
 * images by job id, shard and key. Read-only unless given a token, which cancelling a job then needs.
 */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { PNG } from "pngjs";
import { type JobStatsFile, STATS_FILE } from "../../common/contract/job.js";
import { isLatentFleetError } from "../../common/errors.js";
import { type GrpcServerTls, readPem } from "../../common/grpc/tls.js";
import { closeHttpServer, listenHttp } from "../../common/http-listen.js";
import { errorMessage, type Logger } from "../../common/log.js";
import { Lru } from "../../common/lru.js";
import { parseListenAddress } from "../../common/metrics.js";
import { packageRoot } from "../../common/package-root.js";
import { openStorage } from "../../common/storage/index.js";
import type { JobDetails } from "../job-manager.js";
import type { JobSnapshot } from "../job-snapshot.js";
import { isFinalState } from "../job-store.js";
import { EventHub } from "./events.js";
import { Gallery, type GalleryJob } from "./gallery.js";
import { JobHistory } from "./history.js";
import { readJobErrors } from "./job-errors.js";
import type * as PageApi from "./page/api.js";
import { parseRoute, type Route, STATIC_FILES, type StaticName } from "./routes.js";
import { hasToken, hostAllowed, isLoopbackHost, setSecurityHeaders } from "./security.js";

/** What the page reads and does: the coordinator's JobManager. */
export interface UiJobSource {
  list(): Promise<JobSnapshot[]>;
  details(jobId: string): Promise<JobDetails>;
  /** The jobs run here and the last few that ended here, from memory. */
  recentJobs(): JobSnapshot[];
  subscribe(jobId: string, listener: () => void): (() => void) | null;
  cancel(jobId: string): Promise<JobSnapshot>;
}

export interface SheetTileInput {
  rgb: Uint8Array;
  width: number;
  height: number;
  label: string;
}

/** Lays images out as a contact sheet (the CLI hands in eval's; the coordinator does not import it). */
export type ContactSheetComposer = (tiles: SheetTileInput[]) => {
  rgb: Uint8Array;
  width: number;
  height: number;
};

export interface UiOptions {
  /** HOST:PORT (port 0: a free one). A host beyond loopback is what asks for the page to be reachable. */
  address: string;
  /** Cancelling a job from the page needs `Authorization: Bearer <token>`; read-only without one. */
  token?: string;
  /**
   * Serve the page over HTTPS with gRPC's certificate and key. With its client CA, as gRPC, only clients
   * whose certificate chains to that CA are answered at all, and they may cancel jobs without a token.
   */
  tls?: GrpcServerTls;
  composeSheet?: ContactSheetComposer;
  log: Logger;
  /** How often the open pages are told of the jobs even when nothing signalled a change (default 1 s). */
  pollMs?: number;
}

export interface UiServer {
  readonly port: number;
  /** http://HOST:PORT/ as bound. */
  readonly url: string;
  stop(): Promise<void>;
}

export interface JobSummary extends JobSnapshot {
  failures: Record<string, number>;
}

interface StoredStats {
  failures: Record<string, number>;
  workers: Record<string, number>;
}

const SHEET_TILES = 16;
/** Least time between two updates pushed to the pages. */
const PUSH_INTERVAL_MS = 250;

/** A request that came over TLS with a client certificate the server verified against its client CA. */
function clientVerified(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket>).authorized === true;
}

function loadStatic(): { page: Buffer; files: Record<StaticName, Buffer> } {
  const dir = join(packageRoot(), "dist", "ui");
  const files = {} as Record<StaticName, Buffer>;
  for (const name of Object.keys(STATIC_FILES) as StaticName[]) files[name] = readFileSync(join(dir, name));
  return { page: readFileSync(join(dir, "index.html")), files };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startUiServer(source: UiJobSource, opts: UiOptions): Promise<UiServer> {
  const { host, port } = parseListenAddress(opts.address, "--ui");
  const loopback = isLoopbackHost(host);
  const mutualTls = opts.tls?.clientCaFile !== undefined;
  const assets = loadStatic();
  const gallery = new Gallery();
  const history = new JobHistory();
  const hub = new EventHub();
  /** What a job's _stats.json says of its failures and workers, kept once the job has ended. */
  const finalStats = new Lru<StoredStats>(256);
  const subscribed = new Map<string, () => void>();
  const log = opts.log.child({ component: "ui" });

  /** A job run elsewhere or ended: its failures and workers as its _stats.json has them. */
  async function storedStats(d: JobDetails): Promise<StoredStats> {
    const hit = finalStats.get(d.snapshot.jobId);
    if (hit) return hit;
    const storage = openStorage(d.snapshot.output);
    try {
      const data = await storage.get(STATS_FILE);
      const stats = data ? (JSON.parse(data.toString("utf8")) as Partial<JobStatsFile>) : {};
      const found = { failures: stats.failures ?? {}, workers: stats.workers ?? {} };
      if (isFinalState(d.snapshot.state)) finalStats.set(d.snapshot.jobId, found);
      return found;
    } catch {
      return { failures: {}, workers: {} };
    } finally {
      storage.close();
    }
  }

  async function summary(d: JobDetails): Promise<JobSummary> {
    return { ...d.snapshot, failures: d.live ? d.live.failures : (await storedStats(d)).failures };
  }

  /** Each worker's samples and recent rate while the job runs here; after, its samples alone. */
  async function workersOf(d: JobDetails): Promise<{ worker: string; done: number; rate: number | null }[]> {
    if (d.live) return history.workerRates(d.snapshot.jobId);
    return Object.entries((await storedStats(d)).workers)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([worker, done]) => ({ worker, done, rate: null }));
  }

  async function galleryJob(jobId: string): Promise<GalleryJob> {
    const d = await source.details(jobId);
    return { jobId, output: d.snapshot.output, outputFormat: d.outputFormat };
  }

  // Pushing job updates: on every change of a job run here (throttled) and every pollMs anyway.
  let lastPushed = "";
  let pushTimer: NodeJS.Timeout | null = null;
  let pushing = false;
  async function push(): Promise<void> {
    pushTimer = null;
    if (pushing) return schedulePush();
    pushing = true;
    try {
      const jobs: JobSummary[] = [];
      for (const snap of source.recentJobs()) {
        const d = await source.details(snap.jobId).catch(() => null);
        if (!d) continue;
        if (d.live) history.observe(snap.jobId, d.snapshot.samplesDone, d.live.workers);
        jobs.push(await summary(d));
        if (!isFinalState(d.snapshot.state) && !subscribed.has(snap.jobId)) {
          const off = source.subscribe(snap.jobId, schedulePush);
          if (off) subscribed.set(snap.jobId, off);
        }
      }
      for (const [jobId, off] of subscribed) {
        if (jobs.some((j) => j.jobId === jobId && !isFinalState(j.state))) continue;
        off();
        subscribed.delete(jobId);
      }
      const text = JSON.stringify(jobs);
      if (text !== lastPushed && hub.size > 0) {
        hub.send("jobs", { jobs });
        lastPushed = text;
      }
    } catch (err) {
      log.warn("cannot gather the jobs for the page", { err });
    } finally {
      pushing = false;
    }
  }
  function schedulePush(): void {
    pushTimer ??= setTimeout(() => void push(), PUSH_INTERVAL_MS);
  }
  const poll = setInterval(() => void push(), opts.pollMs ?? 1000);

  async function handle(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    switch (route.kind) {
      case "page":
        return send(res, 200, "text/html; charset=utf-8", assets.page, "no-cache");
      case "favicon":
        // None: an empty answer keeps browsers from logging a missing one.
        res.writeHead(204, { "Cache-Control": "max-age=86400" });
        res.end();
        return;
      case "static":
        return send(res, 200, STATIC_FILES[route.name], assets.files[route.name], "no-cache");
      case "config":
        return json(res, {
          cancel: mutualTls || opts.token !== undefined,
          // Behind mutual TLS every client that got this far is one the CA vouches for: no token to ask.
          cancelNeedsToken: !mutualTls,
          contactSheet: opts.composeSheet !== undefined,
        } satisfies PageApi.UiConfig);
      case "jobs": {
        const jobs: JobSummary[] = [];
        for (const snap of await source.list()) {
          const d = await source.details(snap.jobId).catch(() => null);
          if (d) jobs.push(await summary(d));
        }
        jobs.sort((a, b) => b.createdAtMs - a.createdAtMs);
        return json(res, { jobs } satisfies { jobs: PageApi.JobSummary[] });
      }
      case "events": {
        const jobs = await Promise.all(
          source.recentJobs().map(async (s) => summary(await source.details(s.jobId))),
        );
        const data = { jobs } satisfies { jobs: PageApi.JobSummary[] };
        if (!hub.add(res, { event: "jobs", data })) throw new HttpError(503, "too many open pages");
        return;
      }
      case "job": {
        const d = await source.details(route.jobId);
        if (d.live) history.observe(route.jobId, d.snapshot.samplesDone, d.live.workers);
        return json(res, {
          job: await summary(d),
          outputFormat: d.outputFormat,
          workers: await workersOf(d),
          history: history.points(route.jobId),
        } satisfies PageApi.JobDetail);
      }
      case "errors": {
        const d = await source.details(route.jobId);
        return json(res, (await readJobErrors(d.snapshot.output)) satisfies PageApi.JobErrors);
      }
      case "samples":
        return json(
          res,
          (await gallery.page(
            await galleryJob(route.jobId),
            route.from,
            route.limit,
            route.query,
          )) satisfies PageApi.GalleryPage,
        );
      case "newest": {
        const samples = await gallery.newest(await galleryJob(route.jobId), route.limit);
        return json(res, { samples } satisfies { samples: PageApi.GallerySample[] });
      }
      case "image": {
        const png = await gallery.image(
          await galleryJob(route.jobId),
          route.shard,
          route.key,
          route.thumbnail,
        );
        if (!png) throw new HttpError(404, "no such image in this job's output");
        return send(res, 200, "image/png", png, "private, max-age=3600");
      }
      case "contactSheet":
        return contactSheet(route.jobId, res);
      case "cancel": {
        if (!(mutualTls && clientVerified(req))) {
          if (opts.token === undefined)
            throw new HttpError(403, "this page is read-only (no --ui-token, no client certificate CA)");
          if (!hasToken(req, opts.token)) throw new HttpError(401, "a valid token is needed to cancel a job");
        }
        const job = await source.cancel(route.jobId);
        log.info("job cancelled from the page", { job: job.jobId });
        return json(res, { job });
      }
    }
  }

  async function contactSheet(jobId: string, res: ServerResponse): Promise<void> {
    if (!opts.composeSheet) throw new HttpError(404, "no contact sheets here");
    const job = await galleryJob(jobId);
    const samples = (await gallery.newest(job, SHEET_TILES)).reverse();
    const tiles: SheetTileInput[] = [];
    for (const s of samples) {
      const png = await gallery.image(job, s.shard, s.key, false);
      if (!png) continue;
      const img = PNG.sync.read(png);
      const rgb = new Uint8Array(img.width * img.height * 3);
      for (let i = 0; i < img.width * img.height; i++) {
        rgb[3 * i] = img.data[4 * i];
        rgb[3 * i + 1] = img.data[4 * i + 1];
        rgb[3 * i + 2] = img.data[4 * i + 2];
      }
      tiles.push({
        rgb,
        width: img.width,
        height: img.height,
        label: `${s.metadata.seed} ${s.metadata.prompt}`,
      });
    }
    if (tiles.length === 0) throw new HttpError(404, "the job has no images yet");
    const sheet = opts.composeSheet(tiles);
    const out = new PNG({ width: sheet.width, height: sheet.height });
    for (let i = 0; i < sheet.width * sheet.height; i++) {
      out.data[4 * i] = sheet.rgb[3 * i];
      out.data[4 * i + 1] = sheet.rgb[3 * i + 1];
      out.data[4 * i + 2] = sheet.rgb[3 * i + 2];
      out.data[4 * i + 3] = 255;
    }
    res.setHeader("Content-Disposition", `attachment; filename="contact-sheet-${jobId}.png"`);
    send(res, 200, "image/png", PNG.sync.write(out), "no-store");
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    setSecurityHeaders(res);
    if (!hostAllowed(req, loopback))
      return problem(res, 421, "this page answers to a loopback host name only");
    const found = parseRoute(req.method ?? "GET", req.url ?? "/");
    if ("status" in found) return problem(res, found.status, found.why);
    handle(found.route, req, res).catch((err: unknown) => {
      if (err instanceof HttpError) return problem(res, err.status, err.message);
      if (isLatentFleetError(err) && err.code === "JOB_NOT_FOUND") return problem(res, 404, err.message);
      log.error("page request failed", { url: req.url, err });
      problem(res, 500, errorMessage(err));
    });
  };
  const server = opts.tls
    ? createHttpsServer(
        {
          cert: readPem(opts.tls.certFile, "page's TLS certificate"),
          key: readPem(opts.tls.keyFile, "page's TLS key"),
          ...(mutualTls
            ? {
                ca: readPem(opts.tls.clientCaFile as string, "page's TLS client CA"),
                requestCert: true,
                rejectUnauthorized: true,
              }
            : {}),
        },
        onRequest,
      )
    : createServer(onRequest);
  const bound = await listenHttp(server, host, port, "the page", opts.address);
  let stopping: Promise<void> | undefined;
  return {
    port: bound.port,
    url: `${opts.tls ? "https" : "http"}://${bound.hostPort}/`,
    stop() {
      if (!stopping) {
        clearInterval(poll);
        if (pushTimer) clearTimeout(pushTimer);
        for (const off of subscribed.values()) off();
        hub.close();
        gallery.close();
        stopping = closeHttpServer(server);
      }
      return stopping;
    },
  };
}

function send(res: ServerResponse, status: number, type: string, body: Buffer | string, cache: string): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { "Content-Type": type, "Cache-Control": cache });
  res.end(body);
}

function json(res: ServerResponse, value: unknown): void {
  send(res, 200, "application/json; charset=utf-8", JSON.stringify(value), "no-store");
}

function problem(res: ServerResponse, status: number, why: string): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify({ error: why }), "no-store");
}
