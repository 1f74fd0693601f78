/**
 * A gRPC server with the standard health service (grpc.health.v1) and server reflection, bound to one
 * address. Kubernetes' native gRPC probes and grpcurl both work against it.
 */
import { Server, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation, type ServingStatus } from "grpc-health-check";
import { LatentFleetError } from "../errors.js";
import { type ProtoService, protoDefinition } from "../proto/load.js";
import { checkRequests } from "./request-check.js";
import { type GrpcServerTls, grpcServerCredentials } from "./tls.js";

export interface GrpcServerHandle {
  server: Server;
  /** The bound port (useful with port 0). */
  port: number;
  setServing(service: string, status: ServingStatus): void;
  /** Graceful shutdown; forced after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(
  address: string,
  services: { definition: ServiceDefinition; implementation: UntypedServiceImplementation; name: string }[],
  /** Whose .proto files reflection describes (parsed once per process, shared with the stubs). */
  reflected: ProtoService,
  /** TLS (mutual with a client CA); plaintext when omitted. */
  tls?: GrpcServerTls,
): Promise<GrpcServerHandle> {
  // Read the certificate files before binding: a bad path fails without a half-started server.
  const creds = grpcServerCredentials(tls);
  const server = new Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  for (const s of services) {
    const checked = checkRequests(s.definition, s.implementation);
    server.addService(checked.definition, checked.implementation);
  }
  const health = new HealthImplementation(
    Object.fromEntries([["", "SERVING"], ...services.map((s) => [s.name, "SERVING"])]),
  );
  health.addToServer(server);
  const reflection = new ReflectionService(protoDefinition(reflected));
  reflection.addToServer(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, creds, (err, bound) => {
      if (err)
        reject(
          new LatentFleetError("INVALID_ARGUMENT", `cannot listen for gRPC on ${address}: ${err.message}`),
        );
      else resolve(bound);
    });
  });
  return {
    server,
    port,
    setServing: (service, status) => health.setStatus(service, status),
    stop: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
