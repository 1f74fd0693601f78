/** Output storage: a folder or an S3 bucket/prefix, behind one interface (storage.ts). */
import { resolve } from "node:path";
import { LazyS3Storage } from "./lazy-s3-storage.js";
import { LocalStorage, type LocalStorageOptions } from "./local-storage.js";
import { isS3Url, parseS3Url, type S3Settings, s3SettingsFromEnv } from "./s3-location.js";
import type { ObjectStorage } from "./storage.js";

export { LocalStorage, MAX_HELD, syncDir, TMP_MARK } from "./local-storage.js";
export {
  DEFAULT_PART_SIZE,
  isS3Url,
  MIN_PART_SIZE,
  parseS3Url,
  type S3Settings,
  s3SettingsFromEnv,
} from "./s3-location.js";
export {
  byteLength,
  describeKey,
  type ObjectBytes,
  type ObjectEntry,
  type ObjectStorage,
  type PutOptions,
  type StorageKind,
  type StoredObject,
} from "./storage.js";

export interface OpenStorageOptions extends LocalStorageOptions {
  /** S3 settings (default: from the environment). */
  s3?: S3Settings;
}

/**
 * An output location as jobs record it: `s3://bucket/prefix` without a trailing slash (checked), or an
 * absolute folder (relative to the working folder).
 */
export function normalizeLocation(location: string): string {
  if (!isS3Url(location)) return resolve(location);
  const { bucket, prefix } = parseS3Url(location);
  return `s3://${bucket}${prefix === "" ? "" : `/${prefix}`}`;
}

/** The storage of an output location: `s3://bucket/prefix`, or a folder. */
export function openStorage(location: string, opts: OpenStorageOptions = {}): ObjectStorage {
  if (isS3Url(location)) return new LazyS3Storage(location, opts.s3 ?? s3SettingsFromEnv());
  return new LocalStorage(location, opts);
}

/** Storages by location, opened once and closed together (a worker writes many jobs' outputs). */
export class StorageCache {
  private readonly open = new Map<string, ObjectStorage>();

  constructor(private readonly opts: OpenStorageOptions = {}) {}

  get(location: string): ObjectStorage {
    let s = this.open.get(location);
    if (!s) {
      s = openStorage(location, this.opts);
      this.open.set(location, s);
    }
    return s;
  }

  close(): void {
    for (const s of this.open.values()) s.close();
    this.open.clear();
  }
}
