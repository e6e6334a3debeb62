import type { ColumnTypes } from "../column-types.js";
import { defineEntity, manyToOne } from "./define.js";

/**
 * The garbage collector's review queue (DESIGN §8.5): an object that may have become garbage,
 * written in the same transaction as the change that may have orphaned it (a blob whose ref
 * count fell to zero, a manifest a tag left), so an online run reads what changed instead of
 * scanning the registry. The row then records the object's fate: `pending` (a candidate once the
 * grace period has passed), `deleting` (its index rows are gone, its object is being deleted),
 * `deleted` (its object is gone). The last two make IndexTag refuse a manifest that needs it
 * (BLOB_UNKNOWN) until the object is pushed again.
 */
export interface GcReviewRow {
  namespaceId: number;
  /** "blob" | "manifest" | "upload". */
  kind: string;
  /** The repository whose `_digests/` holds a manifest; "" for blobs and uploads. */
  repository: string;
  /** `sha256:<hex>`, or an upload id. */
  digest: string;
  /** When it became unreferenced (database clock); later changes move it while it is pending. */
  unreferencedAt: Date;
  state: string;
  /** The GC run that marked it (0 while pending). */
  runId: number;
  /** The object's size once a run has seen it (the bytes its deletion frees); 0 before. */
  size: number;
  /** When it entered its current state (database clock). */
  changedAt: Date;
}

export const gcReviewEntity = (t: ColumnTypes) =>
  defineEntity<GcReviewRow>("GcReview", "gc_review_queue", {
    columns: {
      namespaceId: ["namespace_id", { ...t.ref(), primary: true }],
      kind: ["kind", { ...t.key(16), primary: true }],
      repository: ["repository", { ...t.key(255), primary: true }],
      digest: ["digest", { ...t.key(128), primary: true }],
      unreferencedAt: ["unreferenced_at", t.time()],
      state: ["state", t.key(16)],
      runId: ["run_id", t.bigint()],
      size: ["size", t.bigint()],
      changedAt: ["changed_at", t.time()],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_gc_review_queue_namespace", "NO ACTION") },
    indices: [{ name: "ix_gc_review_queue_state", columns: ["namespaceId", "state", "unreferencedAt"] }],
  });

/** A persisted garbage-collection run (GetGarbageCollectionStatus reads these), like `sync_runs`. */
export interface GcRunRow {
  id: number;
  namespaceId: number;
  state: string;
  trigger: string;
  dryRun: boolean;
  full: boolean;
  gracePeriodMs: number;
  holder: string;
  startedAt: Date;
  finishedAt: Date | null;
  /** The incremental sync the run performed first (0 before it ran). */
  syncRunId: number;
  counters: Record<string, number> | null;
  cancelRequested: boolean;
  errorReason: string;
  message: string;
}

export const gcRunEntity = (t: ColumnTypes) =>
  defineEntity<GcRunRow>("GcRun", "gc_runs", {
    columns: {
      id: ["id", t.id()],
      namespaceId: ["namespace_id", t.ref()],
      state: ["state", t.string(16)],
      trigger: ["trigger", t.string(16)],
      dryRun: ["dry_run", t.bool()],
      full: ["full", t.bool()],
      gracePeriodMs: ["grace_period_ms", t.bigint()],
      holder: ["holder", t.string(255, false, "")],
      startedAt: ["started_at", t.time()],
      finishedAt: ["finished_at", t.time(true)],
      syncRunId: ["sync_run_id", t.bigint()],
      counters: ["counters", t.json()],
      cancelRequested: ["cancel_requested", t.bool()],
      errorReason: ["error_reason", t.string(64, false, "")],
      message: ["message", t.string(1024, false, "")],
    },
    relations: { namespace: manyToOne("Namespace", "namespace_id", "fk_gc_runs_namespace", "NO ACTION") },
    indices: [{ name: "ix_gc_runs_namespace_id", columns: ["namespaceId", "id"] }],
  });
