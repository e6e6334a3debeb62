/**
 * Records when each token was last used, in memory, and writes the times in batches: one
 * statement per flush (per 500 tokens), every few seconds and at shutdown — never one write per
 * validation, which would put a database write on the registry's hot path. A time never moves
 * backwards, here or in the database (another replica may have written a later one).
 */
export interface LastUsedSink {
  recordLastUsed(times: ReadonlyMap<number, Date>): Promise<number>;
}

export interface LastUsedRecorderOptions {
  flushIntervalMs: number;
  now?: () => number;
  onFlushError?: (e: unknown) => void;
}

export class LastUsedRecorder {
  private pending = new Map<number, number>();
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(
    private readonly sink: LastUsedSink,
    private readonly options: LastUsedRecorderOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  record(tokenId: number, atMs = this.now()): void {
    const previous = this.pending.get(tokenId);
    if (previous === undefined || atMs > previous) this.pending.set(tokenId, atMs);
  }

  /** The unflushed last-used time of a token, if any. */
  pendingFor(tokenId: number): Date | undefined {
    const at = this.pending.get(tokenId);
    return at === undefined ? undefined : new Date(at);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Writes what was recorded so far; on failure the times are kept for the next flush. */
  flush(): Promise<void> {
    // Flushes run one after another, so two never write the same batch.
    const run = this.flushing.then(() => this.flushOnce());
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async flushOnce(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.sink.recordLastUsed(new Map([...batch].map(([id, at]) => [id, new Date(at)])));
    } catch (e) {
      for (const [id, at] of batch) this.record(id, at);
      throw e;
    }
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.flush().catch((e: unknown) => this.options.onFlushError?.(e));
    }, this.options.flushIntervalMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is left (the shutdown flush). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
