/**
 * NATS client failures by type, never by message: the nats.js error classes and JetStream API error
 * codes of the installed client (@nats-io/nats-core and @nats-io/jetstream 3.x).
 */
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";

/** Errors of a server that does not answer: a request timed out, nobody listens, the connection is gone. */
const UNREACHABLE: readonly (abstract new (...args: never[]) => Error)[] = [
  errors.TimeoutError,
  errors.NoRespondersError,
  errors.ConnectionError,
  errors.ClosedConnectionError,
  errors.DrainingConnectionError,
];

/** HTTP-style status of a JetStream API error meaning "temporarily unavailable" (e.g. no meta leader). */
const SERVICE_UNAVAILABLE = 503;

/** Causes followed at most (the client wraps a timeout or a no-responders once or twice). */
const MAX_CAUSES = 8;

/**
 * NATS did not answer: the error, or one of its causes, is a timeout, a request nobody answered (the
 * JetStream API's "not enabled" wraps one), a lost, closed or draining connection, or a JetStream API
 * error with status 503. A request the server answered with an error (a wrong last sequence, a missing
 * stream) is not.
 */
export function isNatsUnreachable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < MAX_CAUSES; depth++, e = e.cause) {
    if (UNREACHABLE.some((type) => e instanceof type)) return true;
    if (e instanceof JetStreamApiError && e.status === SERVICE_UNAVAILABLE) return true;
  }
  return false;
}

/**
 * The connection was closed for good (by this process, or by the client after its last reconnect): the
 * error, or one of its causes, is the client's ClosedConnectionError. Nothing sent on it can succeed.
 */
export function isConnectionClosed(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < MAX_CAUSES; depth++, e = e.cause) {
    if (e instanceof errors.ClosedConnectionError) return true;
  }
  return false;
}

/**
 * A compare-and-set write lost: the KV entry's revision is not the one given (update), or the key already
 * has a value (create: the server answers both with "wrong last sequence").
 */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
