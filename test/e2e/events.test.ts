/**
 * EventService through the real server and the generated client, on SQLite and MariaDB: token
 * changes appear as events (content, no secret), ListEvents pages them, WatchEvents replays then
 * streams live ones and resumes after a disconnect and after a restart with nothing missed or
 * repeated, filters, EVENTS_EXPIRED after retention; and on MariaDB, two servers whose writers
 * are forced to commit out of id order feed one consumer exactly the table's ids.
 */
import { Metadata, status, type ClientReadableStream } from "@grpc/grpc-js";
import type { Event, WatchEventsResponse } from "epoch-meta-client/epoch/v1/event_service";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/data-source.js";
import { appendEvents, pruneEvents } from "../../src/db/events/event-store.js";
import { writeTransaction } from "../../src/db/write-transaction.js";
import { configureLogger } from "../../src/logger.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import { call, callError, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

/** Reads a watch stream into an array as events arrive; `until(n)` waits for n of them. */
function watcher(stream: ClientReadableStream<WatchEventsResponse>) {
  const events: Event[] = [];
  const waiters: Array<() => void> = [];
  let error: Error | undefined;
  stream.on("data", (r: WatchEventsResponse) => {
    events.push(r.event!);
    for (const w of waiters.splice(0)) w();
  });
  stream.on("error", (e: Error) => {
    error = e;
    for (const w of waiters.splice(0)) w();
  });
  return {
    events,
    async until(n: number): Promise<Event[]> {
      const deadline = Date.now() + 20_000;
      while (events.length < n) {
        if (error && (error as { code?: number }).code !== status.CANCELLED) throw error;
        if (Date.now() > deadline) throw new Error(`watch got ${events.length} of ${n} events`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
      return events;
    },
    cancel: () => stream.cancel(),
  };
}

forEachDialect("events e2e", (dialect) => {
  let testDb: TestDatabase;
  let s: E2EServer;
  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    s = await startE2EServer({ databaseUrl: testDb.url });
  });
  afterEach(async () => {
    await s?.stop();
    await testDb?.drop();
  });

  const md = () => new Metadata();
  const createToken = (srv: E2EServer, name: string) =>
    call<{ token?: { id: number }; secret: string }>((cb) =>
      srv.tokens.createToken(
        { name, createdBy: "e2e", scopes: ["pull"], repositories: ["library/*"], ttl: undefined },
        md(),
        cb,
      ),
    );
  const list = (srv: E2EServer, req: { afterId?: number; pageSize?: number; pageToken?: string; filter?: string[] }) =>
    call<{ events: Event[]; nextPageToken: string }>((cb) =>
      srv.events.listEvents(
        {
          afterId: req.afterId ?? 0,
          pageSize: req.pageSize ?? 0,
          pageToken: req.pageToken ?? "",
          filter: req.filter ?? [],
          allNamespaces: false,
        },
        md(),
        cb,
      ),
    );
  const watch = (srv: E2EServer, afterId: number, filter: string[] = []) =>
    watcher(srv.events.watchEvents({ afterId, filter, allNamespaces: false }, md()));

  it("token create and delete are events with the token's facts and never its secret", async () => {
    const a = await createToken(s, "ci");
    const b = await createToken(s, "scanner");
    await call((cb) => s.tokens.deleteToken({ id: a.token!.id }, md(), cb));
    const { events, nextPageToken } = await list(s, {});
    expect(nextPageToken).toBe("");
    expect(events.map((e) => [e.id, e.topic, e.subject])).toEqual([
      [1, "/tokens/create", `token:${a.token!.id}`],
      [2, "/tokens/create", `token:${b.token!.id}`],
      [3, "/tokens/delete", `token:${a.token!.id}`],
    ]);
    const first = events[0]!;
    expect(first.namespace).toBe("default");
    expect(first.payload).toEqual({
      $case: "token",
      token: expect.objectContaining({ id: a.token!.id, name: "ci", createdBy: "e2e", scopes: ["pull"] }),
    });
    expect(first.payload?.$case === "token" && first.payload.token.repositories).toEqual(["library/*"]);
    const wire = JSON.stringify(events);
    for (const secret of [a.secret, b.secret]) expect(wire).not.toContain(secret.slice(4, 30));
  });

  it("ListEvents pages in id order with filters, and refuses a token reused with another filter", async () => {
    for (let i = 0; i < 5; i++) await createToken(s, `t${i}`);
    await call((cb) => s.tokens.deleteToken({ id: 2 }, md(), cb));
    const p1 = await list(s, { pageSize: 2 });
    expect(p1.events.map((e) => e.id)).toEqual([1, 2]);
    const p2 = await list(s, { pageSize: 2, pageToken: p1.nextPageToken });
    expect(p2.events.map((e) => e.id)).toEqual([3, 4]);
    const p3 = await list(s, { pageSize: 2, pageToken: p2.nextPageToken });
    expect(p3.events.map((e) => e.id)).toEqual([5, 6]);
    expect(p3.nextPageToken).toBe("");
    const deletes = await list(s, { filter: ['topic~="^/tokens/del"'] });
    expect(deletes.events.map((e) => e.id)).toEqual([6]);
    const either = await list(s, { filter: ["subject==token:1", "topic==/tokens/delete"] });
    expect(either.events.map((e) => e.id)).toEqual([1, 6]);
    expect((await list(s, { afterId: 4 })).events.map((e) => e.id)).toEqual([5, 6]);
    const reused = await callError(list(s, { pageSize: 2, pageToken: p1.nextPageToken, filter: ["topic==x"] }));
    expect([reused.code, reused.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_PAGE_TOKEN"]);
    const bad = await callError(list(s, { filter: ["owner==me"] }));
    expect([bad.code, bad.reason]).toEqual([status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_FILTER"]);
  });

  it("WatchEvents replays, follows live events, and a consumer resuming after a disconnect or a restart misses nothing", async () => {
    await createToken(s, "before-1");
    await createToken(s, "before-2");
    const w1 = watch(s, 0);
    expect((await w1.until(2)).map((e) => e.id)).toEqual([1, 2]);
    await createToken(s, "live");
    expect((await w1.until(3)).map((e) => e.id)).toEqual([1, 2, 3]);
    const lastSeen = w1.events.at(-1)!.id;
    w1.cancel();
    // While the consumer is away: more changes, then the server restarts.
    await createToken(s, "away-1");
    await s.stop();
    s = await startE2EServer({ databaseUrl: testDb.url });
    await createToken(s, "after-restart");
    const w2 = watch(s, lastSeen, ["topic==/tokens/create"]);
    const resumed = await w2.until(2);
    expect(resumed.map((e) => [e.id, e.payload?.$case === "token" && e.payload.token.name])).toEqual([
      [4, "away-1"],
      [5, "after-restart"],
    ]);
    w2.cancel();
  });

  it("a consumer resuming below what retention removed gets EVENTS_EXPIRED; one from 0 starts at the oldest kept", async () => {
    for (let i = 0; i < 3; i++) await createToken(s, `old${i}`);
    const db = await openDatabase(testDb.url);
    try {
      expect(await pruneEvents(db, -3_600_000, 2)).toBe(2);
    } finally {
      await db.close();
    }
    const expired = await callError(list(s, { afterId: 1 }));
    expect([expired.code, expired.reason]).toEqual([status.FAILED_PRECONDITION, "ERROR_REASON_EVENTS_EXPIRED"]);
    const err = await new Promise<{ code: number }>((resolve) => {
      const stream = s.events.watchEvents({ afterId: 1, filter: [], allNamespaces: false }, md());
      stream.on("data", () => undefined);
      stream.on("error", resolve);
    });
    expect(err.code).toBe(status.FAILED_PRECONDITION);
    expect((await list(s, { afterId: 2 })).events.map((e) => e.id)).toEqual([3]);
    expect((await list(s, {})).events.map((e) => e.id)).toEqual([3]);
  });

  it("a consumer resuming beyond the last id this database issued gets EVENT_ID_AHEAD, also after every event was pruned", async () => {
    for (let i = 0; i < 2; i++) await createToken(s, `few${i}`);
    const refused = async (afterId: number) => {
      const listed = await callError(list(s, { afterId }));
      const watched = await new Promise<{ code: number; details: string }>((resolve) => {
        const stream = s.events.watchEvents({ afterId, filter: [], allNamespaces: false }, md());
        stream.on("data", () => undefined);
        stream.on("error", resolve);
      });
      return [listed.code, listed.reason, watched.code, watched.details.includes("watch from 2")];
    };
    const ahead = [status.FAILED_PRECONDITION, "ERROR_REASON_EVENT_ID_AHEAD", status.FAILED_PRECONDITION, true];
    // A cursor from another database, or a database restored from an older backup.
    expect(await refused(3)).toEqual(ahead);
    expect(await refused(2 ** 52)).toEqual(ahead);
    // The last id issued is a valid resume point: nothing yet, and the next event arrives.
    expect((await list(s, { afterId: 2 })).events).toEqual([]);
    const db = await openDatabase(testDb.url);
    try {
      expect(await pruneEvents(db, -3_600_000)).toBe(2);
    } finally {
      await db.close();
    }
    // An empty table still knows how far its ids went.
    expect(await refused(3)).toEqual(ahead);
    expect((await list(s, { afterId: 2 })).events).toEqual([]);
  });

  if (dialect === "mariadb") {
    it("two servers whose writers commit out of id order feed one consumer exactly the table's ids", async () => {
      const other = await startE2EServer({ databaseUrl: testDb.url });
      const db = await openDatabase(testDb.url);
      try {
        const consumer = watch(s, 0);
        // A third writer reserves id 1 and holds its transaction open: both servers' token
        // writes take later ids and must wait behind it, whatever order they finish in.
        let release!: () => void;
        let reserved!: () => void;
        const held = new Promise<void>((r) => (release = r));
        const reservedP = new Promise<void>((r) => (reserved = r));
        const namespaceId = Number((await db.read("SELECT id FROM namespaces WHERE name = 'default'"))[0]!.id);
        const writer = writeTransaction(db, async (m) => {
          await appendEvents(m, db.dialect, [
            { namespaceId, topic: "/sync/finished", subject: "sync:0", payload: { sync: { runId: 0 } } },
          ]);
          reserved();
          await held;
        });
        await reservedP;
        const writes = [createToken(s, "on-a"), createToken(other, "on-b"), createToken(other, "on-b2")];
        await waitForLockWaits(db, 3);
        expect(consumer.events).toEqual([]);
        release();
        await Promise.all([writer, ...writes]);
        const got = await consumer.until(4);
        const table = (await db.read("SELECT id FROM events ORDER BY id")).map((r) => Number(r.id));
        expect(table).toEqual([1, 2, 3, 4]);
        expect(got.map((e) => e.id)).toEqual(table);
        consumer.cancel();
      } finally {
        await db.close();
        await other.stop();
      }
    });
  }
});

async function waitForLockWaits(db: Database, n: number): Promise<void> {
  // Generous: on a loaded machine the three calls may take seconds to reach their INSERT.
  for (let i = 0; i < 2000; i++) {
    const rows = await db.read(WAITING_FOR_EVENT_IDS);
    if (Number(rows[0]!.n) >= n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`expected ${n} writers waiting for the event sequence`);
}

/**
 * Writers of this database whose id reservation (the counter row's UPDATE) is in flight. It
 * cannot finish while an earlier reservation's transaction is open, so a count that stays up is
 * a writer waiting behind it. (INNODB_TRX does not always list such a waiter: PROCESSLIST does.)
 */
const WAITING_FOR_EVENT_IDS = `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
WHERE DB = DATABASE() AND INFO LIKE 'UPDATE coordination SET value = value + % WHERE name = %'`;
