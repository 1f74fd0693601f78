/**
 * A job's outputs in a folder. Puts write `<file>.tmp-<pid>-<rand>`, fsync it (unless `durable: false`),
 * rename it over the file and fsync the folder, so a reader, or a worker killed half-way, never leaves
 * half a file under the real name; the temporary files such a kill leaves are removed by removeLeftovers.
 * putAll and sync flush many files at once: fsyncs issued together, each folder flushed once, which costs
 * the disk far less than a flush per file. A file put without a flush keeps its descriptor (up to
 * MAX_HELD of them) until sync flushes it: that flush then needs no open and close of its own.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import {
  copyFile,
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
} from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { LatentFleetError } from "../errors.js";
import { errorMessage } from "../log.js";
import type { ObjectBytes, ObjectEntry, ObjectStorage, PutOptions, StoredObject } from "./storage.js";

export const TMP_MARK = ".tmp-";

/**
 * Descriptors of files awaiting a sync kept at most (a few shards' images); past it a file is closed once
 * written and opened again for its flush.
 */
export const MAX_HELD = 128;

export interface LocalStorageOptions {
  /** fsync files and folders before a put returns (default true). */
  durable?: boolean;
}

export class LocalStorage implements ObjectStorage {
  readonly kind = "local" as const;
  readonly location: string;
  private readonly durable: boolean;
  /** Folders made (or found) already: a put into one of them skips the mkdir. */
  private readonly madeDirs = new Set<string>();
  /** Files put without a flush, by path: their descriptors, kept open for sync (each open on the file itself). */
  private readonly held = new Map<string, FileHandle>();

  constructor(root: string, opts: LocalStorageOptions = {}) {
    this.location = resolve(root);
    this.durable = opts.durable ?? true;
  }

  /** The file of a key. */
  path(key: string): string {
    const parts = key.split("/");
    if (key === "" || parts.some((p) => p === "" || p === "." || p === "..") || key.includes("\\")) {
      throw new LatentFleetError("INVALID_ARGUMENT", `${JSON.stringify(key)} is not a storage key`);
    }
    return join(this.location, ...parts);
  }

  async put(key: string, data: ObjectBytes, opts: PutOptions = {}): Promise<void> {
    const sync = this.durable && opts.durable !== false;
    // Flushed by a later sync: the descriptor is kept for it (while there is room, see hold).
    const keep = this.durable && !sync;
    let handle: FileHandle | undefined;
    await this.atomically(
      key,
      async (tmp) => {
        handle = await this.writeTmp(tmp, data, sync, keep);
      },
      sync,
    ).catch(async (err: unknown) => {
      await handle?.close().catch(() => undefined);
      throw err;
    });
    if (handle) this.hold(this.path(key), handle);
  }

  async putAll(objects: readonly ObjectEntry[]): Promise<void> {
    const tmps: string[] = [];
    try {
      // Written (and flushed) side by side; nothing is renamed until every one is on disk.
      await Promise.all(
        objects.map(async ({ key, data }, i) => {
          const path = this.path(key);
          this.release(path);
          tmps[i] = tmpName(path);
          await this.makeDir(dirname(path));
          await this.writeTmp(tmps[i], data, this.durable);
        }),
      );
      for (const [i, { key }] of objects.entries()) await rename(tmps[i], this.path(key));
    } catch (err) {
      await Promise.all(tmps.map((t) => t && rm(t, { force: true }).catch(() => undefined)));
      throw failed(`cannot write ${objects.map((o) => this.path(o.key)).join(", ")}`, err);
    }
    if (this.durable) await this.syncDirsOf(objects.map((o) => o.key));
  }

