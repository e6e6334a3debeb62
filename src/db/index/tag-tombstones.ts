/**
 * Tombstones of deleted tags (DESIGN §4 step 2, the mirror of "rows IndexTag wrote after the run
 * read the catalog are kept"): once DeleteTag answers, a sync that read the catalog before the
 * delete — and so may have fetched the tag — never commits it again.
 *
 * The two sides meet on the tombstone's primary key, so on MariaDB they cannot miss each other:
 * DeleteTag writes its tombstone first in its transaction, then removes the tag row with a
 * locking read; a sync batch reads the tombstones of its tags with a locking read before it
 * writes them. Whichever comes second waits for the first to commit (a record lock, or the gap
 * lock that the sync's read takes where the tombstone would go) and then sees its work: the sync
 * skips the tag, or DeleteTag removes the row the sync wrote. SQLite runs one writer at a time.
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
 * Which of `names` were deleted after `since` (a run's catalog-read time), as a predicate. Locks
 * their tombstone keys (MariaDB) until the caller's transaction ends.
 */
export async function deletedSince(
  m: EntityManager,
  scope: IndexScope,
  names: readonly TagName[],
  since: unknown,
): Promise<(repository: string, tag: string) => boolean> {
  const deleted = new Set<string>();
  const byRepository = new Map<string, Set<string>>();
  for (const n of names) {
    let tags = byRepository.get(n.repository);
    if (!tags) byRepository.set(n.repository, (tags = new Set()));
    tags.add(n.tag);
  }
  for (const [repository, tags] of byRepository) {
    for (const part of chunk([...tags], 1000)) {
      // The time is tested in the select list, not the WHERE: every key looked up is locked,
      // also where no tombstone exists yet (the gap a concurrent DeleteTag would insert into).
      const rows: Array<Record<string, unknown>> = await m.query(
        `SELECT tag, CASE WHEN deleted_at > ? THEN 1 ELSE 0 END AS after_read FROM tag_tombstones
WHERE namespace_id = ? AND repository = ? AND tag IN (${placeholders(part.length)})${forUpdate(scope.dialect)}`,
        [since, scope.namespaceId, repository, ...part],
      );
      for (const r of rows) if (Number(r.after_read) === 1) deleted.add(tombstoneKey(repository, String(r.tag)));
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
