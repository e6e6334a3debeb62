/**
 * All SQL of `uploads` (DESIGN §8.4; containerd's ingests) as typed functions, and the blob row a
 * commit records. Writes run in the caller's transaction; expiry is decided by the database clock.
 * An upload row lives until the collector has deleted its `_uploads/<id>/` prefix
 * (content-leases/gc-roots.ts), whatever its state.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { filterSql, type FilterColumns, type FilterCondition } from "../queries/filter-sql.js";
import { afterClause, orderByClause, toRows, type SortKey } from "../queries/keyset.js";
import type { KeysetRows, KeyValue } from "../queries/records.js";
import { toBool, toDate, toDateOrNull, toNumber } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { forUpdate } from "../sql/sql-params.js";
import { insertIgnore, sqlNow, sqlNowPlusMs } from "../sql/sql.js";

export type UploadState = "open" | "committed" | "aborted";

export interface UploadRecord {
  id: string;
  repository: string;
  /** "" = not announced. */
  expectedDigest: string;
  /** "" = no lease. */
  leaseId: string;
  state: UploadState;
  startedAt: Date;
  expiresAt: Date | null;
  /** Past its expiry by the database clock (a committed or aborted upload never counts as expired). */
  expired: boolean;
  digest: string;
  size: number;
  mediaType: string;
  committedAt: Date | null;
}

type Reader = Database | EntityManager;

async function query(on: Reader, sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
  return "read" in on ? on.read(sql, params) : on.query(sql, params);
}

/** The staging prefix of an upload in its namespace's root. */
export const uploadPrefix = (id: string): string => `_uploads/${id}/`;

/** "This upload (alias `u`) is open and past its expiry", by the database clock. */
export function uploadExpired(dialect: Dialect, alias = "u"): string {
  return `(${alias}.state = 'open' AND ${alias}.expires_at IS NOT NULL AND ${alias}.expires_at <= ${sqlNow(dialect)})`;
}

const columns = (dialect: Dialect) =>
  `u.id, u.repository, u.expected_digest, u.lease_id, u.state, u.started_at, u.expires_at, u.digest, u.size, u.media_type, u.committed_at, CASE WHEN ${uploadExpired(dialect)} THEN 1 ELSE 0 END AS expired`;

function decode(row: Record<string, unknown>): UploadRecord {
  return {
    id: String(row.id),
    repository: String(row.repository),
    expectedDigest: String(row.expected_digest ?? ""),
    leaseId: String(row.lease_id ?? ""),
    state: String(row.state) as UploadState,
    startedAt: toDate(row.started_at),
    expiresAt: toDateOrNull(row.expires_at),
    expired: toBool(row.expired),
    digest: String(row.digest ?? ""),
    size: toNumber(row.size),
    mediaType: String(row.media_type ?? ""),
    committedAt: toDateOrNull(row.committed_at),
  };
}

/** ListUploads is in id order, served by the primary key (namespace_id, id). */
export const UPLOAD_SORT: SortKey = {
  index: "PRIMARY",
  columns: [{ sql: "u.id", field: "id", type: "string" }],
  descending: false,
};

export const UPLOAD_FILTER_COLUMNS: FilterColumns = {
  id: { sql: "u.id", binary: true },
  repository: { sql: "u.repository", binary: true },
  expected_digest: { sql: "u.expected_digest", binary: true },
  digest: { sql: "u.digest", binary: true },
  lease_id: { sql: "u.lease_id", binary: true },
  state: { sql: "u.state", binary: false },
};

export interface NewUpload {
  namespaceId: number;
  id: string;
  repository: string;
  expectedDigest: string;
  leaseId: string;
  /** From now, by the database clock; 0 = never. */
  ttlMs: number;
}

export async function insertUpload(m: EntityManager, dialect: Dialect, u: NewUpload): Promise<void> {
  const expires = u.ttlMs > 0 ? sqlNowPlusMs(dialect) : "NULL";
  await execute(
    m,
    `INSERT INTO uploads (namespace_id, id, repository, expected_digest, lease_id, state, started_at, expires_at, digest, size, media_type, committed_at)
VALUES (?, ?, ?, ?, ?, 'open', ${sqlNow(dialect)}, ${expires}, '', 0, '', NULL)`,
    [u.namespaceId, u.id, u.repository, u.expectedDigest, u.leaseId, ...(u.ttlMs > 0 ? [u.ttlMs] : [])],
  );
}

