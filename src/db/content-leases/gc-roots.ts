/**
 * THE GARBAGE COLLECTOR'S INTERFACE to leases and uploads (DESIGN §8.3–§8.5). The collector calls
 * these inside its marking transaction, so what it re-checks and what it then removes are one
 * consistent view; nothing else in db/content-leases or db/uploads is meant for it.
 *
 * - `heldDigests`: which candidate digests are GC roots because of a lease or an upload.
 * - `expiredLeases` / `deleteExpiredLeases`: leases past their expiry (they hold nothing any
 *   more); deleting returns what went, for `/leases/delete` events (services/events/event-topics.ts
 *   `leaseEvent`, appended last in the same transaction) and `GcDeletion{kind: LEASE}`.
 * - `deadUploads` / `markUploadsRemoved`: uploads whose `_uploads/<id>/` prefix may be deleted
 *   (aborted; expired while open; committed and past the grace period — unless a live lease holds
 *   them), and the removal of their rows once the prefix is gone (or in the index-first commit:
 *   a crash before the object deletes leaves objects a full run's inventory finds).
 *
 * A leased manifest is a root by itself; following it to its blobs (manifest_blobs) is the
 * collector's marking, as for a tag's manifest. Expiry is always the database clock.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import type { Database } from "../data-source.js";
import { readLabels } from "../labels/label-store.js";
import type { Labels } from "../labels/label-tables.js";
import { execute } from "../sql/execute.js";
import { chunk, placeholders } from "../sql/sql-params.js";
import { sqlNowPlusMs } from "../sql/sql.js";
import { uploadExpired, uploadPrefix, type UploadState } from "../uploads/upload-store.js";
import { leaseLive } from "./lease-store.js";

type Reader = Database | EntityManager;

async function query(on: Reader, sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> {
  return "read" in on ? on.read(sql, params) : on.query(sql, params);
}

export interface HeldOptions {
  /**
   * A committed upload holds its blob for this long after the commit (the grace period), so a
   * blob pushed but not yet referenced by a manifest survives; 0 (default) = only while leased.
   */
  committedWithinMs?: number;
}

/** "A live lease holds this upload (alias `u`)": as its `lease_id`, or as an upload resource. */
function uploadLeased(dialect: Dialect): string {
  return `(EXISTS (SELECT 1 FROM leases ul WHERE ul.namespace_id = u.namespace_id AND ul.id = u.lease_id AND ${leaseLive(dialect, "ul")})
 OR EXISTS (SELECT 1 FROM lease_resources ur JOIN leases ul2 ON ul2.namespace_id = ur.namespace_id AND ul2.id = ur.lease_id
   WHERE ur.namespace_id = u.namespace_id AND ur.kind = 'upload' AND ur.resource_id = u.id AND ${leaseLive(dialect, "ul2")}))`;
}

/**
 * The digests among `digests` that must not be collected: held by an unexpired lease (as a blob
 * or a manifest), or the expected or committed digest of an upload that is open and unexpired,
 * held by an unexpired lease, or committed within `committedWithinMs`. Index probes only:
 * ix_lease_resources_resource, ix_uploads_expected_digest, ix_uploads_digest.
 */
export async function heldDigests(
  manager: EntityManager,
  dialect: Dialect,
  namespaceId: number,
  digests: readonly string[],
  opts: HeldOptions = {},
): Promise<Set<string>> {
  const held = new Set<string>();
  for (const part of chunk([...new Set(digests)], 1000)) {
    const leased = await manager.query(
      `SELECT DISTINCT r.resource_id AS d FROM lease_resources r
JOIN leases l ON l.namespace_id = r.namespace_id AND l.id = r.lease_id
WHERE r.namespace_id = ? AND r.kind IN ('blob', 'manifest') AND r.resource_id IN (${placeholders(part.length)}) AND ${leaseLive(dialect)}`,
      [namespaceId, ...part],
    );
    for (const row of leased as Array<{ d: unknown }>) held.add(String(row.d));
    for (const column of ["expected_digest", "digest"]) {
      const uploads = await manager.query(
        `SELECT DISTINCT u.${column} AS d FROM uploads u
WHERE u.namespace_id = ? AND u.${column} IN (${placeholders(part.length)}) AND u.state <> 'aborted'
  AND ((u.state = 'open' AND NOT ${uploadExpired(dialect)})
    OR (u.state = 'committed' AND u.committed_at > ${sqlNowPlusMs(dialect)})
    OR ${uploadLeased(dialect)})`,
        [namespaceId, ...part, -(opts.committedWithinMs ?? 0)],
      );
      for (const row of uploads as Array<{ d: unknown }>) held.add(String(row.d));
    }
  }
  return held;
}

