/**
 * Everything a catalog-sync test needs on one dialect and one store kind: a migrated database
 * with a statement counter, a registry store (directory or s3rver prefix) with request counting
 * and fault injection beneath the sync, sync services ("replicas"), the tag writer, and a dump
 * of the whole index by natural keys (no ids, no write times) to compare with a fresh sync's.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Database } from "../../src/db/data-source.js";
import { toBool, toDate, toJson, toNumber } from "../../src/db/sql/decode.js";
import { SyncService, type SyncServiceOptions } from "../../src/services/sync/sync-service.js";
import type { SyncEvent, SyncFinished, SyncFlags } from "../../src/services/sync/sync-types.js";
import { TagWriter } from "../../src/services/tags/tag-writer.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import type { ExpectedTag } from "../../src/demo/demo-builder.js";
import type { ObjectStore } from "../../src/storage/object-store.js";
import { RegistryLayout } from "../../src/storage/registry-layout.js";
import { RetryingStore } from "../../src/storage/retrying-store.js";
import { createMigratedDatabase, type TestDialect } from "./database.js";
import { CountingStore, FaultStore } from "./fault-store.js";
import type { TestS3Server } from "./s3-server.js";
import { StatementCounter } from "./statement-counter.js";

export type StoreKind = "directory" | "s3";

export const INCREMENTAL: SyncFlags = { full: false, dryRun: false, allowMassRemoval: false };
export const FULL: SyncFlags = { full: true, dryRun: false, allowMassRemoval: false };

/** Retries without waiting: tests count attempts, never time. */
export const NO_WAIT_RETRY = { sleep: () => Promise.resolve(), random: () => 0 };

export interface SyncHarness {
  db: Database;
  dialect: TestDialect;
  statements: StatementCounter;
  /** The registry as written by tests (no counting, no faults). */
  store: ObjectStore;
  layout: RegistryLayout;
  /** Requests that reached the store from the sync and the tag writer. */
  requests: CountingStore;
  /** Faults injected above the counter, below the sync. */
  faults: FaultStore;
  sync: SyncService;
  /** Another replica on the same database and store. */
  replica(opts?: Partial<SyncServiceOptions>): SyncService;
  writer: TagWriter;
  cleanup(): Promise<void>;
}

export async function createSyncHarness(
  dialect: TestDialect,
  kind: StoreKind,
  s3: TestS3Server | undefined,
  opts: Partial<SyncServiceOptions> = {},
): Promise<SyncHarness> {
  const statements = new StatementCounter();
  const { db, cleanup: dropDb } = await createMigratedDatabase(dialect, { logger: statements });
  let store: ObjectStore;
  let dropStore = async () => undefined as void;
  if (kind === "s3") {
    if (!s3) throw new Error("s3 harness needs the s3rver");
    store = s3.open({ prefix: `sync-${randomBytes(6).toString("hex")}`, retry: false });
  } else {
    const dir = mkdtempSync(join(tmpdir(), "epoch-sync-reg-"));
    store = new DirectoryObjectStore(dir, { durable: false });
    dropStore = async () => rmSync(dir, { recursive: true, force: true });
  }
  const requests = new CountingStore(store);
  const faults = new FaultStore(requests);
  const replicas: SyncService[] = [];
  const replica = (o: Partial<SyncServiceOptions> = {}) => {
    const s = new SyncService({ db, store: faults, retry: NO_WAIT_RETRY, ...opts, ...o });
    replicas.push(s);
    return s;
  };
  return {
    db,
    dialect,
    statements,
    store,
    layout: new RegistryLayout(store),
    requests,
    faults,
    sync: replica(),
    replica,
    writer: new TagWriter(db, new RegistryLayout(new RetryingStore(faults, NO_WAIT_RETRY))),
    cleanup: async () => {
      for (const r of replicas) await r.shutdown().catch(() => undefined);
      await dropDb();
      await dropStore();
    },
  };
}

/** Runs a sync to its end and returns every event and the `finished` one. */
export async function runSync(
  sync: SyncService,
  flags: Partial<SyncFlags> = {},
): Promise<{ events: SyncEvent[]; finished: SyncFinished }> {
  const ticket = await sync.start({ ...INCREMENTAL, ...flags }, "api");
  const events: SyncEvent[] = [];
  for await (const e of ticket.events()) events.push(e);
  const last = events.at(-1);
  if (last?.type !== "finished") throw new Error("stream ended without finished");
  return { events, finished: last.finished };
}

export const failuresOf = (events: SyncEvent[]) =>
  events
    .flatMap((e) => (e.type === "failure" ? [e.failure] : []))
    .sort((a, b) => `${a.repository}:${a.tag}`.localeCompare(`${b.repository}:${b.tag}`));

/** Moves the sync lease's expiry into the past, as if its TTL had run out (no sleeping). */
export async function expireSyncLease(db: Database): Promise<void> {
  await db.ds.query("UPDATE coordination SET expires_at = ? WHERE name = 'sync'", [
    db.dialect === "sqlite" ? "2000-01-01 00:00:00.000" : new Date(Date.UTC(2000, 0, 1)),
  ]);
}

/** recomputeStats' scan of every referenced blob of the namespace. */
export const BLOB_RECOUNT = /FROM blobs WHERE namespace_id = \? AND ref_count > 0/;
/** recountTagStats' count of every tag by kind. */
export const TAG_RECOUNT = /GROUP BY t\.kind/;

