/**
 * What `run` shows of its processes when something went wrong: the child that ended the run, with its last
 * log lines, in the error; the other children's tails at the end; each child's tail once at most.
 */
import { LatentFleetError } from "../../common/errors.js";
import { currentLogFormat } from "../../common/log.js";
import { jsonLogLinesAsText } from "../../common/log-text.js";
import { type ChildFailure, logTail, type Restart } from "../supervisor.js";

/** Lines of a child's log shown when it failed. */
const TAIL_LINES = 5;

export class ChildFailureReport {
  /** Children whose last lines are in an error message already. */
  private readonly tailShown = new Set<string>();

  /** One message for the child that ended the run: which, how, why it was not restarted, and its log. */
  async error(f: ChildFailure): Promise<LatentFleetError> {
    this.tailShown.add(f.name);
    const why = f.gaveUp ? `: ${f.gaveUp}` : " before the job ended";
    const tail = readable(
      f.logFile
        ? await logTail(f.logFile, TAIL_LINES)
        : (f.logText ?? "").split("\n").slice(-TAIL_LINES).join("\n"),
    );
    const last = tail ? `; its last lines:\n${tail}` : "";
    const where = f.logFile ? `${tail ? "\n" : "; "}its log: ${f.logFile}` : "";
    return new LatentFleetError("PROCESS_FAILED", `${f.name} ${f.how}${why}${last}${where}`);
  }

  /** The last lines of each log not shown yet, under its child's name. */
  async printTails(
    logs: readonly { name: string; logFile: string }[],
    out: NodeJS.WritableStream,
  ): Promise<void> {
    for (const { name, logFile } of logs) {
      if (this.tailShown.has(name)) continue;
      const tail = readable(await logTail(logFile, TAIL_LINES));
      if (tail) out.write(`--- ${name} (last lines) ---\n${tail}\n`);
    }
  }
}

/** ", worker-1 killed by SIGKILL and restarted" for the summary line; "" when nothing crashed. */
export function restartsLine(restarts: readonly Restart[]): string {
  return restarts.map((r) => `, ${r.name} ${r.how} and restarted`).join("");
}

/** A child's JSON log lines as `run` shows its own: text lines with --log-format text (or at a terminal). */
function readable(tail: string): string {
  return currentLogFormat() === "text" ? jsonLogLinesAsText(tail) : tail;
}
