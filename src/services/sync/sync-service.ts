/**
 * The catalog sync as a service: single flight across replicas through the fenced `sync` lease,
 * joining on this server, cancellation, status, shutdown. A run belongs to the server, not to
 * the call that started it: callers subscribe to its events and may leave at any time.
 */
import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import type { Database } from "../../db/data-source.js";
import { DEFAULT_NAMESPACE } from "../../db/entities/index.js";
import { Leases } from "../../db/leases.js";
import { namespaceIdOf } from "../../db/queries/namespaces.js";
import { aborted, cancelled, failedPrecondition, notFound, unavailable } from "../../errors.js";
import type { ObjectStore } from "../../storage/object-store.js";
import type { RetryOptions } from "../../storage/retrying-store.js";
import { settleActiveRun } from "../runs/active-run.js";
import { COMMIT_BATCH, syncLeaseName } from "./sync-commit.js";
import type { SyncEventHub } from "./sync-events.js";
import { PERSISTED_FAILURES, SyncRunStore, type SyncRunRecord } from "../../db/sync-runs/sync-run-store.js";
import { beginRun, driveRun, type RunnerDeps } from "./sync-runner.js";
import {
  sameFlags,
  zeroCounts,
  type FaultPoints,
  type SyncCounts,
  type SyncEvent,
  type SyncFinished,
  type SyncFlags,
  type SyncTrigger,
} from "./sync-types.js";

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
  /** The namespace's id when known already (no lookup). */
  namespaceId?: number;
  /** Tags per commit transaction (default and maximum 1000; tests use small batches). */
  commitBatchSize?: number;
  /** Test-only crash points (see FaultPoint). */
  faultPoints?: FaultPoints;
  /**
   * Benchmark seam: false commits runs without writing their events (the "events off" reference
   * of bench/sync-events.ts). The server never sets it: a change without its event is a gap for
   * every consumer.
   */
  writeEvents?: boolean;
  /** Called once per run this replica finished (not after a simulated crash): the metrics. */
  onRunFinished?: (finished: SyncFinished) => void;
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
  trigger: SyncTrigger;
  /** Set once the run has its lease and id. */
  hub?: SyncEventHub;
  controller: AbortController;
  counts: SyncCounts;
  ready: Promise<SyncEventHub>;
  done: Promise<SyncFinished>;
}

export class SyncService {
  readonly holder: string;
  /** The namespace this service syncs (its registry root is `store`). */
  readonly namespace: string;
  private readonly leases: Leases;
  private readonly ttlMs: number;
  private active: ActiveRun | undefined;
  private stopping = false;
  private context: Promise<RunnerDeps> | undefined;

