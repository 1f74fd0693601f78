/**
 * A client of the coordinator's gRPC service, for the CLI's `submit`, `status`, `watch`, `cancel` and
 * `jobs` (and for `run`). Every call has a deadline; a coordinator that cannot be reached gives a
 * COORDINATOR_UNAVAILABLE error naming the address, never a hang.
 */
import { open, readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { type ServiceError, status } from "@grpc/grpc-js";
import { parse as parseYaml } from "yaml";
import { type ErrorCode, LatentFleetError } from "../common/errors.js";
import { explainTlsFailure, type GrpcClientTls, grpcChannelCredentials } from "../common/grpc/tls.js";
import type { CoordinatorClient as GrpcCoordinatorClient } from "../common/proto/generated/latentfleet/v1/Coordinator.js";
import type { Job } from "../common/proto/generated/latentfleet/v1/Job.js";
import type { SubmitJobChunk__Input } from "../common/proto/generated/latentfleet/v1/SubmitJobChunk.js";
import { coordinatorProto } from "../common/proto/load.js";
import { isPromptsFile } from "../manifest/index.js";

export const DEFAULT_COORDINATOR_ADDRESS = "127.0.0.1:7070";

export interface CoordinatorClientOptions {
  /** How long to wait for the connection (default 5 s). */
  connectTimeoutMs?: number;
  /** Deadline of each unary call (default 30 s). */
  callTimeoutMs?: number;
  /** Deadline of SubmitJob, which uploads the prompt files (default 30 min). */
  submitTimeoutMs?: number;
  /** Reach the coordinator over TLS (with a client certificate for mutual TLS); plaintext when omitted. */
  tls?: GrpcClientTls;
}

export interface SubmitOptions {
  /** Output folder (replaces the spec's); sent as an absolute path, or as given when it is s3://. */
  out?: string;
  /** Remove what an earlier run left in the output instead of reusing its complete shards. */
  overwrite?: boolean;
  /** The job's failure tolerance, "N" or "P%" (default "0": none). */
  maxFailed?: string;
  /** Called for each local prompt file sent with the spec. */
  onFile?: (path: string, bytes: number) => void;
}

const CHUNK_BYTES = 1024 * 1024;
const FINAL_STATES = new Set(["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"]);

export function isFinalJobState(state: Job["state"]): boolean {
  return FINAL_STATES.has(state);
}

export class CoordinatorClient {
  private constructor(
    readonly address: string,
    private readonly client: GrpcCoordinatorClient,
    private readonly opts: Required<Omit<CoordinatorClientOptions, "tls">>,
  ) {}

  /** Connects to the coordinator at HOST:PORT (COORDINATOR_UNAVAILABLE when nothing answers in time). */
  static async connect(address: string, options: CoordinatorClientOptions = {}): Promise<CoordinatorClient> {
    const opts: Required<Omit<CoordinatorClientOptions, "tls">> = {
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      callTimeoutMs: options.callTimeoutMs ?? 30_000,
      submitTimeoutMs: options.submitTimeoutMs ?? 30 * 60_000,
    };
    const Ctor = coordinatorProto().latentfleet.v1.Coordinator;
    const client = new Ctor(address, grpcChannelCredentials(options.tls), {
      "grpc.max_send_message_length": 16 * 1024 * 1024,
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      // Notice a coordinator that went away in the middle of a long watch.
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      // A coordinator still starting (`run`) is retried every 100-500 ms, not after grpc-js's 1 s backoff.
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 500,
    });
    const failed = await new Promise<Error | undefined>((resolvePromise) => {
      client.waitForReady(Date.now() + opts.connectTimeoutMs, (err) => resolvePromise(err ?? undefined));
    });
    if (failed) {
      client.close();
      const tlsTrouble = await explainTlsFailure(address, options.tls);
      throw new LatentFleetError(
        "COORDINATOR_UNAVAILABLE",
        tlsTrouble
          ? `cannot connect to the coordinator at ${address}: ${tlsTrouble}`
          : `cannot reach the coordinator at ${address} within ${Math.round(opts.connectTimeoutMs / 1000)} s (${failed.message}); is \`latent-fleet coordinator\` running there? (--coordinator HOST:PORT)`,
        { cause: failed },
      );
    }
    return new CoordinatorClient(address, client, opts);
  }

  close(): void {
    this.client.close();
  }

  /**
   * Submits the spec at `specPath`, streaming it and the prompt files it names that exist on this machine
   * (files it names that are not here are left to the coordinator's disk). A bare prompts file works too.
   * Returns the new job's id; a bad spec is a SPEC_INVALID error with the coordinator's message.
   */
  async submit(specPath: string, options: SubmitOptions = {}): Promise<string> {
    const name = resolve(specPath);
    const bare = isPromptsFile(name);
    let content: Buffer;
    try {
      content = bare ? Buffer.alloc(0) : await readFile(name);
    } catch (err) {
      throw new LatentFleetError(
        "SPEC_INVALID",
        `${specPath}: cannot read the spec file (${(err as Error).message})`,
        {
          cause: err,
        },
      );
    }
    const files = bare ? [{ named: name, local: name }] : await localSources(name, content);
    return new Promise<string>((resolvePromise, reject) => {
      const call = this.client.SubmitJob(
        { deadline: Date.now() + this.opts.submitTimeoutMs },
        (err, response) => {
          if (err) reject(this.error(err, "SPEC_INVALID"));
          else resolvePromise(response?.job_id ?? "");
        },
      );
      const write = (chunk: SubmitJobChunk__Input) =>
        new Promise<void>((done) => {
          if (!call.write(chunk)) call.once("drain", () => done());
          else done();
        });
      (async () => {
        const out = options.out;
        const output = out ? (out.startsWith("s3://") ? out : resolve(out)) : "";
        const overwrite = options.overwrite === true;
        await write({ spec: { name, content, output, overwrite, max_failed: options.maxFailed ?? "" } });
        for (const f of files) {
          const handle = await open(f.local, "r");
          let sent = 0;
          try {
            const buf = Buffer.alloc(CHUNK_BYTES);
            for (;;) {
              const { bytesRead } = await handle.read(buf, 0, CHUNK_BYTES, null);
              if (bytesRead === 0) break;
              sent += bytesRead;
              await write({
                file: { path: f.named, data: Buffer.from(buf.subarray(0, bytesRead)), last: false },
              });
            }
            await write({ file: { path: f.named, data: Buffer.alloc(0), last: true } });
          } finally {
            await handle.close();
          }
          options.onFile?.(f.local, sent);
        }
        call.end();
      })().catch(async (err: unknown) => {
        // The coordinator's own answer (already on its way when a write fails) says more: give it a moment.
        await new Promise((r) => setTimeout(r, 1000));
        call.cancel();
        reject(
          new LatentFleetError("SPEC_INVALID", `cannot send the job's files: ${(err as Error).message}`, {
            cause: err,
          }),
        );
      });
    });
  }

  getJob(jobId: string): Promise<Job> {
    return new Promise((resolvePromise, reject) => {
      this.client.GetJob({ job_id: jobId }, { deadline: this.deadline() }, (err, job) =>
        err || !job ? reject(this.error(err)) : resolvePromise(job),
      );
    });
  }

  cancelJob(jobId: string): Promise<Job> {
    return new Promise((resolvePromise, reject) => {
      this.client.CancelJob({ job_id: jobId }, { deadline: this.deadline() }, (err, job) =>
        err || !job ? reject(this.error(err)) : resolvePromise(job),
      );
    });
  }

  listJobs(): Promise<Job[]> {
    return new Promise((resolvePromise, reject) => {
      this.client.ListJobs({}, { deadline: this.deadline() }, (err, res) =>
        err || !res ? reject(this.error(err)) : resolvePromise(res.jobs),
      );
    });
  }

  /** The job's snapshots as they change (at most a few a second), until it ends; an abort ends it quietly. */
  async *watchJob(
    jobId: string,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<Job, void, undefined> {
    const { signal } = options;
    if (signal?.aborted) return;
    const call = this.client.WatchJob({ job_id: jobId });
    const onAbort = () => call.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const job of call as AsyncIterable<Job>) yield job;
    } catch (err) {
      if (signal?.aborted) return;
      throw this.error(err as ServiceError);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      call.cancel();
    }
  }

  private deadline(): number {
    return Date.now() + this.opts.callTimeoutMs;
  }

  private error(err: ServiceError | null, invalidCode: ErrorCode = "INVALID_ARGUMENT"): LatentFleetError {
    if (!err)
      return new LatentFleetError("COORDINATOR_ERROR", `the coordinator at ${this.address} sent no answer`);
    const details = err.details || err.message;
    switch (err.code) {
      case status.INVALID_ARGUMENT:
        return new LatentFleetError(invalidCode, details, { cause: err });
      case status.NOT_FOUND:
        return new LatentFleetError("JOB_NOT_FOUND", details, { cause: err });
      case status.PERMISSION_DENIED:
        return new LatentFleetError("PATH_NOT_ALLOWED", details, { cause: err });
      case status.UNAVAILABLE:
      case status.DEADLINE_EXCEEDED:
        return new LatentFleetError(
          "COORDINATOR_UNAVAILABLE",
          `the coordinator at ${this.address} did not answer: ${details}`,
          { cause: err },
        );
      default:
        return new LatentFleetError(
          "COORDINATOR_ERROR",
          `the coordinator at ${this.address} failed: ${details}`,
          {
            cause: err,
          },
        );
    }
  }
}

/**
 * The prompt files a spec names (`prompts: - file: ...`) that exist here, with the path as the spec
 * writes it. A spec the coordinator will reject anyway may yield none; its message comes from there.
 */
async function localSources(specName: string, content: Buffer): Promise<{ named: string; local: string }[]> {
  let doc: unknown;
  try {
    doc = parseYaml(content.toString("utf8"));
  } catch {
    return [];
  }
  const prompts =
    typeof doc === "object" && doc !== null ? (doc as Record<string, unknown>).prompts : undefined;
  if (!Array.isArray(prompts)) return [];
  const out: { named: string; local: string }[] = [];
  const seen = new Set<string>();
  for (const entry of prompts) {
    const file =
      typeof entry === "object" && entry !== null ? (entry as Record<string, unknown>).file : undefined;
    if (typeof file !== "string" || file.trim() === "" || seen.has(file)) continue;
    const local = isAbsolute(file) ? file : join(dirname(specName), file);
    const s = await stat(local).catch(() => null);
    if (!s?.isFile()) continue;
    seen.add(file);
    out.push({ named: file, local });
  }
  return out;
}
