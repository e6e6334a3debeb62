/**
 * WatchEvents' shared tail (services/events/event-tail.ts) on SQLite and MariaDB: caught-up
 * watchers of this replica cost one outbox query per poll together, not one each (counted in
 * the statement log); each still gets exactly its events — its namespace, its filter — in id
 * order; a watcher behind the live end replays on its own and joins without a gap or a repeat; a
 * slow watcher is let go and catches up from its own cursor, missing nothing; a namespace's
 * watcher joins at the live end even when other namespaces wrote far more than it did.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { Database } from "../../../../src/db/data-source.js";
import { appendEvents, type NewEvent, type StoredEvent } from "../../../../src/db/events/event-store.js";
import { insertNamespace } from "../../../../src/db/namespaces/namespace-store.js";
import { namespaceIdOf } from "../../../../src/db/queries/namespaces.js";
import { writeTransaction } from "../../../../src/db/write-transaction.js";
import { EventFeed, type EventQuery } from "../../../../src/services/events/event-feed.js";
import { createMigratedDatabase, forEachDialect } from "../../../helpers/database.js";
import { StatementCounter } from "../../../helpers/statement-counter.js";
import { until } from "../../../helpers/until.js";

/** Reads of the outbox's rows (not MAX(id), not the pruned mark). */
const OUTBOX_READ = /^SELECT e\.id, e\.namespace_id/;

