/**
 * Writes tags into the index inside the caller's transaction: repositories (created on first
 * tag), manifests with their blob edges and index children, blobs, the tag rows themselves,
 * and — in the same transaction, so every commit leaves a consistent index — the ref counts of
 * the blobs whose tags moved (with the blob numbers of registry_stats) and the manifests no tag
 * uses any more. Shared by the sync (batches of ≤ 1000 tags) and IndexTag (one tag); removals
 * live here too. What a write may orphan (blobs whose ref count fell to zero, manifests a tag
 * left) goes into the GC's review queue in the same transaction, and an object the collector is
 * deleting or has deleted is never referenced again (BLOB_UNKNOWN, or an incomplete tag for a
 * sync). The statements are in db/index/ and db/gc/; the rules that combine them are here.
 */
import type { EntityManager } from "typeorm";
import {
  collectedAmong,
  queueLeftManifests,
  queueUnreferencedBlobs,
  reviewKey,
  type CollectedItem,
  type ReviewItem,
} from "../../db/gc/review-queue.js";
import { moveBlobRefs, refreshBlobRefs } from "../../db/index/blob-refs.js";
import type { IndexScope } from "../../db/index/index-scope.js";
import { deleteOrphanManifests, ensureManifests, uniqueManifests } from "../../db/index/manifest-rows.js";
import { applyBlobStats } from "../../db/index/registry-stats.js";
import { markAggregatesStale } from "../../db/index/repository-aggregates.js";
import type { TagFacts } from "../../db/index/tag-facts.js";
import { deletedSince } from "../../db/index/tag-tombstones.js";
import { EpochError } from "../../errors.js";
import {
  deleteTagRows,
  ensureRepositories,
  existingTags,
  lockTagsForRemoval,
  repositoryNames,
  tagKey,
  upsertTagRows,
  type RemovalTarget,
  type RemovalVictim,
} from "../../db/index/tag-rows.js";
import type { TagChange } from "../events/event-topics.js";

export interface WriteOptions {
  /**
   * A sync's catalog-read time: rows written after it (by IndexTag) are newer than ours and kept,
   * and tags deleted after it (by DeleteTag) are not written again.
   */
  keepNewerThan?: unknown;
  /** Sync writes stamp `synced_at` and clear the repositories' `catalog_updated_at` until their aggregates are redone. */
  bySync: boolean;
  /**
   * A tag whose manifest needs an object the collector is deleting or has deleted: `fail` throws
   * CollectedObjects (IndexTag), `incomplete` writes it as incomplete and reports it (a sync).
   */
  onCollected: "fail" | "incomplete";
}

/** IndexTag of a manifest that needs objects the garbage collector is deleting or has deleted. */
export class CollectedObjects extends EpochError {
  constructor(readonly items: readonly CollectedItem[]) {
    const first = items[0]!;
    const what = first.kind === "blob" ? `blob ${first.digest}` : `manifest ${first.repository}@${first.digest}`;
    const more = items.length > 1 ? ` (and ${items.length - 1} more)` : "";
    super(
      "failed_precondition",
      "BLOB_UNKNOWN",
      `${what}${more} was garbage collected${first.state === "deleting" ? " (being deleted now)" : ""}: push it again`,
    );
    this.name = "CollectedObjects";
  }
}

/** A tag a sync wrote as incomplete because its manifest needs collected objects. */
export interface CollectedTag {
  repository: string;
  tag: string;
  items: CollectedItem[];
}

export interface WriteResult {
  /** Repositories this write created, in name order of first appearance. */
  repositoriesCreated: string[];
  /** What happened to each tag written: the /tags/… events of the write (tag-indexer callers append them). */
  tagChanges: TagChange[];
  /** Repository name → id for every repository of the batch. */
  repositoryIds: Map<string, number>;
  /** Tags skipped because IndexTag wrote or DeleteTag removed them after the sync read the catalog. */
  keptNewer: number;
  /** Tags written incomplete because their manifests need collected objects (`onCollected: "incomplete"`). */
  collected: CollectedTag[];
}

