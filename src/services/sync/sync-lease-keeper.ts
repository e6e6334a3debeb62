/**
 * While a run holds the sync lease: renew it (TTL/3 by default) and poll the run's
 * `cancel_requested` (CancelSync may come from any replica). A lost lease or a cancel request
 * aborts the run's signal; the commit phase ignores the signal but fences every transaction.
 */
import type { Database } from "../../db/data-source.js";
import type { Leases } from "../../db/leases.js";
import { aborted, cancelled } from "../../errors.js";
import { logger } from "../../logger.js";
import type { SyncRunStore } from "../../db/sync-runs/sync-run-store.js";
import { serialized } from "../../db/write-transaction.js";

export interface LeaseKeeperOptions {
  db: Database;
  leases: Leases;
  lease: string;
  runs: SyncRunStore;
  holder: string;
  runId: number;
  ttlMs: number;
  renewIntervalMs: number;
  cancelPollMs: number;
  controller: AbortController;
}

export function keepLease(o: LeaseKeeperOptions): { stop(): void } {
  let busy = false;
  const guard = (fn: () => Promise<void>) => async () => {
    if (busy || o.controller.signal.aborted) return;
    busy = true;
    try {
      await fn();
    } catch (e) {
      // A database blip is not a lost lease: the next tick (or the commit's fence) decides.
      logger.warn({ err: e, runId: o.runId }, "sync lease upkeep failed");
    } finally {
      busy = false;
    }
  };
  const renew = setInterval(
    guard(async () => {
      const held = await serialized(o.db, () => o.leases.renew(o.lease, o.holder, o.ttlMs, o.runId));
      if (!held) o.controller.abort(aborted("this run lost the sync lease (another replica took over)", "LEASE_LOST"));
    }),
    o.renewIntervalMs,
  );
  const poll = setInterval(
    guard(async () => {
      if (await o.runs.cancelRequested(o.runId))
        o.controller.abort(
          cancelled("cancelled (CancelSync) before the commit phase: nothing was written", "CANCELLED"),
        );
    }),
    o.cancelPollMs,
  );
  renew.unref();
  poll.unref();
  return {
    stop: () => {
      clearInterval(renew);
      clearInterval(poll);
    },
  };
}