  async sync(keys: readonly string[]): Promise<void> {
    if (!this.durable || keys.length === 0) return;
    const paths = keys.map((k) => this.path(k));
    // A few at a time: enough for the disk to take them in one flush, without a descriptor per file.
    let next = 0;
    const lane = async () => {
      for (let i = next++; i < paths.length; i = next++) {
        const path = paths[i];
        const handle = this.held.get(path);
        this.held.delete(path);
        await (handle ? syncAndClose(handle) : syncFile(path)).catch((err: unknown) => {
          throw failed(`cannot flush ${path}`, err);
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, paths.length) }, lane));
    await this.syncDirsOf(keys);
  }

  async putFile(key: string, path: string, opts: { move?: boolean } = {}): Promise<void> {
    await this.atomically(key, async (tmp) => {
      if (this.durable) await syncFile(path);
      if (opts.move) {
        try {
          await rename(path, tmp);
          return;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
        }
      }
      await copyFile(path, tmp);
      if (this.durable) await syncFile(tmp);
    });
    if (opts.move) await rm(path, { force: true });
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.path(key));
    } catch (err) {
      if (isMissing(err)) return null;
      throw failed(`cannot read ${this.path(key)}`, err);
    }
  }

  getSync(key: string): Buffer | null {
    try {
      return readFileSync(this.path(key));
    } catch (err) {
      if (isMissing(err)) return null;
      throw failed(`cannot read ${this.path(key)}`, err);
    }
  }

  async getRange(key: string, start: number, length: number): Promise<Buffer | null> {
    let handle: FileHandle | null = null;
    try {
      handle = await open(this.path(key), "r");
      const buf = Buffer.alloc(Math.max(0, length));
      const { bytesRead } = await handle.read(buf, 0, buf.length, start);
      return buf.subarray(0, bytesRead);
    } catch (err) {
      if (isMissing(err)) return null;
      throw failed(`cannot read ${this.path(key)}`, err);
    } finally {
      await handle?.close();
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    try {
      const st = await stat(this.path(key));
      return st.isFile() ? { key, size: st.size } : null;
    } catch (err) {
      if (isMissing(err)) return null;
      throw failed(`cannot read ${this.path(key)}`, err);
    }
  }

  async list(prefix: string, opts: { recursive?: boolean } = {}): Promise<StoredObject[]> {
    const recursive = opts.recursive ?? true;
    const cut = prefix.lastIndexOf("/");
    const dirKey = cut < 0 ? "" : prefix.slice(0, cut);
    const dir = dirKey === "" ? this.location : this.path(dirKey);
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true, recursive });
    } catch (err) {
      if (isMissing(err) || (err as NodeJS.ErrnoException).code === "ENOTDIR") return [];
      throw failed(`cannot list ${dir}`, err);
    }
    const out: StoredObject[] = [];
    for (const e of entries) {
      if (!e.isFile() || e.name.includes(TMP_MARK)) continue;
      const full = join(e.parentPath, e.name);
      const key = full
        .slice(this.location.length + 1)
        .split(sep)
        .join("/");
      if (!key.startsWith(prefix)) continue;
      const st = await stat(full).catch(() => null);
      if (st) out.push({ key, size: st.size });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    this.release(this.path(key));
    await rm(this.path(key), { force: true }).catch((err: unknown) => {
      throw failed(`cannot remove ${this.path(key)}`, err);
    });
  }

  async removeLeftovers(prefix: string): Promise<void> {
    const cut = prefix.lastIndexOf("/");
    const dirKey = cut < 0 ? "" : prefix.slice(0, cut);
    const namePrefix = prefix.slice(cut + 1);
    const dir = dirKey === "" ? this.location : this.path(dirKey);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return; // no folder yet: nothing was left
    }
    await Promise.all(
      names
        .filter((n) => n.includes(TMP_MARK) && n.startsWith(namePrefix))
        .map((n) => rm(join(dir, n), { force: true }).catch(() => undefined)),
    );
  }

  /** Closes the descriptors still kept for a sync that did not come (their files stay as written). */
  close(): void {
    for (const path of [...this.held.keys()]) this.release(path);
  }

  private async atomically(
    key: string,
    write: (tmp: string) => Promise<void>,
    sync = this.durable,
  ): Promise<void> {
    const path = this.path(key);
    const tmp = tmpName(path);
    // The file is replaced: a descriptor kept for it is of the file before.
    this.release(path);
    try {
      await this.makeDir(dirname(path));
      await write(tmp);
      await rename(tmp, path);
      if (sync) await syncDir(dirname(path));
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw failed(`cannot write ${path}`, err);
    }
  }

  private async makeDir(dir: string): Promise<void> {
    if (this.madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    this.madeDirs.add(dir);
  }

  /**
   * writeFile, making the folder again should it have been removed since it was made; with `keep`, the
   * file is left open and its descriptor returned.
   */
  private async writeTmp(
    tmp: string,
    data: ObjectBytes,
    sync: boolean,
    keep = false,
  ): Promise<FileHandle | undefined> {
    try {
      return await writeFile(tmp, data, sync, keep);
    } catch (err) {
      if (!isMissing(err) || !this.madeDirs.delete(dirname(tmp))) throw err;
      await this.makeDir(dirname(tmp));
      return await writeFile(tmp, data, sync, keep);
    }
  }

  /** Keeps the descriptor of a file awaiting a sync, or closes it when MAX_HELD are kept already. */
  private hold(path: string, handle: FileHandle): void {
    this.release(path);
    if (this.held.size < MAX_HELD) this.held.set(path, handle);
    else void handle.close().catch(() => undefined);
  }

  /** Closes the descriptor kept for a file, if any (in the background: nothing waits on it). */
  private release(path: string): void {
    const handle = this.held.get(path);
    if (!handle) return;
    this.held.delete(path);
    void handle.close().catch(() => undefined);
  }

  private async syncDirsOf(keys: readonly string[]): Promise<void> {
    const dirs = new Set(keys.map((k) => dirname(this.path(k))));
    await Promise.all([...dirs].map((d) => syncDir(d)));
  }
}

