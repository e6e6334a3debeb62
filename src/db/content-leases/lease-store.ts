/**
 * All SQL of `leases` and `lease_resources` (DESIGN §8.3) as typed functions. Writes run in the
 * caller's transaction (the service appends its events last); expiry is decided by the database
 * clock, and an expired lease is gone for every caller: the collector only reclaims its rows.
 * Labels are `lease_labels`, written through db/labels like every other owner's.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { readLabelsOf } from "../labels/label-store.js";
import type { Labels } from "../labels/label-tables.js";
import {
  filterSql,
  labelDriverSql,
  splitLabelDriver,
  type FilterColumns,
  type FilterCondition,
  type LabelSource,
} from "../queries/filter-sql.js";
import { afterClause, orderByClause, tableWithIndex, toRows, type SortKey } from "../queries/keyset.js";
import type { KeysetRows, KeyValue } from "../queries/records.js";
import { toDate, toDateOrNull, toNumber } from "../sql/decode.js";
import { execute, isDuplicateKey } from "../sql/execute.js";
import { forUpdate } from "../sql/sql-params.js";
import { insertIgnore, sqlNow, sqlNowPlusMs } from "../sql/sql.js";

/** What a lease may hold; the stored `kind` values. */
export const LEASE_RESOURCE_KINDS = ["blob", "manifest", "upload"] as const;
export type LeaseResourceKind = (typeof LEASE_RESOURCE_KINDS)[number];

export interface LeaseRecord {
  id: string;
  ownerTokenId: number | null;
  createdAt: Date;
  expiresAt: Date | null;
}

export interface LeaseResourceRecord {
  kind: LeaseResourceKind;
  id: string;
}

type Reader = Database | EntityManager;

async function query(on: Reader, sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
  return "read" in on ? on.read(sql, params) : on.query(sql, params);
}

/** "This lease (alias `l`) has not expired", by the database clock. */
export function leaseLive(dialect: Dialect, alias = "l"): string {
  return `(${alias}.expires_at IS NULL OR ${alias}.expires_at > ${sqlNow(dialect)})`;
}

const COLUMNS = "l.id, l.owner_token_id, l.created_at, l.expires_at";

function decode(row: Record<string, unknown>): LeaseRecord {
  return {
    id: String(row.id),
    ownerTokenId: row.owner_token_id === null || row.owner_token_id === undefined ? null : toNumber(row.owner_token_id),
    createdAt: toDate(row.created_at),
    expiresAt: toDateOrNull(row.expires_at),
  };
}

/** ListLeases is in id order, served by the primary key (namespace_id, id). */
export const LEASE_SORT: SortKey = {
  index: "PRIMARY",
  columns: [{ sql: "ls.id", field: "id", type: "string" }],
  descending: false,
};

export const LEASE_FILTER_COLUMNS: FilterColumns = { id: { sql: "ls.id", binary: true } };

/** Label tests of a ListLeases filter: the lease's rows in lease_labels (alias `l` is the label row there). */
const LEASE_LABELS: LabelSource = {
  table: "lease_labels",
  correlate: "l.namespace_id = ls.namespace_id AND l.lease_id = ls.id",
};

/** An unexpired lease, or undefined. With `lock` (inside a write transaction) its row stays locked until commit. */
export async function findLiveLease(
  on: Reader,
  dialect: Dialect,
  namespaceId: number,
  id: string,
  lock = false,
): Promise<LeaseRecord | undefined> {
  const rows = await query(
    on,
    `SELECT ${COLUMNS} FROM leases l WHERE l.namespace_id = ? AND l.id = ? AND ${leaseLive(dialect)}${lock ? forUpdate(dialect) : ""}`,
    [namespaceId, id],
  );
  return rows[0] && decode(rows[0]);
}

/** A lease as stored, expired or not (CreateLease answers with what it wrote, even a 1 ms lease). */
export async function readLease(on: Reader, namespaceId: number, id: string): Promise<LeaseRecord | undefined> {
  const rows = await query(on, `SELECT ${COLUMNS} FROM leases l WHERE l.namespace_id = ? AND l.id = ?`, [
    namespaceId,
    id,
  ]);
  return rows[0] && decode(rows[0]);
}

export interface LeasePageQuery {
  namespaceId: number;
  after?: readonly KeyValue[];
  limit: number;
  filter?: FilterCondition;
}

/**
 * A keyset page of unexpired leases, with their labels. A label equality in a single AND-list
 * walks ix_lease_labels_value (in lease id order) instead of every lease of the namespace.
 */
