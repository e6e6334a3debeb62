/**
 * The review queue's writes made by the index writers (entities/gc.ts describes the rows):
 * queueing what a change may have orphaned, in the change's own transaction and in bulk, and
 * the check IndexTag and the sync make before they reference an object the collector is
 * deleting or has deleted.
 */
import type { EntityManager } from "typeorm";
import type { Dialect } from "../column-types.js";
import type { IndexScope } from "../index/index-scope.js";
import { toNumber } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { sqlNow } from "../sql/sql.js";
import { chunk, placeholders } from "../sql/sql-params.js";

export type ReviewKind = "blob" | "manifest" | "upload";
export type ReviewState = "pending" | "deleting" | "deleted";

/** An object the queue knows by kind, repository ("" but for manifests) and digest (or upload id). */
export interface ReviewItem {
  kind: ReviewKind;
  repository: string;
  digest: string;
}

export const reviewKey = (i: ReviewItem): string => `${i.kind}\u0000${i.repository}\u0000${i.digest}`;

const blobItem = (digest: string): ReviewItem => ({ kind: "blob", repository: "", digest });

/**
 * Queues `items` as unreferenced since now. A pending row's time moves to now (it was referenced
 * again in between); a row the collector has taken (deleting, deleted) keeps its state, so a
 * manifest that needs its object is still refused.
 */
export async function queueUnreferenced(m: EntityManager, scope: IndexScope, items: readonly ReviewItem[]) {
  const unique = [...new Map(items.map((i) => [reviewKey(i), i])).values()];
  const now = sqlNow(scope.dialect);
  for (const part of chunk(unique, 500)) {
    const values = part.map(() => `(?, ?, ?, ?, ${now}, 'pending', 0, 0, ${now})`).join(", ");
    await execute(
      m,
      `INSERT INTO gc_review_queue (namespace_id, kind, repository, digest, unreferenced_at, state, run_id, size, changed_at)
VALUES ${values} ${stillPendingUpsert(scope.dialect)}`,
      part.flatMap((i) => [scope.namespaceId, i.kind, i.repository, i.digest]),
    );
  }
}

function stillPendingUpsert(dialect: Dialect): string {
  return dialect === "sqlite"
    ? "ON CONFLICT (namespace_id, kind, repository, digest) DO UPDATE SET unreferenced_at = excluded.unreferenced_at WHERE gc_review_queue.state = 'pending'"
    : "ON DUPLICATE KEY UPDATE unreferenced_at = IF(state = 'pending', VALUES(unreferenced_at), unreferenced_at)";
}

export const queueUnreferencedBlobs = (m: EntityManager, scope: IndexScope, digests: readonly string[]) =>
  queueUnreferenced(m, scope, digests.map(blobItem));

/** A manifest tags of `repository` stopped pointing at (a removed tag, or a tag moved to another manifest). */
export interface LeftManifest {
  repository: string;
  manifestId: number;
  digest: string;
}

/**
 * Queues the `_digests/` objects the left manifests occupy in their repositories: the manifest
 * itself and, for an index, its children. Read before the manifest rows may go (orphan cleanup).
 */
export async function queueLeftManifests(m: EntityManager, scope: IndexScope, left: readonly LeftManifest[]) {
  if (left.length === 0) return;
  const children = new Map<number, string[]>();
  for (const ids of chunk([...new Set(left.map((l) => l.manifestId))], 1000)) {
    const rows: Array<{ parent_id: unknown; child_digest: unknown }> = await m.query(
      `SELECT parent_id, child_digest FROM manifest_children WHERE parent_id IN (${placeholders(ids.length)})`,
      ids,
    );
    for (const r of rows) {
      const id = toNumber(r.parent_id);
      children.set(id, [...(children.get(id) ?? []), String(r.child_digest)]);
    }
  }
  const items = left.flatMap((l) =>
    [l.digest, ...(children.get(l.manifestId) ?? [])].map((digest): ReviewItem => ({
      kind: "manifest",
      repository: l.repository,
      digest,
    })),
  );
  await queueUnreferenced(m, scope, items);
}

export interface CollectedItem extends ReviewItem {
  state: Exclude<ReviewState, "pending">;
}

/**
 * Those of `items` the collector is deleting or has deleted. A locking read on MariaDB (shared:
 * writers do not block each other), taken before the writer references anything, so a marking
 * transaction that took the row first is waited for and then seen, and one that comes later
 * waits for the writer and then finds the object referenced.
 */
export async function collectedAmong(
  m: EntityManager,
  scope: IndexScope,
  items: readonly ReviewItem[],
): Promise<CollectedItem[]> {
  const out: CollectedItem[] = [];
  const lock = scope.dialect === "sqlite" ? "" : " LOCK IN SHARE MODE";
  const byGroup = new Map<string, ReviewItem[]>();
  for (const i of items) {
    const group = `${i.kind}\u0000${i.repository}`;
    byGroup.set(group, [...(byGroup.get(group) ?? []), i]);
  }
  for (const group of byGroup.values()) {
    const { kind, repository } = group[0]!;
    for (const part of chunk([...new Set(group.map((i) => i.digest))], 1000)) {
      const rows: Array<{ digest: unknown; state: unknown }> = await m.query(
        `SELECT digest, state FROM gc_review_queue
WHERE namespace_id = ? AND kind = ? AND repository = ? AND digest IN (${placeholders(part.length)})${lock}`,
        [scope.namespaceId, kind, repository, ...part],
      );
      for (const r of rows) {
        const state = String(r.state);
        if (state === "deleting" || state === "deleted")
          out.push({ kind, repository, digest: String(r.digest), state });
      }
    }
  }
  return out;
}

/** Forgets `deleted` rows whose objects were pushed again (the caller saw them in the store). */
export async function reviveDeleted(m: EntityManager, scope: IndexScope, items: readonly ReviewItem[]) {
  let revived = 0;
  for (const i of items) {
    revived += await execute(
      m,
      "DELETE FROM gc_review_queue WHERE namespace_id = ? AND kind = ? AND repository = ? AND digest = ? AND state = 'deleted'",
      [scope.namespaceId, i.kind, i.repository, i.digest],
    );
  }
  return revived;
}
