/**
 * The life of one collection on the replica that owns it: take the namespace's lease (or refuse:
 * GC_IN_PROGRESS, SYNC_IN_PROGRESS), record the run, sync under the lease, collect, and always end
 * with a recorded outcome — the `/gc/finished` event in the same transaction — a released lease
 * and exactly one `finished` event; except after a simulated crash, which leaves everything as
 * `kill -9` would.
 */
import type { Database } from "../../db/data-source.js";
import { appendEvents } from "../../db/events/event-store.js";
import { finishDeletions, keepDeleting, pruneTombstones } from "../../db/gc/gc-queue-reads.js";
import type { GcRunResult, GcRunStore } from "../../db/gc/gc-run-store.js";
import type { IndexScope } from "../../db/index/index-scope.js";
import type { Leases } from "../../db/leases.js";
import { serialized, writeTransaction } from "../../db/write-transaction.js";
import { aborted, cancelled, isEpochError, type ErrorReason } from "../../errors.js";
import { logger } from "../../logger.js";
import { CountingStore } from "../../storage/counting-store.js";
import type { ObjectStore } from "../../storage/object-store.js";
import { RetryingStore, type RetryOptions } from "../../storage/retrying-store.js";
import { gcFinishedEvent } from "../events/event-topics.js";
import { isCollectorHolder } from "../sync/sync-commit.js";
import type { SyncService } from "../sync/sync-service.js";
import { collect } from "./gc-collect.js";
import type { CollectContext } from "./gc-context.js";
import { GcEventHub } from "./gc-events.js";
import type { GcHolds } from "./gc-holds.js";
import type { DeletionPipeline } from "./gc-pipeline.js";
import {
  SimulatedGcCrash,
  type GcCounts,
  type GcFaultPoints,
  type GcFinished,
  type GcFlags,
  type GcTrigger,
} from "./gc-types.js";

/** `deleted` rows are kept this long after their objects went (IndexTag refuses manifests needing them). */
const TOMBSTONE_RETENTION_MS = 7 * 24 * 3_600_000;

export interface GcRunnerDeps {
  db: Database;
  scope: IndexScope;
  runs: GcRunStore;
  leases: Leases;
  lease: string;
  /** The collector's holder name (collectorHolder of the replica's). */
  holder: string;
  /** The bare store: each run counts its requests, then retries above the count. */
  store: ObjectStore;
  retry?: RetryOptions;
  sync: SyncService;
  holds: (gracePeriodMs: number) => GcHolds;
  concurrency: number;
  ttlMs: number;
  renewIntervalMs: number;
  cancelPollMs: number;
  faultPoints?: GcFaultPoints;
}

export interface ActiveGc {
  flags: GcFlags;
  counts: GcCounts;
  controller: AbortController;
}

/** Takes the lease (ABORTED GC_IN_PROGRESS / SYNC_IN_PROGRESS when held) and records a new run. */
export async function beginGcRun(d: GcRunnerDeps, flags: GcFlags, trigger: GcTrigger): Promise<GcEventHub> {
  if (!(await d.leases.acquire(d.lease, d.holder, d.ttlMs, 0))) {
    const lease = await d.leases.read(d.lease);
    if (lease && isCollectorHolder(lease.holder))
      throw aborted(`a garbage collection of this namespace is running (holder ${lease.holder})`, "GC_IN_PROGRESS");
    throw aborted(`a sync of this namespace is running (holder ${lease?.holder || "?"})`, "SYNC_IN_PROGRESS");
  }
  // As after kill -9 (no release): the next run takes over once the lease expires.
  if (d.faultPoints) await crashAt(d.faultPoints)("lease-taken");
  let runId: number;
  try {
    runId = await d.runs.create(flags, trigger, d.holder);
    await d.leases.setValue(d.lease, d.holder, runId);
    const abandoned = await d.runs.failAbandoned(runId);
    if (abandoned > 0) logger.warn({ abandoned }, "marked GC runs of a replica that lost the lease as FAILED");
  } catch (e) {
    await d.leases.release(d.lease, d.holder).catch(() => undefined);
    throw e;
  }
  logger.info({ runId, trigger, ...flags }, "garbage collection started");
  return new GcEventHub(runId, flags);
}

