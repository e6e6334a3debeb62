/** What a sync run records in `sync_runs`: its flags, mode, state, counters and failures. */
import type { ErrorReason } from "../../errors.js";

export interface SyncFlags {
  /** Ignore every incremental shortcut (catalog ETag, repository updatedAt, manifest ETags). */
  full: boolean;
  /** Compute and stream the plan and counts; write nothing to the index. */
  dryRun: boolean;
  /** Allow a plan that removes more than half of the indexed tags (and more than 100). */
  allowMassRemoval: boolean;
}

/** "gc": the incremental sync a garbage collection runs first, under its lease. */
export type SyncTrigger = "api" | "timer" | "start" | "cli" | "gc";
export type SyncMode = "INCREMENTAL" | "FULL";
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

export const modeOf = (flags: SyncFlags): SyncMode => (flags.full ? "FULL" : "INCREMENTAL");
