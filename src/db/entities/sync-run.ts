import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

export interface SyncFailureJson {
  repository: string;
  tag: string;
  reason: string;
  message: string;
}

/** A persisted catalog-sync run (GetSyncStatus reads these). */
export interface SyncRunRow {
  id: number;
  namespaceId: number;
  state: string;
  mode: string;
  trigger: string;
  dryRun: boolean;
  allowMassRemoval: boolean;
  holder: string;
  startedAt: Date;
  finishedAt: Date | null;
  counters: Record<string, number> | null;
  /** The first 1000 failures; failureCount has them all. */
  failures: SyncFailureJson[] | null;
  failureCount: number;
  cancelRequested: boolean;
  catalogEtag: string | null;
  catalogSha256: string | null;
  errorReason: string;
  message: string;
}

export const syncRunEntity = (t: ColumnTypes) =>
  defineEntity<SyncRunRow>("SyncRun", "sync_runs", {
    columns: {
      id: ["id", t.id()],
      namespaceId: ["namespace_id", t.ref()],
      state: ["state", t.string(16)],
      mode: ["mode", t.string(16)],
      trigger: ["trigger", t.string(16)],
      dryRun: ["dry_run", t.bool()],
      allowMassRemoval: ["allow_mass_removal", t.bool()],
      holder: ["holder", t.string(255, false, "")],
      startedAt: ["started_at", t.time()],
      finishedAt: ["finished_at", t.time(true)],
      counters: ["counters", t.json()],
      failures: ["failures", t.json()],
      failureCount: ["failure_count", t.int()],
      cancelRequested: ["cancel_requested", t.bool()],
      catalogEtag: ["catalog_etag", t.string(255, true)],
      catalogSha256: ["catalog_sha256", t.key(64, true)],
      errorReason: ["error_reason", t.string(64, false, "")],
      message: ["message", t.string(1024, false, "")],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_sync_runs_namespace", "NO ACTION") },
    indices: [{ name: "ix_sync_runs_namespace_id", columns: ["namespaceId", "id"] }],
  });
