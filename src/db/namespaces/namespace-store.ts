/**
 * All SQL of the `namespaces` table: lookups by name, the keyset listing (with each page's
 * labels), creation (with its labels), what a namespace still holds, and its removal with the
 * rows that only describe it (stats, runs, its sync lease, unreferenced manifests and blobs;
 * its labels cascade). Each write takes the events its caller makes of it (`outbox`) into its
 * transaction.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { appendEvents, type NewEvent } from "../events/event-store.js";
import { readNamespaceLabelsOf, writeLabelChange } from "../labels/label-store.js";
import type { Labels } from "../labels/label-tables.js";
import { filterSql, type FilterColumns, type FilterCondition, type LabelSource } from "../queries/filter-sql.js";
import { afterClause, orderByClause, toRows, type SortKey } from "../queries/keyset.js";
import type { KeysetRows, KeyValue } from "../queries/records.js";
import { execute } from "../sql/execute.js";
import { sqlNow } from "../sql/sql.js";
import { toDate, toDateOrNull, toNumber } from "../sql/decode.js";
import { writeTransaction } from "../write-transaction.js";
import { countLiveLeases } from "../content-leases/lease-store.js";
import { countOpenUploads } from "../uploads/upload-store.js";

export interface NamespaceRecord {
  id: number;
  name: string;
  /** As stored: '' = the default layout (see services/namespaces/namespace-roots.ts). */
  storageUrl: string;
  createdAt: Date;
  updatedAt: Date | null;
}

/** A namespace with its labels (what NamespaceService shows and filters on). */
export interface LabelledNamespace extends NamespaceRecord {
  labels: Labels;
}

const COLUMNS = "n.id, n.name, n.storage_url, n.created_at, n.updated_at";

/** ListNamespaces is in name order, served by uq_namespaces_name. */
export const NAMESPACE_SORT: SortKey = {
  index: "uq_namespaces_name",
  columns: [{ sql: "n.name", field: "name", type: "string" }],
  descending: false,
};

export const NAMESPACE_FILTER_COLUMNS: FilterColumns = { name: { sql: "n.name", binary: true } };

/**
 * Label tests of a ListNamespaces filter: a probe of namespace_labels' primary key per namespace
 * walked in name order. Namespaces are few (tenants, not objects), so no label-driven plan.
 */
export const NAMESPACE_LABELS: LabelSource = { table: "namespace_labels", correlate: "l.namespace_id = n.id" };

function decode(row: Record<string, unknown>): NamespaceRecord {
  return {
    id: toNumber(row.id),
    name: String(row.name),
    storageUrl: String(row.storage_url ?? ""),
    createdAt: toDate(row.created_at),
    updatedAt: toDateOrNull(row.updated_at),
  };
}

export async function findNamespace(db: Database, name: string): Promise<NamespaceRecord | undefined> {
  const rows: Array<Record<string, unknown>> = await db.read(`SELECT ${COLUMNS} FROM namespaces n WHERE n.name = ?`, [
    name,
  ]);
  return rows[0] && decode(rows[0]);
}

export async function findNamespaceById(db: Database, id: number): Promise<NamespaceRecord | undefined> {
  const rows: Array<Record<string, unknown>> = await db.read(`SELECT ${COLUMNS} FROM namespaces n WHERE n.id = ?`, [
    id,
  ]);
  return rows[0] && decode(rows[0]);
}

/** Every namespace, in name order (the sync timer walks them; there are few). */
export async function allNamespaces(db: Database): Promise<NamespaceRecord[]> {
  const rows: Array<Record<string, unknown>> = await db.read(`SELECT ${COLUMNS} FROM namespaces n ORDER BY n.name`);
  return rows.map(decode);
}

/** A page of namespaces in name order, with their labels (one more statement for the page). */
export async function listNamespacePage(
  db: Database,
  q: { after?: readonly KeyValue[]; limit: number; filter?: FilterCondition },
): Promise<KeysetRows<LabelledNamespace>> {
  const conditions = [];
  if (q.after) conditions.push(afterClause(db.dialect, NAMESPACE_SORT, q.after));
  const filter = filterSql(db.dialect, q.filter, NAMESPACE_FILTER_COLUMNS, NAMESPACE_LABELS);
  if (filter) conditions.push(filter);
  const where = conditions.length > 0 ? `WHERE ${conditions.map((c) => c.sql).join(" AND ")}` : "";
  const rows: Array<Record<string, unknown>> = await db.read(
    `SELECT ${COLUMNS} FROM namespaces n ${where} ORDER BY ${orderByClause(NAMESPACE_SORT)} LIMIT ?`,
    [...conditions.flatMap((c) => c.params), q.limit + 1],
  );
  const page = toRows(NAMESPACE_SORT, rows, q.limit, (row): LabelledNamespace => ({ ...decode(row), labels: {} }));
  if (page.items.length > 0) {
    const labels = await readNamespaceLabelsOf(
      db,
      page.items.map((n) => n.id),
    );
    for (const n of page.items) n.labels = labels.get(n.id) ?? {};
  }
  return page;
}

/**
 * Inserts a namespace with its labels (validated by the caller) and the events `outbox` makes of
 * it, in one transaction; undefined when the name is taken (the unique index decides, not a
 * prior read).
 */
