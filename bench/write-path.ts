/**
 * bench/write-path: a worker's write path alone (PNG encode, tar, Parquet, the put to storage), fed by a
 * stand-in engine that hands over ready images at once, against the bare cost of PNG-encoding the same
 * images. Goal: at 512x512, at least 60 images/s per worker on a 2-core machine (an A100 running SD-Turbo
 * at one step makes about 33), off the main thread, and within 1.1x of the bare encode.
 *
 * Images: smooth colour fields with a little noise (they compress about as photographs do), a few distinct
 * ones per size, cycled; each handed over in a buffer of its own, made before the clock starts, as the
 * engine thread hands its images to the main thread. Each write-path run pushes shards of 32 samples
 * through the worker's own sink (ImageSink: the pool of PNG encoder threads, the webdataset or imagefolder
 * writer, the storage) as a worker does: engine batches of 8 handed over without waiting for their writes,
 * held back only by the worker's bound on images not yet written. Rows:
 *
 *   encode pngjs (main)     today's encoder before this path: pngjs, sync, on the main thread
 *   encode L<n> (main)      this encoder at zlib level n, on the main thread
 *   encode pool             the same encoder on the sink's thread pool: the bare encode cost to beat
 *   encode pool + plain write   those encodes, their bytes written with one plain write per shard (no tar,
 *                           index or rename; fsync as the sink does): the floor set by the page cache
 *                           and the disk
 *   webdataset -> folder    the whole write path into a local folder (fsync on)
 *   imagefolder -> folder   the same, one PNG file per image
 *   webdataset -> s3        the whole write path into a local S3-compatible server (s3rver, another process
 *                           on the same cores: a remote store costs this machine less)
 *
 * For each row: images/s (median of rounds) and the time per image against "encode pool"; the CPU time per
 * image of the whole process (every thread, user + system: what the row costs a machine whose cores are
 * all busy) and that against "encode pool" (medians of per-round ratios: rows alternate within a round, so
 * machine noise hits them alike); how busy the main thread was, and the longest it kept a timer waiting
 * (what NATS in-progress acks and gRPC calls would wait).
 *
 * Usage: npm run bench:write-path -- [--sizes 64,512] [--images-64 2048] [--images-512 256] [--rounds 3]
 *        [--threads N] [--no-s3] [--no-fsync]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, open, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { PNG } from "pngjs";
import type { SampleRequest } from "../src/common/contract/sample.js";
import type { Task } from "../src/common/contract/task.js";
import { packageRoot } from "../src/common/package-root.js";
import { encodeRgbPng } from "../src/engine/png-encode.js";
import { defaultPngThreads, PngPool } from "../src/worker/png-pool.js";
import { ImageSink } from "../src/worker/sink.js";
import type { EngineImage, SampleOutcome } from "../src/worker/submission.js";

/** The engine's images as RGB bytes: what this bench encodes. */
type RgbImage = Extract<EngineImage, { rgb: Uint8Array }>;

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "64,512" },
    "images-64": { type: "string", default: "2048" },
    "images-512": { type: "string", default: "384" },
    rounds: { type: "string", default: "5" },
    threads: { type: "string" },
    "no-s3": { type: "boolean", default: false },
    "no-fsync": { type: "boolean", default: false },
  },
});
const sizes = values.sizes.split(",").map(Number);
const rounds = Number(values.rounds);
const threads = values.threads ? Number(values.threads) : defaultPngThreads();
const SHARD = 32;
const BATCH = 8;
const DISTINCT = 8;

function imageCount(size: number): number {
  if (size <= 64) return Number(values["images-64"]);
  if (size >= 512) return Number(values["images-512"]);
  return Math.max(64, Math.round(Number(values["images-64"]) * (64 / size) ** 2));
}

/** A smooth colour field plus a little noise: compresses roughly like a photograph. */
function syntheticImage(size: number, seed: number): RgbImage {
  const rgb = new Uint8Array(size * size * 3);
  let s = seed * 2654435761;
  const noise = () => {
    s = (s * 1103515245 + 12345) >>> 0;
    return (s >>> 24) % 9;
  };
  const f = (2 + (seed % 5)) / size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      rgb[i] = 128 + 100 * Math.sin(x * f * 3 + seed) * Math.cos(y * f * 2);
      rgb[i + 1] = 128 + 90 * Math.sin((x + y) * f * 2.5 + seed * 0.7);
      rgb[i + 2] = 120 + 80 * Math.cos(y * f * 4 - seed) + noise();
      rgb[i] += noise();
    }
  }
  return { rgb, width: size, height: size, warnings: [] };
}

