/** Writes to an output that takes none (disk full, read-only) are held and tried again; others fail at once. */
import { describe, expect, it } from "vitest";
import { LatentFleetError } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/log.js";
import { OutputOutage, unusableOutputCode } from "../../src/worker/output-outage.js";

function fsError(code: string, syscall = "write"): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall}`), { code, syscall });
}

const wrapped = (code: string, syscall?: string) =>
  new LatentFleetError("OUTPUT_FAILED", "cannot write x.png", { cause: fsError(code, syscall) });

describe("output outages", () => {
  it("tells an unusable output from a bad write", () => {
    expect(unusableOutputCode(wrapped("ENOSPC"))).toBe("ENOSPC");
    expect(unusableOutputCode(wrapped("EROFS"))).toBe("EROFS");
    expect(unusableOutputCode(wrapped("EDQUOT"))).toBe("EDQUOT");
    // Node's recursive mkdir reports a read-only file system as ENOENT.
    expect(unusableOutputCode(wrapped("ENOENT", "mkdir"))).toMatch(/EROFS/);
    expect(unusableOutputCode(wrapped("ENOENT", "rename"))).toBeUndefined();
    expect(unusableOutputCode(wrapped("EISDIR", "rename"))).toBeUndefined();
    expect(unusableOutputCode(new Error("boom"))).toBeUndefined();
  });

  it("holds a write while the output is full, pauses pulling, and goes on once it takes writes", async () => {
    const outage = new OutputOutage({ log: silentLogger, minDelayMs: 5, maxDelayMs: 10 });
    let tries = 0;
    let retries = 0;
    const seenDown: boolean[] = [];
    const value = await outage.write(
      async () => {
        tries++;
        seenDown.push(outage.down);
        if (tries < 4) throw wrapped("ENOSPC");
        return "written";
      },
      () => true,
      () => retries++,
    );
    expect(value).toBe("written");
    expect(tries).toBe(4);
    expect(retries).toBe(3);
    expect(seenDown).toEqual([false, true, true, true]);
    expect(outage.down).toBe(false);
  });

  it("fails at once for other errors, when no longer holding, or after the longest hold", async () => {
    const outage = new OutputOutage({ log: silentLogger, minDelayMs: 5, maxDelayMs: 5, maxHoldMs: 40 });
    await expect(
      outage.write(
        () => Promise.reject(wrapped("EISDIR")),
        () => true,
      ),
    ).rejects.toThrow("x.png");
    await expect(
      outage.write(
        () => Promise.reject(wrapped("EROFS")),
        () => false,
      ),
    ).rejects.toThrow("x.png");
    const t0 = Date.now();
    await expect(
      outage.write(
        () => Promise.reject(wrapped("ENOSPC")),
        () => true,
      ),
    ).rejects.toThrow("x.png");
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
