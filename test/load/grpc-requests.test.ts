/**
 * Bad gRPC requests, sent as raw bytes with grpc-js clients that skip the protobuf encoder, against a
 * coordinator and a worker in this process on a nats-server: oversized messages, bytes that are not the
 * message, fields of the wrong wire type, missing fields, unknown methods. Each gets the status code that
 * names the problem, with a message, and the servers go on answering good requests. The worker runs the
 * stand-in engine (bench/dispatch/stand-in-engine.ts: no model runs); what is under test is the gRPC layer.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Client,
  credentials,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeModel, FixedLatencyEngine } from "../../bench/dispatch/stand-in-engine.js";
import { silentLogger } from "../../src/common/log.js";
import { type RunningCoordinator, startCoordinator } from "../../src/coordinator/coordinator.js";
import { type RunningWorker, startWorker } from "../../src/worker/worker.js";
import { startNatsServer, type TestNatsServer } from "../helpers/nats-server.js";
import { TINY_SHAPES } from "../helpers/paths.js";

type Kind = "unary" | "client" | "server";

/** A client whose messages are the bytes given, and whose answers are the bytes received. */
function rawClient(service: string, methods: Record<string, Kind>, port: number): Client {
  const identity = (b: Buffer) => b;
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const [name, kind] of Object.entries(methods)) {
    definition[name] = {
      path: `/${service}/${name}`,
      requestStream: kind === "client",
      responseStream: kind === "server",
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
  }
  const Ctor = makeGenericClientConstructor(definition, service);
  return new Ctor(`127.0.0.1:${port}`, credentials.createInsecure(), {
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  });
}

type Outcome = { code: number; details: string };

function unary(client: Client, method: string, body: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      { deadline: Date.now() + 20_000 },
      (err: ServiceError | null) => resolve({ code: err?.code ?? status.OK, details: err?.details ?? "" }),
    );
  });
}

function clientStream(client: Client, method: string, bodies: Buffer[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      { deadline: Date.now() + 20_000 },
      (err: ServiceError | null) => resolve({ code: err?.code ?? status.OK, details: err?.details ?? "" }),
    );
    call.on("error", () => undefined);
    for (const b of bodies) call.write(b);
    call.end();
  });
}

function serverStream(client: Client, method: string, body: Buffer): Promise<Outcome & { messages: number }> {
  return new Promise((resolve) => {
    let messages = 0;
    const call = client.makeServerStreamRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      { deadline: Date.now() + 20_000 },
    );
    call.on("data", () => messages++);
    call.on("error", (err: ServiceError) => resolve({ code: err.code, details: err.details, messages }));
    call.on("end", () => resolve({ code: status.OK, details: "", messages }));
  });
}

// Protobuf by hand: a tag is (field << 3 | wire type); 0 varint, 2 length-delimited, 5 fixed32.
function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
function field(n: number, value: string | Buffer): Buffer {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  return Buffer.concat([varint((n << 3) | 2), varint(bytes.length), bytes]);
}
function intField(n: number, value: number): Buffer {
  return Buffer.concat([varint(n << 3), varint(value)]);
}
/** SubmitJobChunk { spec: JobSpecFile { name, content } } */
function specChunk(name: string, content: string): Buffer {
  return field(1, Buffer.concat([field(1, name), field(2, content)]));
}

const COORDINATOR = "latentfleet.v1.Coordinator";
const WORKER = "latentfleet.v1.Worker";
const MiB = 1024 * 1024;

