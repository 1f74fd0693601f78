/**
 * One definition per command-line option: its flag, value type and limits, default, environment variable
 * and help. The CLI builds its commands from the definitions and the roles take their defaults from them,
 * so a default or a limit is written once; the help text is generated from the definition (default and
 * limits appended), so it cannot say something else. Nothing here knows commander.
 */
import { LatentFleetError } from "../errors.js";

interface OptionBase {
  /** The long flag, "--batch-size"; the option's key is its camelCase name ("batchSize"; "--no-x": "x"). */
  readonly flag: string;
  /** What the option does, without its default or limits (those are appended). */
  readonly help: string;
  /** What leaving the option out means when that is no single value ("all cores"), for the help text. */
  readonly unset?: string;
  /** Environment variable the value is read from when the flag is not given. */
  readonly env?: string;
  /** Heading of the help section the option is listed under (default: the command's options). */
  readonly group?: string;
}

interface Bounded {
  readonly min: number;
  readonly max: number;
  readonly default?: number;
  /** The value's name in help: "<n>". */
  readonly value: string;
}

export interface IntegerOptionDefinition extends OptionBase, Bounded {
  readonly type: "integer";
}

export interface NumberOptionDefinition extends OptionBase, Bounded {
  readonly type: "number";
}

export interface TextOptionDefinition extends OptionBase {
  readonly type: "text";
  readonly value: string;
  readonly default?: string;
  readonly required?: boolean;
}

/** Takes one value or more ("--allow-path A B"), and may be repeated. */
export interface ListOptionDefinition extends OptionBase {
  readonly type: "list";
  readonly value: string;
}

/** No value: given or not. A "--no-x" switch is on unless given. */
export interface SwitchOptionDefinition extends OptionBase {
  readonly type: "switch";
}

export type OptionDefinition =
  | IntegerOptionDefinition
  | NumberOptionDefinition
  | TextOptionDefinition
  | ListOptionDefinition
  | SwitchOptionDefinition;

export type OptionDefinitions = Readonly<Record<string, OptionDefinition>>;

type ValueOf<D> = D extends { type: "integer" | "number" }
  ? number
  : D extends { type: "list" }
    ? readonly string[]
    : D extends { type: "switch" }
      ? boolean
      : string;

/** True for an option that always has a value: a default, required, or a switch. */
type AlwaysSet<D> = D extends { default: unknown }
  ? true
  : D extends { required: true }
    ? true
    : D extends { type: "switch" }
      ? true
      : false;

/** A command's options as parsed: those with a default or required always present, the others optional. */
export type OptionValues<T extends OptionDefinitions> = {
  readonly [K in keyof T as AlwaysSet<T[K]> extends true ? K : never]: ValueOf<T[K]>;
} & {
  readonly [K in keyof T as AlwaysSet<T[K]> extends true ? never : K]?: ValueOf<T[K]>;
};

/** The key an option's value goes under: "--batch-size" -> "batchSize", "--no-metrics" -> "metrics". */
export function optionKey(flag: string): string {
  return flag.replace(/^--(no-)?/, "").replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** "--no-x": on unless given. */
export function isNegatedSwitch(def: OptionDefinition): boolean {
  return def.type === "switch" && def.flag.startsWith("--no-");
}

/** The option's value from its text; INVALID_ARGUMENT naming the flag and what it accepts. */
export function parseOptionValue(def: OptionDefinition, text: string): number | string {
  if (def.type !== "integer" && def.type !== "number") return text;
  const trimmed = text.trim();
  const n = Number(trimmed);
  const wellFormed =
    def.type === "integer"
      ? /^-?\d+$/.test(trimmed) && Number.isSafeInteger(n)
      : trimmed !== "" && Number.isFinite(n);
  if (!wellFormed || n < def.min || n > def.max) {
    const got = /^-?\d+(\.\d+)?$/.test(trimmed) ? trimmed : JSON.stringify(text);
    throw new LatentFleetError(
      "INVALID_ARGUMENT",
      `${def.flag} must be ${def.type === "integer" ? "an integer" : "a number"} in [${def.min}, ${def.max}], got ${got}`,
    );
  }
  return n;
}

/** The help text: what it does, then its default (or what leaving it out means) and its limits. */
export function describeOption(def: OptionDefinition): string {
  const notes: string[] = [];
  const value = "default" in def ? def.default : undefined;
  if (value === "") notes.push("default: none");
  else if (value !== undefined) notes.push(`default ${value}`);
  else if (def.unset !== undefined) notes.push(`default: ${def.unset}`);
  if (def.type === "integer" || def.type === "number") notes.push(`${def.min} to ${def.max}`);
  return notes.length === 0 ? def.help : `${def.help} (${notes.join("; ")})`;
}

/**
 * The values of a command's options, once: each given value (already parsed, or text to parse), defaults
 * for the others, frozen. A required option left out is INVALID_ARGUMENT.
 */
export function compileOptions<T extends OptionDefinitions>(
  defs: T,
  given: Readonly<Record<string, unknown>>,
): OptionValues<T> {
  const values: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(defs)) {
    let value = given[key];
    if (typeof value === "string" && def.type !== "text") value = parseOptionValue(def, value);
    if (value === undefined && "default" in def) value = def.default;
    if (value === undefined && def.type === "switch") value = isNegatedSwitch(def);
    if (value === undefined && def.type === "text" && def.required) {
      throw new LatentFleetError("INVALID_ARGUMENT", `${def.flag} is required`);
    }
    if (Array.isArray(value)) value = Object.freeze([...value]);
    if (value !== undefined) values[key] = value;
  }
  return Object.freeze(values) as OptionValues<T>;
}

/** The command line that gives these values to a command built from the same definitions. */
export function optionArgs<T extends OptionDefinitions>(
  defs: T,
  values: { readonly [K in keyof T]?: unknown },
): string[] {
  const args: string[] = [];
  for (const [key, def] of Object.entries(defs)) {
    const value = values[key];
    if (value === undefined) continue;
    if (def.type === "switch") {
      // Only a value other than the switch's default needs saying.
      if (value !== isNegatedSwitch(def)) args.push(def.flag);
    } else if (def.type === "list") {
      for (const item of value as readonly string[]) args.push(def.flag, item);
    } else {
      args.push(def.flag, String(value));
    }
  }
  return args;
}
