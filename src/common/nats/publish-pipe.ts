/**
 * Pipelined JetStream publishes: each message goes out with a reply subject under one inbox subscription
 * of the pipe, and its PubAck is matched back by that subject's last token. Unlike `js.publish` (one
 * request per message: a muxed request, a timer and two Error objects with stack traces each), a publish
 * here costs one write that the client coalesces with the others of the same turn, and one map entry;
 * acks are settled as they arrive, and a sweep fails those past their timeout.
 *
 * Failures look like js.publish's to isNatsUnreachable: a timeout is a TimeoutError, a stream without a
 * leader (a 503 status from the server, "no responders") a NoRespondersError, a JetStream error its
 * JetStreamApiError. The caller retries (PublishWindow) with the same msg id, which the stream
 * de-duplicates.
 *
 * A publish whose ack can no longer come fails early rather than at its timeout, so that a leader change
 * stalls publishing for about an election, not for an ack timeout: on a lost connection every publish in
 * flight fails (its server is gone); a 503 for a publish fails those sent before it to the same stream
 * (they went to the leader that is gone: acks come in order); and after `silenceMs` without any answer,
 * those older than that fail (a whole window sent to a dead leader, with no later publish to be told 503).
 */
import { type JetStreamApiError as ApiError, JetStreamApiError, type PubAck } from "@nats-io/jetstream";
import {
  createInbox,
  errors,
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { parsePubAck } from "./pub-ack.js";

/** How long a publish waits for its ack (js.publish's default). */
export const PUBLISH_ACK_TIMEOUT_MS = 5_000;
/**
 * How long publishes may await acks with no answer of any kind coming before those older are taken as
 * lost: an ack takes milliseconds, a whole second of silence means the stream's leader is gone.
 */
export const PUBLISH_SILENCE_MS = 1_000;
const SWEEP_MS = 250;
const NO_RESPONDERS = 503;

interface Pending {
  resolve: (ack: PubAck) => void;
  reject: (err: Error) => void;
  subject: string;
  /** Nats-Expected-Stream, or the subject: the publishes whose acks come in order behind one leader. */
  stream: string;
  /** Order of sending (the token's number). */
  seq: number;
  sentAt: number;
  deadline: number;
}

export interface PublishOptions {
  /** Nats-Msg-Id: the stream drops a second message with the same id within its duplicate window. */
  msgId: string;
  /** Nats-Expected-Stream: the stream that must store it. */
  expectStream?: string;
}

/** A header value may not break the header block (what MsgHdrs.set refuses). */
const LINE_BREAK = /[\r\n]/;
const encoder = new TextEncoder();

export class PublishPipe {
  /**
   * The headers of every publish, as one object: the client reads a publish's headers only through their
   * encode(), at once, inside nc.publish; this one's encode() gives the bytes written for that publish
   * (the same block MsgHdrs would write), without a headers object and its map per task.
   */
  private readonly wireHeaders: MsgHdrs;
  private nextHeaders: Uint8Array = new Uint8Array(0);
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly sweepMs: number;
  private lastSweep: number;
  private next = 0;
  private closed = false;
  /** When the last answer (ack, error or 503) came, or the first publish after a quiet spell went out. */
  private lastAnswer = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number = PUBLISH_ACK_TIMEOUT_MS,
    private readonly silenceMs: number = Math.min(PUBLISH_SILENCE_MS, timeoutMs),
  ) {
    const wire = headers() as MsgHdrs & { encode(): Uint8Array };
    wire.encode = () => this.nextHeaders;
    this.wireHeaders = wire;
    this.prefix = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => (err ? undefined : this.settle(msg)),
    });
    this.sweepMs = Math.min(SWEEP_MS, timeoutMs, silenceMs);
    this.lastSweep = Date.now();
    this.sweeper = setInterval(() => this.sweep(), this.sweepMs);
    this.sweeper.unref();
    void this.watchConnection();
  }

  /** Publishes `data` on `subject`; resolves with the stream's ack. */
  publish(subject: string, data: Uint8Array, opts: PublishOptions): Promise<PubAck> {
    if (this.closed) return Promise.reject(new errors.ClosedConnectionError());
    const expect = opts.expectStream;
    if (LINE_BREAK.test(opts.msgId) || (expect !== undefined && LINE_BREAK.test(expect))) {
      return Promise.reject(errors.InvalidArgumentError.format("header", "values cannot contain \\r or \\n"));
    }
    const seq = this.next++;
    const token = seq.toString(36);
    const now = Date.now();
    // Silence counts from the first publish after a quiet spell, not from the last answer before it.
    if (this.pending.size === 0) this.lastAnswer = now;
    const stream = opts.expectStream ?? subject;
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(token, {
        resolve,
        reject,
        subject,
        stream,
        seq,
        sentAt: now,
        deadline: now + this.timeoutMs,
      });
      try {
        this.nextHeaders = encoder.encode(
          expect === undefined
            ? `NATS/1.0\r\nNats-Msg-Id: ${opts.msgId}\r\n\r\n`
            : `NATS/1.0\r\nNats-Msg-Id: ${opts.msgId}\r\nNats-Expected-Stream: ${expect}\r\n\r\n`,
        );
        this.nc.publish(subject, data, { reply: this.prefix + token, headers: this.wireHeaders });
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

  /** A lost connection loses the acks of everything in flight: fail it now, to be sent again. */
  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      if (s.type === "disconnect") {
        this.failSentBefore(
          Number.POSITIVE_INFINITY,
          undefined,
          () => new errors.ConnectionError("disconnected"),
        );
      }
    }
  }

  /** Fails (for a retry) the publishes awaiting an ack sent before `seq`, to `stream` when given. */
  private failSentBefore(seq: number, stream: string | undefined, error: () => Error): void {
    for (const [token, p] of this.pending) {
      if (p.seq >= seq) break; // in sending order
      if (stream !== undefined && p.stream !== stream) continue;
      this.pending.delete(token);
      p.reject(error());
    }
  }

  private settle(msg: Msg): void {
    this.lastAnswer = Date.now();
    const token = msg.subject.slice(this.prefix.length);
    const p = this.pending.get(token);
    if (!p) return; // failed already: the retry's ack (same msg id) settles it
    this.pending.delete(token);
    if (msg.headers?.code === NO_RESPONDERS) {
      // The stream has no leader now: those sent to it before went to the one that is gone.
      this.failSentBefore(p.seq, p.stream, () => new errors.TimeoutError());
      p.reject(new errors.NoRespondersError(p.subject));
      return;
    }
    const quick = parsePubAck(msg.data);
    if (quick) {
      p.resolve(quick);
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
    // A late sweep means this process was busy: answers may wait unread in the socket, so no silence.
    const late = now - this.lastSweep > 2 * this.sweepMs;
    this.lastSweep = now;
    // Silence: no answer to anything for silenceMs; those sent before it began will not be answered.
    const silent = !late && now - this.lastAnswer >= this.silenceMs;
    const before = silent ? now - this.silenceMs : Number.NEGATIVE_INFINITY;
    for (const [token, p] of this.pending) {
      if (p.deadline > now && p.sentAt > before) break; // in sending order: the rest are younger
      this.pending.delete(token);
      p.reject(new errors.TimeoutError());
    }
  }
}

type ApiErrorBody = ConstructorParameters<typeof ApiError>[0];