/** Ids of leases past their expiry, oldest expiry first, at most `limit`. */
export async function expiredLeases(
  on: Reader,
  dialect: Dialect,
  namespaceId: number,
  limit = 1000,
): Promise<string[]> {
  const rows = await query(
    on,
    `SELECT l.id FROM leases l WHERE l.namespace_id = ? AND NOT ${leaseLive(dialect)} ORDER BY l.expires_at, l.id LIMIT ${Math.max(1, Math.floor(limit))}`,
    [namespaceId],
  );
  return rows.map((r) => String(r.id));
}

export interface DeletedLease {
  id: string;
  labels: Labels;
}

/**
 * Deletes these leases (with their labels and resources) if they are still expired when
 * re-checked here; returns the ones it deleted.
 */
export async function deleteExpiredLeases(
  manager: EntityManager,
  dialect: Dialect,
  namespaceId: number,
  ids: readonly string[],
): Promise<DeletedLease[]> {
  const deleted: DeletedLease[] = [];
  for (const part of chunk([...new Set(ids)], 500)) {
    const rows: Array<{ id: unknown }> = await manager.query(
      `SELECT l.id FROM leases l WHERE l.namespace_id = ? AND l.id IN (${placeholders(part.length)}) AND NOT ${leaseLive(dialect)}`,
      [namespaceId, ...part],
    );
    const still = rows.map((r) => String(r.id));
    if (still.length === 0) continue;
    for (const id of still) deleted.push({ id, labels: await readLabels(manager, "lease", [namespaceId, id]) });
    await execute(
      manager,
      `DELETE FROM leases WHERE namespace_id = ? AND id IN (${placeholders(still.length)}) AND NOT ${leaseLive(dialect, "leases")}`,
      [namespaceId, ...still],
    );
  }
  return deleted;
}

export interface DeadUpload {
  id: string;
  state: UploadState;
  /** `_uploads/<id>/`: every object under it may be deleted. */
  objectPrefix: string;
}

export interface DeadUploadOptions {
  /** Committed uploads count as dead this long after their commit (default 0). */
  committedForMs?: number;
  limit?: number;
}

/** The condition (alias `u`) and its parameters, shared by the read and the re-check. */
function deadCondition(dialect: Dialect, committedForMs: number): { sql: string; params: unknown[] } {
  return {
    sql: `(u.state = 'aborted' OR ((${uploadExpired(dialect)} OR (u.state = 'committed' AND u.committed_at <= ${sqlNowPlusMs(dialect)})) AND NOT ${uploadLeased(dialect)}))`,
    params: [-committedForMs],
  };
}

/** Uploads whose staging prefix the collector may delete, at most `limit`. */
export async function deadUploads(
  on: Reader,
  dialect: Dialect,
  namespaceId: number,
  opts: DeadUploadOptions = {},
): Promise<DeadUpload[]> {
  const dead = deadCondition(dialect, opts.committedForMs ?? 0);
  const rows = await query(
    on,
    `SELECT u.id, u.state FROM uploads u WHERE u.namespace_id = ? AND ${dead.sql} ORDER BY u.id LIMIT ${Math.max(1, Math.floor(opts.limit ?? 1000))}`,
    [namespaceId, ...dead.params],
  );
  return rows.map((r) => ({
    id: String(r.id),
    state: String(r.state) as UploadState,
    objectPrefix: uploadPrefix(String(r.id)),
  }));
}

/**
 * Removes the rows of these uploads if they are still dead when re-checked here (an upload a lease
 * took meanwhile stays); returns the ids removed. Their prefixes are the caller's to delete.
 */
export async function markUploadsRemoved(
  manager: EntityManager,
  dialect: Dialect,
  namespaceId: number,
  ids: readonly string[],
  opts: Pick<DeadUploadOptions, "committedForMs"> = {},
): Promise<string[]> {
  const removed: string[] = [];
  const dead = deadCondition(dialect, opts.committedForMs ?? 0);
  for (const part of chunk([...new Set(ids)], 500)) {
    const rows: Array<{ id: unknown }> = await manager.query(
      `SELECT u.id FROM uploads u WHERE u.namespace_id = ? AND u.id IN (${placeholders(part.length)}) AND ${dead.sql}`,
      [namespaceId, ...part, ...dead.params],
    );
    const still = rows.map((r) => String(r.id));
    if (still.length === 0) continue;
    await execute(manager, `DELETE FROM uploads WHERE namespace_id = ? AND id IN (${placeholders(still.length)})`, [
      namespaceId,
      ...still,
    ]);
    removed.push(...still);
  }
  return removed;
}
