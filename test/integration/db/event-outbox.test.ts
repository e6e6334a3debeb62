/**
 * The event outbox's ordering guarantee (db/events/event-ids.ts), on SQLite and MariaDB: ids are
 * dense and become visible in id order, so a reader that follows "id > last seen" never skips an
 * id that commits later. The out-of-order commit is forced: writer A reserves its ids and holds
 * its transaction open; writer B, which asks for ids after it, must wait (MariaDB: a lock wait we
 * observe in information_schema, never a sleep) and so cannot become visible before A.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import type { Database } from "../../../src/db/data-source.js";
import {
  appendEvents,
  EVENT_INSERT_ROWS,
  eventPageSql,
  eventsWritten,
  prunedThrough,
  pruneEvents,
  readEvents,
  type NewEvent,
} from "../../../src/db/events/event-store.js";
import { namespaceIdOf } from "../../../src/db/queries/namespaces.js";
import { writeTransaction } from "../../../src/db/write-transaction.js";
import { createMigratedDatabase, forEachDialect } from "../../helpers/database.js";

forEachDialect("event outbox", (dialect) => {
  let db: Database;
  let cleanup: () => Promise<void>;
  let ns: number;
  beforeEach(async () => {
    ({ db, cleanup } = await createMigratedDatabase(dialect));
    ns = (await namespaceIdOf(db, "default"))!;
  });
  afterEach(() => cleanup());

  const events = (n: number, tag: string): NewEvent[] =>
    Array.from({ length: n }, (_, i) => ({
      namespaceId: ns,
      topic: "/tags/create",
      subject: `library/app:${tag}-${i}`,
      payload: { tag: { repository: "library/app", tag: `${tag}-${i}` } },
    }));
  const ids = async () => (await readEvents(db, { afterId: 0, limit: 10_000 })).map((e) => e.id);

  it("hands out dense ids in commit order, across batches larger than one INSERT", async () => {
    await writeTransaction(db, (m) => appendEvents(m, db.dialect, events(3, "a")));
    await writeTransaction(db, (m) => appendEvents(m, db.dialect, events(EVENT_INSERT_ROWS + 1, "b")));
    await writeTransaction(db, (m) => appendEvents(m, db.dialect, []));
    expect(await ids()).toEqual(Array.from({ length: EVENT_INSERT_ROWS + 4 }, (_, i) => i + 1));
    const [first] = await readEvents(db, { afterId: 0, limit: 1 });
    expect(first).toMatchObject({ id: 1, namespace: "default", topic: "/tags/create", subject: "library/app:a-0" });
    expect(first!.payload).toEqual({ tag: { repository: "library/app", tag: "a-0" } });
    expect(Math.abs(first!.time.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it("a rolled-back writer leaves no gap", async () => {
    await expect(
      writeTransaction(db, async (m) => {
        await appendEvents(m, db.dialect, events(5, "lost"));
        throw new Error("the change failed");
      }),
    ).rejects.toThrow("the change failed");
    await writeTransaction(db, (m) => appendEvents(m, db.dialect, events(2, "kept")));
    expect(await ids()).toEqual([1, 2]);
    // The events-written counts follow commits only.
    expect(eventsWritten(db)).toEqual(new Map([["/tags/create", 2]]));
  });

  it("keeps the name of a namespace deleted in the same transaction, and refuses an unknown namespace", async () => {
    const [doomed] = (await db.read("SELECT id FROM namespaces WHERE name = 'default'")).map((r) => Number(r.id));
    await writeTransaction(db, async (m) => {
      await m.query(
        "INSERT INTO namespaces (name, storage_url, created_at, updated_at) VALUES ('gone', '', '2026-01-01', '2026-01-01')",
      );
      const [row] = (await m.query("SELECT id FROM namespaces WHERE name = 'gone'")) as Array<{ id: unknown }>;
      await m.query("DELETE FROM namespaces WHERE name = 'gone'");
      await appendEvents(m, db.dialect, [
        { namespaceId: Number(row!.id), namespace: "gone", topic: "/namespaces/delete", subject: "gone", payload: {} },
      ]);
    });
    expect((await readEvents(db, { afterId: 0, limit: 10 })).map((e) => [e.namespace, e.topic])).toEqual([
      ["gone", "/namespaces/delete"],
    ]);
    await expect(
      writeTransaction(db, (m) =>
        appendEvents(m, db.dialect, [
          { namespaceId: doomed! + 1000, topic: "/tags/create", subject: "x:y", payload: {} },
        ]),
      ),
    ).rejects.toThrow("does not exist");
  });

  it("a writer that reserved later ids cannot become visible before one that reserved earlier", async () => {
    let releaseA!: () => void;
    let reservedA!: () => void;
    const aReserved = new Promise<void>((r) => (reservedA = r));
    const aHeld = new Promise<void>((r) => (releaseA = r));
    const a = writeTransaction(db, async (m) => {
      await appendEvents(m, db.dialect, events(2, "a"));
      reservedA();
      await aHeld; // A's ids are reserved, its transaction is still open
    });
    await aReserved;
    const b = writeTransaction(db, (m) => appendEvents(m, db.dialect, events(3, "b")));
    let during: Promise<number[]>;
    if (dialect === "mariadb") {
      await lockWaitSeen(db);
      // Neither is visible: B waits behind A's reservation.
      during = Promise.resolve(await ids());
    } else {
      // SQLite has one connection: a read must queue behind open writers, never see A uncommitted.
      during = ids();
    }
    releaseA();
    await Promise.all([a, b]);
    expect([[], [1, 2, 3, 4, 5]]).toContainEqual(await during);
    const seen = await readEvents(db, { afterId: 0, limit: 100 });
    expect(seen.map((e) => e.id)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.map((e) => e.subject.split(":")[1])).toEqual(["a-0", "a-1", "b-0", "b-1", "b-2"]);
  });

  it("reads a namespace's page as a range of (namespace_id, id), not every entry of the namespace from its first", async () => {
    await writeTransaction(db, (m) => appendEvents(m, db.dialect, events(2000, "many")));
    const sql = eventPageSql(db.dialect, true, 500);
    if (dialect === "sqlite") {
      const plan = await db.read<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, [ns, 1000]);
      expect(plan.map((p) => p.detail).join("; ")).toContain("ix_events_namespace_id (namespace_id=? AND id>?)");
    } else {
      const [plan] = await db.read<{ type: string; key: string; key_len: unknown }>(`EXPLAIN ${sql}`, [ns, 1000]);
      // `ref` on namespace_id alone (key_len 8) read the namespace from its first event on every page.
      expect(plan).toMatchObject({ type: "range", key: "ix_events_namespace_id" });
      expect(Number(plan!.key_len)).toBe(16);
    }
    const page = await readEvents(db, { afterId: 1000, limit: 500, namespaceId: ns });
    expect(page.map((e) => e.id)).toEqual(Array.from({ length: 500 }, (_, i) => 1001 + i));
  });

  it("prunes by age and records how far, so a resume below it can be refused", async () => {
    await writeTransaction(db, (m) => appendEvents(m, db.dialect, events(4, "old")));
    expect(await pruneEvents(db, 3_600_000)).toBe(0);
    expect(await prunedThrough(db)).toBe(0);
    // A negative retention puts every event in the past.
    expect(await pruneEvents(db, -3_600_000, 3)).toBe(3);
    expect(await prunedThrough(db)).toBe(3);
    expect(await ids()).toEqual([4]);
    await writeTransaction(db, (m) => appendEvents(m, db.dialect, events(1, "new")));
    expect(await ids()).toEqual([4, 5]);
  });
});

/** Waits until MariaDB reports a transaction waiting for a row lock (B behind A's counter row). */
async function lockWaitSeen(db: Database): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    const rows = await db.read(WAITING_FOR_EVENT_IDS);
    if (Number(rows[0]!.n) > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("writer B never waited for writer A's lock");
}

/**
 * Writers of this database whose id reservation (the counter row's UPDATE) is in flight. It
 * cannot finish while an earlier reservation's transaction is open, so a count that stays up is
 * a writer waiting behind it. (INNODB_TRX does not always list such a waiter: PROCESSLIST does.)
 */
const WAITING_FOR_EVENT_IDS = `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
WHERE DB = DATABASE() AND INFO LIKE 'UPDATE coordination SET value = value + % WHERE name = %'`;
