/**
 * Writes tags into the index inside the caller's transaction: repositories (created on first
 * tag), manifests with their blob edges and index children, blobs, the tag rows themselves,
 * and — in the same transaction, so every commit leaves a consistent index — the ref counts of
 * the blobs whose tags moved and the manifests no tag uses any more. Shared by the sync (batches
 * of ≤ 1000 tags) and IndexTag (one tag); removals live here too.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../db/column-types.js";
import { execute } from "../db/execute.js";
import { toDate, toJson, toNumber } from "../db/queries/decode.js";
import { insertIgnore, sqlNow } from "../db/sql.js";
import { deleteOrphanManifests, moveBlobRefs, refreshBlobRefs } from "./aggregates.js";
import { bool, chunk, forUpdate, placeholders, rowPlaceholders, timeParam } from "./sql-params.js";
import type { ManifestFacts, TagFacts } from "./tag-reader.js";

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

/** Manifest JSON per INSERT statement, well below MariaDB's default 16 MiB packet. */
const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;

const tagKey = (repositoryId: number, name: string) => `${repositoryId}\u0000${name}`;

export async function writeTags(m: EntityManager, scope: IndexScope, tags: readonly TagFacts[], opts: WriteOptions): Promise<WriteResult> {
  const { created, ids } = await ensureRepositories(m, scope, [...new Set(tags.map((t) => t.repository))]);
  const repoIds = [...ids.values()];
  if (opts.bySync && repoIds.length > 0) {
    await execute(m, `UPDATE repositories SET catalog_updated_at = NULL WHERE id IN (${placeholders(repoIds.length)})`, repoIds);
  }
  const existing = await existingTags(m, scope, repoIds, [...new Set(tags.map((t) => t.tag))], opts.keepNewerThan);
  const toWrite = tags.filter((t) => !existing.get(tagKey(ids.get(t.repository)!, t.tag))?.newer);
  const { manifestIds, upgraded } = await ensureManifests(m, scope, uniqueManifests(toWrite));

  const rows = toWrite.map((t) => {
    const repositoryId = ids.get(t.repository)!;
    const old = existing.get(tagKey(repositoryId, t.tag));
    // pushed_at does not move while the digest is unchanged (Epoch).
    const pushedAt = old && old.digest === t.manifest.digest ? old.pushedAt : t.pushedAt;
    return { t, repositoryId, manifestId: manifestIds.get(t.manifest.digest)!, pushedAt, old };
  });
  await upsertTagRows(m, scope.dialect, rows, opts.bySync);

  const moved = rows.filter((r) => r.old?.manifestId !== r.manifestId);
  await moveBlobRefs(
    m,
    scope,
    moved.map((r) => ({ ...(r.old && { from: r.old.manifestId }), to: r.manifestId })),
  );
  // A manifest completed under its tags: its blob set changed for all of them, so recount (after the moves).
  await refreshBlobRefs(m, scope, upgraded);
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
export async function removeTags(m: EntityManager, scope: IndexScope, targets: readonly RemovalTarget[], keepNewerThan?: unknown): Promise<number> {
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
  await execute(m, `UPDATE repositories SET catalog_updated_at = NULL WHERE id IN (${placeholders(repoIds.length)})`, repoIds);
  let removed = 0;
  for (const part of chunk(victims, 1000)) {
    removed += await execute(m, `DELETE FROM tags WHERE id IN (${placeholders(part.length)})`, part.map((v) => v.id));
  }
  await moveBlobRefs(
    m,
    scope,
    victims.map((v) => ({ from: v.manifestId })),
  );
  await deleteOrphanManifests(m, [...new Set(victims.map((v) => v.manifestId))]);
  return removed;
}

async function ensureRepositories(m: EntityManager, scope: IndexScope, names: string[]): Promise<{ created: number; ids: Map<string, number> }> {
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
  pushedAt: Date;
  newer: boolean;
}

async function existingTags(m: EntityManager, scope: IndexScope, repoIds: number[], names: string[], keepNewerThan: unknown): Promise<Map<string, ExistingTag>> {
  const out = new Map<string, ExistingTag>();
  if (repoIds.length === 0 || names.length === 0) return out;
  const newer = keepNewerThan === undefined ? "0" : "CASE WHEN indexed_at > ? THEN 1 ELSE 0 END";
  for (const part of chunk(names, 1000)) {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT repository_id, name, manifest_id, digest, pushed_at, ${newer} AS newer FROM tags
WHERE repository_id IN (${placeholders(repoIds.length)}) AND name IN (${placeholders(part.length)})${forUpdate(scope.dialect)}`,
      [...(keepNewerThan === undefined ? [] : [keepNewerThan]), ...repoIds, ...part],
    );
    for (const r of rows) {
      out.set(tagKey(toNumber(r.repository_id), String(r.name)), {
        manifestId: toNumber(r.manifest_id),
        digest: String(r.digest),
        pushedAt: toDate(r.pushed_at),
        newer: toNumber(r.newer) === 1,
      });
    }
  }
  return out;
}

function uniqueManifests(tags: readonly TagFacts[]): ManifestFacts[] {
  const byDigest = new Map<string, ManifestFacts>();
  for (const t of tags) {
    const seen = byDigest.get(t.manifest.digest);
    // Children live per repository: prefer the most complete reading of a shared index.
    if (!seen || (!seen.complete && t.manifest.complete)) byDigest.set(t.manifest.digest, t.manifest);
  }
  return [...byDigest.values()];
}

/** Inserts missing manifests (with edges, children and blobs); completes incomplete ones. */
async function ensureManifests(m: EntityManager, scope: IndexScope, manifests: ManifestFacts[]): Promise<{ manifestIds: Map<string, number>; upgraded: number[] }> {
  const known = await manifestRows(m, scope, manifests.map((f) => f.digest));
  const fresh = manifests.filter((f) => !known.has(f.digest));
  for (const part of chunkBySize(fresh)) {
    await execute(
      m,
      `${insertIgnore(scope.dialect)} INTO manifests (namespace_id, digest, media_type, artifact_type, kind, json, total_size, layer_count, platform_sizes)
VALUES ${rowPlaceholders(part.length, 9)}`,
      part.flatMap((f) => [scope.namespaceId, f.digest, f.mediaType, f.artifactType, f.kind, f.json, f.totalSize, f.layerCount, platformJson(f)]),
    );
  }
  const inserted = await manifestRows(m, scope, fresh.map((f) => f.digest));
  const manifestIds = new Map<string, number>();
  for (const [digest, row] of [...known, ...inserted]) manifestIds.set(digest, row.id);

  // A shared index read completely now, but stored from an incomplete reading earlier.
  const upgrades = manifests.filter((f) => f.complete && known.get(f.digest)?.incomplete);
  for (const f of upgrades) {
    const id = manifestIds.get(f.digest)!;
    await execute(m, "UPDATE manifests SET total_size = ?, layer_count = ?, platform_sizes = ? WHERE id = ?", [f.totalSize, f.layerCount, platformJson(f), id]);
    await execute(m, "DELETE FROM manifest_blobs WHERE manifest_id = ?", [id]);
  }
  const withEdges = [...fresh.filter((f) => inserted.has(f.digest)), ...upgrades];
  await insertEdges(m, scope, withEdges, manifestIds, fresh.filter((f) => inserted.has(f.digest)));
  return { manifestIds, upgraded: upgrades.map((f) => manifestIds.get(f.digest)!) };
}

async function insertEdges(m: EntityManager, scope: IndexScope, withBlobs: ManifestFacts[], ids: Map<string, number>, withChildren: ManifestFacts[]): Promise<void> {
  const edges = withBlobs.flatMap((f) => f.blobs.map((b) => [ids.get(f.digest)!, b.digest] as const));
  for (const part of chunk(edges, 1000)) {
    await execute(m, `${insertIgnore(scope.dialect)} INTO manifest_blobs (manifest_id, blob_digest) VALUES ${rowPlaceholders(part.length, 2)}`, part.flat());
  }
  const blobs = new Map(withBlobs.flatMap((f) => f.blobs.map((b) => [b.digest, b] as const)));
  for (const part of chunk([...blobs.values()], 1000)) {
    await execute(
      m,
      `${insertIgnore(scope.dialect)} INTO blobs (namespace_id, digest, size, media_type, ref_count) VALUES ${part.map(() => "(?, ?, ?, ?, 0)").join(", ")}`,
      part.flatMap((b) => [scope.namespaceId, b.digest, b.size, b.mediaType]),
    );
  }
  const children = withChildren.flatMap((f) => f.children.map((c, position) => [ids.get(f.digest)!, position, c.digest, c.platform] as const));
  for (const part of chunk(children, 1000)) {
    await execute(
      m,
      `${insertIgnore(scope.dialect)} INTO manifest_children (parent_id, position, child_digest, platform) VALUES ${rowPlaceholders(part.length, 4)}`,
      part.flat(),
    );
  }
}

async function manifestRows(m: EntityManager, scope: IndexScope, digests: string[]): Promise<Map<string, { id: number; incomplete: boolean }>> {
  const out = new Map<string, { id: number; incomplete: boolean }>();
  for (const part of chunk(digests, 1000)) {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT id, digest, layer_count, platform_sizes FROM manifests WHERE namespace_id = ? AND digest IN (${placeholders(part.length)})`,
      [scope.namespaceId, ...part],
    );
    for (const r of rows) {
      const sizes = toJson<unknown[]>(r.platform_sizes);
      // An index stores one platform size per readable child: fewer than its children = incomplete.
      out.set(String(r.digest), { id: toNumber(r.id), incomplete: sizes !== null && sizes.length < toNumber(r.layer_count) });
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
  const columns = "repository_id, name, manifest_id, digest, kind, total_size, pushed_at, object_etag, incomplete, indexed_at, synced_at";
  const updated = ["manifest_id", "digest", "kind", "total_size", "pushed_at", "object_etag", "incomplete", "indexed_at"];
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

function platformJson(f: ManifestFacts): string | null {
  return f.platformSizes === null ? null : JSON.stringify(f.platformSizes);
}

function chunkBySize(manifests: ManifestFacts[]): ManifestFacts[][] {
  const out: ManifestFacts[][] = [];
  let current: ManifestFacts[] = [];
  let bytes = 0;
  for (const f of manifests) {
    if (current.length > 0 && (bytes + f.json.length > MAX_STATEMENT_BYTES || current.length >= 500)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(f);
    bytes += f.json.length;
  }
  if (current.length > 0) out.push(current);
  return out;
}
