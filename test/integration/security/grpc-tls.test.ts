/**
 * gRPC over TLS and mutual TLS: a coordinator that requires client certificates serves a client with one
 * and refuses, with a message that says what is wrong, a plaintext client, a client without a certificate,
 * one whose certificate another CA signed, and one that does not trust the server. The built client
 * commands (`jobs`) take the TLS options from flags and from the environment.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinatorClient } from "../../../src/cli/coordinator-client.js";
import { LatentFleetError } from "../../../src/common/errors.js";
import type { GrpcClientTls } from "../../../src/common/grpc/tls.js";
import { silentLogger } from "../../../src/common/log.js";
import { type RunningCoordinator, startCoordinator } from "../../../src/coordinator/index.js";
import { runCli } from "../../helpers/cli-processes.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { makeTestPki, type TestPki } from "./certs.js";

let nats: TestNatsServer;
let pki: TestPki;
let mtls: RunningCoordinator;
let tlsOnly: RunningCoordinator;
let mtlsAddress: string;
let tlsAddress: string;

beforeAll(async () => {
  pki = makeTestPki();
  nats = await startNatsServer();
  mtls = await startCoordinator({
    natsUrl: nats.url,
    grpcAddress: "127.0.0.1:0",
    grpcTls: { certFile: pki.serverCert, keyFile: pki.serverKey, clientCaFile: pki.caCert },
    log: silentLogger,
  });
  mtlsAddress = `127.0.0.1:${mtls.grpcPort}`;
  tlsOnly = await startCoordinator({
    natsUrl: nats.url,
    name: "second",
    grpcAddress: "127.0.0.1:0",
    grpcTls: { certFile: pki.serverCert, keyFile: pki.serverKey },
    log: silentLogger,
  });
  tlsAddress = `127.0.0.1:${tlsOnly.grpcPort}`;
});

afterAll(async () => {
  await mtls?.stop();
  await tlsOnly?.stop();
  await nats?.cleanup();
  pki?.cleanup();
});

async function listJobs(address: string, tls: GrpcClientTls | undefined): Promise<unknown> {
  const client = await CoordinatorClient.connect(address, { tls, connectTimeoutMs: 2_000 });
  try {
    return await client.listJobs();
  } finally {
    client.close();
  }
}

async function refusal(address: string, tls: GrpcClientTls | undefined): Promise<string> {
  const err = await listJobs(address, tls).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the client should have been refused").toBeInstanceOf(LatentFleetError);
  expect((err as LatentFleetError).code).toBe("COORDINATOR_UNAVAILABLE");
  const message = (err as Error).message;
  expect(message).toContain(`the coordinator at ${address}`);
  return message;
}

describe("coordinator gRPC with mutual TLS", () => {
  const good = (): GrpcClientTls => ({
    caFile: pki.caCert,
    certFile: pki.clientCert,
    keyFile: pki.clientKey,
  });

  it("serves a client that trusts it and presents a certificate from its CA", async () => {
    expect(await listJobs(mtlsAddress, good())).toEqual([]);
  });

  it("refuses a plaintext client", async () => {
    expect(await refusal(mtlsAddress, undefined)).toMatch(/it serves TLS: give --tls-ca/);
  });

  it("refuses a client without a certificate, or with one from another CA", async () => {
    expect(await refusal(mtlsAddress, { caFile: pki.caCert })).toMatch(/refused this client/);
    expect(
      await refusal(mtlsAddress, {
        caFile: pki.caCert,
        certFile: pki.otherClientCert,
        keyFile: pki.otherClientKey,
      }),
    ).toMatch(/refused this client/);
  });

  it("is refused by a client that does not trust its certificate", async () => {
    const message = await refusal(mtlsAddress, { ...good(), caFile: pki.otherCaCert });
    expect(message).toMatch(/not trusted.*--tls-ca/);
  });
});

describe("coordinator gRPC with TLS", () => {
  it("serves a client that trusts its CA, and refuses a plaintext one", async () => {
    expect(await listJobs(tlsAddress, { caFile: pki.caCert })).toEqual([]);
    expect(await refusal(tlsAddress, undefined)).toMatch(/serves TLS/);
  });

  it("a TLS client of a plaintext server is told so", async () => {
    const plain = await startCoordinator({
      natsUrl: nats.url,
      name: "plain",
      grpcAddress: "127.0.0.1:0",
      log: silentLogger,
    });
    try {
      const message = await refusal(`127.0.0.1:${plain.grpcPort}`, { caFile: pki.caCert });
      expect(message).toMatch(/does it serve TLS/);
    } finally {
      await plain.stop();
    }
  });
});

describe("client commands over mutual TLS (built CLI)", () => {
  it("`jobs` connects with --tls-ca/--tls-cert/--tls-key, or with LF_TLS_* in the environment", async () => {
    const flags = await runCli(
      [
        ...["jobs", "--coordinator", mtlsAddress],
        ...["--tls-ca", pki.caCert, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey],
      ],
      { timeoutMs: 60_000 },
    );
    expect(flags.output).toMatch(/no jobs/);
    expect(flags.code).toBe(0);
    const env = await runCli(["jobs", "--coordinator", mtlsAddress, "--json"], {
      timeoutMs: 60_000,
      env: { ...process.env, LF_TLS_CA: pki.caCert, LF_TLS_CERT: pki.clientCert, LF_TLS_KEY: pki.clientKey },
    });
    expect(env.output).toMatch(/\[\]/);
    expect(env.code).toBe(0);
  });

  it("`jobs` without a certificate exits 1 with one line that says why", async () => {
    const r = await runCli(["jobs", "--coordinator", mtlsAddress, "--tls-ca", pki.caCert], {
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      new RegExp(`latent-fleet: cannot connect to the coordinator at ${mtlsAddress}: it refused this client`),
    );
    expect(r.output).toMatch(/\[COORDINATOR_UNAVAILABLE\]/);
    expect(r.output).not.toMatch(/\n\s+at /);
  });
});
