/**
 * The S3 options of the commands that read or write outputs (`run`, `worker`, `coordinator`, `inspect`).
 * They set the usual AWS environment variables of this process, which the storage layer reads and the
 * processes `run` starts inherit; credentials come only from the environment or the AWS profile (never
 * from a command line, which other users of the machine can read).
 */
import type { Command } from "commander";
import type { OptionDefinitions, OptionValues } from "../common/options/index.js";
import { addDefinedOptions } from "./options.js";

export const S3_OPTIONS = {
  s3Endpoint: {
    type: "text",
    flag: "--s3-endpoint",
    value: "<url>",
    unset: "AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS",
    help: "endpoint of an S3-compatible store for s3:// outputs",
  },
  s3Region: {
    type: "text",
    flag: "--s3-region",
    value: "<region>",
    unset: "AWS_REGION, AWS_DEFAULT_REGION",
    help: "region of s3:// outputs",
  },
  s3PathStyle: {
    type: "switch",
    flag: "--s3-path-style",
    unset: "on with --s3-endpoint",
    help: "address buckets in the path, not the host name",
  },
} as const satisfies OptionDefinitions;

export type S3CliOptions = Partial<OptionValues<typeof S3_OPTIONS>>;

export function addS3Options(cmd: Command): Command {
  return addDefinedOptions(cmd, S3_OPTIONS);
}

/** Puts the options into the environment (AWS_ENDPOINT_URL_S3, AWS_REGION, LATENT_FLEET_S3_PATH_STYLE). */
export function applyS3Options(opts: S3CliOptions, env: NodeJS.ProcessEnv = process.env): void {
  if (opts.s3Endpoint) env.AWS_ENDPOINT_URL_S3 = opts.s3Endpoint;
  if (opts.s3Region) env.AWS_REGION = opts.s3Region;
  if (opts.s3PathStyle) env.LATENT_FLEET_S3_PATH_STYLE = "1";
}
