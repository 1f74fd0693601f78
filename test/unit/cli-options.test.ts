/**
 * Option definitions and the commands built from them: what `run` forwards, `coordinator` and `worker`
 * accept with the same default and limits; help text says each default and range as defined; values are
 * parsed once into a frozen object; the roles' defaults are the definitions'.
 */
import { Command, type Option } from "commander";
import { describe, expect, it } from "vitest";
import { registerCoordinator } from "../../src/cli/commands/coordinator.js";
import { registerRun } from "../../src/cli/commands/run.js";
import { registerSample } from "../../src/cli/commands/sample.js";
import { registerWorker } from "../../src/cli/commands/worker.js";
import { addDefinedOptions, definitionOf } from "../../src/cli/options.js";
import { RUN_FORWARDED } from "../../src/cli/run-options.js";
import { LatentFleetError } from "../../src/common/errors.js";
import {
  COORDINATOR_OPTIONS,
  compileOptions,
  describeOption,
  type OptionDefinition,
  type OptionDefinitions,
  optionArgs,
  WORKER_OPTIONS,
} from "../../src/common/options/index.js";
import { DEFAULT_SHARD_SIZE, MAX_SHARD_SIZE } from "../../src/coordinator/sharder.js";
import { DEFAULT_BATCH_SIZE } from "../../src/worker/worker.js";

/** The real `latent-fleet` commands, with actions that only record the options they were given. */
function program(): Command {
  const p = new Command("latent-fleet")
    .exitOverride()
    .configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  registerRun(p);
  registerCoordinator(p);
  registerWorker(p);
  registerSample(p);
  return p;
}

function command(p: Command, name: string): Command {
  const cmd = p.commands.find((c) => c.name() === name);
  if (!cmd) throw new Error(`no command ${name}`);
  return cmd;
}

function optionByFlag(cmd: Command, flag: string): Option {
  const option = cmd.options.find((o) => o.long === flag);
  if (!option) throw new Error(`${cmd.name()} has no ${flag}`);
  return option;
}

/** The definitions a command was built from, by key. */
function definitionsOf(cmd: Command): Record<string, OptionDefinition> {
  const defs: Record<string, OptionDefinition> = {};
  for (const o of cmd.options) {
    const def = definitionOf(o);
    if (def) defs[o.attributeName()] = def;
  }
  return defs;
}

/** Arguments a command needs besides the option under test. */
const REQUIRED: Record<string, string[]> = {
  run: ["job.yaml"],
  coordinator: ["--nats", "nats://127.0.0.1:4222"],
  worker: ["--nats", "nats://127.0.0.1:4222", "--model", "models/tiny-shapes"],
};

type Outcome = { values: Readonly<Record<string, unknown>> } | { error: string };

/** Parses `name` with `args` through the real definitions: the compiled values, or the refusal. */
async function parse(name: string, args: string[]): Promise<Outcome> {
  const p = program();
  const cmd = command(p, name);
  let values: Readonly<Record<string, unknown>> | undefined;
  cmd.action(() => {
    values = compileOptions(definitionsOf(cmd), cmd.opts());
  });
  try {
    await p.parseAsync([name, ...REQUIRED[name], ...args], { from: "user" });
  } catch (err) {
    if (err instanceof LatentFleetError) return { error: `${err.code}: ${err.message}` };
    throw err;
  }
  if (!values) throw new Error(`${name} did not run`);
  return { values };
}

function limitsOf(def: OptionDefinition) {
  return {
    type: def.type,
    default: "default" in def ? def.default : undefined,
    min: "min" in def ? def.min : undefined,
    max: "max" in def ? def.max : undefined,
  };
}

/** Values to try an option with: its limits, just past them, and not a number. */
function probes(def: OptionDefinition): string[] {
  if (def.type !== "integer" && def.type !== "number") return ["some-value"];
  return [def.min - 1, def.min, def.max, def.max + 1].map(String).concat(["x", "1.5"]);
}

const forwarded = Object.entries(RUN_FORWARDED) as [keyof typeof RUN_FORWARDED, OptionDefinitions][];

describe("what run forwards", () => {
  it("forwards at least one option to each child", () => {
    expect(forwarded.map(([child]) => child).sort()).toEqual(["coordinator", "worker"]);
    for (const [, defs] of forwarded) expect(Object.keys(defs).length).toBeGreaterThan(0);
  });

  for (const [child, defs] of forwarded) {
    for (const [key, def] of Object.entries(defs)) {
      it(`${def.flag}: ${child} has it under the same key, with the same default and limits`, () => {
        const p = program();
        const runOption = optionByFlag(command(p, "run"), def.flag);
        const childOption = optionByFlag(command(p, child), def.flag);
        expect(runOption.attributeName()).toBe(key);
        expect(childOption.attributeName()).toBe(key);
        const runDef = definitionOf(runOption);
        const childDef = definitionOf(childOption);
        expect(runDef).toBeDefined();
        expect(childDef).toBeDefined();
        expect(limitsOf(runDef as OptionDefinition)).toEqual(limitsOf(childDef as OptionDefinition));
        expect(runOption.flags).toBe(childOption.flags);
      });

      it(`${def.flag}: run accepts and refuses what ${child} does, with the same message`, async () => {
        for (const text of probes(def)) {
          const viaRun = await parse("run", [def.flag, text]);
          const viaChild = await parse(child, [def.flag, text]);
          if ("error" in viaChild) {
            expect(viaRun, `${def.flag} ${text}`).toEqual(viaChild);
          } else {
            expect("values" in viaRun && viaRun.values[key], `${def.flag} ${text}`).toBe(
              viaChild.values[key],
            );
          }
        }
        const unset = [await parse("run", []), await parse(child, [])];
        const [runValues, childValues] = unset.map((o) => ("values" in o ? o.values : {}));
        expect(runValues[key]).toBe(childValues[key]);
      });
    }

    it(`the command line run gives ${child} parses there to the values run was given`, async () => {
      const given = Object.values(defs).flatMap((def) =>
        def.type === "integer" || def.type === "number" ? [def.flag, String(def.max)] : [],
      );
      const viaRun = await parse("run", given);
      if (!("values" in viaRun)) throw new Error(viaRun.error);
      const args = optionArgs(defs, viaRun.values);
      const viaChild = await parse(child, args);
      if (!("values" in viaChild)) throw new Error(viaChild.error);
      for (const key of Object.keys(defs)) expect(viaChild.values[key], key).toBe(viaRun.values[key]);
    });
  }

  it("refuses --shard-size 5000 in run with the coordinator's message", async () => {
    const viaRun = await parse("run", ["--shard-size", "5000"]);
    expect(viaRun).toEqual(await parse("coordinator", ["--shard-size", "5000"]));
    expect(viaRun).toEqual({
      error: `INVALID_ARGUMENT: --shard-size must be an integer in [1, ${COORDINATOR_OPTIONS.shardSize.max}], got 5000`,
    });
  });
});