/** Runs the collection to its end; `run.controller` is aborted by a cancel, shutdown or a lost lease. */
export async function driveGcRun(d: GcRunnerDeps, run: ActiveGc, hub: GcEventHub): Promise<GcFinished> {
  const startedAt = Date.now();
  const requests = new CountingStore(d.store);
  const fault = d.faultPoints && crashAt(d.faultPoints);
  const keeper = keepGcLease(d, hub.runId, run.controller);
  let syncRunId = 0;
  let pipeline: DeletionPipeline | undefined;
  let result: GcRunResult;
  try {
    // ── sync, under the same lease (its own requests are counted by its own run) ──
    hub.progress("SYNC", 0, 1, true);
    const synced = await d.sync.syncForCollector(d.holder, run.controller.signal);
    syncRunId = synced.runId;
    run.counts.objectStoreRequests += synced.counts.objectStoreRequests;
    await d.runs.setSyncRun(hub.runId, syncRunId);
    await d.leases.setValue(d.lease, d.holder, hub.runId);
    hub.progress("SYNC", 1, 1, true);
    if (synced.state === "FAILED" || synced.state === "CANCELLED") throw syncFailed(synced.errorReason, synced.message);
    await fault?.("after-sync");
    // A cancel asked for during the sync takes effect before marking, not at the poller's next tick.
    if (await d.runs.cancelRequested(hub.runId))
      run.controller.abort(cancelled("cancelled (CancelGarbageCollection)", "CANCELLED"));
    run.controller.signal.throwIfAborted();
    // ── collect ──
    const c = context(d, run, hub, requests);
    pipeline = await collect(c);
    run.controller.signal.throwIfAborted();
    result = resultOf(run.counts, pipeline);
  } catch (e) {
    if (e instanceof SimulatedGcCrash) {
      keeper.stop();
      hub.abandon(e);
      throw e;
    }
    result = failedResult(e, run.counts, hub.runId);
  } finally {
    keeper.stop();
  }
  run.counts.objectStoreRequests += requests.total;
  result.counts = { ...run.counts };
  try {
    await fault?.("before-finish");
  } catch (e) {
    hub.abandon(e);
    throw e;
  }
  await recordEnd(d, hub.runId, run.flags, result, pipeline);
  const finished: GcFinished = {
    runId: hub.runId,
    state: result.state,
    counts: result.counts,
    durationMs: Date.now() - startedAt,
    syncRunId,
    dryRun: run.flags.dryRun,
    ...(result.errorReason && { errorReason: result.errorReason }),
    message: result.message,
  };
  logger.info({ ...finished }, "garbage collection finished");
  hub.finish(finished);
  return finished;
}

function context(d: GcRunnerDeps, run: ActiveGc, hub: GcEventHub, requests: CountingStore): CollectContext {
  const faultPoints = d.faultPoints;
  return {
    db: d.db,
    scope: d.scope,
    store: new RetryingStore(requests, d.retry),
    requests,
    leases: d.leases,
    lease: d.lease,
    holder: d.holder,
    runId: hub.runId,
    flags: run.flags,
    hub,
    holds: d.holds(run.flags.gracePeriodMs),
    signal: run.controller.signal,
    counts: run.counts,
    concurrency: d.concurrency,
    ...(faultPoints && { faultPoints: crashAt(faultPoints) }),
  };
}

/** A test's fault point that throws becomes a SimulatedGcCrash, which no layer of the run catches. */
const crashAt =
  (faultPoints: GcFaultPoints): GcFaultPoints =>
  async (point) => {
    try {
      await faultPoints(point);
    } catch (e) {
      throw new SimulatedGcCrash(point, { cause: e });
    }
  };

function syncFailed(reason: ErrorReason | undefined, message: string) {
  return reason === "CANCELLED" || reason === "SHUTTING_DOWN"
    ? cancelled(`cancelled during the sync before collecting: ${message}`, reason)
    : aborted(`the sync before collecting did not succeed, so nothing was collected: ${message}`, reason ?? "INTERNAL");
}

