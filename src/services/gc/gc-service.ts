/**
 * Garbage collection of one namespace as a service (DESIGN §8.5): single flight across replicas
 * through the namespace's sync lease (sync and GC never overlap), joining on this server,
 * cancellation, status, shutdown. A run belongs to the server, not to the call that started it.
 */
import type { Database } from "../../db/data-source.js";
import { dueCount } from "../../db/gc/gc-queue-reads.js";
import { GcRunStore, type GcRunRecord } from "../../db/gc/gc-run-store.js";
import { Leases } from "../../db/leases.js";
import { aborted, cancelled, failedPrecondition, invalidArgument, notFound, unavailable } from "../../errors.js";
import type { ObjectStore } from "../../storage/object-store.js";
import type { RetryOptions } from "../../storage/retrying-store.js";
import { settleActiveRun } from "../runs/active-run.js";
import { collectorHolder, isCollectorHolder, syncLeaseName } from "../sync/sync-commit.js";
import type { SyncService } from "../sync/sync-service.js";
import type { GcEventHub } from "./gc-events.js";
import { leaseHolds, type GcHolds } from "./gc-holds.js";
import { beginGcRun, driveGcRun, type ActiveGc, type GcRunnerDeps } from "./gc-runner.js";
import {
  sameGcFlags,
  zeroGcCounts,
  type GcEvent,
  type GcFaultPoints,
  type GcFinished,
  type GcFlags,
  type GcTrigger,
} from "./gc-types.js";

/** The longest grace period a caller may ask for (ten years, as a token's ttl). */
const MAX_GRACE_MS = 10 * 366 * 24 * 3_600_000;

export interface GcServiceOptions {
  db: Database;
  namespaceId: number;
  /** The namespace's sync: the run syncs first, under the same lease, as this service's holder. */
  sync: SyncService;
  /** The registry root without retries: each run counts every request, then retries above the count. */
  store: ObjectStore;
  retry?: RetryOptions;
  /** EPOCH_GC_GRACE: the grace period when a call names none. */
  defaultGracePeriodMs: number;
  /** The namespace lease's TTL (EPOCH_SYNC_LEASE_TTL); renewed every third of it unless set. */
  leaseTtlMs?: number;
  renewIntervalMs?: number;
  cancelPollMs?: number;
  /** HEADs and listings in flight at once (EPOCH_SYNC_CONCURRENCY). */
  concurrency?: number;
  /** Test seam: leases and uploads as the collector sees them. */
  holds?: (gracePeriodMs: number) => GcHolds;
  faultPoints?: GcFaultPoints;
  /** Called once per run this replica finished (not after a simulated crash): the metrics. */
  onRunFinished?: (finished: GcFinished) => void;
}

export interface GcRequest {
  dryRun: boolean;
  full: boolean;
  /** Undefined: the server's default. */
  gracePeriodMs?: number;
}

export interface GcTicket {
  runId: number;
  joined: boolean;
  /** `started`, then live events through `finished`; aborting `signal` only detaches. */
  events(signal?: AbortSignal): AsyncGenerator<GcEvent>;
  done: Promise<GcFinished>;
}

export interface GcStatus {
  current?: GcRunRecord;
  last?: GcRunRecord;
}

interface LocalRun extends ActiveGc {
  ready: Promise<GcEventHub>;
  done: Promise<GcFinished>;
  hub?: GcEventHub;
}

export class GcService {
  readonly holder: string;
  private readonly leases: Leases;
  private readonly runs: GcRunStore;
  private readonly deps: GcRunnerDeps;
  private active: LocalRun | undefined;
  private stopping = false;

  constructor(private readonly o: GcServiceOptions) {
    this.holder = collectorHolder(o.sync.holder);
    this.leases = new Leases(o.db);
    this.runs = new GcRunStore(o.db, o.namespaceId);
    const scope = { dialect: o.db.dialect, namespaceId: o.namespaceId };
    const ttlMs = o.leaseTtlMs ?? 30_000;
    this.deps = {
      db: o.db,
      scope,
      runs: this.runs,
      leases: this.leases,
      lease: syncLeaseName({ id: o.namespaceId, name: o.sync.namespace }),
      holder: this.holder,
      store: o.store,
      ...(o.retry && { retry: o.retry }),
      sync: o.sync,
      holds: o.holds ?? ((grace) => leaseHolds(o.db, scope, grace)),
      concurrency: o.concurrency ?? 16,
      ttlMs,
      renewIntervalMs: o.renewIntervalMs ?? Math.max(1, Math.floor(ttlMs / 3)),
      cancelPollMs: o.cancelPollMs ?? 1_000,
      ...(o.faultPoints && { faultPoints: o.faultPoints }),
    };
  }

