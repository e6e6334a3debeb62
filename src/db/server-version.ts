/** Which database server the service talks to, for the start line: "MariaDB 10.11.6", "SQLite 3.46.1". */
import type { Database } from "./data-source.js";

export async function databaseServer(db: Database): Promise<string> {
  if (db.dialect === "sqlite") {
    const [row] = (await db.ds.query("SELECT sqlite_version() AS v")) as Array<{ v: string }>;
    return `SQLite ${row?.v ?? "?"}`;
  }
  const [row] = (await db.ds.query("SELECT VERSION() AS v")) as Array<{ v: string }>;
  return describeMysqlVersion(String(row?.v ?? ""));
}

/** `10.11.6-MariaDB-0+deb12u1` → `MariaDB 10.11.6`; `8.0.36` → `MySQL 8.0.36`. */
export function describeMysqlVersion(version: string): string {
  const number = /^\d+(\.\d+)*/.exec(version)?.[0] ?? version;
  return /mariadb/i.test(version) ? `MariaDB ${number}` : `MySQL ${number}`;
}