function resultOf(counts: GcCounts, pipeline: DeletionPipeline): GcRunResult {
  const deleted = counts.blobsDeleted + counts.manifestsDeleted + counts.uploadsDeleted + counts.leasesDeleted;
  const summary = `${deleted} objects, ${counts.bytesFreed} bytes freed`;
  if (counts.deleteFailures > 0)
    return {
      state: "DEGRADED",
      counts,
      message: `${summary}; ${counts.deleteFailures} deletes failed (the next run retries them)`,
    };
  return {
    state: "SUCCEEDED",
    counts,
    message: pipeline.marked === 0 && deleted === 0 ? "nothing to collect" : summary,
  };
}

function failedResult(e: unknown, counts: GcCounts, runId: number): GcRunResult {
  if (isEpochError(e)) {
    return {
      state: e.kind === "cancelled" ? "CANCELLED" : "FAILED",
      counts,
      errorReason: e.reason,
      message: e.message,
    };
  }
  logger.error({ err: e, runId }, "garbage collection failed with an unexpected error");
  return { state: "FAILED", counts, errorReason: "INTERNAL", message: "internal error during the garbage collection" };
}

/**
 * One transaction: the run's `deleting` rows become `deleted` (only when every marked object was
 * sent to the store; otherwise the next run finishes them), failed deletes stay `deleting`, old
 * tombstones go, the run's outcome and its `/gc/finished` event. Then the lease is released.
 */
async function recordEnd(
  d: GcRunnerDeps,
  runId: number,
  flags: GcFlags,
  result: GcRunResult,
  pipeline: DeletionPipeline | undefined,
): Promise<void> {
  try {
    await writeTransaction(d.db, async (m) => {
      if (!flags.dryRun && pipeline?.flushed) {
        await finishDeletions(m, d.scope, runId);
        await keepDeleting(m, d.scope, pipeline.failed);
        await pruneTombstones(m, d.scope, TOMBSTONE_RETENTION_MS);
      }
      // A dry run changed nothing: no event (as for a sync's).
      if ((await d.runs.finish(m, runId, result)) && !flags.dryRun)
        await appendEvents(m, d.scope.dialect, [
          gcFinishedEvent(d.scope.namespaceId, { runId, state: result.state, ...result.counts }),
        ]);
    });
  } catch (e) {
    logger.error({ err: e, runId }, "could not record the end of a garbage collection");
  }
  await d.leases
    .release(d.lease, d.holder)
    .catch((e: unknown) => logger.warn({ err: e }, "could not release the namespace lease after GC"));
}

/** Renews the lease (whatever run id it carries: the sync's, then the collection's) and polls for a cancel. */
function keepGcLease(d: GcRunnerDeps, runId: number, controller: AbortController): { stop(): void } {
  let busy = false;
  const guard = (fn: () => Promise<void>) => async () => {
    if (busy || controller.signal.aborted) return;
    busy = true;
    try {
      await fn();
    } catch (e) {
      logger.warn({ err: e, runId }, "GC lease upkeep failed");
    } finally {
      busy = false;
    }
  };
  const renew = setInterval(
    guard(async () => {
      const lease = await d.leases.read(d.lease);
      const held =
        lease?.holder === d.holder &&
        (await serialized(d.db, () => d.leases.renew(d.lease, d.holder, d.ttlMs, lease.value)));
      if (!held) controller.abort(aborted("this run lost its lease (another replica took over)", "LEASE_LOST"));
    }),
    d.renewIntervalMs,
  );
  const poll = setInterval(
    guard(async () => {
      if (await d.runs.cancelRequested(runId))
        controller.abort(cancelled("cancelled (CancelGarbageCollection)", "CANCELLED"));
    }),
    d.cancelPollMs,
  );
  renew.unref();
  poll.unref();
  return {
    stop: () => {
      clearInterval(renew);
      clearInterval(poll);
    },
  };
}
