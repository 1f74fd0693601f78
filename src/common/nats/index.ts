/** The NATS JetStream layer shared by the coordinator, the workers and the CLI. */
export * from "./codec.js";
export * from "./connect.js";
export * from "./dead-letters.js";
export * from "./embedded-server.js";
export * from "./errors.js";
export * from "./names.js";
export * from "./publish-pipe.js";
export * from "./results.js";
export * from "./retry.js";
export * from "./server-binary.js";
export * from "./task-queue.js";
export * from "./tasks.js";
export * from "./topology.js";
export * from "./worker-setup.js";
