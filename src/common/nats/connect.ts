/** Connections to NATS that survive a nats-server restart, and fail clearly when there is no server at all. */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { LatentFleetError } from "../errors.js";

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
 * Connects to `url` (a comma-separated list is accepted) as client `name`. Only the first connect can
 * fail: afterwards the client reconnects by itself for ever, buffering publishes meanwhile.
 */
export async function connectNats(
  url: string,
  name: string,
  opts: Partial<NodeConnectionOptions> = {},
): Promise<NatsConnection> {
  const servers = url
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  try {
    return await connect({ ...RECONNECT_DEFAULTS, servers, name, ...opts });
  } catch (err) {
    throw new LatentFleetError(
      "NATS_UNAVAILABLE",
      `cannot connect to NATS at ${url}: ${reason(err)}. Is a nats-server with JetStream (-js) running there?`,
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
  opts: Partial<NodeConnectionOptions> = {},
): Promise<JetStreamContext> {
  const nc = await connectNats(url, name, opts);
  try {
    const jsm = await jetstreamManager(nc);
    return { nc, js: jetstream(nc), jsm };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw new LatentFleetError(
      "NATS_UNAVAILABLE",
      `NATS at ${url} has no usable JetStream (${reason(err)}); start nats-server with -js`,
      { cause: err },
    );
  }
}

function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err.cause as NodeJS.ErrnoException | undefined)?.code ?? (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
}
