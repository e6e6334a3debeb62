/**
 * Blob `ref_count` = number of tags whose distinct config+layer set holds the blob (Epoch),
 * moved with the tags in the same transaction and recounted where a manifest's blob set changed.
 * Set-based: never a statement per row. Each write reports how the referenced blobs
 * (ref_count > 0) changed, so registry_stats moves with it (registry-stats.ts `applyBlobStats`).
 */
import type { EntityManager } from "typeorm";
import { execute } from "../sql/execute.js";
import { toNumber } from "../sql/decode.js";
import { chunk, forUpdate, placeholders } from "../sql/sql-params.js";
import type { IndexScope } from "./index-scope.js";

/** How a write changed the referenced blobs (ref_count > 0): how many, and their bytes. */
export interface BlobStatsDelta {
  count: number;
  bytes: number;
}

/** A write's BlobStatsDelta, and the blobs it left unreferenced (for the GC's review queue). */
export interface BlobRefsChange extends BlobStatsDelta {
  unreferenced: string[];
}

/** A tag moving between manifests: `from` absent for an added tag, `to` absent for a removed one. */
export interface TagMove {
  from?: number;
  to?: number;
}

type BlobRefs = Map<string, { refs: number; size: number }>;

/** The ref_count and size of these blobs (locked on MariaDB: the caller is about to change them). */
async function blobRefs(m: EntityManager, scope: IndexScope, digests: readonly string[]): Promise<BlobRefs> {
  const out: BlobRefs = new Map();
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
function referencedDelta(before: BlobRefs, refsAfter: (digest: string) => number): BlobRefsChange {
  const delta: BlobRefsChange = { count: 0, bytes: 0, unreferenced: [] };
  for (const [digest, b] of before) {
    const change = Number(refsAfter(digest) > 0) - Number(b.refs > 0);
    delta.count += change;
    delta.bytes += change * b.size;
    if (change < 0) delta.unreferenced.push(digest);
  }
  return delta;
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
): Promise<BlobRefsChange> {
  const edges = await blobSetsOf(m, movedManifestIds(moves), known);
  const delta = refDeltas(moves, edges);
  const before = await blobRefs(m, scope, [...delta.keys()]);
  for (const [by, digests] of groupByDelta(delta)) await addToRefCounts(m, scope, by, digests);
  return referencedDelta(before, (digest) => before.get(digest)!.refs + delta.get(digest)!);
}

const movedManifestIds = (moves: readonly TagMove[]): number[] => [
  ...new Set(moves.flatMap((mv) => [mv.from, mv.to]).filter((id): id is number => id !== undefined)),
];

/** Manifest id → its blob digests: `known` ones as given, the others read from manifest_blobs. */
async function blobSetsOf(
  m: EntityManager,
  manifestIds: readonly number[],
  known: ReadonlyMap<number, string[]>,
): Promise<Map<number, string[]>> {
  const edges = new Map<number, string[]>(known);
  for (const part of chunk(
    manifestIds.filter((id) => !edges.has(id)),
    1000,
  )) {
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
  return edges;
}

/** Digest → how far its ref count moves (digests whose moves cancel out are left out). */
function refDeltas(moves: readonly TagMove[], edges: ReadonlyMap<number, string[]>): Map<string, number> {
  const delta = new Map<string, number>();
  const add = (id: number | undefined, by: number) => {
    for (const digest of id === undefined ? [] : (edges.get(id) ?? []))
      delta.set(digest, (delta.get(digest) ?? 0) + by);
  };
  for (const mv of moves) {
    add(mv.to, 1);
    add(mv.from, -1);
  }
  return new Map([...delta].filter(([, d]) => d !== 0));
}

/** One statement per distinct delta (nearly always just +1 or -1) and 1000 digests. */
function groupByDelta(delta: ReadonlyMap<string, number>): Map<number, string[]> {
  const byDelta = new Map<number, string[]>();
  for (const [digest, d] of delta) {
    const list = byDelta.get(d);
    if (list) list.push(digest);
    else byDelta.set(d, [digest]);
  }
  return byDelta;
}

async function addToRefCounts(m: EntityManager, scope: IndexScope, by: number, digests: readonly string[]) {
  for (const part of chunk(digests, 1000)) {
    await execute(
      m,
      `UPDATE blobs SET ref_count = ref_count + ? WHERE namespace_id = ? AND digest IN (${placeholders(part.length)})`,
      [by, scope.namespaceId, ...part],
    );
  }
}

/** Recounts the blobs of these manifests from the tags (a manifest whose blob set changed under its tags). */
export async function refreshBlobRefs(
  m: EntityManager,
  scope: IndexScope,
  manifestIds: readonly number[],
): Promise<BlobRefsChange> {
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
  for (const part of chunk([...digests], 1000)) await recountBlobRefs(m, scope.namespaceId, part);
  if (before.size === 0) return { count: 0, bytes: 0, unreferenced: [] };
  const after = await blobRefs(m, scope, [...before.keys()]);
  return referencedDelta(before, (digest) => after.get(digest)?.refs ?? 0);
}

/**
 * ref_count = tags whose blob set holds the blob (DESIGN §1), recounted from the edges: for
 * these digests, or for every blob of the namespace (the Epoch adoption). CROSS JOIN fixes
 * SQLite's join order (blob edges first, by digest): left to its own devices without statistics
 * it walks every manifest of the namespace for each blob.
 */
export async function recountBlobRefs(
  m: EntityManager,
  namespaceId: number,
  digests: readonly string[] | "all",
): Promise<void> {
  const only = digests === "all" ? "" : ` AND digest IN (${placeholders(digests.length)})`;
  await execute(
    m,
    `UPDATE blobs SET ref_count = (
  SELECT COUNT(*) FROM manifest_blobs mb
  CROSS JOIN manifests mf ON mf.id = mb.manifest_id
  CROSS JOIN tags t ON t.manifest_id = mb.manifest_id
  WHERE mb.blob_digest = blobs.digest AND mf.namespace_id = blobs.namespace_id)
WHERE namespace_id = ?${only}`,
    [namespaceId, ...(digests === "all" ? [] : digests)],
  );
}
