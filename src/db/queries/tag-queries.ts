/**
 * Reads of `tags` (with the few manifest columns a tag shows). Lists join `repositories` on its
 * unique (namespace_id, name) key, so a page is one round trip, and `manifests` on its primary
 * key; they never select `manifests.json`. Each order is served by one index of `tags`:
 * uq_tags_repository_name, ix_tags_push_time, ix_tags_total_size — except under a label
 * equality filter, which walks the label index instead (see tagPageSql). Each row brings its
 * labels as one JSON column (a primary-key probe of tag_labels), so a page stays one statement.
 */
import type { PlatformSizeJson } from "../entities/index.js";
import type { Database } from "../data-source.js";
import type { Dialect } from "../column-types.js";
import { labelsFromJson, labelsJsonSql, readLabels } from "../labels/label-store.js";
import {
  filterSql,
  labelDriverSql,
  splitLabelDriver,
  type FilterColumns,
  type FilterCondition,
  type LabelSource,
} from "./filter-sql.js";
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

const TAG_COLUMNS = `t.repository_id, t.name, t.digest, t.kind, t.total_size, t.pushed_at, t.incomplete, t.indexed_at, t.synced_at,
  m.media_type, m.artifact_type, m.layer_count, m.platform_sizes`;

const listColumns = (dialect: Dialect) =>
  `${TAG_COLUMNS},\n  ${labelsJsonSql(dialect, "tag", "l.repository_id = t.repository_id AND l.tag_name = t.name")} AS labels_json`;

/** Fields a ListTags filter may test (services/queries/filter/list-filter.ts maps names to these). */
export const TAG_FILTER_COLUMNS: FilterColumns = {
  name: { sql: "t.name", binary: true },
  digest: { sql: "t.digest", binary: true },
  kind: { sql: "t.kind", binary: false },
  artifact_type: { sql: "m.artifact_type", binary: false },
  media_type: { sql: "m.media_type", binary: false },
};

/** Label tests of a ListTags filter: the tag's rows in tag_labels (primary key lookups). */
export const TAG_LABELS: LabelSource = {
  table: "tag_labels",
  correlate: "l.repository_id = t.repository_id AND l.tag_name = t.name",
};

/** Name orders under a label driver: the label index's own tag_name column gives the order. */
const DRIVEN_NAME = { sql: "d.tag_name", field: "name", type: "string" } as const;

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

/**
 * The SQL and parameters of one page (exported so the query shape can be snapshotted).
 *
 * A filter that is one AND-list holding `labels."k"==v` is driven by that label: the query walks
 * ix_tag_labels_value (repository_id, label_key, value_sha256, tag_name) and joins each match to
 * its tag on uq_tags_repository_name, so it reads the matching rows only. In name order that
 * range is already sorted (the keyset bound is on d.tag_name) and a page reads page_size rows;
 * in the other orders the matches are sorted, a cost that follows their number, not the
 * repository's size. Every other filter tests each row the order's index yields.
 */
export function tagPageSql(dialect: Dialect, q: TagPageQuery): SqlFragment {
  const split = splitLabelDriver(q.filter);
  const nameOrder = q.order === "name" || q.order === "name desc";
  const key: SortKey =
    split && nameOrder
      ? { index: "ix_tag_labels_value", columns: [DRIVEN_NAME], descending: TAG_SORTS[q.order].descending }
      : TAG_SORTS[q.order];
  const conditions: SqlFragment[] = [
    { sql: "r.namespace_id = ? AND r.name = ?", params: [q.namespaceId, q.repository] },
  ];
  if (split) conditions.push(labelDriverSql(split.driver));
  if (q.after) conditions.push(afterClause(dialect, key, q.after));
  const filter = filterSql(dialect, split ? split.rest : q.filter, TAG_FILTER_COLUMNS, TAG_LABELS);
  if (filter) conditions.push(filter);
  const from = split
    ? `FROM repositories r
JOIN ${tableWithIndex(dialect, "tag_labels d", { ...key, index: "ix_tag_labels_value" })} ON d.repository_id = r.id
JOIN tags t ON t.repository_id = d.repository_id AND t.name = d.tag_name`
    : `FROM repositories r
JOIN ${tableWithIndex(dialect, "tags t", key)} ON t.repository_id = r.id`;
  return {
    sql: `SELECT ${listColumns(dialect)}
${from}
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
  const page = toRows(TAG_SORTS[q.order], rows, q.limit, (row) => decodeTag(q.repository, row));
  await readCutLabels(db, page.items, rows);
  return page;
}

/** Tags whose labels JSON came back cut (labelsFromJson): their labels, read by themselves. */
async function readCutLabels(
  db: Database,
  tags: readonly TagRecord[],
  rows: ReadonlyArray<Record<string, unknown>>,
): Promise<void> {
  for (const [i, tag] of tags.entries()) {
    if (tag.labels !== CUT) continue;
    tag.labels = await readLabels(db, "tag", [toNumber(rows[i]!.repository_id), tag.name]);
  }
}

/** Placeholder for labels that must be read by themselves (never leaves this file). */
const CUT: TagRecord["labels"] = Object.freeze({}) as TagRecord["labels"];

/** One tag with its manifest bytes, or undefined. */
export async function findTag(
  db: Database,
  namespaceId: number,
  repository: string,
  tag: string,
): Promise<TagRecord | undefined> {
  const rows: Array<Record<string, unknown>> = await db.read(
    `SELECT ${listColumns(db.dialect)}, m.json AS manifest_json
FROM repositories r
JOIN tags t ON t.repository_id = r.id
JOIN manifests m ON m.id = t.manifest_id
WHERE r.namespace_id = ? AND r.name = ? AND t.name = ?`,
    [namespaceId, repository, tag],
  );
  const row = rows[0];
  if (!row) return undefined;
  const found = decodeTag(repository, row);
  await readCutLabels(db, [found], rows);
  return found;
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
    labels: labelsFromJson(row.labels_json) ?? CUT,
  };
}
