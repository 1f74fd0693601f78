import { describe, expect, it } from "vitest";
import { LatentFleetError } from "../../../src/common/errors.js";
import {
  maxDeliveriesAdvisorySubject,
  resultSubject,
  subjectToken,
  taskMsgId,
  taskSubject,
  workersConsumerName,
} from "../../../src/common/nats/names.js";
import { findNatsServer } from "../../../src/common/nats/server-binary.js";

describe("NATS names", () => {
  it("keeps safe names and derives subjects, ids and consumer names", () => {
    expect(taskSubject("tiny-shapes")).toBe("lf.tasks.tiny-shapes");
    expect(resultSubject("01JABC_x")).toBe("lf.results.01JABC_x");
    expect(taskMsgId("job-1", 42)).toBe("job-1.42");
    expect(workersConsumerName("sd_turbo")).toBe("workers-sd_turbo");
    expect(maxDeliveriesAdvisorySubject("workers-sd_turbo")).toBe(
      "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LF_TASKS.workers-sd_turbo",
    );
  });

  it("sanitises unsafe names into distinct single tokens", () => {
    const names = [
      "stable-diffusion v1.5",
      "stable-diffusion_v1_5",
      "a.b",
      "a_b",
      "a*b",
      "a>b",
      "x".repeat(200),
    ];
    const tokens = names.map(subjectToken);
    for (const t of tokens) {
      expect(t).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    }
    expect(new Set(tokens).size).toBe(names.length);
    expect(subjectToken("a.b")).toBe(subjectToken("a.b"));
    expect(() => subjectToken("")).toThrow(LatentFleetError);
  });

  it("finds nats-server on PATH and explains how to install it when missing", () => {
    expect(findNatsServer()).toMatch(/nats-server$/);
    const err = (() => {
      try {
        findNatsServer("/nonexistent/nats-server");
      } catch (e) {
        return e;
      }
    })() as LatentFleetError;
    expect(err).toBeInstanceOf(LatentFleetError);
    expect(err.code).toBe("NATS_SERVER_MISSING");
    expect(err.message).toContain("apt-get install nats-server");
    expect(err.message).toContain("--nats-server-bin");
    // A bare name is looked up on PATH.
    expect(() => findNatsServer("no-such-nats-server")).toThrow(/not found at no-such-nats-server/);
  });
});