describe("help text", () => {
  function help(cmd: Command): string {
    // No wrapping: one line per option.
    return cmd.configureHelp({ helpWidth: 10_000 }).helpInformation();
  }

  it("shows each option's default and range as its definition has them", () => {
    const p = program();
    for (const name of ["run", "coordinator", "worker", "sample"]) {
      const cmd = command(p, name);
      const text = help(cmd);
      const defs = Object.values(definitionsOf(cmd));
      expect(defs.length, name).toBeGreaterThan(5);
      for (const def of defs) {
        const line = text
          .split("\n")
          .find((l) => l.trimStart().startsWith(`${def.flag} `) || l.trim() === def.flag);
        expect(line, `${name} ${def.flag}`).toBeDefined();
        expect(line, `${name} ${def.flag}`).toContain(describeOption(def));
        if ("default" in def && def.default !== undefined && def.default !== "") {
          expect(line).toContain(`default ${def.default}`);
        }
        if (def.type === "integer" || def.type === "number") {
          expect(line).toContain(`${def.min} to ${def.max}`);
        }
      }
    }
  });

  it("gives run and worker the one batch-size default, and run and coordinator the one shard-size range", () => {
    const p = program();
    const { batchSize } = WORKER_OPTIONS;
    const { shardSize } = COORDINATOR_OPTIONS;
    const batch = `(default ${batchSize.default}; ${batchSize.min} to ${batchSize.max})`;
    const shard = `(default ${shardSize.default}; ${shardSize.min} to ${shardSize.max})`;
    const lineOf = (name: string, flag: string) =>
      help(command(p, name))
        .split("\n")
        .find((l) => l.trimStart().startsWith(`${flag} `));
    expect(lineOf("run", "--batch-size")).toContain(batch);
    expect(lineOf("worker", "--batch-size")).toContain(batch);
    expect(lineOf("run", "--shard-size")).toContain(shard);
    expect(lineOf("coordinator", "--shard-size")).toContain(shard);
  });
});

describe("compiled options", () => {
  const defs = {
    count: { type: "integer", flag: "--count", value: "<n>", min: 1, max: 9, default: 3, help: "how many" },
    ratio: { type: "number", flag: "--ratio", value: "<r>", min: 0, max: 1, help: "what share" },
    name: { type: "text", flag: "--name", value: "<s>", required: true, help: "who" },
    dirs: { type: "list", flag: "--dirs", value: "<dir...>", help: "where" },
    quiet: { type: "switch", flag: "--quiet", help: "say less" },
    color: { type: "switch", flag: "--no-color", help: "plain text" },
  } as const satisfies OptionDefinitions;

  it("are the given values, defaults for the rest, frozen", () => {
    const o = compileOptions(defs, { name: "a", dirs: ["x", "y"], ratio: "0.5" });
    expect(o).toEqual({ count: 3, ratio: 0.5, name: "a", dirs: ["x", "y"], quiet: false, color: true });
    expect(Object.isFrozen(o)).toBe(true);
    expect(Object.isFrozen(o.dirs)).toBe(true);
    expect(() => compileOptions(defs, {})).toThrow(/--name is required/);
    expect(() => compileOptions(defs, { name: "a", count: "10" })).toThrow(
      /^--count must be an integer in \[1, 9\], got 10$/,
    );
  });

  it("go back to a command line that parses to the same values", async () => {
    const cmd = addDefinedOptions(new Command("x").exitOverride(), defs).action(() => undefined);
    const values = compileOptions(defs, {
      name: "a b",
      dirs: ["x", "y"],
      ratio: 0.25,
      count: 9,
      color: false,
    });
    cmd.parse(optionArgs(defs, values), { from: "user" });
    expect(compileOptions(defs, cmd.opts())).toEqual(values);
  });

  it("refuse a definition whose key is not its flag's", () => {
    const wrong = { batch: WORKER_OPTIONS.batchSize } as const satisfies OptionDefinitions;
    expect(() => addDefinedOptions(new Command("x"), wrong)).toThrow(
      /--batch-size is defined under the key batch/,
    );
  });
});

describe("the roles' defaults", () => {
  it("are the definitions'", () => {
    expect(DEFAULT_BATCH_SIZE).toBe(WORKER_OPTIONS.batchSize.default);
    expect(DEFAULT_SHARD_SIZE).toBe(COORDINATOR_OPTIONS.shardSize.default);
    expect(MAX_SHARD_SIZE).toBe(COORDINATOR_OPTIONS.shardSize.max);
  });
});
