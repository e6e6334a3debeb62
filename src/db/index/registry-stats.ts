/**
 * The registry_stats row GetStats reads: its blob numbers move with the ref counts in the same
 * transaction (the write that moves a ref count knows whether the blob became referenced or
 * unreferenced: blob-refs.ts), its tag numbers are recounted at the end of a sync run (IndexTag
 * and DeleteTag move them: services/tags/stats-delta.ts), and everything is recounted by full
 * runs and the Epoch adoption.
 */
import type { DataSource, EntityManager } from "typeorm";
import { execute } from "../sql/execute.js";
import { toJson, toNumber } from "../sql/decode.js";
import { insertIgnore, sqlNow } from "../sql/sql.js";
import { forUpdate } from "../sql/sql-params.js";
import type { BlobStatsDelta } from "./blob-refs.js";
import type { IndexScope } from "./index-scope.js";

/** Adds a write's BlobStatsDelta to registry_stats, in the write's transaction. */
export async function applyBlobStats(m: EntityManager, scope: IndexScope, ...deltas: BlobStatsDelta[]): Promise<void> {
  const count = deltas.reduce((n, d) => n + d.count, 0);
  const bytes = deltas.reduce((n, d) => n + d.bytes, 0);
  if (count === 0 && bytes === 0) return;
  await ensureStatsRow(m, scope);
  await execute(
    m,
    "UPDATE registry_stats SET blob_count = blob_count + ?, total_size = total_size + ? WHERE namespace_id = ?",
    [count, bytes, scope.namespaceId],
  );
}

/**
 * Recomputes the whole registry_stats row from the index (counts over indexed rows, as DESIGN §2
 * defines them): full sync runs and the Epoch adoption, and where no row has been filled yet.
 */
export async function recomputeStats(m: EntityManager, scope: IndexScope): Promise<void> {
  await lockStatsRow(m, scope);
  const [blobs]: Array<{ n: unknown; size: unknown }> = await m.query(
    "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS size FROM blobs WHERE namespace_id = ? AND ref_count > 0",
    [scope.namespaceId],
  );
  await recountTagStats(m, scope);
  await execute(m, "UPDATE registry_stats SET blob_count = ?, total_size = ? WHERE namespace_id = ?", [
    toNumber(blobs?.n),
    toNumber(blobs?.size),
    scope.namespaceId,
  ]);
}

/**
 * Recounts the tag side of registry_stats (repositories, tags, tags per kind), leaving the blob
 * numbers the writes maintain: the end of an incremental sync run, which thus reads no blob.
 */
export async function recountTagStats(m: EntityManager, scope: IndexScope): Promise<void> {
  await lockStatsRow(m, scope);
  const [repos]: Array<{ n: unknown }> = await m.query(
    "SELECT COUNT(*) AS n FROM repositories WHERE namespace_id = ?",
    [scope.namespaceId],
  );
  const kindRows: Array<{ kind: string; n: unknown }> = await m.query(
    "SELECT t.kind AS kind, COUNT(*) AS n FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.namespace_id = ? GROUP BY t.kind",
    [scope.namespaceId],
  );
  const kinds: Record<string, number> = {};
  let tagCount = 0;
  for (const r of kindRows) {
    kinds[String(r.kind)] = toNumber(r.n);
    tagCount += toNumber(r.n);
  }
  await execute(m, "UPDATE registry_stats SET repository_count = ?, tag_count = ?, kinds = ? WHERE namespace_id = ?", [
    toNumber(repos?.n),
    tagCount,
    JSON.stringify(kinds),
    scope.namespaceId,
  ]);
}

/** Records when a sync last completed (GetStats `last_sync_time`). */
export async function markSynced(on: EntityManager | DataSource, scope: IndexScope): Promise<void> {
  const sql = `UPDATE registry_stats SET last_sync_at = ${sqlNow(scope.dialect)} WHERE namespace_id = ?`;
  if ((await execute(on, sql, [scope.namespaceId])) === 1) return;
  await ensureStatsRow(on, scope);
  await execute(on, sql, [scope.namespaceId]);
}

/**
 * Locks the stats row before a recount reads anything. A tag writer (IndexTag, DeleteTag on any
 * replica) moves the counts under this same lock (`lockedKindCounts`), so it either committed
 * before the recount's first read — InnoDB takes the read view at the first plain SELECT, after
 * this locking one — or it waits and then moves the recounted value. Without it, a delete that
 * committed between the recount's read and its UPDATE was overwritten (a lost update).
 */
async function lockStatsRow(m: EntityManager, scope: IndexScope): Promise<void> {
  await ensureStatsRow(m, scope);
  await m.query(`SELECT namespace_id FROM registry_stats WHERE namespace_id = ?${forUpdate(scope.dialect)}`, [
    scope.namespaceId,
  ]);
}

async function ensureStatsRow(m: EntityManager | DataSource, scope: IndexScope): Promise<void> {
  await execute(
    m,
    `${insertIgnore(scope.dialect)} INTO registry_stats (namespace_id, repository_count, tag_count, blob_count, total_size, kinds, last_sync_at) VALUES (?, 0, 0, 0, 0, NULL, NULL)`,
    [scope.namespaceId],
  );
}

/** The per-kind tag counts, locking the row; null when no row exists or no recount has filled it. */
export async function lockedKindCounts(m: EntityManager, scope: IndexScope): Promise<Map<string, number> | null> {
  const stats: Array<{ kinds: unknown }> = await m.query(
    `SELECT kinds FROM registry_stats WHERE namespace_id = ?${forUpdate(scope.dialect)}`,
    [scope.namespaceId],
  );
  const kinds = toJson<Record<string, unknown>>(stats[0]?.kinds);
  return kinds === null ? null : new Map(Object.entries(kinds).map(([kind, n]) => [kind, toNumber(n)]));
}

/** Moves the repository and tag counts by these amounts and stores the per-kind counts. */
export async function moveTagStats(
  m: EntityManager,
  scope: IndexScope,
  change: { repositories: number; tags: number; kinds: ReadonlyMap<string, number> },
): Promise<void> {
  await execute(
    m,
    "UPDATE registry_stats SET repository_count = repository_count + ?, tag_count = tag_count + ?, kinds = ? WHERE namespace_id = ?",
    [change.repositories, change.tags, JSON.stringify(Object.fromEntries(change.kinds)), scope.namespaceId],
  );
}
