import { describe, expect, it } from "vitest";
import { parsePubAck } from "../../../src/common/nats/pub-ack.js";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("parsePubAck", () => {
  it("reads the usual acks as JSON.parse does", () => {
    for (const text of [
      // As nats-server 2.9 writes them.
      '{"stream":"LF_TASKS", "seq":1}',
      '{"stream":"LF_TASKS", "seq":1,"duplicate": true}',
      '{"stream":"LF_RESULTS", "seq":98765}',
      // As Go marshals them.
      '{"stream":"LF_TASKS","seq":1}',
      '{"stream":"LF_TASKS","seq":123456789012345}',
      '{"stream":"LF_RESULTS","seq":42,"duplicate":true}',
      '{"stream":"LF_TASKS","seq":7}',
      '{"stream":"S","seq":0}',
    ]) {
      const body = JSON.parse(text) as { stream: string; seq: number; duplicate?: boolean };
      expect(parsePubAck(bytes(text)), text).toEqual({
        stream: body.stream,
        seq: body.seq,
        duplicate: body.duplicate === true,
        domain: undefined,
      });
    }
  });

  it("leaves every other form to JSON.parse", () => {
    for (const text of [
      '{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"},"stream":"T","seq":0}',
      '{"stream":"LF_TASKS", "seq":1,"duplicate": false}',
      '{"stream":"LF_TASKS",  "seq":1}',
      '{"stream":"LF_TASKS", "seq":1,"duplicate": true} ',
      '{"stream":"LF_TASKS","seq":1,"domain":"hub"}',
      '{"stream":"LF_TASKS","domain":"hub","seq":1}',
      '{"stream":"LF_TASKS","seq":1,"duplicate":false}',
      '{"stream":"a\\"b","seq":1}',
      '{"stream":"ünï","seq":1}',
      '{"stream":"","seq":1}',
      '{"stream":"LF_TASKS","seq":}',
      '{"stream":"LF_TASKS","seq":1234567890123456}',
      '{"stream":"LF_TASKS","seq":1} ',
      '{"stream":"LF_TASKS","seq":1',
      '{"stream":"LF_TASKS","seq":1x',
      '{"stream":"LF_TASKS"',
      "",
    ]) {
      expect(parsePubAck(bytes(text)), text).toBeNull();
    }
  });
});
