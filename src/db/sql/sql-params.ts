/** Small helpers for the raw SQL of the index writers (placeholders, chunks, time parameters). */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { sqlNow } from "./sql.js";

/** `?, ?, ?` */
export function placeholders(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

/** `(?, ?), (?, ?)` for `rows` rows of `width` columns. */
export function rowPlaceholders(rows: number, width: number): string {
  const row = `(${placeholders(width)})`;
  return Array.from({ length: rows }, () => row).join(", ");
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * A Date as a bound parameter: better-sqlite3 binds no Date, and the text must be TypeORM's
 * ("YYYY-MM-DD HH:MM:SS.SSS", UTC) so comparisons and reads agree; mysql2 (timezone Z) takes the Date.
 */
export function timeParam(date: Date, dialect: Dialect): Date | string {
  return dialect === "sqlite" ? date.toISOString().replace("T", " ").replace("Z", "") : date;
}

/**
 * The database clock as an opaque value to bind again later (e.g. "when this run read the
 * catalog"): the driver's own form, so it compares exactly with NOW(3)-written columns.
 */
export async function databaseNow(on: Database | EntityManager, dialect: Dialect): Promise<unknown> {
  const query = "ds" in on ? on.ds.query.bind(on.ds) : on.query.bind(on);
  const rows: Array<{ now: unknown }> = await query(`SELECT ${sqlNow(dialect)} AS now`);
  return rows[0]?.now;
}

/** `FOR UPDATE` where the dialect has row locks (SQLite's writer lock covers the whole file). */
export function forUpdate(dialect: Dialect): string {
  return dialect === "sqlite" ? "" : " FOR UPDATE";
}

export const bool = (v: boolean): number => (v ? 1 : 0);
