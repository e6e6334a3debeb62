/**
 * Retention of the outbox (EPOCH_EVENTS_RETENTION, default 7 days): every replica prunes on a
 * timer; the DELETE is idempotent, so replicas racing each other only repeat a no-op. A consumer
 * resuming below what was pruned gets EVENTS_EXPIRED (event-feed.ts).
 */
import type { Database } from "../../db/data-source.js";
import { pruneEvents } from "../../db/events/event-store.js";
import { logger } from "../../logger.js";

export class EventRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly retentionMs: number,
    private readonly intervalMs = 60_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.runOnce(), this.intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Prunes until nothing older than the retention is left; errors are logged and retried next tick. */
  runOnce(): Promise<void> {
    this.running ??= (async () => {
      try {
        let removed = 0;
        for (let n = -1; n !== 0; removed += n) n = await pruneEvents(this.db, this.retentionMs);
        if (removed > 0) logger.info({ removed }, "pruned events past their retention");
      } catch (e) {
        logger.warn({ err: e }, "pruning events failed; retrying at the next tick");
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}