function pngjsEncode(img: RgbImage): Buffer {
  const png = new PNG({
    width: img.width,
    height: img.height,
    colorType: 2,
    inputColorType: 2,
    inputHasAlpha: false,
  });
  png.data = Buffer.from(img.rgb.buffer, img.rgb.byteOffset, img.rgb.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

interface Measure {
  seconds: number;
  /** CPU time of the whole process (every thread, user + system), seconds. */
  cpuSeconds: number;
  /** Longest the main thread let a 10 ms timer wait past its time. */
  maxStallMs: number;
  /** Share of the wall time the main thread was busy (event-loop utilization). */
  mainBusy: number;
}

async function timed(run: () => Promise<unknown>): Promise<Measure> {
  let last = performance.now();
  let maxStallMs = 0;
  const tick = setInterval(() => {
    const now = performance.now();
    maxStallMs = Math.max(maxStallMs, now - last - 10);
    last = now;
  }, 10);
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const elu = performance.eventLoopUtilization(elu0);
  // One more tick, so that a run that blocked the thread to its end is seen.
  await new Promise((r) => setTimeout(r, 15));
  clearInterval(tick);
  return { seconds, cpuSeconds, maxStallMs, mainBusy: elu.utilization };
}

function task(shard: number, size: number, outputDir: string, format: string): Task {
  return {
    job_id: "bench",
    shard,
    model: "stand-in",
    output_dir: outputDir,
    output_format: format,
    samples: Array.from({ length: SHARD }, (_, i) => ({
      sample_id: `s${shard}-${i}`,
      index: shard * SHARD + i,
      row_id: `r${shard}`,
      prompt: `a synthetic image ${shard}-${i}`,
      negative_prompt: "",
      seed: shard * SHARD + i,
      steps: 1,
      guidance_scale: 1,
      scheduler: "euler",
      width: size,
      height: size,
      source: "bench:1",
    })),
  };
}

/**
 * Shards through the sink as a worker drives it: the engine hands over batches of 8 and goes on with the
 * next without waiting for the writes, shard after shard, held back only by the worker's bound on images
 * not yet written (4 batches: TaskRunner's maxUnwritten); a shard is finished once its images are.
 */
async function writePath(sink: ImageSink, images: RgbImage[], count: number, out: string, format: string) {
  const size = images[0].width;
  const shards = Math.ceil(count / SHARD);
  const maxUnwritten = 4 * BATCH;
  let unwritten = 0;
  let written: (() => void) | undefined;
  const finishing: Promise<void>[] = [];
  for (let shard = 0; shard < shards; shard++) {
    const t = task(shard, size, out, format);
    const output = sink.open(t, "stand-in");
    const requests: SampleRequest[] = t.samples.map((s) => ({
      prompt: s.prompt,
      negativePrompt: "",
      seed: Number(s.seed),
      steps: 1,
      guidanceScale: 1,
      scheduler: "euler",
      width: size,
      height: size,
    }));
    const outcomes: SampleOutcome[] = [];
    const fileNames: string[] = [];
    const writes: Promise<unknown>[] = [];
    for (let b = 0; b < SHARD; b += BATCH) {
      while (unwritten >= maxUnwritten) await new Promise<void>((r) => (written = r));
      for (let i = b; i < Math.min(SHARD, b + BATCH); i++) {
        outcomes[i] = { ok: true, image: images[shard * SHARD + i] };
        unwritten++;
        writes.push(
          output.sample(i, outcomes[i], requests[i]).then((n) => {
            fileNames[i] = n;
            unwritten--;
            written?.();
          }),
        );
      }
      // The next batch comes from the engine thread in a later turn.
      await new Promise((r) => setImmediate(r));
    }
    finishing.push(Promise.all(writes).then(() => output.finish(requests, outcomes, fileNames)));
  }
  await Promise.all(finishing);
  return 0;
}

/** The shard's bytes in one file with one write, flushed to disk when `sync`. */
async function plainWrite(path: string, chunks: Buffer[], sync: boolean): Promise<void> {
  const fh = await open(path, "w");
  try {
    await fh.writev(chunks);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A local S3-compatible server in a child process (its CPU is this machine's, not the main thread's). */
async function startS3(dir: string): Promise<{ endpoint: string; child: ChildProcess }> {
  const script = `
    const S3rver = require("@20minutes/s3rver");
    const s = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: ${JSON.stringify(dir)},
      vhostBuckets: false, allowMismatchedSignatures: true, configureBuckets: [{ name: "bench" }] });
    s.run().then((a) => console.log("PORT " + a.port));`;
  const child = spawn(process.execPath, ["-e", script], {
    cwd: packageRoot(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let text = "";
    child.stdout?.on("data", (d: Buffer) => {
      text += d.toString();
      const m = /PORT (\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, child };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), "lf-bench-write-"));
  let s3: { endpoint: string; child: ChildProcess } | undefined;
  if (!values["no-s3"]) {
    s3 = await startS3(join(tmp, "s3"));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
    });
  }
  console.log(
    `write path, ${availableParallelism()} cores, ${threads} PNG encoder threads, shards of ${SHARD}, engine batches of ${BATCH}, ${rounds} rounds, fsync ${values["no-fsync"] ? "off" : "on"}`,
  );
  const pool = new PngPool({ threads });
  // fsync on, as workers write by default (--no-fsync: to see what the disk's flushes cost).
  const sink = new ImageSink({ pngThreads: threads, durable: !values["no-fsync"] });
  try {
    for (const size of sizes) {
      const images = Array.from({ length: DISTINCT }, (_, k) => syntheticImage(size, k + 1));
      const count = imageCount(size);
      const mainCount = Math.min(count, size >= 512 ? 64 : count);
      /** `fresh`: a buffer of its own per image, as the engine thread hands them over (moved, not copied). */
      type Row = {
        name: string;
        count: number;
        fresh?: boolean;
        run: (round: number, fresh: RgbImage[]) => Promise<number>;
      };
      const rows: Row[] = [
        {
          name: "encode pngjs (main)",
          count: mainCount,
          run: async () => {
            let bytes = 0;
            for (let i = 0; i < mainCount; i++) bytes += pngjsEncode(images[i % DISTINCT]).length;
            return bytes;
          },
        },
        ...[1, 6].map(
          (level): Row => ({
            name: `encode L${level} (main)`,
            count: mainCount,
            run: async () => {
              let bytes = 0;
              for (let i = 0; i < mainCount; i++) {
                const img = images[i % DISTINCT];
                bytes += encodeRgbPng(img.rgb, img.width, img.height, { level }).length;
              }
              return bytes;
            },
          }),
        ),
        {
          name: "encode pool",
          count,
          fresh: true,
          run: async (_round, fresh) => {
            // Two shards' worth in flight, as the write path keeps them.
            let bytes = 0;
            let next = 0;
            const lane = async () => {
              for (let i = next++; i < count; i = next++) {
                const img = fresh[i];
                bytes += (await pool.encode(img.rgb, img.width, img.height, { transfer: true })).png.length;
              }
            };
            await Promise.all(Array.from({ length: 2 * BATCH }, lane));
            return bytes;
          },
        },
        {
          // The floor any write path stands on: the same encodes, and their bytes written to a file per
          // shard with one plain write (no tar, no index, no rename), flushed to disk as the sink flushes
          // (fsync unless --no-fsync): what the system's page cache and disk cost the machine.
          name: "encode pool + plain write",
          count,
          fresh: true,
          run: async (round, fresh) => {
            const dir = join(tmp, `plain-${size}-${round}`);
            await mkdir(dir, { recursive: true });
            const pngs: Buffer[] = [];
            const writes: Promise<void>[] = [];
            let next = 0;
            const lane = async () => {
              for (let i = next++; i < count; i = next++) {
                const img = fresh[i];
                pngs[i] = (await pool.encode(img.rgb, img.width, img.height, { transfer: true })).png;
                const shard = Math.floor(i / SHARD);
                const members = pngs.slice(shard * SHARD, (shard + 1) * SHARD);
                if (members.filter(Boolean).length === Math.min(SHARD, count - shard * SHARD)) {
                  writes.push(plainWrite(join(dir, `${shard}.bin`), members, !values["no-fsync"]));
                }
              }
            };
            await Promise.all(Array.from({ length: 2 * BATCH }, lane));
            await Promise.all(writes);
            return 0;
          },
        },
        {
          name: "webdataset -> folder",
          count,
          fresh: true,
          run: (round, fresh) =>
            writePath(sink, fresh, count, join(tmp, `wds-${size}-${round}`), "webdataset"),
        },
        {
          name: "imagefolder -> folder",
          count,
          fresh: true,
          run: (round, fresh) =>
            writePath(sink, fresh, count, join(tmp, `if-${size}-${round}`), "imagefolder"),
        },
      ];
      if (s3) {
        rows.push({
          name: "webdataset -> s3",
          count,
          fresh: true,
          run: (round, fresh) =>
            writePath(sink, fresh, count, `s3://bench/wds-${size}-${round}`, "webdataset"),
        });
      }
      // Warm-up: threads started, code compiled.
      const copies = (r: Row) =>
        r.fresh
          ? Array.from({ length: r.count }, (_, i) => {
              const img = images[i % DISTINCT];
              return { ...img, rgb: Uint8Array.from(img.rgb) };
            })
          : [];
      for (const r of rows) if (r.name === "encode pool") await r.run(-1, copies(r));
      // The AWS SDK is loaded on a worker's first s3:// task, once: not part of the write path's cost.
      if (s3) {
        const warm = Array.from({ length: SHARD }, () => ({
          ...images[0],
          rgb: Uint8Array.from(images[0].rgb),
        }));
        await writePath(sink, warm, SHARD, `s3://bench/warm-up-${size}`, "webdataset");
      }
      const results = new Map<string, Measure[]>();
      for (let round = 0; round < rounds; round++) {
        // Rows in a different order each round, so machine noise hits them alike.
        const order = rows.map((_, i) => (i + round) % rows.length);
        for (const i of order) {
          const fresh = copies(rows[i]); // made before the clock starts: the engine thread's work
          const m = await timed(() => rows[i].run(round, fresh));
          results.set(rows[i].name, [...(results.get(rows[i].name) ?? []), m]);
        }
      }
      const poolRow = rows.find((r) => r.name === "encode pool") as Row;
      const perImage = (r: Row, round: number) =>
        ((results.get(r.name) ?? [])[round]?.seconds ?? 0) / r.count;
      const cpuPerImage = (r: Row, round: number) =>
        ((results.get(r.name) ?? [])[round]?.cpuSeconds ?? 0) / r.count;
      console.log(`\n${size}x${size}: ${count} images (main-thread encoders: ${mainCount})`);
      console.log(
        "| path | images/s | time vs encode pool | CPU ms/image | CPU vs encode pool | main thread busy | max main-thread stall (ms) |",
      );
      console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
      for (const r of rows) {
        const ms = results.get(r.name) ?? [];
        const ips = median(ms.map((m) => r.count / m.seconds));
        // Per-round ratios against the pool's run of the same round, so that machine noise cancels.
        const cost = median(ms.map((_, k) => perImage(r, k) / perImage(poolRow, k)));
        const cpuMs = median(ms.map((m) => (m.cpuSeconds / r.count) * 1000));
        const cpuCost = median(ms.map((_, k) => cpuPerImage(r, k) / cpuPerImage(poolRow, k)));
        const busy = median(ms.map((m) => m.mainBusy));
        const stall = median(ms.map((m) => m.maxStallMs));
        console.log(
          `| ${r.name} | ${ips.toFixed(1)} | ${cost.toFixed(2)}x | ${cpuMs.toFixed(2)} | ${cpuCost.toFixed(2)}x | ${(busy * 100).toFixed(0)}% | ${stall.toFixed(0)} |`,
        );
      }
      const avg = images.map((img) => encodeRgbPng(img.rgb, img.width, img.height).length);
      const avgPngjs = images.map((img) => pngjsEncode(img).length);
      const mean = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
      console.log(`PNG size: ${mean(avg)} bytes (level 1), ${mean(avgPngjs)} bytes (pngjs)`);
    }
  } finally {
    await pool.close();
    await sink.close();
    s3?.child.kill();
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
