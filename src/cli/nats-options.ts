/**
 * The NATS authentication and TLS options of every command that connects to NATS (`coordinator`, `worker`,
 * `run --nats`). Each option can come from its environment variable instead, which is the place for
 * secrets: a command line is visible to every user of the machine (`ps`), the environment is not.
 */
import { resolve } from "node:path";
import type { Command } from "commander";
import type { NatsAuthOptions } from "../common/nats/security.js";
import type { OptionDefinitions, OptionValues } from "../common/options/index.js";
import { addDefinedOptions } from "./options.js";

const GROUP = "NATS authentication and TLS:";

export const NATS_AUTH_OPTIONS = {
  natsUser: {
    type: "text",
    flag: "--nats-user",
    value: "<user>",
    env: "LF_NATS_USER",
    group: GROUP,
    help: "NATS user name",
  },
  natsPassword: {
    type: "text",
    flag: "--nats-password",
    value: "<password>",
    env: "LF_NATS_PASSWORD",
    group: GROUP,
    help: "NATS password (prefer the variable)",
  },
  natsToken: {
    type: "text",
    flag: "--nats-token",
    value: "<token>",
    env: "LF_NATS_TOKEN",
    group: GROUP,
    help: "NATS token (prefer the variable)",
  },
  natsNkeySeed: {
    type: "text",
    flag: "--nats-nkey-seed",
    value: "<file>",
    env: "LF_NATS_NKEY_SEED",
    group: GROUP,
    help: "file with an NKey user seed (SU...)",
  },
  natsCreds: {
    type: "text",
    flag: "--nats-creds",
    value: "<file>",
    env: "LF_NATS_CREDS",
    group: GROUP,
    help: "NATS credentials file (user JWT + seed, from nsc)",
  },
  natsTlsCa: {
    type: "text",
    flag: "--nats-tls-ca",
    value: "<file>",
    env: "LF_NATS_TLS_CA",
    group: GROUP,
    help: "CA (PEM) to verify the NATS server with; turns TLS on",
  },
  natsTlsCert: {
    type: "text",
    flag: "--nats-tls-cert",
    value: "<file>",
    env: "LF_NATS_TLS_CERT",
    group: GROUP,
    help: "client certificate (PEM) for NATS mutual TLS",
  },
  natsTlsKey: {
    type: "text",
    flag: "--nats-tls-key",
    value: "<file>",
    env: "LF_NATS_TLS_KEY",
    group: GROUP,
    help: "key (PEM) of --nats-tls-cert",
  },
} as const satisfies OptionDefinitions;

export type NatsCliOptions = OptionValues<typeof NATS_AUTH_OPTIONS>;

/** The environment variables the NATS options are read from. */
export const NATS_ENV_VARS: readonly string[] = Object.values(NATS_AUTH_OPTIONS).map((o) => o.env);

/** Adds the NATS authentication and TLS options (each also read from its LF_NATS_* variable). */
export function addNatsAuthOptions(cmd: Command): Command {
  return addDefinedOptions(cmd, NATS_AUTH_OPTIONS);
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
  return (Object.keys(NATS_AUTH_OPTIONS) as (keyof NatsCliOptions)[]).some((k) => opts[k] !== undefined);
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
    if (value !== undefined) env[NATS_AUTH_OPTIONS[key].env] = value;
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
