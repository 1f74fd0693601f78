/**
 * Prompt files a client streamed with its spec (SubmitJob), spooled to disk as they arrive so an upload
 * of any size costs no memory, then moved into the job's folder once the spec is valid. A spec's sources
 * are looked up among the uploads first, then on the coordinator's own disk.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { LatentFleetError } from "../common/errors.js";
import { fsSourceAccess, resolveFromSpec, type SourceAccess } from "../manifest/index.js";

export const UPLOAD_LIMITS = {
  /** Total bytes of one submission's files. */
  maxBytes: 64 * 1024 ** 3,
  maxFiles: 10_000,
} as const;

interface Spooled {
  file: string;
  size: number;
  stream: WriteStream | null;
  complete: boolean;
}

export class UploadSpool {
  private readonly files = new Map<string, Spooled>();
  private total = 0;

  private constructor(
    readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  static async create(maxBytes: number = UPLOAD_LIMITS.maxBytes): Promise<UploadSpool> {
    return new UploadSpool(await mkdtemp(join(tmpdir(), "lf-upload-")), maxBytes);
  }

  /** Appends a chunk of the file the spec names `path`; `last` completes it. */
  async write(path: string, data: Uint8Array, last: boolean): Promise<void> {
    if (path === "" || path.includes("\0"))
      throw invalid("a source file chunk needs a path (as named in the spec)");
    let f = this.files.get(path);
    if (f?.complete) throw invalid(`source file "${path}" was sent twice`);
    if (!f) {
      if (this.files.size >= UPLOAD_LIMITS.maxFiles)
        throw invalid(`more than ${UPLOAD_LIMITS.maxFiles} source files`);
      f = { file: join(this.dir, String(this.files.size)), size: 0, stream: null, complete: false };
      f.stream = createWriteStream(f.file);
      this.files.set(path, f);
    }
    this.total += data.length;
    if (this.total > this.maxBytes) throw invalid(`the source files exceed ${this.maxBytes} bytes`);
    const stream = f.stream as WriteStream;
    if (data.length > 0 && !stream.write(data)) await waitDrain(stream);
    f.size += data.length;
    if (last) await this.complete(f);
  }

  /** A whole file at once (programmatic submissions). */
  async add(path: string, content: Uint8Array | string): Promise<void> {
    await this.write(path, typeof content === "string" ? Buffer.from(content, "utf8") : content, true);
  }

  /** Completes every file (a client may leave out `last` on the final chunk); returns path -> local file. */
  async finish(): Promise<Map<string, string>> {
    for (const f of this.files.values()) if (!f.complete) await this.complete(f);
    return new Map([...this.files].map(([path, f]) => [path, f.file]));
  }

  /** Moves the files into `dir` (rename, or copy across file systems); returns path -> new local file. */
  async moveInto(dir: string): Promise<Map<string, string>> {
    const spooled = await this.finish();
    await mkdir(dir, { recursive: true });
    const moved = new Map<string, string>();
    for (const [path, file] of spooled) {
      const to = join(dir, file.slice(this.dir.length + 1));
      try {
        await rename(file, to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
        await copyFile(file, to);
      }
      moved.set(path, to);
    }
    await this.discard();
    return moved;
  }

  async discard(): Promise<void> {
    for (const f of this.files.values()) f.stream?.destroy();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async complete(f: Spooled): Promise<void> {
    const stream = f.stream;
    f.stream = null;
    f.complete = true;
    if (stream) {
      await new Promise<void>((resolve, reject) => {
        stream.once("error", reject);
        stream.end(() => resolve());
      });
    } else {
      await writeFile(f.file, "");
    }
  }
}

function waitDrain(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      stream.off("drain", onDrain);
      reject(err);
    };
    const onDrain = () => {
      stream.off("error", onError);
      resolve();
    };
    stream.once("drain", onDrain);
    stream.once("error", onError);
  });
}

function invalid(message: string): LatentFleetError {
  return new LatentFleetError("INVALID_ARGUMENT", message);
}

/**
 * Uploaded files keyed as the manifest layer will ask for them: a spec's `file:` entries resolve against
 * the spec's folder; a bare prompts file given as the spec is asked for by its own name.
 */
export function resolveUploads(specName: string, uploads: ReadonlyMap<string, string>): Map<string, string> {
  const resolved = new Map<string, string>();
  for (const [named, local] of uploads) {
    resolved.set(resolveFromSpec(specName, named), local);
    if (named === specName || resolve(named) === resolve(specName)) resolved.set(specName, local);
  }
  return resolved;
}

/** Sources among `files` (resolved path -> local file) first, then `fallback` (the coordinator's disk). */
export function overlayAccess(
  files: ReadonlyMap<string, string>,
  fallback: SourceAccess = fsSourceAccess,
): SourceAccess {
  return {
    openSource(path, range) {
      const local = files.get(path);
      return local === undefined ? fallback.openSource(path, range) : fsSourceAccess.openSource(local, range);
    },
    statSource(path) {
      const local = files.get(path);
      return local === undefined ? fallback.statSource(path) : fsSourceAccess.statSource(local);
    },
  };
}
