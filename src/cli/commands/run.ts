/**
 * `latent-fleet run`: the whole system on one machine. Starts an embedded nats-server (JetStream, temporary
 * store, free loopback port) unless --nats is given, a coordinator and N workers as separate processes,
 * submits the job, shows progress, and tears everything down on exit or Ctrl-C. Exits 0 only when every
 * sample is done. A process that exits before the job ends is restarted (supervisor.ts) unless it keeps
 * crashing.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { parseFailureTolerance } from "../../common/contract/failure-tolerance.js";
import { EXIT_CODES, LatentFleetError } from "../../common/errors.js";
import { createLogger } from "../../common/log.js";
import { type EmbeddedNatsServer, startEmbeddedNatsServer } from "../../common/nats/embedded-server.js";
import type { NatsAuthOptions } from "../../common/nats/security.js";
import { findNatsServer } from "../../common/nats/server-binary.js";
import {
  LOG_FORMAT_OPTION,
  NATS_CONNECT_WAIT_OPTION,
  type OptionValues,
  optionArgs,
} from "../../common/options/index.js";
import type { Job } from "../../common/proto/generated/latentfleet/v1/Job.js";
import type { CoordinatorClient } from "../coordinator-client.js";
import { runWorkerThreads } from "../inference-threads.js";
import { checkJob } from "../job-checks.js";
import { addNatsAuthOptions, NATS_AUTH_OPTIONS, natsAuthFromCli, natsChildEnv } from "../nats-options.js";
import { addDefinedOptions, commandOptions } from "../options.js";
import { RUN_ACK_WAIT_S, RUN_FORWARDED, RUN_OPTIONS } from "../run-options.js";
import { addS3Options, applyS3Options, S3_OPTIONS } from "../storage-options.js";
import { Supervisor } from "../supervisor.js";
import { ChildFailureReport, restartsLine } from "./run-failures.js";
import { connectCoordinator, loadClientCode, watchUntilEnd } from "./run-job-watch.js";
import { startNatsBesideProcesses } from "./run-nats-start.js";
import { freePortExcept, metricsAddresses, portOf, uiAddressOf } from "./run-ports.js";

/** The embedded nats-server's configuration (it holds the token), in the run's temporary folder. */
const NATS_CONFIG_FILE = "nats-server.conf";

/** Every option of `run`, in help order. */
const RUN_COMMAND_OPTIONS = { ...RUN_OPTIONS, ...NATS_AUTH_OPTIONS, ...S3_OPTIONS } as const;

type RunOptions = OptionValues<typeof RUN_COMMAND_OPTIONS>;

export function registerRun(program: Command): void {
  const cmd = program
    .command("run")
    .description("run a job on this machine: embedded NATS, a coordinator and N workers")
    .argument("<spec>", "job spec (YAML/JSON) or a prompts file (.jsonl, .csv, .parquet, .txt)")
    .action(async (spec: string, _: unknown, cmd: Command) => {
      const opts = commandOptions(cmd, RUN_COMMAND_OPTIONS);
      const natsFlags = Object.keys(NATS_AUTH_OPTIONS).filter((k) => cmd.getOptionValueSource(k) === "cli");
      if (!opts.nats && natsFlags.length > 0) {
        // The embedded server needs none: it gets a random token of its own.
        throw new LatentFleetError(
          "INVALID_ARGUMENT",
          "the --nats-* authentication options go with --nats URL",
        );
      }
      applyS3Options(opts);
      // Loaded only for --dry-run: its report brings in the coordinator's code, which `run` itself never runs.
      if (opts.dryRun) await (await import("./validate.js")).validateJob(spec, opts);
      else process.exitCode = await runJob(spec, opts);
    });
  addDefinedOptions(cmd, RUN_OPTIONS);
  // Last, so that they are listed after the command's own options.
  addNatsAuthOptions(cmd);
  addS3Options(cmd);
}

/** How long `run`'s processes wait for the embedded nats-server to listen (its start gives up sooner). */
const NATS_CONNECT_WAIT_S = 60;
const NATS_CONNECT_WAIT_FLAG = NATS_CONNECT_WAIT_OPTION.flag;

