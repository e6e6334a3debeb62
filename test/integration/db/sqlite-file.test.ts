/**
 * The SQLite file settings of db/data-source.ts: a new file gets SQLITE_PAGE_SIZE and the WAL
 * checkpoint interval; a file created elsewhere with SQLite's default 4 KiB pages keeps them
 * (page_size cannot change once a WAL database has content) and still opens and migrates.
 */
import { createRequire } from "node:module";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase, SQLITE_CHECKPOINT_PAGES, SQLITE_PAGE_SIZE, type Database } from "../../../src/db/data-source.js";
import { migrate } from "../../../src/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "../../helpers/database.js";

// The driver TypeORM uses, opened bare to make a file the way another tool would (no @types for it here).
const BetterSqlite3 = createRequire(import.meta.url)("better-sqlite3") as new (path: string) => {
  pragma(sql: string): unknown;
  exec(sql: string): void;
  close(): void;
};

const pragma = async (db: Database, name: string): Promise<number> => {
  const rows: Array<Record<string, unknown>> = await db.ds.query(`PRAGMA ${name}`);
  return Number(Object.values(rows[0]!)[0]);
};

describe("SQLite file settings", () => {
  let test: TestDatabase | undefined;
  let db: Database | undefined;
  afterEach(async () => {
    await db?.close();
    await test?.drop();
    db = test = undefined;
  });

  it("creates a new file with the configured page size, WAL and checkpoint interval", async () => {
    test = await createTestDatabase("sqlite");
    db = await openDatabase(test.url);
    await migrate(db);
    expect(SQLITE_PAGE_SIZE).not.toBe(4096);
    expect(await pragma(db, "page_size")).toBe(SQLITE_PAGE_SIZE);
    expect(SQLITE_CHECKPOINT_PAGES * SQLITE_PAGE_SIZE).toBe(64 * 1024 * 1024);
    expect(await pragma(db, "wal_autocheckpoint")).toBe(SQLITE_CHECKPOINT_PAGES);
    const [mode] = (await db.ds.query("PRAGMA journal_mode")) as Array<{ journal_mode: string }>;
    expect(mode!.journal_mode).toBe("wal");
  });

  it("keeps the page size of an existing file and migrates it", async () => {
    test = await createTestDatabase("sqlite");
    const path = test.url.slice("sqlite:".length);
    const raw = new BetterSqlite3(path);
    raw.pragma("journal_mode = WAL");
    raw.exec("CREATE TABLE operator_notes (note TEXT)");
    raw.close();
    db = await openDatabase(test.url);
    const { applied } = await migrate(db);
    expect(applied.length).toBeGreaterThan(0);
    expect(await pragma(db, "page_size")).toBe(4096);
    expect(await db.ds.query("SELECT name FROM namespaces")).toEqual([{ name: "default" }]);
  });
});
