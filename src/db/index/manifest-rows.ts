/**
 * Manifest rows for tags being written: insert the missing ones with their blob edges, index
 * children and blobs; complete a shared index stored from an incomplete reading. Manifests are
 * keyed by digest, so many tags (and repositories) share one row; a manifest no tag uses any
 * more is deleted with its edges (its blobs stay for GC).
 */
import type { EntityManager } from "typeorm";
import { execute } from "../sql/execute.js";
import { toJson, toNumber } from "../sql/decode.js";
import { insertIgnore } from "../sql/sql.js";
import { chunk, placeholders, rowPlaceholders } from "../sql/sql-params.js";
import type { IndexScope } from "./index-scope.js";
import { chunkBySize, insertManifestEdges } from "./manifest-edges.js";
import type { ManifestFacts, TagFacts } from "./tag-facts.js";

export function uniqueManifests(tags: readonly TagFacts[]): ManifestFacts[] {
  const byDigest = new Map<string, ManifestFacts>();
  for (const t of tags) {
    const seen = byDigest.get(t.manifest.digest);
    // Children live per repository: prefer the most complete reading of a shared index.
    if (!seen || (!seen.complete && t.manifest.complete)) byDigest.set(t.manifest.digest, t.manifest);
  }
  return [...byDigest.values()];
}

/** Inserts missing manifests (with edges, children and blobs); completes incomplete ones. */
export async function ensureManifests(
  m: EntityManager,
  scope: IndexScope,
  manifests: ManifestFacts[],
  /** Digests whose stored derived fields must be recomputed (adopted, never read by a sync). */
  recompute: ReadonlySet<string> = new Set(),
): Promise<{ manifestIds: Map<string, number>; upgraded: number[]; insertedEdges: Map<number, string[]> }> {
  const known = await manifestRows(
    m,
    scope,
    manifests.map((f) => f.digest),
  );
  const fresh = manifests.filter((f) => !known.has(f.digest));
  for (const part of chunkBySize(fresh, 500)) {
    await execute(
      m,
      `${insertIgnore(scope.dialect)} INTO manifests (namespace_id, digest, media_type, artifact_type, kind, json, total_size, layer_count, platform_sizes)
VALUES ${rowPlaceholders(part.length, 9)}`,
      part.flatMap((f) => [
        scope.namespaceId,
        f.digest,
        f.mediaType,
        f.artifactType,
        f.kind,
        f.json,
        f.totalSize,
        f.layerCount,
        platformJson(f),
      ]),
    );
  }
  const inserted = await manifestRows(
    m,
    scope,
    fresh.map((f) => f.digest),
  );
  const manifestIds = new Map<string, number>();
  for (const [digest, row] of [...known, ...inserted]) manifestIds.set(digest, row.id);

  // A shared index read completely now, but stored from an incomplete reading earlier.
  const upgrades = manifests.filter(
    (f) => known.has(f.digest) && ((f.complete && known.get(f.digest)!.incomplete) || recompute.has(f.digest)),
  );
  for (const f of upgrades) {
    const id = manifestIds.get(f.digest)!;
    await execute(m, "UPDATE manifests SET total_size = ?, layer_count = ?, platform_sizes = ? WHERE id = ?", [
      f.totalSize,
      f.layerCount,
      platformJson(f),
      id,
    ]);
    await execute(m, "DELETE FROM manifest_blobs WHERE manifest_id = ?", [id]);
  }
  const created = fresh.filter((f) => inserted.has(f.digest));
  await insertManifestEdges(
    m,
    insertIgnore(scope.dialect),
    scope.namespaceId,
    [...created, ...upgrades],
    manifestIds,
    created,
  );
  const insertedEdges = new Map(created.map((f) => [manifestIds.get(f.digest)!, f.blobs.map((b) => b.digest)]));
  return { manifestIds, upgraded: upgrades.map((f) => manifestIds.get(f.digest)!), insertedEdges };
}

async function manifestRows(
  m: EntityManager,
  scope: IndexScope,
  digests: string[],
): Promise<Map<string, { id: number; incomplete: boolean }>> {
  const out = new Map<string, { id: number; incomplete: boolean }>();
  for (const part of chunk(digests, 1000)) {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT id, digest, layer_count, platform_sizes FROM manifests WHERE namespace_id = ? AND digest IN (${placeholders(part.length)})`,
      [scope.namespaceId, ...part],
    );
    for (const r of rows) {
      const sizes = toJson<unknown[]>(r.platform_sizes);
      // An index stores one platform size per readable child: fewer than its children = incomplete.
      out.set(String(r.digest), {
        id: toNumber(r.id),
        incomplete: sizes !== null && sizes.length < toNumber(r.layer_count),
      });
    }
  }
  return out;
}

function platformJson(f: ManifestFacts): string | null {
  return f.platformSizes === null ? null : JSON.stringify(f.platformSizes);
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
