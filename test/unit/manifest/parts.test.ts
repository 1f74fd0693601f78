import { describe, expect, it } from "vitest";
import { FieldError } from "../../../src/manifest/errors.js";
import { checkReservedId, defaultRowId, IdRegistry } from "../../../src/manifest/ids.js";
import { deriveRowSeed } from "../../../src/manifest/seeds.js";
import { closestKey } from "../../../src/manifest/suggest.js";
import { expandTemplate, parseTemplate } from "../../../src/manifest/template.js";

/** The documented seed derivation, written the plain way with BigInt. */
function referenceSeed(jobSeed: number, rowIndex: number): number {
  const M = (1n << 64n) - 1n;
  let z = (BigInt(jobSeed) + BigInt(rowIndex + 1) * 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  z ^= z >> 31n;
  return Number(z >> 16n);
}

describe("deriveRowSeed", () => {
  it("is splitmix64's (r + 1)-th output for the job seed, top 48 bits", () => {
    // splitmix64 seeded with 0 first gives 0xE220A8397B1DCDAF (the published reference value).
    expect(deriveRowSeed(0, 0)).toBe(Number(0xe220a8397b1dcdafn >> 16n));
    expect(deriveRowSeed(42, 0)).toBe(208731956981739);
    expect(deriveRowSeed(42, 1)).toBe(45010774110822);
  });

  it("matches the BigInt reference over edge and random inputs, and stays below 2^48", () => {
    let state = 12345;
    const rand = (bits: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return Math.floor((state / 2 ** 32) * 2 ** bits);
    };
    const seeds = [0, 1, 42, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
    const rows = [0, 1, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 40];
    for (let i = 0; i < 2000; i++) {
      seeds.push(rand(32) * 2 ** 21 + rand(21));
      rows.push(rand(36));
    }
    for (let i = 0; i < seeds.length; i++) {
      const [j, r] = [seeds[i], rows[i % rows.length]];
      const s = deriveRowSeed(j, r);
      expect(s, `seed ${j}, row ${r}`).toBe(referenceSeed(j, r));
      expect(s).toBeLessThan(2 ** 48);
    }
  });
});

describe("templates", () => {
  it("expand in listed order, the first variable slowest, repeating a variable as often as used", () => {
    const parsed = parseTemplate("{a}-{b}-{a}", "t");
    const vars = [
      { name: "a", values: ["1", "2"] },
      { name: "b", values: ["x", "y", "z"] },
    ];
    expect([...expandTemplate(parsed, vars)]).toEqual(["1-x-1", "1-y-1", "1-z-1", "2-x-2", "2-y-2", "2-z-2"]);
  });

  it("write {{ and }} as literal braces, and refuse stray ones", () => {
    expect([...expandTemplate(parseTemplate("{{x}} {v}", "t"), [{ name: "v", values: ["1"] }])]).toEqual([
      "{x} 1",
    ]);
    expect([...expandTemplate(parseTemplate("no vars", "t"), [])]).toEqual(["no vars"]);
    expect(() => parseTemplate("a } b", "t")).toThrow(/unmatched "}" at character 3/);
    expect(() => parseTemplate("a {b c}", "t")).toThrow(FieldError);
  });

  it("are lazy: a huge product costs nothing until read", () => {
    const vars = Array.from({ length: 8 }, (_, i) => ({
      name: `v${i}`,
      values: Array.from({ length: 100 }, (_, j) => String(j)),
    }));
    const parsed = parseTemplate(vars.map((v) => `{${v.name}}`).join(" "), "t");
    const it = expandTemplate(parsed, vars);
    expect(it.next().value).toBe("0 0 0 0 0 0 0 0");
    expect(it.next().value).toBe("0 0 0 0 0 0 0 1");
  });
});

describe("row ids", () => {
  it("default to r + the row index in 9 digits", () => {
    expect(defaultRowId(42)).toBe("r000000042");
    expect(defaultRowId(1_234_567_890)).toBe("r1234567890");
  });

  it("reserve the default form for the row it belongs to", () => {
    expect(() => checkReservedId("r000000007", 7)).not.toThrow();
    expect(() => checkReservedId("r000000007", 8)).toThrow(/reserved/);
    expect(() => checkReservedId("R000000007", 8)).toThrow(/reserved/);
    expect(() => checkReservedId("r7", 8)).not.toThrow();
  });

  it("are checked for duplicates, ignoring case, in a table that grows", () => {
    const ids = new IdRegistry();
    let fresh = 0;
    for (let i = 0; i < 200_000; i++) if (ids.add(`item-${i}`) === "new") fresh++;
    expect(fresh).toBe(200_000);
    expect(ids.add("ITEM-123")).toBe("duplicate");
    expect(ids.add("item-199999")).toBe("duplicate");
    expect(ids.add("item-200000")).toBe("new");
    expect(ids.size).toBe(200_001);
  });
});

describe("closestKey", () => {
  it("suggests near keys only", () => {
    const keys = ["model", "seed", "guidance_scale", "negative_prompt"];
    expect(closestKey("sed", keys)).toBe("seed");
    expect(closestKey("Model", keys)).toBe("model");
    expect(closestKey("guidance", keys)).toBe("guidance_scale");
    expect(closestKey("negative-promt", keys)).toBe("negative_prompt");
    expect(closestKey("zzzzzz", keys)).toBeUndefined();
  });
});
