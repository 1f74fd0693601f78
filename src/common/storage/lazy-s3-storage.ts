/**
 * An S3 storage that loads the AWS SDK on first use: every process imports the storage layer, few write to
 * S3, and the SDK adds about half a second to a process's start.
 */
import { parseS3Url, type S3Settings } from "./s3-location.js";
import type { S3Storage } from "./s3-storage.js";
import type { ObjectBytes, ObjectEntry, ObjectStorage, PutOptions, StoredObject } from "./storage.js";

export class LazyS3Storage implements ObjectStorage {
  readonly kind = "s3" as const;
  readonly location: string;
  private loaded: Promise<S3Storage> | undefined;
  private storage: S3Storage | undefined;
  private closed = false;

  constructor(
    private readonly url: string,
    private readonly settings: S3Settings,
  ) {
    // Checked now, as S3Storage would: a bad location fails where it is given.
    const { bucket, prefix } = parseS3Url(url);
    this.location = `s3://${bucket}${prefix === "" ? "" : `/${prefix}`}`;
  }

  private impl(): Promise<S3Storage> {
    this.loaded ??= import("./s3-storage.js").then(({ S3Storage }) => {
      this.storage = new S3Storage(this.url, this.settings);
      if (this.closed) this.storage.close();
      return this.storage;
    });
    return this.loaded;
  }

  async put(key: string, data: ObjectBytes, opts?: PutOptions): Promise<void> {
    return (await this.impl()).put(key, data, opts);
  }
  async putAll(objects: readonly ObjectEntry[]): Promise<void> {
    return (await this.impl()).putAll(objects);
  }
  async sync(keys: readonly string[]): Promise<void> {
    return (await this.impl()).sync(keys);
  }
  async putFile(key: string, path: string, opts?: { move?: boolean }): Promise<void> {
    return (await this.impl()).putFile(key, path, opts);
  }
  async get(key: string): Promise<Buffer | null> {
    return (await this.impl()).get(key);
  }
  async getRange(key: string, start: number, length: number): Promise<Buffer | null> {
    return (await this.impl()).getRange(key, start, length);
  }
  async stat(key: string): Promise<StoredObject | null> {
    return (await this.impl()).stat(key);
  }
  async list(prefix: string, opts?: { recursive?: boolean }): Promise<StoredObject[]> {
    return (await this.impl()).list(prefix, opts);
  }
  async delete(key: string): Promise<void> {
    return (await this.impl()).delete(key);
  }
  async removeLeftovers(prefix: string): Promise<void> {
    return (await this.impl()).removeLeftovers(prefix);
  }
  close(): void {
    this.closed = true;
    this.storage?.close();
  }
}
