/**
 * The live end of the outbox, read once for every caught-up watcher of this replica: one query
 * per poll (every namespace, id order, "after the last id read") whatever the number of
 * WatchEvents streams, instead of one per stream. Only while someone follows it.
 *
 * Ids become visible in id order (db/events/event-ids.ts), so reading "after the last id read"
 * skips nothing; each follower drops what it already has (ids up to its own cursor) and what is
 * not its namespace or filter. A follower that does not keep up is let go once more than
 * `maxQueued` events wait for it: it goes back to reading from its own cursor (event-feed.ts),
 * so a slow consumer costs its own queries, never memory, and misses nothing.
 */
import type { Database } from "../../db/data-source.js";
import { readEvents, type StoredEvent } from "../../db/events/event-store.js";
import { logger } from "../../logger.js";
import { Wakeup } from "./wakeup.js";

export interface TailOptions {
  pollIntervalMs: number;
  batchSize: number;
  /** Events waiting for one follower before it is let go (default 20 batches). */
  maxQueued?: number;
}

/** One follower's view: batches of events after the id it joined at, until it ends. */
export interface TailFollower {
  /** The next batch; undefined once the follower was let go (too slow), closed, or the tail stopped. */
  next(): Promise<StoredEvent[] | undefined>;
  close(): void;
}

interface Follower {
  after: number;
  queue: StoredEvent[][];
  queued: number;
  ended: boolean;
  wake?: () => void;
}

export class EventTail {
  /** The last id the tail has read (followers join only at or after it). */
  private head = 0;
  private readonly followers = new Set<Follower>();
  private readonly wake = new Wakeup();
  /** Whether the read loop runs (it stops when the last follower leaves). */
  private active = false;
  private closed = false;
  private readonly maxQueued: number;

  constructor(
    private readonly db: Database,
    private readonly options: TailOptions,
  ) {
    this.maxQueued = options.maxQueued ?? 20 * options.batchSize;
  }

  /** Followers now (tests, metrics). */
  get followerCount(): number {
    return this.followers.size;
  }

  /** Reads now rather than at the next poll (this replica committed events). */
  notify(): void {
    this.wake.notify();
  }

  /** Ends every follower (shutdown). */
  close(): void {
    this.closed = true;
    for (const f of this.followers) this.end(f);
    this.wake.notify();
  }

  /**
   * Follows from `after` (the caller has read everything up to it), or undefined when the tail has
   * already read past `committed`: the caller reads up to there itself first, then asks again.
   * `committed` (≤ `after`) is an id the log is known to be committed through: an idle tail
   * starts reading there, never at `after`, which a consumer may put beyond the log's end (a
   * bogus or restored-from-backup id) — a tail started there would make every later follower
   * wait for it to read past ids nobody wrote, and their callers would ask again forever. Events
   * up to `after` that the tail delivers anyway are dropped here.
   */
  follow(after: number, committed = after): TailFollower | undefined {
    if (this.closed) return undefined;
    const from = Math.min(after, committed);
    // An idle tail starts where its first follower is; a running one keeps its place.
    if (!this.active) this.head = from;
    else if (from < this.head) return undefined;
    const f: Follower = { after, queue: [], queued: 0, ended: false };
    this.followers.add(f);
    if (!this.active) {
      this.active = true;
      void this.run();
    }
    return {
      next: async () => {
        for (;;) {
          const batch = f.queue.shift();
          if (batch) {
            f.queued -= batch.length;
            return batch;
          }
          if (f.ended) return undefined;
          await new Promise<void>((resolve) => (f.wake = resolve));
          f.wake = undefined;
        }
      },
      close: () => this.end(f),
    };
  }

  private end(f: Follower): void {
    f.ended = true;
    this.followers.delete(f);
    f.wake?.();
  }

  private async run(): Promise<void> {
    try {
      await this.readWhileFollowed();
    } finally {
      // In the same turn as the loop's last check: a follower arriving after it starts a new loop.
      this.active = false;
    }
  }

  private async readWhileFollowed(): Promise<void> {
    while (this.followers.size > 0 && !this.closed) {
      // Armed before the read, so a notify during it is not lost.
      const waiting = this.wake.arm(this.options.pollIntervalMs);
      let batch: StoredEvent[];
      try {
        batch = await readEvents(this.db, { afterId: this.head, limit: this.options.batchSize });
      } catch (e) {
        // The database is unreachable: every follower goes back to its own reads, which fail the
        // stream the way a watch did before it followed the tail.
        logger.warn({ err: e }, "the event tail could not read the outbox");
        for (const f of this.followers) this.end(f);
        waiting.cancel();
        return;
      }
      const last = batch.at(-1);
      if (last) {
        this.head = last.id;
        for (const f of this.followers) this.deliver(f, batch);
      }
      if (batch.length === this.options.batchSize) {
        waiting.cancel();
        continue;
      }
      await waiting.promise;
    }
  }

  private deliver(f: Follower, batch: StoredEvent[]): void {
    const fresh = batch[0]!.id > f.after ? batch : batch.filter((e) => e.id > f.after);
    if (fresh.length === 0) return;
    f.after = fresh.at(-1)!.id;
    if (f.queued + fresh.length > this.maxQueued) return this.end(f);
    f.queue.push(fresh);
    f.queued += fresh.length;
    f.wake?.();
  }
}
