/** Options that the coordinator and the worker both take, with the same meaning and limits. */
import { TOPOLOGY_DEFAULTS } from "../nats/topology-defaults.js";
import type {
  IntegerOptionDefinition,
  NumberOptionDefinition,
  TextOptionDefinition,
} from "./option-definition.js";

export const NATS_URL_OPTION = {
  type: "text",
  flag: "--nats",
  value: "<url>",
  required: true,
  help: "NATS server(s) with JetStream (nats://host:4222; several, comma-separated)",
} as const satisfies TextOptionDefinition;

/** A process started beside its NATS server (`run` starts them together) waits for it to listen. */
export const NATS_CONNECT_WAIT_OPTION = {
  type: "number",
  flag: "--nats-connect-wait",
  value: "<seconds>",
  min: 0,
  max: 3600,
  default: 0,
  help: "keep trying the first connection this long while nothing listens at the NATS address, then fail",
} as const satisfies NumberOptionDefinition;

export const METRICS_OPTION = {
  type: "text",
  flag: "--metrics",
  value: "<host:port>",
  help: "serve Prometheus metrics at http://HOST:PORT/metrics (port 0: a free one)",
} as const satisfies TextOptionDefinition;

/** Every command: how its log lines are written (src/common/log.ts). */
export const LOG_FORMAT_OPTION = {
  type: "text",
  flag: "--log-format",
  value: "<text|json>",
  env: "LF_LOG_FORMAT",
  unset: "json; `run` on a terminal: text",
  help: "log lines as text (time, level, message, key=value) or json (one object per line, for collectors)",
} as const satisfies TextOptionDefinition;

/**
 * `run`, `submit` (and `validate`): the job's failure tolerance (src/common/contract/failure-tolerance.ts).
 * No default here: left out, the spec's `max_failed` applies, else 0.
 */
export const MAX_FAILED_OPTION = {
  type: "text",
  flag: "--max-failed",
  value: "<N|P%>",
  unset: "the spec's max_failed, else 0",
  help:
    "failed samples + rejected rows the job may have and still succeed: a count, or a percentage of its " +
    "samples + rejected rows; overrides the spec's max_failed",
} as const satisfies TextOptionDefinition;

export const REPLICAS_OPTION = {
  type: "integer",
  flag: "--replicas",
  value: "<n>",
  min: 1,
  max: 5,
  unset: String(TOPOLOGY_DEFAULTS.replicas),
  help: "replicas of the NATS streams and bucket, for whichever process creates them first; 3 for a NATS cluster",
} as const satisfies IntegerOptionDefinition;
