/**
 * Options refused the same way by `run` and by the command it would pass them to: `run --shard-size 5000`
 * exits with the bad-argument code and the coordinator's message, before it starts anything.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COORDINATOR_OPTIONS } from "../../src/common/options/index.js";
import { CLI, ROOT } from "../helpers/paths.js";

/** The exit code README.md documents for bad arguments. */
const BAD_ARGUMENTS = 2;

describe("latent-fleet options", () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), "lf-options-"));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  /** Runs the CLI with its own empty temporary folder, where `run` would make its working folder. */
  async function cli(args: string[]) {
    const ownTmp = await mkdtemp(join(tmp, "t-"));
    const r = spawnSync(process.execPath, [CLI, ...args], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, TMPDIR: ownTmp },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, tmpLeft: await readdir(ownTmp) };
  }

  it("run --shard-size 5000: refused by run itself, as the coordinator refuses it, nothing started", async () => {
    const tooLarge = String(COORDINATOR_OPTIONS.shardSize.max + 1);
    const spec = join(ROOT, "examples", "shapes.yaml");
    const viaRun = await cli(["run", spec, "--workers", "1", "--shard-size", tooLarge]);
    // A coordinator that started would fail to reach this NATS; it must not get that far.
    const viaCoordinator = await cli([
      "coordinator",
      "--nats",
      "nats://127.0.0.1:1",
      "--shard-size",
      tooLarge,
    ]);
    expect(viaCoordinator.code).toBe(BAD_ARGUMENTS);
    expect(viaCoordinator.stderr).toBe(
      `latent-fleet: --shard-size must be an integer in [1, ${COORDINATOR_OPTIONS.shardSize.max}], got ${tooLarge} [INVALID_ARGUMENT]\n`,
    );
    expect(viaRun.code).toBe(BAD_ARGUMENTS);
    expect(viaRun.stderr).toBe(viaCoordinator.stderr);
    expect(viaRun.stdout).toBe("");
    // No working folder (it holds the NATS store and the processes' logs): nothing was started.
    expect(viaRun.tmpLeft).toEqual([]);
  });

  it("coordinator --ui-tls without the gRPC certificate: refused in one line before anything starts", async () => {
    const r = await cli(["coordinator", "--nats", "nats://127.0.0.1:1", "--ui", "127.0.0.1:0", "--ui-tls"]);
    expect(r.code).toBe(BAD_ARGUMENTS);
    expect(r.stderr).toBe(
      "latent-fleet: --ui-tls serves --ui with the gRPC TLS certificate: it needs --ui, --grpc-tls-cert and --grpc-tls-key [INVALID_ARGUMENT]\n",
    );
  });

  it("run accepts the coordinator's largest shard size as far as its own checks go", async () => {
    const largest = String(COORDINATOR_OPTIONS.shardSize.max);
    // A missing nats-server binary stops it after the options are taken, before anything starts.
    const r = await cli([
      "run",
      join(ROOT, "examples", "shapes.yaml"),
      "--shard-size",
      largest,
      "--nats-server-bin",
      join(tmp, "none"),
    ]);
    expect(r.stderr).not.toMatch(/--shard-size/);
    expect(r.stderr).toMatch(/nats-server/);
    expect(r.tmpLeft).toEqual([]);
  });
});
