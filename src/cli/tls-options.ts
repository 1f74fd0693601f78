/**
 * gRPC TLS options: the server side of `coordinator` and `worker`, the client side of `submit`, `status`,
 * `watch`, `cancel` and `jobs`. Each can come from its environment variable instead of the command line.
 */
import { isIP } from "node:net";
import { resolve } from "node:path";
import type { Command } from "commander";
import { LatentFleetError } from "../common/errors.js";
import type { GrpcClientTls, GrpcServerTls } from "../common/grpc/tls.js";
import type { Logger } from "../common/log.js";
import type { OptionDefinitions, OptionValues } from "../common/options/index.js";
import { addDefinedOptions } from "./options.js";

const SERVER_GROUP = "gRPC TLS:";
const CLIENT_GROUP = "TLS to the coordinator:";

export const GRPC_SERVER_TLS_OPTIONS = {
  grpcTlsCert: {
    type: "text",
    flag: "--grpc-tls-cert",
    value: "<file>",
    env: "LF_GRPC_TLS_CERT",
    group: SERVER_GROUP,
    help: "serve gRPC over TLS with this certificate (PEM)",
  },
  grpcTlsKey: {
    type: "text",
    flag: "--grpc-tls-key",
    value: "<file>",
    env: "LF_GRPC_TLS_KEY",
    group: SERVER_GROUP,
    help: "key (PEM) of --grpc-tls-cert",
  },
  grpcTlsClientCa: {
    type: "text",
    flag: "--grpc-tls-client-ca",
    value: "<file>",
    env: "LF_GRPC_TLS_CLIENT_CA",
    group: SERVER_GROUP,
    help: "require gRPC clients to present a certificate signed by this CA (mutual TLS)",
  },
} as const satisfies OptionDefinitions;

export const GRPC_CLIENT_TLS_OPTIONS = {
  tls: {
    type: "switch",
    flag: "--tls",
    group: CLIENT_GROUP,
    help: "reach the coordinator over TLS (implied by the --tls-* options)",
  },
  tlsCa: {
    type: "text",
    flag: "--tls-ca",
    value: "<file>",
    env: "LF_TLS_CA",
    group: CLIENT_GROUP,
    unset: "the system's",
    help: "CA (PEM) to verify the coordinator with",
  },
  tlsCert: {
    type: "text",
    flag: "--tls-cert",
    value: "<file>",
    env: "LF_TLS_CERT",
    group: CLIENT_GROUP,
    help: "client certificate (PEM), for a coordinator that requires one",
  },
  tlsKey: {
    type: "text",
    flag: "--tls-key",
    value: "<file>",
    env: "LF_TLS_KEY",
    group: CLIENT_GROUP,
    help: "key (PEM) of --tls-cert",
  },
} as const satisfies OptionDefinitions;

export type GrpcServerTlsCliOptions = OptionValues<typeof GRPC_SERVER_TLS_OPTIONS>;
/** The client TLS options; a caller that builds them by hand may leave any out. */
export type GrpcClientTlsCliOptions = Partial<OptionValues<typeof GRPC_CLIENT_TLS_OPTIONS>>;

export function addGrpcServerTlsOptions(cmd: Command): Command {
  return addDefinedOptions(cmd, GRPC_SERVER_TLS_OPTIONS);
}

export function addGrpcClientTlsOptions(cmd: Command): Command {
  return addDefinedOptions(cmd, GRPC_CLIENT_TLS_OPTIONS);
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
