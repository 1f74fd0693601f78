/**
 * The output storages against the same contract: a folder, and a real S3-compatible server (s3rver) on
 * loopback; multipart uploads for objects larger than a part.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LocalStorage,
  MAX_HELD,
  MIN_PART_SIZE,
  type ObjectStorage,
  openStorage,
  parseS3Url,
  s3SettingsFromEnv,
} from "../../../src/common/storage/index.js";
import { S3Storage } from "../../../src/common/storage/s3-storage.js";
import { startS3Server, type TestS3Server } from "../../helpers/s3-server.js";

let tmp: string;
let s3: TestS3Server;
const savedEnv = { ...process.env };

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "lf-storage-"));
  s3 = await startS3Server(["bucket"]);
  Object.assign(process.env, s3.env);
});
afterAll(async () => {
  process.env = savedEnv;
  await s3?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const kinds: [string, () => ObjectStorage][] = [
  ["a folder", () => new LocalStorage(join(tmp, "local"))],
  ["an S3 prefix", () => openStorage("s3://bucket/some/prefix")],
];

describe.each(kinds)("storage in %s", (_name, make) => {
  it("puts, gets, stats, lists and deletes objects by key", async () => {
    const st = make();
    try {
      expect(await st.get("a.txt")).toBeNull();
      expect(await st.stat("a.txt")).toBeNull();
      await st.put("a.txt", Buffer.from("hello"));
      await st.put("dir/b.bin", Buffer.from([1, 2, 3]));
      await st.put("dir/sub/c.bin", Buffer.from([4]));
      await st.put("a.txt", Buffer.from("hello again"));
      expect((await st.get("a.txt"))?.toString()).toBe("hello again");
      expect((await st.getRange("a.txt", 6, 5))?.toString()).toBe("again");
      expect((await st.getRange("a.txt", 9, 100))?.toString()).toBe("in");
      expect(await st.getRange("missing.txt", 0, 4)).toBeNull();
      expect(await st.stat("dir/b.bin")).toEqual({ key: "dir/b.bin", size: 3 });
      expect(await st.list("")).toEqual([
        { key: "a.txt", size: 11 },
        { key: "dir/b.bin", size: 3 },
        { key: "dir/sub/c.bin", size: 1 },
      ]);
      expect((await st.list("dir/")).map((o) => o.key)).toEqual(["dir/b.bin", "dir/sub/c.bin"]);
      expect((await st.list("dir/", { recursive: false })).map((o) => o.key)).toEqual(["dir/b.bin"]);
      expect((await st.list("", { recursive: false })).map((o) => o.key)).toEqual(["a.txt"]);
      expect(await st.list("nothing/")).toEqual([]);
      const file = join(tmp, `from-file-${st.kind}`);
      await writeFile(file, "from a file");
      await st.putFile("f.txt", file);
      expect((await st.get("f.txt"))?.toString()).toBe("from a file");
      await st.delete("dir/b.bin");
      await st.delete("dir/b.bin");
      expect(await st.get("dir/b.bin")).toBeNull();
      await expect(st.put("../escape", Buffer.from("x"))).rejects.toThrow(/not a storage key/);
    } finally {
      st.close();
    }
  });

  it("puts several objects at once, chunked or whole, and flushes objects put without waiting for the disk", async () => {
    const st = make();
    try {
      const tar = [Buffer.from("part one, "), Buffer.alloc(0), Buffer.from("part two")];
      await st.putAll([
        { key: "set/00001.tar", data: tar },
        { key: "set/00001.parquet", data: Buffer.from("index") },
      ]);
      expect((await st.get("set/00001.tar"))?.toString()).toBe("part one, part two");
      expect((await st.get("set/00001.parquet"))?.toString()).toBe("index");
      await st.put("images/000001/a.png", Buffer.from("a"), { durable: false });
      await st.put("images/000001/b.png", Buffer.from("bb"), { durable: false });
      await st.sync(["images/000001/a.png", "images/000001/b.png"]);
      await st.sync([]);
      expect((await st.list("images/")).map((o) => [o.key, o.size])).toEqual([
        ["images/000001/a.png", 1],
        ["images/000001/b.png", 2],
      ]);
    } finally {
      st.close();
    }
  });
});

describe("storage in a folder", () => {
  it("puts none of a set visible when one of them cannot be written, and leaves no temporary file", async () => {
    const root = join(tmp, "put-all");
    const st = new LocalStorage(root);
    await st.put("blocker", Buffer.from("a file where a folder would have to be"));
    await expect(
      st.putAll([
        { key: "ok.tar", data: Buffer.from("tar") },
        { key: "blocker/index.parquet", data: Buffer.from("index") },
      ]),
    ).rejects.toMatchObject({ code: "OUTPUT_FAILED" });
    expect(await readdir(root)).toEqual(["blocker"]);
  });

  it("writes into a folder again after it was removed behind its back", async () => {
    const root = join(tmp, "removed");
    const st = new LocalStorage(root);
    await st.put("images/000000/a.png", Buffer.from("a"));
    await rm(join(root, "images"), { recursive: true });
    await st.put("images/000000/b.png", Buffer.from("b"), { durable: false });
    await st.putAll([{ key: "images/000000/c.png", data: Buffer.from("c") }]);
    expect((await st.list("images/")).map((o) => o.key)).toEqual([
      "images/000000/b.png",
      "images/000000/c.png",
    ]);
  });

  it.skipIf(!existsSync("/proc/self/fd"))(
    "keeps at most MAX_HELD descriptors of files awaiting a flush, and lets each go on its sync, delete, replacement or close",
    async () => {
      const openFds = () => readdirSync("/proc/self/fd").length;
      /** Descriptors are let go in the background: waits (bounded) until at most `n` are open. */
      const settlesTo = async (n: number) => {
        for (let i = 0; i < 200 && openFds() > n; i++) await new Promise((r) => setTimeout(r, 10));
        return openFds();
      };
      const st = new LocalStorage(join(tmp, "held"));
      await st.put("warm-up", Buffer.from("makes the folder"));
      const base = openFds();
      const keys = Array.from({ length: MAX_HELD + 8 }, (_, i) => `images/000000/${i}.png`);
      // Eight at a time, as a batch's images come; the first MAX_HELD keep their descriptors.
      for (let i = 0; i < keys.length; i += 8) {
        await Promise.all(
          keys.slice(i, i + 8).map((k, j) => st.put(k, Buffer.from(`v1 ${i + j}`), { durable: false })),
        );
      }
      expect(await settlesTo(base + MAX_HELD)).toBe(base + MAX_HELD);
      // Replaced (durable or not) or deleted: the descriptor of the file before is let go.
      await st.put(keys[0], Buffer.from("v2 0"), { durable: false });
      await st.put(keys[1], Buffer.from("v2 1"));
      await st.delete(keys[2]);
      expect(await settlesTo(base + MAX_HELD - 2)).toBe(base + MAX_HELD - 2);
      // keys[0] and keys[3..64] were held; keys[1] is flushed through a descriptor of its own.
      await st.sync(keys.filter((k) => k !== keys[2]).slice(0, 64));
      expect(await settlesTo(base + MAX_HELD - 65)).toBe(base + MAX_HELD - 65);
      expect((await st.get(keys[0]))?.toString()).toBe("v2 0");
      expect((await st.get(keys[1]))?.toString()).toBe("v2 1");
      expect(await st.get(keys[2])).toBeNull();
      expect((await st.get(keys[3]))?.toString()).toBe("v1 3");
      st.close();
      expect(await settlesTo(base)).toBe(base);
      // Every file is there whole, under its own name, and nothing temporary is left.
      const names = await readdir(join(tmp, "held", "images", "000000"));
      expect(names.sort()).toEqual(
        keys
          .filter((k) => k !== keys[2])
          .map((k) => k.split("/")[2])
          .sort(),
      );
      await st.sync(keys.slice(100, 110));
    },
  );

  it("says which file could not be flushed", async () => {
    const st = new LocalStorage(join(tmp, "flush"));
    await expect(st.sync(["never-written.png"])).rejects.toThrow(/cannot flush .*never-written\.png/);
  });
});