  constructor(private readonly o: SyncServiceOptions) {
    this.namespace = o.namespace ?? DEFAULT_NAMESPACE;
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
        const runId = await active.ready.then(
          (hub) => hub.runId,
          () => undefined,
        );
        throw aborted(
          `a sync (run ${runId ?? "?"}) with different full/dry_run/allow_mass_removal flags is running on this server`,
          "SYNC_IN_PROGRESS",
        );
      }
      return ticket(await active.ready, active, true);
    }
    const run = this.launch(flags, trigger);
    return ticket(await run.ready, run, false);
  }

  /**
   * The incremental sync a garbage collection runs before it marks (DESIGN §8.5), under the
   * namespace lease the collector already holds as `holder`; the lease stays the collector's.
   * `signal` (the collection's) stops it like a cancel. A recorded run with trigger "gc".
   */
  async syncForCollector(holder: string, signal: AbortSignal): Promise<SyncFinished> {
    if (this.stopping) throw unavailable("the server is shutting down", "SHUTTING_DOWN");
    const deps = { ...(await this.ctx()), holder };
    const flags = { full: false, dryRun: false, allowMassRemoval: false };
    const hub = await beginRun(deps, flags, "gc");
    const run = { flags, trigger: "gc" as const, counts: zeroCounts(), controller: new AbortController() };
    const stop = () => run.controller.abort(signal.reason);
    if (signal.aborted) stop();
    signal.addEventListener("abort", stop);
    try {
      const finished = await driveRun(deps, run, hub, false);
      this.o.onRunFinished?.(finished);
      return finished;
    } finally {
      signal.removeEventListener("abort", stop);
    }
  }

  /** CancelSync: works for a run on any replica (its owner polls the flag). */
  async cancel(runId: number): Promise<void> {
    const { runs } = await this.ctx();
    const answer = await runs.requestCancel(runId);
    if (answer === "not_found") throw notFound(`sync run ${runId} not found`, "SYNC_RUN_NOT_FOUND");
    if (answer === "finished") throw failedPrecondition(`sync run ${runId} has already finished`, "SYNC_FINISHED");
    if (answer === "committing")
      throw failedPrecondition(
        `sync run ${runId} is already writing the index; it cannot be cancelled`,
        "SYNC_COMMITTING",
      );
    const local = this.active;
    if (
      local &&
      (await local.ready.then(
        (h) => h.runId,
        () => undefined,
      )) === runId
    ) {
      local.controller.abort(
        cancelled("cancelled (CancelSync) before the commit phase: nothing was written", "CANCELLED"),
      );
    }
  }

  /** True when no successful full run started within `intervalMs` (the first run of a registry counts as one). */
  async fullSyncDue(intervalMs: number): Promise<boolean> {
    const { runs } = await this.ctx();
    return runs.fullSyncDue(intervalMs);
  }

  async status(): Promise<SyncStatus> {
    const { runs, lease: leaseName } = await this.ctx();
    const lease = await this.leases.read(leaseName);
    const activeId = lease && lease.holder !== "" && !lease.expired ? lease.value : undefined;
    const status = await runs.status(activeId);
    const local = this.active;
    const hub = local?.hub;
    if (status.current && local && hub && hub.runId === status.current.runId) {
      // This replica owns it: live numbers rather than the last persisted ones.
      status.current = {
        ...status.current,
        counts: { ...local.counts, tagsFailed: hub.failures.length },
        failures: hub.failures.slice(0, PERSISTED_FAILURES),
        failureCount: hub.failures.length,
      };
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

  /** What every run needs; the namespace id is looked up once (ids never change). */
  private ctx(): Promise<RunnerDeps> {
    this.context ??= (async (): Promise<RunnerDeps> => {
      const o = this.o;
      const name = this.namespace;
      const namespaceId = o.namespaceId ?? (await namespaceIdOf(o.db, name));
      if (namespaceId === undefined)
        throw failedPrecondition(
          `namespace ${JSON.stringify(name)} does not exist: run migrations`,
          "DATABASE_NOT_MIGRATED",
        );
      return {
        db: o.db,
        scope: { dialect: o.db.dialect, namespaceId },
        runs: new SyncRunStore(o.db, namespaceId),
        leases: this.leases,
        lease: syncLeaseName({ id: namespaceId, name }),
        holder: this.holder,
        store: o.store,
        ...(o.retry && { retry: o.retry }),
        concurrency: o.concurrency ?? 16,
        batchSize: Math.min(COMMIT_BATCH, Math.max(1, o.commitBatchSize ?? COMMIT_BATCH)),
        ttlMs: this.ttlMs,
        renewIntervalMs: o.renewIntervalMs ?? Math.max(1, Math.floor(this.ttlMs / 3)),
        cancelPollMs: o.cancelPollMs ?? 1_000,
        ...(o.faultPoints && { faultPoints: o.faultPoints }),
        ...(o.writeEvents === false && { writeEvents: false }),
      };
    })().catch((e: unknown) => {
      this.context = undefined;
      throw e;
    });
    return this.context;
  }

  private launch(flags: SyncFlags, trigger: SyncTrigger): ActiveRun {
    const controller = new AbortController();
    const counts = zeroCounts();
    const ready = this.ctx().then((deps) => beginRun(deps, flags, trigger));
    const run: ActiveRun = {
      flags,
      trigger,
      controller,
      counts,
      ready,
      done: ready.then(async (hub) => {
        run.hub = hub;
        return driveRun(await this.ctx(), run, hub);
      }),
    };
    this.active = run;
    settleActiveRun(
      run.done,
      () => {
        if (this.active === run) this.active = undefined;
      },
      this.o.onRunFinished,
      "sync",
    );
    return run;
  }
}

function ticket(hub: SyncEventHub, run: ActiveRun, joined: boolean): SyncTicket {
  return { runId: hub.runId, joined, events: (signal) => hub.subscribe(joined, signal), done: run.done };
}
