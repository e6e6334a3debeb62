/**
 * EPOCH_METRICS_LISTEN through the real server (createApp) on SQLite and MariaDB: calls made
 * with the generated clients move exactly the series they should in a `/metrics` scrape read by
 * an independent Prometheus text parser (per-method and per-code call counts and latency
 * histograms, ValidateToken cache hits/misses/negative hits, sync runs by state with their
 * durations and object-store requests, the database pool, the process defaults);
 * authentication refusals are counted; `/healthz` and `/readyz` answer from the gRPC health
 * statuses, `/readyz` goes 503 while the database is cut off (MariaDB behind a TCP proxy) and back;
 * the listener closes with the server.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { SyncFromCatalogRequest, type SyncFromCatalogResponse } from "epoch-meta-client/epoch/v1/metadata_service";
import {
  CreateTokenRequest,
  type CreateTokenResponse,
  type ValidateTokenResponse,
} from "epoch-meta-client/epoch/v1/token_service";
import { SyncState } from "epoch-meta-client/epoch/v1/sync";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { configureLogger } from "../../src/logger.js";
import { ListenError } from "../../src/server.js";
import { generateSecret } from "../../src/services/tokens/token-secret.js";
import { openObjectStore } from "../../src/storage/open-store.js";
import { writeRegistryFixture } from "../fixtures/registry-fixture.js";
import { createTestDatabase, forEachDialect, mariadbServerUrl, type TestDatabase } from "../helpers/database.js";
import { call, callError, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { probe, requirePrometheusParser, scrape } from "../helpers/prometheus.js";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const METRICS = { EPOCH_METRICS_LISTEN: "127.0.0.1:0" };
const VALIDATE = "epoch.v1.TokenService/ValidateToken";
const rpc = (method: string, code: string) => ({ method, code });
// Well-formed (checksum included), but no token has it.
const UNKNOWN_SECRET = generateSecret();

function stateLabel(state: SyncState): string {
  return SyncState[state].replace(/^SYNC_STATE_/, "");
}

const parser = requirePrometheusParser("metrics scrapes");

forEachDialect("metrics", (dialect) => {
  let server: E2EServer;
  let testDb: TestDatabase;
  let registryDir: string;

  beforeEach(async () => {
    registryDir = mkdtempSync(join(tmpdir(), "epoch-metrics-registry-"));
    const store = openObjectStore(`file:${registryDir}`);
    await writeRegistryFixture(store);
    await store.close();
    testDb = await createTestDatabase(dialect);
    server = await startE2EServer({ databaseUrl: testDb.url, storageUrl: `file:${registryDir}`, env: METRICS });
  });
  afterEach(async () => {
    await server.stop();
    await testDb.drop();
    rmSync(registryDir, { recursive: true, force: true });
  });

  it.runIf(parser)("moves the call, token-cache, sync and pool series by what the calls did", async () => {
    const address = server.app.metrics!.address;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const before = await scrape(address);

    const { secret } = await call<CreateTokenResponse>((cb) =>
      server.tokens.createToken(CreateTokenRequest.fromPartial({ name: "ci", scopes: ["pull"] }), cb),
    );
    const validate = (s: string) =>
      call<ValidateTokenResponse>((cb) =>
        server.tokens.validateToken({ secret: s, repository: "", action: "pull" }, cb),
      );
    expect((await validate(secret)).valid).toBe(true); // miss: loads the token
    expect((await validate(secret)).valid).toBe(true); // hit
    expect((await validate(secret)).valid).toBe(true); // hit
    expect((await validate(UNKNOWN_SECRET)).valid).toBe(false); // miss: caches the secret as unknown
    expect((await validate(UNKNOWN_SECRET)).valid).toBe(false); // negative hit
    expect((await validate("not-a-token")).valid).toBe(false); // malformed: never reaches the cache
    const notFound = await callError(
      call((cb) => server.metadata.getTag({ repository: "no/such-repository", tag: "v1" }, cb)),
    );
    expect(notFound.code).toBe(status.NOT_FOUND);
    const runs: SyncFromCatalogResponse[][] = [];
    for (let i = 0; i < 2; i++)
      runs.push(await collect(server.metadata.syncFromCatalog(SyncFromCatalogRequest.fromPartial({}))));
    const finished = runs.map((rs) => {
      const last = rs.at(-1)?.event;
      if (last?.$case !== "finished") throw new Error("a sync stream did not end with finished");
      return last.finished;
    });

    const after = await scrape(address);
    const delta = (name: string, labels?: Record<string, string>) =>
      after.value(name, labels) - before.value(name, labels);

    // Calls by method and code, each with one latency observation.
    const calls: Array<[string, string, number]> = [
      ["epoch.v1.TokenService/CreateToken", "OK", 1],
      [VALIDATE, "OK", 6],
      ["epoch.v1.MetadataService/GetTag", "NOT_FOUND", 1],
      ["epoch.v1.MetadataService/SyncFromCatalog", "OK", 2],
    ];
    for (const [method, code, n] of calls) {
      expect(delta("epoch_grpc_requests_total", rpc(method, code)), `${method} ${code}`).toBe(n);
      expect(delta("epoch_grpc_request_duration_seconds_count", rpc(method, code)), `${method} ${code}`).toBe(n);
      const inf = { ...rpc(method, code), le: "+Inf" };
      expect(delta("epoch_grpc_request_duration_seconds_bucket", inf), `${method} ${code}`).toBe(n);
    }
    expect(delta("epoch_grpc_request_duration_seconds_sum", rpc(VALIDATE, "OK"))).toBeGreaterThan(0);
    expect(after.sum("epoch_grpc_requests_total") - before.sum("epoch_grpc_requests_total")).toBe(10);

    // ValidateToken's cache: two hits, two misses, one negative hit; the malformed secret is none.
    expect(delta("epoch_token_cache_requests_total", { result: "hit" })).toBe(2);
    expect(delta("epoch_token_cache_requests_total", { result: "miss" })).toBe(2);
    expect(delta("epoch_token_cache_requests_total", { result: "negative_hit" })).toBe(1);

    // Sync runs by state, their durations, and the object-store requests they reported.
    const byState = new Map<string, number>();
    for (const f of finished) byState.set(stateLabel(f.state), (byState.get(stateLabel(f.state)) ?? 0) + 1);
    for (const [state, n] of byState) {
      expect(delta("epoch_sync_runs_total", { state }), state).toBe(n);
      expect(delta("epoch_sync_run_duration_seconds_count", { state }), state).toBe(n);
    }
    expect(after.sum("epoch_sync_runs_total")).toBe(2);
    const requests = finished.reduce((sum, f) => sum + f.counts!.objectStoreRequests, 0);
    expect(requests).toBeGreaterThan(0);
    expect(delta("epoch_sync_object_store_requests_total")).toBe(requests);
    expect(finished.every((f) => f.counts!.objectStoreRequests > 0)).toBe(true);

    // The pool: SQLite is one connection; MariaDB the TypeORM pool (10), nothing waiting when idle.
    const open =
      after.value("epoch_db_pool_connections", { state: "active" }) +
      after.value("epoch_db_pool_connections", { state: "idle" });
    if (dialect === "sqlite") {
      expect(after.value("epoch_db_pool_max_connections")).toBe(1);
      expect(open).toBe(1);
    } else {
      expect(after.value("epoch_db_pool_max_connections")).toBe(10);
      expect(open).toBeGreaterThanOrEqual(1);
      expect(open).toBeLessThanOrEqual(10);
    }
    expect(after.value("epoch_db_pool_waiting_requests")).toBe(0);

    // The process defaults.
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_heap_size_used_bytes"])
      expect(after.find(name), name).toHaveLength(1);
  });

  it("answers /healthz and /readyz from the health statuses, and closes with the server", async () => {
    const address = server.app.metrics!.address;
    expect(await probe(address, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await probe(address, "/readyz")).toEqual({ status: 200, body: "ready\n" });
    expect((await probe(address, "/nothing")).status).toBe(404);
    expect((await fetch(`http://${address}/metrics`, { method: "POST" })).status).toBe(405);
    await server.stop();
    await expect(fetch(`http://${address}/healthz`)).rejects.toThrow();
    server = { stop: async () => undefined } as unknown as E2EServer;
  });
});

describe.runIf(parser)("metrics with authentication required", () => {
  let server: E2EServer;
  let testDb: TestDatabase;
  afterEach(async () => {
    await server.stop();
    await testDb.drop();
  });

  it("counts calls the authentication interceptor refuses", async () => {
    testDb = await createTestDatabase("sqlite");
    server = await startE2EServer({ databaseUrl: testDb.url, env: { ...METRICS, EPOCH_AUTH: "required" } });
    const err = await callError(call((cb) => server.metadata.getTag({ repository: "a/b", tag: "v1" }, cb)));
    expect(err.code).toBe(status.UNAUTHENTICATED);
    const after = await scrape(server.app.metrics!.address);
    expect(after.value("epoch_grpc_requests_total", rpc("epoch.v1.MetadataService/GetTag", "UNAUTHENTICATED"))).toBe(1);
    const labels = rpc("epoch.v1.MetadataService/GetTag", "UNAUTHENTICATED");
    expect(after.value("epoch_grpc_request_duration_seconds_count", labels)).toBe(1);
  });
});

describe("EPOCH_METRICS_LISTEN that cannot be bound", () => {
  it("stops the start with one line naming the variable", async () => {
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as { port: number };
    const testDb = await createTestDatabase("sqlite");
    try {
      const start = startE2EServer({ databaseUrl: testDb.url, env: { EPOCH_METRICS_LISTEN: `127.0.0.1:${port}` } });
      await expect(start).rejects.toThrow(
        new ListenError(`cannot listen on 127.0.0.1:${port} (EPOCH_METRICS_LISTEN): address already in use`),
      );
    } finally {
      taken.close();
      await testDb.drop();
    }
  });
});

describe.runIf(mariadbServerUrl() !== null)("/readyz while the database is unreachable [mariadb]", () => {
  let server: E2EServer;
  let testDb: TestDatabase;
  let proxy: TcpProxy;
  afterEach(async () => {
    await server.stop();
    await proxy.close();
    await testDb.drop();
  });

  it("answers 503 while the database probe fails, 200 again once it passes, /healthz 200 throughout", async () => {
    testDb = await createTestDatabase("mariadb");
    const u = new URL(testDb.url);
    proxy = await startTcpProxy(u.hostname, Number(u.port || 3306));
    server = await startE2EServer({
      databaseUrl: proxy.rewrite(testDb.url),
      env: METRICS,
      healthProbe: { intervalMs: 20, timeoutMs: 1_000 },
    });
    const address = server.app.metrics!.address;
    expect((await probe(address, "/readyz")).status).toBe(200);
    proxy.cut();
    await expect.poll(async () => (await probe(address, "/readyz")).status, { timeout: 5_000 }).toBe(503);
    expect(await probe(address, "/readyz")).toEqual({ status: 503, body: "database unreachable\n" });
    expect((await probe(address, "/healthz")).status).toBe(200);
    proxy.restore();
    await expect.poll(async () => (await probe(address, "/readyz")).status, { timeout: 5_000 }).toBe(200);
  });
});
