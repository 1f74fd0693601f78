/**
 * POSIX ustar archives, written and indexed in memory: what a WebDataset shard is. Only what shards need:
 * regular files with short names (a sample key plus an extension), mode 0644, owner 0, modification time 0,
 * so the same members always make the same bytes. GNU tar, Python's tarfile and the webdataset loaders
 * read them. The index reader checks every header's checksum and that each member's data and the two
 * closing zero blocks are all there, which is how a truncated shard is told apart from a complete one.
 */

export interface TarMember {
  name: string;
  data: Uint8Array;
}

export interface TarIndexEntry {
  name: string;
  /** Offset of the member's data in the archive. */
  offset: number;
  size: number;
}

const BLOCK = 512;
const MAX_NAME = 100;

function padded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Bytes of the archive of these members (headers, data padded to blocks, two closing blocks). */
export function tarSize(members: readonly { name: string; data: { length: number } }[]): number {
  let n = 2 * BLOCK;
  for (const m of members) n += BLOCK + padded(m.data.length);
  return n;
}

/** Where each member's data starts in the archive of `members`, laid out as tarChunks lays it out. */
export function tarDataOffsets(members: readonly { data: { length: number } }[]): number[] {
  const offsets: number[] = [];
  let at = 0;
  for (const m of members) {
    offsets.push(at + BLOCK);
    at += BLOCK + padded(m.data.length);
  }
  return offsets;
}

function writeOctal(buf: Buffer, at: number, width: number, value: number): void {
  // width - 1 octal digits and a NUL, as ustar has it.
  const text = value.toString(8).padStart(width - 1, "0");
  if (text.length > width - 1)
    throw new RangeError(`tar: ${value} does not fit in ${width - 1} octal digits`);
  buf.write(text, at, "latin1");
  buf[at + width - 1] = 0;
}

function writeHeader(buf: Buffer, at: number, name: string, size: number): void {
  const nameBytes = Buffer.byteLength(name, "utf8");
  if (nameBytes === 0 || nameBytes > MAX_NAME) {
    throw new RangeError(`tar: member name ${JSON.stringify(name)} must be 1 to ${MAX_NAME} bytes`);
  }
  buf.fill(0, at, at + BLOCK);
  buf.write(name, at, "utf8");
  writeOctal(buf, at + 100, 8, 0o644); // mode
  writeOctal(buf, at + 108, 8, 0); // uid
  writeOctal(buf, at + 116, 8, 0); // gid
  writeOctal(buf, at + 124, 12, size);
  writeOctal(buf, at + 136, 12, 0); // mtime
  buf.fill(0x20, at + 148, at + 156); // checksum field counts as spaces
  buf[at + 156] = 0x30; // '0': regular file
  buf.write("ustar\u000000", at + 257, "latin1"); // magic "ustar\0", version "00"
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += buf[i];
  writeOctal(buf, at + 148, 7, sum);
  buf[at + 155] = 0x20;
}

const ZEROS = Buffer.alloc(BLOCK);

/**
 * The archive of `members` as a list of chunks (headers, the members' own bytes, padding, the closing
 * blocks), in the order given: written out as they are (writev), a large archive is never copied into
 * one fresh buffer, whose first touch alone costs milliseconds per megabyte.
 */
export function tarChunks(members: readonly TarMember[]): Uint8Array[] {
  const headers = Buffer.alloc(BLOCK * members.length);
  const chunks: Uint8Array[] = [];
  members.forEach((m, i) => {
    const header = headers.subarray(i * BLOCK, (i + 1) * BLOCK);
    writeHeader(header, 0, m.name, m.data.length);
    chunks.push(header, m.data);
    const pad = padded(m.data.length) - m.data.length;
    if (pad > 0) chunks.push(ZEROS.subarray(0, pad));
  });
  chunks.push(ZEROS, ZEROS);
  return chunks;
}

/** The archive of `members`, in the order given, in one buffer. */
export function writeTar(members: readonly TarMember[]): Buffer {
  return Buffer.concat(tarChunks(members), tarSize(members));
}

export class TarFormatError extends Error {
  override readonly name = "TarFormatError";
}

function readOctal(buf: Uint8Array, at: number, width: number): number {
  const text = Buffer.from(buf.subarray(at, at + width))
    .toString("latin1")
    .replace(/[\0 ]+$/g, "")
    .trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad octal field ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function isZeroBlock(buf: Uint8Array, at: number): boolean {
  for (let i = at; i < at + BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** One header block: the member's name, size and type byte (checksum checked). */
function parseHeader(archive: Uint8Array, at: number): { name: string; size: number; type: number } {
  const stored = readOctal(archive, at + 148, 8);
  let sum = 0;
  for (let i = at; i < at + BLOCK; i++) sum += i >= at + 148 && i < at + 156 ? 0x20 : archive[i];
  if (sum !== stored) throw new TarFormatError(`header checksum mismatch at byte ${at}`);
  const nameEnd = archive.subarray(at, at + MAX_NAME).indexOf(0);
  let name = Buffer.from(archive.subarray(at, at + (nameEnd < 0 ? MAX_NAME : nameEnd))).toString("utf8");
  const prefixEnd = archive.subarray(at + 345, at + 500).indexOf(0);
  const prefix = Buffer.from(
    archive.subarray(at + 345, at + 345 + (prefixEnd < 0 ? 155 : prefixEnd)),
  ).toString("utf8");
  if (prefix !== "") name = `${prefix}/${name}`;
  const size = readOctal(archive, at + 124, 12);
  const type = archive[at + 156];
  return { name, size, type };
}

export const TAR_BLOCK = BLOCK;

/**
 * The header block of a member whose data starts `BLOCK` bytes after it: its name, its size and whether it
 * is a regular file; null for the zero block that ends an archive. For walking a stored tar member by
 * member with ranged reads (a gallery shows one PNG of a shard without reading the shard).
 */
export function readTarHeader(block: Uint8Array): { name: string; size: number; isFile: boolean } | null {
  if (block.length < BLOCK) throw new TarFormatError(`a header needs ${BLOCK} bytes, got ${block.length}`);
  if (isZeroBlock(block, 0)) return null;
  const { name, size, type } = parseHeader(block, 0);
  return { name, size, isFile: type === 0x30 || type === 0 };
}

/** Bytes from one member's data to the next header. */
export function paddedSize(size: number): number {
  return padded(size);
}

/**
 * The regular-file members of an archive, with where their data lies. Throws TarFormatError when a header
 * is damaged or the archive ends early (a truncated file).
 */
export function readTarIndex(archive: Uint8Array): TarIndexEntry[] {
  const out: TarIndexEntry[] = [];
  let at = 0;
  for (;;) {
    if (at + BLOCK > archive.length)
      throw new TarFormatError(`archive ends at byte ${archive.length}, inside a header`);
    if (isZeroBlock(archive, at)) {
      if (at + 2 * BLOCK > archive.length || !isZeroBlock(archive, at + BLOCK)) {
        throw new TarFormatError("archive ends without its two closing blocks");
      }
      return out;
    }
    const { name, size, type } = parseHeader(archive, at);
    const dataAt = at + BLOCK;
    if (dataAt + size > archive.length) {
      throw new TarFormatError(
        `member ${name} needs ${size} bytes at ${dataAt}; the archive ends at ${archive.length}`,
      );
    }
    if (type === 0x30 || type === 0) out.push({ name, offset: dataAt, size });
    at = dataAt + padded(size);
  }
}
