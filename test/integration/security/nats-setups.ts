/**
 * nats-server configurations for the security tests, one per way of authenticating, and what a client
 * needs to pass each. The NKey pairs and the operator/account/user JWTs are made here (@nats-io/jwt), as
 * `nsc` would make them.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
} from "@nats-io/jwt";
import type { NatsAuthOptions } from "../../../src/common/nats/security.js";
import type { TestPki } from "./certs.js";

export interface NatsSetup {
  /** nats-server configuration file. */
  configFile: string;
  /** What a client must give. */
  auth: NatsAuthOptions;
}

export const USER = "lf-user";
export const PASSWORD = "pw-Zq8/x:y@z";
export const TOKEN = "tok-3f9c1e7a2b";

function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

export function userPasswordSetup(dir: string, extra = ""): NatsSetup {
  return {
    configFile: write(
      dir,
      "user-password.conf",
      `authorization {\n  users = [ { user: "${USER}", password: "${PASSWORD}" } ]\n}\n${extra}`,
    ),
    auth: { user: USER, password: PASSWORD },
  };
}

export function tokenSetup(dir: string): NatsSetup {
  return {
    configFile: write(dir, "token.conf", `authorization {\n  token: "${TOKEN}"\n}\n`),
    auth: { token: TOKEN },
  };
}

export function nkeySetup(dir: string): NatsSetup {
  const user = createUser();
  const seedFile = write(dir, "user.nk", `${new TextDecoder().decode(user.getSeed())}\n`);
  return {
    configFile: write(
      dir,
      "nkey.conf",
      `authorization {\n  users = [ { nkey: ${user.getPublicKey()} } ]\n}\n`,
    ),
    auth: { nkeySeedFile: seedFile },
  };
}

/** Operator mode: an operator, a system account, an account with JetStream, a user in a .creds file. */
export async function credsSetup(dir: string): Promise<NatsSetup> {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const user = createUser();
  const unlimited = {
    subs: -1,
    data: -1,
    payload: -1,
    imports: -1,
    exports: -1,
    wildcards: true,
    conn: -1,
    leaf: -1,
  };
  const jetstream = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
  const operatorJwt = await encodeOperator("lf-test", operator, { system_account: system.getPublicKey() });
  const systemJwt = await encodeAccount("SYS", system, { limits: unlimited }, { signer: operator });
  const accountJwt = await encodeAccount(
    "LF",
    account,
    { limits: { ...unlimited, ...jetstream } },
    { signer: operator },
  );
  const userJwt = await encodeUser("lf", user, account);
  const credsFile = join(dir, "lf.creds");
  writeFileSync(credsFile, fmtCreds(userJwt, user), { mode: 0o600 });
  return {
    configFile: write(
      dir,
      "operator.conf",
      [
        `operator: ${operatorJwt}`,
        `system_account: ${system.getPublicKey()}`,
        "resolver: MEMORY",
        "resolver_preload: {",
        `  ${system.getPublicKey()}: ${systemJwt}`,
        `  ${account.getPublicKey()}: ${accountJwt}`,
        "}",
        "",
      ].join("\n"),
    ),
    auth: { credsFile },
  };
}

/** TLS with the test CA; `verify`: clients must present a certificate it signed (mutual TLS). */
export function tlsBlock(pki: TestPki, verify: boolean): string {
  return [
    "tls {",
    `  cert_file: "${pki.serverCert}"`,
    `  key_file: "${pki.serverKey}"`,
    `  ca_file: "${pki.caCert}"`,
    `  verify: ${verify}`,
    // The default (0.5 s) is short for a loaded test machine.
    "  timeout: 5",
    "}",
    "",
  ].join("\n");
}

export function tlsSetup(dir: string, pki: TestPki, verify: boolean): NatsSetup {
  return {
    configFile: write(dir, verify ? "mtls.conf" : "tls.conf", tlsBlock(pki, verify)),
    auth: {
      tls: verify
        ? { caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey }
        : { caFile: pki.caCert },
    },
  };
}
