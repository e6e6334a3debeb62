/**
 * Every Prometheus metric the server exports (DESIGN §8.7), in one registry of its own (not
 * prom-client's global one, so two servers in one process — the tests — never share counts).
 *
 * Two kinds of sources feed it, and neither imports prom-client:
 * - pushed: the gRPC interceptor (`RpcObserver`) and the sync service's run-finished callback
 *   call the methods below once per call or run;
 * - pulled at scrape time: the token service's plain ValidateToken cache counts and the
 *   database pool's usage are read by `collect` callbacks, so the ValidateToken hot path pays one
 *   integer increment and no label lookup.
 *
 * The garbage collector's live in gc-metrics.ts.
 *
 * Not here yet (add it with the feature, never as placeholders that report zero): a `namespace`
 * label on the per-namespace series.
 */
import { status as Status } from "@grpc/grpc-js";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { SinkLag } from "../db/events/sink-positions.js";
import type { PoolUsage } from "../db/pool-usage.js";
import type { RpcObserver } from "../grpc/metrics-interceptor.js";
import type { GcFinished } from "../services/gc/gc-types.js";
import type { SyncFinished } from "../services/sync/sync-types.js";
import { GcMetrics } from "./gc-metrics.js";
import type { ValidateCacheCounts } from "../services/tokens/token-service.js";

/** What the scrape reads on demand; a source left out is simply not exported. */
export interface MetricSources {
  /** ValidateToken's cache outcomes since start (TokenService.validateCacheCounts). */
  tokenCache?: () => ValidateCacheCounts;
  /** The database pool right now; undefined when the driver does not tell. */
  dbPool?: () => PoolUsage | undefined;
  /** Events this replica committed, by topic (db/events/event-store.ts `eventsWritten`). */
  eventsWritten?: () => ReadonlyMap<string, number>;
  /** Each configured sink's lag behind the outbox, read from the database at scrape time. */
  sinkLags?: () => Promise<readonly SinkLag[]>;
  /** Pending review-queue rows per namespace, read from the database at scrape time. */
  gcQueueDepth?: () => Promise<ReadonlyArray<{ namespace: string; pending: number }>>;
  /** Events each configured sink's deliverer on this replica has delivered. */
  eventsDelivered?: () => ReadonlyArray<{ sink: string; delivered: number }>;
}

