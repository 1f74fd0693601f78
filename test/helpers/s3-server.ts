/**
 * A real S3-compatible server for tests (@20minutes/s3rver): in this process, on a free loopback port,
 * storing into a temporary folder, with the buckets asked for. `env` is what a client (the SDK in this
 * process, or a `latent-fleet` child process) needs to reach it: endpoint, region and the server's fixed
 * credentials, in the usual AWS variables.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import S3rver from "@20minutes/s3rver";
import type { S3Settings } from "../../src/common/storage/index.js";

export interface TestS3Server {
  readonly endpoint: string;
  readonly port: number;
  /** AWS_* variables for a client of this server. */
  readonly env: Record<string, string>;
  /** The same, as settings for an S3Storage in this process. */
  readonly settings: S3Settings;
  /** Where the server keeps the objects (`<bucket>/<key>._S3rver_object` files). */
  readonly directory: string;
  stop(): Promise<void>;
}

export async function startS3Server(buckets: string[]): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), "lf-s3-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    // s3rver's own signature check trips over encoded slashes in list queries (the SDK signs them right).
    allowMismatchedSignatures: true,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    directory,
    env: {
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: "us-east-1",
      // s3rver's fixed credentials.
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
    },
    settings: {
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    },
    async stop() {
      await server.close().catch(() => undefined);
      await rm(directory, { recursive: true, force: true });
    },
  };
}
