/**
 * The event stream of one collection (DESIGN §8.5, the sync's stream rules): `started{joined}`,
 * then live events, ending with exactly one `finished`. A joiner sees deletions from the moment it
 * joins — a run may delete millions of objects, and they are not kept to be replayed. The fan-out
 * and throttling are services/runs'.
 */
import { RunEventHub } from "../runs/run-event-hub.js";
import type { GcDeletion, GcEvent, GcFinished, GcFlags, GcPhase } from "./gc-types.js";

export class GcEventHub extends RunEventHub<GcPhase, GcFinished, GcEvent> {
  constructor(
    runId: number,
    readonly flags: GcFlags,
    clock: () => number = Date.now,
  ) {
    super(runId, clock);
  }

  /** A phase whose total is not known yet (0) is not complete at done = 0. */
  protected override isLast(done: number, total: number): boolean {
    return total > 0 && done >= total;
  }

  deletion(deletion: GcDeletion): void {
    this.publish({ type: "deletion", deletion });
  }

  subscribe(joined: boolean, signal?: AbortSignal): AsyncGenerator<GcEvent> {
    return this.open([{ type: "started", runId: this.runId, flags: this.flags, joined }], signal);
  }
}
