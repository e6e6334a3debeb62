/**
 * One fresh database per test file, so files run in parallel: a temp SQLite file, or a new
 * MariaDB database on the server found by global-setup.ts. `forEachDialect` runs a suite on
 * both; MariaDB is skipped (loudly, and never under CI=true) only when no server exists.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { describe, inject } from "vitest";
import { openDatabase, type Database, type OpenOptions } from "../../src/db/data-source.js";
import { migrate } from "../../src/db/migrate.js";

export type TestDialect = "sqlite" | "mariadb";
export const ALL_DIALECTS: TestDialect[] = ["sqlite", "mariadb"];

export interface TestDatabase {
  url: string;
  dialect: TestDialect;
  drop(): Promise<void>;
}

export function mariadbServerUrl(): string | null {
  return inject("mariadbUrl");
}

async function adminConnection(serverUrl: string) {
  const u = new URL(serverUrl);
  return mysql.createConnection({
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
  });
}

export async function createTestDatabase(dialect: TestDialect): Promise<TestDatabase> {
  const id = `epoch_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  if (dialect === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "epoch-sqlite-"));
    return {
      url: `sqlite:${join(dir, `${id}.db`)}`,
      dialect,
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const server = mariadbServerUrl();
  if (!server) throw new Error("MariaDB is not available for this run");
  const conn = await adminConnection(server);
  try {
    await conn.query(`CREATE DATABASE \`${id}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
  const u = new URL(server);
  u.pathname = `/${id}`;
  return {
    url: u.toString().replace(/^mysql:/, "mariadb:"),
    dialect,
    drop: async () => {
      const c = await adminConnection(server);
      try {
        await c.query(`DROP DATABASE IF EXISTS \`${id}\``);
      } finally {
        await c.end();
      }
    },
  };
}

/** A fresh, migrated database, opened. */
export async function createMigratedDatabase(
  dialect: TestDialect,
  opts: OpenOptions = {},
): Promise<{ db: Database; test: TestDatabase; cleanup(): Promise<void> }> {
  const test = await createTestDatabase(dialect);
  const db = await openDatabase(test.url, opts);
  await migrate(db);
  return {
    db,
    test,
    cleanup: async () => {
      await db.close();
      await test.drop();
    },
  };
}

/** Declares `fn`'s suite once per dialect; MariaDB suites are skipped loudly without a server. */
export function forEachDialect(name: string, fn: (dialect: TestDialect) => void): void {
  for (const dialect of ALL_DIALECTS) {
    if (dialect === "mariadb" && !mariadbServerUrl()) {
      console.warn(`*** SKIPPED: ${name} [mariadb] — no MariaDB server ***`);
      describe.skip(`${name} [${dialect}]`, () => fn(dialect));
      continue;
    }
    describe(`${name} [${dialect}]`, () => fn(dialect));
  }
}
