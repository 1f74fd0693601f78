/**
 * The NATS authentication and TLS options of every command that connects to NATS (`coordinator`, `worker`,
 * `run --nats`). Each option can come from its environment variable instead, which is the place for
 * secrets: a command line is visible to every user of the machine (`ps`), the environment is not.
 */
import { resolve } from "node:path";
import { type Command, Option } from "commander";
import type { NatsAuthOptions } from "../common/nats/security.js";

export interface NatsCliOptions {
  natsUser?: string;
  natsPassword?: string;
  natsToken?: string;
  natsNkeySeed?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
}

/** Option name (camelCase, as commander stores it) -> flag, environment variable, help. */
const NATS_OPTIONS = {
  natsUser: ["--nats-user <user>", "LF_NATS_USER", "NATS user name"],
  natsPassword: ["--nats-password <password>", "LF_NATS_PASSWORD", "NATS password (prefer the variable)"],
  natsToken: ["--nats-token <token>", "LF_NATS_TOKEN", "NATS token (prefer the variable)"],
  natsNkeySeed: ["--nats-nkey-seed <file>", "LF_NATS_NKEY_SEED", "file with an NKey user seed (SU...)"],
  natsCreds: ["--nats-creds <file>", "LF_NATS_CREDS", "NATS credentials file (user JWT + seed, from nsc)"],
  natsTlsCa: [
    "--nats-tls-ca <file>",
    "LF_NATS_TLS_CA",
    "CA (PEM) to verify the NATS server with; turns TLS on",
  ],
  natsTlsCert: ["--nats-tls-cert <file>", "LF_NATS_TLS_CERT", "client certificate (PEM) for NATS mutual TLS"],
  natsTlsKey: ["--nats-tls-key <file>", "LF_NATS_TLS_KEY", "key (PEM) of --nats-tls-cert"],
} as const satisfies Record<keyof NatsCliOptions, readonly [string, string, string]>;

/** The environment variables the NATS options are read from. */
export const NATS_ENV_VARS: readonly string[] = Object.values(NATS_OPTIONS).map(([, env]) => env);

/** Adds the NATS authentication and TLS options (each also read from its LF_NATS_* variable). */
export function addNatsAuthOptions(cmd: Command): Command {
  for (const [flags, env, help] of Object.values(NATS_OPTIONS)) {
    cmd.addOption(new Option(flags, help).env(env).helpGroup("NATS authentication and TLS:"));
  }
  return cmd;
}

/** The options as the NATS client takes them; files as absolute paths. */
export function natsAuthFromCli(opts: NatsCliOptions): NatsAuthOptions {
  const file = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  const auth: NatsAuthOptions = {};
  if (opts.natsUser !== undefined) auth.user = opts.natsUser;
  if (opts.natsPassword !== undefined) auth.password = opts.natsPassword;
  if (opts.natsToken !== undefined) auth.token = opts.natsToken;
  if (opts.natsNkeySeed !== undefined) auth.nkeySeedFile = file(opts.natsNkeySeed);
  if (opts.natsCreds !== undefined) auth.credsFile = file(opts.natsCreds);
  if (opts.natsTlsCa !== undefined || opts.natsTlsCert !== undefined || opts.natsTlsKey !== undefined) {
    auth.tls = {};
    if (opts.natsTlsCa !== undefined) auth.tls.caFile = file(opts.natsTlsCa);
    if (opts.natsTlsCert !== undefined) auth.tls.certFile = file(opts.natsTlsCert);
    if (opts.natsTlsKey !== undefined) auth.tls.keyFile = file(opts.natsTlsKey);
  }
  return auth;
}

/** True when any NATS authentication or TLS option was given (flag or variable). */
export function hasNatsAuth(opts: NatsCliOptions): boolean {
  return (Object.keys(NATS_OPTIONS) as (keyof NatsCliOptions)[]).some((k) => opts[k] !== undefined);
}

/**
 * The environment of a child process that must connect as `auth` says: this process's environment, without
 * the LF_NATS_* variables it had, with the resolved ones. The child's command line then holds no secret.
 */
export function natsChildEnv(
  auth: NatsAuthOptions,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of NATS_ENV_VARS) delete env[name];
  const set = (key: keyof NatsCliOptions, value: string | undefined) => {
    if (value !== undefined) env[NATS_OPTIONS[key][1]] = value;
  };
  set("natsUser", auth.user);
  set("natsPassword", auth.password);
  set("natsToken", auth.token);
  set("natsNkeySeed", auth.nkeySeedFile);
  set("natsCreds", auth.credsFile);
  set("natsTlsCa", auth.tls?.caFile);
  set("natsTlsCert", auth.tls?.certFile);
  set("natsTlsKey", auth.tls?.keyFile);
  return env;
}
