/**
 * The S3 options of the commands that read or write outputs (`run`, `worker`, `coordinator`, `inspect`).
 * They set the usual AWS environment variables of this process, which the storage layer reads and the
 * processes `run` starts inherit; credentials come only from the environment or the AWS profile (never
 * from a command line, which other users of the machine can read).
 */
import type { Command } from "commander";

export interface S3CliOptions {
  s3Endpoint?: string;
  s3Region?: string;
  s3PathStyle?: boolean;
}

export function addS3Options(cmd: Command): Command {
  return cmd
    .option(
      "--s3-endpoint <url>",
      "endpoint of an S3-compatible store for s3:// outputs (default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS)",
    )
    .option("--s3-region <region>", "region of s3:// outputs (default: AWS_REGION, AWS_DEFAULT_REGION)")
    .option("--s3-path-style", "address buckets in the path, not the host name (default with --s3-endpoint)");
}

/** Puts the options into the environment (AWS_ENDPOINT_URL_S3, AWS_REGION, LATENT_FLEET_S3_PATH_STYLE). */
export function applyS3Options(opts: S3CliOptions, env: NodeJS.ProcessEnv = process.env): void {
  if (opts.s3Endpoint) env.AWS_ENDPOINT_URL_S3 = opts.s3Endpoint;
  if (opts.s3Region) env.AWS_REGION = opts.s3Region;
  if (opts.s3PathStyle) env.LATENT_FLEET_S3_PATH_STYLE = "1";
}
