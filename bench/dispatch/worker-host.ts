/**
 * A child process of bench/dispatch.ts holding many workers: each is a real `startWorker` (its own NATS
 * connection, task runner, batcher and sink) whose engine is a FixedLatencyEngine.
 */
import { createLogger } from "../../src/common/log.js";
import { type RunningWorker, startWorker } from "../../src/worker/worker.js";
import { countingLogSink, type HostReply, type HostRequest, type HostStats } from "./protocol.js";
import { describeModel, FixedLatencyEngine } from "./stand-in-engine.js";

const logSink = countingLogSink();
const workers: RunningWorker[] = [];
const engines: FixedLatencyEngine[] = [];
/** Workers started at once: each start is a few NATS round trips. */
const START_CONCURRENCY = 16;

function reply(msg: HostReply, then?: () => void): void {
  process.send?.(msg, () => then?.());
}

async function start(req: Extract<HostRequest, { type: "start" }>): Promise<void> {
  const model = await describeModel(req.modelDir);
  const log = createLogger({}, { level: "info", write: logSink.write });
  for (let i = 0; i < req.count; i += START_CONCURRENCY) {
    const ids = Array.from({ length: Math.min(START_CONCURRENCY, req.count - i) }, (_, k) => i + k);
    const started = await Promise.all(
      ids.map(async (k) => {
        const engine = new FixedLatencyEngine(model, req.settings.batchMs);
        const worker = await startWorker({
          natsUrl: req.natsUrl,
          modelDir: req.modelDir,
          engine,
          batchSize: req.settings.batchSize,
          workerId: `${req.prefix}-${k}`,
          durable: req.settings.durable,
          ...(req.settings.replicas === undefined ? {} : { replicas: req.settings.replicas }),
          log: log.child({ worker: `${req.prefix}-${k}` }),
        });
        engines.push(engine);
        return worker;
      }),
    );
    workers.push(...started);
  }
  reply({ type: "started", model: model.name });
}

function stats(): HostStats {
  const s: HostStats = {
    batches: 0,
    samples: 0,
    busyMs: 0,
    cpu: process.cpuUsage(),
    batchEnds: [],
    batchSizes: [],
    perWorker: [],
  };
  for (const e of engines) {
    s.batches += e.batches;
    s.samples += e.samples;
    s.busyMs += e.busyMs;
    const w = e.takeWindow();
    s.batchEnds.push(...w.ends);
    s.batchSizes.push(...w.sizes);
    s.perWorker.push(w.sizes.reduce((a, b) => a + b, 0));
  }
  return s;
}

process.on("message", (msg: HostRequest) => {
  void (async () => {
    try {
      if (msg.type === "start") await start(msg);
      else if (msg.type === "stats") reply({ type: "stats", stats: stats(), log: logSink.count() });
      else {
        await Promise.all(workers.map((w) => w.stop()));
        reply({ type: "stopped", log: logSink.count() }, () => process.exit(0));
      }
    } catch (err) {
      reply({ type: "error", message: err instanceof Error ? err.message : String(err) });
    }
  })();
});
