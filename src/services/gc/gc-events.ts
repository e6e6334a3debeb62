/**
 * The event stream of one collection, fanned out to the caller that started it and to those that
 * joined later (DESIGN §8.5, the sync's stream rules): `started{joined}`, then live events, ending
 * with exactly one `finished`. A joiner sees deletions from the moment it joins — a run may delete
 * millions of objects, and they are not kept to be replayed. Progress is throttled like the sync's.
 */
import { PROGRESS_INTERVAL_MS } from "../sync/sync-events.js";
import type { GcDeletion, GcEvent, GcFinished, GcFlags, GcPhase } from "./gc-types.js";

interface Subscriber {
  queue: GcEvent[];
  wake?: () => void;
  /** The run died without a `finished` (a simulated crash): the stream ends with this error. */
  error?: unknown;
}

export class GcEventHub {
  finished: GcFinished | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private lastPhase: GcPhase | undefined;
  private lastProgressAt = 0;

  constructor(
    readonly runId: number,
    readonly flags: GcFlags,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Throttled, except a phase's first event and its last (done = total), so every phase shown ends complete. */
  progress(phase: GcPhase, done: number, total: number, force = false): void {
    const now = this.clock();
    const last = total > 0 && done >= total;
    if (!force && !last && phase === this.lastPhase && now - this.lastProgressAt < PROGRESS_INTERVAL_MS) return;
    this.lastPhase = phase;
    this.lastProgressAt = now;
    this.publish({ type: "progress", phase, done, total });
  }

  deletion(deletion: GcDeletion): void {
    this.publish({ type: "deletion", deletion });
  }

  finish(finished: GcFinished): void {
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

  /** A caller's view; the subscription starts now, not at the first `next()`. */
  subscribe(joined: boolean, signal?: AbortSignal): AsyncGenerator<GcEvent> {
    const sub: Subscriber = { queue: [{ type: "started", runId: this.runId, flags: this.flags, joined }] };
    if (this.finished) sub.queue.push({ type: "finished", finished: this.finished });
    this.subscribers.add(sub);
    return this.stream(sub, signal);
  }

  private async *stream(sub: Subscriber, signal?: AbortSignal): AsyncGenerator<GcEvent> {
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

  private publish(event: GcEvent): void {
    for (const s of this.subscribers) {
      const last = s.queue.at(-1);
      if (event.type === "progress" && last?.type === "progress" && last.phase === event.phase)
        s.queue[s.queue.length - 1] = event;
      else s.queue.push(event);
      s.wake?.();
    }
  }
}
