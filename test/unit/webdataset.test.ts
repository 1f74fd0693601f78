/** The pieces of a webdataset shard: ustar archives (read back by GNU tar), the Parquet index, the PNGs. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import {
  readTarIndex,
  TarFormatError,
  type TarMember,
  tarChunks,
  tarSize,
  writeTar,
} from "../../src/common/tar.js";
import { decodePng } from "../../src/engine/png.js";
import { encodeRgbPng, encodeRgbPngWithCrc } from "../../src/engine/png-encode.js";
import {
  readShardIndex,
  type ShardSampleRecord,
  sampleKey,
  tarDigest,
  tarShardName,
  writeShardIndex,
} from "../../src/outputs/webdataset/shard-index.js";

describe("tar", () => {
  const members = [
    { name: "000030000.png", data: Buffer.from("not really a png") },
    { name: "000030000.txt", data: Buffer.from("a prompt, with ünïcode") },
    { name: "000030000.json", data: Buffer.alloc(1024, 7) },
    { name: "000030001.txt", data: Buffer.alloc(0) },
  ];

  it("writes archives GNU tar lists and extracts byte for byte", () => {
    const tar = writeTar(members);
    expect(tar.length).toBe(tarSize(members));
    expect(tar.length % 512).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), "lf-tar-"));
    try {
      writeFileSync(join(dir, "s.tar"), tar);
      const listed = execFileSync("tar", ["-tf", join(dir, "s.tar")], { encoding: "utf8" });
      expect(listed.trim().split("\n")).toEqual(members.map((m) => m.name));
      for (const m of members) {
        const out = execFileSync("tar", ["-xOf", join(dir, "s.tar"), m.name]);
        expect(out.equals(m.data)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("indexes its own archives and rejects truncated or damaged ones", () => {
    const tar = writeTar(members);
    const index = readTarIndex(tar);
    expect(index.map((e) => [e.name, e.size])).toEqual(members.map((m) => [m.name, m.data.length]));
    for (const e of index) {
      expect(Buffer.from(tar.subarray(e.offset, e.offset + e.size)).toString("latin1")).toBe(
        members.find((m) => m.name === e.name)?.data.toString("latin1"),
      );
    }
    for (const cut of [tar.length - 1, tar.length - 512, 700, 100]) {
      expect(() => readTarIndex(tar.subarray(0, cut)), `cut at ${cut}`).toThrow(TarFormatError);
    }
    const damaged = Buffer.from(tar);
    damaged[5] ^= 1;
    expect(() => readTarIndex(damaged)).toThrow(/checksum/);
    expect(() => writeTar([{ name: "x".repeat(101), data: Buffer.alloc(1) }])).toThrow(/1 to 100 bytes/);
  });
});

describe("shard names and the Parquet index", () => {
  it("keys samples by shard and position in the shard", () => {
    expect(sampleKey(3, 7)).toBe("000030007");
    expect(tarShardName(12)).toBe("00012.tar");
  });

  it("round-trips every field, large seeds and the tar's size and CRC", async () => {
    const record = (i: number, ok: boolean): ShardSampleRecord => ({
      key: sampleKey(4, i),
      shard: 4,
      index: 128 + i,
      id: `row-${i}`,
      prompt: `prompt ${i} "quoted"`,
      text: `caption ${i} "quoted"`,
      negative_prompt: i === 0 ? "" : "blurry",
      seed: 2 ** 53 - 1 - i,
      steps: 20,
      guidance_scale: 7.3,
      scheduler: "euler",
      width: 64,
      height: 48,
      model: "tiny-shapes",
      status: ok ? "success" : "failed",
      error_message: ok ? "" : "width must be a multiple of 8",
      error_code: ok ? "" : "INVALID_ARGUMENT",
    });
    const records = [record(0, true), record(1, false), record(2, true)];
    const tar = writeTar([{ name: "a.txt", data: Buffer.from("x") }]);
    const back = await readShardIndex(await writeShardIndex(records, tar));
    expect(back.records).toEqual(records);
    expect(back.tar?.bytes).toBe(tar.length);
    expect(back.tar?.crc32).toBeGreaterThan(0);
    expect((await readShardIndex(await writeShardIndex([record(1, false)], null))).tar).toBeUndefined();
    await expect(readShardIndex(Buffer.from("PAR1 nonsense"))).rejects.toThrow();
  });
});

describe("PNG encoder", () => {
  it("makes PNGs pngjs decodes to the same pixels, deterministically", () => {
    for (const [w, h] of [
      [1, 1],
      [64, 64],
      [37, 5],
    ]) {
      const rgb = new Uint8Array(w * h * 3);
      for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 37 + ((i / 7) | 0) * 11) & 255;
      const png = encodeRgbPng(rgb, w, h);
      const back = decodePng(png);
      expect([back.width, back.height]).toEqual([w, h]);
      expect(Buffer.from(back.rgb).equals(Buffer.from(rgb))).toBe(true);
      expect(encodeRgbPng(rgb, w, h).equals(png)).toBe(true);
    }
    expect(() => encodeRgbPng(new Uint8Array(5), 2, 2)).toThrow(/expected 12 RGB bytes/);
  });

  it("gives the CRC-32 of the whole file with it; a tar's digest combines such CRCs", () => {
    const members: TarMember[] = [];
    const known = new Map<Uint8Array, number>();
    for (const [w, h] of [
      [1, 1],
      [64, 64],
      [300, 17],
    ]) {
      const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 13) & 255);
      const { png, crc32: crc } = encodeRgbPngWithCrc(rgb, w, h);
      expect(crc).toBe(crc32(png) >>> 0);
      expect(png.equals(encodeRgbPng(rgb, w, h))).toBe(true);
      members.push({ name: `${w}x${h}.png`, data: png }, { name: `${w}x${h}.txt`, data: Buffer.from("p") });
      known.set(png, crc);
    }
    const chunks = tarChunks(members);
    const whole = Buffer.concat(chunks);
    expect(tarDigest(chunks, known)).toEqual({ bytes: whole.length, crc32: crc32(whole) >>> 0 });
    expect(tarDigest(chunks)).toEqual(tarDigest(chunks, known));
  });
});
