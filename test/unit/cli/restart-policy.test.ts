import { describe, expect, it } from "vitest";
import { RestartPolicy } from "../../../src/cli/restart-policy.js";

describe("RestartPolicy", () => {
  it("restarts after a pause that doubles with each crash in the window, capped", () => {
    const policy = new RestartPolicy({
      maxCrashes: 10,
      windowMs: 60_000,
      firstBackoffMs: 500,
      maxBackoffMs: 3_000,
    });
    const delays = [0, 1, 2, 3, 4].map((i) => policy.crashed(i * 1_000, true));
    expect(delays).toEqual([
      { restart: true, delayMs: 500 },
      { restart: true, delayMs: 1_000 },
      { restart: true, delayMs: 2_000 },
      { restart: true, delayMs: 3_000 },
      { restart: true, delayMs: 3_000 },
    ]);
  });

  it("gives up at the third crash within a minute", () => {
    const policy = new RestartPolicy();
    expect(policy.crashed(0, true).restart).toBe(true);
    expect(policy.crashed(20_000, true).restart).toBe(true);
    expect(policy.crashed(59_000, true)).toEqual({
      restart: false,
      reason: "it crashed 3 times within 60 s",
    });
  });

  it("forgets crashes older than the window: the pause starts over", () => {
    const policy = new RestartPolicy();
    expect(policy.crashed(0, true)).toEqual({ restart: true, delayMs: 500 });
    expect(policy.crashed(30_000, true)).toEqual({ restart: true, delayMs: 1_000 });
    expect(policy.crashed(89_000, true)).toEqual({ restart: true, delayMs: 1_000 });
    expect(policy.crashed(200_000, true)).toEqual({ restart: true, delayMs: 500 });
  });

  it("gives up on a child that crashed at every start, however slowly", () => {
    const policy = new RestartPolicy();
    expect(policy.crashed(0, false).restart).toBe(true);
    expect(policy.crashed(100_000, false).restart).toBe(true);
    expect(policy.crashed(200_000, false)).toEqual({
      restart: false,
      reason: "it crashed at start-up 3 times in a row",
    });
  });

  it("counts start-up crashes in a row only: a start that became ready resets them", () => {
    const policy = new RestartPolicy();
    expect(policy.crashed(0, false).restart).toBe(true);
    expect(policy.crashed(100_000, false).restart).toBe(true);
    expect(policy.crashed(200_000, true).restart).toBe(true);
    expect(policy.crashed(300_000, false).restart).toBe(true);
  });
});
