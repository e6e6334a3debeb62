/**
 * Pushes the outbox to one sink, at least once and in id order, with one deliverer across all
 * replicas: whoever holds the sink's lease row delivers, everyone else waits to take it over.
 * The position (last id delivered) lives in the database and moves only under the lease, after
 * the sink accepted the events, so a crash or a lost lease means a redelivery, never a gap.
 * A failing sink is retried with exponential backoff (0.5 s doubling to 30 s), so a receiver
 * that was down for an hour gets everything afterwards, in order.
 */
import type { Database } from "../../db/data-source.js";
import { readEvents, type StoredEvent } from "../../db/events/event-store.js";
import { advanceSinkPosition, readSinkPosition, sinkLeaseName } from "../../db/events/sink-positions.js";
import { Leases } from "../../db/leases.js";
import { logger } from "../../logger.js";
import type { EventSink } from "./event-sink.js";
import { Wakeup } from "./wakeup.js";

export interface DelivererOptions {
  /** This replica's name in the lease row. */
  holder: string;
  leaseTtlMs?: number;
  /** How often to look for new events when caught up (default 250 ms). */
  pollIntervalMs?: number;
  batchSize?: number;
  backoff?: { initialMs: number; maxMs: number };
}

export class EventDeliverer {
  private readonly leases: Leases;
  private readonly stopController = new AbortController();
  private loop: Promise<void> | undefined;
  private delivered = 0;
  private position = 0;
  /** Ends the caught-up wait early: this replica committed events (see `notify`). */
  private readonly wakeup = new Wakeup();

  constructor(
    private readonly db: Database,
    private readonly sink: EventSink,
    private readonly options: DelivererOptions,
  ) {
    this.leases = new Leases(db);
  }

  /** The sink's name (its lease and position rows, the metrics' `sink` label). */
  get sinkName(): string {
    return this.sink.name;
  }

  /** Events delivered by this replica, and the position it last recorded (for metrics and tests). */
  stats(): { delivered: number; position: number } {
    return { delivered: this.delivered, position: this.position };
  }

  /**
   * Records the sink's starting point if it has none (a new sink delivers what happens from now
   * on). Awaited before the server takes calls, so no change made through it can fall before it.
   */
  async prepare(): Promise<void> {
    this.position = await readSinkPosition(this.db, this.sink.name);
  }

  /**
   * This replica committed events: look now rather than at the next poll, so a change made
   * through the replica that delivers reaches the sink at once (other replicas' at the poll).
   */
  notify(): void {
    this.wakeup.notify();
  }

  start(): void {
    this.loop ??= this.run().catch((e: unknown) =>
      logger.error({ err: e, sink: this.sink.name }, "event delivery stopped"),
    );
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    await this.loop;
    await this.leases.release(sinkLeaseName(this.sink.name), this.options.holder).catch(() => undefined);
    await this.sink.close().catch(() => undefined);
  }

  private get stopped(): boolean {
    return this.stopController.signal.aborted;
  }

  private async run(): Promise<void> {
    const ttl = this.options.leaseTtlMs ?? 30_000;
    const name = sinkLeaseName(this.sink.name);
    let failures = 0;
    while (!this.stopped) {
      try {
        if (!(await this.leases.acquire(name, this.options.holder, ttl))) {
          await this.sleep(ttl / 3);
          continue;
        }
        failures = await this.deliverWhileHolding(ttl, failures);
      } catch (e) {
        failures++;
        logger.warn({ err: e, sink: this.sink.name }, "event delivery failed; retrying");
        await this.sleep(this.backoffMs(failures));
      }
    }
  }

  /** Delivers until the lease is lost or the deliverer stops; returns the running failure count. */
  private async deliverWhileHolding(ttl: number, failures: number): Promise<number> {
    const name = sinkLeaseName(this.sink.name);
    const holder = this.options.holder;
    this.position = await readSinkPosition(this.db, this.sink.name);
    let renewAt = Date.now() + ttl / 3;
    while (!this.stopped) {
      if (Date.now() >= renewAt) {
        if (!(await this.leases.renew(name, holder, ttl))) return failures;
        renewAt = Date.now() + ttl / 3;
      }
      // Armed before the read, so a commit during it is not left to the next poll.
      const waiting = this.wakeup.arm(this.options.pollIntervalMs ?? 250, this.stopController.signal);
      let batch: StoredEvent[];
      try {
        batch = await readEvents(this.db, { afterId: this.position, limit: this.options.batchSize ?? 100 });
      } catch (e) {
        waiting.cancel();
        throw e;
      }
      if (batch.length === 0) {
        await waiting.promise;
        continue;
      }
      waiting.cancel();
      const accepted: StoredEvent[] = [];
      try {
        await this.sink.deliver(batch, (e) => accepted.push(e));
        failures = 0;
      } catch (e) {
        failures++;
        logger.warn(
          { err: e, sink: this.sink.name, after: this.position, attempt: failures },
          "event sink refused; retrying",
        );
      }
      const last = accepted.at(-1);
      if (last) {
        if (!(await advanceSinkPosition(this.db, this.sink.name, holder, last.id))) return failures;
        this.position = last.id;
        this.delivered += accepted.length;
      }
      if (failures > 0) await this.sleep(this.backoffMs(failures));
    }
    return failures;
  }

  private backoffMs(failures: number): number {
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    return Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
  }

  private sleep(ms: number): Promise<void> {
    const signal = this.stopController.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done, { once: true });
    });
  }
}
