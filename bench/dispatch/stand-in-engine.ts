/**
 * A fixed-latency stand-in for a worker's engine: no model runs, each batch takes `batchMs` of a
 * simulated device, and every sample comes back as the same patterned RGB image of the requested size
 * (so the worker still encodes and writes a real PNG per sample).
 *
 * The device runs batches back to back like a GPU stream: a batch handed over while another runs starts
 * when that one ends, not when this process's event loop gets round to it. A busy event loop therefore
 * delays the worker's own work (results, acks, pulls), as it would in a real worker, but not the device.
 */
import { performance } from "node:perf_hooks";
import { setImmediate as nextTurn, setTimeout as sleep } from "node:timers/promises";
import type { SampleRequest } from "../../src/common/contract/sample.js";
import { readModelFolder } from "../../src/engine/model-folder.js";
import type { ModelDescription } from "../../src/engine/pipeline.js";
import { defaultSchedulerName } from "../../src/engine/schedulers/index.js";
import type { EngineImage } from "../../src/worker/submission.js";
import type { WorkerEngine } from "../../src/worker/worker.js";

const patterns = new Map<string, Uint8Array>();

/** A diagonal gradient: compresses like a simple picture, not like noise or a blank. */
function pattern(width: number, height: number): Uint8Array {
  const key = `${width}x${height}`;
  let rgb = patterns.get(key);
  if (!rgb) {
    rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = (y * width + x) * 3;
        rgb[p] = (x * 4) & 255;
        rgb[p + 1] = (y * 4) & 255;
        rgb[p + 2] = ((x + y) * 2) & 255;
      }
    }
    patterns.set(key, rgb);
  }
  return rgb;
}

export class FixedLatencyEngine implements WorkerEngine {
  batches = 0;
  samples = 0;
  /** Simulated device time handed out so far. */
  busyMs = 0;
  /** Since the last takeWindow(): when each batch left the device (epoch ms), and its size. */
  private ends: number[] = [];
  private sizes: number[] = [];
  private busyUntil = 0;

  constructor(
    readonly model: ModelDescription,
    private readonly batchMs: number,
  ) {}

  async generate(requests: SampleRequest[]): Promise<{ samples: EngineImage[] }> {
    const now = performance.now();
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + this.batchMs;
    this.batches++;
    this.samples += requests.length;
    this.busyMs += this.batchMs;
    this.ends.push(performance.timeOrigin + this.busyUntil);
    this.sizes.push(requests.length);
    const wait = this.busyUntil - now;
    if (wait > 0) await sleep(wait);
    else await nextTurn();
    return {
      // A buffer of its own per sample, as the real engine hands them: the sink moves each image's buffer
      // to a PNG encoder thread (a shared one would be gone after the first).
      samples: requests.map((r) => ({
        rgb: pattern(r.width, r.height).slice(),
        width: r.width,
        height: r.height,
        warnings: [],
      })),
    };
  }

  /** The batches finished on the device since the last call (epoch ms of each, and its size). */
  takeWindow(): { ends: number[]; sizes: number[] } {
    const w = { ends: this.ends, sizes: this.sizes };
    this.ends = [];
    this.sizes = [];
    return w;
  }
}

/** The model as the real engine would describe it, read from the folder's config files only. */
export async function describeModel(modelDir: string): Promise<ModelDescription> {
  const folder = await readModelFolder(modelDir);
  return {
    name: folder.name,
    family: folder.family.name,
    dir: folder.dir,
    defaultScheduler: defaultSchedulerName(folder.schedulerConfig),
    nativeSize: folder.nativeSize,
    vaeScale: folder.vaeScale,
    latentChannels: 4,
    guidanceDistilled: folder.timeCondProjDim !== undefined,
  };
}
