/**
 * One catalog sync run, DESIGN §4 steps 1–4: conditional catalog read, plan, fetch, commit.
 * No transaction is open during object-store I/O; nothing is written before the commit phase,
 * and a run that was cancelled (or a dry run) never gets there. Lease, run row and event
 * fan-out belong to SyncService; this file is the run itself.
 */
import type { Database } from "../../db/data-source.js";
import type { IndexScope } from "../../db/index/index-scope.js";
import {
  indexedTagCount,
  indexIsEmpty,
  loadIndexedRepositories,
  loadIndexSnapshot,
  type IndexedRepository,
} from "../../db/index/index-snapshot.js";
import type { TagFacts } from "../../db/index/tag-facts.js";
import type { Leases } from "../../db/leases.js";
import type { RunResult, SyncRunStore } from "../../db/sync-runs/sync-run-store.js";
import { cancelled, failedPrecondition } from "../../errors.js";
import type { CountingStore } from "../../storage/counting-store.js";
import type { RegistryLayout } from "../../storage/registry-layout.js";
import { FactSpool } from "./fact-spool.js";
import { commitRun, recordSyncTime } from "./sync-commit.js";
import type { SyncEventHub } from "./sync-events.js";
import { fetchTags, type FetchOutcome } from "./sync-fetch.js";
import { indexedTagsOf, planSync, unchangedRepositories, type SyncPlan, type TagFetch } from "./sync-plan.js";
import type { FaultPoints, SyncCounts, SyncFlags } from "./sync-types.js";

export interface RunContext {
  db: Database;
  scope: IndexScope;
  layout: RegistryLayout;
  /** Counts this run's requests (below the retry layer, so retries count). */
  requests: CountingStore;
  runs: SyncRunStore;
  leases: Leases;
  lease: string;
  holder: string;
  runId: number;
  flags: SyncFlags;
  hub: SyncEventHub;
  /** Aborted by cancellation, shutdown or a lost lease; its reason is the error to end with. */
  signal: AbortSignal;
  concurrency: number;
  /** Tags per commit transaction (≤ 1000). */
  batchSize: number;
  faultPoints?: FaultPoints;
  /** Benchmark seam: false commits without events (SyncServiceOptions.writeEvents). */
  writeEvents?: boolean;
  /** Counters so far, readable while the run goes (GetSyncStatus). */
  counts: SyncCounts;
}

export async function executeRun(c: RunContext): Promise<RunResult> {
  // ── 1. catalog, 2. plan ── (the parsed catalog is out of scope once planned: only names and ETags stay)
  let planned: Planned | undefined = await catalogAndPlan(c);
  if ("done" in planned) return finishRun(c, planned.done);
  const { plan, index, catalogReadAt, catalog } = planned;
  const spool = c.flags.dryRun ? undefined : new FactSpool();
  try {
    // ── 3. fetch ── (what will be written waits in a local spool file, not in memory)
    const dry = new DryRunTally(index);
    const failedRepositories = new Set(plan.failures.map((f) => f.repository));
    await fetchPlanned(c, planned.fetches, { spool, dry, failedRepositories });
    // Dropped before the commit: at 100k tags the fetch list is ~10 MB the commit has no use for.
    planned = undefined;
    if (!spool) {
      Object.assign(c.counts, dry.repositoryCounts(plan), { tagsRemoved: plan.removedTags });
      return finishRun(c);
    }
    // ── 4. commit ──
    await commitPlanned(c, { spool, plan, index, catalogReadAt, failedRepositories });
  } finally {
    await spool?.close();
  }
  return finishRun(c, { catalog });
}

function finishRun(c: RunContext, extra: Partial<RunResult> = {}): RunResult {
  const counts = c.counts;
  counts.objectStoreRequests = c.requests.total;
  const state = c.hub.failures.length > 0 ? "DEGRADED" : "SUCCEEDED";
  return { state, counts, failures: c.hub.failures, message: summary(counts, c.hub.failures.length), ...extra };
}

/** Where fetched tags go: the spool (to write), the dry-run tally, and the failed repositories. */
interface FetchSinks {
  spool: FactSpool | undefined;
  dry: DryRunTally;
  failedRepositories: Set<string>;
}

