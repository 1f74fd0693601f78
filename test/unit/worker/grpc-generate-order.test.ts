/**
 * gRPC Generate's stream against a real batcher and a fake engine, with PNG encodes that finish out of order
 * (as they do on several PNG threads): the images go out in the engine's order, and the stream ends after them.
 */
import type { ServerWritableStream } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { SampleRequest } from "../../../src/common/contract/sample.js";
import type { GeneratedImage__Input } from "../../../src/common/proto/generated/latentfleet/v1/GeneratedImage.js";
import type { GenerateRequest } from "../../../src/common/proto/generated/latentfleet/v1/GenerateRequest.js";
import { batchKey } from "../../../src/engine/batch-key.js";
import { Batcher } from "../../../src/worker/batcher.js";
import { workerService } from "../../../src/worker/grpc-service.js";
import type { EngineImage } from "../../../src/worker/submission.js";

/** 1x1 images whose red channel is the seed. */
const engine = {
  generate: async (requests: SampleRequest[]) => ({
    samples: requests.map(
      (r): EngineImage => ({
        rgb: Uint8Array.of(r.seed % 256, 0, 0),
        width: 1,
        height: 1,
        warnings: [],
      }),
    ),
  }),
};

describe("gRPC Generate", () => {
  it("streams the images in the engine's order though later encodes finish first, then ends", async () => {
    const batcher = new Batcher({
      engine,
      batchSize: 8,
      batchKey: (r) => batchKey(r, () => true),
      lingerMs: 0,
    });
    // The first image's encode is the slowest, the last's the quickest.
    const encodePng = (image: EngineImage) => {
      const seed = "rgb" in image ? image.rgb[0] : -1;
      return new Promise<Buffer>((r) => setTimeout(() => r(Buffer.from([seed])), 60 - 10 * seed));
    };
    const handlers = workerService({
      info: () => ({}),
      drain: async () => 0,
      accepting: () => true,
      batcher,
      encodePng,
      model: { defaultScheduler: "euler", nativeSize: 64, vaeScale: 8 },
    });
    const events: string[] = [];
    const request: GenerateRequest = {
      prompt: "a red circle",
      negative_prompt: "",
      seed: "1",
      steps: 4,
      guidance_scale: 4,
      scheduler: "euler",
      width: 64,
      height: 64,
      count: 4,
    };
    const ended = new Promise<void>((resolve, reject) => {
      const call = {
        request,
        cancelled: false,
        write: (img: GeneratedImage__Input) => events.push(`${img.seed}:${(img.png as Buffer)[0]}`),
        end: () => {
          events.push("end");
          resolve();
        },
        emit: (_event: string, err: Error) => reject(err),
      };
      handlers.Generate(call as unknown as ServerWritableStream<GenerateRequest, GeneratedImage__Input>);
    });
    await ended;
    expect(events).toEqual(["1:1", "2:2", "3:3", "4:4", "end"]);
  });
});
