/**
 * The event stream of one run, fanned out to any number of callers: the caller that started it
 * and those that joined later (DESIGN §4: `started{joined}`, the failures so far, then live
 * events, ending with exactly one `finished`). Progress is throttled (~10/s, plus one at each
 * phase change, plus the last of each phase); a slow subscriber's queued progress events are coalesced, others are kept.
 */
import type { SyncEvent, SyncFinished, SyncMode, SyncPhase, TagFailure } from "./sync-types.js";

export const PROGRESS_INTERVAL_MS = 100;

interface Subscriber {
  queue: SyncEvent[];
  wake?: () => void;
  /** The run died without a `finished` (a simulated crash): the stream ends with this error. */
  error?: unknown;
}

export class SyncEventHub {
  readonly failures: TagFailure[] = [];
  finished: SyncFinished | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private lastPhase: SyncPhase | undefined;
  private lastProgressAt = 0;

  constructor(
    readonly runId: number,
    readonly mode: SyncMode,
    readonly dryRun: boolean,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Throttled, except a phase's first event and its last (done = total), so every phase shown ends complete. */
  progress(phase: SyncPhase, done: number, total: number, force = false): void {
    const now = this.clock();
    const last = done >= total;
    if (!force && !last && phase === this.lastPhase && now - this.lastProgressAt < PROGRESS_INTERVAL_MS) return;
    this.lastPhase = phase;
    this.lastProgressAt = now;
    this.publish({ type: "progress", phase, done, total });
  }

  failure(failure: TagFailure): void {
    this.failures.push(failure);
    this.publish({ type: "failure", failure });
  }

  finish(finished: SyncFinished): void {
    if (this.finished) return;
    this.finished = finished;
    this.publish({ type: "finished", finished });
  }

  /** Ends every stream with an error instead of `finished` (only for a simulated crash). */
  abandon(error: unknown): void {
    for (const s of this.subscribers) {
      s.error = error;
      s.wake?.();
    }
  }

  /**
   * A caller's view: `started`, the failures so far, then live events until `finished`. The
   * subscription starts now, not at the first `next()`, so nothing sent in between is lost.
   */
  subscribe(joined: boolean, signal?: AbortSignal): AsyncGenerator<SyncEvent> {
    const sub: Subscriber = {
      queue: [{ type: "started", runId: this.runId, mode: this.mode, dryRun: this.dryRun, joined }],
    };
    for (const failure of this.failures) sub.queue.push({ type: "failure", failure });
    if (this.finished) sub.queue.push({ type: "finished", finished: this.finished });
    this.subscribers.add(sub);
    return this.stream(sub, signal);
  }

  private async *stream(sub: Subscriber, signal?: AbortSignal): AsyncGenerator<SyncEvent> {
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

  private publish(event: SyncEvent): void {
    for (const s of this.subscribers) {
      const last = s.queue.at(-1);
      if (event.type === "progress" && last?.type === "progress" && last.phase === event.phase)
        s.queue[s.queue.length - 1] = event;
      else s.queue.push(event);
      s.wake?.();
    }
  }
}