/** Step 3: reads the planned tags from the object store, counting each outcome as it arrives. */
async function fetchPlanned(c: RunContext, fetches: readonly TagFetch[], sinks: FetchSinks): Promise<void> {
  let fetched = 0;
  c.hub.progress("FETCH", 0, fetches.length, true);
  await fetchTags(c.layout, fetches, {
    concurrency: c.concurrency,
    signal: c.signal,
    onOutcome: (o) => {
      const write = classify(o, c.counts);
      if (write) sinks.spool?.add(write);
      if (c.flags.dryRun) sinks.dry.add(o);
      const failure = failureOf(o);
      if (failure) {
        sinks.failedRepositories.add(o.fetch.repository);
        c.hub.failure(failure);
      }
      c.hub.progress("FETCH", ++fetched, fetches.length);
    },
  });
  c.hub.progress("FETCH", fetched, fetches.length, true);
  await c.faultPoints?.("after-fetch");
  c.counts.objectStoreRequests = c.requests.total;
  c.signal.throwIfAborted();
}

/** Step 4: enters the commit phase (unless cancelled first), then writes the spool, removals and aggregates. */
async function commitPlanned(
  c: RunContext,
  input: {
    spool: FactSpool;
    plan: PlanWithoutFetches;
    index: Map<string, IndexedRepository>;
    catalogReadAt: unknown;
    failedRepositories: Set<string>;
  },
): Promise<void> {
  if (!(await c.runs.enterCommit(c.runId))) throw cancelledBeforeCommit();
  await c.runs.saveProgress(c.runId, { ...c.counts, objectStoreRequests: c.requests.total }, c.hub.failures);
  const committed = await commitRun(
    {
      ...c,
      catalogReadAt: input.catalogReadAt,
      recountBlobs: c.flags.full,
      progress: (phase, done, total) => c.hub.progress(phase, done, total, done === 0),
      collected: (t) => {
        // Like a missing index child: indexed incomplete, a failure, retried by later runs.
        input.failedRepositories.add(t.repository);
        const first = t.items[0]!;
        const what = first.kind === "blob" ? `blob ${first.digest}` : `manifest ${first.repository}@${first.digest}`;
        c.hub.failure({
          repository: t.repository,
          tag: t.tag,
          reason: "BLOB_UNKNOWN",
          message: `${what} was garbage collected; indexed as incomplete until it is pushed again`,
        });
      },
    },
    {
      writes: input.spool,
      removals: input.plan.removals,
      touched: input.plan.touched,
      failedRepositories: input.failedRepositories,
      index: input.index,
    },
  );
  Object.assign(c.counts, committed);
}

type PlanWithoutFetches = Omit<SyncPlan, "fetches">;

type Planned =
  | { done: Partial<RunResult> }
  | {
      /** Held by the run only until the fetch step is done with it. */
      fetches: TagFetch[];
      plan: PlanWithoutFetches;
      index: Map<string, IndexedRepository>;
      catalogReadAt: unknown;
      catalog: { etag: string; sha256: string };
    };

/** Steps 1 and 2: the conditional catalog read, then the plan (or the end of the run: unchanged, missing). */
async function catalogAndPlan(c: RunContext): Promise<Planned> {
  const counts = c.counts;
  c.signal.throwIfAborted();
  c.hub.progress("CATALOG", 0, 1, true);
  // The database time is taken before the GET: anything IndexTag writes from now on may be newer than this catalog.
  const last = await c.runs.lastAppliedCatalog();
  const stored = c.flags.full ? undefined : last.stored;
  const read = await c.layout.readCatalog(stored ? { ifNoneMatch: stored.etag } : {});
  c.hub.progress("CATALOG", 1, 1, true);
  if (read.status === "missing") {
    if (!(await indexIsEmpty(c.db, c.scope))) {
      throw failedPrecondition(
        "catalog.json is missing but the index is not empty: refusing to remove everything",
        "CATALOG_MISSING",
      );
    }
    if (!c.flags.dryRun) await recordSyncTime(c.db, c.scope);
    return { done: {} };
  }
  const unchanged = read.status === "not_modified" || (stored?.sha256 !== undefined && stored.sha256 === read.sha256);
  if (unchanged) {
    counts.tagsUnchanged = await indexedTagCount(c.db, c.scope);
    if (!c.flags.dryRun) await recordSyncTime(c.db, c.scope);
    return {
      done: { catalog: { etag: read.etag, sha256: read.status === "ok" ? read.sha256 : (stored?.sha256 ?? null) } },
    };
  }
  await c.faultPoints?.("after-catalog");

  c.hub.progress("PLAN", 0, 1, true);
  // Tag rows are read only for repositories the catalog does not prove unchanged.
  const repositories = await loadIndexedRepositories(c.db, c.scope);
  const index = await loadIndexSnapshot(
    c.db,
    c.scope,
    last.now,
    repositories,
    unchangedRepositories(read.catalog, repositories, c.flags),
  );
  const { fetches, ...plan } = planSync(read.catalog, index, c.flags);
  for (const f of plan.failures) c.hub.failure(f);
  counts.tagsUnchanged += plan.skippedTags;
  if (plan.massRemoval && !c.flags.allowMassRemoval) {
    throw failedPrecondition(
      `the catalog would remove ${plan.removedTags} of ${plan.indexedTags} indexed tags; nothing was written (run with allow_mass_removal to apply it)`,
      "MASS_REMOVAL",
    );
  }
  c.hub.progress("PLAN", 1, 1, true);
  return { fetches, plan, index, catalogReadAt: last.now, catalog: { etag: read.etag, sha256: read.sha256 } };
}

