/**
 * Per repository, in one statement (so in the caller's one transaction): tag_count, exact
 * total_size (Σ distinct reachable blobs), kind and artifact_type of the most recently pushed
 * tag, updated_at (the latest push), the hash of its tag names, and the catalog's updatedAt the
 * aggregates reflect. Repositories left without tags are deleted.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import { execute } from "../sql/execute.js";
import { toBool, toNumber } from "../sql/decode.js";
import { chunk, forUpdate, placeholders } from "../sql/sql-params.js";
import type { IndexScope } from "./index-scope.js";
import { tagSetHash } from "./tag-set-hash.js";

/**
 * `repositories` for a statement that finds its rows by id and locks them. On MariaDB the primary
 * key is forced: with statistics that lag behind a fast-growing table (a first sync) the optimizer
 * may scan instead, and a locking scan under REPEATABLE READ locks every row it passes — other
 * namespaces' repositories included, which deadlocks the syncs of several namespaces.
 */
const byId = (dialect: Dialect) => (dialect === "sqlite" ? "repositories" : "repositories FORCE INDEX (PRIMARY)");

/** Repositories to recompute; `catalogUpdatedAt` (when given) is stored with the aggregates. */
export interface RepositoryRecompute {
  id: number;
  catalogUpdatedAt?: string | null;
}

/**
 * Recomputes the aggregates of these repositories, then deletes those left without tags.
 * Returns the names of the repositories deleted.
 */
export async function recomputeRepositories(
  m: EntityManager,
  scope: IndexScope,
  repos: readonly RepositoryRecompute[],
): Promise<string[]> {
  const removed: string[] = [];
  const share = scope.dialect === "sqlite" ? "" : " LOCK IN SHARE MODE";
  for (const part of chunk(repos, 500)) {
    const ids = part.map((r) => r.id);
    const list = placeholders(ids.length);
    // Concurrent writers of one repository (a sync's aggregates, DeleteTag, IndexTag on another
    // replica) take its row first and then read its tags as committed now (locking reads), so the
    // last one to commit computes from everything the others wrote — never from an older snapshot.
    await m.query(`SELECT id FROM ${byId(scope.dialect)} WHERE id IN (${list})${forUpdate(scope.dialect)}`, ids);
    // Σ distinct reachable blobs, driven from the repositories' tags (a correlated IN over
    // `blobs` would let MariaDB scan every blob per repository).
    const totals: Array<{ repository_id: unknown; total: unknown }> = await m.query(
      `SELECT x.repository_id, SUM(b.size) AS total FROM (
  SELECT DISTINCT t.repository_id, mb.blob_digest FROM tags t JOIN manifest_blobs mb ON mb.manifest_id = t.manifest_id
  WHERE t.repository_id IN (${list})) x
JOIN blobs b ON b.namespace_id = ? AND b.digest = x.blob_digest
GROUP BY x.repository_id${share}`,
      [...ids, scope.namespaceId],
    );
    const totalCase = totals.length === 0 ? "0" : `CASE id ${totals.map(() => "WHEN ? THEN ?").join(" ")} ELSE 0 END`;
    const hashes = await tagSetHashes(m, ids, share);
    const hashCase =
      hashes.size === 0 ? "NULL" : `CASE id ${[...hashes].map(() => "WHEN ? THEN ?").join(" ")} ELSE NULL END`;
    const withCatalog = part.filter((r) => r.catalogUpdatedAt !== undefined);
    const catalogCase =
      withCatalog.length === 0
        ? "catalog_updated_at"
        : `CASE id ${withCatalog.map(() => "WHEN ? THEN ?").join(" ")} ELSE catalog_updated_at END`;
    // "Latest" = greatest pushed_at, then greatest name: served backwards by ix_tags_push_time.
    const latest = (column: string, join = "") =>
      `(SELECT ${column} FROM tags t ${join} WHERE t.repository_id = repositories.id ORDER BY t.pushed_at DESC, t.name DESC LIMIT 1)`;
    await execute(
      m,
      `UPDATE ${byId(scope.dialect)} SET
  tag_count = (SELECT COUNT(*) FROM tags t WHERE t.repository_id = repositories.id),
  total_size = ${totalCase},
  kind = COALESCE(${latest("t.kind")}, ''),
  artifact_type = COALESCE(${latest("mf.artifact_type", "JOIN manifests mf ON mf.id = t.manifest_id")}, ''),
  updated_at = COALESCE((SELECT MAX(t.pushed_at) FROM tags t WHERE t.repository_id = repositories.id), updated_at),
  catalog_updated_at = ${catalogCase},
  tag_set_sha256 = ${hashCase}
WHERE id IN (${list})`,
      [
        ...totals.flatMap((t) => [toNumber(t.repository_id), toNumber(t.total)]),
        ...withCatalog.flatMap((r) => [r.id, r.catalogUpdatedAt]),
        ...[...hashes].flat(),
        ...ids,
      ],
    );
    // The rows are locked since the start of this function: the ones read here are the ones deleted.
    const empty: Array<{ id: unknown; name: unknown }> = await m.query(
      `SELECT id, name FROM repositories WHERE id IN (${list}) AND tag_count = 0`,
      ids,
    );
    if (empty.length === 0) continue;
    // MariaDB takes an index hint in a DELETE only in its multi-table form.
    const from = scope.dialect === "sqlite" ? "FROM repositories" : `repositories FROM ${byId(scope.dialect)}`;
    await execute(
      m,
      `DELETE ${from} WHERE id IN (${placeholders(empty.length)})`,
      empty.map((r) => toNumber(r.id)),
    );
    removed.push(...empty.map((r) => String(r.name)));
  }
  return removed;
}

/** Repository id → the hash of its indexed tag names (tag-set-hash.ts); absent: no tags, or an incomplete one. */
async function tagSetHashes(m: EntityManager, ids: readonly number[], share: string): Promise<Map<number, string>> {
  const rows: Array<{ repository_id: unknown; name: unknown; incomplete: unknown }> = await m.query(
    `SELECT repository_id, name, incomplete FROM tags WHERE repository_id IN (${placeholders(ids.length)})${share}`,
    [...ids],
  );
  const names = new Map<number, string[]>();
  // A repository with an incomplete tag gets no hash: the plan must read its rows to retry it.
  const retried = new Set<number>();
  for (const r of rows) {
    const id = toNumber(r.repository_id);
    if (toBool(r.incomplete)) retried.add(id);
    const list = names.get(id);
    if (list) list.push(String(r.name));
    else names.set(id, [String(r.name)]);
  }
  return new Map([...names].filter(([id]) => !retried.has(id)).map(([id, list]) => [id, tagSetHash(list)]));
}

/**
 * Clears the repositories' catalog_updated_at: their aggregates are stale until recomputed, so a
 * crash before that must not let a later run skip them.
 */
export async function markAggregatesStale(
  m: EntityManager,
  dialect: Dialect,
  repositoryIds: readonly number[],
): Promise<void> {
  await execute(
    m,
    `UPDATE ${byId(dialect)} SET catalog_updated_at = NULL WHERE id IN (${placeholders(repositoryIds.length)})`,
    [...repositoryIds],
  );
}
