/**
 * Scratch databases for the benchmarks: a SQLite file in a directory, or a new MariaDB database
 * on EPOCH_BENCH_MARIADB_URL (mysql://root@127.0.0.1:3306/), created migrated and dropped after.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { openDatabase, type Database } from "../src/db/data-source.js";
import { migrate } from "../src/db/migrate.js";

export type BenchDialect = "sqlite" | "mariadb";

export interface BenchDatabase {
  dialect: BenchDialect;
  /** EPOCH_DATABASE_URL of it. */
  url: string;
  /** An open, migrated handle (closed by `drop`). */
  db: Database;
  drop(): Promise<void>;
}

export async function benchDatabase(dialect: BenchDialect, dir: string, name: string): Promise<BenchDatabase> {
  if (dialect === "sqlite") {
    const url = `sqlite:${join(dir, `${name}.db`)}`;
    const db = await openDatabase(url);
    await migrate(db);
    return { dialect, url, db, drop: () => db.close() };
  }
  const server = (process.env.EPOCH_BENCH_MARIADB_URL ?? "mysql://root@127.0.0.1:3306/").replace(/\/?$/, "/");
  const database = `epoch_bench_${name.replace(/\W/g, "_")}_${randomBytes(4).toString("hex")}`;
  const admin = await mysql.createConnection(server);
  await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  const url = `${server.replace(/^mysql:/, "mariadb:")}${database}`;
  const db = await openDatabase(url);
  await migrate(db);
  return {
    dialect,
    url,
    db,
    drop: async () => {
      await db.close();
      await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await admin.end();
    },
  };
}
