/** The `latent-fleet` command. */
import { Command, CommanderError } from "commander";
import { EXIT_CODES, exitCodeFor, isLatentFleetError, LatentFleetError } from "../common/errors.js";
import { LOG_FORMATS, type LogFormat, parseLogFormat, setLogFormat } from "../common/log.js";
import { LOG_FORMAT_OPTION } from "../common/options/index.js";
import { packageVersion } from "../common/package-root.js";
import { releaseEarlyEngineThread, startEngineThreadEarly } from "../engine/engine-host.js";
import { addDefinedOptions } from "./options.js";

type Register = (program: Command) => void;

/**
 * Each command's module, loaded when needed: a process loads the command it runs, not the others (the
 * coordinator and worker processes of `run` start sooner without the engine, S3 or gRPC client code of
 * commands they do not run). In help order; one module may register several commands.
 */
const COMMAND_MODULES: { names: readonly string[]; load: () => Promise<Register>; engine?: true }[] = [
  { names: ["run"], load: async () => (await import("./commands/run.js")).registerRun },
  { names: ["validate"], load: async () => (await import("./commands/validate.js")).registerValidate },
  {
    names: ["coordinator"],
    load: async () => (await import("./commands/coordinator.js")).registerCoordinator,
  },
  {
    names: ["worker"],
    load: async () => (await import("./commands/worker.js")).registerWorker,
    engine: true,
  },
  {
    names: ["submit", "status", "watch", "cancel", "jobs"],
    load: async () => (await import("./commands/jobs-client.js")).registerJobClientCommands,
  },
  {
    names: ["sample"],
    load: async () => (await import("./commands/sample.js")).registerSample,
    engine: true,
  },
  { names: ["inspect"], load: async () => (await import("./commands/inspect.js")).registerInspect },
  { names: ["model"], load: async () => (await import("./commands/model.js")).registerModel },
];

/** The modules for this command line: the named command's, or all of them (help, an unknown command). */
async function loadCommands(program: Command, argv: string[]): Promise<void> {
  const named = COMMAND_MODULES.find((m) => m.names.includes(argv[2] ?? ""));
  // A command that runs the engine starts its thread first: ONNX Runtime loads beside the command's code.
  // bin/latent-fleet.js may have started it already, under the same condition: then this takes it.
  if (named?.engine && !argv.some((a) => a === "--help" || a === "-h")) startEngineThreadEarly();
  for (const m of named ? [named] : COMMAND_MODULES) (await m.load())(program);
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await runCommand(argv);
  } finally {
    // A command that ended before its engine took the early thread (a bad model folder, say) ends it here.
    await releaseEarlyEngineThread();
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const program = new Command("latent-fleet")
    .description("Generate image datasets with latent diffusion models, on one machine or a fleet of GPUs.")
    .version(packageVersion())
    .exitOverride()
    // Commander's own errors (unknown command or option, missing argument): one line, exit 2 below.
    .configureOutput({ outputError: (text, write) => write(`${oneLine(text)}\n`) });
  await loadCommands(program, argv);
  for (const cmd of program.commands) addDefinedOptions(cmd, { logFormat: LOG_FORMAT_OPTION });
  program.hook("preAction", (_program, action) => setLogFormat(logFormatOf(action)));
  try {
    await program.parseAsync(argv, { from: "node" });
    // A command that finished but did not succeed (a job that ended FAILED, Ctrl-C) set its own code.
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    // --help and --version end with 0; every other commander error is a usage problem.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.badArguments;
    if (isLatentFleetError(err)) {
      process.stderr.write(`latent-fleet: ${err.message} [${err.code}]\n`);
      return exitCodeFor(err);
    }
    process.stderr.write(
      `latent-fleet: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return exitCodeFor(err);
  }
}

/**
 * The command's log format: as given, else JSON (what collectors read), except for `run` at a terminal,
 * where a person reads it.
 */
function logFormatOf(cmd: Command): LogFormat {
  const given = cmd.opts<{ logFormat?: string }>().logFormat;
  if (given === undefined) return cmd.name() === "run" && process.stderr.isTTY ? "text" : "json";
  const format = parseLogFormat(given);
  if (format === undefined) {
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `${LOG_FORMAT_OPTION.flag} must be one of ${LOG_FORMATS.join(", ")}, got ${JSON.stringify(given)}`,
    );
  }
  return format;
}

/** Commander adds its "(Did you mean ...?)" on a line of its own: kept, on the error's line. */
function oneLine(text: string): string {
  return text
    .trim()
    .split(/\s*\n\s*/)
    .join(" ");
}

// No top-level await: the bundle that runs this is a CommonJS script (scripts/bundle.mjs).
void main(process.argv).then((code) => {
  process.exitCode = code;
});
