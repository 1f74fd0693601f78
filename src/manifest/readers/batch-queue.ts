/**
 * Event-emitting parsers (readline, csv-parse) -> an async sequence of batches. One await per batch instead
 * of one per row is most of the expansion's speed; pausing the source while a full batch waits keeps memory
 * bounded (a batch, plus what the source had already decoded from its current chunk).
 */
export const BATCH_SIZE = 1024;

export class BatchQueue<T> {
  private batch: T[] = [];
  private done = false;
  private failed = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(
    private readonly pause: () => void,
    private readonly resume: () => void,
  ) {}

  readonly push = (item: T): void => {
    if (this.done) return; // a source may still emit what it had decoded before it failed
    this.batch.push(item);
    if (this.batch.length >= BATCH_SIZE) this.pause();
    this.notify();
  };

  readonly end = (): void => {
    this.done = true;
    this.notify();
  };

  /** The items pushed before the failure are delivered first, then the error is thrown. */
  readonly fail = (err: unknown): void => {
    if (!this.failed) {
      this.failed = true;
      this.error = err;
    }
    this.end();
  };

  async *batches(): AsyncGenerator<T[], void, undefined> {
    for (;;) {
      if (this.batch.length > 0) {
        const out = this.batch;
        this.batch = [];
        if (!this.done) this.resume(); // (a closed readline throws on resume)
        yield out;
      } else if (this.failed) {
        throw this.error;
      } else if (this.done) {
        return;
      } else {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
