/** The vocabulary of a catalog sync run, shared by its parts (no gRPC types: grpc/ converts). */
import type { ErrorReason } from "../../errors.js";

export interface SyncFlags {
  /** Ignore every incremental shortcut (catalog ETag, repository updatedAt, manifest ETags). */
  full: boolean;
  /** Compute and stream the plan and counts; write nothing to the index. */
  dryRun: boolean;
  /** Allow a plan that removes more than half of the indexed tags (and more than 100). */
  allowMassRemoval: boolean;
}

export type SyncTrigger = "api" | "timer" | "start" | "cli";
export type SyncMode = "INCREMENTAL" | "FULL";
export type SyncPhase = "CATALOG" | "PLAN" | "FETCH" | "COMMIT" | "CLEANUP";
export type SyncState = "RUNNING" | "SUCCEEDED" | "DEGRADED" | "CANCELLED" | "FAILED";

/** DESIGN §4: added/updated/unchanged partition the catalog tags that have a row after the run. */
export interface SyncCounts {
  repositoriesAdded: number;
  repositoriesRemoved: number;
  tagsAdded: number;
  tagsUpdated: number;
  tagsUnchanged: number;
  tagsRemoved: number;
  /** Failure events (an incomplete tag is also added/updated/unchanged). */
  tagsFailed: number;
  /** Every object-store request of the run, retries and 304s included. */
  objectStoreRequests: number;
}

export const zeroCounts = (): SyncCounts => ({
  repositoriesAdded: 0,
  repositoriesRemoved: 0,
  tagsAdded: 0,
  tagsUpdated: 0,
  tagsUnchanged: 0,
  tagsRemoved: 0,
  tagsFailed: 0,
  objectStoreRequests: 0,
});

export interface TagFailure {
  repository: string;
  tag: string;
  reason: ErrorReason;
  message: string;
}

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

export const modeOf = (flags: SyncFlags): SyncMode => (flags.full ? "FULL" : "INCREMENTAL");

export const sameFlags = (a: SyncFlags, b: SyncFlags): boolean =>
  a.full === b.full && a.dryRun === b.dryRun && a.allowMassRemoval === b.allowMassRemoval;

/** Test-only crash points: a hook that throws there stops the run as `kill -9` would. */
export type FaultPoint =
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
