/**
 * The life of one run on the replica that owns it: take the lease (or refuse), record the run,
 * fail an abandoned one, then drive `executeRun` with the lease kept alive, and always end with
 * a recorded outcome, a released lease and exactly one `finished` event — except after a
 * simulated crash, which leaves everything as `kill -9` would.
 */
import type { Database } from "../../db/data-source.js";
import type { IndexScope } from "../../db/index/index-scope.js";
import type { Leases } from "../../db/leases.js";
import type { RunResult, SyncRunStore } from "../../db/sync-runs/sync-run-store.js";
import { aborted, isEpochError, type ErrorReason } from "../../errors.js";
import { logger } from "../../logger.js";
import { CountingStore } from "../../storage/counting-store.js";
import type { ObjectStore } from "../../storage/object-store.js";
import { RegistryLayout } from "../../storage/registry-layout.js";
import { RetryingStore, type RetryOptions } from "../../storage/retrying-store.js";
import type { NewEvent } from "../../db/events/event-store.js";
import { syncFinishedEvent } from "../events/event-topics.js";
import { executeRun } from "./catalog-sync.js";
import { SyncEventHub } from "./sync-events.js";
import { keepLease } from "./sync-lease-keeper.js";
import { isCollectorHolder } from "./sync-commit.js";
import { logRunFinished, logRunStarted } from "./run-log.js";
import {
  modeOf,
  SimulatedCrash,
  type FaultPoints,
  type SyncCounts,
  type SyncFinished,
  type SyncFlags,
  type SyncTrigger,
} from "./sync-types.js";

export interface RunnerDeps {
  db: Database;
  scope: IndexScope;
  runs: SyncRunStore;
  leases: Leases;
  /** The namespace's sync lease row (syncLeaseName). */
  lease: string;
  holder: string;
  store: ObjectStore;
  retry?: RetryOptions;
  concurrency: number;
  batchSize: number;
  ttlMs: number;
  renewIntervalMs: number;
  cancelPollMs: number;
  faultPoints?: FaultPoints;
  /** Benchmark seam (SyncServiceOptions.writeEvents): false writes no events. */
  writeEvents?: boolean;
}

/** Takes the sync lease (ABORTED SYNC_IN_PROGRESS when another replica holds it) and records a new run. */
export async function beginRun(d: RunnerDeps, flags: SyncFlags, trigger: SyncTrigger): Promise<SyncEventHub> {
  if (!(await d.leases.acquire(d.lease, d.holder, d.ttlMs, 0))) {
    const lease = await d.leases.read(d.lease);
    // The owner names its run in the lease right after recording it; 0 = it has not yet.
    const running = lease && lease.value > 0 ? `run ${lease.value}` : "its run is being recorded";
    if (lease && isCollectorHolder(lease.holder))
      throw aborted(`a garbage collection of this namespace is running (holder ${lease.holder})`, "GC_IN_PROGRESS");
    throw aborted(
      `a sync is running on another replica (${running}; holder ${lease?.holder || "?"})`,
      "SYNC_IN_PROGRESS",
    );
  }
  let runId: number;
  try {
    await d.faultPoints?.("lease-taken");
    runId = await d.runs.create(flags, trigger, d.holder);
    // The run id goes into the lease row: every commit fences on (holder, run id).
    await d.leases.setValue(d.lease, d.holder, runId);
    const abandoned = await d.runs.failAbandoned(runId, (ended) =>
      d.writeEvents === false ? [] : ended.map((run) => syncFinishedEvent(d.scope.namespaceId, run)),
    );
    if (abandoned > 0) logger.warn({ abandoned }, "marked sync runs of a replica that lost the lease as FAILED");
  } catch (e) {
    await d.leases.release(d.lease, d.holder).catch(() => undefined);
    throw e;
  }
  logRunStarted(runId, trigger, flags);
  return new SyncEventHub(runId, modeOf(flags), flags.dryRun);
}

/** Runs the sync to its end; `controller` is aborted by CancelSync, shutdown or a lost lease. */
export async function driveRun(
  d: RunnerDeps,
  run: { flags: SyncFlags; trigger: SyncTrigger; counts: SyncCounts; controller: AbortController },
  hub: SyncEventHub,
  /** False for a garbage collection's sync: the collector goes on under the lease afterwards. */
  releaseLease = true,
): Promise<SyncFinished> {
  const startedAt = Date.now();
  const requests = new CountingStore(d.store);
  const result = await runKeepingLease(d, run, hub, requests);
  result.counts.objectStoreRequests = requests.total;
  result.counts.tagsFailed = hub.failures.length;
  const event = d.writeEvents === false ? undefined : finishedEvent(d.scope.namespaceId, hub, run.trigger, result);
  await recordEnd(d, hub.runId, result, event ? [event] : [], releaseLease);
  const finished: SyncFinished = {
    runId: hub.runId,
    state: result.state,
    counts: { ...result.counts },
    durationMs: Date.now() - startedAt,
    ...(result.errorReason && { errorReason: result.errorReason }),
    message: result.message,
  };
  logRunFinished(finished, run.trigger);
  hub.finish(finished);
  return finished;
}

