/**
 * The built `latent-fleet` processes against nats-servers that require authentication: a coordinator and a
 * worker over TLS with a password (from flags and from the environment) serving gRPC over mutual TLS, a job
 * submitted through it; token, NKey and credentials-file coordinators; a wrong password refused at once;
 * `run --nats` with the password in the URL, which must reach no child's command line, output or log; and
 * `run`'s own NATS server, which refuses a client without its token.
 */
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeGenericClientConstructor } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../../src/common/child-process.js";
import { LatentFleetError } from "../../../src/common/errors.js";
import { type GrpcClientTls, grpcChannelCredentials } from "../../../src/common/grpc/tls.js";
import { connectNats } from "../../../src/common/nats/connect.js";
import {
  type CliProcess,
  listFiles,
  readMetadata,
  runCli,
  startCli,
  stopAll,
} from "../../helpers/cli-processes.js";
import { startNatsServer, type TestNatsServer } from "../../helpers/nats-server.js";
import { TINY_SHAPES } from "../../helpers/paths.js";
import { makeTestPki, type TestPki } from "./certs.js";
import {
  credsSetup,
  type NatsSetup,
  nkeySetup,
  PASSWORD,
  TOKEN,
  tlsBlock,
  tokenSetup,
  USER,
  userPasswordSetup,
} from "./nats-setups.js";

let tmp: string;
let pki: TestPki;
const servers: TestNatsServer[] = [];
const processes: CliProcess[] = [];

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "lf-security-cli-"));
  pki = makeTestPki();
});

afterAll(async () => {
  await stopAll(processes);
  for (const s of servers) await s.cleanup();
  pki?.cleanup();
  await rm(tmp, { recursive: true, force: true });
});

async function serve(setup: NatsSetup): Promise<TestNatsServer> {
  const server = await startNatsServer({ configFile: setup.configFile });
  servers.push(server);
  return server;
}

function start(name: string, args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const p = startCli(name, args, { env: { ...process.env, ...env } });
  processes.push(p);
  return p;
}

async function writeSpec(name: string, count: number): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { recursive: true });
  const spec = join(dir, "job.yaml");
  await writeFile(
    spec,
    [
      `model: ${TINY_SHAPES}`,
      `output: ${join(dir, "out")}`,
      "seed: 7",
      `images_per_prompt: ${count}`,
      "defaults: { steps: 4, guidance_scale: 1.0, scheduler: euler, width: 64, height: 64 }",
      'prompts: ["a red circle on a white background"]',
    ].join("\n"),
  );
  return spec;
}

/** grpc.health.v1 Check over the given TLS settings. */
async function healthOverTls(port: number, tls: GrpcClientTls): Promise<string> {
  const Client = makeGenericClientConstructor(healthService, "Health");
  const client = new Client(`127.0.0.1:${port}`, grpcChannelCredentials(tls)) as unknown as {
    check(
      req: { service: string },
      opts: { deadline: number },
      cb: (err: Error | null, res?: { status: string | number }) => void,
    ): void;
    close(): void;
  };
  try {
    return await new Promise<string>((resolve, reject) =>
      client.check({ service: "" }, { deadline: Date.now() + 3_000 }, (err, res) =>
        err ? reject(err) : resolve(String(res?.status)),
      ),
    );
  } finally {
    client.close();
  }
}

function grpcPortOf(p: CliProcess): number {
  const m = /"grpc_port":(\d+)/.exec(p.output());
  if (!m) throw new Error(`no grpc_port in:\n${p.output()}`);
  return Number(m[1]);
}

describe("coordinator and worker on NATS with TLS and a password, gRPC with mutual TLS", () => {
  it("run a job end to end; the password shows nowhere", async () => {
    const setup = userPasswordSetup(await mkdtemp(join(tmp, "tls-pw-")), tlsBlock(pki, true));
    const nats = await serve(setup);
    const grpcTls = [
      ...["--grpc-tls-cert", pki.serverCert, "--grpc-tls-key", pki.serverKey],
      ...["--grpc-tls-client-ca", pki.caCert],
    ];
    const clientTls = ["--tls-ca", pki.caCert, "--tls-cert", pki.clientCert, "--tls-key", pki.clientKey];
    const coordinatorAddress = `127.0.0.1:${await freePort("127.0.0.1")}`;
    // Flags for the coordinator (the password from the environment, as documented)...
    const coordinator = start(
      "coordinator",
      [
        ...["coordinator", "--nats", nats.url, "--grpc", coordinatorAddress, "--nats-user", USER],
        ...["--nats-tls-ca", pki.caCert, "--nats-tls-cert", pki.clientCert, "--nats-tls-key", pki.clientKey],
        ...grpcTls,
        ...["--allow-path", tmp],
      ],
      { LF_NATS_PASSWORD: PASSWORD },
    );
    await coordinator.waitForOutput(/"msg":"coordinator started"/, 30_000);
    // ...the environment alone for the worker.
    const worker = start(
      "worker",
      [
        ...["worker", "--nats", nats.url, "--model", TINY_SHAPES, "--threads", "1"],
        ...["--grpc", "127.0.0.1:0", ...grpcTls],
      ],
      {
        LF_NATS_USER: USER,
        LF_NATS_PASSWORD: PASSWORD,
        LF_NATS_TLS_CA: pki.caCert,
        LF_NATS_TLS_CERT: pki.clientCert,
        LF_NATS_TLS_KEY: pki.clientKey,
      },
    );
    await worker.waitForOutput(/"msg":"worker started"/, 60_000);
    const workerPort = grpcPortOf(worker);
    const good = { caFile: pki.caCert, certFile: pki.clientCert, keyFile: pki.clientKey };
    expect(await healthOverTls(workerPort, good)).toBe("SERVING");
    await expect(healthOverTls(workerPort, { caFile: pki.caCert })).rejects.toThrow();

    const spec = await writeSpec("tls-pw", 2);
    const submit = await runCli(
      ["submit", spec, "--coordinator", coordinatorAddress, "--watch", ...clientTls],
      {
        timeoutMs: 120_000,
      },
    );
    expect(submit.code, submit.output).toBe(0);
    expect(await readMetadata(join(tmp, "tls-pw", "out"))).toHaveLength(2);

    const plain = await runCli(["status", "x", "--coordinator", coordinatorAddress], { timeoutMs: 60_000 });
    expect(plain.code).toBe(1);
    expect(plain.output).toMatch(/it serves TLS/);

    await stopAll([coordinator, worker]);
    for (const p of [coordinator, worker]) expect(p.output()).not.toContain(PASSWORD);
  });
});

