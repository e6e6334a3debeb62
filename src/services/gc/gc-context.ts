/** What every part of a collection run works with (gc-runner.ts builds it), and its fenced transactions. */
import type { EntityManager } from "typeorm";
import type { Database } from "../../db/data-source.js";
import type { IndexScope } from "../../db/index/index-scope.js";
import type { Leases } from "../../db/leases.js";
import { writeTransaction } from "../../db/write-transaction.js";
import { aborted } from "../../errors.js";
import type { CountingStore } from "../../storage/counting-store.js";
import type { ObjectStore } from "../../storage/object-store.js";
import type { GcEventHub } from "./gc-events.js";
import type { GcHolds } from "./gc-holds.js";
import type { GcCounts, GcFaultPoints, GcFlags } from "./gc-types.js";

export interface CollectContext {
  db: Database;
  scope: IndexScope;
  /** The registry root, retried above a counter of this run's requests. */
  store: ObjectStore;
  requests: CountingStore;
  leases: Leases;
  /** The namespace's lease (the sync's: sync and GC never overlap). */
  lease: string;
  holder: string;
  runId: number;
  flags: GcFlags;
  hub: GcEventHub;
  holds: GcHolds;
  /** Aborted by cancellation, shutdown or a lost lease: no new candidates; what is marked is still deleted. */
  signal: AbortSignal;
  counts: GcCounts;
  /** Object-store requests in flight at once (HEADs of online candidates, upload listings). */
  concurrency: number;
  faultPoints?: GcFaultPoints;
}

/** A write transaction of this run that first proves it still holds the lease (a paused replica never writes after losing it). */
export async function fenced<T>(c: CollectContext, fn: (m: EntityManager) => Promise<T>): Promise<T> {
  return writeTransaction(c.db, async (m) => {
    if (!(await c.leases.fence(m, c.lease, c.holder, c.runId)))
      throw aborted("this run lost its lease (another replica took over); it wrote nothing more", "LEASE_LOST");
    return fn(m);
  });
}
