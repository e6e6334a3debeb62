/**
 * Steps 4 of DESIGN §4, the only part of a run that writes the index: tag batches (≤ 1000 tags
 * per short transaction), set-based deletions, then per touched repository its aggregates and
 * the catalog's updatedAt in one transaction, then the stats (their blob side moved with the
 * batches; recounted by full runs). Every transaction first proves
 * the run still holds the sync lease (fencing), so a paused replica never writes after losing it,
 * and ends with the events of what it changed, in one INSERT (event-store.ts): a batch's
 * /repositories/create and /tags/create|update, a deletion batch's /tags/delete, an aggregates
 * transaction's /repositories/delete.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../../db/data-source.js";
import type { IndexScope } from "../../db/index/index-scope.js";
import type { IndexedRepository } from "../../db/index/index-snapshot.js";
import { markSynced, recomputeStats, recountTagStats } from "../../db/index/registry-stats.js";
import { recomputeRepositories, type RepositoryRecompute } from "../../db/index/repository-aggregates.js";
import type { TagFacts } from "../../db/index/tag-facts.js";
import type { RemovalTarget } from "../../db/index/tag-rows.js";
import { pruneTombstones } from "../../db/index/tag-tombstones.js";
import type { Leases } from "../../db/leases.js";
import { aborted } from "../../errors.js";
import { chunk } from "../../db/sql/sql-params.js";
import type { RepositoryRemoval, TouchedRepository } from "./sync-plan.js";
import type { FaultPoints, SyncPhase } from "./sync-types.js";
import { removedTagChanges, removeTags, writeTags, type CollectedTag } from "../tags/tag-indexer.js";
import { appendEvents, type NewEvent } from "../../db/events/event-store.js";
import { repositoryEvent, tagEvents } from "../events/event-topics.js";
import { serialized, writeTransaction } from "../../db/write-transaction.js";

/**
 * The sync lease of a namespace (single flight per namespace). `default` keeps the row name it
 * had before namespaces existed, so replicas of both versions exclude each other during an upgrade.
 */
export function syncLeaseName(namespace: { id: number; name: string }): string {
  return namespace.name === "default" ? "sync" : `sync:${namespace.id}`;
}
export const COMMIT_BATCH = 1000;

/**
 * A garbage collection takes the namespace's sync lease (sync and GC never overlap) under its
 * replica's holder name with this suffix, so a refused caller can tell which of the two runs.
 */
const COLLECTOR_SUFFIX = "/gc";
export const collectorHolder = (holder: string): string => `${holder}${COLLECTOR_SUFFIX}`;
export const isCollectorHolder = (holder: string): boolean => holder.endsWith(COLLECTOR_SUFFIX);

export interface CommitContext {
  db: Database;
  scope: IndexScope;
  leases: Leases;
  /** The namespace's lease row (syncLeaseName). */
  lease: string;
  holder: string;
  runId: number;
  /** The DB time the catalog was read: rows IndexTag wrote after it are neither overwritten nor removed. */
  catalogReadAt: unknown;
  batchSize: number;
  /** Recount the blob side of registry_stats at the end (full runs) instead of keeping what the batches moved. */
  recountBlobs: boolean;
  /** Benchmark seam (SyncServiceOptions.writeEvents): false commits without the outbox. */
  writeEvents?: boolean;
  faultPoints?: FaultPoints;
  progress(phase: SyncPhase, done: number, total: number): void;
  /** A tag written incomplete because its manifest needs objects the garbage collector took (a failure of the run). */
  collected(tag: CollectedTag): void;
}

export interface CommitInput {
  /** The tags to write, in fetch order (a spool file for a sync). */
  writes: { count: number; batches(size: number): AsyncIterable<TagFacts[]> };
  removals: RepositoryRemoval[];
  touched: TouchedRepository[];
  /** Repositories with a failure this run keep catalog_updated_at NULL, so the next changed catalog retries them. */
  failedRepositories: ReadonlySet<string>;
  index: ReadonlyMap<string, IndexedRepository>;
}

export interface CommitCounts {
  repositoriesAdded: number;
  repositoriesRemoved: number;
  tagsRemoved: number;
}