/** One upload; with `lock` (inside a write transaction) its row stays locked until commit. */
export async function findUpload(
  on: Reader,
  dialect: Dialect,
  namespaceId: number,
  id: string,
  lock = false,
): Promise<UploadRecord | undefined> {
  const rows = await query(
    on,
    `SELECT ${columns(dialect)} FROM uploads u WHERE u.namespace_id = ? AND u.id = ?${lock ? forUpdate(dialect) : ""}`,
    [namespaceId, id],
  );
  return rows[0] && decode(rows[0]);
}

export interface UploadPageQuery {
  namespaceId: number;
  after?: readonly KeyValue[];
  limit: number;
  filter?: FilterCondition;
}

export async function listUploadPage(db: Database, q: UploadPageQuery): Promise<KeysetRows<UploadRecord>> {
  const conditions = [{ sql: "u.namespace_id = ?", params: [q.namespaceId] as unknown[] }];
  if (q.after) conditions.push(afterClause(db.dialect, UPLOAD_SORT, q.after));
  const filter = filterSql(db.dialect, q.filter, UPLOAD_FILTER_COLUMNS);
  if (filter) conditions.push(filter);
  const rows = await db.read(
    `SELECT ${columns(db.dialect)} FROM uploads u WHERE ${conditions.map((c) => c.sql).join(" AND ")} ORDER BY ${orderByClause(UPLOAD_SORT)} LIMIT ?`,
    [...conditions.flatMap((c) => c.params), q.limit + 1],
  );
  return toRows(UPLOAD_SORT, rows, q.limit, decode);
}

export async function markUploadCommitted(
  m: EntityManager,
  dialect: Dialect,
  namespaceId: number,
  id: string,
  blob: { digest: string; size: number; mediaType: string },
): Promise<void> {
  await execute(
    m,
    `UPDATE uploads SET state = 'committed', digest = ?, size = ?, media_type = ?, committed_at = ${sqlNow(dialect)} WHERE namespace_id = ? AND id = ?`,
    [blob.digest, blob.size, blob.mediaType, namespaceId, id],
  );
}

export async function markUploadAborted(m: EntityManager, namespaceId: number, id: string): Promise<void> {
  await execute(m, "UPDATE uploads SET state = 'aborted' WHERE namespace_id = ? AND id = ?", [namespaceId, id]);
}

/**
 * Records a committed blob in the index, unreferenced (ref_count 0) when it is new; a blob the
 * index knows already keeps its row (and its references). Returns its ref_count.
 */
export async function recordCommittedBlob(
  m: EntityManager,
  dialect: Dialect,
  namespaceId: number,
  blob: { digest: string; size: number; mediaType: string },
): Promise<number> {
  await execute(
    m,
    `${insertIgnore(dialect)} INTO blobs (namespace_id, digest, size, media_type, ref_count) VALUES (?, ?, ?, ?, 0)`,
    [namespaceId, blob.digest, blob.size, blob.mediaType],
  );
  const rows: Array<{ ref_count: unknown }> = await m.query(
    "SELECT ref_count FROM blobs WHERE namespace_id = ? AND digest = ?",
    [namespaceId, blob.digest],
  );
  return toNumber(rows[0]?.ref_count);
}

/** Open, unexpired uploads of the namespace (DeleteNamespace refuses while there is one). */
export async function countOpenUploads(m: EntityManager, dialect: Dialect, namespaceId: number): Promise<number> {
  const rows: Array<{ n: unknown }> = await m.query(
    `SELECT COUNT(*) AS n FROM uploads u WHERE u.namespace_id = ? AND u.state = 'open' AND NOT ${uploadExpired(dialect)}`,
    [namespaceId],
  );
  return toNumber(rows[0]?.n);
}
