/** NatsTaskQueue, the task queue port over JetStream, against the port's contract on a real nats-server. */

import { afterAll, beforeAll, describe } from "vitest";
import type { TaskResult } from "../../../src/common/contract/task.js";
import { readTaskResult } from "../../../src/common/nats/codec.js";
import { connectJetStream, type JetStreamContext } from "../../../src/common/nats/connect.js";
import { taskSubject } from "../../../src/common/nats/names.js";
import { replayResults } from "../../../src/common/nats/results.js";
import { openWorkerTaskQueue } from "../../../src/common/nats/task-queue.js";
import { publishTask } from "../../../src/common/nats/tasks.js";
import { ensureTopology } from "../../../src/common/nats/topology.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { taskQueueContract } from "../../helpers/task-queue-contract.js";

describe("the task queue on JetStream", () => {
  let server: TestNatsServer;
  let coordinator: JetStreamContext;
  const workers: JetStreamContext[] = [];
  let models = 0;

  beforeAll(async () => {
    server = await startNatsServer();
    coordinator = await connectJetStream(server.url, "coordinator");
    await ensureTopology(coordinator.js, coordinator.jsm);
  });
  afterAll(async () => {
    for (const c of [coordinator, ...workers]) await c?.nc.close();
    await server?.cleanup();
  });

  taskQueueContract(async (terms) => {
    // A model (and so a consumer) of its own per test.
    const model = `contract-${++models}`;
    const worker = await connectJetStream(server.url, `worker-${model}`);
    workers.push(worker);
    const queue = await openWorkerTaskQueue(worker, model, terms);
    return {
      queue,
      model,
      add: async (task) => {
        if (task instanceof Uint8Array) await coordinator.js.publish(taskSubject(model), task);
        else await publishTask(coordinator.js, task);
      },
      results: async () => {
        const consumer = await replayResults(coordinator.js);
        const out: TaskResult[] = [];
        for (;;) {
          const msg = await consumer.next({ expires: 1000 });
          if (!msg) return out;
          out.push(readTaskResult(msg.data));
        }
      },
    };
  });
});
