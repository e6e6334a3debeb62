/**
 * Persisted garbage-collection runs (`gc_runs`), like sync_runs: GetGarbageCollectionStatus and
 * CancelGarbageCollection work from any replica, and the scheduler judges "is a run due" from
 * here, so N replicas do not run N collections per interval. The finishing write can carry more
 * statements of the same transaction (the `/gc/finished` event, the queue rows it deleted).
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../data-source.js";
import type { ErrorReason } from "../../errors.js";
import { toBool, toDate, toDateOrNull, toJson, toNumber } from "../sql/decode.js";
import { execute } from "../sql/execute.js";
import { sqlNow } from "../sql/sql.js";
import { bool } from "../sql/sql-params.js";
import type { SyncState } from "../sync-runs/sync-run-types.js";

export type GcState = SyncState;
export type GcTrigger = "api" | "cli" | "timer" | "queue";

export interface GcFlags {
  dryRun: boolean;
  /** Also inventory the registry root for objects the index never saw. */
  full: boolean;
  /** Candidates younger than this (by Last-Modified and by when they became unreferenced) stay. */
  gracePeriodMs: number;
}

export interface GcCounts {
  blobsDeleted: number;
  manifestsDeleted: number;
  uploadsDeleted: number;
  leasesDeleted: number;
  bytesFreed: number;
  /** Every object-store request of the run (its sync's included), retries too. */
  objectStoreRequests: number;
  /** Candidates re-checked: due queue rows, and inventory objects the index does not reference. */
  candidates: number;
  /** Objects whose delete failed; they stay `deleting` and the next run retries them. */
  deleteFailures: number;
}

export const zeroGcCounts = (): GcCounts => ({
  blobsDeleted: 0,
  manifestsDeleted: 0,
  uploadsDeleted: 0,
  leasesDeleted: 0,
  bytesFreed: 0,
  objectStoreRequests: 0,
  candidates: 0,
  deleteFailures: 0,
});

export interface GcRunRecord {
  runId: number;
  state: GcState;
  trigger: string;
  flags: GcFlags;
  holder: string;
  startedAt: Date;
  finishedAt: Date | null;
  syncRunId: number;
  counts: GcCounts;
  errorReason?: ErrorReason;
  message: string;
}

export interface GcRunResult {
  state: Exclude<GcState, "RUNNING">;
  counts: GcCounts;
  errorReason?: ErrorReason;
  message: string;
}

export type GcCancelAnswer = "requested" | "not_found" | "finished";

const COLUMNS =
  "id, state, `trigger`, dry_run, full, grace_period_ms, holder, started_at, finished_at, sync_run_id, counters, error_reason, message";

export class GcRunStore {
  constructor(
    private readonly db: Database,
    private readonly namespaceId: number,
  ) {}

  private get now(): string {
    return sqlNow(this.db.dialect);
  }

  async create(flags: GcFlags, trigger: GcTrigger, holder: string): Promise<number> {
    const runner = this.db.ds.createQueryRunner();
    try {
      const result = await runner.query(
        `INSERT INTO gc_runs (namespace_id, state, \`trigger\`, dry_run, full, grace_period_ms, holder, started_at, sync_run_id, counters, cancel_requested, error_reason, message)
VALUES (?, 'RUNNING', ?, ?, ?, ?, ?, ${this.now}, 0, ?, 0, '', '')`,
        [
          this.namespaceId,
          trigger,
          bool(flags.dryRun),
          bool(flags.full),
          flags.gracePeriodMs,
          holder,
          JSON.stringify(zeroGcCounts()),
        ],
        true,
      );
      // better-sqlite3 reports lastInsertRowid, mysql2 an OkPacket.
      const raw = result.raw as number | bigint | { insertId: number };
      return typeof raw === "object" ? Number(raw.insertId) : Number(raw);
    } finally {
      await runner.release();
    }
  }

  /** After taking the lease: runs left RUNNING by a holder that lost it (crash, pause) are FAILED. */
  async failAbandoned(exceptRunId: number): Promise<number> {
    return execute(
      this.db.ds,
      `UPDATE gc_runs SET state = 'FAILED', error_reason = 'LEASE_LOST', message = ?, finished_at = ${this.now}
WHERE namespace_id = ? AND state = 'RUNNING' AND id <> ?`,
      [
        "the replica running it lost the lease (stopped or paused); another run took over",
        this.namespaceId,
        exceptRunId,
      ],
    );
  }

  async setSyncRun(runId: number, syncRunId: number): Promise<void> {
    await execute(this.db.ds, "UPDATE gc_runs SET sync_run_id = ? WHERE id = ?", [syncRunId, runId]);
  }

