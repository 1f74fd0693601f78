/**
 * scripts/check-test-tools.mjs, which `npm test` runs first: with the programs out of reach it names what
 * is missing in one line with the apt command, and fails; `--packages` lists the Debian packages.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.js";

const SCRIPT = join(ROOT, "scripts", "check-test-tools.mjs");

/** The script with an empty PATH: only Debian's sbin folders and absolute paths can still be found. */
function check(args: string[] = []) {
  return spawnSync(process.execPath, [SCRIPT, ...args], {
    encoding: "utf8",
    env: { PATH: "/nonexistent", LF_NATS_SERVER_BIN: "/nonexistent/nats-server" },
    timeout: 60_000,
  });
}

describe("the test command's check of its tools", () => {
  it("names what is missing in one line with the apt command, and exits 1", () => {
    const r = check();
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    // Not reachable without a PATH: the ones Debian keeps in /usr/bin (tar is run by name).
    expect(lines[0]).toMatch(/^npm test: missing .*prometheus, promtool, kubectl, openssl, GNU tar/);
    expect(lines[0]).toMatch(/to fix: apt-get install -y .*prometheus openssl tar/);
    expect(lines[0]).toMatch(/kubectl from the Kubernetes apt repository/);
  });

  it("lists the Debian packages of what is missing, each once, for .ci/run", () => {
    const r = check(["--packages"]);
    expect(r.status).toBe(0);
    const packages = r.stdout.trim().split(" ");
    expect(packages).toEqual(expect.arrayContaining(["prometheus", "openssl", "tar"]));
    expect(new Set(packages).size).toBe(packages.length);
    expect(packages).not.toContain("kubectl");
  });
});
