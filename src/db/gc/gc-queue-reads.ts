/**
 * What the collector reads from and finally writes to the review queue: due candidates and the
 * leftovers of a crashed run (both paged through the state index, so a run costs the rows it
 * looks at, never the queue's size), the queue depth, the end of a run's deletions, and the
 * pruning of old tombstones.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../data-source.js";
import type { IndexScope } from "../index/index-scope.js";
import { toDate, toNumber } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { sqlNow, sqlNowPlusMs } from "../sql/sql.js";
import type { ReviewItem, ReviewKind, ReviewState } from "./review-queue.js";

export interface QueueRow extends ReviewItem {
  unreferencedAt: Date;
  size: number;
  /** The raw stored time: the keyset bound of the next page (compared exactly as stored). */
  position: unknown;
}

export interface QueuePage {
  state: ReviewState;
  /** Only rows unreferenced at least this long ago (pending candidates). */
  dueAfterMs?: number;
  /** Leave out rows this run marked (leftovers are other runs'). */
  exceptRunId?: number;
  after?: QueueRow;
  limit: number;
}

/** Rows in one state in (unreferenced_at, kind, repository, digest) order: the state index's order. */
export async function queueRows(db: Database, scope: IndexScope, page: QueuePage): Promise<QueueRow[]> {
  const where = ["namespace_id = ?", "state = ?"];
  const params: unknown[] = [scope.namespaceId, page.state];
  if (page.dueAfterMs !== undefined) {
    where.push(`unreferenced_at <= ${sqlNowPlusMs(scope.dialect)}`);
    params.push(-page.dueAfterMs);
  }
  if (page.exceptRunId !== undefined) {
    where.push("run_id <> ?");
    params.push(page.exceptRunId);
  }
  const a = page.after;
  if (a) {
    where.push(
      "(unreferenced_at > ? OR (unreferenced_at = ? AND (kind > ? OR (kind = ? AND (repository > ? OR (repository = ? AND digest > ?))))))",
    );
    params.push(a.position, a.position, a.kind, a.kind, a.repository, a.repository, a.digest);
  }
  const rows = await db.read(
    `SELECT kind, repository, digest, unreferenced_at, size FROM gc_review_queue WHERE ${where.join(" AND ")}
ORDER BY unreferenced_at, kind, repository, digest LIMIT ${Math.max(1, Math.floor(page.limit))}`,
    params,
  );
  return rows.map((r) => ({
    kind: String(r.kind) as ReviewKind,
    repository: String(r.repository),
    digest: String(r.digest),
    unreferencedAt: toDate(r.unreferenced_at),
    size: toNumber(r.size),
    position: r.unreferenced_at,
  }));
}

/** Pending rows due for review (the scheduler's trigger and the queue-depth metric). */
export async function dueCount(db: Database, scope: IndexScope, gracePeriodMs: number): Promise<number> {
  const rows = await db.read(
    `SELECT COUNT(*) AS n FROM gc_review_queue WHERE namespace_id = ? AND state = 'pending' AND unreferenced_at <= ${sqlNowPlusMs(scope.dialect)}`,
    [scope.namespaceId, -gracePeriodMs],
  );
  return toNumber(rows[0]?.n);
}

/** A crashed run's `deleting` rows become this run's: their objects are deleted again (idempotent). */
export async function adoptLeftovers(
  m: EntityManager,
  scope: IndexScope,
  runId: number,
  rows: readonly ReviewItem[],
): Promise<void> {
  for (const r of rows) {
    await execute(
      m,
      "UPDATE gc_review_queue SET run_id = ? WHERE namespace_id = ? AND kind = ? AND repository = ? AND digest = ? AND state = 'deleting'",
      [runId, scope.namespaceId, r.kind, r.repository, r.digest],
    );
  }
}

/** The run's objects are gone: its `deleting` rows become `deleted` (IndexTag may revive them once pushed again). */
export async function finishDeletions(m: EntityManager, scope: IndexScope, runId: number): Promise<number> {
  return execute(
    m,
    `UPDATE gc_review_queue SET state = 'deleted', changed_at = ${sqlNow(scope.dialect)} WHERE namespace_id = ? AND state = 'deleting' AND run_id = ?`,
    [scope.namespaceId, runId],
  );
}

/** Objects whose delete failed stay `deleting`, for the next run to delete. */
export async function keepDeleting(m: EntityManager, scope: IndexScope, items: readonly ReviewItem[]): Promise<void> {
  for (const i of items) {
    await execute(
      m,
      "UPDATE gc_review_queue SET state = 'deleting', run_id = 0 WHERE namespace_id = ? AND kind = ? AND repository = ? AND digest = ? AND state = 'deleted'",
      [scope.namespaceId, i.kind, i.repository, i.digest],
    );
  }
}

/**
 * Tombstones (`deleted` rows) older than `retentionMs` go: by then a push that read the object
 * before it was deleted has long called IndexTag. At most `limit` rows per call.
 */
export async function pruneTombstones(
  m: EntityManager,
  scope: IndexScope,
  retentionMs: number,
  limit = 10_000,
): Promise<number> {
  const rows: Array<Record<string, unknown>> = await m.query(
    // unreferenced_at bounds the scan through the state index (a row is deleted after it was unreferenced).
    `SELECT kind, repository, digest FROM gc_review_queue
WHERE namespace_id = ? AND state = 'deleted' AND unreferenced_at < ${sqlNowPlusMs(scope.dialect)} AND changed_at < ${sqlNowPlusMs(scope.dialect)} LIMIT ${limit}`,
    [scope.namespaceId, -retentionMs, -retentionMs],
  );
  let pruned = 0;
  for (const r of rows) {
    pruned += await execute(
      m,
      "DELETE FROM gc_review_queue WHERE namespace_id = ? AND kind = ? AND repository = ? AND digest = ? AND state = 'deleted'",
      [scope.namespaceId, r.kind, r.repository, r.digest],
    );
  }
  return pruned;
}

/** Which of these upload ids still have a row (the others' staging objects belong to no upload). */
export async function uploadRowsAmong(db: Database, scope: IndexScope, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.read(
    `SELECT id FROM uploads WHERE namespace_id = ? AND id IN (${ids.map(() => "?").join(", ")})`,
    [scope.namespaceId, ...ids],
  );
  return new Set(rows.map((r) => String(r.id)));
}

/** Pending review-queue rows per namespace (the queue-depth metric, read at scrape time). */
export async function pendingByNamespace(db: Database): Promise<Array<{ namespace: string; pending: number }>> {
  const rows = await db.read(
    // A range of the state index per namespace: the pending rows only, never the tombstones.
    `SELECT n.name AS namespace, (SELECT COUNT(*) FROM gc_review_queue q WHERE q.namespace_id = n.id AND q.state = 'pending') AS n
FROM namespaces n`,
  );
  return rows.map((r) => ({ namespace: String(r.namespace), pending: toNumber(r.n) }));
}
