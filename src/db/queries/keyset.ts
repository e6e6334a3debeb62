/**
 * Keyset pagination (never OFFSET): a page starts strictly after the sort key of the previous
 * page's last row. Every sort key ends with the row's name, so keys are unique and a page
 * boundary never skips or repeats rows that existed before the first page was read.
 *
 * Two-column bounds are written per dialect so that each is a single index range seek:
 * SQLite plans a row value `(a, b) < (?, ?)` as one range on the index, but reads the OR form
 * as `a <= ?` (scanning every tie); MariaDB turns the OR form into exact ranges, but does not
 * use an index for row values at all.
 *
 * The index is named in the query: MariaDB otherwise walks a descending order with `ref` access
 * on the leading column only, reading from the end of the repository's rows down to the bound
 * (thousands of rows for a deep page) instead of seeking to it.
 */
import type { Dialect } from "../column-types.js";
import { toNumber, toTimeKey } from "../sql/decode.js";
import type { KeysetRows, KeyType, KeyValue } from "./records.js";

export interface SortColumn {
  /** Qualified column, e.g. "t.pushed_at". */
  sql: string;
  /** The column's name in a result row. */
  field: string;
  /** "time" keys travel as the database's own text form (see decode.ts toTimeKey). */
  type: "string" | "number" | "time";
}

export interface SortKey {
  /** The index that serves this order (its leading columns are the query's equality prefix). */
  index: string;
  columns: readonly SortColumn[];
  /** All columns run the same direction, so one index serves the ORDER BY forwards or backwards. */
  descending: boolean;
}

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/** The types a decoded page token must have for this sort key. */
export function keyTypes(key: SortKey): KeyType[] {
  return key.columns.map((c) => (c.type === "number" ? "number" : "string"));
}

/** `tags t` → `tags t FORCE INDEX (…)` / `tags t INDEXED BY …`, so the plan cannot drift. */
export function tableWithIndex(dialect: Dialect, table: string, key: SortKey): string {
  return dialect === "sqlite" ? `${table} INDEXED BY ${key.index}` : `${table} FORCE INDEX (${key.index})`;
}

export function orderByClause(key: SortKey): string {
  const direction = key.descending ? " DESC" : "";
  return key.columns.map((c) => `${c.sql}${direction}`).join(", ");
}

/** The condition "after `after` in this order", for this dialect. */
export function afterClause(dialect: Dialect, key: SortKey, after: readonly KeyValue[]): SqlFragment {
  const op = key.descending ? "<" : ">";
  const [first, second] = key.columns;
  if (!first) throw new Error("a sort key needs at least one column");
  if (!second) return { sql: `${first.sql} ${op} ?`, params: [after[0]] };
  if (key.columns.length > 2) throw new Error("sort keys have at most two columns");
  if (dialect === "sqlite") {
    return { sql: `(${first.sql}, ${second.sql}) ${op} (?, ?)`, params: [after[0], after[1]] };
  }
  return {
    sql: `(${first.sql} ${op} ? OR (${first.sql} = ? AND ${second.sql} ${op} ?))`,
    params: [after[0], after[0], after[1]],
  };
}

/** The sort-key values of a result row, as a page token carries them. */
export function keyOf(key: SortKey, row: Record<string, unknown>): KeyValue[] {
  return key.columns.map((c) => {
    const value = row[c.field];
    return c.type === "number" ? toNumber(value) : c.type === "time" ? toTimeKey(value) : String(value);
  });
}

/**
 * Splits the result of a keyset query built for `limit + 1` rows: the extra row only says
 * whether more follow.
 */
export function toRows<T>(
  key: SortKey,
  rows: Array<Record<string, unknown>>,
  limit: number,
  decode: (row: Record<string, unknown>) => T,
): KeysetRows<T> {
  const kept = rows.length > limit ? rows.slice(0, limit) : rows;
  return { items: kept.map(decode), keys: kept.map((row) => keyOf(key, row)), more: rows.length > limit };
}
