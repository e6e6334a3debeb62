/**
 * Garbage-collection tests on top of the sync harness: collectors ("replicas") over the same
 * database and store, a run-to-the-end helper, and the two properties every GC test checks,
 * computed from the index and the store without the collector's code:
 * - the invariant: every blob and manifest reachable from an indexed, complete tag exists;
 * - no leftovers: after a full run with grace 0, every blob and `_digests/` object is reachable.
 */
import type { Database } from "../../src/db/data-source.js";
import { namespaceIdOf } from "../../src/db/queries/namespaces.js";
import { toBool } from "../../src/db/sql/decode.js";
import { GcService, type GcRequest, type GcServiceOptions } from "../../src/services/gc/gc-service.js";
import type { GcDeletion, GcEvent, GcFinished } from "../../src/services/gc/gc-types.js";
import type { ObjectStore } from "../../src/storage/object-store.js";
import { blobKey, blobDigestOfKey, digestManifestOfKey, manifestDigestKey } from "../../src/storage/registry-layout.js";
import { NO_WAIT_RETRY, type SyncHarness } from "./sync-harness.js";

export async function collector(h: SyncHarness, opts: Partial<GcServiceOptions> = {}): Promise<GcService> {
  const namespaceId = (await namespaceIdOf(h.db, "default"))!;
  return new GcService({
    db: h.db,
    namespaceId,
    sync: opts.sync ?? h.sync,
    store: h.faults,
    retry: NO_WAIT_RETRY,
    defaultGracePeriodMs: 24 * 3_600_000,
    ...opts,
  });
}

export interface GcOutcome {
  events: GcEvent[];
  finished: GcFinished;
  deletions: GcDeletion[];
  /** Deleted keys, sorted (an upload's staging prefix as one key). */
  keys: string[];
}

export async function runGc(gc: GcService, request: Partial<GcRequest> = {}): Promise<GcOutcome> {
  const ticket = await gc.start({ dryRun: false, full: false, gracePeriodMs: 0, ...request }, "api");
  const events: GcEvent[] = [];
  for await (const e of ticket.events()) events.push(e);
  const last = events.at(-1);
  if (last?.type !== "finished") throw new Error("stream ended without finished");
  const deletions = events.flatMap((e) => (e.type === "deletion" ? [e.deletion] : []));
  return { events, finished: last.finished, deletions, keys: deletions.map((d) => d.key).sort() };
}

interface Reachable {
  /** Keys that must exist: blobs and `_digests/` manifests of indexed, complete tags. */
  required: Set<string>;
  /** Keys any indexed tag (incomplete ones too) references. */
  referenced: Set<string>;
}

async function reachable(db: Database): Promise<Reachable> {
  const tags: Array<{ repository: string; digest: string; manifest_id: unknown; incomplete: unknown }> =
    await db.ds.query(
      "SELECT r.name AS repository, t.digest, t.manifest_id, t.incomplete FROM tags t JOIN repositories r ON r.id = t.repository_id",
    );
  const blobs: Array<{ manifest_id: unknown; blob_digest: string }> = await db.ds.query(
    "SELECT manifest_id, blob_digest FROM manifest_blobs",
  );
  const children: Array<{ parent_id: unknown; child_digest: string }> = await db.ds.query(
    "SELECT parent_id, child_digest FROM manifest_children",
  );
  const blobsOf = new Map<string, string[]>();
  for (const b of blobs)
    blobsOf.set(String(b.manifest_id), [...(blobsOf.get(String(b.manifest_id)) ?? []), b.blob_digest]);
  const childrenOf = new Map<string, string[]>();
  for (const c of children)
    childrenOf.set(String(c.parent_id), [...(childrenOf.get(String(c.parent_id)) ?? []), c.child_digest]);
  const out: Reachable = { required: new Set(), referenced: new Set() };
  for (const t of tags) {
    const id = String(t.manifest_id);
    const keys = [
      ...(blobsOf.get(id) ?? []).map(blobKey),
      manifestDigestKey(t.repository, t.digest),
      ...(childrenOf.get(id) ?? []).map((d) => manifestDigestKey(t.repository, d)),
    ];
    for (const k of keys) out.referenced.add(k);
    // An incomplete index's missing children are missing by definition; its readable ones are required.
    if (!toBool(t.incomplete)) for (const k of keys) out.required.add(k);
  }
  return out;
}

/** Keys the invariant needs that the store lacks (empty: it holds). */
export async function invariantViolations(db: Database, store: ObjectStore): Promise<string[]> {
  const { required } = await reachable(db);
  const missing: string[] = [];
  for (const key of required) if (!(await store.head(key))) missing.push(key);
  return missing.sort();
}

/** Blob and `_digests/` objects no indexed tag references (after a full run with grace 0: none). */
export async function leftovers(db: Database, store: ObjectStore): Promise<string[]> {
  const { referenced } = await reachable(db);
  const out: string[] = [];
  for (const prefix of ["blobs/", "manifests/"])
    for await (const o of store.list(prefix))
      if ((blobDigestOfKey(o.key) || digestManifestOfKey(o.key)) && !referenced.has(o.key)) out.push(o.key);
  for await (const o of store.list("_uploads/")) out.push(o.key);
  return out.sort();
}

/** Every key under the registry root (to compare before/after a dry run). */
export async function allKeys(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list("")) out.push(o.key);
  return out.sort();
}
