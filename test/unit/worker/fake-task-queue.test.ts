/** The in-memory task queue of the worker's unit tests keeps the same contract as the NATS adapter. */
import { describe } from "vitest";
import { FakeTaskQueue } from "../../helpers/fake-task-queue.js";
import { taskQueueContract } from "../../helpers/task-queue-contract.js";

describe("the in-memory task queue", () => {
  taskQueueContract(async (terms) => {
    const queue = new FakeTaskQueue(terms);
    return {
      queue,
      model: "fake-model",
      add: async (task) => void queue.add(task instanceof Uint8Array ? undefined : task),
      results: async () => queue.results,
    };
  });
});
