/**
 * Filters rendered as SQL. The services layer turns `filter` strings into a condition — an OR of
 * ANDs of simple tests — that selects the matching rows or, when a regex cannot be expressed in
 * SQL, a superset of them that it then narrows itself. Values are always bound parameters.
 */
import type { Dialect } from "../column-types.js";
import type { SqlFragment } from "./keyset.js";

export type FieldTest =
  | { field: string; op: "eq" | "ne"; value: string }
  | { field: string; op: "nonEmpty" }
  /** Starts with `value` (printable ASCII): a range, so an index on the column can serve it. */
  | { field: string; op: "prefix"; value: string };

/** An OR of ANDs; a branch with no tests matches every row. */
export type FilterCondition = FieldTest[][];

export interface FilterColumn {
  sql: string;
  /** Already compared byte-wise (a name/digest column with utf8mb4_bin, or SQLite). */
  binary: boolean;
}

/** Same as `filterSql`, for each list's own columns. */
export type FilterColumns = Readonly<Record<string, FilterColumn>>;

/** The SQL for a condition, or undefined when it selects every row. */
export function filterSql(
  dialect: Dialect,
  condition: FilterCondition | undefined,
  columns: FilterColumns,
): SqlFragment | undefined {
  if (!condition || condition.length === 0 || condition.some((branch) => branch.length === 0)) return undefined;
  const params: unknown[] = [];
  const branches = condition.map(
    (branch) => `(${branch.map((test) => render(dialect, test, columns, params)).join(" AND ")})`,
  );
  return { sql: branches.length === 1 ? branches[0]! : `(${branches.join(" OR ")})`, params };
}

function render(dialect: Dialect, test: FieldTest, columns: FilterColumns, params: unknown[]): string {
  const column = columns[test.field];
  if (!column) throw new Error(`no filter column for ${test.field}`);
  // Media types and kinds use MariaDB's default case-insensitive collation; filters compare byte-wise everywhere.
  const expr = column.binary || dialect === "sqlite" ? column.sql : `${column.sql} COLLATE utf8mb4_bin`;
  switch (test.op) {
    case "eq":
      params.push(test.value);
      return `${expr} = ?`;
    case "ne":
      params.push(test.value);
      return `${expr} <> ?`;
    case "nonEmpty":
      return `${expr} <> ''`;
    case "prefix": {
      const last = test.value.charCodeAt(test.value.length - 1);
      params.push(test.value, test.value.slice(0, -1) + String.fromCharCode(last + 1));
      return `${expr} >= ? AND ${expr} < ?`;
    }
  }
}