/** `executeRun` with the lease kept alive; an error ends it FAILED or CANCELLED, a simulated crash stops it dead. */
async function runKeepingLease(
  d: RunnerDeps,
  run: { flags: SyncFlags; counts: SyncCounts; controller: AbortController },
  hub: SyncEventHub,
  requests: CountingStore,
): Promise<RunResult> {
  const keeper = keepLease({ ...d, runId: hub.runId, controller: run.controller });
  const faultPoints = d.faultPoints;
  try {
    return await executeRun({
      ...d,
      layout: new RegistryLayout(new RetryingStore(requests, d.retry)),
      requests,
      runId: hub.runId,
      flags: run.flags,
      hub,
      signal: run.controller.signal,
      counts: run.counts,
      ...(faultPoints && { faultPoints: crashAt(faultPoints) }),
    });
  } catch (e) {
    if (e instanceof SimulatedCrash) {
      // As after kill -9: no finish, no lease release; the next run takes over once the lease expires.
      keeper.stop();
      hub.abandon(e);
      throw e;
    }
    return failedResult(e, run.counts, hub);
  } finally {
    keeper.stop();
  }
}

/** A test's fault point that throws becomes a SimulatedCrash, which no layer of the run catches. */
const crashAt =
  (faultPoints: FaultPoints): FaultPoints =>
  async (point) => {
    try {
      await faultPoints(point);
    } catch (e) {
      throw new SimulatedCrash(point, { cause: e });
    }
  };

/**
 * The run's /sync/finished, or none for a run that changed nothing and nobody asked for: a dry
 * run, or a timer (or start-up) run that SUCCEEDED without a change — every replica's timer makes
 * one per namespace every EPOCH_SYNC_INTERVAL, and an event for each would bury the changes.
 */
function finishedEvent(namespaceId: number, hub: SyncEventHub, trigger: SyncTrigger, result: RunResult) {
  if (hub.dryRun) return undefined;
  const c = result.counts;
  const changed = c.tagsAdded + c.tagsUpdated + c.tagsRemoved + c.repositoriesAdded + c.repositoriesRemoved > 0;
  const automatic = trigger === "timer" || trigger === "start";
  if (automatic && result.state === "SUCCEEDED" && !changed) return undefined;
  return syncFinishedEvent(namespaceId, { runId: hub.runId, state: result.state, mode: hub.mode, counts: c });
}

/** Records the outcome (with its event) and releases the lease; neither failure changes what the caller is told. */
async function recordEnd(
  d: RunnerDeps,
  runId: number,
  result: RunResult,
  events: NewEvent[],
  releaseLease: boolean,
): Promise<void> {
  await d.runs
    .finish(runId, result, events)
    .catch((e: unknown) => logger.error({ err: e, runId }, "could not record the end of a sync run"));
  if (!releaseLease) return;
  await d.leases
    .release(d.lease, d.holder)
    .catch((e: unknown) => logger.warn({ err: e }, "could not release the sync lease"));
}

const DATABASE_DOWN =
  /^(ECONN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|PROTOCOL_|ER_CON_COUNT|ER_SERVER_SHUTDOWN|SQLITE_BUSY|SQLITE_LOCKED|SQLITE_CANTOPEN|SQLITE_IOERR|SQLITE_FULL)/;

/** A run that ended in an error: CANCELLED for cancellation and shutdown, FAILED otherwise. Messages never carry SQL. */
function failedResult(e: unknown, counts: SyncCounts, hub: SyncEventHub): RunResult {
  let reason: ErrorReason;
  let message: string;
  if (isEpochError(e)) {
    reason = e.reason;
    message = e.message;
  } else {
    const err = e as { code?: unknown; driverError?: { code?: unknown }; fatal?: unknown } | null;
    const code = String(err?.code ?? err?.driverError?.code ?? "");
    const down = DATABASE_DOWN.test(code) || err?.fatal === true;
    reason = down ? "DATABASE_UNAVAILABLE" : "INTERNAL";
    message = down ? "the database became unavailable during the sync" : "internal error during the sync";
    if (!down) logger.error({ err: e, runId: hub.runId }, "sync failed with an unexpected error");
  }
  const state = isEpochError(e) && e.kind === "cancelled" ? "CANCELLED" : "FAILED";
  return { state, counts, failures: hub.failures, errorReason: reason, message };
}
