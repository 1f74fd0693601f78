/**
 * Where secrets come from and where they must not go: the NATS options from flags, environment and URL;
 * the environment `run` gives its children; URLs and secret fields in log lines; the gRPC TLS options.
 */
import { Command } from "commander";
import { afterEach, describe, expect, it } from "vitest";
import {
  addNatsAuthOptions,
  NATS_ENV_VARS,
  type NatsCliOptions,
  natsAuthFromCli,
  natsChildEnv,
} from "../../../src/cli/nats-options.js";
import {
  addGrpcClientTlsOptions,
  addGrpcServerTlsOptions,
  type GrpcClientTlsCliOptions,
  type GrpcServerTlsCliOptions,
  grpcClientTlsFromCli,
  grpcServerTlsFromCli,
} from "../../../src/cli/tls-options.js";
import { LatentFleetError } from "../../../src/common/errors.js";
import { createLogger, silentLogger } from "../../../src/common/log.js";
import { redactUrl, resolveNatsServers } from "../../../src/common/nats/security.js";

const saved = { ...process.env };
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  Object.assign(process.env, saved);
});

function parse<T>(add: (c: Command) => Command, args: string[]): T {
  const cmd = add(new Command("x").exitOverride()).action(() => undefined);
  cmd.parse(args, { from: "user" });
  return cmd.opts<T & object>();
}

describe("NATS options", () => {
  it("come from flags or LF_NATS_* variables; flags win; files become absolute", () => {
    process.env.LF_NATS_USER = "env-user";
    process.env.LF_NATS_PASSWORD = "env-secret";
    process.env.LF_NATS_TLS_CA = "ca.pem";
    const opts = parse<NatsCliOptions>(addNatsAuthOptions, ["--nats-user", "flag-user"]);
    const auth = natsAuthFromCli(opts);
    expect(auth.user).toBe("flag-user");
    expect(auth.password).toBe("env-secret");
    expect(auth.tls?.caFile).toBe(`${process.cwd()}/ca.pem`);
  });

  it("take the credentials out of the URL and keep the URL for logs free of them", () => {
    const r = resolveNatsServers("nats://me:p%40ss@a:4222, nats://me:p%40ss@b:4222");
    expect(r.url).toBe("nats://a:4222,nats://b:4222");
    expect(r.auth).toEqual({ user: "me", password: "p@ss" });
    expect(resolveNatsServers("nats://tok@a:4222").auth).toEqual({ token: "tok" });
    expect(resolveNatsServers("tls://a:4222").auth.tls).toEqual({});
    expect(redactUrl("nats://me:p%40ss@a:4222,nats://tok@b:1")).toBe("nats://me:***@a:4222,nats://***@b:1");
  });

  it("refuse two authentication modes, a password without a user, half a client certificate", () => {
    const bad = [
      () => resolveNatsServers("nats://a:1", { token: "t", user: "u" }),
      () => resolveNatsServers("nats://a:1", { credsFile: "/x", nkeySeedFile: "/y" }),
      () => resolveNatsServers("nats://a:1", { password: "p" }),
      () => resolveNatsServers("nats://u:p@a:1", { user: "other" }),
      () => resolveNatsServers("nats://a:1", { tls: { certFile: "/c" } }),
    ];
    for (const f of bad) {
      expect(f).toThrow(LatentFleetError);
    }
  });

  it("reach a child through its environment only, replacing whatever LF_NATS_* it would inherit", () => {
    const env = natsChildEnv(
      { user: "u", password: "secret", tls: { caFile: "/ca.pem" } },
      { PATH: "/bin", LF_NATS_TOKEN: "stale", LF_NATS_CREDS: "/stale.creds" },
    );
    expect(env).toEqual({
      PATH: "/bin",
      LF_NATS_USER: "u",
      LF_NATS_PASSWORD: "secret",
      LF_NATS_TLS_CA: "/ca.pem",
    });
    expect(NATS_ENV_VARS).toContain("LF_NATS_NKEY_SEED");
  });
});

describe("log lines", () => {
  it("never hold a URL's password, nor the value of a secret-named field", () => {
    const lines: string[] = [];
    const log = createLogger({}, { write: (l) => lines.push(l), level: "debug" });
    log.info("connecting to nats://me:hunter2@host:4222", {
      nats: "nats://me:hunter2@host:4222,nats://tok3n@other:4222",
      password: "hunter2",
      nats_token: "tok3n",
      error: new Error("failed at nats://me:hunter2@host:4222"),
      count: 3,
    });
    const text = lines.join("");
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("tok3n");
    const record = JSON.parse(text) as Record<string, unknown>;
    expect(record.msg).toBe("connecting to nats://me:***@host:4222");
    expect(record.nats).toBe("nats://me:***@host:4222,nats://***@other:4222");
    expect(record.password).toBe("[redacted]");
    expect(record.count).toBe(3);
  });
});

describe("gRPC TLS options", () => {
  it("server: certificate and key together; a client CA only with them", () => {
    const ok = parse<GrpcServerTlsCliOptions>(addGrpcServerTlsOptions, [
      ...["--grpc-tls-cert", "/s.crt", "--grpc-tls-key", "/s.key", "--grpc-tls-client-ca", "/ca.crt"],
    ]);
    expect(grpcServerTlsFromCli(ok, "0.0.0.0:7070", silentLogger)).toEqual({
      certFile: "/s.crt",
      keyFile: "/s.key",
      clientCaFile: "/ca.crt",
    });
    expect(() => grpcServerTlsFromCli({ grpcTlsCert: "/s.crt" }, undefined, silentLogger)).toThrow(
      /go together/,
    );
    expect(() => grpcServerTlsFromCli({ grpcTlsClientCa: "/ca.crt" }, undefined, silentLogger)).toThrow(
      /needs --grpc-tls-cert/,
    );
  });

  it("server: plaintext stays the default, with a warning off loopback", () => {
    const lines: string[] = [];
    const log = createLogger({}, { write: (l) => lines.push(l) });
    expect(grpcServerTlsFromCli({}, "127.0.0.1:7070", log)).toBeUndefined();
    expect(grpcServerTlsFromCli({}, "[::1]:7070", log)).toBeUndefined();
    expect(lines).toEqual([]);
    expect(grpcServerTlsFromCli({}, "0.0.0.0:7070", log)).toBeUndefined();
    expect(lines.join("")).toMatch(/without TLS/);
  });

  it("client: --tls alone uses the system's roots; the files come from flags or LF_TLS_*", () => {
    expect(grpcClientTlsFromCli({})).toBeUndefined();
    expect(grpcClientTlsFromCli({ tls: true })).toEqual({});
    process.env.LF_TLS_CA = "/ca.crt";
    const opts = parse<GrpcClientTlsCliOptions>(addGrpcClientTlsOptions, [
      ...["--tls-cert", "/c.crt", "--tls-key", "/c.key"],
    ]);
    expect(grpcClientTlsFromCli(opts)).toEqual({ caFile: "/ca.crt", certFile: "/c.crt", keyFile: "/c.key" });
    expect(() => grpcClientTlsFromCli({ tlsKey: "/c.key" })).toThrow(/go together/);
  });
});
