/** Command-line option definitions shared by the CLI and the roles whose defaults they are. */
export { COORDINATOR_OPTIONS } from "./coordinator-options.js";
export { CONTACT_SHEET_OPTIONS } from "./inspect-options.js";
export {
  compileOptions,
  describeOption,
  type OptionDefinition,
  type OptionDefinitions,
  type OptionValues,
  optionArgs,
  optionKey,
  parseOptionValue,
} from "./option-definition.js";
export {
  LOG_FORMAT_OPTION,
  MAX_FAILED_OPTION,
  METRICS_OPTION,
  NATS_CONNECT_WAIT_OPTION,
  NATS_URL_OPTION,
  REPLICAS_OPTION,
} from "./shared-options.js";
export { WORKER_OPTIONS } from "./worker-options.js";
