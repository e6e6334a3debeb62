/**
 * Reads of `blobs`. Unreferenced rows (ref_count 0: a committed upload not referenced yet, or a
 * blob whose last tag went) wait for garbage collection; ListBlobs shows them only when its filter
 * asks for `ref_count` (services/queries/blob-filter.ts), GetBlob shows them with ref_count 0.
 * Pages follow the primary key (namespace_id, digest).
 *
 * A caller bound to some repositories sees a blob only when a tag of one of them references it:
 * an EXISTS probe per blob, walking manifest_blobs by ix_manifest_blobs_blob, tags by
 * ix_tags_manifest and repositories by primary key, so the page still follows the primary key
 * of `blobs` and keyset tokens work unchanged. Its cost grows with the blobs skipped on the way.
 */
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { filterSql, type FilterColumns, type FilterCondition } from "./filter-sql.js";
import { toNumber } from "../sql/decode.js";
import { afterClause, orderByClause, toRows, type SortKey, type SqlFragment } from "./keyset.js";
import type { BlobRecord, KeysetRows, KeyValue } from "./records.js";
import { BOUND_COLUMNS } from "./repository-queries.js";

// Ascending on the primary key: every dialect plans it as one range without a hint.
export const BLOB_SORT: SortKey = {
  index: "PRIMARY",
  columns: [{ sql: "b.digest", field: "digest", type: "string" }],
  descending: false,
};

const COLUMNS = "b.digest, b.size, b.media_type, b.ref_count";

/** Fields a ListBlobs filter may test. */
export const BLOB_FILTER_COLUMNS: FilterColumns = {
  digest: { sql: "b.digest", binary: true },
  media_type: { sql: "b.media_type", binary: false },
  // Numeric: compared as a number on both dialects (the value is checked to be digits first).
  ref_count: { sql: "b.ref_count", binary: true },
};

export interface BlobPageQuery {
  namespaceId: number;
  after?: readonly KeyValue[];
  limit: number;
  /** Rows must match this (filters). */
  filter?: FilterCondition;
  /** The caller's repository globs, as `glob` tests on `name` (undefined = every repository). */
  bound?: FilterCondition;
}

/** "A tag of a repository inside the bound references b", or undefined when unbounded. */
function referencedWithin(dialect: Dialect, bound: FilterCondition | undefined): SqlFragment | undefined {
  const names = filterSql(dialect, bound, BOUND_COLUMNS);
  if (!names) return undefined;
  // The join order and indexes are fixed: a probe starts from this blob's edges, never from the tags.
  const [mb, t, join] =
    dialect === "sqlite"
      ? ["manifest_blobs mb INDEXED BY ix_manifest_blobs_blob", "tags t INDEXED BY ix_tags_manifest", "CROSS JOIN"]
      : [
          "manifest_blobs mb FORCE INDEX (ix_manifest_blobs_blob)",
          "tags t FORCE INDEX (ix_tags_manifest)",
          "STRAIGHT_JOIN",
        ];
  return {
    sql: `EXISTS (SELECT${dialect === "mysql" ? " /*+ NO_SEMIJOIN() */" : ""} 1
  FROM ${mb}
  ${join} ${t} ON t.manifest_id = mb.manifest_id
  ${join} repositories r ON r.id = t.repository_id
  WHERE mb.blob_digest = b.digest AND r.namespace_id = b.namespace_id AND ${names.sql})`,
    params: names.params,
  };
}

/**
 * MariaDB would turn the EXISTS into a semi-join that materializes every blob of every tag inside
 * the bound and then sorts them, on every page; kept a correlated probe, the page stays a walk of
 * the primary key that stops at LIMIT. (MySQL: the NO_SEMIJOIN hint in the subquery.)
 */
function keepExistsCorrelated(dialect: Dialect, sql: string, within: SqlFragment | undefined): string {
  return within && dialect === "mariadb"
    ? `SET STATEMENT optimizer_switch='exists_to_in=off,semijoin=off' FOR ${sql}`
    : sql;
}

export function blobPageSql(dialect: Dialect, q: BlobPageQuery): SqlFragment {
  const conditions: SqlFragment[] = [{ sql: "b.namespace_id = ?", params: [q.namespaceId] }];
  if (q.after) conditions.push(afterClause(dialect, BLOB_SORT, q.after));
  const filter = filterSql(dialect, q.filter, BLOB_FILTER_COLUMNS);
  if (filter) conditions.push(filter);
  const within = referencedWithin(dialect, q.bound);
  if (within) conditions.push(within);
  const sql = `SELECT ${COLUMNS}
FROM blobs b
WHERE ${conditions.map((c) => c.sql).join(" AND ")}
ORDER BY ${orderByClause(BLOB_SORT)}
LIMIT ?`;
  return {
    sql: keepExistsCorrelated(dialect, sql, within),
    params: [...conditions.flatMap((c) => c.params), q.limit + 1],
  };
}

export async function listBlobPage(db: Database, q: BlobPageQuery): Promise<KeysetRows<BlobRecord>> {
  const { sql, params } = blobPageSql(db.dialect, q);
  const rows: Array<Record<string, unknown>> = await db.read(sql, params);
  return toRows(BLOB_SORT, rows, q.limit, decodeBlob);
}

/** A blob of the index, referenced or not; for a bounded caller only one a tag inside the bound references. */
export async function findBlob(
  db: Database,
  namespaceId: number,
  digest: string,
  bound?: FilterCondition,
): Promise<BlobRecord | undefined> {
  const within = referencedWithin(db.dialect, bound);
  const rows: Array<Record<string, unknown>> = await db.read(
    keepExistsCorrelated(
      db.dialect,
      `SELECT ${COLUMNS} FROM blobs b WHERE b.namespace_id = ? AND b.digest = ?${within ? ` AND ${within.sql}` : ""}`,
      within,
    ),
    [namespaceId, digest, ...(within?.params ?? [])],
  );
  return rows[0] && decodeBlob(rows[0]);
}

function decodeBlob(row: Record<string, unknown>): BlobRecord {
  return {
    digest: String(row.digest),
    size: toNumber(row.size),
    mediaType: String(row.media_type ?? ""),
    refCount: toNumber(row.ref_count),
  };
}
