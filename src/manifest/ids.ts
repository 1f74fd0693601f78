/**
 * Row ids. A row without an id gets `r` + its row index in 9+ digits (r000000042): stable, file-name safe,
 * and sorting as text in manifest order up to a billion rows. That form is reserved: a row may give it only
 * if it is its own default id (as when a job's metadata.jsonl is fed back in).
 *
 * Duplicate explicit ids would make two rows write the same files, so they are row errors. Ids are
 * compared case-insensitively (some file systems ignore case) by a 64-bit fingerprint, in open-addressing
 * tables of 8 bytes a slot: 256 segments (picked by the fingerprint) that each double on their own, so
 * growing never holds two copies of the whole table. At most 64 MiB, about 6 million ids (MAX_TRACKED_IDS
 * if the segments filled evenly); once a segment is full its later ids are still checked against what it
 * holds but no longer added (the expansion says so once). A fingerprint collision would flag a false
 * duplicate; at a million ids its odds are about 3 in 10^8.
 */
import { FieldError } from "./errors.js";

const RESERVED = /^[rR][0-9]{9,}$/;

export function defaultRowId(rowIndex: number): string {
  return `r${String(rowIndex).padStart(9, "0")}`;
}

/** Throws when an explicit id takes the default form of another row. */
export function checkReservedId(id: string, rowIndex: number): void {
  const c = id.charCodeAt(0);
  if ((c === 114 || c === 82) && RESERVED.test(id) && id.toLowerCase() !== defaultRowId(rowIndex)) {
    throw new FieldError(
      "id",
      `id "${id}" has the form r + 9 or more digits, reserved for the ids of rows without one; rename it`,
    );
  }
}

const SEGMENTS = 256;
const MAX_SEGMENT_SLOTS = 1 << 15; // 2^23 slots in all: 64 MiB
const MAX_SEGMENT_IDS = (MAX_SEGMENT_SLOTS / 4) * 3;
export const MAX_TRACKED_IDS = SEGMENTS * MAX_SEGMENT_IDS;

export type IdCheck = "new" | "duplicate" | "untracked";

export class IdRegistry {
  // Each segment holds (a, b) fingerprint pairs; (0, 0) marks an empty slot.
  private readonly segments = Array.from({ length: SEGMENTS }, () => new Uint32Array(2 * 64));
  private readonly counts = new Uint32Array(SEGMENTS);
  private tracked = 0;
  private full = false;

  get size(): number {
    return this.tracked;
  }

  /** True once some id could not be added (its segment was full). */
  get saturated(): boolean {
    return this.full;
  }

  /** "new" (now tracked), "duplicate" (seen before) or "untracked" (new, but its segment is full). */
  add(id: string): IdCheck {
    // Two independent 32-bit hashes of the lower-cased id (ids are ASCII, see ID_PATTERN).
    let a = 0x811c9dc5;
    let b = 0x2545f491;
    for (let i = 0; i < id.length; i++) {
      let c = id.charCodeAt(i);
      if (c >= 65 && c <= 90) c += 32;
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 13;
    }
    a = fmix32(a);
    b = fmix32(b ^ id.length);
    if (a === 0 && b === 0) b = 1;
    const seg = a >>> 24; // the slot index uses a's low bits
    if (find(this.segments[seg], a, b)) return "duplicate";
    const n = this.counts[seg];
    if (n >= MAX_SEGMENT_IDS) {
      this.full = true;
      return "untracked";
    }
    let slots = this.segments[seg];
    if ((n + 1) * 4 > (slots.length / 2) * 3) {
      const grown = new Uint32Array(slots.length * 2);
      for (let i = 0; i < slots.length; i += 2)
        if (slots[i] !== 0 || slots[i + 1] !== 0) insert(grown, slots[i], slots[i + 1]);
      this.segments[seg] = slots = grown;
    }
    insert(slots, a, b);
    this.counts[seg] = n + 1;
    this.tracked++;
    return "new";
  }
}

function find(slots: Uint32Array, a: number, b: number): boolean {
  const mask = slots.length / 2 - 1;
  for (let i = a & mask; ; i = (i + 1) & mask) {
    const x = slots[2 * i];
    const y = slots[2 * i + 1];
    if (x === 0 && y === 0) return false;
    if (x === a && y === b) return true;
  }
}

function insert(slots: Uint32Array, a: number, b: number): void {
  const mask = slots.length / 2 - 1;
  let i = a & mask;
  while (slots[2 * i] !== 0 || slots[2 * i + 1] !== 0) i = (i + 1) & mask;
  slots[2 * i] = a;
  slots[2 * i + 1] = b;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
