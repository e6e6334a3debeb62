/** Small helpers for the raw SQL of the index writers (placeholders, chunks, time parameters). */
import type { Dialect } from "../column-types.js";

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
  return dialect === "sqlite" ? sqlTime(date) : date;
}

/** The text form both dialects accept for a DATETIME(3) parameter, in UTC. */
export function sqlTime(date: Date): string {
  return date.toISOString().replace("T", " ").replace("Z", "");
}

/** `FOR UPDATE` where the dialect has row locks (SQLite's writer lock covers the whole file). */
export function forUpdate(dialect: Dialect): string {
  return dialect === "sqlite" ? "" : " FOR UPDATE";
}

export const bool = (v: boolean): number => (v ? 1 : 0);
