/** The one table of error policies: every code's gRPC status, exit code and task disposition, and its readers. */
import { status } from "@grpc/grpc-js";
import { JetStreamApiError } from "@nats-io/jetstream";
import { errors as natsErrors } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import {
  ERROR_POLICIES,
  type ErrorCode,
  exitCodeFor,
  isRetryable,
  LatentFleetError,
  taskDisposition,
} from "../../src/common/errors.js";
import { grpcStatusOf, toGrpcStatus } from "../../src/common/grpc/status.js";
import { toGrpcError } from "../../src/coordinator/grpc-service.js";

const codes = Object.keys(ERROR_POLICIES) as ErrorCode[];
const err = (code: ErrorCode, message = "what went wrong") => new LatentFleetError(code, message);
const codesWhere = (pick: (code: ErrorCode) => boolean) => codes.filter(pick).sort();

describe("the table of error policies", () => {
  it("has a row for every code: a table without one does not compile", () => {
    // @ts-expect-error: Record<ErrorCode, ErrorPolicy> wants every code.
    const partial: typeof ERROR_POLICIES = { INVALID_ARGUMENT: ERROR_POLICIES.INVALID_ARGUMENT };
    expect(Object.keys(partial)).toHaveLength(1);
    expect(codes).toContain("ENGINE_DEAD");
  });

  it("names a real gRPC status, a documented exit code and a disposition that agrees with retryable", () => {
    for (const code of codes) {
      const policy = ERROR_POLICIES[code];
      expect(typeof status[policy.grpc], code).toBe("number");
      expect([1, 2], code).toContain(policy.exit);
      expect(policy.task, code).toBe(policy.retryable ? "nak" : "term");
      expect(isRetryable(code), code).toBe(policy.retryable);
    }
  });

  it("maps codes to the gRPC statuses the coordinator and the worker answered with", () => {
    const byStatus = (s: status) => codesWhere((c) => grpcStatusOf(c) === s);
    expect(byStatus(status.INVALID_ARGUMENT)).toEqual([
      "INVALID_ARGUMENT",
      "ROW_INVALID",
      "SCHEDULER_UNKNOWN",
      "SPEC_INVALID",
    ]);
    expect(byStatus(status.NOT_FOUND)).toEqual(["JOB_NOT_FOUND"]);
    expect(byStatus(status.PERMISSION_DENIED)).toEqual(["PATH_NOT_ALLOWED"]);
    expect(byStatus(status.UNAVAILABLE)).toEqual(["COORDINATOR_UNAVAILABLE", "NATS_UNAVAILABLE"]);
    expect(byStatus(status.FAILED_PRECONDITION)).toEqual(["ENGINE_CLOSED", "WORKER_DRAINING"]);
    expect(byStatus(status.RESOURCE_EXHAUSTED)).toEqual(["OUT_OF_MEMORY"]);
    expect(toGrpcStatus(err("ENGINE_DEAD"))).toBe(status.INTERNAL);
    expect(toGrpcStatus(err("OUT_OF_MEMORY"))).toBe(status.RESOURCE_EXHAUSTED);
    // An error without a code is a bug or a library's own failure.
    expect(toGrpcStatus(new Error("invalid argument"))).toBe(status.INTERNAL);
  });

  it("exits 2 for a problem found before anything starts and 1 for a failure of the work", () => {
    expect(codesWhere((c) => exitCodeFor(err(c)) === 2)).toEqual([
      "DEVICE_INVALID",
      "DEVICE_UNAVAILABLE",
      "INVALID_ARGUMENT",
      "MODEL_INVALID",
      "MODEL_NOT_FOUND",
      "OUTPUT_UNAVAILABLE",
      "PATH_NOT_ALLOWED",
      "ROW_INVALID",
      "SCHEDULER_CONFIG_INVALID",
      "SCHEDULER_UNKNOWN",
      "SPEC_INVALID",
      "TOKENIZER_INVALID",
    ]);
    expect(exitCodeFor(err("JOB_FAILED"))).toBe(1);
    expect(exitCodeFor(err("PROCESS_FAILED"))).toBe(1);
    expect(exitCodeFor(err("OUTPUT_FAILED"))).toBe(1);
    expect(exitCodeFor(err("SPEC_INVALID"))).toBe(2);
    expect(exitCodeFor(err("MODEL_INVALID"))).toBe(2);
    expect(exitCodeFor(new TypeError("x is undefined"))).toBe(1);
  });

  it("gives a task back for a failure that may pass, and terminates one that cannot", () => {
    expect(taskDisposition(err("OUTPUT_FAILED"))).toBe("nak");
    expect(taskDisposition(err("ENGINE_FAILED"))).toBe("nak");
    expect(taskDisposition(err("ENGINE_DEAD"))).toBe("nak");
    expect(taskDisposition(err("NATS_UNAVAILABLE"))).toBe("nak");
    expect(taskDisposition(err("INVALID_ARGUMENT"))).toBe("term");
    expect(taskDisposition(err("MODEL_MISMATCH"))).toBe("term");
    expect(taskDisposition(err("PAYLOAD_INVALID"))).toBe("term");
    // A storage or NATS client error that was not wrapped: tried again (and terminated on its last delivery).
    expect(taskDisposition(new Error("socket hang up"))).toBe("nak");
  });
});

describe("the coordinator's gRPC errors", () => {
  it("take the table's status; INTERNAL details name the code", () => {
    expect(toGrpcError(err("SPEC_INVALID", "spec.yaml:3: steps must be a number"))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: "spec.yaml:3: steps must be a number",
    });
    expect(toGrpcError(err("JOB_NOT_FOUND"))).toMatchObject({ code: status.NOT_FOUND });
    expect(toGrpcError(err("PATH_NOT_ALLOWED"))).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(toGrpcError(err("NATS_SETUP_FAILED", "no stream"))).toMatchObject({
      code: status.INTERNAL,
      details: "no stream [NATS_SETUP_FAILED]",
    });
  });

  it("are UNAVAILABLE for the NATS client's timeout and connection errors, by type, not by message", () => {
    expect(toGrpcError(new natsErrors.TimeoutError())).toMatchObject({
      code: status.UNAVAILABLE,
      details: "NATS did not answer: timeout",
    });
    expect(toGrpcError(new natsErrors.ClosedConnectionError())).toMatchObject({ code: status.UNAVAILABLE });
    // The words alone do not make an outage.
    expect(toGrpcError(new Error("timeout: no responders, connection closed"))).toMatchObject({
      code: status.INTERNAL,
    });
    // A JetStream API error is the server's answer, not its silence; unless the server says 503.
    const api = (code: number, err_code: number) =>
      new JetStreamApiError({ code, err_code, description: "connection timeout" });
    expect(toGrpcError(api(400, 10071))).toMatchObject({ code: status.INTERNAL });
    expect(toGrpcError(api(503, 10008))).toMatchObject({ code: status.UNAVAILABLE });
  });
});
