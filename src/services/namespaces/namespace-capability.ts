/**
 * Builds the namespaced half of the service graph from the configuration: the resolver (name →
 * namespace, cached), the per-namespace runtimes (store, sync, tag writer, queries), the
 * NamespaceService domain, and the sync timer over every namespace — with what the server must
 * call at start and shutdown.
 */
import type { Config } from "../../config.js";
import type { Database } from "../../db/data-source.js";
import { allNamespaces, findNamespace } from "../../db/namespaces/namespace-store.js";
import { SyncScheduler } from "../sync/sync-scheduler.js";
import { GcScheduler, type GcSchedulerOptions } from "../gc/gc-scheduler.js";
import { DEFAULT_NAMESPACE } from "./namespace-name.js";
import { NamespaceResolver } from "./namespace-resolver.js";
import { NamespaceRuntimes, type RuntimeSettings } from "./namespace-runtimes.js";
import { NamespaceService } from "./namespace-service.js";

export interface NamespaceCapability {
  resolver: NamespaceResolver;
  runtimes: NamespaceRuntimes;
  service: NamespaceService;
  /** Before serving: resolves `default` (kept for good, it can never be deleted; auth needs its id). */
  prepare(): Promise<void>;
  /** The start sync and the timer over every namespace (EPOCH_SYNC_INTERVAL=0 turns both off), and the GC schedule. */
  start(): void;
  /** Shutdown, while calls drain: no new timer round; runs not writing yet stop with no writes. */
  stop(): Promise<void>;
  /** After the last call: the stores' connections. */
  close(): Promise<void>;
}

/** Test seams and observers of the runs (the metrics). */
export type NamespaceObservers = Pick<
  RuntimeSettings,
  "faultPoints" | "onRunFinished" | "gcFaultPoints" | "onGcRunFinished"
> & {
  /** Review-queue rows due in a namespace, as the GC scheduler last saw them. */
  onQueueDepth?: GcSchedulerOptions["onQueueDepth"];
};

export function createNamespaceCapability(
  db: Database,
  config: Config,
  observe: NamespaceObservers = {},
): NamespaceCapability {
  const resolver = new NamespaceResolver((name) => findNamespace(db, name), {
    staleMaxMs: config.tokens.staleMaxMs,
  });
  const { onQueueDepth, ...runtimeObservers } = observe;
  const runtimes = new NamespaceRuntimes(db, {
    storageUrl: config.storageUrl,
    sync: config.sync,
    uploadTtlMs: config.uploads.ttlMs,
    gc: config.gc,
    ...runtimeObservers,
  });
  const scheduler = new SyncScheduler(
    async () => (await allNamespaces(db)).map((namespace) => runtimes.of(namespace).sync),
    { intervalMs: config.sync.intervalMs, fullIntervalMs: config.sync.fullIntervalMs },
  );
  const collections = new GcScheduler(
    async () => (await allNamespaces(db)).map((namespace) => runtimes.of(namespace).gc),
    {
      intervalMs: config.gc.intervalMs,
      queueTrigger: config.gc.queueTrigger,
      ...(onQueueDepth && { onQueueDepth }),
    },
  );
  return {
    resolver,
    runtimes,
    service: new NamespaceService(db, resolver, runtimes, config.storageUrl),
    prepare: async () => {
      await resolver.resolve(DEFAULT_NAMESPACE);
    },
    start: () => {
      scheduler.start();
      collections.start();
    },
    stop: async () => {
      // A run already writing finishes its commit; the shutdown timeout bounds the wait.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, config.shutdownTimeoutMs)));
      await Promise.race([Promise.all([scheduler.stop(), collections.stop(), runtimes.shutdown()]), timeout]);
      clearTimeout(timer);
    },
    close: () => runtimes.close(),
  };
}
