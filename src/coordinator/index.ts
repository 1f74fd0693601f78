/** The coordinator role: what the CLI (and tests) start. Its inner modules are not imported from outside. */

export {
  type CoordinatorOptions,
  DEFAULT_GRPC_ADDRESS,
  type RunningCoordinator,
  startCoordinator,
} from "./coordinator.js";
export { MAX_SHARD_SIZE, Sharder } from "./sharder.js";
export type { ContactSheetComposer } from "./ui/server.js";
