/**
 * The server's own collections (DESIGN §8.5): an online run per namespace every EPOCH_GC_INTERVAL
 * (0 = never), and sooner once the review queue holds more than EPOCH_GC_QUEUE_TRIGGER due rows
 * (containerd's mutation-triggered GC). Whether a run is due is judged from the runs table, so N
 * replicas do not run N collections per interval; the namespace lease makes sure one collects at
 * a time. A failing namespace is logged and never stops the others.
 */
import { isEpochError } from "../../errors.js";
import { logger } from "../../logger.js";
import type { GcService } from "./gc-service.js";
import type { GcTrigger } from "./gc-types.js";

export interface GcSchedulerOptions {
  intervalMs: number;
  queueTrigger: number;
  /** How often each namespace is looked at (default: the interval, at most a minute). */
  checkIntervalMs?: number;
  /** Namespaces looked at (and collected) at once (default 2). */
  concurrency?: number;
  /** Due review-queue rows of a namespace, each time it is looked at (the depth metric). */
  onQueueDepth?: (namespace: string, due: number) => void;
}

export class GcScheduler {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly targets: () => Promise<readonly GcService[]>,
    private readonly o: GcSchedulerOptions,
  ) {}

  private get checkMs(): number {
    return this.o.checkIntervalMs ?? Math.min(this.o.intervalMs, 60_000);
  }

  start(): void {
    if (this.o.intervalMs <= 0 || this.stopped) return;
    this.schedule();
  }

  /** Resolves once the current round (if any) has ended. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Stops the timer; a run in progress is wound down by GcService.shutdown. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => {
        if (!this.stopped) this.schedule();
      });
    }, this.checkMs);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    let services: readonly GcService[];
    try {
      services = await this.targets();
    } catch (e) {
      logger.warn({ err: e }, "scheduled GC could not list its namespaces");
      return;
    }
    let next = 0;
    const worker = async () => {
      while (next < services.length && !this.stopped) await this.visit(services[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 2, services.length) }, worker));
  }

  private async visit(gc: GcService): Promise<void> {
    try {
      const due = await gc.dueItems();
      this.o.onQueueDepth?.(gc.namespace, due);
      const trigger: GcTrigger | undefined = (await gc.due(this.o.intervalMs))
        ? "timer"
        : due > this.o.queueTrigger
          ? "queue"
          : undefined;
      if (!trigger || this.stopped) return;
      const run = await gc.start({ dryRun: false, full: false }, trigger);
      await run.done;
    } catch (e) {
      const skipped = isEpochError(e) && ["GC_IN_PROGRESS", "SYNC_IN_PROGRESS", "SHUTTING_DOWN"].includes(e.reason);
      if (skipped) logger.debug({ reason: e.reason, namespace: gc.namespace }, "scheduled GC skipped");
      else logger.warn({ err: e, namespace: gc.namespace }, "scheduled GC could not run");
    }
  }
}
