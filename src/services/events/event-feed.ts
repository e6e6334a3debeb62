/**
 * Reading the outbox (DESIGN §8.6): ListEvents pages it, WatchEvents replays it and then follows
 * it live. Ids are dense and become visible in id order (db/events/event-ids.ts), so following
 * it is "read after the last id seen, in id order": no gap, no duplicate, also across replicas
 * and restarts. Live events arrive through the shared tail (event-tail.ts), which polls (other
 * replicas' commits) and reads sooner on `notify()` (this replica's commits).
 */
import { setImmediate as nextTurn } from "node:timers/promises";
import type { Database } from "../../db/data-source.js";
import {
  lastIssuedEventId,
  latestEventId,
  prunedThrough,
  readEvents,
  type StoredEvent,
} from "../../db/events/event-store.js";
import { failedPrecondition, invalidArgument } from "../../errors.js";
import { compileRecordFilter, type FilterFields } from "../queries/filter/list-filter.js";
import { pageSize } from "../queries/list-options.js";
import { decodePageToken, encodePageToken, type PageQuery } from "../queries/page-token.js";
import { EventTail } from "./event-tail.js";

export interface EventQuery {
  afterId: number;
  filter: readonly string[];
  /** The namespace to read; undefined = every namespace (a system admin's all_namespaces). */
  namespaceId: number | undefined;
}

export interface EventFeedOptions {
  /** How often a live watcher looks for other replicas' events (default 250 ms). */
  pollIntervalMs?: number;
  /** Rows read per statement while replaying (default 500). */
  batchSize?: number;
  /** Events queued for one live watcher before it is sent back to its own reads (event-tail.ts). */
  maxQueued?: number;
}

const FIELDS: FilterFields<StoredEvent> = {
  topic: { get: (e) => e.topic },
  subject: { get: (e) => e.subject },
  namespace: { get: (e) => e.namespace },
};

/** Rows a ListEvents call examines at most before it returns a short page (AIP-158). */
const LIST_ROW_BUDGET = 10_000;

export class EventFeed {
  private readonly batchSize: number;
  /** The live end, read once per poll for every caught-up watcher. */
  readonly tail: EventTail;
  private closed = false;

  constructor(
    private readonly db: Database,
    options: EventFeedOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.tail = new EventTail(db, {
      pollIntervalMs: options.pollIntervalMs ?? 250,
      batchSize: this.batchSize,
      ...(options.maxQueued !== undefined && { maxQueued: options.maxQueued }),
    });
  }

  /** Tells local watchers that events were committed (they would find them at their next poll anyway). */
  notify(): void {
    this.tail.notify();
  }

  /**
   * Shutdown: every watch ends (OK) after what it has sent, so draining does not wait for
   * streams that never end by themselves; consumers resume elsewhere from their last id.
   */
  close(): void {
    this.closed = true;
    this.tail.close();
  }

  async list(
    query: EventQuery,
    page: { pageSize: number; pageToken: string },
  ): Promise<{ events: StoredEvent[]; nextPageToken: string }> {
    const limit = pageSize(page.pageSize);
    const matches = compileRecordFilter(query.filter, FIELDS);
    const binding: PageQuery = {
      list: "events",
      order: "id",
      scope: [String(query.afterId), String(query.namespaceId ?? "*"), ...query.filter],
    };
    const after = decodePageToken(page.pageToken, binding, ["number"]);
    let cursor = after ? Number(after[0]) : checkedAfterId(query.afterId);
    if (!after) await this.assertResumable(cursor);
    const events: StoredEvent[] = [];
    for (let examined = 0; examined < LIST_ROW_BUDGET;) {
      const batch = await readEvents(this.db, {
        afterId: cursor,
        limit: matches ? this.batchSize : limit + 1,
        namespaceId: query.namespaceId,
      });
      for (const event of batch) {
        if (matches && !matches(event)) {
          cursor = event.id;
          examined++;
          continue;
        }
        // A match beyond the page proves another page exists.
        if (events.length === limit) return { events, nextPageToken: encodePageToken(binding, [cursor]) };
        events.push(event);
        cursor = event.id;
        examined++;
      }
      if (batch.length < (matches ? this.batchSize : limit + 1)) return { events, nextPageToken: "" };
    }
    return { events, nextPageToken: encodePageToken(binding, [cursor]) };
  }