/** Runs a watch in the background, collecting what it yields, until `stop()`. */
function watching(feed: EventFeed, query: EventQuery, opts: { slow?: () => Promise<void> } = {}) {
  const controller = new AbortController();
  const got: StoredEvent[] = [];
  const done = (async () => {
    for await (const batch of feed.watch(query, controller.signal)) {
      for (const e of batch) {
        await opts.slow?.();
        got.push(e);
      }
    }
  })();
  return {
    got,
    ids: () => got.map((e) => e.id),
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

forEachDialect("event tail", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let statements: StatementCounter;
  let feed: EventFeed;
  let ns: number;
  let other: number;
  beforeEach(async () => {
    statements = new StatementCounter();
    ({ db, cleanup } = await createMigratedDatabase(dialect, { logger: statements }));
    ns = (await namespaceIdOf(db, "default"))!;
    other = (await insertNamespace(db, "other", ""))!.id;
    // No poll within a test: the tail reads when notified, so reads can be counted.
    feed = new EventFeed(db, { pollIntervalMs: 600_000, batchSize: 50 });
  });
  afterEach(async () => {
    feed.close();
    await cleanup();
  });

  let serial = 0;
  const events = (namespaceId: number, n: number, topic = "/tags/create"): NewEvent[] =>
    Array.from({ length: n }, () => ({
      namespaceId,
      topic,
      subject: `library/app:t${++serial}`,
      payload: { tag: { repository: "library/app", tag: `t${serial}` } },
    }));
  const append = async (batch: NewEvent[]) => {
    const ids = await writeTransaction(db, (m) => appendEvents(m, db.dialect, batch));
    feed.notify();
    return ids;
  };
  const query = (namespaceId: number | undefined, filter: string[] = []): EventQuery => ({
    afterId: 0,
    filter,
    namespaceId,
  });

  it("ten caught-up watchers cost one outbox read per wake, and each gets exactly its events", async () => {
    const all = Array.from({ length: 8 }, () => watching(feed, query(ns)));
    const everywhere = watching(feed, query(undefined));
    const deletes = watching(feed, query(ns, ["topic==/tags/delete"]));
    await until("ten followers", () => feed.tail.followerCount === 10);

    statements.reset();
    const a = await append(events(ns, 3));
    const b = await append(events(other, 2));
    const c = await append(events(ns, 1, "/tags/delete"));
    const mine = [...a, ...c];
    await until("every event delivered", () => all.every((w) => w.got.length === 4) && everywhere.got.length === 6);
    for (const w of all) expect(w.ids()).toEqual(mine);
    expect(everywhere.ids()).toEqual([...a, ...b, ...c]);
    await until("the delete", () => deletes.got.length === 1);
    expect(deletes.ids()).toEqual(c);
    // Three commits, so three wakes (and possibly the start-up read): never one read per watcher.
    const reads = statements.matching(OUTBOX_READ).length;
    expect(reads).toBeGreaterThanOrEqual(1);
    expect(reads).toBeLessThanOrEqual(4);
    for (const w of [...all, everywhere, deletes]) await w.stop();
    expect(feed.tail.followerCount).toBe(0);
  });

  it("a watcher behind the live end replays on its own, then follows without a gap or a repeat", async () => {
    const early = watching(feed, query(ns));
    await until("a follower", () => feed.tail.followerCount === 1);
    const first = await append(events(ns, 120)); // more than two pages of 50
    await until("the first watcher", () => early.got.length === 120);
    const late = watching(feed, query(ns));
    const second: number[] = [];
    for (let i = 0; i < 5; i++) second.push(...(await append(events(ns, 7))));
    await until("both watchers", () => late.got.length === 155 && early.got.length === 155);
    expect(late.ids()).toEqual([...first, ...second]);
    expect(early.ids()).toEqual([...first, ...second]);
    await early.stop();
    await late.stop();
  });

  it("a slow watcher is let go and catches up on its own reads, missing nothing", async () => {
    feed.close();
    feed = new EventFeed(db, { pollIntervalMs: 600_000, batchSize: 50, maxQueued: 20 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let seen = 0;
    const slow = watching(feed, query(ns), { slow: () => (++seen === 1 ? held : Promise.resolve()) });
    const fast = watching(feed, query(ns));
    await until("two followers", () => feed.tail.followerCount === 2);
    const written: number[] = [];
    for (let i = 0; i < 10; i++) written.push(...(await append(events(ns, 10))));
    await until("the fast watcher", () => fast.got.length === 100);
    // The slow one holds its first event while 100 arrive: more than 20 queued, so the tail let it go.
    await until("the slow watcher let go", () => feed.tail.followerCount === 1);
    release();
    await until("the slow watcher", () => slow.got.length === 100);
    expect(slow.ids()).toEqual(written);
    expect(fast.ids()).toEqual(written);
    await slow.stop();
    await fast.stop();
  });

  it("a namespace's watcher follows from the live end, not from its own last event, when others wrote more", async () => {
    await append(events(ns, 2));
    await append(events(other, 400)); // eight pages of another namespace
    const w = watching(feed, query(ns));
    await until("a follower", () => feed.tail.followerCount === 1);
    statements.reset();
    const next = await append(events(ns, 1));
    await until("the new event", () => w.got.length === 3);
    expect(w.ids().at(-1)).toBe(next[0]);
    // The tail started at the live end: it read the new event, not the other namespace's 400.
    expect(statements.matching(OUTBOX_READ).length).toBeLessThanOrEqual(2);
    await w.stop();
  });

  it("a follower beyond the log's end starts the tail at the committed end, so the next watcher follows it", async () => {
    // The feed refuses an after_id beyond the last id issued (EVENT_ID_AHEAD); the tail must not
    // depend on that: started at such an id, every later caught-up watcher would find it "past"
    // them and ask again forever (the fuzz hung on exactly this, in a loop that never yielded).
    const before = await append(events(ns, 2));
    const beyond = feed.tail.follow(Number.MAX_SAFE_INTEGER, before.at(-1)!);
    expect(beyond).toBeDefined();
    const w = watching(feed, query(ns));
    await until("two followers", () => feed.tail.followerCount === 2);
    const next = await append(events(ns, 3));
    await until("the new events", () => w.got.length === 5);
    expect(w.ids()).toEqual([...before, ...next]);
    beyond!.close();
    await w.stop();
  });
});