export async function listLeasePage(
  db: Database,
  q: LeasePageQuery,
): Promise<KeysetRows<LeaseRecord & { labels: Labels }>> {
  const split = splitLabelDriver(q.filter);
  const key: SortKey = split
    ? {
        index: "ix_lease_labels_value",
        columns: [{ sql: "d.lease_id", field: "id", type: "string" }],
        descending: false,
      }
    : LEASE_SORT;
  const conditions = [
    {
      sql: `${split ? "d" : "ls"}.namespace_id = ? AND ${leaseLive(db.dialect, "ls")}`,
      params: [q.namespaceId] as unknown[],
    },
  ];
  if (split) conditions.push(labelDriverSql(split.driver));
  if (q.after) conditions.push(afterClause(db.dialect, key, q.after));
  const filter = filterSql(db.dialect, split ? split.rest : q.filter, LEASE_FILTER_COLUMNS, LEASE_LABELS);
  if (filter) conditions.push(filter);
  const from = split
    ? `${tableWithIndex(db.dialect, "lease_labels d", key)} JOIN leases ls ON ls.namespace_id = d.namespace_id AND ls.id = d.lease_id`
    : "leases ls";
  const rows = await db.read(
    `SELECT ${COLUMNS.replaceAll("l.", "ls.")} FROM ${from} WHERE ${conditions.map((c) => c.sql).join(" AND ")} ORDER BY ${orderByClause(key)} LIMIT ?`,
    [...conditions.flatMap((c) => c.params), q.limit + 1],
  );
  const page = toRows(LEASE_SORT, rows, q.limit, decode);
  const labels = await readLabelsOf(
    db,
    "lease",
    q.namespaceId,
    page.items.map((l) => l.id),
  );
  return { ...page, items: page.items.map((l) => ({ ...l, labels: labels.get(l.id) ?? {} })) };
}

/**
 * Inserts a lease expiring `ttlMs` from now (database clock; 0 = never). An expired lease of the
 * same id is removed first (it is gone for callers already). False when a live one has the id.
 */
export async function insertLease(
  m: EntityManager,
  dialect: Dialect,
  lease: { namespaceId: number; id: string; ownerTokenId: number | null; ttlMs: number },
): Promise<boolean> {
  await execute(m, `DELETE FROM leases WHERE namespace_id = ? AND id = ? AND NOT ${leaseLive(dialect, "leases")}`, [
    lease.namespaceId,
    lease.id,
  ]);
  const expires = lease.ttlMs > 0 ? sqlNowPlusMs(dialect) : "NULL";
  try {
    await execute(
      m,
      `INSERT INTO leases (namespace_id, id, owner_token_id, created_at, expires_at) VALUES (?, ?, ?, ${sqlNow(dialect)}, ${expires})`,
      [lease.namespaceId, lease.id, lease.ownerTokenId, ...(lease.ttlMs > 0 ? [lease.ttlMs] : [])],
    );
  } catch (e) {
    if (isDuplicateKey(e)) return false;
    throw e;
  }
  return true;
}

/** Removes a lease with its labels and resources (foreign keys cascade). False when there was none. */
export async function deleteLease(m: EntityManager, namespaceId: number, id: string): Promise<boolean> {
  return (await execute(m, "DELETE FROM leases WHERE namespace_id = ? AND id = ?", [namespaceId, id])) > 0;
}

/** Idempotent: adding a resource the lease holds already changes nothing. */
export async function addLeaseResource(
  m: EntityManager,
  dialect: Dialect,
  namespaceId: number,
  leaseId: string,
  resource: LeaseResourceRecord,
): Promise<void> {
  await execute(
    m,
    `${insertIgnore(dialect)} INTO lease_resources (namespace_id, lease_id, kind, resource_id, created_at) VALUES (?, ?, ?, ?, ${sqlNow(dialect)})`,
    [namespaceId, leaseId, resource.kind, resource.id],
  );
}

/** Idempotent; returns whether the lease held it. */
export async function deleteLeaseResource(
  m: EntityManager,
  namespaceId: number,
  leaseId: string,
  resource: LeaseResourceRecord,
): Promise<boolean> {
  const removed = await execute(
    m,
    "DELETE FROM lease_resources WHERE namespace_id = ? AND lease_id = ? AND kind = ? AND resource_id = ?",
    [namespaceId, leaseId, resource.kind, resource.id],
  );
  return removed > 0;
}

/** Everything a lease holds, in (kind, id) order. */
export async function listLeaseResources(
  on: Reader,
  namespaceId: number,
  leaseId: string,
): Promise<LeaseResourceRecord[]> {
  const rows = await query(
    on,
    "SELECT kind, resource_id FROM lease_resources WHERE namespace_id = ? AND lease_id = ? ORDER BY kind, resource_id",
    [namespaceId, leaseId],
  );
  return rows.map((r) => ({ kind: String(r.kind) as LeaseResourceKind, id: String(r.resource_id) }));
}

/** Unexpired leases of the namespace (DeleteNamespace refuses while there is one). */
export async function countLiveLeases(m: EntityManager, dialect: Dialect, namespaceId: number): Promise<number> {
  const rows: Array<{ n: unknown }> = await m.query(
    `SELECT COUNT(*) AS n FROM leases l WHERE l.namespace_id = ? AND ${leaseLive(dialect)}`,
    [namespaceId],
  );
  return toNumber(rows[0]?.n);
}