  get namespace(): string {
    return this.o.sync.namespace;
  }

  /** Starts a run, or joins the one going on this server when the flags match. */
  async start(request: GcRequest, trigger: GcTrigger): Promise<GcTicket> {
    if (this.stopping) throw unavailable("the server is shutting down", "SHUTTING_DOWN");
    const flags = this.flagsOf(request);
    const active = this.active;
    if (active) {
      if (!sameGcFlags(active.flags, flags))
        throw aborted(
          "a garbage collection with other dry_run/full/grace_period is running on this server",
          "GC_IN_PROGRESS",
        );
      return ticket(await active.ready, active, true);
    }
    const run = this.launch(flags, trigger);
    return ticket(await run.ready, run, false);
  }

  async cancel(runId: number): Promise<void> {
    const answer = await this.runs.requestCancel(runId);
    if (answer === "not_found") throw notFound(`garbage collection run ${runId} not found`, "GC_RUN_NOT_FOUND");
    if (answer === "finished")
      throw failedPrecondition(`garbage collection run ${runId} has already finished`, "SYNC_FINISHED");
    const local = this.active;
    if (local?.hub?.runId === runId)
      local.controller.abort(cancelled("cancelled (CancelGarbageCollection)", "CANCELLED"));
  }

  async status(): Promise<GcStatus> {
    const lease = await this.leases.read(this.deps.lease);
    const live = lease !== null && isCollectorHolder(lease.holder) && !lease.expired;
    const status = await this.runs.status(live);
    const local = this.active;
    if (status.current && local?.hub?.runId === status.current.runId)
      status.current = { ...status.current, counts: { ...local.counts } };
    return status;
  }

  /** True when no applied run started within `intervalMs` (judged from the runs table, for every replica). */
  due(intervalMs: number): Promise<boolean> {
    return this.runs.due(intervalMs);
  }

  /** Review-queue rows due under the default grace period (the scheduler's trigger, the depth metric). */
  dueItems(): Promise<number> {
    return dueCount(this.o.db, this.deps.scope, this.o.defaultGracePeriodMs);
  }

  /** Shutdown: stops taking candidates, deletes what is marked, ends CANCELLED (SHUTTING_DOWN). */
  async shutdown(): Promise<void> {
    this.stopping = true;
    const run = this.active;
    if (!run) return;
    run.controller.abort(cancelled("the server is shutting down", "SHUTTING_DOWN"));
    await run.done.catch(() => undefined);
  }

  private flagsOf(r: GcRequest): GcFlags {
    const grace = r.gracePeriodMs ?? this.o.defaultGracePeriodMs;
    if (!Number.isFinite(grace) || grace < 0 || grace > MAX_GRACE_MS)
      throw invalidArgument("grace_period must be between 0 and 10 years");
    return { dryRun: r.dryRun, full: r.full, gracePeriodMs: Math.floor(grace) };
  }

  private launch(flags: GcFlags, trigger: GcTrigger): LocalRun {
    const controller = new AbortController();
    const ready = beginGcRun(this.deps, flags, trigger);
    const run: LocalRun = {
      flags,
      counts: zeroGcCounts(),
      controller,
      ready,
      done: ready.then((hub) => {
        run.hub = hub;
        return driveGcRun(this.deps, run, hub);
      }),
    };
    this.active = run;
    settleActiveRun(
      run.done,
      () => {
        if (this.active === run) this.active = undefined;
      },
      this.o.onRunFinished,
      "GC",
    );
    return run;
  }
}

function ticket(hub: GcEventHub, run: LocalRun, joined: boolean): GcTicket {
  return { runId: hub.runId, joined, events: (signal) => hub.subscribe(joined, signal), done: run.done };
}
