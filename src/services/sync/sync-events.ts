/**
 * The event stream of one sync run (DESIGN §4): `started{joined}`, the failures so far, then live
 * events, ending with exactly one `finished`. The fan-out and throttling are services/runs'.
 */
import { RunEventHub } from "../runs/run-event-hub.js";
import type { SyncEvent, SyncFinished, SyncMode, SyncPhase, TagFailure } from "./sync-types.js";

export class SyncEventHub extends RunEventHub<SyncPhase, SyncFinished, SyncEvent> {
  readonly failures: TagFailure[] = [];

  constructor(
    runId: number,
    readonly mode: SyncMode,
    readonly dryRun: boolean,
    clock: () => number = Date.now,
  ) {
    super(runId, clock);
  }

  failure(failure: TagFailure): void {
    this.failures.push(failure);
    this.publish({ type: "failure", failure });
  }

  /** `started`, the failures so far, then live events until `finished`. */
  subscribe(joined: boolean, signal?: AbortSignal): AsyncGenerator<SyncEvent> {
    return this.open(
      [
        { type: "started", runId: this.runId, mode: this.mode, dryRun: this.dryRun, joined },
        ...this.failures.map((failure): SyncEvent => ({ type: "failure", failure })),
      ],
      signal,
    );
  }
}
