/**
 * S3 locations and settings, without the AWS SDK: parsing `s3://bucket/prefix` and reading the settings
 * the environment gives is all most commands need, and the SDK takes a noticeable time to load.
 */
import { LatentFleetError } from "../errors.js";

const MIB = 1024 * 1024;
/** S3's least part size (all parts but the last). */
export const MIN_PART_SIZE = 5 * MIB;
export const DEFAULT_PART_SIZE = 8 * MIB;

export interface S3Settings {
  /** Endpoint URL of an S3-compatible store (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS). */
  endpoint?: string;
  /** Region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's; us-east-1 with an endpoint). */
  region?: string;
  /** Bucket in the path rather than the host name (default: true when an endpoint is set). */
  forcePathStyle?: boolean;
  /** Bytes per multipart part (default: LATENT_FLEET_S3_PART_SIZE_MB MiB, else 8 MiB; at least 5 MiB). */
  partSize?: number;
  /** Parts uploaded at once per object (default 4). */
  queueSize?: number;
  /** Credentials for programs that hold them (default: the SDK's chain: environment, profile, role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** The settings the environment gives; `over` (from flags) wins. */
export function s3SettingsFromEnv(env: NodeJS.ProcessEnv = process.env, over: S3Settings = {}): S3Settings {
  const partMb = env.LATENT_FLEET_S3_PART_SIZE_MB;
  let partSize: number | undefined;
  if (partMb !== undefined && partMb !== "") {
    const mb = Number(partMb);
    if (!Number.isFinite(mb) || mb * MIB < MIN_PART_SIZE) {
      throw new LatentFleetError(
        "INVALID_ARGUMENT",
        `LATENT_FLEET_S3_PART_SIZE_MB must be a number of MiB, at least 5; got ${JSON.stringify(partMb)}`,
      );
    }
    partSize = Math.round(mb * MIB);
  }
  const pathStyle = env.LATENT_FLEET_S3_PATH_STYLE;
  return {
    endpoint: env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
    ...(pathStyle === undefined || pathStyle === ""
      ? {}
      : { forcePathStyle: pathStyle !== "0" && pathStyle !== "false" }),
    ...(partSize === undefined ? {} : { partSize }),
    ...dropUndefined(over),
  };
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `s3://bucket/prefix` -> its parts (the prefix without slashes at either end; "" for the whole bucket). */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(m[1])) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `${JSON.stringify(url)} is not an S3 location: write s3://bucket/prefix (bucket in lower case)`,
    );
  }
  return { bucket: m[1], prefix: m[2].replace(/^\/+|\/+$/g, "") };
}

export function isS3Url(location: string): boolean {
  return location.startsWith("s3://");
}
