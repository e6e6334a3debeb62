/**
 * GetSyncStatus as a caller bound to some repositories sees it: the runs' states, times and
 * counts (numbers that name nothing), and only the failures of repositories inside its bound.
 */
import type { RepositoryBound } from "../tokens/repository-bound.js";
import { isUnbounded } from "../tokens/repository-bound.js";
import type { SyncStatus } from "./sync-service.js";

type SyncRunRecord = NonNullable<SyncStatus["last"]>;

export function statusWithin(status: SyncStatus, bound: RepositoryBound): SyncStatus {
  if (isUnbounded(bound)) return status;
  const view = (run: SyncRunRecord | undefined) =>
    run && { ...run, failures: run.failures.filter((f) => bound.covers(f.repository)) };
  return { current: view(status.current), last: view(status.last) };
}
