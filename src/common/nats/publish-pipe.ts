/**
 * Pipelined JetStream publishes: each message goes out with a reply subject under one inbox subscription
 * of the pipe, and its PubAck is matched back by that subject's last token. Unlike `js.publish` (one
 * request per message: a muxed request, a timer and two Error objects with stack traces each), a publish
 * here costs one write that the client coalesces with the others of the same turn, and one map entry;
 * acks are settled as they arrive, and one sweep a second fails those past their timeout.
 *
 * Failures look like js.publish's to isNatsUnreachable: a timeout is a TimeoutError, a stream without a
 * leader (a 503 status from the server, "no responders") a NoRespondersError, a JetStream error its
 * JetStreamApiError. The caller retries (PublishWindow) with the same msg id, which the stream
 * de-duplicates.
 */
import { type JetStreamApiError as ApiError, JetStreamApiError, type PubAck } from "@nats-io/jetstream";
import {
  createInbox,
  errors,
  headers,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";

/** How long a publish waits for its ack (js.publish's default). */
export const PUBLISH_ACK_TIMEOUT_MS = 5_000;
const SWEEP_MS = 1_000;
const NO_RESPONDERS = 503;

interface Pending {
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
  subject: string;
  deadline: number;
}

export interface PublishOptions {
  /** Nats-Msg-Id: the stream drops a second message with the same id within its duplicate window. */
  msgId: string;
  /** Nats-Expected-Stream: the stream that must store it. */
  expectStream?: string;
}

export class PublishPipe {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number = PUBLISH_ACK_TIMEOUT_MS,
  ) {
    this.prefix = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => (err ? undefined : this.settle(msg)),
    });
    this.sweeper = setInterval(() => this.sweep(), Math.min(SWEEP_MS, timeoutMs));
    this.sweeper.unref();
  }

  /** Publishes `data` on `subject`; resolves with the stream's ack. */
  publish(subject: string, data: Uint8Array, opts: PublishOptions): Promise<PubAck> {
    if (this.closed) return Promise.reject(new errors.ClosedConnectionError());
    const token = (this.next++).toString(36);
    const h = headers();
    h.set("Nats-Msg-Id", opts.msgId);
    if (opts.expectStream !== undefined) h.set("Nats-Expected-Stream", opts.expectStream);
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, subject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, headers: h });
      } catch (err) {
        this.pending.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Publishes awaiting their ack. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Stops listening; publishes still awaiting an ack fail (they may have been stored). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new errors.ClosedConnectionError());
    this.pending.clear();
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const p = this.pending.get(token);
    if (!p) return; // timed out already: the retry's ack (same msg id) settles it
    this.pending.delete(token);
    if (msg.headers?.code === NO_RESPONDERS) {
      p.reject(new errors.NoRespondersError(p.subject));
      return;
    }
    let body: PubAck & { error?: ApiErrorBody };
    try {
      body = msg.json();
    } catch (err) {
      p.reject(new Error(`invalid ack for a publish on ${p.subject}`, { cause: err }));
      return;
    }
    if (body.error) p.reject(new JetStreamApiError(body.error));
    else if (!body.stream) p.reject(new Error(`invalid ack for a publish on ${p.subject}`));
    else
      p.resolve({
        stream: body.stream,
        seq: body.seq,
        duplicate: body.duplicate === true,
        domain: body.domain,
      });
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline > now) break; // in deadline order: the rest are younger
      this.pending.delete(token);
      p.reject(new errors.TimeoutError());
    }
  }
}

type ApiErrorBody = ConstructorParameters<typeof ApiError>[0];
