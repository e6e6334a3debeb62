/**
 * The server's own syncs: one at start, then one every EPOCH_SYNC_INTERVAL after the previous
 * ended (0 turns both off), full when no full run succeeded within EPOCH_FULL_SYNC_INTERVAL
 * (0 = never) — judged from the runs table, so N replicas do not run N full syncs per interval.
 */
import { isEpochError } from "../../errors.js";
import { logger } from "../../logger.js";
import type { SyncService } from "./sync-service.js";
import type { SyncTrigger } from "./sync-types.js";

export interface SchedulerOptions {
  intervalMs: number;
  fullIntervalMs: number;
}

export class SyncScheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly sync: SyncService,
    private readonly o: SchedulerOptions,
  ) {}

  start(): void {
    if (this.o.intervalMs <= 0 || this.stopped) return;
    this.running = this.tick("start");
  }

  /** Resolves once the current scheduled run (if any) has ended. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Stops the timer; a run in progress is wound down by SyncService.shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async tick(trigger: SyncTrigger): Promise<void> {
    try {
      const full = this.o.fullIntervalMs > 0 && (await this.sync.fullSyncDue(this.o.fullIntervalMs));
      const run = await this.sync.start({ full, dryRun: false, allowMassRemoval: false }, trigger);
      await run.done;
    } catch (e) {
      if (isEpochError(e) && (e.reason === "SYNC_IN_PROGRESS" || e.reason === "SHUTTING_DOWN")) {
        logger.debug({ reason: e.reason }, "scheduled sync skipped");
      } else {
        logger.warn({ err: e }, "scheduled sync could not run");
      }
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick("timer");
    }, this.o.intervalMs);
    this.timer.unref();
  }
}
