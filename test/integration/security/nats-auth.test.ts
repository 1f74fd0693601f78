/**
 * NATS authentication and TLS against real nats-servers: user/password (as options and in the URL), token,
 * NKey seed, credentials file (operator/JWT mode), TLS and mutual TLS. Each time the right credentials
 * connect (JetStream included) and missing or wrong ones are refused with an error naming the URL.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LatentFleetError } from "../../../src/common/errors.js";
import { connectJetStream } from "../../../src/common/nats/connect.js";
import type { NatsAuthOptions } from "../../../src/common/nats/security.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { makeTestPki, type TestPki } from "./certs.js";
import {
  credsSetup,
  type NatsSetup,
  nkeySetup,
  PASSWORD,
  TOKEN,
  tlsBlock,
  tlsSetup,
  tokenSetup,
  USER,
  userPasswordSetup,
} from "./nats-setups.js";

let dir: string;
let pki: TestPki;
const servers: TestNatsServer[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lf-nats-auth-"));
  pki = makeTestPki();
});

afterAll(async () => {
  for (const s of servers) await s.cleanup();
  pki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(setup: NatsSetup): Promise<TestNatsServer> {
  const server = await startNatsServer({ configFile: setup.configFile });
  servers.push(server);
  return server;
}

/** Connects with JetStream and lists the account's streams: proof that the client is in. */
async function connects(url: string, auth?: NatsAuthOptions, timeoutMs = 5_000): Promise<void> {
  const ctx = await connectJetStream(url, "security-test", { auth, timeout: timeoutMs });
  try {
    await ctx.jsm.getAccountInfo();
  } finally {
    await ctx.nc.close();
  }
}

