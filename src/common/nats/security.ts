/**
 * How a NATS client proves who it is and checks the server: user and password, a token, an NKey seed or a
 * credentials file (user JWT + seed), over TLS when asked (a CA to trust, a client certificate for mutual
 * TLS). Credentials written in the URL (nats://user:pass@host, nats://token@host) are taken out of it, so
 * the URL that is logged, printed or put on a child's command line never holds them. Files are read at
 * connect time, each failure naming the file.
 */
import { readFile } from "node:fs/promises";
import { connect as connectTcp, type Socket } from "node:net";
import {
  credsAuthenticator,
  type NodeConnectionOptions,
  nkeyAuthenticator,
  type TlsOptions,
} from "@nats-io/transport-node";
import { LatentFleetError } from "../errors.js";
import { redactCredentials } from "../log.js";
import { probeTls } from "../tls-probe.js";

export interface NatsTlsOptions {
  /** PEM CA bundle the server's certificate must chain to (default: the system's roots). */
  caFile?: string;
  /** Client certificate (PEM) for mutual TLS; needs keyFile. */
  certFile?: string;
  keyFile?: string;
}

/** At most one of: user (+ password), token, nkeySeedFile, credsFile. */
export interface NatsAuthOptions {
  user?: string;
  password?: string;
  token?: string;
  /** File holding an NKey user seed (SU...). */
  nkeySeedFile?: string;
  /** A .creds file (user JWT and its seed), as `nsc` writes it: operator/JWT mode. */
  credsFile?: string;
  /** Use TLS: required of the server when given (an empty object trusts the system's roots). */
  tls?: NatsTlsOptions;
}

export interface ResolvedNatsServers {
  /** The URL(s) without credentials, comma-separated as given. */
  url: string;
  servers: string[];
  /** The explicit options, plus the credentials the URL carried. */
  auth: NatsAuthOptions;
}

// scheme://userinfo@rest; userinfo cannot hold "/" or "@" unencoded.
const URL_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i;

/** `url` with its passwords and tokens replaced by "***": safe to log or print. */
export function redactUrl(url: string): string {
  return redactCredentials(url);
}

/**
 * Splits credentials out of the server URL(s) and checks that one authentication mode is asked for. An
 * explicit option and the URL may not disagree; TLS is required when a URL uses the tls:// scheme.
 */
