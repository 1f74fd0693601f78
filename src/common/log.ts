/**
 * The logger of every Latent Fleet process: one JSON object per line on stderr (`time`, `level`, `msg`, then
 * the fields), the shape log collectors (Loki, Cloud Logging, `kubectl logs | jq`) read without a parser;
 * or, for a person at a terminal (`--log-format text`), the same record as one readable line (log-text.ts).
 * No dependency: a process logs a few lines per task, so a plain synchronous write is plenty.
 */
import { formatTextRecord } from "./log-text.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** json: one object per line (collectors); text: time, level, message, key=value (people). */
export type LogFormat = "json" | "text";

export const LOG_FORMATS: readonly LogFormat[] = ["json", "text"];

export function parseLogFormat(text: string | undefined): LogFormat | undefined {
  const t = text?.trim().toLowerCase();
  return t === "json" || t === "text" ? t : undefined;
}

/** The format of loggers created without one: set once by the CLI from --log-format. */
let processLogFormat: LogFormat = "json";

export function setLogFormat(format: LogFormat): void {
  processLogFormat = format;
}

export function currentLogFormat(): LogFormat {
  return processLogFormat;
}

export interface LoggerOptions {
  /** Lowest level written (default: info, or LF_LOG_LEVEL). */
  level?: LogLevel;
  /** Where lines go (default: process.stderr). */
  write?: (line: string) => void;
  /** Default: the process's (setLogFormat), JSON unless the CLI was told otherwise. */
  format?: LogFormat;
}

export function parseLogLevel(text: string | undefined): LogLevel | undefined {
  const t = text?.trim().toLowerCase();
  return t === "debug" || t === "info" || t === "warn" || t === "error" ? t : undefined;
}

export function createLogger(base: LogFields = {}, opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? parseLogLevel(process.env.LF_LOG_LEVEL) ?? "info";
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  const format = opts.format ?? processLogFormat;
  const make = (fields: LogFields): Logger => {
    const emit = (lvl: LogLevel, msg: string, extra?: LogFields) => {
      if (RANK[lvl] < RANK[level]) return;
      const record = { time: new Date().toISOString(), level: lvl, msg, ...fields, ...extra };
      const json = JSON.stringify(record, replacer);
      // Text goes through the JSON form: the same redaction, errors and bigints written the same way.
      write(`${format === "json" ? json : formatTextRecord(JSON.parse(json) as Record<string, unknown>)}\n`);
    };
    return {
      debug: (msg, extra) => emit("debug", msg, extra),
      info: (msg, extra) => emit("info", msg, extra),
      warn: (msg, extra) => emit("warn", msg, extra),
      error: (msg, extra) => emit("error", msg, extra),
      child: (more) => make({ ...fields, ...more }),
    };
  };
  return make(base);
}

/** A logger that drops everything (tests, embedding). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/** Fields whose text values are secrets: never written, whatever logs them. */
const SECRET_FIELD = /pass(word|wd)?$|secret|token|nkey|creds|credential|authori[sz]ation|private_?key/i;
/** scheme://userinfo@ in URLs (nats://user:pass@host, nats://token@host). */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^@/\s,]*)@/gi;

/** `text` with the passwords and tokens of the URLs in it replaced by "***" (the user name stays). */
export function redactCredentials(text: string): string {
  return text.replace(URL_USERINFO, (_m, scheme: string, info: string) => {
    const colon = info.indexOf(":");
    return colon < 0 ? `${scheme}***@` : `${scheme}${info.slice(0, colon)}:***@`;
  });
}

/**
 * Errors as {code, message}; bigints as strings (JSON.stringify throws on them); secrets out: the values
 * of secret-named fields, and credentials written in URLs.
 */
function replacer(key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string") return SECRET_FIELD.test(key) ? "[redacted]" : redactCredentials(value);
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    const message = redactCredentials(value.message);
    return code === undefined ? { message } : { code, message };
  }
  return value;
}

/** The message of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