export async function insertNamespace(
  db: Database,
  name: string,
  storageUrl: string,
  labels: Labels = {},
  outbox: (created: { id: number; name: string }) => NewEvent[] = () => [],
): Promise<NamespaceRecord | undefined> {
  try {
    await writeTransaction(db, async (m) => {
      await execute(
        m,
        `INSERT INTO namespaces (name, storage_url, created_at, updated_at) VALUES (?, ?, ${sqlNow(db.dialect)}, ${sqlNow(db.dialect)})`,
        [name, storageUrl],
      );
      const rows: Array<Record<string, unknown>> = await m.query("SELECT id FROM namespaces WHERE name = ?", [name]);
      const id = toNumber(rows[0]!.id);
      if (Object.keys(labels).length > 0) await writeLabelChange(m, "namespace", [id], { set: labels, remove: [] });
      await appendEvents(m, db.dialect, outbox({ id, name }));
    });
  } catch (e) {
    if (isDuplicateKey(e)) return undefined;
    throw e;
  }
  return findNamespace(db, name);
}

/** Moves `updated_at`, inside the transaction that changed the namespace (its labels). */
export async function touchNamespace(m: EntityManager, dialect: Dialect, id: number): Promise<void> {
  await execute(m, `UPDATE namespaces SET updated_at = ${sqlNow(dialect)} WHERE id = ?`, [id]);
}

export interface NamespaceContents {
  repositories: number;
  tokens: number;
  /** Unexpired leases. */
  leases: number;
  /** Open, unexpired uploads. */
  uploads: number;
}

/** An index row of a blob removed with its namespace (what its /blobs/delete event says). */
export interface RemovedBlob {
  digest: string;
  size: number;
  mediaType: string;
}

/**
 * Deletes an empty namespace (no repository, token, live lease or open upload) and every row
 * that only describes it, and writes the events `outbox` makes of the blob rows removed, in the
 * same transaction. Emptiness is checked inside the transaction, with the namespace row locked first on MariaDB, so a repository or token
 * written concurrently either lands before (and the delete refuses) or fails its foreign key.
 * Returns what it still holds when not empty, or "gone" when it no longer exists.
 */
export async function deleteEmptyNamespace(
  db: Database,
  id: number,
  syncLeaseName: string,
  outbox: (blobs: RemovedBlob[]) => NewEvent[] = () => [],
): Promise<"deleted" | "gone" | NamespaceContents> {
  return writeTransaction(db, async (m) => {
    const lock = db.dialect === "sqlite" ? "" : " FOR UPDATE";
    const exists: unknown[] = await m.query(`SELECT id FROM namespaces WHERE id = ?${lock}`, [id]);
    if (exists.length === 0) return "gone";
    const counted: Array<{ repositories: unknown; tokens: unknown }> = await m.query(
      `SELECT (SELECT COUNT(*) FROM repositories WHERE namespace_id = ?) AS repositories,
              (SELECT COUNT(*) FROM tokens WHERE namespace_id = ?) AS tokens`,
      [id, id],
    );
    const contents = {
      repositories: toNumber(counted[0]?.repositories),
      tokens: toNumber(counted[0]?.tokens),
      leases: await countLiveLeases(m, db.dialect, id),
      uploads: await countOpenUploads(m, db.dialect, id),
    };
    if (Object.values(contents).some((n) => n > 0)) return contents;
    // Expired leases and finished uploads hold nothing: they go with the namespace (labels and
    // resources cascade with their leases). Staged objects stay in the store, like everything else.
    await execute(m, "DELETE FROM uploads WHERE namespace_id = ?", [id]);
    await execute(m, "DELETE FROM leases WHERE namespace_id = ?", [id]);
    // No repository means no tag: manifests and blobs left here are unreferenced index rows
    // (their edges cascade with the manifests).
    const blobs: Array<{ digest: unknown; size: unknown; media_type: unknown }> = await m.query(
      "SELECT digest, size, media_type FROM blobs WHERE namespace_id = ? ORDER BY digest",
      [id],
    );
    await execute(m, "DELETE FROM blobs WHERE namespace_id = ?", [id]);
    await execute(m, "DELETE FROM manifests WHERE namespace_id = ?", [id]);
    await execute(m, "DELETE FROM registry_stats WHERE namespace_id = ?", [id]);
    await execute(m, "DELETE FROM sync_runs WHERE namespace_id = ?", [id]);
    await execute(m, "DELETE FROM gc_review_queue WHERE namespace_id = ?", [id]);
    await execute(m, "DELETE FROM gc_runs WHERE namespace_id = ?", [id]);
    // DeleteTag's tombstones (tag-tombstones.ts) only guard tags of a repository: none is left.
    await execute(m, "DELETE FROM tag_tombstones WHERE namespace_id = ?", [id]);
    await execute(m, "DELETE FROM coordination WHERE name = ?", [syncLeaseName]);
    await execute(m, "DELETE FROM namespaces WHERE id = ?", [id]);
    await appendEvents(
      m,
      db.dialect,
      outbox(blobs.map((b) => ({ digest: String(b.digest), size: toNumber(b.size), mediaType: String(b.media_type) }))),
    );
    return "deleted";
  });
}

function isDuplicateKey(e: unknown): boolean {
  const err = e as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = err?.driverError?.code ?? err?.code;
  return code === "ER_DUP_ENTRY" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT";
}
