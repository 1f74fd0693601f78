/**
 * TLS for the gRPC servers (coordinator, worker) and their clients. Without TLS settings both sides use
 * plaintext, the default for loopback; with a client CA the server accepts only clients whose certificate
 * chains to it (mutual TLS). Every file that cannot be read is named in an INVALID_ARGUMENT error.
 */
import { readFileSync } from "node:fs";
import { type ChannelCredentials, credentials, ServerCredentials } from "@grpc/grpc-js";
import { LatentFleetError } from "../errors.js";
import { probeTls } from "../tls-probe.js";

export interface GrpcServerTls {
  /** PEM certificate chain the server presents. */
  certFile: string;
  /** Its private key (PEM). */
  keyFile: string;
  /** PEM CA bundle: when given, clients must present a certificate that chains to it. */
  clientCaFile?: string;
}

export interface GrpcClientTls {
  /** PEM CA bundle the server's certificate must chain to (default: the system's roots). */
  caFile?: string;
  /** Client certificate (PEM) for a server that requires one; needs keyFile. */
  certFile?: string;
  keyFile?: string;
}

export function grpcServerCredentials(tls: GrpcServerTls | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  const ca = tls.clientCaFile === undefined ? null : readPem(tls.clientCaFile, "gRPC TLS client CA");
  return ServerCredentials.createSsl(
    ca,
    [
      {
        cert_chain: readPem(tls.certFile, "gRPC TLS certificate"),
        private_key: readPem(tls.keyFile, "gRPC TLS key"),
      },
    ],
    ca !== null,
  );
}

export function grpcChannelCredentials(tls: GrpcClientTls | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      "a gRPC TLS client certificate needs its key, and a key its certificate",
    );
  }
  return credentials.createSsl(
    tls.caFile === undefined ? null : readPem(tls.caFile, "gRPC TLS CA"),
    tls.keyFile === undefined ? null : readPem(tls.keyFile, "gRPC TLS client key"),
    tls.certFile === undefined ? null : readPem(tls.certFile, "gRPC TLS client certificate"),
  );
}

/** A PEM file's bytes; one that cannot be read is INVALID_ARGUMENT naming `what` ("gRPC TLS key") and the path. */
export function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `cannot read the ${what} file ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/**
 * Why a gRPC connection to `address` fails at the TLS level, when it does: grpc-js only says that it could
 * not connect in time, so this tries one TLS handshake as the client would. Undefined when TLS is not the
 * trouble (nothing listens, or the answer is unclear).
 */
export async function explainTlsFailure(
  address: string,
  tls: GrpcClientTls | undefined,
): Promise<string | undefined> {
  const m = /^(?:\[([^\]]+)\]|([^:/]+)):(\d+)$/.exec(address.replace(/^dns:(\/\/\/)?/, ""));
  const host = m?.[1] ?? m?.[2];
  if (!host || !m?.[3]) return undefined;
  let pem: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  try {
    pem = {
      ...(tls?.caFile === undefined ? {} : { ca: readFileSync(tls.caFile) }),
      ...(tls?.certFile === undefined ? {} : { cert: readFileSync(tls.certFile) }),
      ...(tls?.keyFile === undefined ? {} : { key: readFileSync(tls.keyFile) }),
    };
  } catch {
    return undefined;
  }
  // Without TLS settings the only question is whether the server speaks TLS.
  const r = await probeTls({ host, port: Number(m[3]), alpn: ["h2"], verify: tls !== undefined, ...pem });
  if (!tls) {
    return r.kind === "accepted" || r.kind === "client-refused"
      ? "it serves TLS: give --tls-ca (and --tls-cert/--tls-key when it asks for a client certificate)"
      : undefined;
  }
  switch (r.kind) {
    case "client-refused":
      return `it refused this client (${r.reason}): give --tls-cert/--tls-key signed by a CA it trusts`;
    case "untrusted":
      return `it is not trusted (${r.reason}): --tls-ca must be the CA that signed its certificate`;
    case "failed":
      return `the TLS connection failed (${r.reason}); does it serve TLS (--grpc-tls-cert)?`;
    default:
      return undefined;
  }
}
