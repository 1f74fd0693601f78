/**
 * Writes to an output that takes none (disk full, read-only) are held and tried again; others fail at once.
 * The pauses run on a clock the tests move (fake timers), so their lengths are checked exactly.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { LatentFleetError } from "../../src/common/errors.js";
import { silentLogger } from "../../src/common/log.js";
import { OutputOutage, unusableOutputCode } from "../../src/worker/output-outage.js";

// The module sleeps with node:timers/promises, whose ESM binding fake timers do not reach: here it sleeps
// with the global setTimeout, which they do.
vi.mock("node:timers/promises", async (original) => ({
  ...(await original<typeof import("node:timers/promises")>()),
  setTimeout: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
}));

afterEach(() => {
  vi.useRealTimers();
});

/** Resolves to what `p` settled with, or "pending" if it has not settled by the next turn of the loop. */
async function state<T>(p: Promise<T>): Promise<T | "pending"> {
  return Promise.race([p, new Promise<"pending">((r) => setImmediate(() => r("pending")))]);
}

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
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    const outage = new OutputOutage({ log: silentLogger, minDelayMs: 5, maxDelayMs: 10 });
    let tries = 0;
    let retries = 0;
    const seenDown: boolean[] = [];
    const triedAt: number[] = [];
    const t0 = Date.now();
    const written = outage.write(
      async () => {
        tries++;
        triedAt.push(Date.now() - t0);
        seenDown.push(outage.down);
        if (tries < 4) throw wrapped("ENOSPC");
        return "written";
      },
      () => true,
      () => retries++,
    );
    await vi.advanceTimersByTimeAsync(24);
    expect(await state(written)).toBe("pending");
    await vi.advanceTimersByTimeAsync(1);
    const value = await written;
    // Pauses of 5, then 10 (doubled, capped at maxDelayMs), then 10 ms.
    expect(triedAt).toEqual([0, 5, 15, 25]);
    expect(value).toBe("written");
    expect(tries).toBe(4);
    expect(retries).toBe(3);
    expect(seenDown).toEqual([false, true, true, true]);
    expect(outage.down).toBe(false);
  });

  it("fails at once for other errors, when no longer holding, or after the longest hold", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
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
    let tries = 0;
    const held = outage
      .write(
        () => {
          tries++;
          return Promise.reject(wrapped("ENOSPC"));
        },
        () => true,
      )
      .then(
        () => "written",
        (err: unknown) => err,
      );
    // Tried every 5 ms: at 40 ms the next pause would end past maxHoldMs, so that try's error goes out.
    await vi.advanceTimersByTimeAsync(39);
    expect(await state(held)).toBe("pending");
    await vi.advanceTimersByTimeAsync(1);
    expect(await state(held)).toMatchObject({ message: expect.stringContaining("x.png") });
    expect(tries).toBe(9);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(Date.now() - t0).toBe(40);
  });
});