describe("bad gRPC requests to a coordinator and a worker", () => {
  let nats: TestNatsServer;
  let dir: string;
  let coordinator: RunningCoordinator;
  let worker: RunningWorker;
  let coord: Client;
  let work: Client;

  beforeAll(async () => {
    nats = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), "lf-grpc-raw-"));
    coordinator = await startCoordinator({
      natsUrl: nats.url,
      grpcAddress: "127.0.0.1:0",
      allowedPaths: [dir],
      log: silentLogger,
    });
    worker = await startWorker({
      natsUrl: nats.url,
      modelDir: TINY_SHAPES,
      engine: new FixedLatencyEngine(await describeModel(TINY_SHAPES), 5),
      grpcAddress: "127.0.0.1:0",
      durable: false,
      log: silentLogger,
    });
    coord = rawClient(
      COORDINATOR,
      {
        SubmitJob: "client",
        GetJob: "unary",
        WatchJob: "server",
        CancelJob: "unary",
        ListJobs: "unary",
        Nope: "unary",
      },
      coordinator.grpcPort as number,
    );
    work = rawClient(
      WORKER,
      { Info: "unary", Drain: "unary", Generate: "server" },
      worker.grpcPort as number,
    );
  });

  afterAll(async () => {
    coord?.close();
    work?.close();
    // Bounded, so that the folder below is removed even if a process part cannot stop.
    const bounded = (p: Promise<void> | undefined) =>
      Promise.race([p, new Promise((r) => setTimeout(r, 15_000))]);
    await bounded(worker?.stop());
    await bounded(coordinator?.stop());
    await nats?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cases: { name: string; call: () => Promise<Outcome>; code: number; details?: RegExp }[] = [
    {
      name: "GetJob over the 16 MiB limit",
      call: () => unary(coord, "/latentfleet.v1.Coordinator/GetJob", field(1, "x".repeat(17 * MiB))),
      code: status.RESOURCE_EXHAUSTED,
    },
    {
      name: "a SubmitJob chunk over the 16 MiB limit",
      call: () =>
        clientStream(coord, "/latentfleet.v1.Coordinator/SubmitJob", [
          specChunk("a.yaml", "y".repeat(17 * MiB)),
        ]),
      code: status.RESOURCE_EXHAUSTED,
    },
    {
      name: "GetJob whose bytes are no protobuf message",
      call: () =>
        unary(coord, "/latentfleet.v1.Coordinator/GetJob", Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])),
      code: status.INVALID_ARGUMENT,
      details: /GetJobRequest/,
    },
    {
      name: "GetJob whose job_id is a number (wrong wire type)",
      call: () => unary(coord, "/latentfleet.v1.Coordinator/GetJob", intField(1, 42)),
      code: status.INVALID_ARGUMENT,
    },
    {
      name: "GetJob without job_id",
      call: () => unary(coord, "/latentfleet.v1.Coordinator/GetJob", Buffer.alloc(0)),
      code: status.INVALID_ARGUMENT,
      details: /job_id is empty/,
    },
    {
      name: "GetJob of an unknown job",
      call: () => unary(coord, "/latentfleet.v1.Coordinator/GetJob", field(1, "no-such-job")),
      code: status.NOT_FOUND,
      details: /no job no-such-job/,
    },
    {
      name: "CancelJob without job_id",
      call: () => unary(coord, "/latentfleet.v1.Coordinator/CancelJob", Buffer.alloc(0)),
      code: status.INVALID_ARGUMENT,
    },
    {
      name: "WatchJob without job_id",
      call: () => serverStream(coord, "/latentfleet.v1.Coordinator/WatchJob", Buffer.alloc(0)),
      code: status.INVALID_ARGUMENT,
    },
    {
      name: "WatchJob of an unknown job",
      call: () => serverStream(coord, "/latentfleet.v1.Coordinator/WatchJob", field(1, "nope")),
      code: status.NOT_FOUND,
    },
    {
      name: "SubmitJob with no message at all",
      call: () => clientStream(coord, "/latentfleet.v1.Coordinator/SubmitJob", []),
      code: status.INVALID_ARGUMENT,
      details: /no spec was sent/,
    },
    {
      name: "SubmitJob with a file before the spec",
      call: () =>
        clientStream(coord, "/latentfleet.v1.Coordinator/SubmitJob", [
          field(2, Buffer.concat([field(1, "p.jsonl"), field(2, "{}")])),
        ]),
      code: status.INVALID_ARGUMENT,
      details: /first message must be the spec/,
    },
    {
      name: "SubmitJob with the spec twice",
      call: () =>
        clientStream(coord, "/latentfleet.v1.Coordinator/SubmitJob", [
          specChunk("a.yaml", "prompts: [a]"),
          specChunk("a.yaml", "prompts: [a]"),
        ]),
      code: status.INVALID_ARGUMENT,
      details: /sent twice/,
    },
    {
      name: "SubmitJob whose chunk is garbage",
      call: () =>
        clientStream(coord, "/latentfleet.v1.Coordinator/SubmitJob", [Buffer.from([0x0a, 0xff, 0x01])]),
      code: status.INVALID_ARGUMENT,
    },
    {
      name: "SubmitJob of a spec without a model",
      call: () =>
        clientStream(coord, "/latentfleet.v1.Coordinator/SubmitJob", [specChunk("a.yaml", "prompts: [a]\n")]),
      code: status.INVALID_ARGUMENT,
      details: /model/,
    },
    {
      name: "an unknown method",
      call: () => unary(coord, "/latentfleet.v1.Coordinator/Nope", Buffer.alloc(0)),
      code: status.UNIMPLEMENTED,
    },
    {
      name: "Generate over the 16 MiB limit",
      call: () => serverStream(work, "/latentfleet.v1.Worker/Generate", field(1, "p".repeat(17 * MiB))),
      code: status.RESOURCE_EXHAUSTED,
    },
    {
      name: "Generate without a prompt",
      call: () => serverStream(work, "/latentfleet.v1.Worker/Generate", Buffer.alloc(0)),
      code: status.INVALID_ARGUMENT,
      details: /prompt/,
    },
    {
      name: "Generate whose prompt is a number (wrong wire type)",
      call: () => serverStream(work, "/latentfleet.v1.Worker/Generate", intField(1, 7)),
      code: status.INVALID_ARGUMENT,
    },
    {
      name: "Generate whose bytes are no protobuf message",
      call: () => serverStream(work, "/latentfleet.v1.Worker/Generate", Buffer.from([0x12, 0x80])),
      code: status.INVALID_ARGUMENT,
    },
    {
      name: "Generate of 17 images (16 at most)",
      call: () =>
        serverStream(
          work,
          "/latentfleet.v1.Worker/Generate",
          Buffer.concat([field(1, "a red circle"), intField(9, 17)]),
        ),
      code: status.INVALID_ARGUMENT,
      details: /count must be at most 16/,
    },
    {
      name: "Generate 12 pixels wide (not a multiple of 8)",
      call: () =>
        serverStream(
          work,
          "/latentfleet.v1.Worker/Generate",
          Buffer.concat([field(1, "a red circle"), intField(7, 12)]),
        ),
      code: status.INVALID_ARGUMENT,
      details: /width/,
    },
    {
      name: "Generate with 5000 steps",
      call: () =>
        serverStream(
          work,
          "/latentfleet.v1.Worker/Generate",
          Buffer.concat([field(1, "a red circle"), intField(4, 5000)]),
        ),
      code: status.INVALID_ARGUMENT,
      details: /steps/,
    },
    {
      name: "Generate with an unknown scheduler",
      call: () =>
        serverStream(
          work,
          "/latentfleet.v1.Worker/Generate",
          Buffer.concat([field(1, "a red circle"), field(6, "pndm")]),
        ),
      code: status.INVALID_ARGUMENT,
      details: /unknown scheduler/,
    },
    {
      name: "Info whose bytes are no protobuf message",
      call: () => unary(work, "/latentfleet.v1.Worker/Info", Buffer.from([0x0b])),
      code: status.INVALID_ARGUMENT,
    },
  ];

  it.each(cases)("$name", async ({ call, code, details }) => {
    const got = await call();
    expect({ code: status[got.code], details: got.details }).toMatchObject({ code: status[code] });
    expect(got.details.length).toBeGreaterThan(0);
    expect(got.details).not.toMatch(/\n\s+at /);
    if (details) expect(got.details).toMatch(details);
  });

  it("still answers good requests afterwards", async () => {
    const list = await unary(coord, "/latentfleet.v1.Coordinator/ListJobs", Buffer.alloc(0));
    expect(list.code).toBe(status.OK);
    const gen = await serverStream(work, "/latentfleet.v1.Worker/Generate", field(1, "a red circle"));
    expect(gen).toMatchObject({ code: status.OK, messages: 1 });
  });
});
