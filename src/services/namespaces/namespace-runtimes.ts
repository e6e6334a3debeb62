/**
 * The per-namespace half of the service graph: each namespace gets its own object store (its
 * registry root), sync service (its own lease, runs and stats), garbage collector (under the
 * same lease), tag writer, queries, label updates, leases and uploads — built on first use and
 * kept by namespace id. A deleted namespace's runtime is dropped; a namespace
 * that is deleted elsewhere is simply never asked for again (its name stops resolving).
 */
import type { Config } from "../../config.js";
import type { Database } from "../../db/data-source.js";
import { logger } from "../../logger.js";
import type { ObjectStore } from "../../storage/object-store.js";
import { openObjectStore } from "../../storage/open-store.js";
import { RegistryLayout } from "../../storage/registry-layout.js";
import { RetryingStore } from "../../storage/retrying-store.js";
import { MetadataLabels } from "../labels/metadata-labels.js";
import { MetadataQueries } from "../queries/metadata-queries.js";
import { GcService, type GcServiceOptions } from "../gc/gc-service.js";
import type { GcFaultPoints } from "../gc/gc-types.js";
import { SyncService, type SyncServiceOptions } from "../sync/sync-service.js";
import type { FaultPoints } from "../sync/sync-types.js";
import { TagWriter } from "../tags/tag-writer.js";
import { LeaseService } from "../leases/lease-service.js";
import { UploadService } from "../uploads/upload-service.js";
import { effectiveStorageUrl, requiredDirectoryRoot } from "./namespace-roots.js";
import type { NamespaceContext } from "./namespace-resolver.js";

export interface NamespaceRuntime {
  namespace: NamespaceContext;
  queries: MetadataQueries;
  labels: MetadataLabels;
  sync: SyncService;
  gc: GcService;
  tags: TagWriter;
  store: ObjectStore;
  leases: LeaseService;
  uploads: UploadService;
}

export interface RuntimeSettings {
  storageUrl: string;
  sync: Pick<Config["sync"], "concurrency" | "leaseTtlMs">;
  /** EPOCH_UPLOAD_TTL (default 24h). */
  uploadTtlMs?: number;
  /** The default grace period of collections (EPOCH_GC_GRACE); absent: 24h. */
  gc?: Pick<Config["gc"], "gracePeriodMs">;
  /** Test seam: how a registry root is opened (bare, without retries: sync counts every attempt). */
  openStore?: (url: string) => ObjectStore;
  /** Test seam: the sync's fault points (pause or crash a run at a named step). */
  faultPoints?: FaultPoints;
  /** Every namespace's sync runs report here when they finish (the metrics). */
  onRunFinished?: SyncServiceOptions["onRunFinished"];
  /** Test seam: the collector's fault points. */
  gcFaultPoints?: GcFaultPoints;
  /** Every namespace's GC runs report here when they finish (the metrics). */
  onGcRunFinished?: GcServiceOptions["onRunFinished"];
}

export class NamespaceRuntimes {
  private readonly runtimes = new Map<number, NamespaceRuntime>();

  constructor(
    private readonly db: Database,
    private readonly settings: RuntimeSettings,
  ) {}

  /** The runtime of a resolved namespace (built on first use). */
  of(namespace: NamespaceContext): NamespaceRuntime {
    let runtime = this.runtimes.get(namespace.id);
    if (!runtime) {
      runtime = this.build(namespace);
      this.runtimes.set(namespace.id, runtime);
    }
    return runtime;
  }

  /** After a delete: stop its syncs and close its store. */
  async drop(id: number): Promise<void> {
    const runtime = this.runtimes.get(id);
    if (!runtime) return;
    this.runtimes.delete(id);
    await runtime.gc.shutdown();
    await runtime.sync.shutdown();
    await runtime.store.close().catch((e: unknown) => logger.warn({ err: e }, "closing a namespace's store failed"));
  }

  /** Shutdown, while calls drain: runs not writing yet stop with no writes. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((r) => Promise.all([r.gc.shutdown(), r.sync.shutdown()])));
  }

  /** After the last call: every store's connections. */
  async close(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((r) => r.store.close().catch(() => undefined)));
  }

  private build(namespace: NamespaceContext): NamespaceRuntime {
    const url = effectiveStorageUrl(this.settings.storageUrl, namespace);
    const requiredRoot = requiredDirectoryRoot(this.settings.storageUrl, namespace);
    const store = this.settings.openStore
      ? this.settings.openStore(url)
      : openObjectStore(url, { retry: false, ...(requiredRoot !== undefined && { directory: { requiredRoot } }) });
    const { db, settings } = this;
    const layout = new RegistryLayout(new RetryingStore(store));
    const sync = new SyncService({
      db,
      store,
      namespace: namespace.name,
      namespaceId: namespace.id,
      concurrency: settings.sync.concurrency,
      leaseTtlMs: settings.sync.leaseTtlMs,
      ...(settings.faultPoints && { faultPoints: settings.faultPoints }),
      ...(settings.onRunFinished && { onRunFinished: settings.onRunFinished }),
    });
    return {
      namespace,
      store,
      queries: new MetadataQueries(db, namespace.name, namespace.id),
      labels: new MetadataLabels(db, namespace.name, namespace.id),
      sync,
      gc: new GcService({
        db,
        namespaceId: namespace.id,
        sync,
        store,
        defaultGracePeriodMs: settings.gc?.gracePeriodMs ?? 24 * 3_600_000,
        leaseTtlMs: settings.sync.leaseTtlMs,
        concurrency: settings.sync.concurrency,
        ...(settings.gcFaultPoints && { faultPoints: settings.gcFaultPoints }),
        ...(settings.onGcRunFinished && { onRunFinished: settings.onGcRunFinished }),
      }),
      tags: new TagWriter(db, layout, namespace.name, namespace.id),
      leases: new LeaseService(db, namespace.id),
      uploads: new UploadService(db, namespace.id, {
        defaultTtlMs: this.settings.uploadTtlMs ?? 24 * 3_600_000,
        headBlob: (digest) => layout.headBlob(digest),
      }),
    };
  }
}