  /**
   * Stored events after `afterId`, then live ones, until `signal` aborts — in batches as read
   * (each in id order, filtered), so a replay pays the generator's hand-off once per page. A
   * watcher behind the live end reads its own pages; once caught up it follows the shared tail
   * (event-tail.ts: one query per poll for all of this replica's watchers) until the tail lets
   * it go for being slow, and then reads on its own again from where it is.
   */
  async *watch(query: EventQuery, signal: AbortSignal): AsyncGenerator<StoredEvent[]> {
    const matches = compileRecordFilter(query.filter, FIELDS);
    const ours = (e: StoredEvent) =>
      (query.namespaceId === undefined || e.namespaceId === query.namespaceId) && (!matches || matches(e));
    let cursor = checkedAfterId(query.afterId);
    await this.assertResumable(cursor);
    // Set after a short page: the next read is the last before following, and learns first how
    // far the log is committed.
    let joining = false;
    const page = (after: number) =>
      readEvents(this.db, { afterId: after, limit: this.batchSize, namespaceId: query.namespaceId });
    // While a replay sends a full page, the next one is read (MariaDB's round trip overlaps the sending).
    let prefetched: Promise<StoredEvent[]> | undefined;
    try {
      while (!signal.aborted && !this.closed) {
        // Every id up to `committed` is visible before this read starts, so a short page means this
        // watcher has all of them (its namespace's; the others do not concern it) and may follow
        // the tail from there — not from its last own id, which another namespace's traffic may
        // leave far behind the live end.
        const committed = joining ? await latestEventId(this.db) : undefined;
        const batch = await (prefetched ?? page(cursor));
        prefetched = undefined;
        // Checked after the read: a prune that committed before it removed ids we have not seen.
        if (batch.length > 0 || cursor > 0) await this.assertKept(cursor);
        const last = batch.at(-1);
        if (last) cursor = last.id;
        if (batch.length === this.batchSize) prefetched = page(cursor);
        const wanted = matches ? batch.filter(matches) : batch;
        if (wanted.length > 0) yield wanted;
        joining = batch.length < this.batchSize;
        if (!joining || committed === undefined) continue;
        cursor = Math.max(cursor, committed);
        // undefined: the tail has read past `committed` meanwhile; read up to it first. The reads
        // here may never wait for I/O (SQLite), so yield a turn: the tail's own read must run.
        const follower = this.tail.follow(cursor, committed);
        if (!follower) {
          await nextTurn();
          continue;
        }
        const stop = () => follower.close();
        signal.addEventListener("abort", stop, { once: true });
        // Aborted during the reads above: the listener came too late to hear it, and the follower
        // would wait for events forever (a watch whose caller left, never ending).
        if (signal.aborted) stop();
        try {
          for (let events = await follower.next(); events; events = await follower.next()) {
            cursor = events.at(-1)!.id;
            const mine = events.filter(ours);
            if (mine.length > 0) yield mine;
          }
        } finally {
          signal.removeEventListener("abort", stop);
          follower.close();
        }
        joining = false;
      }
    } finally {
      // A stream that ended mid-replay leaves its read-ahead: nobody will look at its outcome.
      prefetched?.catch(() => undefined);
    }
  }

  /**
   * A consumer's resume point is one this database issued and still keeps. An id beyond the last
   * one issued comes from another database, or this one was restored from a backup: followed, it
   * would skip every event until the ids caught up with it, so it is refused, with where to start.
   */
  private async assertResumable(afterId: number): Promise<void> {
    if (afterId === 0) return;
    const issued = await lastIssuedEventId(this.db);
    if (afterId > issued) {
      throw failedPrecondition(
        `after_id ${afterId} is beyond the last event id this database issued (${issued}): a cursor from another database, or this one was restored from a backup; resync, then watch from ${issued}`,
        "EVENT_ID_AHEAD",
      );
    }
    await this.assertKept(afterId);
  }

  /** FAILED_PRECONDITION EVENTS_EXPIRED when retention removed events after `afterId`. */
  private async assertKept(afterId: number): Promise<void> {
    if (afterId === 0) return;
    const pruned = await prunedThrough(this.db);
    if (afterId < pruned) {
      throw failedPrecondition(
        `events after ${afterId} are no longer kept (retention removed everything through ${pruned}): resync, then watch from the latest id`,
        "EVENTS_EXPIRED",
      );
    }
  }
}

function checkedAfterId(afterId: number): number {
  if (!Number.isSafeInteger(afterId) || afterId < 0) throw invalidArgument("after_id must be an event id");
  return afterId;
}
