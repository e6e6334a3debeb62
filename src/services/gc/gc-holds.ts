/**
 * The collector's view of leases and uploads (DESIGN §8.3, §8.4) — everything it needs from
 * db/content-leases/gc-roots.ts, behind one small interface so the marking can be tested with
 * holds of its own making.
 */
import type { EntityManager } from "typeorm";
import type { Database } from "../../db/data-source.js";
import {
  deadUploads,
  deleteExpiredLeases,
  expiredLeases,
  heldDigests,
  markUploadsRemoved,
  type DeadUpload,
  type DeletedLease,
} from "../../db/content-leases/gc-roots.js";
import type { IndexScope } from "../../db/index/index-scope.js";

export interface GcHolds {
  /** Which digests an unexpired lease or upload holds (committed uploads: within the grace period). */
  held(m: EntityManager, digests: readonly string[]): Promise<Set<string>>;
  expiredLeases(limit: number): Promise<string[]>;
  /** Deletes those still expired when re-checked in `m`; returns them. */
  deleteExpiredLeases(m: EntityManager, ids: readonly string[]): Promise<DeletedLease[]>;
  deadUploads(limit: number): Promise<DeadUpload[]>;
  /** Removes the rows of those still dead when re-checked in `m`; returns their ids. */
  markUploadsRemoved(m: EntityManager, ids: readonly string[]): Promise<string[]>;
}

export function leaseHolds(db: Database, scope: IndexScope, gracePeriodMs: number): GcHolds {
  const { dialect, namespaceId } = scope;
  return {
    held: (m, digests) => heldDigests(m, dialect, namespaceId, digests, { committedWithinMs: gracePeriodMs }),
    expiredLeases: (limit) => expiredLeases(db, dialect, namespaceId, limit),
    deleteExpiredLeases: (m, ids) => deleteExpiredLeases(m, dialect, namespaceId, ids),
    deadUploads: (limit) => deadUploads(db, dialect, namespaceId, { committedForMs: gracePeriodMs, limit }),
    markUploadsRemoved: (m, ids) => markUploadsRemoved(m, dialect, namespaceId, ids, { committedForMs: gracePeriodMs }),
  };
}
