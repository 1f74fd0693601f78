/**
 * The Dockerfiles cannot be built here (no registry access), so these tests check what can go wrong
 * without a build: files they copy that are missing or left out of the build context, the user they run
 * as, the entry point, and the settings the Kubernetes manifests rely on.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/paths.js";

interface Instruction {
  op: string;
  args: string;
}

/** Instructions of a Dockerfile, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text
    .split("\n")
    .filter((line) => !line.trimStart().startsWith("#"))
    .join("\n")
    .replace(/\\\n/g, " ");
  return joined
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(" ") };
    });
}

/** ARG defaults, for ${NAME} in COPY sources. */
function argDefaults(all: Instruction[]): Map<string, string> {
  const args = new Map<string, string>();
  for (const { op, args: text } of all) {
    const m = /^(\w+)=(\S+)$/.exec(text);
    if (op === "ARG" && m) args.set(m[1], m[2]);
  }
  return args;
}

function substitute(text: string, args: Map<string, string>): string {
  return text.replace(/\$\{(\w+)\}/g, (all, name: string) => args.get(name) ?? all);
}

/** The final stage's instructions. */
function finalStage(all: Instruction[]): Instruction[] {
  const last = all.map((i) => i.op).lastIndexOf("FROM");
  return all.slice(last);
}

const dockerignore = readFileSync(join(ROOT, ".dockerignore"), "utf8")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));

/** Whether the build context has `path`: .dockerignore excludes everything, then lets entries back in. */
function inContext(path: string): boolean {
  const clean = path.replace(/^\.\//, "").replace(/\/$/, "");
  const top = clean.split("/")[0];
  return dockerignore.includes(`!${top}`) || dockerignore.includes(`!${clean}`);
}

describe(".dockerignore", () => {
  it("excludes everything but what the images build from", () => {
    expect(dockerignore[0]).toBe("**");
    for (const line of dockerignore.filter((l) => l.startsWith("!"))) {
      expect(existsSync(join(ROOT, line.slice(1))), line).toBe(true);
    }
    for (const built of ["node_modules", "dist", "out", ".git"]) expect(inContext(built), built).toBe(false);
  });
});

describe.each(["cpu", "cuda"])("Dockerfile.%s", (flavour) => {
  const text = readFileSync(join(ROOT, "deploy", "docker", `Dockerfile.${flavour}`), "utf8");
  const all = instructions(text);
  const args = argDefaults(all);
  const final = finalStage(all);

  it("is multi-stage on a Node.js LTS image the package supports", () => {
    expect(all.filter((i) => i.op === "FROM").length).toBeGreaterThanOrEqual(2);
    const node = Number(args.get("NODE_VERSION"));
    // Even majors are the LTS lines.
    expect(node % 2).toBe(0);
    const engines = (
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } }
    ).engines.node;
    expect(node).toBeGreaterThanOrEqual(Number(/>=\s*(\d+)/.exec(engines)?.[1]));
    expect(all.find((i) => i.op === "FROM")?.args).toMatch(/^node:\$\{NODE_VERSION\}-/);
  });

  it("copies only files that exist and are in the build context", () => {
    const copies = all.filter((i) => i.op === "COPY" && !i.args.includes("--from="));
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      const parts = substitute(copy.args, args)
        .split(/\s+/)
        .filter((p) => !p.startsWith("--"));
      for (const source of parts.slice(0, -1)) {
        expect(existsSync(join(ROOT, source)), `${copy.args}: ${source}`).toBe(true);
        expect(inContext(source), `${source} is left out by .dockerignore`).toBe(true);
      }
    }
  });

  it("runs the command as a numeric non-root user, the manifests' runAsUser", () => {
    const users = final.filter((i) => i.op === "USER");
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1].args;
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(":")[0])).toBe(1000);
    const worker = readFileSync(join(ROOT, "deploy", "k8s", "base", "worker.yaml"), "utf8");
    expect(worker).toMatch(/runAsUser: 1000\b/);
  });

  it("starts the package's bin with the sources the build compiles", () => {
    const entry = final.find((i) => i.op === "ENTRYPOINT")?.args ?? "";
    const [binary, script] = JSON.parse(entry) as string[];
    expect(binary).toBe("node");
    expect(script).toBe("/app/bin/latent-fleet.js");
    expect(existsSync(join(ROOT, "bin", "latent-fleet.js"))).toBe(true);
    // bin/latent-fleet.js loads dist/bundle/cli.cjs, which scripts/bundle.mjs makes of tsc's dist/src: the
    // build must keep tsconfig's rootDir and outDir, and bundle after compiling.
    const bin = readFileSync(join(ROOT, "bin", "latent-fleet.js"), "utf8");
    expect(bin).toContain("../dist/bundle/cli.cjs");
    expect(text).toContain('{"extends":"./tsconfig.build.json","include":["src"]}');
    expect(text.indexOf("node scripts/bundle.mjs")).toBeGreaterThan(
      text.indexOf("npx tsc -p tsconfig.image.json"),
    );
    expect(text.indexOf("npm prune --omit=dev")).toBeGreaterThan(text.indexOf("node scripts/bundle.mjs"));
    const build = JSON.parse(readFileSync(join(ROOT, "tsconfig.build.json"), "utf8")) as {
      compilerOptions: { rootDir: string; outDir: string };
    };
    expect(build.compilerOptions).toMatchObject({ rootDir: ".", outDir: "dist" });
    // Files the command reads at run time, beside its package.json.
    for (const needed of ["package.json", "bin", "proto"]) {
      expect(
        final.some((i) => i.op === "COPY" && i.args.split(/\s+/)[0] === needed),
        needed,
      ).toBe(true);
    }
  });
});

describe("Dockerfile.cuda", () => {
  const text = readFileSync(join(ROOT, "deploy", "docker", "Dockerfile.cuda"), "utf8");
  const all = instructions(text);

  it("installs ONNX Runtime's CUDA 12 provider and runs on a CUDA runtime image with cuDNN", () => {
    expect(text).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
    expect(text).toContain("libonnxruntime_providers_cuda.so");
    expect(argDefaults(all).get("CUDA_IMAGE")).toMatch(/^nvidia\/cuda:12\.[\d.]+-cudnn-runtime-/);
    expect(finalStage(all)[0].args).toBe(["$", "{CUDA_IMAGE}"].join(""));
  });
});

describe("Dockerfile.cpu", () => {
  it("bakes in a model folder that exists", () => {
    const all = instructions(readFileSync(join(ROOT, "deploy", "docker", "Dockerfile.cpu"), "utf8"));
    const model = argDefaults(all).get("MODEL_NAME");
    expect(model).toBeDefined();
    expect(existsSync(join(ROOT, "models", String(model), "model_index.json"))).toBe(true);
  });
});
