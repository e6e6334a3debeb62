/**
 * Tombstones of deleted tags (DESIGN §4 step 2, the mirror of "rows IndexTag wrote after the run
 * read the catalog are kept"): once DeleteTag answers, a sync that read the catalog before the
 * delete — and so may have fetched the tag — never commits it again.
 *
 * Why a sync batch and a DeleteTag on another replica cannot miss each other (MariaDB; SQLite
 * runs one writer at a time): DeleteTag writes its tombstone first in its transaction, then reads
 * the repository and tag rows with locking reads and removes the tag. A sync batch reads its tags'
 * tombstones with a locking read (as committed now, not from an older snapshot) before it writes
 * them. If DeleteTag committed first, the batch sees the tombstone and skips the tag. If not, the
 * batch found no tombstone and wrote the row; DeleteTag's locking reads then wait for the batch to
 * commit (its row locks), see the row, and remove it.
 */
import type { EntityManager } from "typeorm";
import { execute } from "../sql/execute.js";
import { sqlNow } from "../sql/sql.js";
import { chunk, forUpdate, placeholders } from "../sql/sql-params.js";
import type { IndexScope } from "./index-scope.js";

export interface TagName {
  repository: string;
  tag: string;
}

const tombstoneKey = (repository: string, tag: string) => `${repository}\u0000${tag}`;

/** Records (or moves to now) the tombstone of `repository:tag`, at the database's clock. */
export async function recordTombstone(m: EntityManager, scope: IndexScope, name: TagName): Promise<void> {
  const now = sqlNow(scope.dialect);
  const upsert =
    scope.dialect === "sqlite"
      ? "ON CONFLICT (namespace_id, repository, tag) DO UPDATE SET deleted_at = excluded.deleted_at"
      : "ON DUPLICATE KEY UPDATE deleted_at = VALUES(deleted_at)";
  await execute(
    m,
    `INSERT INTO tag_tombstones (namespace_id, repository, tag, deleted_at) VALUES (?, ?, ?, ${now}) ${upsert}`,
    [scope.namespaceId, name.repository, name.tag],
  );
}

/**
 * Which of `names` were deleted after `since` (a run's catalog-read time), as a predicate: one
 * statement per 1000 names, whatever the number of repositories. A locking read (MariaDB), so it
 * sees every tombstone committed now, and a DeleteTag that has not committed yet finishes first.
 */
export async function deletedSince(
  m: EntityManager,
  scope: IndexScope,
  names: readonly TagName[],
  since: unknown,
): Promise<(repository: string, tag: string) => boolean> {
  const deleted = new Set<string>();
  const unique = [...new Map(names.map((n) => [tombstoneKey(n.repository, n.tag), n])).values()];
  for (const part of chunk(unique, 1000)) {
    const byRepository = new Map<string, string[]>();
    for (const n of part) {
      const tags = byRepository.get(n.repository);
      if (tags) tags.push(n.tag);
      else byRepository.set(n.repository, [n.tag]);
    }
    const groups = [...byRepository].map(([, tags]) => `(repository = ? AND tag IN (${placeholders(tags.length)}))`);
    // The time is tested in the select list, not the WHERE, so the lookup stays on the primary key.
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT repository, tag, CASE WHEN deleted_at > ? THEN 1 ELSE 0 END AS after_read FROM tag_tombstones
WHERE namespace_id = ? AND (${groups.join(" OR ")})${forUpdate(scope.dialect)}`,
      [since, scope.namespaceId, ...[...byRepository].flatMap(([repository, tags]) => [repository, ...tags])],
    );
    for (const r of rows) {
      if (Number(r.after_read) === 1) deleted.add(tombstoneKey(String(r.repository), String(r.tag)));
    }
  }
  return (repository, tag) => deleted.has(tombstoneKey(repository, tag));
}

/**
 * Drops the tombstones no sync can need: those deleted at or before `catalogReadAt` of the run
 * committing now. Runs are single-flight and every later run reads the catalog later, after these
 * deletes reached it; returns the number removed.
 */
export async function pruneTombstones(m: EntityManager, scope: IndexScope, catalogReadAt: unknown): Promise<number> {
  return execute(m, "DELETE FROM tag_tombstones WHERE namespace_id = ? AND deleted_at <= ?", [
    scope.namespaceId,
    catalogReadAt,
  ]);
}