  async cancelRequested(runId: number): Promise<boolean> {
    const rows: Array<{ c: unknown }> = await this.db.ds.query(
      "SELECT cancel_requested AS c FROM gc_runs WHERE id = ?",
      [runId],
    );
    return toBool(rows[0]?.c);
  }

  async requestCancel(runId: number): Promise<GcCancelAnswer> {
    const matched = await execute(
      this.db.ds,
      "UPDATE gc_runs SET cancel_requested = 1 WHERE id = ? AND namespace_id = ? AND state = 'RUNNING'",
      [runId, this.namespaceId],
    );
    if (matched === 1) return "requested";
    const rows: Array<{ state: string }> = await this.db.ds.query(
      "SELECT state FROM gc_runs WHERE id = ? AND namespace_id = ?",
      [runId, this.namespaceId],
    );
    const state = rows[0]?.state;
    return state === undefined ? "not_found" : state === "RUNNING" ? "requested" : "finished";
  }

  /** Live counters for other replicas' GetGarbageCollectionStatus. */
  async saveProgress(runId: number, counts: GcCounts): Promise<void> {
    await execute(this.db.ds, "UPDATE gc_runs SET counters = ? WHERE id = ? AND state = 'RUNNING'", [
      JSON.stringify(counts),
      runId,
    ]);
  }

  /** Records the outcome in the caller's transaction; a run another replica already marked FAILED stays FAILED. */
  async finish(m: EntityManager, runId: number, r: GcRunResult): Promise<boolean> {
    const matched = await execute(
      m,
      `UPDATE gc_runs SET state = ?, finished_at = ${this.now}, counters = ?, error_reason = ?, message = ?
WHERE id = ? AND state = 'RUNNING'`,
      [r.state, JSON.stringify(r.counts), r.errorReason ?? "", r.message.slice(0, 1024), runId],
    );
    return matched === 1;
  }

  /** True when no applied (not dry) run started within `intervalMs`; a namespace never collected is due. */
  async due(intervalMs: number): Promise<boolean> {
    const rows: Array<{ last: unknown; now: unknown }> = await this.db.ds.query(
      `SELECT (SELECT MAX(started_at) FROM gc_runs WHERE namespace_id = ? AND state IN ('SUCCEEDED', 'DEGRADED') AND dry_run = ?) AS last, ${this.now} AS now`,
      [this.namespaceId, bool(false)],
    );
    const row = rows[0];
    if (row?.last === null || row?.last === undefined) return true;
    return toDate(row.now).getTime() - toDate(row.last).getTime() >= intervalMs;
  }

  async get(runId: number): Promise<GcRunRecord | undefined> {
    const rows: Array<Record<string, unknown>> = await this.db.ds.query(
      `SELECT ${COLUMNS} FROM gc_runs WHERE id = ? AND namespace_id = ?`,
      [runId, this.namespaceId],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** The running run (when the lease says one is live; at most one is RUNNING) and the newest finished one. */
  async status(live: boolean): Promise<{ current?: GcRunRecord; last?: GcRunRecord }> {
    const [current] = live
      ? await this.db.ds.query(
          `SELECT ${COLUMNS} FROM gc_runs WHERE namespace_id = ? AND state = 'RUNNING' ORDER BY id DESC LIMIT 1`,
          [this.namespaceId],
        )
      : [];
    const [last] = await this.db.ds.query(
      `SELECT ${COLUMNS} FROM gc_runs WHERE namespace_id = ? AND state <> 'RUNNING' ORDER BY id DESC LIMIT 1`,
      [this.namespaceId],
    );
    return {
      ...(current && { current: toRecord(current as Record<string, unknown>) }),
      ...(last && { last: toRecord(last as Record<string, unknown>) }),
    };
  }
}

function toRecord(r: Record<string, unknown>): GcRunRecord {
  const reason = String(r.error_reason ?? "");
  return {
    runId: toNumber(r.id),
    state: String(r.state) as GcState,
    trigger: String(r.trigger),
    flags: { dryRun: toBool(r.dry_run), full: toBool(r.full), gracePeriodMs: toNumber(r.grace_period_ms) },
    holder: String(r.holder),
    startedAt: toDate(r.started_at),
    finishedAt: toDateOrNull(r.finished_at),
    syncRunId: toNumber(r.sync_run_id),
    counts: { ...zeroGcCounts(), ...(toJson<Partial<GcCounts>>(r.counters) ?? {}) },
    ...(reason !== "" && { errorReason: reason as ErrorReason }),
    message: String(r.message ?? ""),
  };
}
