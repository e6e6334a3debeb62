/**
 * Builds the write side of MetadataService from the configuration: the sync service (over the
 * registry store without retries, so each run counts every attempt), the tag writer (over a
 * retrying store) and the scheduler, with what the server must call at start and shutdown.
 */
import type { Config } from "../../config.js";
import type { Database } from "../../db/data-source.js";
import { openObjectStore } from "../../storage/open-store.js";
import { RegistryLayout } from "../../storage/registry-layout.js";
import { RetryingStore } from "../../storage/retrying-store.js";
import { SyncScheduler } from "./sync-scheduler.js";
import { SyncService } from "./sync-service.js";
import type { FaultPoints } from "./sync-types.js";
import { TagWriter } from "../tags/tag-writer.js";

export interface SyncCapability {
  sync: SyncService;
  tags: TagWriter;
  /** The start sync and the timer (EPOCH_SYNC_INTERVAL=0 turns both off). */
  start(): void;
  /** Shutdown, while calls drain: no new timer runs; a run that is not writing yet stops with no writes. */
  stop(): Promise<void>;
  /** After the last call: the store's connections. */
  close(): Promise<void>;
}

export function createSyncCapability(db: Database, config: Config, faultPoints?: FaultPoints): SyncCapability {
  const store = openObjectStore(config.storageUrl, { retry: false });
  const sync = new SyncService({
    db,
    store,
    concurrency: config.sync.concurrency,
    leaseTtlMs: config.sync.leaseTtlMs,
    ...(faultPoints && { faultPoints }),
  });
  const scheduler = new SyncScheduler(sync, {
    intervalMs: config.sync.intervalMs,
    fullIntervalMs: config.sync.fullIntervalMs,
  });
  return {
    sync,
    tags: new TagWriter(db, new RegistryLayout(new RetryingStore(store))),
    start: () => scheduler.start(),
    stop: async () => {
      // A run already writing finishes its commit; the shutdown timeout bounds the wait.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, config.shutdownTimeoutMs)));
      await Promise.race([Promise.all([scheduler.stop(), sync.shutdown()]), timeout]);
      clearTimeout(timer);
    },
    close: () => store.close(),
  };
}
