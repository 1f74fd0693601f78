/**
 * Loads proto/latentfleet/v1 at run time with the same options the generated types were made with
 * (scripts/gen-proto.mjs), so the objects grpc-js hands out match src/common/proto/generated.
 */
import { join } from "node:path";
import { loadPackageDefinition } from "@grpc/grpc-js";
import { loadSync, type Options, type PackageDefinition } from "@grpc/proto-loader";
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

const definitions = new Map<ProtoService, PackageDefinition>();

/** A service's .proto file (with what it imports), parsed once per process: its stubs and its reflection share it. */
export function protoDefinition(service: ProtoService): PackageDefinition {
  let definition = definitions.get(service);
  if (!definition) {
    const dir = join(packageRoot(), "proto");
    definition = loadSync(join(dir, "latentfleet", "v1", `${service}.proto`), {
      ...PROTO_LOADER_OPTIONS,
      includeDirs: [dir],
    });
    definitions.set(service, definition);
  }
  return definition;
}

export type ProtoService = "coordinator" | "worker";

let coordinator: CoordinatorProto | undefined;
let worker: WorkerProto | undefined;

export function coordinatorProto(): CoordinatorProto {
  coordinator ??= loadPackageDefinition(protoDefinition("coordinator")) as unknown as CoordinatorProto;
  return coordinator;
}

export function workerProto(): WorkerProto {
  worker ??= loadPackageDefinition(protoDefinition("worker")) as unknown as WorkerProto;
  return worker;
}
