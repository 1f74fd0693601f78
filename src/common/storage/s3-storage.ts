/**
 * A job's outputs under `s3://bucket/prefix`, on AWS S3 or any S3-compatible store (MinIO, Ceph, R2, ...).
 *
 * Settings come from the usual AWS environment (credentials by the SDK's default chain: AWS_ACCESS_KEY_ID /
 * AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE, instance roles; AWS_REGION; AWS_ENDPOINT_URL_S3
 * or AWS_ENDPOINT_URL), which flags may override. With an endpoint of its own the store is addressed
 * path-style (bucket in the path: what local and self-hosted stores serve), and checksums are sent only
 * where S3 requires them, since not every compatible store implements the newer CRC headers.
 *
 * Objects up to one part (LATENT_FLEET_S3_PART_SIZE_MB, default 8 MiB, at least 5) go in one PUT; larger
 * ones as a multipart upload, which S3 shows only once it completes: a worker killed mid-upload leaves no
 * object, only parts that removeLeftovers (or the bucket's lifecycle rule) aborts.
 */
import { createReadStream } from "node:fs";
import { rm, stat as statFile } from "node:fs/promises";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { LatentFleetError } from "../errors.js";
import { errorMessage } from "../log.js";
import { DEFAULT_PART_SIZE, MIN_PART_SIZE, parseS3Url, type S3Settings } from "./s3-location.js";
import type { ObjectBytes, ObjectEntry, ObjectStorage, PutOptions, StoredObject } from "./storage.js";

export class S3Storage implements ObjectStorage {
  readonly kind = "s3" as const;
  readonly location: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(url: string, settings: S3Settings = {}) {
    const { bucket, prefix } = parseS3Url(url);
    this.bucket = bucket;
    this.prefix = prefix === "" ? "" : `${prefix}/`;
    this.location = `s3://${bucket}${prefix === "" ? "" : `/${prefix}`}`;
    this.partSize = Math.max(MIN_PART_SIZE, settings.partSize ?? DEFAULT_PART_SIZE);
    this.queueSize = Math.max(1, settings.queueSize ?? 4);
    const config: S3ClientConfig = settings.credentials ? { credentials: settings.credentials } : {};
    if (settings.endpoint) {
      config.endpoint = settings.endpoint;
      config.forcePathStyle = settings.forcePathStyle ?? true;
      config.region = settings.region ?? "us-east-1";
      // The CRC32 headers newer SDKs send by default are not understood by every compatible store.
      config.requestChecksumCalculation = "WHEN_REQUIRED";
      config.responseChecksumValidation = "WHEN_REQUIRED";
    } else {
      if (settings.region) config.region = settings.region;
      if (settings.forcePathStyle !== undefined) config.forcePathStyle = settings.forcePathStyle;
    }
    this.client = new S3Client(config);
  }

  private objectKey(key: string): string {
    if (key === "" || key.startsWith("/") || key.split("/").some((p) => p === "." || p === "..")) {
      throw new LatentFleetError("INVALID_ARGUMENT", `${JSON.stringify(key)} is not a storage key`);
    }
    return this.prefix + key;
  }

  /** Durable when it returns, whatever `opts.durable` says. */
  async put(key: string, bytes: ObjectBytes, _opts?: PutOptions): Promise<void> {
    const Key = this.objectKey(key);
    const data = bytes instanceof Uint8Array ? bytes : Buffer.concat(bytes);
    try {
      if (data.length <= this.partSize) {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key, Body: data, ContentLength: data.length }),
        );
      } else {
        await this.upload(Key, data);
      }
    } catch (err) {
      throw this.failed(`cannot write ${key}`, err);
    }
  }

  /** One after the other: each is durable once its PUT (or multipart completion) returns. */
  async putAll(objects: readonly ObjectEntry[]): Promise<void> {
    for (const o of objects) await this.put(o.key, o.data);
  }

  async sync(_keys: readonly string[]): Promise<void> {
    // Nothing to do: a PUT that returned is stored.
  }

  async putFile(key: string, path: string, opts: { move?: boolean } = {}): Promise<void> {
    const Key = this.objectKey(key);
    try {
      const { size } = await statFile(path);
      await this.upload(Key, createReadStream(path), size);
    } catch (err) {
      throw this.failed(`cannot write ${key}`, err);
    }
    if (opts.move) await rm(path, { force: true });
  }

  /** A multipart upload (lib-storage: one PUT when the body fits a part); aborted on failure. */
  private async upload(Key: string, Body: Uint8Array | NodeJS.ReadableStream, size?: number): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key,
        Body: Body as Uint8Array,
        ...(size === undefined ? {} : { ContentLength: size }),
      },
      partSize: this.partSize,
      queueSize: this.queueSize,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      if (!res.Body) return Buffer.alloc(0);
      return Buffer.from(await res.Body.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.failed(`cannot read ${key}`, err);
    }
  }

  async getRange(key: string, start: number, length: number): Promise<Buffer | null> {
    if (length <= 0) return Buffer.alloc(0);
    try {
      const res = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Range: `bytes=${start}-${start + length - 1}`,
        }),
      );
      if (!res.Body) return Buffer.alloc(0);
      return Buffer.from(await res.Body.transformToByteArray());
    } catch (err) {
      if (isNotFound(err)) return null;
      // A range past the end of the object.
      if ((err as { name?: string }).name === "InvalidRange") return Buffer.alloc(0);
      throw this.failed(`cannot read ${key}`, err);
    }
  }

  async stat(key: string): Promise<StoredObject | null> {
    try {
      const res = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return { key, size: res.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.failed(`cannot read ${key}`, err);
    }
  }

  async list(prefix: string, opts: { recursive?: boolean } = {}): Promise<StoredObject[]> {
    const recursive = opts.recursive ?? true;
    const out: StoredObject[] = [];
    let token: string | undefined;
    try {
      do {
        const res = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
            ...(recursive ? {} : { Delimiter: "/" }),
          }),
        );
        for (const o of res.Contents ?? []) {
          if (o.Key === undefined) continue;
          out.push({ key: o.Key.slice(this.prefix.length), size: o.Size ?? 0 });
        }
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.failed(`cannot list ${prefix || "the output"}`, err);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (err) {
      if (isNotFound(err)) return;
      throw this.failed(`cannot remove ${key}`, err);
    }
  }

  async removeLeftovers(prefix: string): Promise<void> {
    try {
      const res = await this.client.send(
        new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix + prefix }),
      );
      for (const u of res.Uploads ?? []) {
        if (u.Key === undefined || u.UploadId === undefined) continue;
        await this.client.send(
          new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: u.Key, UploadId: u.UploadId }),
        );
      }
    } catch {
      // Best effort: some compatible stores cannot list uploads; a lifecycle rule cleans up after them.
    }
  }

  close(): void {
    this.client.destroy();
  }

  private failed(what: string, err: unknown): LatentFleetError {
    if (err instanceof LatentFleetError) return err;
    return new LatentFleetError("OUTPUT_FAILED", `${this.location}: ${what}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

function isNotFound(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === "NoSuchKey" || e.name === "NotFound" || e.$metadata?.httpStatusCode === 404;
}