export function resolveNatsServers(url: string, explicit: NatsAuthOptions = {}): ResolvedNatsServers {
  const auth: NatsAuthOptions = { ...explicit };
  const servers: string[] = [];
  let fromUrl: { user?: string; password?: string; token?: string } | undefined;
  for (const raw of url.split(",")) {
    const entry = raw.trim();
    if (entry.length === 0) continue;
    const m = URL_USERINFO.exec(entry);
    if (m) {
      const info = m[2] ?? "";
      const colon = info.indexOf(":");
      const creds =
        colon < 0
          ? { token: decode(info) }
          : { user: decode(info.slice(0, colon)), password: decode(info.slice(colon + 1)) };
      if (fromUrl && JSON.stringify(fromUrl) !== JSON.stringify(creds)) {
        throw invalid("the NATS URLs carry different credentials; give them once, outside the URLs");
      }
      fromUrl = creds;
    }
    const bare = m ? `${m[1]}${entry.slice(m[0].length)}` : entry;
    if (/^tls:\/\//i.test(bare)) auth.tls ??= {};
    servers.push(bare);
  }
  if (servers.length === 0) throw invalid("no NATS server URL given");
  if (fromUrl) {
    for (const key of ["user", "password", "token"] as const) {
      const v = fromUrl[key];
      if (v === undefined) continue;
      if (auth[key] !== undefined && auth[key] !== v) {
        throw invalid(`the NATS ${key} is given both in the URL and as an option, with different values`);
      }
      auth[key] = v;
    }
  }
  checkAuth(auth);
  return { url: servers.join(","), servers, auth };
}

function checkAuth(auth: NatsAuthOptions): void {
  const modes = [
    auth.user !== undefined || auth.password !== undefined ? "user/password" : undefined,
    auth.token !== undefined ? "token" : undefined,
    auth.nkeySeedFile !== undefined ? "NKey seed" : undefined,
    auth.credsFile !== undefined ? "credentials file" : undefined,
  ].filter((m) => m !== undefined);
  if (modes.length > 1) {
    throw invalid(`give one NATS authentication, not ${modes.join(" and ")}`);
  }
  if (auth.password !== undefined && auth.user === undefined) {
    throw invalid("a NATS password needs a user (--nats-user or LF_NATS_USER)");
  }
  const tls = auth.tls;
  if (tls && (tls.certFile === undefined) !== (tls.keyFile === undefined)) {
    throw invalid("a NATS TLS client certificate needs its key, and a key its certificate");
  }
}

/** The client options that carry `auth` (files read here); every failure names its file. */
export async function natsAuthConnectionOptions(
  auth: NatsAuthOptions,
): Promise<Partial<NodeConnectionOptions>> {
  checkAuth(auth);
  const opts: Partial<NodeConnectionOptions> = {};
  if (auth.user !== undefined) {
    opts.user = auth.user;
    opts.pass = auth.password ?? "";
  }
  if (auth.token !== undefined) opts.token = auth.token;
  if (auth.nkeySeedFile !== undefined) {
    const seed = (await readText(auth.nkeySeedFile, "NKey seed")).trim();
    if (!/^SU[A-Z2-7]+$/.test(seed)) {
      throw invalid(`${auth.nkeySeedFile} holds no NKey user seed (one line starting with SU)`);
    }
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (auth.credsFile !== undefined) {
    const creds = await readText(auth.credsFile, "credentials");
    if (!/-----BEGIN NATS USER JWT-----/.test(creds) || !/-----BEGIN USER NKEY SEED-----/.test(creds)) {
      throw invalid(`${auth.credsFile} is not a NATS credentials file (a user JWT and an NKey seed)`);
    }
    opts.authenticator = credsAuthenticator(new TextEncoder().encode(creds));
  }
  if (auth.tls) {
    const tls: TlsOptions = {};
    if (auth.tls.caFile !== undefined) tls.ca = await readText(auth.tls.caFile, "TLS CA");
    if (auth.tls.certFile !== undefined) tls.cert = await readText(auth.tls.certFile, "TLS certificate");
    if (auth.tls.keyFile !== undefined) tls.key = await readText(auth.tls.keyFile, "TLS key");
    opts.tls = tls;
  }
  return opts;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `cannot read the NATS ${what} file ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function invalid(message: string): LatentFleetError {
  return new LatentFleetError("INVALID_ARGUMENT", message);
}

/**
 * Why a TLS connection to the NATS server at `server` fails, when the client cannot say (a refused client
 * certificate comes after the handshake and shows as a timeout): one handshake, after the server's INFO
 * line as the NATS protocol has it. Undefined when the answer is unclear.
 */
export async function explainNatsTlsFailure(
  server: string,
  tls: Pick<TlsOptions, "ca" | "cert" | "key">,
): Promise<string | undefined> {
  let host: string;
  let port: number;
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `nats://${server}`);
    host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    port = u.port === "" ? 4222 : Number(u.port);
  } catch {
    return undefined;
  }
  const socket = await plaintextAfterInfo(host, port);
  if (!socket) return undefined;
  const r = await probeTls({ host, port, socket, ca: tls.ca, cert: tls.cert, key: tls.key });
  switch (r.kind) {
    case "client-refused":
      return `it refused this client's TLS certificate (${r.reason}); give --nats-tls-cert/--nats-tls-key signed by a CA it trusts`;
    case "untrusted":
      return `its TLS certificate is not trusted (${r.reason}); --nats-tls-ca must be the CA that signed it`;
    case "failed":
      return `TLS failed (${r.reason})`;
    default:
      return undefined;
  }
}

/** A connection to a NATS server that has sent its INFO line (undefined when none came in time). */
function plaintextAfterInfo(host: string, port: number, timeoutMs = 3_000): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, host);
    let seen = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners("data");
      socket.removeAllListeners("error");
      if (ok) resolve(socket);
      else {
        socket.destroy();
        resolve(undefined);
      }
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("error", () => done(false));
    socket.on("data", (chunk: Buffer) => {
      seen += chunk.toString("latin1");
      if (seen.includes("\r\n")) done(seen.startsWith("INFO "));
    });
  });
}