function cancelledBeforeCommit() {
  return cancelled("cancelled (CancelSync) before the commit phase: nothing was written", "CANCELLED");
}

/** Counts a fetched tag and returns what must be written (null for nothing). */
function classify(o: FetchOutcome, counts: SyncCounts): TagFacts | null {
  const existing = o.fetch.existing;
  const r = o.result;
  if (r.kind === "not_modified") {
    counts.tagsUnchanged++;
    return null;
  }
  if (r.kind === "failed") {
    // The previous row (if any) stays as it was.
    if (existing) counts.tagsUnchanged++;
    return null;
  }
  if (!existing) {
    counts.tagsAdded++;
    return r.facts;
  }
  const same =
    existing.digest === r.facts.manifest.digest &&
    existing.incomplete === r.facts.incomplete &&
    existing.totalSize === r.facts.manifest.totalSize;
  if (same) counts.tagsUnchanged++;
  else counts.tagsUpdated++;
  // An unchanged tag is still rewritten when its object's ETag moved, so the next run can get a 304.
  return same && existing.objectEtag === r.facts.objectEtag ? null : r.facts;
}

function failureOf(o: FetchOutcome) {
  const r = o.result;
  const base = { repository: o.fetch.repository, tag: o.fetch.tag };
  if (r.kind === "failed") return { ...base, reason: r.reason, message: r.message };
  if (r.kind === "ok" && r.partial) return { ...base, reason: r.partial.reason, message: r.partial.message };
  return undefined;
}

/** What the commit would add and remove, tallied without writing (a dry run reports the real run's counts). */
class DryRunTally {
  private readonly added = new Set<string>();
  private readonly newTags = new Map<string, number>();

  constructor(private readonly index: ReadonlyMap<string, IndexedRepository>) {}

  add(o: FetchOutcome): void {
    if (o.result.kind !== "ok" || o.fetch.existing) return;
    if (!this.index.has(o.fetch.repository)) this.added.add(o.fetch.repository);
    this.newTags.set(o.fetch.repository, (this.newTags.get(o.fetch.repository) ?? 0) + 1);
  }

  repositoryCounts(plan: Pick<SyncPlan, "removals">): { repositoriesAdded: number; repositoriesRemoved: number } {
    const removedByRepo = new Map(plan.removals.map((r) => [r.repository, r.count]));
    let removed = 0;
    for (const repo of this.index.values()) {
      const left = indexedTagsOf(repo) - (removedByRepo.get(repo.name) ?? 0) + (this.newTags.get(repo.name) ?? 0);
      if (left <= 0) removed++;
    }
    return { repositoriesAdded: this.added.size, repositoriesRemoved: removed };
  }
}

function summary(counts: SyncCounts, failures: number): string {
  const parts = [
    `${counts.tagsAdded} added`,
    `${counts.tagsUpdated} updated`,
    `${counts.tagsUnchanged} unchanged`,
    `${counts.tagsRemoved} removed`,
  ];
  return failures > 0 ? `${parts.join(", ")}; ${failures} failed` : parts.join(", ");
}
