/** gRPC statuses of errors, read from the one table of error policies (ERROR_POLICIES in common/errors.ts). */
import { status } from "@grpc/grpc-js";
import { ERROR_POLICIES, type ErrorCode, grpcStatusName } from "../errors.js";

/** The status a service answers an error with: its code's row of the table; INTERNAL for one without a code. */
export function toGrpcStatus(err: unknown): status {
  return status[grpcStatusName(err)];
}

/** The status of a failure known by its code alone (a failed sample's outcome). */
export function grpcStatusOf(code: ErrorCode): status {
  return status[ERROR_POLICIES[code].grpc];
}
