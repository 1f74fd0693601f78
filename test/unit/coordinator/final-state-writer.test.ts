/** The final-state write on its own: the record it writes, its tries after failures, and its stop. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../../src/common/log.js";
import { FinalStateWriter, type RecordChange } from "../../../src/coordinator/final-state-writer.js";
import { snapshotFromRecord } from "../../../src/coordinator/job-snapshot.js";
import type { CoordinatorJobRecord } from "../../../src/coordinator/job-store.js";
import { runningJobRecord } from "../../helpers/job-records.js";

afterEach(() => {
  vi.useRealTimers();
});

/** A writer over an in-memory record whose first `failures` updates throw. */
function writerOver(record: CoordinatorJobRecord, failures: number) {
  const state = { record, updates: 0, written: 0 };
  const counts = { ...snapshotFromRecord(record), samplesDone: 7, samplesFailed: 1, shardsDone: 2 };
  const writer = new FinalStateWriter({
    update: async (change: RecordChange) => {
      if (++state.updates <= failures) throw new Error("the bucket did not answer");
      state.record = change(state.record) ?? state.record;
    },
    snapshot: () => counts,
    onWritten: async (written) => {
      expect(written).toBe(counts);
      state.written++;
    },
    log: silentLogger,
  });
  return { writer, state };
}

describe("FinalStateWriter", () => {
  it("writes the state, the error and the counts, then calls onWritten once", async () => {
    const { writer, state } = writerOver(runningJobRecord("w1"), 0);
    await writer.write("FAILED", "1 of 8 samples failed");
    expect(state.record).toMatchObject({
      state: "FAILED",
      error: "1 of 8 samples failed",
      samples_done: 7,
      samples_failed: 1,
      shards_done: 2,
    });
    expect(state.record.finished_at_ms).toBeGreaterThan(0);
    expect(state.written).toBe(1);
  });

  it("leaves a record that already has a final state as it is", async () => {
    const { writer, state } = writerOver({ ...runningJobRecord("w2"), state: "CANCELLED" }, 0);
    await writer.write("SUCCEEDED");
    expect(state.record.state).toBe("CANCELLED");
    expect(state.record.samples_done).toBeUndefined();
  });

  it("tries again after 1 s, then 2 s, until the write lands", async () => {
    vi.useFakeTimers();
    const { writer, state } = writerOver(runningJobRecord("w3"), 2);
    await writer.write("SUCCEEDED");
    expect({ updates: state.updates, written: state.written }).toEqual({ updates: 1, written: 0 });
    await vi.advanceTimersByTimeAsync(999);
    expect(state.updates).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect({ updates: state.updates, written: state.written }).toEqual({ updates: 2, written: 0 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect({ updates: state.updates, written: state.written }).toEqual({ updates: 3, written: 1 });
    expect(state.record.state).toBe("SUCCEEDED");
  });

  it("tries no more once stopped", async () => {
    vi.useFakeTimers();
    const { writer, state } = writerOver(runningJobRecord("w4"), 5);
    await writer.write("SUCCEEDED");
    writer.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect({ updates: state.updates, written: state.written }).toEqual({ updates: 1, written: 0 });
    expect(state.record.state).toBe("RUNNING");
  });
});