const CHILD_LOG = [LOG_FORMAT_OPTION.flag, "json"];

/** A worker's log line once it is ready: its crashes before that are start-up crashes. */
const WORKER_READY = /"msg":"worker started"/;
const COORDINATOR_READY = /"msg":"coordinator started"/;

/** How long the coordinator may take to serve its gRPC API. */
const COORDINATOR_START_MS = 60_000;

/** Milliseconds since this process began. */
function processMs(): number {
  return Math.round(performance.now());
}

async function runJob(specArg: string, opts: RunOptions): Promise<number> {
  const launched = performance.now();
  // Check before anything starts (spec, model, device, output, tolerance): a bad job costs nothing.
  const specPath = resolve(specArg);
  if (opts.maxFailed !== undefined) parseFailureTolerance(opts.maxFailed);
  const { spec } = await checkJob(specPath, opts);
  // Where the start and the end go, at debug level (LF_LOG_LEVEL=debug): each step's time in ms since
  // this process began (Node's start and module loading included).
  const log = createLogger({ component: "run" });
  log.debug("job checked", { process_ms: processMs() });
  if (opts.metrics && opts.metricsPort !== undefined && opts.metricsPort + opts.workers > 65_535) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `--metrics-port ${opts.metricsPort} leaves no room for ${opts.workers + 1} ports; give a lower one`,
    );
  }
  const natsBin = opts.nats ? undefined : findNatsServer(opts.natsServerBin);
  // A NATS server of the user's: its credentials (from the options or the URL) are checked now, and reach
  // the children through their environment, never their command lines. (The NATS client's code, which
  // reads them, is loaded for it alone: `run` itself never connects to NATS.)
  const security = opts.nats ? await import("../../common/nats/security.js") : undefined;
  const userNats = opts.nats ? security?.resolveNatsServers(opts.nats, natsAuthFromCli(opts)) : undefined;
  if (userNats) await security?.natsAuthConnectionOptions(userNats.auth);
  // Where the start goes: each step's time since `run` began, in ms.
  const since = () => Math.round(performance.now() - launched);
  const temp = await mkdtemp(join(tmpdir(), "latent-fleet-run-"));
  const logDir = join(temp, "logs");
  const supervisor = new Supervisor({
    logDir,
    onNotice: (line) => process.stderr.write(`${line}\n`),
  });
  let nats: EmbeddedNatsServer | undefined;
  const failures = new ChildFailureReport();
  let client: CoordinatorClient | undefined;
  let interrupted = false;
  let ok = false;
  /** The job reached its final state with every process healthy: its logs hold nothing to show. */
  let endedCleanly = false;
  const interrupt = new AbortController();
  /** Ends the job watch: on Ctrl-C, and when `run` ends for another reason (a child that gave up). */
  const stopWatching = new AbortController();
  const onSignal = () => {
    interrupted = true;
    supervisor.endRestarts();
    process.stderr.write("\ninterrupted: stopping workers and coordinator...\n");
    interrupt.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    let natsAuth: NatsAuthOptions;
    let configFile: string | undefined;
    /** The embedded server's port, chosen before it starts: the processes start beside it. */
    let natsPort: number | undefined;
    if (userNats) natsAuth = userNats.auth;
    else {
      // Loopback is open to every user of the machine: a random token keeps the others out.
      const token = randomBytes(24).toString("hex");
      configFile = join(temp, NATS_CONFIG_FILE);
      await writeFile(configFile, `authorization {\n  token: "${token}"\n}\n`, { mode: 0o600 });
      natsAuth = { token };
      natsPort = await freePortExcept([]);
    }
    const natsUrlOf = (port: number | undefined) =>
      port === undefined ? userNats?.url : `nats://127.0.0.1:${port}`;
    let natsUrl = natsUrlOf(natsPort) as string;
    const env = natsChildEnv(natsAuth);
    // Nothing listens on the embedded server's port yet: no other address may be given it.
    const grpcPort = await freePortExcept(natsPort === undefined ? [] : [natsPort]);
    const coordinatorAddress = `127.0.0.1:${grpcPort}`;
    const metrics = await metricsAddresses(opts, [grpcPort, ...(natsPort === undefined ? [] : [natsPort])]);
    // Chosen once: a restarted coordinator serves the page on the same port, and open pages reconnect.
    const uiAddress = await uiAddressOf(opts, [
      grpcPort,
      ...(metrics ?? []).map(portOf),
      ...(natsPort === undefined ? [] : [natsPort]),
    ]);
    const ownPorts = [grpcPort, ...(metrics ?? []).map(portOf), ...(uiAddress ? [portOf(uiAddress)] : [])];
    const threads = opts.threads ?? runWorkerThreads(opts.workers);
    // With --nats the consumer is shared with other workers of the model: left as it is unless asked.
    const ackWait = opts.ackWait ?? (opts.nats ? undefined : RUN_ACK_WAIT_S);
    const workerNames = Array.from({ length: opts.workers }, (_, i) => `worker-${i}`);
    const startProcesses = async (url: string) => {
      // Beside the embedded server, each waits for it to listen instead of failing its first connect.
      const waitArgs = natsPort === undefined ? [] : [NATS_CONNECT_WAIT_FLAG, String(NATS_CONNECT_WAIT_S)];
      // The children log JSON to their files whatever `run` shows (their ready lines are read from it).
      const coordinatorArgs = [
        "coordinator",
        "--nats",
        url,
        ...waitArgs,
        "--grpc",
        coordinatorAddress,
        ...CHILD_LOG,
      ];
      coordinatorArgs.push(...optionArgs(RUN_FORWARDED.coordinator, opts));
      // The coordinator writes this job's output and may read next to the spec; nothing else.
      coordinatorArgs.push("--allow-path", resolve(spec.output.dir), "--allow-path", dirname(specPath));
      if (metrics) coordinatorArgs.push("--metrics", metrics[0]);
      if (uiAddress) coordinatorArgs.push("--ui", uiAddress);
      // The workers first: theirs is the longest start (the model load), and a spawn takes a while.
      for (const [i, name] of workerNames.entries()) {
        const device = opts.device === "cpu" ? "cpu" : `${opts.device.replace(/:\d+$/, "")}:${i}`;
        const args = ["worker", "--nats", url, ...waitArgs, "--model", spec.model, ...CHILD_LOG];
        args.push(...optionArgs(RUN_FORWARDED.worker, { ...opts, threads, ackWait }));
        args.push("--device", device, "--worker-id", name);
        if (metrics) args.push("--metrics", metrics[i + 1]);
        // A crashed worker is started again under the same id; its tasks come back after ack_wait.
        await supervisor.start({ name, args, env, restart: true, ready: WORKER_READY });
      }
      // Restarted on the same port after a crash: it resumes the job from NATS, and `run` watches it again.
      await supervisor.start({
        name: "coordinator",
        args: coordinatorArgs,
        env,
        restart: true,
        ready: COORDINATOR_READY,
      });
    };
    // Node's start and the model load overlap nats-server's start.
    await startProcesses(natsUrl);
    log.debug("processes started", { process_ms: processMs() });
    // Loaded while the processes start, not before: they start that much sooner.
    const clientCode = loadClientCode();
    if (natsPort !== undefined) {
      nats = await startNatsBesideProcesses({
        port: natsPort,
        startServer: (port) =>
          startEmbeddedNatsServer({
            bin: natsBin as string,
            storeDir: join(temp, "jetstream"),
            configFile,
            port,
          }),
        pickPort: () => freePortExcept(ownPorts),
        // Nothing has connected: the processes go at once.
        stopProcesses: () => supervisor.killAll(),
        startProcesses: (port) => {
          natsPort = port;
          natsUrl = natsUrlOf(port) as string;
          return startProcesses(natsUrl);
        },
      });
    }
    if (nats) {
      log.info("nats-server started", { ms: since() });
      supervisor.watchEmbeddedNats(nats);
    }
    process.stderr.write(
      `NATS ${security ? security.redactUrl(natsUrl) : natsUrl}, coordinator ${coordinatorAddress}, ${opts.workers} worker(s), batch size ${opts.batchSize}, ` +
        `model ${spec.model}\n`,
    );
    if (metrics) {
      const names = ["coordinator", ...workerNames];
      const urls = metrics.map((address, i) => `${names[i]} http://${address}/metrics`);
      process.stderr.write(`metrics: ${urls.join(", ")}\n`);
    }
    // The coordinator says when it serves; connecting before that would only wait out gRPC's back-off.
    // (Bounded: one that never says so is then tried as before, and its failure reported.)
    let readyTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      supervisor.whenReady("coordinator"),
      supervisor.failed,
      new Promise<void>((r) => interrupt.signal.addEventListener("abort", () => r(), { once: true })),
      new Promise<void>((r) => {
        readyTimer = setTimeout(r, COORDINATOR_START_MS);
      }),
    ]);
    clearTimeout(readyTimer);
    const code = await clientCode;
    client = await connectCoordinator(
      code.CoordinatorClient,
      coordinatorAddress,
      supervisor.failed,
      failures,
      COORDINATOR_START_MS,
      interrupt.signal,
    );
    if (interrupted) return EXIT_CODES.interrupted;
    log.info("coordinator serving", { ms: since() });
    const jobId = await client.submit(specPath, {
      out: opts.out,
      overwrite: opts.overwrite,
      maxFailed: opts.maxFailed,
    });
    if (opts.nats) {
      // On a NATS server of the user's, the job would outlive this command: cancel it on Ctrl-C.
      const c = client;
      interrupt.signal.addEventListener("abort", () => void c.cancelJob(jobId).catch(() => undefined), {
        once: true,
      });
    }
    log.info("job submitted", { job: jobId, ms: since() });
    process.stderr.write(`job ${jobId}: writing to ${spec.output.dir}\n`);
    if (uiAddress) process.stderr.write(`live page: http://${uiAddress}/#/job/${jobId}\n`);
    // The tolerance is the flag's when given, else the spec's (the default allows no failure to report).
    const toleranceFrom = code.toleranceSource(opts.maxFailed);
    const view = code.createProgressView(process.stderr, toleranceFrom);
    let last: Job | undefined;
    interrupt.signal.addEventListener("abort", () => stopWatching.abort(), { once: true });
    const watching = watchUntilEnd(client, code.isFinalJobState, jobId, stopWatching.signal, (job) => {
      last = job;
      view.update(job);
    });
    const outcome = await Promise.race([watching.then(() => undefined), supervisor.failed]);
    log.debug("job watch ended", { state: last?.state, process_ms: processMs() });
    view.finish(last);
    if (interrupted) return EXIT_CODES.interrupted;
    if (outcome) throw await failures.error(outcome);
    if (!last) throw new LatentFleetError("COORDINATOR_ERROR", "no progress came from the coordinator");
    const restarts = restartsLine(supervisor.restarts());
    process.stdout.write(
      `${code.formatJobLine(last, toleranceFrom)}${restarts}\n${code.reuseLine(last)}${spec.output.dir}\n`,
    );
    ok = last.state === "JOB_STATE_SUCCEEDED";
    endedCleanly = code.isFinalJobState(last.state) && supervisor.restarts().length === 0;
    return ok ? EXIT_CODES.ok : EXIT_CODES.failed;
  } catch (err) {
    if (interrupted) return EXIT_CODES.interrupted;
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    stopWatching.abort();
    client?.close();
    await supervisor.stop();
    log.debug("processes stopped", { process_ms: processMs() });
    // Every process is gone and its store is removed below: nothing to flush, so it is killed, not stopped
    // (a graceful stop took ~55 ms of the run's end).
    await nats?.kill();
    if (nats) log.debug("nats-server stopped", { process_ms: processMs() });
    if (ok && !opts.keepLogs) await rm(temp, { recursive: true, force: true });
    else {
      await rm(join(temp, "jetstream"), { recursive: true, force: true });
      await rm(join(temp, NATS_CONFIG_FILE), { force: true });
      // A failed job says why in its summary and errors.jsonl; the processes' tails help when one crashed
      // or `run` itself failed.
      if (!ok && !endedCleanly && !interrupted)
        await failures.printTails(supervisor.logFiles(), process.stderr);
      process.stderr.write(`logs: ${logDir}\n`);
    }
    log.debug("run done", { process_ms: processMs() });
  }
}