describe("coordinator with each NATS authentication mode", () => {
  async function startsWith(setup: NatsSetup, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
    const nats = await serve(setup);
    const p = start(
      "coordinator",
      ["coordinator", "--nats", nats.url, "--grpc", "127.0.0.1:0", ...args],
      env,
    );
    await p.waitForOutput(/"msg":"coordinator started"/, 30_000);
    await stopAll([p]);
    expect((await p.exited).code).toBe(0);
  }

  it("token from LF_NATS_TOKEN", async () => {
    await startsWith(tokenSetup(await mkdtemp(join(tmp, "token-"))), [], { LF_NATS_TOKEN: TOKEN });
  });

  it("NKey seed file from --nats-nkey-seed", async () => {
    const setup = nkeySetup(await mkdtemp(join(tmp, "nkey-")));
    await startsWith(setup, ["--nats-nkey-seed", setup.auth.nkeySeedFile as string]);
  });

  it("credentials file (operator/JWT mode) from --nats-creds", async () => {
    const setup = await credsSetup(await mkdtemp(join(tmp, "creds-")));
    await startsWith(setup, ["--nats-creds", setup.auth.credsFile as string]);
  });

  it("a wrong password: exits 1 at once, naming the URL, without the password or a stack", async () => {
    const nats = await serve(userPasswordSetup(await mkdtemp(join(tmp, "wrong-"))));
    const r = await runCli(
      ["coordinator", "--nats", nats.url, "--grpc", "127.0.0.1:0", "--nats-user", USER],
      {
        env: { ...process.env, LF_NATS_PASSWORD: "the-wrong-one" },
        timeoutMs: 30_000,
      },
    );
    expect(r.code).toBe(1);
    expect(r.output).toMatch(
      new RegExp(
        `^latent-fleet: cannot connect to NATS at ${nats.url}: Authorization Violation.*\\[NATS_UNAVAILABLE\\]`,
      ),
    );
    expect(r.output).not.toContain("the-wrong-one");
    expect(r.output).not.toMatch(/\n\s+at /);
  });
});

describe("latent-fleet run", () => {
  it("with --nats nats://user:password@...: the password reaches no child's command line, output or log", async () => {
    const nats = await serve(userPasswordSetup(await mkdtemp(join(tmp, "run-url-"))));
    const url = `nats://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${nats.port}`;
    const spec = await writeSpec("run-url", 4);
    const p = start("run", ["run", spec, "--nats", url, "--workers", "1", "--threads", "1", "--keep-logs"]);
    await p.waitForOutput(/job \S+: writing to/, 90_000);
    const pid = p.child.pid as number;
    const children = childrenOf(pid);
    expect(children.length).toBe(2);
    for (const child of children) {
      const cmdline = readFileSync(`/proc/${child}/cmdline`, "utf8").replaceAll("\0", " ");
      expect(cmdline).toContain(`--nats nats://127.0.0.1:${nats.port}`);
      expect(cmdline).not.toContain(encodeURIComponent(PASSWORD));
      expect(cmdline).not.toContain(PASSWORD);
    }
    const { code } = await p.exited;
    const output = p.output();
    expect(code, output).toBe(0);
    expect(output).toContain(`NATS nats://127.0.0.1:${nats.port},`);
    expect(output).not.toContain(encodeURIComponent(PASSWORD));
    const logDir = /logs: (\S+)/.exec(output)?.[1] as string;
    const logs = await listFiles(logDir);
    expect(logs.length).toBeGreaterThanOrEqual(2);
    for (const log of logs) {
      const text = await readFile(log, "utf8");
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
    }
    await rm(join(logDir, ".."), { recursive: true, force: true });
  });

  it("its own NATS server refuses a client without the token it was given", async () => {
    const spec = await writeSpec("run-embedded", 6);
    const p = start("run", ["run", spec, "--workers", "1", "--threads", "1"]);
    await p.waitForOutput(/job \S+: writing to/, 90_000);
    const url = /NATS (nats:\/\/\S+),/.exec(p.output())?.[1] as string;
    const err = await connectNats(url, "intruder", { timeout: 5_000 }).then(
      async (nc) => {
        await nc.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LatentFleetError);
    expect((err as Error).message).toMatch(/Authorization Violation/);
    const { code } = await p.exited;
    expect(code, p.output()).toBe(0);
  });
});

function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((child) => {
      try {
        const stat = readFileSync(`/proc/${child}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid;
      } catch {
        return false;
      }
    });
}