export async function commitRun(c: CommitContext, input: CommitInput): Promise<CommitCounts> {
  const counts: CommitCounts = { repositoriesAdded: 0, repositoriesRemoved: 0, tagsRemoved: 0 };
  const ids = new Map<string, number>([...input.index.values()].map((r) => [r.name, r.id]));
  const total = input.writes.count + input.removals.reduce((n, r) => n + r.count, 0);
  let done = 0;
  c.progress("COMMIT", 0, total);

  const ns = c.scope.namespaceId;
  let batchNo = 0;
  for await (const batch of input.writes.batches(c.batchSize)) {
    const result = await fenced(c, async (m) => {
      const written = await writeTags(m, c.scope, batch, {
        bySync: true,
        keepNewerThan: c.catalogReadAt,
        onCollected: "incomplete",
      });
      await outbox(c, m, [
        ...written.repositoriesCreated.map((name) => repositoryEvent(ns, name, true)),
        ...tagEvents(ns, written.tagChanges),
      ]);
      return written;
    });
    counts.repositoriesAdded += result.repositoriesCreated.length;
    for (const t of result.collected) c.collected(t);
    for (const [name, id] of result.repositoryIds) ids.set(name, id);
    done += batch.length;
    c.progress("COMMIT", done, total);
    if (batchNo++ === 0) await c.faultPoints?.("after-first-commit-batch");
  }

  const removalNames = new Map(input.removals.map((r) => [r.repositoryId, r.repository]));
  let deletionNo = 0;
  for (const targets of removalChunks(input.removals, c.batchSize)) {
    const removed = await fenced(c, async (m) => {
      const victims = await removeTags(m, c.scope, targets, c.catalogReadAt);
      await outbox(
        c,
        m,
        tagEvents(
          ns,
          removedTagChanges(victims, (id) => removalNames.get(id)!),
        ),
      );
      return victims.length;
    });
    counts.tagsRemoved += removed;
    done += removed;
    c.progress("COMMIT", done, total);
    if (deletionNo++ === 0) await c.faultPoints?.("during-deletions");
  }

  await c.faultPoints?.("before-aggregates");
  const repos: RepositoryRecompute[] = [];
  for (const t of input.touched) {
    const id = ids.get(t.name);
    if (id === undefined) continue; // never created: no tag of it could be indexed
    const applied =
      t.catalogUpdatedAt === undefined || input.failedRepositories.has(t.name) ? null : t.catalogUpdatedAt;
    repos.push({ id, catalogUpdatedAt: applied });
  }
  c.progress("CLEANUP", 0, repos.length);
  let recomputed = 0;
  for (const part of chunk(repos, 500)) {
    const gone = await fenced(c, async (m) => {
      const names = await recomputeRepositories(m, c.scope, part);
      await outbox(
        c,
        m,
        names.map((name) => repositoryEvent(ns, name, false)),
      );
      return names;
    });
    counts.repositoriesRemoved += gone.length;
    recomputed += part.length;
    c.progress("CLEANUP", recomputed, repos.length);
  }
  await c.faultPoints?.("before-stats");
  await fenced(
    c,
    async (m) => {
      // The blob numbers moved with every batch; a full run recounts them too, repairing any drift.
      await (c.recountBlobs ? recomputeStats : recountTagStats)(m, c.scope);
      await markSynced(m, c.scope);
      // Tombstones of deletes this run's catalog already shows: no run from now on can need them.
      await pruneTombstones(m, c.scope, c.catalogReadAt);
    },
    true,
  );
  return counts;
}

/** The events of one commit transaction, as its last statements (unless the benchmark seam turned them off). */
async function outbox(c: Pick<CommitContext, "scope" | "writeEvents">, m: EntityManager, events: NewEvent[]) {
  if (c.writeEvents !== false) await appendEvents(m, c.scope.dialect, events);
}

/**
 * A run that found nothing to apply still moves last_sync_time: one statement outside any
 * transaction (the time is all it writes, so it needs no fence).
 */
export async function recordSyncTime(db: Database, scope: IndexScope): Promise<void> {
  await serialized(db, () => markSynced(db.ds, scope));
}

/**
 * One fenced commit transaction. Every one but the run's last (`durable`) skips the fsync on
 * SQLite (write-transaction.ts says why that is safe): a 10k-tag first sync otherwise spends a
 * tenth of its time waiting for the disk.
 */
async function fenced<T>(
  c: Pick<CommitContext, "db" | "leases" | "lease" | "holder" | "runId">,
  fn: (m: EntityManager) => Promise<T>,
  durable = false,
): Promise<T> {
  const result = await writeTransaction(
    c.db,
    async (m) => {
      if (!(await c.leases.fence(m, c.lease, c.holder, c.runId))) {
        throw aborted("this run lost the sync lease (another replica took over); it wrote nothing more", "LEASE_LOST");
      }
      return fn(m);
    },
    // One batch at a time in this process: concurrent namespaces' first syncs deadlock otherwise.
    { deferFsync: !durable, oneAtATime: true },
  );
  // better-sqlite3 answers synchronously, so a chain of statements never lets timers run: yield
  // after each transaction, or the lease renewal (and progress on the wire) would starve.
  await new Promise<void>((resolve) => setImmediate(resolve));
  return result;
}

/** Removal targets grouped so each transaction deletes about `batch` tags. */
function removalChunks(removals: readonly RepositoryRemoval[], batch: number): RemovalTarget[][] {
  const out: RemovalTarget[][] = [];
  let current: RemovalTarget[] = [];
  let size = 0;
  const flush = () => {
    if (current.length > 0) out.push(current);
    current = [];
    size = 0;
  };
  for (const r of removals) {
    if (r.names === undefined) {
      current.push({ repositoryId: r.repositoryId });
      size += r.count;
    } else {
      for (const names of chunk(r.names, batch)) {
        if (size + names.length > batch) flush();
        current.push({ repositoryId: r.repositoryId, names });
        size += names.length;
      }
    }
    if (size >= batch) flush();
  }
  flush();
  return out;
}
