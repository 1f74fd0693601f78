/** Connections to NATS that survive a nats-server restart, and fail clearly when there is no server at all. */
import { setTimeout as sleep } from "node:timers/promises";
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { LatentFleetError } from "../errors.js";
import {
  explainNatsTlsFailure,
  type NatsAuthOptions,
  natsAuthConnectionOptions,
  redactUrl,
  resolveNatsServers,
} from "./security.js";

export const RECONNECT_DEFAULTS = {
  /** Never give up: a coordinator or worker outlives any NATS outage; its own deadlines decide. */
  maxReconnectAttempts: -1,
  reconnectTimeWait: 1000,
  /** Spreads a fleet's reconnects after a restart so they do not hit the server all at once. */
  reconnectJitter: 1000,
  /** First connect (TCP + handshake). */
  timeout: 5000,
  /** Notices a silently dead server (no RST, e.g. a lost node) within about a minute. */
  pingInterval: 20_000,
  maxPingOut: 3,
} as const satisfies Partial<NodeConnectionOptions>;

/**
 * Client options, plus how to authenticate and whether to use TLS (see security.ts), and how long a first
 * connect that finds no server listening is tried again (default 0: it fails at once).
 */
export type NatsConnectOptions = Partial<NodeConnectionOptions> & {
  auth?: NatsAuthOptions;
  firstConnectWaitMs?: number;
};

/**
 * Waits between first-connect tries while no server listens: every 20 ms for the first seconds, while a
 * server started beside is coming up (a doubling wait left up to a few hundred ms idle after it listened;
 * a refused try costs under a millisecond), then backing off to 500 ms.
 */
const FIRST_CONNECT_POLL_MS = 20;
const FIRST_CONNECT_POLL_FOR_MS = 5_000;
const FIRST_CONNECT_MAX_DELAY_MS = 500;

/**
 * `connect`, tried again while the server refuses connections (it is not listening yet: a process started
 * beside its nats-server), for at most `waitMs`; any other failure is thrown at once.
 */
async function connectWhenListening(opts: NodeConnectionOptions, waitMs: number): Promise<NatsConnection> {
  const started = Date.now();
  const deadline = started + waitMs;
  for (let delay = FIRST_CONNECT_POLL_MS; ; ) {
    try {
      return await connect(opts);
    } catch (err) {
      if (!isRefused(err) || Date.now() + delay > deadline) throw err;
      await sleep(delay);
      if (Date.now() - started >= FIRST_CONNECT_POLL_FOR_MS)
        delay = Math.min(delay * 2, FIRST_CONNECT_MAX_DELAY_MS);
    }
  }
}

function isRefused(err: unknown): boolean {
  return err instanceof Error && (err.cause as NodeJS.ErrnoException | undefined)?.code === "ECONNREFUSED";
}

/**
 * Connects to `url` (a comma-separated list is accepted; credentials in it are used, never shown) as
 * client `name`. Only the first connect can fail: afterwards the client reconnects by itself for ever,
 * buffering publishes meanwhile.
 */
export async function connectNats(
  url: string,
  name: string,
  opts: NatsConnectOptions = {},
): Promise<NatsConnection> {
  const { auth: explicit, firstConnectWaitMs = 0, ...clientOpts } = opts;
  const { servers, auth } = resolveNatsServers(url, explicit);
  const authOpts = await natsAuthConnectionOptions(auth);
  try {
    return await connectWhenListening(
      { ...RECONNECT_DEFAULTS, servers, name, ...authOpts, ...clientOpts },
      firstConnectWaitMs,
    );
  } catch (err) {
    const tls = authOpts.tls;
    const tlsTrouble =
      tls && servers[0] !== undefined && !isAuthError(err)
        ? await explainNatsTlsFailure(servers[0], tls)
        : undefined;
    throw new LatentFleetError(
      "NATS_UNAVAILABLE",
      `cannot connect to NATS at ${redactUrl(url)}: ${tlsTrouble ?? `${reason(err)}. ${hint(err, auth)}`}`,
      { cause: err },
    );
  }
}

export interface JetStreamContext {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
}

/** Connects and checks that JetStream is enabled on the server (a plain nats-server has it off). */
export async function connectJetStream(
  url: string,
  name: string,
  opts: NatsConnectOptions = {},
): Promise<JetStreamContext> {
  const nc = await connectNats(url, name, opts);
  try {
    const jsm = await jetstreamManager(nc);
    return { nc, js: jetstream(nc), jsm };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw new LatentFleetError(
      "NATS_UNAVAILABLE",
      `NATS at ${redactUrl(url)} has no usable JetStream (${reason(err)}); start nats-server with -js`,
      { cause: err },
    );
  }
}

/** What to check, by the kind of failure: credentials, TLS, or a server that is not there. */
function hint(err: unknown, auth: NatsAuthOptions): string {
  const text = err instanceof Error ? `${err.name} ${err.message} ${reason(err.cause)}` : String(err);
  if (isAuthError(err)) {
    return "Check the NATS credentials (--nats-user/--nats-password, --nats-token, --nats-nkey-seed, --nats-creds or the URL's)";
  }
  if (/tls|ssl|certificate|self.signed|unable to verify|handshake/i.test(text)) {
    return auth.tls
      ? "Check the NATS TLS settings (--nats-tls-ca, --nats-tls-cert, --nats-tls-key)"
      : "The server wants TLS: give --nats-tls-ca (and --nats-tls-cert/--nats-tls-key when it asks for a client certificate)";
  }
  return "Is a nats-server with JetStream (-js) running there?";
}

function isAuthError(err: unknown): boolean {
  const text = err instanceof Error ? `${err.name} ${err.message}` : String(err);
  return /authori[sz]ation|authentication/i.test(text);
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err.cause as NodeJS.ErrnoException | undefined)?.code ?? (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}