/** Statements that wrote to the index tables (sync_runs, coordination and registry_stats.last_sync_at aside). */
export function indexWrites(statements: StatementCounter): string[] {
  return statements.matching(
    /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b[\s\S]*?\b(repositories|tags|manifests|manifest_blobs|manifest_children|blobs)\b/i,
  );
}

/** Requests a first sync of a fixture needs: the catalog, every validly named tag, every index child once per repository. */
export function firstSyncRequests(tags: readonly ExpectedTag[]): number {
  const valid = tags.filter((t) => t.broken !== "INVALID_NAME").length;
  const indexes = new Map<string, number>();
  for (const t of tags)
    if (t.platformSizes !== undefined && t.digest) indexes.set(`${t.repository}@${t.digest}`, t.layerCount);
  return 1 + valid + [...indexes.values()].reduce((a, b) => a + b, 0);
}

export interface IndexDump {
  repositories: Array<Record<string, unknown>>;
  tags: Array<Record<string, unknown>>;
  manifests: Array<Record<string, unknown>>;
  children: Array<Record<string, unknown>>;
  edges: string[];
  blobs: Array<Record<string, unknown>>;
  stats: Record<string, unknown> | undefined;
}

/** The whole index by natural keys, without ids and without the times the database stamps (created/indexed/synced). */
export async function dumpIndex(db: Database): Promise<IndexDump> {
  const q = (sql: string): Promise<Array<Record<string, unknown>>> => db.ds.query(sql);
  const repositories = (
    await q("SELECT name, tag_count, total_size, artifact_type, kind, catalog_updated_at, updated_at FROM repositories")
  ).map((r) => ({
    name: r.name,
    tagCount: toNumber(r.tag_count),
    totalSize: toNumber(r.total_size),
    artifactType: r.artifact_type,
    kind: r.kind,
    catalogUpdatedAt: r.catalog_updated_at ?? null,
    updatedAt: toDate(r.updated_at).toISOString(),
  }));
  const tags = (
    await q(`SELECT r.name AS repository, t.name, t.digest, t.kind, t.total_size, t.pushed_at, t.object_etag, t.incomplete, m.digest AS manifest
FROM tags t JOIN repositories r ON r.id = t.repository_id JOIN manifests m ON m.id = t.manifest_id`)
  ).map((t) => ({
    repository: t.repository,
    name: t.name,
    digest: t.digest,
    manifest: t.manifest,
    kind: t.kind,
    totalSize: toNumber(t.total_size),
    pushedAt: toDate(t.pushed_at).toISOString(),
    objectEtag: t.object_etag,
    incomplete: toBool(t.incomplete),
  }));
  const manifests = (
    await q(
      "SELECT digest, media_type, artifact_type, kind, json, total_size, layer_count, platform_sizes FROM manifests",
    )
  ).map((m) => ({
    digest: m.digest,
    mediaType: m.media_type,
    artifactType: m.artifact_type,
    kind: m.kind,
    json: m.json,
    totalSize: toNumber(m.total_size),
    layerCount: toNumber(m.layer_count),
    platformSizes: toJson(m.platform_sizes),
  }));
  const children = (
    await q(
      "SELECT m.digest AS parent, c.position, c.child_digest, c.platform FROM manifest_children c JOIN manifests m ON m.id = c.parent_id",
    )
  ).map((c) => ({ parent: c.parent, position: toNumber(c.position), child: c.child_digest, platform: c.platform }));
  const edges = (
    await q("SELECT m.digest AS manifest, e.blob_digest FROM manifest_blobs e JOIN manifests m ON m.id = e.manifest_id")
  ).map((e) => `${String(e.manifest)} ${String(e.blob_digest)}`);
  const blobs = (await q("SELECT digest, size, media_type, ref_count FROM blobs")).map((b) => ({
    digest: b.digest,
    size: toNumber(b.size),
    mediaType: b.media_type,
    refCount: toNumber(b.ref_count),
  }));
  const [s] = await q("SELECT repository_count, tag_count, blob_count, total_size, kinds FROM registry_stats");
  const key = (o: Record<string, unknown>) => JSON.stringify(Object.values(o));
  const sorted = <T extends Record<string, unknown>>(rows: T[]) =>
    rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  return {
    repositories: sorted(repositories),
    tags: sorted(tags),
    manifests: sorted(manifests),
    children: sorted(children),
    edges: edges.sort(),
    // Blobs nothing references any more stay for GC; what the index shows are the referenced ones.
    blobs: sorted(blobs.filter((b) => b.refCount > 0)),
    stats: s && {
      repositoryCount: toNumber(s.repository_count),
      tagCount: toNumber(s.tag_count),
      blobCount: toNumber(s.blob_count),
      totalSize: toNumber(s.total_size),
      kinds: Object.fromEntries(
        Object.entries(toJson<Record<string, number>>(s.kinds) ?? {})
          .filter(([, n]) => n > 0)
          .sort(),
      ),
    },
  };
}

/** The index a fresh full sync of the same store builds in a new database. */
export async function freshDump(dialect: TestDialect, store: ObjectStore): Promise<IndexDump> {
  const { db, cleanup } = await createMigratedDatabase(dialect);
  try {
    await runSync(new SyncService({ db, store, retry: NO_WAIT_RETRY }), FULL);
    return await dumpIndex(db);
  } finally {
    await cleanup();
  }
}
