/**
 * A full run's inventory (DESIGN §8.5): lists `blobs/sha256/`, the `_digests/` manifests under
 * `manifests/` and `_uploads/`, and makes every object the index does not reference a candidate —
 * objects written behind the index's back (by Epoch itself, a crashed push, a crashed run). One
 * list page at a time: a page's objects are screened with one query per kind and go into the
 * pipeline, so memory stays flat however large the registry.
 */
import type { Candidate } from "../../db/gc/gc-marking.js";
import { referencedAmong } from "../../db/gc/gc-marking.js";
import { uploadRowsAmong } from "../../db/gc/gc-queue-reads.js";
import { reviewKey } from "../../db/gc/review-queue.js";
import { chunk } from "../../db/sql/sql-params.js";
import type { ListPage, ObjectInfo } from "../../storage/object-store.js";
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
  // Objects younger than the grace period by the store's clock cannot go: not worth a query.
  const young = (o: ObjectInfo) => o.lastModified.getTime() > Date.now() - c.flags.gracePeriodMs;
  for await (const page of pages(c, BLOBS_PREFIX)) {
    tick(page.length);
    const found = page.flatMap((o): Candidate[] => {
      const digest = blobDigestOfKey(o.key);
      return digest && !young(o)
        ? [{ kind: "blob", repository: "", digest, lastModified: o.lastModified, size: o.size }]
        : [];
    });
    await pipeline.add(await unreferenced(c, found));
  }
  for await (const page of pages(c, MANIFESTS_PREFIX)) {
    tick(page.length);
    const found = page.flatMap((o): Candidate[] => {
      const manifest = digestManifestOfKey(o.key);
      return manifest && !young(o)
        ? [{ kind: "manifest", ...manifest, lastModified: o.lastModified, size: o.size }]
        : [];
    });
    await pipeline.add(await unreferenced(c, found));
  }
  await orphanUploads(c, pipeline, tick, young);
}

/** The listing, one page (one request) at a time, until done or the run is stopped. */
async function* pages(c: CollectContext, prefix: string): AsyncGenerator<ObjectInfo[]> {
  let startAfter: string | undefined;
  for (;;) {
    if (c.signal.aborted) return;
    // Sizes and Last-Modified only: a directory store need not hash every blob for its ETag.
    const page: ListPage = await c.store.listPage(prefix, {
      etag: false,
      ...(startAfter !== undefined && { startAfter }),
    });
    if (page.items.length > 0) yield page.items;
    const last = page.items.at(-1);
    if (!page.truncated || last === undefined) return;
    startAfter = last.key;
  }
}

/** A first screen outside any transaction (the marking re-checks every survivor under its lock). */
async function unreferenced(c: CollectContext, found: Candidate[]): Promise<Candidate[]> {
  if (found.length === 0) return found;
  const referenced = await referencedAmong(c.db.ds, c.scope, found);
  return found.filter((f) => !referenced.has(reviewKey(f)));
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
  young: (o: ObjectInfo) => boolean,
): Promise<void> {
  const byId = new Map<string, { keys: string[]; size: number; young: boolean }>();
  for await (const page of pages(c, UPLOADS_PREFIX)) {
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
