/**
 * Turns raw column values into typed ones. The read queries use raw SQL (so their shape stays
 * visible and reviewable), which bypasses TypeORM's transformers: each driver hands back its own
 * forms — SQLite returns datetime text and 0/1, mysql2 returns Date objects and, for BIGINT,
 * numbers or strings. Every value we store stays below 2^53 (checked on input).
 */

export function toNumber(value: unknown): number {
  return typeof value === "number" ? value : Number(value ?? 0);
}

export function toBool(value: unknown): boolean {
  return Boolean(Number(value ?? 0));
}

/** SQLite keeps TypeORM's UTC text ("YYYY-MM-DD HH:MM:SS.SSS"); mysql2 (timezone "Z") gives Dates. */
export function toDate(value: unknown): Date {
  if (value instanceof Date) return value;
  const text = String(value);
  // A text timestamp without a zone is UTC here (TypeORM and sqlNow both write UTC).
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text.replace(" ", "T")}Z`);
}

/** Nullable text columns (and NULL, which drivers give as null or undefined). */
export function toTextOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

export function toDateOrNull(value: unknown): Date | null {
  return value === null || value === undefined ? null : toDate(value);
}

/** JSON columns: text on SQLite (`simple-json`), and text from MariaDB's JSON (LONGTEXT) too. */
export function toJson<T>(value: unknown): T | null {
  if (value === null || value === undefined || value === "") return null;
  return (typeof value === "string" ? JSON.parse(value) : value) as T;
}

/**
 * A timestamp as a keyset bound: the stored text itself on SQLite (so the comparison is the one
 * the index orders by), and the same UTC text form from MariaDB's Date.
 */
export function toTimeKey(value: unknown): string {
  if (value instanceof Date) return value.toISOString().replace("T", " ").replace("Z", "");
  return String(value);
}
