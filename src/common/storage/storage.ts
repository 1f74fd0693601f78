/**
 * Where a job's outputs live: a local (or network) folder, or an S3 bucket and prefix. Keys are relative
 * paths with forward slashes (`images/000003/a-0.png`, `00003.tar`); the same key names the same output
 * in either kind of storage.
 *
 * Every put is atomic: a reader sees the previous object, none, or the whole new one, never a part
 * (a folder: temporary file, fsync, rename; S3: one PUT, or a multipart upload that becomes visible
 * only when it completes).
 */

export interface StoredObject {
  key: string;
  /** Bytes. */
  size: number;
}

export type StorageKind = "local" | "s3";

/** An object's bytes: one buffer, or chunks written one after the other (a tar's headers and members). */
export type ObjectBytes = Uint8Array | readonly Uint8Array[];

export function byteLength(data: ObjectBytes): number {
  if (data instanceof Uint8Array) return data.length;
  let n = 0;
  for (const c of data) n += c.length;
  return n;
}

export interface PutOptions {
  /**
   * false: the object is moved into place whole, as always, but without waiting for the disk to have it;
   * `sync` makes it durable later, together with others (one flush for a shard's files, not one each).
   * Objects that mark something complete are put durable, after a `sync` of what they vouch for. S3 puts
   * are durable when they return either way.
   */
  durable?: boolean;
}

export interface ObjectEntry {
  key: string;
  data: ObjectBytes;
}

export interface ObjectStorage {
  readonly kind: StorageKind;
  /** The folder (absolute) or `s3://bucket/prefix`, for messages. */
  readonly location: string;
  /** Writes the whole object atomically, replacing any object of that key. */
  put(key: string, data: ObjectBytes, opts?: PutOptions): Promise<void>;
  /**
   * Puts several objects so that none of them becomes visible before the bytes of all are durable, then
   * moves them into place in the order given: the last can mark the others complete. Cheaper than one put
   * after the other (the disk is flushed once for all).
   */
  putAll(objects: readonly ObjectEntry[]): Promise<void>;
  /** Makes objects put with `durable: false` durable, their bytes and their names, all at once. */
  sync(keys: readonly string[]): Promise<void>;
  /**
   * Like put, from a local file (large objects such as metadata.jsonl are not held in memory). With
   * `move`, the file is consumed: renamed into place when it can be, removed after the upload otherwise.
   */
  putFile(key: string, path: string, opts?: { move?: boolean }): Promise<void>;
  /** The object's bytes; null when there is none. */
  get(key: string): Promise<Buffer | null>;
  /**
   * get, done at once on this thread: only where an object is a local file. For many small objects (a
   * job's shard metadata files) a file read costs less than get's round trip through the thread pool;
   * it blocks the event loop for its duration, so callers read in bounded slices.
   */
  getSync?(key: string): Buffer | null;
  /**
   * `length` bytes from `start` (fewer at the object's end); null when there is none. For one member of
   * a large object (a tar's PNG) without reading the rest.
   */
  getRange(key: string, start: number, length: number): Promise<Buffer | null>;
  /** Its size; null when there is none. */
  stat(key: string): Promise<StoredObject | null>;
  /**
   * Objects whose keys start with `prefix` (a folder ends it with "/"), sorted by key. `recursive: false`
   * lists only those with no further "/" after the prefix. Leftovers of interrupted puts are not listed.
   */
  list(prefix: string, opts?: { recursive?: boolean }): Promise<StoredObject[]>;
  /** Removes the object (nothing when there is none). */
  delete(key: string): Promise<void>;
  /**
   * Removes what interrupted puts of keys under `prefix` left behind (temporary files; unfinished multipart
   * uploads), best effort: called before a redelivered shard is written again.
   */
  removeLeftovers(prefix: string): Promise<void>;
  /** Releases connections. */
  close(): void;
}

/** Joins an output location and a key for messages and for `metadata.jsonl`-style paths. */
export function describeKey(storage: Pick<ObjectStorage, "location">, key: string): string {
  return `${storage.location.replace(/\/+$/, "")}/${key}`;
}
