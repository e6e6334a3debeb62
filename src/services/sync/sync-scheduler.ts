/**
 * The server's own syncs: one at start, then one every EPOCH_SYNC_INTERVAL after the previous
 * round ended (0 turns both off), full when no full run succeeded within EPOCH_FULL_SYNC_INTERVAL
 * (0 = never) — judged from the runs table, so N replicas do not run N full syncs per interval.
 * A round syncs every namespace (one SyncService each), a few at a time; one failing registry
 * root is logged and never stops the others.
 */
import { mapBounded } from "../../bounded.js";
import { isEpochError } from "../../errors.js";
import { logger } from "../../logger.js";
import type { SyncService } from "./sync-service.js";
import type { SyncTrigger } from "./sync-types.js";

export interface SchedulerOptions {
  intervalMs: number;
  fullIntervalMs: number;
  /** Namespaces synced at once in a round (default 4). */
  concurrency?: number;
}

/** One sync service, or the current set of them (read again every round: namespaces come and go). */
export type SyncTargets = SyncService | (() => Promise<readonly SyncService[]>);

export class SyncScheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly targets: SyncTargets,
    private readonly o: SchedulerOptions,
  ) {}

  start(): void {
    if (this.o.intervalMs <= 0 || this.stopped) return;
    this.running = this.tick("start");
  }

  /** Resolves once the current scheduled round (if any) has ended. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Stops the timer; runs in progress are wound down by SyncService.shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async tick(trigger: SyncTrigger): Promise<void> {
    try {
      const services = typeof this.targets === "function" ? await this.targets() : [this.targets];
      await mapBounded(services, this.o.concurrency ?? 4, (sync) => this.syncOne(sync, trigger));
    } catch (e) {
      logger.warn({ err: e }, "scheduled sync could not list its namespaces");
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick("timer");
    }, this.o.intervalMs);
    this.timer.unref();
  }

  private async syncOne(sync: SyncService, trigger: SyncTrigger): Promise<void> {
    if (this.stopped) return;
    try {
      const full = this.o.fullIntervalMs > 0 && (await sync.fullSyncDue(this.o.fullIntervalMs));
      const run = await sync.start({ full, dryRun: false, allowMassRemoval: false }, trigger);
      await run.done;
    } catch (e) {
      if (isEpochError(e) && (e.reason === "SYNC_IN_PROGRESS" || e.reason === "SHUTTING_DOWN")) {
        logger.debug({ reason: e.reason, namespace: sync.namespace }, "scheduled sync skipped");
      } else {
        logger.warn({ err: e, namespace: sync.namespace }, "scheduled sync could not run");
      }
    }
  }
}