function tmpName(path: string): string {
  return `${path}${TMP_MARK}${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** Writes a new file; with `keep`, returns its descriptor open rather than closing it. */
async function writeFile(
  path: string,
  data: ObjectBytes,
  sync: boolean,
  keep: boolean,
): Promise<FileHandle | undefined> {
  const fh = await open(path, "w");
  let kept = false;
  try {
    if (data instanceof Uint8Array) await fh.writeFile(data);
    else await writeAll(fh, data);
    if (sync) await fh.sync();
    kept = keep;
    return kept ? fh : undefined;
  } finally {
    if (!kept) await fh.close();
  }
}

/** Writes the chunks in order (writev, in groups the system accepts), however short the writes. */
async function writeAll(fh: FileHandle, chunks: readonly Uint8Array[]): Promise<void> {
  const GROUP = 512;
  for (let i = 0; i < chunks.length; i += GROUP) {
    const group = chunks.slice(i, i + GROUP).filter((c) => c.length > 0);
    while (group.length > 0) {
      const { bytesWritten } = await fh.writev(group);
      let left = bytesWritten;
      while (group.length > 0 && left >= group[0].length) left -= (group.shift() as Uint8Array).length;
      if (left > 0) group[0] = group[0].subarray(left);
    }
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}

function failed(what: string, err: unknown): LatentFleetError {
  if (err instanceof LatentFleetError) return err;
  return new LatentFleetError("OUTPUT_FAILED", `${what}: ${errorMessage(err)}`, { cause: err });
}

async function syncFile(path: string): Promise<void> {
  await syncAndClose(await open(path, "r+"));
}

async function syncAndClose(fh: FileHandle): Promise<void> {
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a folder so the renames in it survive a power loss (best effort: not every platform allows it). */
export async function syncDir(dir: string): Promise<void> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch {
    // e.g. Windows cannot open a folder; the files themselves were synced
  } finally {
    await fh?.close().catch(() => undefined);
  }
}
