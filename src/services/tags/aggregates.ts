/**
 * The maintained numbers, set-based (never a statement per row):
 * - blob `ref_count` = number of tags whose distinct config+layer set holds the blob (Epoch),
 *   moved with the tags in the same transaction, recounted where a manifest's blob set changed;
 * - manifests no tag uses any more are deleted with their edges (blobs stay for GC);
 * - per repository: tag_count, exact total_size (Σ distinct reachable blobs), kind and
 *   artifact_type of the most recently pushed tag, updated_at (the latest push), and the
 *   catalog's updatedAt it reflects — in one statement, so in the caller's one transaction;
 * - the registry_stats row GetStats reads: its blob numbers moved with the ref counts in the
 *   same transaction (the write that moves a ref count knows whether the blob became referenced
 *   or unreferenced), its tag numbers recounted at the end of a sync run (IndexTag and DeleteTag
 *   move them: stats-delta.ts), and everything recounted by full runs and the Epoch adoption.
 */
import type { DataSource, EntityManager } from "typeorm";
import { execute } from "../../db/sql/execute.js";
import { toBool, toNumber } from "../../db/sql/decode.js";
import { insertIgnore, sqlNow } from "../../db/sql/sql.js";
import { tagSetHash } from "../sync/tag-set-hash.js";
import { chunk, forUpdate, placeholders } from "../../db/sql/sql-params.js";
import type { IndexScope } from "./tag-indexer.js";

/** How a write changed the referenced blobs (ref_count > 0): how many, and their bytes. */
export interface BlobStatsDelta {
  count: number;
  bytes: number;
}

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

/** The ref_count and size of these blobs (locked on MariaDB: the caller is about to change them). */
async function blobRefs(
  m: EntityManager,
  scope: IndexScope,
  digests: readonly string[],
): Promise<Map<string, { refs: number; size: number }>> {
  const out = new Map<string, { refs: number; size: number }>();
  for (const part of chunk(digests, 1000)) {
    const rows: Array<{ digest: unknown; ref_count: unknown; size: unknown }> = await m.query(
      `SELECT digest, ref_count, size FROM blobs WHERE namespace_id = ? AND digest IN (${placeholders(part.length)})${forUpdate(scope.dialect)}`,
      [scope.namespaceId, ...part],
    );
    for (const r of rows) out.set(String(r.digest), { refs: toNumber(r.ref_count), size: toNumber(r.size) });
  }
  return out;
}

/** The change in referenced blobs between two readings of the same digests. */
function referencedDelta(
  before: ReadonlyMap<string, { refs: number; size: number }>,
  refsAfter: (digest: string) => number,
): BlobStatsDelta {
  const delta = { count: 0, bytes: 0 };
  for (const [digest, b] of before) {
    const change = Number(refsAfter(digest) > 0) - Number(b.refs > 0);
    delta.count += change;
    delta.bytes += change * b.size;
  }
  return delta;
}

/** A tag moving between manifests: `from` absent for an added tag, `to` absent for a removed one. */
export interface TagMove {
  from?: number;
  to?: number;
}

/**
 * Moves ref counts along with the tags, in the caller's transaction: +1 for each blob of a
 * tag's new manifest, -1 for each of its old one. Exact, because the caller holds the tag rows
 * (locking reads on MariaDB, the single writer on SQLite) and commits counts and rows together.
 * Recounting instead would re-read every edge of a shared base layer in every batch, which is
 * quadratic over a full sync.
 */
export async function moveBlobRefs(
  m: EntityManager,
  scope: IndexScope,
  moves: readonly TagMove[],
  /** Blob sets the caller already knows (manifests it just inserted), so they are not read back. */
  known: ReadonlyMap<number, string[]> = new Map(),
): Promise<BlobStatsDelta> {
  const edges = new Map<number, string[]>(known);
  const ids = [
    ...new Set(
      moves.flatMap((mv) => [mv.from, mv.to]).filter((id): id is number => id !== undefined && !edges.has(id)),
    ),
  ];
  for (const part of chunk(ids, 1000)) {
    const rows: Array<{ manifest_id: unknown; blob_digest: string }> = await m.query(
      `SELECT manifest_id, blob_digest FROM manifest_blobs WHERE manifest_id IN (${placeholders(part.length)})`,
      part,
    );
    for (const r of rows) {
      const id = toNumber(r.manifest_id);
      const list = edges.get(id) ?? [];
      list.push(String(r.blob_digest));
      edges.set(id, list);
    }
  }
  const delta = new Map<string, number>();
  const add = (id: number | undefined, by: number) => {
    for (const digest of id === undefined ? [] : (edges.get(id) ?? []))
      delta.set(digest, (delta.get(digest) ?? 0) + by);
  };
  for (const mv of moves) {
    add(mv.to, 1);
    add(mv.from, -1);
  }
  const moving = [...delta].filter(([, d]) => d !== 0);
  const before = await blobRefs(
    m,
    scope,
    moving.map(([digest]) => digest),
  );
  // One statement per distinct delta (nearly always just +1 or -1) and 1000 digests.
  const byDelta = new Map<number, string[]>();
  for (const [digest, d] of moving) {
    const list = byDelta.get(d);
    if (list) list.push(digest);
    else byDelta.set(d, [digest]);
  }
  for (const [d, digests] of byDelta) {
    for (const part of chunk(digests, 1000)) {
      await execute(
        m,
        `UPDATE blobs SET ref_count = ref_count + ? WHERE namespace_id = ? AND digest IN (${placeholders(part.length)})`,
        [d, scope.namespaceId, ...part],
      );
    }
  }
  return referencedDelta(before, (digest) => before.get(digest)!.refs + delta.get(digest)!);
}

