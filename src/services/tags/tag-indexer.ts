/**
 * Writes tags into the index inside the caller's transaction: repositories (created on first
 * tag), manifests with their blob edges and index children, blobs, the tag rows themselves,
 * and — in the same transaction, so every commit leaves a consistent index — the ref counts of
 * the blobs whose tags moved (with the blob numbers of registry_stats) and the manifests no tag
 * uses any more. Shared by the sync (batches of ≤ 1000 tags) and IndexTag (one tag); removals
 * live here too.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../../db/column-types.js";
import { execute } from "../../db/sql/execute.js";
import { toDate, toNumber, toTextOrNull } from "../../db/sql/decode.js";
import { insertIgnore, sqlNow } from "../../db/sql/sql.js";
import { applyBlobStats, deleteOrphanManifests, moveBlobRefs, refreshBlobRefs } from "./aggregates.js";
import { ensureManifests, uniqueManifests } from "./manifest-rows.js";
import { bool, chunk, forUpdate, placeholders, timeParam } from "../../db/sql/sql-params.js";
import type { TagFacts } from "./tag-reader.js";

export interface IndexScope {
  dialect: Dialect;
  namespaceId: number;
}

export interface WriteOptions {
  /** A sync's catalog-read time: rows written after it (by IndexTag) are newer than ours and kept. */
  keepNewerThan?: unknown;
  /** Sync writes stamp `synced_at` and clear the repositories' `catalog_updated_at` until their aggregates are redone. */
  bySync: boolean;
}

export interface WriteResult {
  repositoriesCreated: number;
  /** Repository name → id for every repository of the batch. */
  repositoryIds: Map<string, number>;
  /** Tags skipped because IndexTag wrote them after the sync read the catalog. */
  keptNewer: number;
}

const tagKey = (repositoryId: number, name: string) => `${repositoryId}\u0000${name}`;

export async function writeTags(
  m: EntityManager,
  scope: IndexScope,
  tags: readonly TagFacts[],
  opts: WriteOptions,
): Promise<WriteResult> {
  const { created, ids } = await ensureRepositories(m, scope, [...new Set(tags.map((t) => t.repository))]);
  const repoIds = [...ids.values()];
  if (opts.bySync && repoIds.length > 0) {
    await execute(
      m,
      `UPDATE repositories SET catalog_updated_at = NULL WHERE id IN (${placeholders(repoIds.length)})`,
      repoIds,
    );
  }
  const existing = await existingTags(m, scope, repoIds, [...new Set(tags.map((t) => t.tag))], opts.keepNewerThan);
  const toWrite = tags.filter((t) => !existing.get(tagKey(ids.get(t.repository)!, t.tag))?.newer);
  // A tag no sync has read yet (no object_etag: adopted from Epoch) gets every derived field
  // recomputed: its manifest's sizes and blob edges, and its push time.
  const unread = new Set(
    toWrite
      .filter((t) => existing.get(tagKey(ids.get(t.repository)!, t.tag))?.objectEtag === null)
      .map((t) => t.manifest.digest),
  );
  const { manifestIds, upgraded, insertedEdges } = await ensureManifests(m, scope, uniqueManifests(toWrite), unread);

  const rows = toWrite.map((t) => {
    const repositoryId = ids.get(t.repository)!;
    const old = existing.get(tagKey(repositoryId, t.tag));
    // pushed_at does not move while the digest is unchanged (Epoch).
    const pushedAt = old && old.digest === t.manifest.digest && old.objectEtag !== null ? old.pushedAt : t.pushedAt;
    return { t, repositoryId, manifestId: manifestIds.get(t.manifest.digest)!, pushedAt, old };
  });
  await upsertTagRows(m, scope.dialect, rows, opts.bySync);

  const moved = rows.filter((r) => r.old?.manifestId !== r.manifestId);
  const movedRefs = await moveBlobRefs(
    m,
    scope,
    moved.map((r) => ({ ...(r.old && { from: r.old.manifestId }), to: r.manifestId })),
    insertedEdges,
  );
  // A manifest completed under its tags: its blob set changed for all of them, so recount (after the moves).
  const refreshedRefs = await refreshBlobRefs(m, scope, upgraded);
  await applyBlobStats(m, scope, movedRefs, refreshedRefs);
  await deleteOrphanManifests(m, [...new Set(moved.flatMap((r) => (r.old ? [r.old.manifestId] : [])))]);
  return { repositoriesCreated: created, repositoryIds: ids, keptNewer: tags.length - toWrite.length };
}

export interface RemovalTarget {
  repositoryId: number;
  /** Tag names to remove; undefined = every tag of the repository. */
  names?: readonly string[];
}

/**
 * Deletes tags set-based (never one statement per tag), sparing rows written after
 * `keepNewerThan`; returns the number of tag rows deleted.
 */
