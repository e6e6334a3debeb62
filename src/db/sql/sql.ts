import type { Dialect } from "../column-types.js";

/**
 * The database clock. Leases, `indexed_at` and catalog-read times use it rather than a
 * replica's clock, so replicas with skewed clocks still agree. SQLite's text form matches
 * what TypeORM writes for datetime columns ("YYYY-MM-DD HH:MM:SS.SSS").
 */
export function sqlNow(dialect: Dialect): string {
  return dialect === "sqlite" ? "strftime('%Y-%m-%d %H:%M:%f','now')" : "NOW(3)";
}

/**
 * The database clock plus `?` milliseconds (one bound parameter, negative for the past). SQLite's
 * modifier takes the sign from the number itself: a written '+' before a negative one ("+-3.0
 * seconds") is no modifier at all, and the whole expression NULL.
 */
export function sqlNowPlusMs(dialect: Dialect): string {
  return dialect === "sqlite"
    ? "strftime('%Y-%m-%d %H:%M:%f','now', (? / 1000.0) || ' seconds')"
    : "DATE_ADD(NOW(3), INTERVAL (? * 1000) MICROSECOND)";
}

/** `INSERT … ` that ignores a duplicate key on every dialect. */
export function insertIgnore(dialect: Dialect): string {
  return dialect === "sqlite" ? "INSERT OR IGNORE" : "INSERT IGNORE";
}
