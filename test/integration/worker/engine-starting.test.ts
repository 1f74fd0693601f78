/**
 * A worker given an engine thread its caller started (`latent-fleet worker` starts the model's load before
 * it loads the worker's code): the worker owns it as one it started, closing it when it stops and when
 * its start fails, which would otherwise leave the thread keeping the process alive.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "../../../src/common/log.js";
import { parseDevice } from "../../../src/engine/device.js";
import { EngineHost } from "../../../src/engine/engine-host.js";
import { startWorker } from "../../../src/worker/worker.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { TINY_SHAPES } from "../../helpers/paths.js";
import { TINY_MODEL_NAME } from "../../helpers/worker-fixtures.js";

const startEngine = () =>
  EngineHost.start({ modelDir: TINY_SHAPES, device: parseDevice("cpu"), intraOpThreads: 1 });

/** Whether the engine was closed: a closed one refuses work. */
async function closed(engine: EngineHost): Promise<boolean> {
  try {
    await engine.generate([]);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === "ENGINE_CLOSED";
  }
}

describe("a worker given an engine thread already starting", () => {
  let nats: TestNatsServer;
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await nats?.cleanup();
  });

  it("serves that engine's model, and closes the engine when it stops", async () => {
    const engineStarting = startEngine();
    const lines: string[] = [];
    const worker = await startWorker({
      natsUrl: nats.url,
      modelDir: TINY_SHAPES,
      engineStarting,
      workerId: "engine-starting-test",
      log: createLogger({}, { level: "warn", format: "json", write: (line) => lines.push(line) }),
    });
    // The first worker on a fresh server sets up the queue and the job records' bucket while the model loads,
    // and then watches the job states (a watch opened before the bucket exists would warn and never skip).
    expect(lines).toEqual([]);
    const engine = await engineStarting;
    expect(worker.model.name).toBe(TINY_MODEL_NAME);
    expect(worker.model).toBe(engine.model);
    expect(await closed(engine)).toBe(false);
    await worker.stop();
    await worker.done;
    expect(await closed(engine)).toBe(true);
  });

  it("closes the engine when its start fails on a bad option", async () => {
    const engineStarting = startEngine();
    await expect(
      startWorker({
        natsUrl: nats.url,
        modelDir: TINY_SHAPES,
        engineStarting,
        batchSize: 0,
        log: silentLogger,
      }),
    ).rejects.toThrow(/batch size must be a positive integer/);
    expect(await closed(await engineStarting)).toBe(true);
  });
});