export async function writeTags(
  m: EntityManager,
  scope: IndexScope,
  tags: readonly TagFacts[],
  opts: WriteOptions,
): Promise<WriteResult> {
  // A sync never brings back a tag DeleteTag removed after the run read the catalog (tag-tombstones.ts).
  const deleted = opts.keepNewerThan === undefined ? undefined : await deletedSince(m, scope, tags, opts.keepNewerThan);
  const live = deleted ? tags.filter((t) => !deleted(t.repository, t.tag)) : tags;
  const { created, ids } = await ensureRepositories(m, scope, [...new Set(live.map((t) => t.repository))]);
  const repoIds = [...ids.values()];
  if (opts.bySync && repoIds.length > 0) await markAggregatesStale(m, scope.dialect, repoIds);
  const existing = await existingTags(m, scope, repoIds, [...new Set(live.map((t) => t.tag))], opts.keepNewerThan);
  const fresh = live.filter((t) => !existing.get(tagKey(ids.get(t.repository)!, t.tag))?.newer);
  const { toWrite, collected } = await screenCollected(m, scope, fresh, opts.onCollected);
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
  await queueUnreferencedBlobs(m, scope, [...movedRefs.unreferenced, ...refreshedRefs.unreferenced]);
  const left = moved.flatMap((r) =>
    r.old ? [{ repository: r.t.repository, manifestId: r.old.manifestId, digest: r.old.digest }] : [],
  );
  await queueLeftManifests(m, scope, left);
  await deleteOrphanManifests(m, [...new Set(left.map((l) => l.manifestId))]);
  return {
    repositoriesCreated: created,
    tagChanges: rows.map(({ t, old }) => ({
      repository: t.repository,
      tag: t.tag,
      ...(old && { oldDigest: old.digest }),
      digest: t.manifest.digest,
      kind: t.manifest.kind,
    })),
    repositoryIds: ids,
    keptNewer: tags.length - fresh.length,
    collected,
  };
}

/** The objects a tag's manifest needs: its blobs, and its own and its children's `_digests/` copies. */
function objectsOf(t: TagFacts): ReviewItem[] {
  return [
    ...t.manifest.blobs.map((b): ReviewItem => ({ kind: "blob", repository: "", digest: b.digest })),
    ...[t.manifest.digest, ...t.manifest.children.map((c) => c.digest)].map((digest): ReviewItem => ({
      kind: "manifest",
      repository: t.repository,
      digest,
    })),
  ];
}

/** Looks for tags that need collected objects: fails (IndexTag) or marks them incomplete (a sync). */
async function screenCollected(
  m: EntityManager,
  scope: IndexScope,
  tags: readonly TagFacts[],
  onCollected: WriteOptions["onCollected"],
): Promise<{ toWrite: TagFacts[]; collected: CollectedTag[] }> {
  const found = await collectedAmong(m, scope, tags.flatMap(objectsOf));
  if (found.length === 0) return { toWrite: [...tags], collected: [] };
  if (onCollected === "fail") throw new CollectedObjects(found);
  const byKey = new Map(found.map((c) => [reviewKey(c), c]));
  const collected: CollectedTag[] = [];
  const toWrite = tags.map((t) => {
    const items = objectsOf(t).flatMap((i) => byKey.get(reviewKey(i)) ?? []);
    if (items.length === 0) return t;
    collected.push({ repository: t.repository, tag: t.tag, items });
    return { ...t, incomplete: true };
  });
  return { toWrite, collected };
}

/**
 * Deletes tags set-based (never one statement per tag), sparing rows written after
 * `keepNewerThan`; returns the tag rows deleted.
 */
export async function removeTags(
  m: EntityManager,
  scope: IndexScope,
  targets: readonly RemovalTarget[],
  keepNewerThan?: unknown,
): Promise<RemovalVictim[]> {
  const victims = await lockTagsForRemoval(m, scope, targets, keepNewerThan);
  if (victims.length === 0) return [];
  await markAggregatesStale(m, scope.dialect, [...new Set(targets.map((t) => t.repositoryId))]);
  await deleteTagRows(
    m,
    victims.map((v) => v.id),
  );
  const refs = await moveBlobRefs(
    m,
    scope,
    victims.map((v) => ({ from: v.manifestId })),
  );
  await applyBlobStats(m, scope, refs);
  await queueUnreferencedBlobs(m, scope, refs.unreferenced);
  const names = await repositoryNames(
    m,
    victims.map((v) => v.repositoryId),
  );
  await queueLeftManifests(
    m,
    scope,
    victims.map((v) => ({ repository: names.get(v.repositoryId)!, manifestId: v.manifestId, digest: v.digest })),
  );
  await deleteOrphanManifests(m, [...new Set(victims.map((v) => v.manifestId))]);
  return victims;
}

/** The /tags/delete changes of removed rows; `repositoryName` maps their repository ids. */
export function removedTagChanges(
  victims: readonly RemovalVictim[],
  repositoryName: (id: number) => string,
): TagChange[] {
  return victims.map((v) => ({
    repository: repositoryName(v.repositoryId),
    tag: v.name,
    oldDigest: v.digest,
    kind: v.kind,
  }));
}
