/** The vocabulary of a catalog sync run, shared by its parts (no gRPC types: grpc/ converts). */
import type { ErrorReason } from "../../errors.js";
import type { SyncCounts, SyncFlags, SyncMode, SyncState, TagFailure } from "../../db/sync-runs/sync-run-types.js";

export {
  modeOf,
  zeroCounts,
  type SyncCounts,
  type SyncFlags,
  type SyncMode,
  type SyncState,
  type SyncTrigger,
  type TagFailure,
} from "../../db/sync-runs/sync-run-types.js";

export type SyncPhase = "CATALOG" | "PLAN" | "FETCH" | "COMMIT" | "CLEANUP";

export interface SyncFinished {
  runId: number;
  state: Exclude<SyncState, "RUNNING">;
  counts: SyncCounts;
  durationMs: number;
  /** Set when the run FAILED or was CANCELLED. */
  errorReason?: ErrorReason;
  message: string;
}

export type SyncEvent =
  | { type: "started"; runId: number; mode: SyncMode; dryRun: boolean; joined: boolean }
  | { type: "progress"; phase: SyncPhase; done: number; total: number }
  | { type: "failure"; failure: TagFailure }
  | { type: "finished"; finished: SyncFinished };

export const sameFlags = (a: SyncFlags, b: SyncFlags): boolean =>
  a.full === b.full && a.dryRun === b.dryRun && a.allowMassRemoval === b.allowMassRemoval;

/** Test-only crash points: a hook that throws there stops the run as `kill -9` would. */
export type FaultPoint =
  | "lease-taken"
  | "after-catalog"
  | "after-fetch"
  | "after-first-commit-batch"
  | "during-deletions"
  | "before-aggregates"
  | "before-stats";
export type FaultPoints = (point: FaultPoint) => void | Promise<void>;

/** Thrown out of a run by a test fault point: the run stops dead (no finish, no lease release), as after `kill -9`. */
export class SimulatedCrash extends Error {
  constructor(
    readonly point: FaultPoint,
    options?: { cause?: unknown },
  ) {
    super(`simulated crash at ${point}`, options);
    this.name = "SimulatedCrash";
  }
}
