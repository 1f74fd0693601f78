/**
 * Log records as a person reads them on a terminal: `12:01:02.345 INFO  worker started worker=w-0 batch=4`.
 * The time is the record's own (UTC, as in the JSON line), the level padded to one width, then the message
 * and the other fields as key=value; a value with spaces, quotes or `=` is written as a JSON string, and
 * objects as JSON, so a line stays one line and can still be split by eye or by a script.
 */

const PLAIN_VALUE = /^[^\s="]+$/;

function textValue(value: unknown): string {
  if (typeof value === "string")
    return value !== "" && PLAIN_VALUE.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/** One record (as its JSON line holds it: time, level, msg, then the fields) as a text line, no newline. */
export function formatTextRecord(record: Readonly<Record<string, unknown>>): string {
  const { time, level, msg, ...fields } = record;
  const clock = typeof time === "string" && time.length >= 23 ? time.slice(11, 23) : String(time ?? "");
  const head = `${clock} ${String(level ?? "")
    .toUpperCase()
    .padEnd(5)} ${String(msg ?? "")}`;
  const rest = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${textValue(v)}`);
  return rest.length === 0 ? head : `${head} ${rest.join(" ")}`;
}

/**
 * Lines of a JSON log (a child's log file) as text lines: a line that is not a log record (a native
 * library's own output, a stack trace) is kept as it is.
 */
export function jsonLogLinesAsText(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      if (!line.startsWith("{")) return line;
      try {
        const record = JSON.parse(line) as unknown;
        const isRecord =
          typeof record === "object" && record !== null && "msg" in record && "level" in record;
        return isRecord ? formatTextRecord(record as Record<string, unknown>) : line;
      } catch {
        return line;
      }
    })
    .join("\n");
}
