/**
 * Loads proto/latentfleet/v1 at run time with the same options the generated types were made with
 * (scripts/gen-proto.mjs), so the objects grpc-js hands out match src/common/proto/generated.
 */
import { join } from "node:path";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync, type Options } from "@grpc/proto-loader";
import { packageRoot } from "../package-root.js";
import type { ProtoGrpcType as CoordinatorProto } from "./generated/coordinator.js";
import type { ProtoGrpcType as WorkerProto } from "./generated/worker.js";

export const PROTO_LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

function load(file: string): unknown {
  const dir = join(packageRoot(), "proto");
  return loadPackageDefinition(loadSync(join(dir, file), { ...PROTO_LOADER_OPTIONS, includeDirs: [dir] }));
}

let coordinator: CoordinatorProto | undefined;
let worker: WorkerProto | undefined;

export function coordinatorProto(): CoordinatorProto {
  coordinator ??= load("latentfleet/v1/coordinator.proto") as CoordinatorProto;
  return coordinator;
}

export function workerProto(): WorkerProto {
  worker ??= load("latentfleet/v1/worker.proto") as WorkerProto;
  return worker;
}

/** The .proto files of a service, for server reflection. */
export function protoFile(name: "coordinator" | "worker" | "task"): string {
  return join(packageRoot(), "proto", "latentfleet", "v1", `${name}.proto`);
}
