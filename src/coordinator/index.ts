/** The coordinator: job state, publishing, results folding, and its gRPC service. */

export { createLogger, type Logger, silentLogger } from "../common/log.js";
export {
  type CoordinatorOptions,
  DEFAULT_GRPC_ADDRESS,
  type RunningCoordinator,
  startCoordinator,
} from "./coordinator.js";
export { COORDINATOR_SERVICE_NAME, coordinatorService, toGrpcError } from "./grpc-service.js";
export { isJobId, newJobId } from "./job-id.js";
export { JobManager, type SubmitRequest } from "./job-manager.js";
export { type JobSnapshot, snapshotFromRecord, toProtoJob } from "./job-snapshot.js";
export { type CoordinatorJobRecord, type JobCursor, JobStore } from "./job-store.js";
export { DEFAULT_SHARD_SIZE, MAX_SHARD_SIZE } from "./sharder.js";
export { UploadSpool } from "./uploads.js";