describe("S3 storage", () => {
  it("uploads objects larger than a part as a multipart upload, byte for byte", async () => {
    const st = new S3Storage("s3://bucket/big", { ...s3SettingsFromEnv(), partSize: MIN_PART_SIZE });
    try {
      const data = randomBytes(MIN_PART_SIZE * 2 + 12345);
      await st.put("00000.tar", data);
      const back = await st.get("00000.tar");
      expect(back?.equals(data)).toBe(true);
      expect(await st.stat("00000.tar")).toEqual({ key: "00000.tar", size: data.length });
      // s3rver keeps unfinished uploads in a folder of their own: none is left.
      expect(await readdir(join(s3.directory, "bucket")).catch(() => [])).not.toContain("uploads");
    } finally {
      st.close();
    }
  });

  it("reads its settings from the usual AWS variables, flags first", () => {
    const env = {
      AWS_ENDPOINT_URL: "http://x:1",
      AWS_REGION: "eu-west-3",
      LATENT_FLEET_S3_PART_SIZE_MB: "16",
    };
    expect(s3SettingsFromEnv(env)).toEqual({
      endpoint: "http://x:1",
      region: "eu-west-3",
      partSize: 16 * 1024 * 1024,
    });
    expect(s3SettingsFromEnv(env, { region: "us-west-2", endpoint: undefined })).toMatchObject({
      endpoint: "http://x:1",
      region: "us-west-2",
    });
    expect(() => s3SettingsFromEnv({ LATENT_FLEET_S3_PART_SIZE_MB: "1" })).toThrow(/at least 5/);
    expect(parseS3Url("s3://my-bucket/a/b/")).toEqual({ bucket: "my-bucket", prefix: "a/b" });
    expect(() => parseS3Url("s3://")).toThrow(/s3:\/\/bucket\/prefix/);
  });
});
