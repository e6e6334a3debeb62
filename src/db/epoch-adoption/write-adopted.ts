/**
 * Writes one batch of converted Epoch tags inside the caller's transaction: their repositories
 * (Epoch's ids and creation times kept), manifests deduplicated by digest, blob edges and index
 * children, the blobs their descriptors name, and the tag rows (Epoch's ids kept) with no
 * `object_etag`, so the first sync re-reads every one of them.
 */
import type { EntityManager } from "typeorm";
import { chunk, placeholders, rowPlaceholders } from "../sql/sql-params.js";
import { execute } from "../sql/execute.js";
import { chunkBySize, insertManifestEdges } from "../index/manifest-edges.js";
import { toJson, toNumber } from "../sql/decode.js";
import type { EpochRepositoryRow } from "./epoch-rows.js";
import type { AdoptedManifest, AdoptedTag } from "./tag-conversion.js";

export async function writeAdoptedBatch(
  m: EntityManager,
  namespaceId: number,
  tags: readonly AdoptedTag[],
  repositories: readonly EpochRepositoryRow[],
): Promise<void> {
  const now = new Date();
  for (const part of chunk(repositories, 500)) {
    await execute(
      m,
      `INSERT IGNORE INTO repositories (id, namespace_id, name, tag_count, total_size, artifact_type, kind, catalog_updated_at, created_at, updated_at)
VALUES ${part.map(() => "(?, ?, ?, 0, 0, '', '', NULL, ?, ?)").join(", ")}`,
      part.flatMap((r) => [
        r.id,
        namespaceId,
        r.name,
        timeOr(r.createdAt, now),
        timeOr(r.updatedAt ?? r.createdAt, now),
      ]),
    );
  }
  const manifests = mostComplete(tags);
  const ids = await ensureManifests(m, namespaceId, [...manifests.values()]);

  const all = [...manifests.values()];
  await insertManifestEdges(m, "INSERT IGNORE", namespaceId, all, ids, all);

  for (const part of chunk(tags, 500)) {
    await execute(
      m,
      `INSERT INTO tags (id, repository_id, name, manifest_id, digest, kind, total_size, pushed_at, object_etag, incomplete, indexed_at, synced_at)
VALUES ${part.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, NOW(3), NULL)").join(", ")}`,
      part.flatMap((t) => {
        const f = manifests.get(t.manifest.digest)!;
        return [
          t.epochId,
          t.repositoryId,
          t.name,
          ids.get(f.digest)!,
          f.digest,
          f.kind,
          f.totalSize,
          t.pushedAt,
          t.incomplete ? 1 : 0,
        ];
      }),
    );
  }
}

const timeOr = (ms: number | null, fallback: Date): Date => (ms !== null && ms > 0 ? new Date(ms) : fallback);

/** One reading per digest: of an index read in several repositories, the one with most children. */
function mostComplete(tags: readonly AdoptedTag[]): Map<string, AdoptedManifest> {
  const out = new Map<string, AdoptedManifest>();
  for (const { manifest } of tags) {
    const seen = out.get(manifest.digest);
    if (!seen || platformCount(manifest) > platformCount(seen)) out.set(manifest.digest, manifest);
  }
  return out;
}

const platformCount = (f: Pick<AdoptedManifest, "platformSizes">): number => f.platformSizes?.length ?? 0;

/** Inserts the manifests not stored yet; a stored index read less completely than now is updated. */
async function ensureManifests(
  m: EntityManager,
  namespaceId: number,
  manifests: AdoptedManifest[],
): Promise<Map<string, number>> {
  for (const part of chunkBySize(manifests, 200)) {
    await execute(
      m,
      `INSERT IGNORE INTO manifests (namespace_id, digest, media_type, artifact_type, kind, json, total_size, layer_count, platform_sizes)
VALUES ${rowPlaceholders(part.length, 9)}`,
      part.flatMap((f) => [
        namespaceId,
        f.digest,
        f.mediaType,
        f.artifactType,
        f.kind,
        f.json,
        f.totalSize,
        f.layerCount,
        f.platformSizes && JSON.stringify(f.platformSizes),
      ]),
    );
  }
  const ids = new Map<string, number>();
  const byDigest = new Map(manifests.map((f) => [f.digest, f]));
  for (const part of chunk(manifests, 1000)) {
    const rows: Array<Record<string, unknown>> = await m.query(
      `SELECT id, digest, platform_sizes FROM manifests WHERE namespace_id = ? AND digest IN (${placeholders(part.length)})`,
      [namespaceId, ...part.map((f) => f.digest)],
    );
    for (const r of rows) {
      const f = byDigest.get(String(r.digest))!;
      const id = toNumber(r.id);
      ids.set(f.digest, id);
      const stored = toJson<unknown[]>(r.platform_sizes)?.length ?? 0;
      if (platformCount(f) > stored) {
        await execute(m, "UPDATE manifests SET total_size = ?, platform_sizes = ? WHERE id = ?", [
          f.totalSize,
          JSON.stringify(f.platformSizes),
          id,
        ]);
      }
    }
  }
  return ids;
}