/** Recounts the blobs of these manifests from the tags (a manifest whose blob set changed under its tags). */
export async function refreshBlobRefs(
  m: EntityManager,
  scope: IndexScope,
  manifestIds: readonly number[],
): Promise<BlobStatsDelta> {
  const digests = new Set<string>();
  for (const ids of chunk(manifestIds, 1000)) {
    const rows: Array<{ blob_digest: string }> = await m.query(
      `SELECT DISTINCT blob_digest FROM manifest_blobs WHERE manifest_id IN (${placeholders(ids.length)})`,
      ids,
    );
    for (const r of rows) digests.add(String(r.blob_digest));
  }
  const before = await blobRefs(m, scope, [...digests]);
  // The digest list is literal (not a subquery) so MariaDB updates by primary key, not by scan.
  // CROSS JOIN fixes SQLite's join order (blob edges first, by digest): left to its own devices
  // without statistics it walks every manifest of the namespace for each blob.
  for (const part of chunk([...digests], 1000)) {
    await execute(
      m,
      `UPDATE blobs SET ref_count = (
  SELECT COUNT(*) FROM manifest_blobs mb
  CROSS JOIN manifests mf ON mf.id = mb.manifest_id
  CROSS JOIN tags t ON t.manifest_id = mb.manifest_id
  WHERE mb.blob_digest = blobs.digest AND mf.namespace_id = blobs.namespace_id)
WHERE namespace_id = ? AND digest IN (${placeholders(part.length)})`,
      [scope.namespaceId, ...part],
    );
  }
  if (before.size === 0) return { count: 0, bytes: 0 };
  const after = await blobRefs(m, scope, [...before.keys()]);
  return referencedDelta(before, (digest) => after.get(digest)?.refs ?? 0);
}

/** Deletes those of `manifestIds` that no tag references (children and blob edges first). */
export async function deleteOrphanManifests(m: EntityManager, manifestIds: readonly number[]): Promise<number> {
  let deleted = 0;
  for (const ids of chunk(manifestIds, 1000)) {
    const rows: Array<{ id: unknown }> = await m.query(
      `SELECT id FROM manifests WHERE id IN (${placeholders(ids.length)}) AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = manifests.id)`,
      ids,
    );
    const orphans = rows.map((r) => toNumber(r.id));
    if (orphans.length === 0) continue;
    const list = placeholders(orphans.length);
    await execute(m, `DELETE FROM manifest_blobs WHERE manifest_id IN (${list})`, orphans);
    await execute(m, `DELETE FROM manifest_children WHERE parent_id IN (${list})`, orphans);
    deleted += await execute(m, `DELETE FROM manifests WHERE id IN (${list})`, orphans);
  }
  return deleted;
}

/** Repositories to recompute; `catalogUpdatedAt` (when given) is stored with the aggregates. */
export interface RepositoryRecompute {
  id: number;
  catalogUpdatedAt?: string | null;
}

/**
 * Recomputes the aggregates of these repositories, then deletes those left without tags.
 * Returns the number of repositories deleted.
 */
export async function recomputeRepositories(
  m: EntityManager,
  scope: IndexScope,
  repos: readonly RepositoryRecompute[],
): Promise<number> {
  let removed = 0;
  for (const part of chunk(repos, 500)) {
    const ids = part.map((r) => r.id);
    const list = placeholders(ids.length);
    // Σ distinct reachable blobs, driven from the repositories' tags (a correlated IN over
    // `blobs` would let MariaDB scan every blob per repository).
    const totals: Array<{ repository_id: unknown; total: unknown }> = await m.query(
      `SELECT x.repository_id, SUM(b.size) AS total FROM (
  SELECT DISTINCT t.repository_id, mb.blob_digest FROM tags t JOIN manifest_blobs mb ON mb.manifest_id = t.manifest_id
  WHERE t.repository_id IN (${list})) x
JOIN blobs b ON b.namespace_id = ? AND b.digest = x.blob_digest
GROUP BY x.repository_id`,
      [...ids, scope.namespaceId],
    );
    const totalCase = totals.length === 0 ? "0" : `CASE id ${totals.map(() => "WHEN ? THEN ?").join(" ")} ELSE 0 END`;
    const hashes = await tagSetHashes(m, ids);
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
      `UPDATE repositories SET
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
    removed += await execute(m, `DELETE FROM repositories WHERE id IN (${list}) AND tag_count = 0`, ids);
  }
  return removed;
}

/** Repository id → the hash of its indexed tag names (services/sync/tag-set-hash.ts); absent: no tags, or an incomplete one. */
async function tagSetHashes(m: EntityManager, ids: readonly number[]): Promise<Map<number, string>> {
  const rows: Array<{ repository_id: unknown; name: unknown; incomplete: unknown }> = await m.query(
    `SELECT repository_id, name, incomplete FROM tags WHERE repository_id IN (${placeholders(ids.length)})`,
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
 * Recomputes the whole registry_stats row from the index (counts over indexed rows, as DESIGN §2
 * defines them): full sync runs and the Epoch adoption, and where no row has been filled yet.
 */
export async function recomputeStats(m: EntityManager, scope: IndexScope): Promise<void> {
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
  await ensureStatsRow(m, scope);
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

async function ensureStatsRow(m: EntityManager | DataSource, scope: IndexScope): Promise<void> {
  await execute(
    m,
    `${insertIgnore(scope.dialect)} INTO registry_stats (namespace_id, repository_count, tag_count, blob_count, total_size, kinds, last_sync_at) VALUES (?, 0, 0, 0, 0, NULL, NULL)`,
    [scope.namespaceId],
  );
}
