/**
 * The stream's ack of a publish, read by hand in its usual forms: nats-server 2.9 writes
 * `{"stream":"S", "seq":N}` and `{"stream":"S", "seq":N,"duplicate": true}`; the same without the spaces
 * (JSON as Go marshals it) is read too. One ack per task otherwise costs a string decode and a JSON
 * parse; anything else (an error, a domain, escapes, another order) is left to JSON.parse by the caller.
 */
import type { PubAck } from "@nats-io/jetstream";

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const HEAD = ascii('{"stream":"');
const SEQ = ascii('","seq":');
const SPACED_SEQ = ascii('", "seq":');
const DUPLICATE = ascii(',"duplicate":true}');
const SPACED_DUPLICATE = ascii(',"duplicate": true}');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE = 0x7d;
const ZERO = 0x30;
/** Digits of a sequence that stays an exact number (2^53 has 16). */
const MAX_SEQ_DIGITS = 15;

function startsWith(data: Uint8Array, at: number, part: Uint8Array): boolean {
  if (data.length < at + part.length) return false;
  for (let i = 0; i < part.length; i++) if (data[at + i] !== part[i]) return false;
  return true;
}

/** `part` is what `data` holds from `at` to its end. */
function endsWithAt(data: Uint8Array, at: number, part: Uint8Array): boolean {
  return at + part.length === data.length && startsWith(data, at, part);
}

/** The last stream name read, and its bytes: acks name the same stream over and over. */
let lastName = "";
let lastBytes = new Uint8Array(0);

function streamName(data: Uint8Array, from: number, to: number): string {
  const length = to - from;
  if (length === lastBytes.length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (data[from + i] !== lastBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastName;
  }
  lastBytes = data.slice(from, to);
  lastName = String.fromCharCode(...lastBytes);
  return lastName;
}

/** The ack, or null when `data` is not in one of the two usual forms. */
export function parsePubAck(data: Uint8Array): PubAck | null {
  if (!startsWith(data, 0, HEAD)) return null;
  let at = HEAD.length;
  const nameStart = at;
  for (; at < data.length && data[at] !== QUOTE; at++) {
    const c = data[at];
    if (c === BACKSLASH || c >= 0x80) return null; // escaped or not ASCII: JSON.parse reads it
  }
  const nameEnd = at;
  if (nameEnd === nameStart) return null;
  if (startsWith(data, at, SPACED_SEQ)) at += SPACED_SEQ.length;
  else if (startsWith(data, at, SEQ)) at += SEQ.length;
  else return null;
  let seq = 0;
  const digitsStart = at;
  for (; at < data.length && data[at] >= ZERO && data[at] <= ZERO + 9; at++) seq = seq * 10 + data[at] - ZERO;
  const digits = at - digitsStart;
  if (digits === 0 || digits > MAX_SEQ_DIGITS) return null;
  let duplicate: boolean;
  if (at === data.length - 1 && data[at] === CLOSE) duplicate = false;
  else if (endsWithAt(data, at, SPACED_DUPLICATE) || endsWithAt(data, at, DUPLICATE)) duplicate = true;
  else return null;
  return { stream: streamName(data, nameStart, nameEnd), seq, duplicate, domain: undefined };
}
