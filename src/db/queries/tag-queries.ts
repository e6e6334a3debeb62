/**
 * Reads of `tags` (with the few manifest columns a tag shows). Lists join `repositories` on its
 * unique (namespace_id, name) key, so a page is one round trip, and `manifests` on its primary
 * key; they never select `manifests.json`. Each order is served by one index of `tags`:
 * uq_tags_repository_name, ix_tags_push_time, ix_tags_total_size.
 */
import type { PlatformSizeJson } from "../entities/index.js";
import type { Database } from "../data-source.js";
import type { Dialect } from "../column-types.js";
import { filterSql, type FilterColumns, type FilterCondition } from "./filter-sql.js";
import { toBool, toDate, toDateOrNull, toJson, toNumber } from "../sql/decode.js";
import { afterClause, orderByClause, tableWithIndex, toRows, type SortKey, type SqlFragment } from "./keyset.js";
import type { KeysetRows, KeyValue, TagRecord } from "./records.js";

const NAME = { sql: "t.name", field: "name", type: "string" } as const;

/** ListTags `order_by` values → sort keys; ties are broken by name, in the same direction. */
export const TAG_SORTS = {
  name: { index: "uq_tags_repository_name", columns: [NAME], descending: false },
  "name desc": { index: "uq_tags_repository_name", columns: [NAME], descending: true },
  "push_time desc": {
    index: "ix_tags_push_time",
    columns: [{ sql: "t.pushed_at", field: "pushed_at", type: "time" }, NAME],
    descending: true,
  },
  "total_size desc": {
    index: "ix_tags_total_size",
    columns: [{ sql: "t.total_size", field: "total_size", type: "number" }, NAME],
    descending: true,
  },
} as const satisfies Record<string, SortKey>;

export type TagOrder = keyof typeof TAG_SORTS;

const LIST_COLUMNS = `t.name, t.digest, t.kind, t.total_size, t.pushed_at, t.incomplete, t.indexed_at, t.synced_at,
  m.media_type, m.artifact_type, m.layer_count, m.platform_sizes`;

/** Fields a ListTags filter may test (services/queries/filter/list-filter.ts maps names to these). */
export const TAG_FILTER_COLUMNS: FilterColumns = {
  name: { sql: "t.name", binary: true },
  digest: { sql: "t.digest", binary: true },
  kind: { sql: "t.kind", binary: false },
  artifact_type: { sql: "m.artifact_type", binary: false },
  media_type: { sql: "m.media_type", binary: false },
};

export interface TagPageQuery {
  namespaceId: number;
  repository: string;
  order: TagOrder;
  /** The previous page's last key, or undefined for the first page. */
  after?: readonly KeyValue[];
  limit: number;
  /** Rows must match this (filters). */
  filter?: FilterCondition;
}

/** The SQL and parameters of one page (exported so the query shape can be snapshotted). */
export function tagPageSql(dialect: Dialect, q: TagPageQuery): SqlFragment {
  const key: SortKey = TAG_SORTS[q.order];
  const conditions: SqlFragment[] = [
    { sql: "r.namespace_id = ? AND r.name = ?", params: [q.namespaceId, q.repository] },
  ];
  if (q.after) conditions.push(afterClause(dialect, key, q.after));
  const filter = filterSql(dialect, q.filter, TAG_FILTER_COLUMNS);
  if (filter) conditions.push(filter);
  return {
    sql: `SELECT ${LIST_COLUMNS}
FROM repositories r
JOIN ${tableWithIndex(dialect, "tags t", key)} ON t.repository_id = r.id
JOIN manifests m ON m.id = t.manifest_id
WHERE ${conditions.map((c) => c.sql).join(" AND ")}
ORDER BY ${orderByClause(key)}
LIMIT ?`,
    // One row more than asked for tells whether another page follows.
    params: [...conditions.flatMap((c) => c.params), q.limit + 1],
  };
}

export async function listTagPage(db: Database, q: TagPageQuery): Promise<KeysetRows<TagRecord>> {
  const { sql, params } = tagPageSql(db.dialect, q);
  const rows: Array<Record<string, unknown>> = await db.read(sql, params);
  return toRows(TAG_SORTS[q.order], rows, q.limit, (row) => decodeTag(q.repository, row));
}

/** One tag with its manifest bytes, or undefined. */
export async function findTag(
  db: Database,
  namespaceId: number,
  repository: string,
  tag: string,
): Promise<TagRecord | undefined> {
  const rows: Array<Record<string, unknown>> = await db.read(
    `SELECT ${LIST_COLUMNS}, m.json AS manifest_json
FROM repositories r
JOIN tags t ON t.repository_id = r.id
JOIN manifests m ON m.id = t.manifest_id
WHERE r.namespace_id = ? AND r.name = ? AND t.name = ?`,
    [namespaceId, repository, tag],
  );
  return rows[0] && decodeTag(repository, rows[0]);
}

function decodeTag(repository: string, row: Record<string, unknown>): TagRecord {
  return {
    repository,
    name: String(row.name),
    digest: String(row.digest),
    mediaType: String(row.media_type ?? ""),
    artifactType: String(row.artifact_type ?? ""),
    kind: String(row.kind ?? ""),
    totalSize: toNumber(row.total_size),
    layerCount: toNumber(row.layer_count),
    platformSizes: toJson<PlatformSizeJson[]>(row.platform_sizes) ?? [],
    ...(row.manifest_json !== undefined && { manifestJson: String(row.manifest_json) }),
    pushedAt: toDate(row.pushed_at),
    indexedAt: toDate(row.indexed_at),
    syncedAt: toDateOrNull(row.synced_at),
    incomplete: toBool(row.incomplete),
  };
}
