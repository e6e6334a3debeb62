/**
 * The catalog sync as a service: single flight across replicas through the fenced `sync` lease,
 * joining on this server, cancellation, status, shutdown. A run belongs to the server, not to
 * the call that started it: callers subscribe to its events and may leave at any time.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Database } from "../db/data-source.js";
import { DEFAULT_NAMESPACE } from "../db/entities/index.js";
import { execute } from "../db/execute.js";
import { Leases } from "../db/leases.js";
import { namespaceIdOf } from "../db/queries/namespaces.js";
import { aborted, cancelled, failedPrecondition, isEpochError, notFound, unavailable, type ErrorReason } from "../errors.js";
import { logger } from "../logger.js";
import { CountingStore } from "../storage/counting-store.js";
import type { ObjectStore } from "../storage/object-store.js";
import { RegistryLayout } from "../storage/registry-layout.js";
import { RetryingStore, type RetryOptions } from "../storage/retrying-store.js";
import { executeRun } from "./catalog-sync.js";
import { COMMIT_BATCH, SYNC_LEASE } from "./sync-commit.js";
import { SyncEventHub } from "./sync-events.js";
import { keepLease } from "./sync-lease-keeper.js";
import { PERSISTED_FAILURES, SyncRunStore, type RunResult, type SyncRunRecord } from "./sync-run-store.js";
import {
  modeOf,
  sameFlags,
  SimulatedCrash,
  zeroCounts,
  type FaultPoints,
  type SyncCounts,
  type SyncEvent,
  type SyncFinished,
  type SyncFlags,
  type SyncTrigger,
} from "./sync-types.js";
import type { IndexScope } from "./tag-indexer.js";

export interface SyncServiceOptions {
  db: Database;
  /** The store without retries: each run counts every request on it, then retries above the count. */
  store: ObjectStore;
  retry?: RetryOptions;
  /** EPOCH_SYNC_CONCURRENCY (default 16). */
  concurrency?: number;
  /** EPOCH_SYNC_LEASE_TTL (default 30 s); renewed every third of it unless set. */
  leaseTtlMs?: number;
  renewIntervalMs?: number;
  /** How often the owner looks for a CancelSync from another replica (default 1 s). */
  cancelPollMs?: number;
  /** This replica's name in the lease row (default host:pid:random). */
  holder?: string;
  namespace?: string;
  /** Tags per commit transaction (default and maximum 1000; tests use small batches). */
  commitBatchSize?: number;
  /** Test-only crash points (see FaultPoint). */
  faultPoints?: FaultPoints;
}

export interface SyncTicket {
  runId: number;
  /** True when the call joined a run already going on this server. */
  joined: boolean;
  /** `started`, the failures so far, then live events through `finished`; aborting `signal` only detaches. */
  events(signal?: AbortSignal): AsyncGenerator<SyncEvent>;
  done: Promise<SyncFinished>;
}

export interface SyncStatus {
  current?: SyncRunRecord;
  last?: SyncRunRecord;
}

interface ActiveRun {
  flags: SyncFlags;
  /** Set once the run has its lease and id. */
  hub?: SyncEventHub;
  controller: AbortController;
  counts: SyncCounts;
  ready: Promise<SyncEventHub>;
  done: Promise<SyncFinished>;
}

export class SyncService {
  readonly holder: string;
  private readonly leases: Leases;
  private readonly ttlMs: number;
  private active: ActiveRun | undefined;
  private stopping = false;
  private context: Promise<{ scope: IndexScope; runs: SyncRunStore }> | undefined;

  constructor(private readonly o: SyncServiceOptions) {
    this.holder = o.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;
    this.leases = new Leases(o.db);
    this.ttlMs = o.leaseTtlMs ?? 30_000;
  }

  /**
   * Starts a run, or joins the one going on this server when the flags match. Refusals come
   * before anything starts: ABORTED SYNC_IN_PROGRESS (another replica, or other flags), UNAVAILABLE
   * SHUTTING_DOWN.
   */
  async start(flags: SyncFlags, trigger: SyncTrigger): Promise<SyncTicket> {
    if (this.stopping) throw unavailable("the server is shutting down", "SHUTTING_DOWN");
    const active = this.active;
    if (active) {
      if (!sameFlags(active.flags, flags)) {
        throw aborted("a sync with different full/dry_run/allow_mass_removal flags is running on this server", "SYNC_IN_PROGRESS");
      }
      return ticket(await active.ready, active, true);
    }
    const run = this.launch(flags, trigger);
    return ticket(await run.ready, run, false);
  }

