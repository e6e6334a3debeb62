/** The vocabulary of a garbage-collection run, shared by its parts (no gRPC types: grpc/ converts). */
import type { ErrorReason } from "../../errors.js";
import type { GcCounts, GcFlags, GcState } from "../../db/gc/gc-run-store.js";

export { zeroGcCounts, type GcCounts, type GcFlags, type GcState, type GcTrigger } from "../../db/gc/gc-run-store.js";

export type GcPhase = "SYNC" | "INVENTORY" | "MARK" | "DELETE";
export type GcObjectKind = "BLOB" | "MANIFEST" | "UPLOAD" | "LEASE";

/** An object deleted (or, in a dry run, that would be). */
export interface GcDeletion {
  kind: GcObjectKind;
  /** The object key; an upload's staging prefix; "" for a lease. */
  key: string;
  /** `sha256:<hex>`, or the id of an upload or a lease. */
  digest: string;
  size: number;
}

export interface GcFinished {
  runId: number;
  state: Exclude<GcState, "RUNNING">;
  counts: GcCounts;
  durationMs: number;
  /** The incremental sync performed first (0 when the run ended before it). */
  syncRunId: number;
  dryRun: boolean;
  errorReason?: ErrorReason;
  message: string;
}

export type GcEvent =
  | { type: "started"; runId: number; flags: GcFlags; joined: boolean }
  | { type: "progress"; phase: GcPhase; done: number; total: number }
  | { type: "deletion"; deletion: GcDeletion }
  | { type: "finished"; finished: GcFinished };

export const sameGcFlags = (a: GcFlags, b: GcFlags): boolean =>
  a.dryRun === b.dryRun && a.full === b.full && a.gracePeriodMs === b.gracePeriodMs;

/** Test-only crash points: a hook that throws there stops the run as `kill -9` would. */
export type GcFaultPoint =
  | "lease-taken"
  | "after-sync"
  /** Index committed (rows `deleting`), objects not yet deleted. */
  | "after-mark"
  | "after-delete-batch"
  | "before-finish";
export type GcFaultPoints = (point: GcFaultPoint) => void | Promise<void>;

/** Thrown out of a run by a test fault point: no finish, no lease release, as after `kill -9`. */
export class SimulatedGcCrash extends Error {
  constructor(
    readonly point: GcFaultPoint,
    options?: { cause?: unknown },
  ) {
    super(`simulated crash at ${point}`, options);
    this.name = "SimulatedGcCrash";
  }
}
