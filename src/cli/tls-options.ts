/**
 * gRPC TLS options: the server side of `coordinator` and `worker`, the client side of `submit`, `status`,
 * `watch`, `cancel` and `jobs`. Each can come from its environment variable instead of the command line.
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import { type Command, Option } from "commander";
import { LatentFleetError } from "../common/errors.js";
import type { GrpcClientTls, GrpcServerTls } from "../common/grpc/tls.js";
import type { Logger } from "../common/log.js";

export interface GrpcServerTlsCliOptions {
  grpcTlsCert?: string;
  grpcTlsKey?: string;
  grpcTlsClientCa?: string;
}

export interface GrpcClientTlsCliOptions {
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

const SERVER_GROUP = "gRPC TLS:";
const CLIENT_GROUP = "TLS to the coordinator:";

export function addGrpcServerTlsOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--grpc-tls-cert <file>", "serve gRPC over TLS with this certificate (PEM)")
        .env("LF_GRPC_TLS_CERT")
        .helpGroup(SERVER_GROUP),
    )
    .addOption(
      new Option("--grpc-tls-key <file>", "key (PEM) of --grpc-tls-cert")
        .env("LF_GRPC_TLS_KEY")
        .helpGroup(SERVER_GROUP),
    )
    .addOption(
      new Option(
        "--grpc-tls-client-ca <file>",
        "require gRPC clients to present a certificate signed by this CA (mutual TLS)",
      )
        .env("LF_GRPC_TLS_CLIENT_CA")
        .helpGroup(SERVER_GROUP),
    );
}

export function addGrpcClientTlsOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--tls", "reach the coordinator over TLS (implied by the --tls-* options)").helpGroup(
        CLIENT_GROUP,
      ),
    )
    .addOption(
      new Option("--tls-ca <file>", "CA (PEM) to verify the coordinator with (default: the system's)")
        .env("LF_TLS_CA")
        .helpGroup(CLIENT_GROUP),
    )
    .addOption(
      new Option("--tls-cert <file>", "client certificate (PEM), for a coordinator that requires one")
        .env("LF_TLS_CERT")
        .helpGroup(CLIENT_GROUP),
    )
    .addOption(
      new Option("--tls-key <file>", "key (PEM) of --tls-cert").env("LF_TLS_KEY").helpGroup(CLIENT_GROUP),
    );
}

/**
 * The server's TLS settings, or undefined for plaintext. Plaintext on an address other than loopback is
 * allowed (a cluster network may be trusted) but logged as a warning.
 */
export function grpcServerTlsFromCli(
  opts: GrpcServerTlsCliOptions,
  address: string | undefined,
  log: Logger,
): GrpcServerTls | undefined {
  const { grpcTlsCert: cert, grpcTlsKey: key, grpcTlsClientCa: clientCa } = opts;
  if ((cert === undefined) !== (key === undefined)) {
    throw new LatentFleetError("INVALID_ARGUMENT", "--grpc-tls-cert and --grpc-tls-key go together");
  }
  if (cert === undefined || key === undefined) {
    if (clientCa !== undefined) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        "--grpc-tls-client-ca needs --grpc-tls-cert and --grpc-tls-key (mutual TLS is TLS first)",
      );
    }
    if (address !== undefined && !isLoopback(address)) {
      log.warn("gRPC is served without TLS: anyone who can reach it can call it", {
        grpc: address,
        hint: "--grpc-tls-cert/--grpc-tls-key (and --grpc-tls-client-ca for mutual TLS)",
      });
    }
    return undefined;
  }
  return {
    certFile: resolve(cert),
    keyFile: resolve(key),
    ...(clientCa === undefined ? {} : { clientCaFile: resolve(clientCa) }),
  };
}

/** The client's TLS settings, or undefined for plaintext. */
export function grpcClientTlsFromCli(opts: GrpcClientTlsCliOptions): GrpcClientTls | undefined {
  if (!opts.tls && opts.tlsCa === undefined && opts.tlsCert === undefined && opts.tlsKey === undefined) {
    return undefined;
  }
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    throw new LatentFleetError("INVALID_ARGUMENT", "--tls-cert and --tls-key go together");
  }
  const tls: GrpcClientTls = {};
  if (opts.tlsCa !== undefined) tls.caFile = resolve(opts.tlsCa);
  if (opts.tlsCert !== undefined) tls.certFile = resolve(opts.tlsCert);
  if (opts.tlsKey !== undefined) tls.keyFile = resolve(opts.tlsKey);
  return tls;
}

/** HOST:PORT whose host is a loopback name or address. */
function isLoopback(address: string): boolean {
  const host = address.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
