/**
 * The composition root: the one function that builds the service graph for `serve` (and for
 * the end-to-end tests). To wire a capability in, construct it in the "services" block below
 * from `db`/`config`, put its gRPC adapter into `services`, and register what it must do at
 * shutdown in `beforeDrain` (stop timers, wind down streams) or `afterDrain` (flush buffers).
 */
import { hostname } from "node:os";
import { DEFAULT_STORAGE_URL, type Config } from "./config.js";
import { openDatabase } from "./db/data-source.js";
import { assertMigrated, migrate } from "./db/migrate.js";
import { databaseServer } from "./db/server-version.js";
import { TokenStore } from "./db/tokens/token-store.js";
import { namespaceIdOf } from "./db/queries/namespaces.js";
import { DEFAULT_NAMESPACE } from "./db/entities/index.js";
import { eventServiceServer } from "./grpc/event-service.js";
import type { CallContext } from "./grpc/handlers.js";
import { leaseServiceServer } from "./grpc/lease-service.js";
import { gcServiceServer } from "./grpc/gc-service.js";
import { metadataService } from "./grpc/metadata-service.js";
import { namespaceServiceServer } from "./grpc/namespace-service.js";
import { tokenServiceServer } from "./grpc/token-service.js";
import { uploadServiceServer } from "./grpc/upload-service.js";
import { configureLogger, logger, redactUrl } from "./logger.js";
import { startMetricsServer, type MetricsServer } from "./metrics/metrics-server.js";
import { EpochMetrics } from "./metrics/registry.js";
import { poolUsage } from "./db/pool-usage.js";
import { eventsWritten, onEventsCommitted } from "./db/events/event-store.js";
import { sinkLags } from "./db/events/sink-positions.js";
import { pendingByNamespace } from "./db/gc/gc-queue-reads.js";
import { startServer, type RunningServer, type ServerDeps, type ShutdownHook } from "./server.js";
import { createNamespaceCapability } from "./services/namespaces/namespace-capability.js";
import type { FaultPoints, SyncFinished } from "./services/sync/sync-types.js";
import type { GcFaultPoints, GcFinished } from "./services/gc/gc-types.js";
import type { TokenLookup } from "./services/tokens/token-lookup.js";
import { TokenService } from "./services/tokens/token-service.js";
import { EventFeed } from "./services/events/event-feed.js";
import { EventRetention } from "./services/events/event-retention.js";
import { eventDeliverers } from "./services/events/event-sinks.js";
import { createDefaultRoot, missingDirectoryRoot } from "./storage/directory-root.js";

export interface AppOptions {
  /** Apply pending migrations at start (default); false = refuse to start with pending ones. */
  migrate?: boolean;
  /** Test seam: replaces the token service's lookup used by API authentication. */
  tokenLookup?: TokenLookup;
  healthProbe?: ServerDeps["healthProbe"];
  /** Test seam: the sync's fault points (pause or crash a run at a named step). */
  syncFaultPoints?: FaultPoints;
  /** Test seam: the garbage collector's fault points. */
  gcFaultPoints?: GcFaultPoints;
}

export interface App {
  server: RunningServer;
  /** The EPOCH_METRICS_LISTEN listener as bound; undefined when metrics are off. */
  metrics?: Pick<MetricsServer, "address" | "port">;
  /** Graceful shutdown (idempotent): health, drain, hooks, database, then the metrics listener. */
  stop(): Promise<void>;
}