export async function removeTags(
  m: EntityManager,
  scope: IndexScope,
  targets: readonly RemovalTarget[],
  keepNewerThan?: unknown,
): Promise<number> {
  const victims: Array<{ id: number; manifestId: number }> = [];
  const newer = keepNewerThan === undefined ? "" : " AND indexed_at <= ?";
  const newerParams = keepNewerThan === undefined ? [] : [keepNewerThan];
  const whole = targets.filter((t) => t.names === undefined).map((t) => t.repositoryId);
  for (const ids of chunk(whole, 500)) {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT id, manifest_id FROM tags WHERE repository_id IN (${placeholders(ids.length)})${newer}${forUpdate(scope.dialect)}`,
      [...ids, ...newerParams],
    );
    victims.push(...rows.map((r) => ({ id: toNumber(r.id), manifestId: toNumber(r.manifest_id) })));
  }
  for (const t of targets) {
    for (const names of chunk(t.names ?? [], 1000)) {
      const rows: Array<Record<string, unknown>> = await m.query(
        `SELECT id, manifest_id FROM tags WHERE repository_id = ? AND name IN (${placeholders(names.length)})${newer}${forUpdate(scope.dialect)}`,
        [t.repositoryId, ...names, ...newerParams],
      );
      victims.push(...rows.map((r) => ({ id: toNumber(r.id), manifestId: toNumber(r.manifest_id) })));
    }
  }
  if (victims.length === 0) return 0;
  const repoIds = [...new Set(targets.map((t) => t.repositoryId))];
  // Their aggregates are stale until recomputed: a crash now must not let a later run skip them.
  await execute(
    m,
    `UPDATE repositories SET catalog_updated_at = NULL WHERE id IN (${placeholders(repoIds.length)})`,
    repoIds,
  );
  let removed = 0;
  for (const part of chunk(victims, 1000)) {
    removed += await execute(
      m,
      `DELETE FROM tags WHERE id IN (${placeholders(part.length)})`,
      part.map((v) => v.id),
    );
  }
  await applyBlobStats(
    m,
    scope,
    await moveBlobRefs(
      m,
      scope,
      victims.map((v) => ({ from: v.manifestId })),
    ),
  );
  await deleteOrphanManifests(m, [...new Set(victims.map((v) => v.manifestId))]);
  return removed;
}

async function ensureRepositories(
  m: EntityManager,
  scope: IndexScope,
  names: string[],
): Promise<{ created: number; ids: Map<string, number> }> {
  let created = 0;
  const ids = new Map<string, number>();
  const now = sqlNow(scope.dialect);
  for (const part of chunk(names, 500)) {
    created += await execute(
      m,
      `${insertIgnore(scope.dialect)} INTO repositories (namespace_id, name, tag_count, total_size, artifact_type, kind, catalog_updated_at, created_at, updated_at)
VALUES ${part.map(() => `(?, ?, 0, 0, '', '', NULL, ${now}, ${now})`).join(", ")}`,
      part.flatMap((n) => [scope.namespaceId, n]),
    );
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT id, name FROM repositories WHERE namespace_id = ? AND name IN (${placeholders(part.length)})`,
      [scope.namespaceId, ...part],
    );
    for (const r of rows) ids.set(String(r.name), toNumber(r.id));
  }
  return { created, ids };
}

interface ExistingTag {
  manifestId: number;
  digest: string;
  objectEtag: string | null;
  pushedAt: Date;
  newer: boolean;
}

async function existingTags(
  m: EntityManager,
  scope: IndexScope,
  repoIds: number[],
  names: string[],
  keepNewerThan: unknown,
): Promise<Map<string, ExistingTag>> {
  const out = new Map<string, ExistingTag>();
  if (repoIds.length === 0 || names.length === 0) return out;
  const newer = keepNewerThan === undefined ? "0" : "CASE WHEN indexed_at > ? THEN 1 ELSE 0 END";
  for (const part of chunk(names, 1000)) {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT repository_id, name, manifest_id, digest, object_etag, pushed_at, ${newer} AS newer FROM tags
WHERE repository_id IN (${placeholders(repoIds.length)}) AND name IN (${placeholders(part.length)})${forUpdate(scope.dialect)}`,
      [...(keepNewerThan === undefined ? [] : [keepNewerThan]), ...repoIds, ...part],
    );
    for (const r of rows) {
      out.set(tagKey(toNumber(r.repository_id), String(r.name)), {
        manifestId: toNumber(r.manifest_id),
        digest: String(r.digest),
        objectEtag: toTextOrNull(r.object_etag),
        pushedAt: toDate(r.pushed_at),
        newer: toNumber(r.newer) === 1,
      });
    }
  }
  return out;
}

interface TagRowWrite {
  t: TagFacts;
  repositoryId: number;
  manifestId: number;
  pushedAt: Date;
}

async function upsertTagRows(m: EntityManager, dialect: Dialect, rows: TagRowWrite[], bySync: boolean): Promise<void> {
  const now = sqlNow(dialect);
  const columns =
    "repository_id, name, manifest_id, digest, kind, total_size, pushed_at, object_etag, incomplete, indexed_at, synced_at";
  const updated = [
    "manifest_id",
    "digest",
    "kind",
    "total_size",
    "pushed_at",
    "object_etag",
    "incomplete",
    "indexed_at",
  ];
  const onConflict =
    dialect === "sqlite"
      ? `ON CONFLICT (repository_id, name) DO UPDATE SET ${updated.map((c) => `${c} = excluded.${c}`).join(", ")}, synced_at = COALESCE(excluded.synced_at, tags.synced_at)`
      : `ON DUPLICATE KEY UPDATE ${updated.map((c) => `${c} = VALUES(${c})`).join(", ")}, synced_at = COALESCE(VALUES(synced_at), synced_at)`;
  for (const part of chunk(rows, 500)) {
    const values = part.map(() => `(?, ?, ?, ?, ?, ?, ?, ?, ?, ${now}, ${bySync ? now : "NULL"})`).join(", ");
    await execute(
      m,
      `INSERT INTO tags (${columns}) VALUES ${values} ${onConflict}`,
      part.flatMap((r) => [
        r.repositoryId,
        r.t.tag,
        r.manifestId,
        r.t.manifest.digest,
        r.t.manifest.kind,
        r.t.manifest.totalSize,
        timeParam(r.pushedAt, dialect),
        r.t.objectEtag,
        bool(r.t.incomplete),
      ]),
    );
  }
}
