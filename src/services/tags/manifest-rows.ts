/**
 * Manifest rows for tags being written: insert the missing ones with their blob edges, index
 * children and blobs; complete a shared index stored from an incomplete reading. Manifests are
 * keyed by digest, so many tags (and repositories) share one row.
 */
import type { EntityManager } from "typeorm";
import { execute } from "../../db/sql/execute.js";
import { chunkBySize, insertManifestEdges } from "../../db/index/manifest-edges.js";
import { toJson, toNumber } from "../../db/sql/decode.js";
import { insertIgnore } from "../../db/sql/sql.js";
import { chunk, placeholders, rowPlaceholders } from "../../db/sql/sql-params.js";
import type { IndexScope } from "./tag-indexer.js";
import type { ManifestFacts, TagFacts } from "./tag-reader.js";

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