export async function createApp(config: Config, options: AppOptions = {}): Promise<App> {
  configureLogger(config.logLevel);
  const db = await openDatabase(config.databaseUrl);
  let tokens: TokenService | undefined;
  try {
    if (options.migrate === false) {
      await assertMigrated(db);
    } else {
      const { applied } = await migrate(db, { holder: `serve@${hostname()}:${process.pid}` });
      if (applied.length > 0) logger.info({ applied }, "applied migrations");
    }

    // ── services: construct each capability here and wire its adapter below ──
    const services: NonNullable<ServerDeps["services"]> = {};
    const tokenService = (tokens = new TokenService(new TokenStore(db), config.tokens));
    const deliverers = eventDeliverers(db, config.events, `serve@${hostname()}:${process.pid}`);
    const metrics =
      config.metricsListen &&
      new EpochMetrics({
        tokenCache: () => tokenService.validateCacheCounts(),
        dbPool: () => poolUsage(db),
        eventsWritten: () => eventsWritten(db),
        sinkLags: () =>
          sinkLags(
            db,
            deliverers.map((d) => d.sinkName),
          ),
        gcQueueDepth: () => pendingByNamespace(db),
        eventsDelivered: () => deliverers.map((d) => ({ sink: d.sinkName, delivered: d.stats().delivered })),
      });
    const namespaces = createNamespaceCapability(db, config, {
      ...(options.syncFaultPoints && { faultPoints: options.syncFaultPoints }),
      ...(options.gcFaultPoints && { gcFaultPoints: options.gcFaultPoints }),
      ...(metrics && {
        onRunFinished: (f: SyncFinished) => metrics.syncRunFinished(f),
        onGcRunFinished: (f: GcFinished) => metrics.gcRunFinished(f),
      }),
    });
    // Every call acts in its namespace (resolved by grpc/namespace-context.ts); without one
    // (a server built without the resolver) it acts in `default`.
    const runtimeOf = async (ctx: CallContext) =>
      namespaces.runtimes.of(ctx.namespace ?? (await namespaces.resolver.resolve("default")));
    services.metadata = metadataService(runtimeOf);
    services.lease = leaseServiceServer(runtimeOf);
    services.upload = uploadServiceServer(runtimeOf);
    services.gc = gcServiceServer(async (ctx) => (await runtimeOf(ctx)).gc);
    services.namespace = namespaceServiceServer(namespaces.service);
    services.token = tokenServiceServer(tokenService);
    const events = new EventFeed(db);
    // This replica's commits reach its watchers and sinks at once; other replicas' at the next poll.
    const stopNotifying = onEventsCommitted(db, () => {
      events.notify();
      for (const deliverer of deliverers) deliverer.notify();
    });
    const defaultNamespaceId = await namespaceIdOf(db, DEFAULT_NAMESPACE);
    services.event = eventServiceServer({
      feed: events,
      namespaceId: async (ctx) => ctx.namespace?.id ?? defaultNamespaceId!,
      // An admin token of `default` (grpc/auth.ts); every caller when authentication is off.
      isSystemAdmin: (ctx) =>
        ctx.caller === undefined ||
        (ctx.caller.scopes.includes("admin") && ctx.caller.namespaceId === defaultNamespaceId),
    });
    const retention = new EventRetention(db, config.events.retentionMs);
    for (const deliverer of deliverers) await deliverer.prepare();
    const tokenLookup: TokenLookup = options.tokenLookup ?? tokenService;
    const beforeDrain: ShutdownHook[] = [];
    const afterDrain: ShutdownHook[] = [];
    // The generation poller runs while calls drain; last_used is flushed after the last call.
    await tokenService.start();
    afterDrain.push(() => tokenService.stop());
    await namespaces.prepare();
    beforeDrain.push(() => namespaces.stop());
    afterDrain.push(() => namespaces.close());
    beforeDrain.push(() => retention.stop());
    beforeDrain.push(() => {
      stopNotifying();
      events.close();
    });
    // Delivery goes on while calls drain; what is left, the next holder of the sink's lease sends.
    for (const deliverer of deliverers) afterDrain.push(() => deliverer.stop());

    // The embedded default makes its registry directory as it makes its SQLite file (config.ts).
    if (config.storageUrl === DEFAULT_STORAGE_URL) await createDefaultRoot(config.storageUrl);
    const root = await missingDirectoryRoot(config.storageUrl);
    if (root !== undefined) {
      logger.warn(
        { storage: redactUrl(config.storageUrl) },
        `registry root ${root} does not exist: every sync fails with STORAGE_UNAVAILABLE until it does (EPOCH_STORAGE_URL; \`epoch-meta demo\` writes a sample registry)`,
      );
    }
    const server = await startServer(config, {
      db,
      startInfo: {
        database: await databaseServer(db),
        databaseUrl: redactUrl(config.databaseUrl),
        storage: redactUrl(config.storageUrl),
      },
      tokenLookup,
      services,
      namespaces: namespaces.resolver,
      beforeDrain,
      afterDrain,
      ...(options.healthProbe && { healthProbe: options.healthProbe }),
      ...(metrics && { rpcObserver: metrics }),
    });
    let metricsServer: MetricsServer | undefined;
    if (config.metricsListen && metrics) {
      try {
        metricsServer = await startMetricsServer(config.metricsListen, metrics.registry, server.health);
      } catch (e) {
        await server.shutdown();
        throw e;
      }
    }
    namespaces.start();
    retention.start();
    for (const deliverer of deliverers) deliverer.start();
    let stopping: Promise<void> | undefined;
    // The probes keep answering (503) while calls drain; the listener closes last.
    const stop = () => (stopping ??= server.shutdown().then(() => metricsServer?.close()));
    return { server, ...(metricsServer && { metrics: metricsServer }), stop };
  } catch (e) {
    await tokens?.stop().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw e;
  }
}