  /** CancelSync: works for a run on any replica (its owner polls the flag). */
  async cancel(runId: number): Promise<void> {
    const { runs } = await this.ctx();
    const answer = await runs.requestCancel(runId);
    if (answer === "not_found") throw notFound(`sync run ${runId} not found`, "SYNC_RUN_NOT_FOUND");
    if (answer === "finished") throw failedPrecondition(`sync run ${runId} has already finished`, "SYNC_FINISHED");
    if (answer === "committing") throw failedPrecondition(`sync run ${runId} is already writing the index; it cannot be cancelled`, "SYNC_COMMITTING");
    const local = this.active;
    if (local && (await local.ready.then((h) => h.runId, () => undefined)) === runId) {
      local.controller.abort(cancelled("cancelled (CancelSync) before the commit phase: nothing was written", "CANCELLED"));
    }
  }

  /** True when no successful full run started within `intervalMs` (the first run of a registry counts as one). */
  async fullSyncDue(intervalMs: number): Promise<boolean> {
    const { runs } = await this.ctx();
    return runs.fullSyncDue(intervalMs);
  }

  async status(): Promise<SyncStatus> {
    const { runs } = await this.ctx();
    const lease = await this.leases.read(SYNC_LEASE);
    const activeId = lease && lease.holder !== "" && !lease.expired ? lease.value : undefined;
    const status = await runs.status(activeId);
    const local = this.active;
    const hub = local?.hub;
    if (status.current && local && hub && hub.runId === status.current.runId) {
      // This replica owns it: live numbers rather than the last persisted ones.
      status.current = { ...status.current, counts: { ...local.counts, tagsFailed: hub.failures.length }, failures: hub.failures.slice(0, PERSISTED_FAILURES), failureCount: hub.failures.length };
    }
    return status;
  }

  /** Shutdown: a run that has not started writing stops with no writes (CANCELLED, SHUTTING_DOWN); a committing one finishes. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const run = this.active;
    if (!run) return;
    run.controller.abort(cancelled("the server is shutting down; nothing was written", "SHUTTING_DOWN"));
    await run.done.catch(() => undefined);
  }

  private ctx(): Promise<{ scope: IndexScope; runs: SyncRunStore }> {
    this.context ??= (async () => {
      const name = this.o.namespace ?? DEFAULT_NAMESPACE;
      const namespaceId = await namespaceIdOf(this.o.db, name);
      if (namespaceId === undefined) throw failedPrecondition(`namespace ${JSON.stringify(name)} does not exist: run migrations`);
      return { scope: { dialect: this.o.db.dialect, namespaceId }, runs: new SyncRunStore(this.o.db, namespaceId) };
    })().catch((e: unknown) => {
      this.context = undefined;
      throw e;
    });
    return this.context;
  }

  private launch(flags: SyncFlags, trigger: SyncTrigger): ActiveRun {
    const controller = new AbortController();
    const counts = zeroCounts();
    const ready = this.begin(flags, trigger);
    const run: ActiveRun = {
      flags,
      controller,
      counts,
      ready,
      done: ready.then((hub) => {
        run.hub = hub;
        return this.drive(run, hub);
      }),
    };
    this.active = run;
    const clear = () => {
      if (this.active === run) this.active = undefined;
    };
    run.done.then(clear, clear);
    return run;
  }

  /** Takes the lease (or refuses), records the new run, marks an abandoned run FAILED. */
  private async begin(flags: SyncFlags, trigger: SyncTrigger): Promise<SyncEventHub> {
    const { runs } = await this.ctx();
    if (!(await this.leases.acquire(SYNC_LEASE, this.holder, this.ttlMs, 0))) {
      const lease = await this.leases.read(SYNC_LEASE);
      throw aborted(`a sync is running on another replica (run ${lease?.value ?? "?"})`, "SYNC_IN_PROGRESS");
    }
    let runId: number;
    try {
      runId = await runs.create(flags, trigger, this.holder);
      // The run id goes into the lease row: every commit fences on (holder, run id).
      await execute(this.o.db.ds, "UPDATE coordination SET value = ? WHERE name = ? AND holder = ?", [runId, SYNC_LEASE, this.holder]);
      const abandoned = await runs.failAbandoned(runId);
      if (abandoned > 0) logger.warn({ abandoned }, "marked sync runs of a replica that lost the lease as FAILED");
    } catch (e) {
      await this.leases.release(SYNC_LEASE, this.holder).catch(() => undefined);
      throw e;
    }
    logger.info({ runId, trigger, mode: modeOf(flags), dryRun: flags.dryRun }, "sync started");
    return new SyncEventHub(runId, modeOf(flags), flags.dryRun);
  }

