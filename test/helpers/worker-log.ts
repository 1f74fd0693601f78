/**
 * Reading a worker's log (JSON lines) for what the chaos and restart tests must show of a fault: which tasks of a job the
 * worker held (received, not yet ended) and whether it met an unusable output.
 */

interface LogLine {
  msg?: string;
  job?: string;
  shard?: string | number;
  delivery?: number;
  code?: string;
}

/** A delivery of one task: shard number and delivery count. */
export interface TaskDelivery {
  shard: string;
  delivery: number;
}

/** The lines of a task delivery's end (task-flow.ts): after any of them the worker holds it no more. */
const TASK_ENDS = new Set([
  "task done",
  "task failed; it goes back to the queue",
  "task cannot run; reported failed and terminated",
  "task left to its redelivery: NATS did not confirm this delivery within ack_wait",
  "task of a cancelled job skipped",
]);

/** The worker warns once per outage (output-outage.ts), naming the errno. */
const OUTAGE = "the output takes no writes; holding the tasks in hand and trying again";

function linesOf(output: string, jobId?: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const text of output.split("\n")) {
    if (!text.startsWith("{") || (jobId !== undefined && !text.includes(`"job":"${jobId}"`))) continue;
    try {
      lines.push(JSON.parse(text) as LogLine);
    } catch {
      // A line cut short by a kill: nothing to read from it.
    }
  }
  return lines;
}

const key = (l: LogLine) => `${l.shard}/${l.delivery}`;

/** The deliveries of `jobId` the worker received ("task received", debug level) and has not ended. */
export function tasksHeld(output: string, jobId: string): TaskDelivery[] {
  const held = new Map<string, TaskDelivery>();
  for (const l of linesOf(output, jobId)) {
    if (l.msg === "task received") held.set(key(l), { shard: String(l.shard), delivery: Number(l.delivery) });
    else if (l.msg !== undefined && TASK_ENDS.has(l.msg)) held.delete(key(l));
  }
  return [...held.values()];
}

/** The deliveries of `jobId` the worker finished ("task done"). */
export function tasksDone(output: string, jobId: string): TaskDelivery[] {
  return linesOf(output, jobId)
    .filter((l) => l.msg === "task done")
    .map((l) => ({ shard: String(l.shard), delivery: Number(l.delivery) }));
}

/** The errno codes of the unusable-output warnings in `output` (e.g. "ENOSPC", "EROFS ..."). */
export function outageCodes(output: string): string[] {
  return linesOf(output)
    .filter((l) => l.msg === OUTAGE)
    .map((l) => String(l.code));
}
