/**
 * Row writing shared by the sync (manifest-rows.ts) and the Epoch adoption
 * (epoch-adoption/write-adopted.ts): manifests batched by JSON size, and a manifest's blob
 * edges, blobs and index children inserted in chunks, skipping rows already stored.
 */
import type { EntityManager } from "typeorm";
import type { BlobRef } from "../../oci/sizes.js";
import { chunk, rowPlaceholders } from "../sql/sql-params.js";
import { execute } from "../sql/execute.js";

/** Manifest JSON per INSERT statement, well below MariaDB's default 16 MiB packet. */
const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;

/** Batches of at most `maxRows` manifests whose JSON stays under MAX_STATEMENT_BYTES (a larger one alone). */
export function chunkBySize<T extends { json: string }>(manifests: readonly T[], maxRows: number): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const f of manifests) {
    if (current.length > 0 && (bytes + f.json.length > MAX_STATEMENT_BYTES || current.length >= maxRows)) {
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

export interface ManifestEdgeSource {
  digest: string;
  blobs: readonly BlobRef[];
  children: ReadonlyArray<{ digest: string; platform: string }>;
}

/**
 * Inserts the blob edges and blobs of `withBlobs` and the index children of `withChildren`;
 * `ids` maps each manifest digest to its row id. `insertIgnore` is the dialect's
 * "INSERT … ignoring duplicates" verb.
 */
export async function insertManifestEdges(
  m: EntityManager,
  insertIgnore: string,
  namespaceId: number,
  withBlobs: readonly ManifestEdgeSource[],
  ids: ReadonlyMap<string, number>,
  withChildren: readonly ManifestEdgeSource[],
): Promise<void> {
  const edges = withBlobs.flatMap((f) => f.blobs.map((b) => [ids.get(f.digest)!, b.digest] as const));
  for (const part of chunk(edges, 1000)) {
    await execute(
      m,
      `${insertIgnore} INTO manifest_blobs (manifest_id, blob_digest) VALUES ${rowPlaceholders(part.length, 2)}`,
      part.flat(),
    );
  }
  const blobs = new Map(withBlobs.flatMap((f) => f.blobs.map((b) => [b.digest, b] as const)));
  for (const part of chunk([...blobs.values()], 1000)) {
    await execute(
      m,
      `${insertIgnore} INTO blobs (namespace_id, digest, size, media_type, ref_count) VALUES ${part.map(() => "(?, ?, ?, ?, 0)").join(", ")}`,
      part.flatMap((b) => [namespaceId, b.digest, b.size, b.mediaType]),
    );
  }
  const children = withChildren.flatMap((f) =>
    f.children.map((c, position) => [ids.get(f.digest)!, position, c.digest, c.platform] as const),
  );
  for (const part of chunk(children, 1000)) {
    await execute(
      m,
      `${insertIgnore} INTO manifest_children (parent_id, position, child_digest, platform) VALUES ${rowPlaceholders(part.length, 4)}`,
      part.flat(),
    );
  }
}
