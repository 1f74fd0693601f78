/**
 * How the manifest layer reaches the spec and its prompt files: from the local disk, or from files a client
 * streamed to the coordinator over gRPC. Paths are the ones the spec resolves (joined to the spec's folder).
 */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";

export interface ByteRange {
  /** First byte (inclusive). */
  start: number;
  /** Last byte (exclusive). */
  end: number;
}

export interface SourceAccess {
  /**
   * The file's bytes, or those of `range`. Ranges are needed for Parquet only (its footer comes first);
   * an implementation that cannot seek may spool to a temporary file.
   */
  openSource(path: string, range?: ByteRange): Readable;
  /** The file's size, or undefined when there is no such file. */
  statSource(path: string): Promise<{ size: number } | undefined>;
}

/** Files on this machine's disk. */
export const fsSourceAccess: SourceAccess = {
  openSource(path, range) {
    if (!range) return createReadStream(path);
    // createReadStream's `end` is inclusive; an empty range still needs a (empty) stream.
    if (range.end <= range.start) return Readable.from([]);
    return createReadStream(path, { start: range.start, end: range.end - 1 });
  },
  async statSource(path) {
    try {
      const s = await stat(path);
      return s.isFile() ? { size: s.size } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  },
};

/** Files held in memory (tests, or a coordinator that buffered a small upload). */
export function memorySourceAccess(files: ReadonlyMap<string, Uint8Array | string>): SourceAccess {
  const bytes = (path: string): Buffer | undefined => {
    const f = files.get(path);
    return f === undefined ? undefined : typeof f === "string" ? Buffer.from(f, "utf8") : Buffer.from(f);
  };
  return {
    openSource(path, range) {
      const b = bytes(path);
      if (!b) {
        const err: NodeJS.ErrnoException = new Error(`ENOENT: no such file, open '${path}'`);
        err.code = "ENOENT";
        return new Readable({
          read() {
            this.destroy(err);
          },
        });
      }
      const part = range ? b.subarray(range.start, range.end) : b;
      // In 64 KiB chunks, as a file stream would deliver them, so readers see chunk boundaries.
      const chunks: Buffer[] = [];
      for (let i = 0; i < part.length; i += 65536) chunks.push(part.subarray(i, i + 65536));
      return Readable.from(chunks);
    },
    async statSource(path) {
      const b = bytes(path);
      return b ? { size: b.length } : undefined;
    },
  };
}

/** The whole of a (small) file, e.g. a spec; refuses files over `maxBytes`. */
export async function readSourceBytes(
  access: SourceAccess,
  path: string,
  range?: ByteRange,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of access.openSource(path, range)) {
    const b = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    total += b.length;
    if (total > maxBytes) throw new RangeError(`${path} is larger than ${maxBytes} bytes`);
    chunks.push(b);
  }
  return Buffer.concat(chunks, total);
}
