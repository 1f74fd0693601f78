import { describe, expect, it } from "vitest";
import { createLogger, type LogFormat } from "../../src/common/log.js";
import { formatTextRecord, jsonLogLinesAsText } from "../../src/common/log-text.js";

function capture(format: LogFormat): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const log = createLogger({ component: "run" }, { format, level: "debug", write: (l) => lines.push(l) });
  return { lines, log };
}

describe("text log lines", () => {
  it("writes time, level, message, then key=value, one line per record", () => {
    expect(
      formatTextRecord({
        time: "2026-12-05T19:42:16.411Z",
        level: "info",
        msg: "job submitted",
        job: "j-1",
        ms: 3948,
      }),
    ).toBe("19:42:16.411 INFO  job submitted job=j-1 ms=3948");
    expect(formatTextRecord({ time: "2026-12-05T19:42:16.411Z", level: "error", msg: "stopped" })).toBe(
      "19:42:16.411 ERROR stopped",
    );
  });

  it("quotes values with spaces, quotes, = or newlines, and writes objects as JSON", () => {
    const line = formatTextRecord({
      time: "2026-12-05T00:00:00.000Z",
      level: "warn",
      msg: "cannot write",
      path: "/out/a b.png",
      note: 'say "hi"\nthen go',
      expr: "a=b",
      empty: "",
      err: { code: "OUTPUT_FAILED", message: "disk full" },
      ok: false,
      n: null,
    });
    expect(line).toBe(
      '00:00:00.000 WARN  cannot write path="/out/a b.png" note="say \\"hi\\"\\nthen go" expr="a=b" empty="" ' +
        'err={"code":"OUTPUT_FAILED","message":"disk full"} ok=false n=null',
    );
    expect(line).not.toContain("\n");
  });

  it("is what a text logger writes, with the same redaction and error shape as JSON", () => {
    const { lines, log } = capture("text");
    log.child({ worker: "w-0" }).warn("lost NATS", {
      url: "nats://user:hunter2@host:4222",
      token: "s3cret",
      err: Object.assign(new Error("gone"), { code: "NATS_UNAVAILABLE" }),
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} WARN {2}lost NATS component=run worker=w-0 url=nats:\/\/user:\*\*\*@host:4222 token=\[redacted\] err=\{"code":"NATS_UNAVAILABLE","message":"gone"\}\n$/,
    );
    expect(lines[0]).not.toContain("hunter2");
    expect(lines[0]).not.toContain("s3cret");
  });

  it("keeps JSON the default", () => {
    const lines: string[] = [];
    createLogger({}, { write: (l) => lines.push(l) }).info("hello", { n: 1 });
    expect(JSON.parse(lines[0] as string)).toMatchObject({ level: "info", msg: "hello", n: 1 });
  });

  it("turns a JSON log's lines into text lines, leaving other lines as they are", () => {
    const json = [
      '{"time":"2026-12-05T19:42:16.411Z","level":"info","msg":"worker started","worker":"worker-0"}',
      "Segmentation fault (core dumped)",
      '{"not":"a log record"}',
      "{broken",
    ].join("\n");
    expect(jsonLogLinesAsText(json).split("\n")).toEqual([
      "19:42:16.411 INFO  worker started worker=worker-0",
      "Segmentation fault (core dumped)",
      '{"not":"a log record"}',
      "{broken",
    ]);
  });
});
