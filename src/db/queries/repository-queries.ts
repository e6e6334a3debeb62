/**
 * Reads of `repositories`. Each order is served by one index: uq_repositories_namespace_name,
 * ix_repositories_update_time, ix_repositories_total_size (all lead with namespace_id) — except
 * under a label equality filter, which walks ix_repository_labels_value instead (as ListTags
 * does: tag-queries.ts). Labels are read for a page's repositories in one more statement.
 */
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { readLabels, readLabelsOf } from "../labels/label-store.js";
import {
  filterSql,
  labelDriverSql,
  splitLabelDriver,
  type FilterColumns,
  type FilterCondition,
  type LabelSource,
} from "./filter-sql.js";
import { toDate, toNumber } from "../sql/decode.js";
import { afterClause, orderByClause, tableWithIndex, toRows, type SortKey, type SqlFragment } from "./keyset.js";
import type { KeysetRows, KeyValue, RepositoryRecord } from "./records.js";

const NAME = { sql: "r.name", field: "name", type: "string" } as const;

/** ListRepositories `order_by` values → sort keys; ties are broken by name, in the same direction. */
export const REPOSITORY_SORTS = {
  name: { index: "uq_repositories_namespace_name", columns: [NAME], descending: false },
  "update_time desc": {
    index: "ix_repositories_update_time",
    columns: [{ sql: "r.updated_at", field: "updated_at", type: "time" }, NAME],
    descending: true,
  },
  "total_size desc": {
    index: "ix_repositories_total_size",
    columns: [{ sql: "r.total_size", field: "total_size", type: "number" }, NAME],
    descending: true,
  },
} as const satisfies Record<string, SortKey>;

export type RepositoryOrder = keyof typeof REPOSITORY_SORTS;

const COLUMNS = "r.name, r.tag_count, r.total_size, r.artifact_type, r.kind, r.created_at, r.updated_at";

/** Fields a ListRepositories filter may test. */
export const REPOSITORY_FILTER_COLUMNS: FilterColumns = {
  name: { sql: "r.name", binary: true },
  kind: { sql: "r.kind", binary: false },
  artifact_type: { sql: "r.artifact_type", binary: false },
};

/** Label tests of a ListRepositories filter: the repository's rows in repository_labels. */
export const REPOSITORY_LABELS: LabelSource = {
  table: "repository_labels",
  correlate: "l.namespace_id = r.namespace_id AND l.repository_name = r.name",
};

const DRIVEN_NAME = { sql: "d.repository_name", field: "name", type: "string" } as const;

export interface RepositoryPageQuery {
  namespaceId: number;
  order: RepositoryOrder;
  after?: readonly KeyValue[];
  limit: number;
  /** Rows must match this (filters). */
  filter?: FilterCondition;
  /** The caller's repository globs, as `glob` tests on `name` (undefined = every repository). */
  bound?: FilterCondition;
}

/** The column a repository bound tests. */
export const BOUND_COLUMNS: FilterColumns = { name: { sql: "r.name", binary: true } };

export function repositoryPageSql(dialect: Dialect, q: RepositoryPageQuery): SqlFragment {
  const split = splitLabelDriver(q.filter);
  const key: SortKey =
    split && q.order === "name"
      ? { index: "ix_repository_labels_value", columns: [DRIVEN_NAME], descending: false }
      : REPOSITORY_SORTS[q.order];
  const conditions: SqlFragment[] = [
    { sql: split ? "d.namespace_id = ?" : "r.namespace_id = ?", params: [q.namespaceId] },
  ];
  if (split) conditions.push(labelDriverSql(split.driver));
  if (q.after) conditions.push(afterClause(dialect, key, q.after));
  const filter = filterSql(dialect, split ? split.rest : q.filter, REPOSITORY_FILTER_COLUMNS, REPOSITORY_LABELS);
  if (filter) conditions.push(filter);
  const bound = filterSql(dialect, q.bound, BOUND_COLUMNS);
  if (bound) conditions.push(bound);
  const from = split
    ? `${tableWithIndex(dialect, "repository_labels d", { ...key, index: "ix_repository_labels_value" })}
JOIN repositories r ON r.namespace_id = d.namespace_id AND r.name = d.repository_name`
    : tableWithIndex(dialect, "repositories r", key);
  return {
    sql: `SELECT ${COLUMNS}
FROM ${from}
WHERE ${conditions.map((c) => c.sql).join(" AND ")}
ORDER BY ${orderByClause(key)}
LIMIT ?`,
    params: [...conditions.flatMap((c) => c.params), q.limit + 1],
  };
}

export async function listRepositoryPage(db: Database, q: RepositoryPageQuery): Promise<KeysetRows<RepositoryRecord>> {
  const { sql, params } = repositoryPageSql(db.dialect, q);
  const rows: Array<Record<string, unknown>> = await db.read(sql, params);
  const page = toRows(REPOSITORY_SORTS[q.order], rows, q.limit, decodeRepository);
  if (page.items.length > 0) {
    const labels = await readLabelsOf(
      db,
      "repository",
      q.namespaceId,
      page.items.map((r) => r.name),
    );
    for (const repository of page.items) repository.labels = labels.get(repository.name) ?? {};
  }
  return page;
}

export async function findRepository(
  db: Database,
  namespaceId: number,
  name: string,
): Promise<RepositoryRecord | undefined> {
  const rows: Array<Record<string, unknown>> = await db.read(
    `SELECT ${COLUMNS} FROM repositories r WHERE r.namespace_id = ? AND r.name = ?`,
    [namespaceId, name],
  );
  if (!rows[0]) return undefined;
  const found = decodeRepository(rows[0]);
  found.labels = await readLabels(db, "repository", [namespaceId, name]);
  return found;
}

export async function repositoryExists(db: Database, namespaceId: number, name: string): Promise<boolean> {
  const rows: unknown[] = await db.read(
    "SELECT 1 AS found FROM repositories r WHERE r.namespace_id = ? AND r.name = ?",
    [namespaceId, name],
  );
  return rows.length > 0;
}

function decodeRepository(row: Record<string, unknown>): RepositoryRecord {
  return {
    name: String(row.name),
    tagCount: toNumber(row.tag_count),
    totalSize: toNumber(row.total_size),
    artifactType: String(row.artifact_type ?? ""),
    kind: String(row.kind ?? ""),
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    labels: {},
  };
}