/** The error of a connect that must fail: typed, naming the URL, one message (no stack). */
async function refused(url: string, auth?: NatsAuthOptions, timeoutMs?: number): Promise<LatentFleetError> {
  const err = await connects(url, auth, timeoutMs).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the connect should have been refused").toBeInstanceOf(LatentFleetError);
  const e = err as LatentFleetError;
  expect(e.code).toBe("NATS_UNAVAILABLE");
  // The URL as given, its secrets replaced.
  expect(e.message).toMatch(/^cannot connect to NATS at nats:\/\//);
  expect(e.message).toContain(`${url.replace(/^.*[@/]/, "")}: `);
  expect(e.message).not.toMatch(/\n\s+at /);
  if (process.env.LF_SHOW_ERRORS) console.log(e.message);
  return e;
}

describe("NATS user and password", () => {
  let server: TestNatsServer;
  beforeAll(async () => {
    server = await serve(userPasswordSetup(dir));
  });

  it("connects with them, as options or in the URL", async () => {
    await connects(server.url, { user: USER, password: PASSWORD });
    const inUrl = `nats://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}`;
    await connects(inUrl);
  });

  it("refuses a client without them or with a wrong password, and never shows the password", async () => {
    const none = await refused(server.url);
    expect(none.message).toMatch(/Authorization Violation/);
    expect(none.message).toMatch(/Check the NATS credentials/);
    const wrong = await refused(server.url, { user: USER, password: "not-it" });
    expect(wrong.message).not.toContain("not-it");
    const badUrl = `nats://${USER}:wrong-secret@127.0.0.1:${server.port}`;
    const inUrl = await refused(badUrl);
    expect(inUrl.message).toContain(`nats://${USER}:***@127.0.0.1:${server.port}`);
    expect(inUrl.message).not.toContain("wrong-secret");
  });
});

describe("NATS token", () => {
  it("connects with the token (option or URL) and refuses a client without it", async () => {
    const server = await serve(tokenSetup(dir));
    await connects(server.url, { token: TOKEN });
    await connects(`nats://${TOKEN}@127.0.0.1:${server.port}`);
    expect((await refused(server.url)).message).toMatch(/Authorization Violation/);
    const wrong = await refused(`nats://bad-token@127.0.0.1:${server.port}`);
    expect(wrong.message).toContain(`nats://***@127.0.0.1:${server.port}`);
  });
});

describe("NATS NKey", () => {
  it("connects with the seed file and refuses a client without it or with another key", async () => {
    const setup = nkeySetup(dir);
    const server = await serve(setup);
    await connects(server.url, setup.auth);
    await refused(server.url);
    const other = nkeySetup(mkdtempSync(join(dir, "other-")));
    await refused(server.url, other.auth);
  });

  it("names a seed file that is missing or holds no seed", async () => {
    const missing = join(dir, "missing.nk");
    const e1 = await connects("nats://127.0.0.1:1", { nkeySeedFile: missing }).catch((e: unknown) => e);
    expect((e1 as LatentFleetError).code).toBe("INVALID_ARGUMENT");
    expect((e1 as Error).message).toContain(missing);
    const bad = join(dir, "bad.nk");
    writeFileSync(bad, "not a seed\n");
    const e2 = await connects("nats://127.0.0.1:1", { nkeySeedFile: bad }).catch((e: unknown) => e);
    expect((e2 as Error).message).toMatch(/bad\.nk holds no NKey user seed/);
  });
});

describe("NATS credentials file (operator and JWT)", () => {
  it("connects with the .creds file, JetStream included, and refuses a client without it", async () => {
    const setup = await credsSetup(dir);
    const server = await serve(setup);
    await connects(server.url, setup.auth);
    await refused(server.url);
    const other = await credsSetup(mkdtempSync(join(dir, "other-")));
    await refused(server.url, other.auth);
  });

  it("names a file that is not a credentials file", async () => {
    const bad = join(dir, "bad.creds");
    writeFileSync(bad, "hello\n");
    const err = await connects("nats://127.0.0.1:1", { credsFile: bad }).catch((e: unknown) => e);
    expect((err as LatentFleetError).code).toBe("INVALID_ARGUMENT");
    expect((err as Error).message).toMatch(/bad\.creds is not a NATS credentials file/);
  });
});

describe("NATS over TLS", () => {
  it("connects when the server's certificate chains to the CA given; refuses it otherwise", async () => {
    const setup = tlsSetup(dir, pki, false);
    const server = await serve(setup);
    await connects(server.url, setup.auth);
    // tls:// asks for TLS; the system's roots do not know the test CA.
    const noCa = await refused(server.url);
    expect(noCa.message).toMatch(/certificate/);
    expect(noCa.message).toMatch(/--nats-tls-ca/);
    const otherCa = await refused(server.url, { tls: { caFile: pki.otherCaCert } });
    expect(otherCa.message).toMatch(/not trusted/);
  });

  it("with mutual TLS, refuses a client without a certificate or with one from another CA", async () => {
    const setup = tlsSetup(dir, pki, true);
    const server = await serve(setup);
    await connects(server.url, setup.auth);
    // The server refuses the certificate after the handshake: the client sees a timeout, the error says why.
    const noCert = await refused(server.url, { tls: { caFile: pki.caCert } }, 2_000);
    expect(noCert.message).toMatch(/refused this client's TLS certificate/);
    const otherCa = await refused(
      server.url,
      { tls: { caFile: pki.caCert, certFile: pki.otherClientCert, keyFile: pki.otherClientKey } },
      2_000,
    );
    expect(otherCa.message).toMatch(/refused this client's TLS certificate/);
  });

  it("combines TLS with a password", async () => {
    const setup = userPasswordSetup(mkdtempSync(join(dir, "combo-")), tlsBlock(pki, false));
    const server = await serve(setup);
    await connects(server.url, { ...setup.auth, tls: { caFile: pki.caCert } });
    const noPassword = await refused(server.url, { tls: { caFile: pki.caCert } });
    expect(noPassword.message).toMatch(/Authorization Violation/);
  });
});
