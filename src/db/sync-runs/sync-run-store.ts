/**
 * Persisted sync runs (`sync_runs`), so GetSyncStatus and CancelSync work from any replica and
 * a restart keeps the last applied catalog ETag. Besides the public states a run passes through
 * COMMITTING (reported as RUNNING): the conditional switch to it is what makes "cancel before
 * the commit phase, SYNC_COMMITTING after" race-free across replicas.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../data-source.js";
import { appendEvents, type NewEvent } from "../events/event-store.js";
import { writeTransaction } from "../write-transaction.js";
import { execute } from "../sql/execute.js";
import { toBool, toDate, toDateOrNull, toJson, toNumber, toTextOrNull } from "../sql/decode.js";
import { sqlNow } from "../sql/sql.js";
import type { ErrorReason } from "../../errors.js";
import { bool, forUpdate, placeholders } from "../sql/sql-params.js";
import {
  modeOf,
  zeroCounts,
  type SyncCounts,
  type SyncFlags,
  type SyncMode,
  type SyncState,
  type SyncTrigger,
  type TagFailure,
} from "./sync-run-types.js";

/** Failures kept with a run; `failure_count` has the total. */
export const PERSISTED_FAILURES = 1000;

export interface SyncRunRecord {
  runId: number;
  state: SyncState;
  mode: SyncMode;
  trigger: string;
  dryRun: boolean;
  allowMassRemoval: boolean;
  holder: string;
  startedAt: Date;
  finishedAt: Date | null;
  counts: SyncCounts;
  failures: TagFailure[];
  failureCount: number;
  errorReason?: ErrorReason;
  message: string;
}

export interface RunResult {
  state: Exclude<SyncState, "RUNNING">;
  counts: SyncCounts;
  failures: readonly TagFailure[];
  errorReason?: ErrorReason;
  message: string;
  /** The catalog this run applied (or found unchanged): the next run's If-None-Match. */
  catalog?: { etag: string; sha256: string | null };
}

/** A run that ended, as its /sync/finished event describes it. */
export interface EndedRun {
  runId: number;
  state: Exclude<SyncState, "RUNNING">;
  mode: SyncMode;
  counts: SyncCounts;
}

export type CancelAnswer = "requested" | "not_found" | "finished" | "committing";

const ACTIVE = "('RUNNING', 'COMMITTING')";
const COLUMNS =
  "id, state, mode, `trigger`, dry_run, allow_mass_removal, holder, started_at, finished_at, counters, failures, failure_count, error_reason, message";

export class SyncRunStore {
  constructor(
    private readonly db: Database,
    private readonly namespaceId: number,
  ) {}

  private get now(): string {
    return sqlNow(this.db.dialect);
  }

