/**
 * Commander options built from option definitions (src/common/options): flags, parsers, environment
 * variables, help sections and help text all come from the definition. A value that does not parse is
 * INVALID_ARGUMENT (a bad argument's exit code) naming the flag and what it accepts.
 */
import { type Command, Option } from "commander";
import {
  compileOptions,
  describeOption,
  type OptionDefinition,
  type OptionDefinitions,
  type OptionValues,
  optionKey,
  parseOptionValue,
} from "../common/options/index.js";

const definitionOfOption = new WeakMap<Option, OptionDefinition>();

/** Adds the options, in their order, to the command. */
export function addDefinedOptions(cmd: Command, defs: OptionDefinitions): Command {
  for (const [key, def] of Object.entries(defs)) {
    if (optionKey(def.flag) !== key) {
      throw new Error(`option ${def.flag} is defined under the key ${key}, not ${optionKey(def.flag)}`);
    }
    const flags = def.type === "switch" ? def.flag : `${def.flag} ${def.value}`;
    const option = new Option(flags, describeOption(def));
    if (def.type === "integer" || def.type === "number") {
      option.argParser((text: string) => parseOptionValue(def, text));
    }
    if (def.type === "text" && def.required) option.makeOptionMandatory();
    if (def.env !== undefined) option.env(def.env);
    if (def.group !== undefined) option.helpGroup(def.group);
    cmd.addOption(option);
    definitionOfOption.set(option, def);
  }
  return cmd;
}

/** The definition a command's option was built from (undefined for one added otherwise, like --help). */
export function definitionOf(option: Option): OptionDefinition | undefined {
  return definitionOfOption.get(option);
}

/** The command's option values, parsed once, with defaults, frozen. */
export function commandOptions<T extends OptionDefinitions>(cmd: Command, defs: T): OptionValues<T> {
  return compileOptions(defs, cmd.opts());
}
