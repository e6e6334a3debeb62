/**
 * The event stream of one run (a sync, a collection), fanned out to the caller that started it
 * and to those that joined later (DESIGN §4 stream rules, which §8.5 reuses): `started{joined}`,
 * what the run keeps for joiners, then live events, ending with exactly one `finished`. Progress
 * is throttled (~10/s, plus the first event of each phase and its last); a slow subscriber's
 * queued progress events are coalesced, every other event is kept.
 */

export const PROGRESS_INTERVAL_MS = 100;

/** What every run's event union has: progress by phase, and one finished. */
export type RunEvent<Phase, Finished> =
  { type: "progress"; phase: Phase; done: number; total: number } | { type: "finished"; finished: Finished };

interface Subscriber<E> {
  queue: E[];
  wake?: () => void;
  /** The run died without a `finished` (a simulated crash): the stream ends with this error. */
  error?: unknown;
}

export abstract class RunEventHub<Phase, Finished, E extends { type: string }> {
  finished: Finished | undefined;
  private readonly subscribers = new Set<Subscriber<E>>();
  private lastPhase: Phase | undefined;
  private lastProgressAt = 0;

  constructor(
    readonly runId: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether a progress event is its phase's last (always sent, so every phase shown ends complete). */
  protected isLast(done: number, total: number): boolean {
    return done >= total;
  }

  /** Throttled, except a phase's first event and its last (done = total). */
  progress(phase: Phase, done: number, total: number, force = false): void {
    const now = this.clock();
    if (
      !force &&
      !this.isLast(done, total) &&
      phase === this.lastPhase &&
      now - this.lastProgressAt < PROGRESS_INTERVAL_MS
    )
      return;
    this.lastPhase = phase;
    this.lastProgressAt = now;
    this.publish({ type: "progress", phase, done, total } as RunEvent<Phase, Finished> as unknown as E);
  }

  finish(finished: Finished): void {
    if (this.finished) return;
    this.finished = finished;
    this.publish({ type: "finished", finished } as RunEvent<Phase, Finished> as unknown as E);
  }

  /** Ends every stream with an error instead of `finished` (only for a simulated crash). */
  abandon(error: unknown): void {
    for (const s of this.subscribers) {
      s.error = error;
      s.wake?.();
    }
  }

  /**
   * A caller's view: `initial` (its `started` and what the run keeps for joiners), then live
   * events until `finished`. The subscription starts now, not at the first `next()`, so nothing
   * sent in between is lost.
   */
  protected open(initial: E[], signal?: AbortSignal): AsyncGenerator<E> {
    const sub: Subscriber<E> = { queue: initial };
    if (this.finished) sub.queue.push({ type: "finished", finished: this.finished } as unknown as E);
    this.subscribers.add(sub);
    return this.stream(sub, signal);
  }

  protected publish(event: E): void {
    for (const s of this.subscribers) {
      const last = s.queue.at(-1);
      if (isProgress(event) && last !== undefined && isProgress(last) && last.phase === event.phase)
        s.queue[s.queue.length - 1] = event;
      else s.queue.push(event);
      s.wake?.();
    }
  }

  private async *stream(sub: Subscriber<E>, signal?: AbortSignal): AsyncGenerator<E> {
    const onAbort = () => sub.wake?.();
    signal?.addEventListener("abort", onAbort);
    try {
      for (;;) {
        // A caller that goes away only detaches; the run goes on.
        if (signal?.aborted) return;
        const event = sub.queue.shift();
        if (event) {
          yield event;
          if (event.type === "finished") return;
          continue;
        }
        if (sub.error !== undefined) throw sub.error;
        await new Promise<void>((resolve) => (sub.wake = resolve));
        sub.wake = undefined;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.subscribers.delete(sub);
    }
  }
}

const isProgress = (e: { type: string }): e is { type: "progress"; phase: unknown } => e.type === "progress";