  private async drive(run: ActiveRun, hub: SyncEventHub): Promise<SyncFinished> {
    const { scope, runs } = await this.ctx();
    const startedAt = Date.now();
    const requests = new CountingStore(this.o.store);
    const keeper = keepLease({
      db: this.o.db,
      leases: this.leases,
      runs,
      holder: this.holder,
      runId: hub.runId,
      ttlMs: this.ttlMs,
      renewIntervalMs: this.o.renewIntervalMs ?? Math.max(1, Math.floor(this.ttlMs / 3)),
      cancelPollMs: this.o.cancelPollMs ?? 1_000,
      controller: run.controller,
    });
    const faultPoints = this.o.faultPoints;
    let result: RunResult;
    try {
      result = await executeRun({
        db: this.o.db,
        scope,
        layout: new RegistryLayout(new RetryingStore(requests, this.o.retry)),
        requests,
        runs,
        leases: this.leases,
        holder: this.holder,
        runId: hub.runId,
        flags: run.flags,
        hub,
        signal: run.controller.signal,
        concurrency: this.o.concurrency ?? 16,
        batchSize: Math.min(COMMIT_BATCH, Math.max(1, this.o.commitBatchSize ?? COMMIT_BATCH)),
        counts: run.counts,
        ...(faultPoints && {
          faultPoints: async (point) => {
            try {
              await faultPoints(point);
            } catch (e) {
              throw new SimulatedCrash(point, { cause: e });
            }
          },
        }),
      });
    } catch (e) {
      if (e instanceof SimulatedCrash) {
        // As after kill -9: no finish, no lease release; the next run takes over once the lease expires.
        keeper.stop();
        hub.abandon(e);
        throw e;
      }
      result = failedResult(e, run.counts, hub);
    } finally {
      keeper.stop();
    }
    result.counts.objectStoreRequests = requests.total;
    result.counts.tagsFailed = hub.failures.length;
    await runs.finish(hub.runId, result).catch((e: unknown) => logger.error({ err: e, runId: hub.runId }, "could not record the end of a sync run"));
    await this.leases.release(SYNC_LEASE, this.holder).catch((e: unknown) => logger.warn({ err: e }, "could not release the sync lease"));
    const finished: SyncFinished = {
      runId: hub.runId,
      state: result.state,
      counts: { ...result.counts },
      durationMs: Date.now() - startedAt,
      ...(result.errorReason && { errorReason: result.errorReason }),
      message: result.message,
    };
    logger.info({ runId: hub.runId, state: finished.state, counts: finished.counts, durationMs: finished.durationMs, reason: finished.errorReason }, "sync finished");
    hub.finish(finished);
    return finished;
  }
}

function ticket(hub: SyncEventHub, run: ActiveRun, joined: boolean): SyncTicket {
  return { runId: hub.runId, joined, events: (signal) => hub.subscribe(joined, signal), done: run.done };
}

const DATABASE_DOWN = /^(ECONN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|PROTOCOL_|ER_CON_COUNT|ER_SERVER_SHUTDOWN|SQLITE_BUSY|SQLITE_LOCKED|SQLITE_CANTOPEN|SQLITE_IOERR|SQLITE_FULL)/;

/** A run that ended in an error: CANCELLED for cancellation and shutdown, FAILED otherwise. */
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
