/**
 * Filters rendered as SQL. The services layer turns `filter` strings into a condition — an OR of
 * ANDs of simple tests — that selects the matching rows or, when a regex cannot be expressed in
 * SQL, a superset of them that it then narrows itself. Values are always bound parameters.
 */
import type { Dialect } from "../column-types.js";
import { valueHash } from "../labels/label-tables.js";
import type { SqlFragment } from "./keyset.js";

export type FieldTest =
  | { field: string; op: "eq" | "ne"; value: string }
  | { field: string; op: "nonEmpty" }
  /** Starts with `value` (printable ASCII): a range, so an index on the column can serve it. */
  | { field: string; op: "prefix"; value: string }
  /**
   * Matches a token's repository glob (`*` = any run of characters, including `/`; the value
   * holds only a-z 0-9 . _ / - and `*`): an index range on its literal prefix, narrowed by
   * GLOB (SQLite) or LIKE (MariaDB) when more than a trailing `*` follows it.
   */
  | { field: string; op: "glob"; value: string }
  | LabelTest;

/**
 * A test of one label (containerd semantics: an absent label reads as ""): `labelEq` = present
 * with this value; `labelNe` = absent or another value; `labelPresent` = present (any value);
 * `labelNonEmpty` = present with a value other than "" (what `!= ""` means).
 */
export type LabelTest =
  | LabelEqTest
  | { field: "labels"; op: "labelNe"; key: string; value: string }
  | { field: "labels"; op: "labelPresent" | "labelNonEmpty"; key: string };

export interface LabelEqTest {
  field: "labels";
  op: "labelEq";
  key: string;
  value: string;
}

/** An OR of ANDs; a branch with no tests matches every row. */
export type FilterCondition = FieldTest[][];

export interface FilterColumn {
  sql: string;
  /** Already compared byte-wise (a name/digest column with utf8mb4_bin, or SQLite). */
  binary: boolean;
}

/** Same as `filterSql`, for each list's own columns. */
export type FilterColumns = Readonly<Record<string, FilterColumn>>;

/** Where a list's rows keep their labels: the table, and the condition tying its alias `l` to the row. */
export interface LabelSource {
  table: string;
  correlate: string;
}

/** The SQL for a condition, or undefined when it selects every row. */
export function filterSql(
  dialect: Dialect,
  condition: FilterCondition | undefined,
  columns: FilterColumns,
  labels?: LabelSource,
): SqlFragment | undefined {
  if (!condition || condition.length === 0 || condition.some((branch) => branch.length === 0)) return undefined;
  const params: unknown[] = [];
  const branches = condition.map(
    (branch) => `(${branch.map((test) => render(dialect, test, columns, labels, params)).join(" AND ")})`,
  );
  return { sql: branches.length === 1 ? branches[0]! : `(${branches.join(" OR ")})`, params };
}

/**
 * A single-branch condition's first label equality, served by walking the label table's
 * (owner, key, value_sha256, name) index instead of the list's own table (tag-queries.ts,
 * repository-queries.ts): a page then reads the matching rows only. The rest still filters.
 */
export function splitLabelDriver(
  condition: FilterCondition | undefined,
): { driver: LabelEqTest; rest: FilterCondition | undefined } | undefined {
  if (!condition || condition.length !== 1) return undefined;
  const [branch] = condition as [FieldTest[]];
  const i = branch.findIndex((test) => test.op === "labelEq");
  if (i === -1) return undefined;
  const rest = branch.filter((_, j) => j !== i);
  return { driver: branch[i] as LabelEqTest, rest: rest.length > 0 ? [rest] : undefined };
}

/** The driver's own conditions, on the label table's alias `d`. */
export function labelDriverSql(driver: LabelEqTest): SqlFragment {
  return { sql: "d.label_key = ? AND d.value_sha256 = ?", params: [driver.key, valueHash(driver.value)] };
}

function render(
  dialect: Dialect,
  test: FieldTest,
  columns: FilterColumns,
  labels: LabelSource | undefined,
  params: unknown[],
): string {
  if (test.field === "labels" && test.op.startsWith("label")) return renderLabel(test as LabelTest, labels, params);
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
    case "prefix":
      return prefixRange(expr, test.value, params);
    case "glob":
      return globSql(dialect, expr, test.value, params);
    default:
      throw new Error(`unexpected filter test ${JSON.stringify(test)}`);
  }
}

/** A semi-join on the label table's primary key (owner…, label_key): one index probe per row tested. */
function renderLabel(test: LabelTest, labels: LabelSource | undefined, params: unknown[]): string {
  if (!labels) throw new Error("this list has no labels");
  const exists = (extra: string) =>
    `EXISTS (SELECT 1 FROM ${labels.table} l WHERE ${labels.correlate} AND l.label_key = ?${extra})`;
  params.push(test.key);
  switch (test.op) {
    case "labelPresent":
      return exists("");
    case "labelNonEmpty":
      params.push(valueHash(""));
      return exists(" AND l.value_sha256 <> ?");
    case "labelEq":
      params.push(valueHash(test.value));
      return exists(" AND l.value_sha256 = ?");
    case "labelNe":
      params.push(valueHash(test.value));
      return `NOT ${exists(" AND l.value_sha256 = ?")}`;
  }
}

function prefixRange(expr: string, prefix: string, params: unknown[]): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  params.push(prefix, prefix.slice(0, -1) + String.fromCharCode(last + 1));
  return `${expr} >= ? AND ${expr} < ?`;
}

function globSql(dialect: Dialect, expr: string, glob: string, params: unknown[]): string {
  const star = glob.indexOf("*");
  if (star < 0) {
    params.push(glob);
    return `${expr} = ?`;
  }
  const parts: string[] = [];
  const prefix = glob.slice(0, star);
  if (prefix !== "") parts.push(prefixRange(expr, prefix, params));
  if (star !== glob.length - 1) {
    // SQLite's GLOB is case-sensitive and its other wildcards (? [) cannot occur in the value;
    // MariaDB compares the name column byte-wise (utf8mb4_bin), so LIKE is case-sensitive there.
    if (dialect === "sqlite") {
      params.push(glob);
      parts.push(`${expr} GLOB ?`);
    } else {
      params.push(glob.replace(/[!%_]/g, "!$&").replaceAll("*", "%"));
      parts.push(`${expr} LIKE ? ESCAPE '!'`);
    }
  }
  return parts.length > 0 ? parts.join(" AND ") : "1 = 1";
}
