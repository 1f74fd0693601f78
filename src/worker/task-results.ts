/**
 * What a worker reports for a task: its samples resolved to engine requests, the per-sample results, and
 * the publish/ack calls that end a task. Pure shaping, apart from the last two.
 */
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { SampleRequest } from "../common/contract/sample.js";
import { isLatentFleetError, LatentFleetError } from "../common/errors.js";
import { errorMessage, type Logger } from "../common/log.js";
import { publishResult } from "../common/nats/results.js";
import type { SampleResult__Input } from "../common/proto/generated/latentfleet/v1/SampleResult.js";
import type { Task } from "../common/proto/generated/latentfleet/v1/Task.js";
import type { TaskResult__Input } from "../common/proto/generated/latentfleet/v1/TaskResult.js";
import type { ModelDescription } from "../engine/pipeline.js";
import { checkSampleId } from "../outputs/index.js";
import type { JobEntry, SampleOutcome } from "./batcher.js";
import { tryResolveSample } from "./resolve.js";

/** The samples of a task skipped or given up, all failed with one reason. */
export function failedSamples(task: Task, code: string, message: string): SampleResult__Input[] {
  return task.samples.map((s) => ({
    sample_id: s.sample_id,
    index: s.index,
    ok: false,
    file_name: "",
    error: message,
    error_code: code,
  }));
}

/**
 * Each sample as the batcher takes it: a request, or the error that keeps it from running (a bad id or
 * setting fails that sample alone). `requests[i]` is the request, undefined for those that failed here.
 */
export function resolveTaskSamples(
  task: Task,
  model: Pick<ModelDescription, "name" | "vaeScale" | "nativeSize" | "defaultScheduler">,
): { entries: JobEntry[]; requests: (SampleRequest | undefined)[] } {
  const requests: (SampleRequest | undefined)[] = [];
  const entries: JobEntry[] = task.samples.map((spec) => {
    let resolved: JobEntry;
    try {
      checkSampleId(spec.sample_id);
      resolved = tryResolveSample(spec, model);
    } catch (err) {
      resolved = isLatentFleetError(err) ? err : new LatentFleetError("INVALID_ARGUMENT", errorMessage(err));
    }
    requests.push(resolved instanceof LatentFleetError ? undefined : resolved);
    return resolved;
  });
  return { entries, requests };
}

export function sampleResults(
  task: Task,
  outcomes: SampleOutcome[],
  fileNames: string[],
): SampleResult__Input[] {
  return outcomes.map((outcome, i) => ({
    sample_id: task.samples[i].sample_id,
    index: task.samples[i].index,
    ok: outcome.ok,
    file_name: fileNames[i],
    error: outcome.ok ? "" : outcome.message,
    error_code: outcome.ok ? "" : outcome.code,
  }));
}

/** publishResult, tried three times over a few seconds (a reconnect in progress). */
export async function publishResultWithRetry(
  js: JetStreamClient,
  result: TaskResult__Input,
  log: Logger,
): Promise<void> {
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    try {
      await publishResult(js, result);
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
      log.warn("publishing a task result failed; retrying", { error: errorMessage(err), attempt });
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

/** Acks and waits for the server's confirmation; an unconfirmed ack only costs a redelivery. */
export async function ackConfirmed(msg: JsMsg, log: Logger): Promise<void> {
  try {
    await msg.ackAck({ timeout: 5000 });
  } catch (err) {
    // The task will be redelivered and its identical outputs rewritten: wasted work, nothing wrong.
    log.warn("ack not confirmed", { error: errorMessage(err) });
  }
}
