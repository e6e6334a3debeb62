/**
 * Reads of `blobs`: only referenced ones (ref_count > 0) exist for the API; unreferenced rows
 * wait for garbage collection. Pages follow the primary key (namespace_id, digest).
 */
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { filterSql, type FilterColumns, type FilterCondition } from "./filter-sql.js";
import { toNumber } from "../sql/decode.js";
import { afterClause, orderByClause, toRows, type SortKey, type SqlFragment } from "./keyset.js";
import type { BlobRecord, KeysetRows, KeyValue } from "./records.js";

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
};

export interface BlobPageQuery {
  namespaceId: number;
  after?: readonly KeyValue[];
  limit: number;
  /** Rows must match this (filters). */
  filter?: FilterCondition;
}

export function blobPageSql(dialect: Dialect, q: BlobPageQuery): SqlFragment {
  const conditions: SqlFragment[] = [{ sql: "b.namespace_id = ? AND b.ref_count > 0", params: [q.namespaceId] }];
  if (q.after) conditions.push(afterClause(dialect, BLOB_SORT, q.after));
  const filter = filterSql(dialect, q.filter, BLOB_FILTER_COLUMNS);
  if (filter) conditions.push(filter);
  return {
    sql: `SELECT ${COLUMNS}
FROM blobs b
WHERE ${conditions.map((c) => c.sql).join(" AND ")}
ORDER BY ${orderByClause(BLOB_SORT)}
LIMIT ?`,
    params: [...conditions.flatMap((c) => c.params), q.limit + 1],
  };
}

export async function listBlobPage(db: Database, q: BlobPageQuery): Promise<KeysetRows<BlobRecord>> {
  const { sql, params } = blobPageSql(db.dialect, q);
  const rows: Array<Record<string, unknown>> = await db.read(sql, params);
  return toRows(BLOB_SORT, rows, q.limit, decodeBlob);
}

export async function findReferencedBlob(
  db: Database,
  namespaceId: number,
  digest: string,
): Promise<BlobRecord | undefined> {
  const rows: Array<Record<string, unknown>> = await db.read(
    `SELECT ${COLUMNS} FROM blobs b WHERE b.namespace_id = ? AND b.digest = ? AND b.ref_count > 0`,
    [namespaceId, digest],
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
