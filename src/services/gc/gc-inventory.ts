/**
 * A full run's inventory (DESIGN §8.5): lists `blobs/sha256/`, the `_digests/` manifests under
 * `manifests/` and `_uploads/`, and makes every object the index does not reference a candidate —
 * objects written behind the index's back (by Epoch itself, a crashed push, a crashed run). One
 * list page at a time: a page's names are screened with one query per kind, only the unreferenced
 * are looked at (size, Last-Modified), and they go into the pipeline, so memory stays flat however
 * large the registry.
 */
import { mapBounded } from "../../bounded.js";
import type { Candidate } from "../../db/gc/gc-marking.js";
import { referencedAmong } from "../../db/gc/gc-marking.js";
import { uploadRowsAmong } from "../../db/gc/gc-queue-reads.js";
import { reviewKey, type ReviewItem } from "../../db/gc/review-queue.js";
import { chunk } from "../../db/sql/sql-params.js";
import type { ListedKey, ObjectHead } from "../../storage/object-store.js";
import {
  BLOBS_PREFIX,
  blobDigestOfKey,
  digestManifestOfKey,
  MANIFESTS_PREFIX,
  uploadIdOfKey,
  UPLOADS_PREFIX,
} from "../../storage/registry-layout.js";
import type { CollectContext } from "./gc-context.js";
import type { DeletionPipeline } from "./gc-pipeline.js";

export async function takeInventory(c: CollectContext, pipeline: DeletionPipeline): Promise<void> {
  let listed = 0;
  const tick = (n: number) => c.hub.progress("INVENTORY", (listed += n), 0);
  c.hub.progress("INVENTORY", 0, 0, true);
  // Objects younger than the grace period by the store's clock cannot go.
  const young = (o: ObjectHead) => o.lastModified.getTime() > Date.now() - c.flags.gracePeriodMs;
  const blobItem = (key: string): ReviewItem | undefined => {
    const digest = blobDigestOfKey(key);
    return digest === undefined ? undefined : { kind: "blob", repository: "", digest };
  };
  const manifestItem = (key: string): ReviewItem | undefined => {
    const manifest = digestManifestOfKey(key);
    return manifest === undefined ? undefined : { kind: "manifest", ...manifest };
  };
  for (const [prefix, itemOf] of [
    [BLOBS_PREFIX, blobItem],
    [MANIFESTS_PREFIX, manifestItem],
  ] as const) {
    for await (const page of keyPages(c, prefix)) {
      tick(page.length);
      const found = page.flatMap((o) => {
        const item = itemOf(o.key);
        return item ? [{ ...o, item }] : [];
      });
      await pipeline.add(await unreferenced(c, found, young));
    }
  }
  await orphanUploads(c, pipeline, tick, young);
}

/** Key pages, names only where that saves the store work. */
const keyPages = (c: CollectContext, prefix: string) =>
  pages(c, (after) => c.store.listKeys(prefix, after === undefined ? {} : { startAfter: after }));

/** A listing, one page (one request) at a time, until done or the run is stopped. */
async function* pages<T extends { key: string }>(
  c: CollectContext,
  list: (startAfter: string | undefined) => Promise<{ items: T[]; truncated: boolean }>,
): AsyncGenerator<T[]> {
  let startAfter: string | undefined;
  for (;;) {
    if (c.signal.aborted) return;
    const page = await list(startAfter);
    if (page.items.length > 0) yield page.items;
    const last = page.items.at(-1);
    if (!page.truncated || last === undefined) return;
    startAfter = last.key;
  }
}

/**
 * A first screen by name, outside any transaction (the marking re-checks every survivor under its
 * lock); then the size and Last-Modified of the unreferenced only — from the listing where it
 * carried them (S3), else a HEAD each (a stat on a directory: the referenced half of a registry is
 * never statted). An object gone meanwhile is no candidate.
 */
async function unreferenced(
  c: CollectContext,
  found: Array<ListedKey & { item: ReviewItem }>,
  young: (o: ObjectHead) => boolean,
): Promise<Candidate[]> {
  if (found.length === 0) return [];
  const referenced = await referencedAmong(
    c.db.ds,
    c.scope,
    found.map((f) => f.item),
  );
  const kept = found.filter((f) => !referenced.has(reviewKey(f.item)));
  const heads = await mapBounded(kept, c.concurrency, (f) => f.head ?? c.store.head(f.key, { etag: false }));
  return kept.flatMap((f, i) => {
    const head = heads[i];
    return head && !young(head) ? [{ ...f.item, lastModified: head.lastModified, size: head.size }] : [];
  });
}

/**
 * Staging objects of uploads that have no row any more (a run that crashed between removing the
 * rows and deleting the objects, or objects written under an id never started). Uploads that have
 * rows are the dead-upload phase's to judge.
 */
async function orphanUploads(
  c: CollectContext,
  pipeline: DeletionPipeline,
  tick: (n: number) => void,
  young: (o: ObjectHead) => boolean,
): Promise<void> {
  const byId = new Map<string, { keys: string[]; size: number; young: boolean }>();
  // Sizes and Last-Modified only: a directory store need not hash every staged part for its ETag.
  const uploadPages = (after: string | undefined) =>
    c.store.listPage(UPLOADS_PREFIX, { etag: false, ...(after !== undefined && { startAfter: after }) });
  for await (const page of pages(c, uploadPages)) {
    tick(page.length);
    for (const o of page) {
      const id = uploadIdOfKey(o.key);
      if (id === undefined) continue;
      const entry = byId.get(id) ?? { keys: [], size: 0, young: false };
      entry.keys.push(o.key);
      entry.size += o.size;
      entry.young ||= young(o);
      byId.set(id, entry);
    }
  }
  for (const ids of chunk([...byId.keys()], 500)) {
    const known = await uploadRowsAmong(c.db, c.scope, ids);
    for (const id of ids) {
      const entry = byId.get(id)!;
      if (known.has(id) || entry.young) continue;
      c.counts.candidates++;
      await pipeline.deleteUpload(id, `${UPLOADS_PREFIX}${id}/`, entry);
    }
  }
}