// From a cached ValidateToken answer (~0.1 ms) to a long SyncFromCatalog stream.
const RPC_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];
// From an unchanged incremental run (well under a second) to a first sync of a large registry.
const SYNC_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export class EpochMetrics implements RpcObserver {
  readonly registry = new Registry();
  private readonly grpcRequests: Counter<"method" | "code">;
  private readonly grpcDuration: Histogram<"method" | "code">;
  private readonly syncRuns: Counter<"state">;
  private readonly syncDuration: Histogram<"state">;
  private readonly syncObjectStoreRequests: Counter;
  private readonly gc: GcMetrics;
  /** `{ method, code }` label objects by method path and status code, built once each. */
  private readonly rpcLabels = new Map<string, Map<number, { method: string; code: string }>>();

  constructor(sources: MetricSources = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.grpcRequests = new Counter({
      name: "epoch_grpc_requests_total",
      help: "gRPC calls finished, by full method name and status code.",
      labelNames: ["method", "code"],
      registers,
    });
    this.grpcDuration = new Histogram({
      name: "epoch_grpc_request_duration_seconds",
      help: "Time from a call's arrival to its status (a stream's whole life), by method and status code.",
      labelNames: ["method", "code"],
      buckets: RPC_BUCKETS,
      registers,
    });
    this.syncRuns = new Counter({
      name: "epoch_sync_runs_total",
      help: "Catalog sync runs finished on this replica, by final state.",
      labelNames: ["state"],
      registers,
    });
    this.syncDuration = new Histogram({
      name: "epoch_sync_run_duration_seconds",
      help: "Duration of the catalog sync runs finished on this replica, by final state.",
      labelNames: ["state"],
      buckets: SYNC_BUCKETS,
      registers,
    });
    this.syncObjectStoreRequests = new Counter({
      name: "epoch_sync_object_store_requests_total",
      help: "Object-store requests made by the finished sync runs (retries and 304s included).",
      registers,
    });
    this.gc = new GcMetrics(registers, sources.gcQueueDepth);
    if (sources.tokenCache) tokenCacheCounter(sources.tokenCache, registers);
    if (sources.dbPool) dbPoolGauges(sources.dbPool, registers);
    eventMetrics(sources, registers);
  }

  rpcFinished(path: string, code: number, seconds: number): void {
    const labels = this.labelsOf(path, code);
    this.grpcRequests.inc(labels);
    this.grpcDuration.observe(labels, seconds);
  }

  syncRunFinished(finished: SyncFinished): void {
    const labels = { state: finished.state };
    this.syncRuns.inc(labels);
    this.syncDuration.observe(labels, finished.durationMs / 1000);
    this.syncObjectStoreRequests.inc(finished.counts.objectStoreRequests);
  }

  gcRunFinished(finished: GcFinished): void {
    this.gc.runFinished(finished);
  }

  private labelsOf(path: string, code: number): { method: string; code: string } {
    let byCode = this.rpcLabels.get(path);
    if (!byCode) this.rpcLabels.set(path, (byCode = new Map()));
    let labels = byCode.get(code);
    if (!labels) {
      // "/epoch.v1.TokenService/ValidateToken" → "epoch.v1.TokenService/ValidateToken"; paths are
      // only ever those of registered methods (grpc-js answers unknown ones before interceptors).
      labels = { method: path.replace(/^\//, ""), code: Status[code] ?? String(code) };
      byCode.set(code, labels);
    }
    return labels;
  }
}

function tokenCacheCounter(read: () => ValidateCacheCounts, registers: Registry[]): void {
  new Counter({
    name: "epoch_token_cache_requests_total",
    help: "ValidateToken lookups of well-formed secrets, by cache result: hit (a cached token), negative_hit (a secret cached as unknown), miss (asked the database).",
    labelNames: ["result"],
    registers,
    collect() {
      const counts = read();
      // The totals live in the token service; the counter is set to them at each scrape.
      this.reset();
      this.inc({ result: "hit" }, counts.hits);
      this.inc({ result: "negative_hit" }, counts.negativeHits);
      this.inc({ result: "miss" }, counts.misses);
    },
  });
}

function dbPoolGauges(read: () => PoolUsage | undefined, registers: Registry[]): void {
  // Each gauge reads the pool itself: a few in-memory fields, cheaper than keeping them in step.
  new Gauge({
    name: "epoch_db_pool_connections",
    help: "Open database connections by state: active (checked out by a statement or transaction) or idle.",
    labelNames: ["state"],
    registers,
    collect() {
      const usage = read();
      this.reset();
      if (!usage) return;
      this.set({ state: "active" }, usage.active);
      this.set({ state: "idle" }, usage.idle);
    },
  });
  new Gauge({
    name: "epoch_db_pool_max_connections",
    help: "The most connections the database pool may open.",
    registers,
    collect() {
      const usage = read();
      this.reset();
      if (usage) this.set(usage.max);
    },
  });
  new Gauge({
    name: "epoch_db_pool_waiting_requests",
    help: "Statements and transactions waiting for a free database connection.",
    registers,
    collect() {
      const usage = read();
      this.reset();
      if (usage) this.set(usage.waiting);
    },
  });
}

function eventMetrics(sources: MetricSources, registers: Registry[]): void {
  const { eventsWritten, sinkLags, eventsDelivered } = sources;
  if (eventsWritten) {
    new Counter({
      name: "epoch_events_written_total",
      help: "Events this replica committed to the outbox, by topic (in the transaction of the change they report).",
      labelNames: ["topic"],
      registers,
      collect() {
        this.reset();
        for (const [topic, n] of eventsWritten()) this.inc({ topic }, n);
      },
    });
  }
  if (eventsDelivered) {
    new Counter({
      name: "epoch_events_delivered_total",
      help: "Events this replica's deliverer handed to a sink and the sink accepted, by sink (at least once: redeliveries count).",
      labelNames: ["sink"],
      registers,
      collect() {
        this.reset();
        for (const { sink, delivered } of eventsDelivered()) this.inc({ sink }, delivered);
      },
    });
  }
  if (!sinkLags) return;
  // Both gauges come from one database read per scrape, shared through this promise.
  let reading: Promise<readonly SinkLag[]> | undefined;
  const read = () => {
    // A database that does not answer leaves the gauges absent; the rest of the scrape still works.
    reading ??= sinkLags()
      .catch(() => [])
      .finally(() => setImmediate(() => (reading = undefined)));
    return reading;
  };
  new Gauge({
    name: "epoch_events_sink_lag_events",
    help: "Committed events a sink has not been delivered yet, by sink; read from the database, so every replica reports the same value.",
    labelNames: ["sink"],
    registers,
    async collect() {
      const lags = await read();
      this.reset();
      for (const lag of lags) this.set({ sink: lag.sink }, lag.events);
    },
  });
  new Gauge({
    name: "epoch_events_sink_lag_seconds",
    help: "Age of the oldest event a sink has not been delivered yet (0 when caught up), by sink; the database clock.",
    labelNames: ["sink"],
    registers,
    async collect() {
      const lags = await read();
      this.reset();
      for (const lag of lags) this.set({ sink: lag.sink }, lag.seconds);
    },
  });
}