  async create(flags: SyncFlags, trigger: SyncTrigger, holder: string): Promise<number> {
    const runner = this.db.ds.createQueryRunner();
    try {
      const result = await runner.query(
        `INSERT INTO sync_runs (namespace_id, state, mode, \`trigger\`, dry_run, allow_mass_removal, holder, started_at, counters, failures, failure_count, cancel_requested, error_reason, message)
VALUES (?, 'RUNNING', ?, ?, ?, ?, ?, ${this.now}, ?, '[]', 0, 0, '', '')`,
        [
          this.namespaceId,
          modeOf(flags),
          trigger,
          bool(flags.dryRun),
          bool(flags.allowMassRemoval),
          holder,
          JSON.stringify(zeroCounts()),
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

  /**
   * After taking the lease: runs left RUNNING by a holder that lost it (crash, pause) are FAILED,
   * with the events `outbox` makes of them in the same transaction. Returns how many.
   */
  async failAbandoned(exceptRunId: number, outbox: (runs: EndedRun[]) => NewEvent[] = () => []): Promise<number> {
    const abandoned = `namespace_id = ? AND state IN ${ACTIVE} AND id <> ?`;
    // Nearly always none: one plain read, and a transaction only when there is something to end.
    const any: unknown[] = await this.db.ds.query(`SELECT id FROM sync_runs WHERE ${abandoned} LIMIT 1`, [
      this.namespaceId,
      exceptRunId,
    ]);
    if (any.length === 0) return 0;
    return writeTransaction(this.db, async (m) => {
      const rows: Array<Record<string, unknown>> = await m.query(
        `SELECT id, mode, counters FROM sync_runs WHERE ${abandoned}${forUpdate(this.db.dialect)}`,
        [this.namespaceId, exceptRunId],
      );
      if (rows.length === 0) return 0;
      const ids = rows.map((r) => toNumber(r.id));
      await execute(
        m,
        `UPDATE sync_runs SET state = 'FAILED', error_reason = 'LEASE_LOST', message = ?, finished_at = ${this.now}
WHERE id IN (${placeholders(ids.length)})`,
        ["the replica running it lost the sync lease (stopped or paused); another run took over", ...ids],
      );
      const ended = rows.map((r) => ({
        runId: toNumber(r.id),
        state: "FAILED" as const,
        mode: String(r.mode) as SyncMode,
        counts: { ...zeroCounts(), ...(toJson<Partial<SyncCounts>>(r.counters) ?? {}) },
      }));
      await appendEvents(m, this.db.dialect, outbox(ended));
      return ids.length;
    });
  }

  /** RUNNING → COMMITTING unless a cancel was requested first; false = cancelled (or taken over). */
  async enterCommit(runId: number): Promise<boolean> {
    const matched = await execute(
      this.db.ds,
      "UPDATE sync_runs SET state = 'COMMITTING' WHERE id = ? AND state = 'RUNNING' AND cancel_requested = 0",
      [runId],
    );
    return matched === 1;
  }

  async cancelRequested(runId: number): Promise<boolean> {
    const rows: Array<{ c: unknown }> = await this.db.ds.query(
      "SELECT cancel_requested AS c FROM sync_runs WHERE id = ?",
      [runId],
    );
    return toBool(rows[0]?.c);
  }

  async requestCancel(runId: number): Promise<CancelAnswer> {
    const matched = await execute(
      this.db.ds,
      "UPDATE sync_runs SET cancel_requested = 1 WHERE id = ? AND namespace_id = ? AND state = 'RUNNING'",
      [runId, this.namespaceId],
    );
    if (matched === 1) return "requested";
    const rows: Array<{ state: string }> = await this.db.ds.query(
      "SELECT state FROM sync_runs WHERE id = ? AND namespace_id = ?",
      [runId, this.namespaceId],
    );
    const state = rows[0]?.state;
    if (state === undefined) return "not_found";
    return state === "COMMITTING" ? "committing" : state === "RUNNING" ? "requested" : "finished";
  }

  /** Live counters for other replicas' GetSyncStatus (written at phase changes). */
  async saveProgress(runId: number, counts: SyncCounts, failures: readonly TagFailure[]): Promise<void> {
    await execute(
      this.db.ds,
      `UPDATE sync_runs SET counters = ?, failures = ?, failure_count = ? WHERE id = ? AND state IN ${ACTIVE}`,
      [JSON.stringify(counts), JSON.stringify(failures.slice(0, PERSISTED_FAILURES)), failures.length, runId],
    );
  }

  /**
   * Records the outcome, and in the same transaction `events` (its /sync/finished); a run another
   * replica already marked FAILED stays FAILED, and its events were written by that replica.
   */
  async finish(runId: number, r: RunResult, events: readonly NewEvent[] = []): Promise<void> {
    await writeTransaction(this.db, async (m) => {
      const matched = await this.recordOutcome(m, runId, r);
      if (matched === 1) await appendEvents(m, this.db.dialect, events);
    });
  }

  private recordOutcome(m: EntityManager, runId: number, r: RunResult): Promise<number> {
    return execute(
      m,
      `UPDATE sync_runs SET state = ?, finished_at = ${this.now}, counters = ?, failures = ?, failure_count = ?, error_reason = ?, message = ?,
  catalog_etag = ?, catalog_sha256 = ?
WHERE id = ? AND state IN ${ACTIVE}`,
      [
        r.state,
        JSON.stringify(r.counts),
        JSON.stringify(r.failures.slice(0, PERSISTED_FAILURES)),
        r.failures.length,
        r.errorReason ?? "",
        r.message.slice(0, 1024),
        r.catalog?.etag ?? null,
        r.catalog?.sha256 ?? null,
        runId,
      ],
    );
  }

  /**
   * The catalog the index last fully reflects (the latest applied, not dry, run's ETag and hash),
   * read together with the database clock: "now" is when this run reads the catalog.
   */
  async lastAppliedCatalog(): Promise<{ stored?: { etag: string; sha256: string | null }; now: unknown }> {
    const latest = `FROM sync_runs WHERE namespace_id = ? AND state IN ('SUCCEEDED', 'DEGRADED') AND dry_run = ? AND catalog_etag IS NOT NULL ORDER BY id DESC LIMIT 1`;
    const rows: Array<{ etag: string | null; sha: string | null; now: unknown }> = await this.db.ds.query(
      `SELECT (SELECT catalog_etag ${latest}) AS etag, (SELECT catalog_sha256 ${latest}) AS sha, ${this.now} AS now`,
      [this.namespaceId, bool(false), this.namespaceId, bool(false)],
    );
    const row = rows[0]!;
    if (row.etag === null || row.etag === undefined) return { now: row.now };
    return { stored: { etag: String(row.etag), sha256: toTextOrNull(row.sha) }, now: row.now };
  }

  async fullSyncDue(intervalMs: number): Promise<boolean> {
    const applied = "namespace_id = ? AND state IN ('SUCCEEDED', 'DEGRADED') AND dry_run = ?";
    const rows: Array<{ lastFull: unknown; first: unknown; now: unknown }> = await this.db.ds.query(
      `SELECT (SELECT MAX(started_at) FROM sync_runs WHERE ${applied} AND mode = 'FULL') AS lastFull,
  (SELECT MIN(started_at) FROM sync_runs WHERE ${applied}) AS first, ${this.now} AS now`,
      [this.namespaceId, bool(false), this.namespaceId, bool(false)],
    );
    const row = rows[0];
    // The registry's first applied run read every tag: it stands for a full run.
    const since = row?.lastFull ?? row?.first;
    if (since === null || since === undefined) return false;
    return toDate(row!.now).getTime() - toDate(since).getTime() >= intervalMs;
  }

  async get(runId: number): Promise<SyncRunRecord | undefined> {
    const rows: Array<Record<string, unknown>> = await this.db.ds.query(
      `SELECT ${COLUMNS} FROM sync_runs WHERE id = ? AND namespace_id = ?`,
      [runId, this.namespaceId],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** The newest active run (if its id is `activeRunId`) and the newest finished one. */
  async status(activeRunId: number | undefined): Promise<{ current?: SyncRunRecord; last?: SyncRunRecord }> {
    const [current] =
      activeRunId === undefined
        ? []
        : await this.db.ds.query(`SELECT ${COLUMNS} FROM sync_runs WHERE id = ? AND state IN ${ACTIVE}`, [activeRunId]);
    const [last] = await this.db.ds.query(
      `SELECT ${COLUMNS} FROM sync_runs WHERE namespace_id = ? AND state NOT IN ${ACTIVE} ORDER BY id DESC LIMIT 1`,
      [this.namespaceId],
    );
    return {
      ...(current && { current: toRecord(current as Record<string, unknown>) }),
      ...(last && { last: toRecord(last as Record<string, unknown>) }),
    };
  }
}

function toRecord(r: Record<string, unknown>): SyncRunRecord {
  const state = String(r.state);
  const reason = String(r.error_reason ?? "");
  return {
    runId: toNumber(r.id),
    state: (state === "COMMITTING" ? "RUNNING" : state) as SyncState,
    mode: String(r.mode) as SyncMode,
    trigger: String(r.trigger),
    dryRun: toBool(r.dry_run),
    allowMassRemoval: toBool(r.allow_mass_removal),
    holder: String(r.holder),
    startedAt: toDate(r.started_at),
    finishedAt: toDateOrNull(r.finished_at),
    counts: { ...zeroCounts(), ...(toJson<Partial<SyncCounts>>(r.counters) ?? {}) },
    failures: toJson<TagFailure[]>(r.failures) ?? [],
    failureCount: toNumber(r.failure_count),
    ...(reason !== "" && { errorReason: reason as ErrorReason }),
    message: String(r.message ?? ""),
  };
}
