/**
 * The write side of MetadataService through the real server (createApp) and the generated
 * client, on SQLite and MariaDB, with the registry on S3 (s3rver) behind a proxy that can hold
 * one request: SyncFromCatalog's stream rules (started → failures/progress → exactly one
 * finished, status OK), joining (joined=true and a replay of the failures), ABORTED
 * SYNC_IN_PROGRESS (other flags, other replica), CancelSync, a caller that only detaches,
 * GetSyncStatus, IndexTag and DeleteTag.
 */
import { Metadata, status, type ClientReadableStream } from "@grpc/grpc-js";
import { SyncFromCatalogRequest, type SyncFromCatalogResponse } from "epoch-meta-client/epoch/v1/metadata_service";
import { ArtifactKind, type Tag } from "epoch-meta-client/epoch/v1/resources";
import { SyncState } from "epoch-meta-client/epoch/v1/sync";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { openDatabase, type Database } from "../../src/db/data-source.js";
import { configureLogger } from "../../src/logger.js";
import { SyncService } from "../../src/services/sync/sync-service.js";
import { imageManifestBytes } from "../../src/demo/demo-builder.js";
import type { ObjectStore } from "../../src/storage/object-store.js";
import { RegistryLayout } from "../../src/storage/registry-layout.js";
import { writeRegistryFixture, type RegistryFixture } from "../fixtures/registry-fixture.js";
import { cli } from "../helpers/cli.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import { call, callError, collect, startE2EServer, type E2EServer } from "../helpers/e2e-server.js";
import { FaultStore } from "../helpers/fault-store.js";
import { startHoldingProxy, type HoldingProxy } from "../helpers/holding-proxy.js";
import { blob } from "../helpers/images.js";
import { startS3Server, type TestS3Server } from "../helpers/s3-server.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

let s3: TestS3Server;
let proxy: HoldingProxy;
beforeAll(async () => {
  s3 = await startS3Server();
  proxy = await startHoldingProxy(s3.endpoint);
  // The server opens its store from EPOCH_STORAGE_URL with the SDK's credential chain (this file's process only).
  Object.assign(process.env, s3.env);
});
afterAll(async () => {
  await proxy.close();
  await s3.close();
});

const request = (flags: Partial<SyncFromCatalogRequest> = {}) => SyncFromCatalogRequest.fromPartial(flags);
const eventsOf = (rs: SyncFromCatalogResponse[]) => rs.map((r) => r.event!);
const finishedOf = (rs: SyncFromCatalogResponse[]) => {
  const finished = eventsOf(rs).filter((e) => e.$case === "finished");
  expect(finished).toHaveLength(1);
  expect(rs.at(-1)?.event?.$case).toBe("finished");
  return finished[0]!.$case === "finished" ? finished[0]!.finished : undefined!;
};
const failureKeys = (rs: SyncFromCatalogResponse[]) =>
  eventsOf(rs)
    .flatMap((e) => (e.$case === "failure" ? [`${e.failure.repository}:${e.failure.tag}`] : []))
    .sort();

/** Reads a stream until its first event (to know the call has started), leaving the rest flowing into `rest`. */
function firstThenRest(stream: ClientReadableStream<SyncFromCatalogResponse>): {
  first: Promise<SyncFromCatalogResponse>;
  rest: Promise<SyncFromCatalogResponse[]>;
} {
  let gotFirst!: (r: SyncFromCatalogResponse) => void;
  const first = new Promise<SyncFromCatalogResponse>((r) => (gotFirst = r));
  const items: SyncFromCatalogResponse[] = [];
  const rest = new Promise<SyncFromCatalogResponse[]>((resolve, reject) => {
    stream.on("data", (r: SyncFromCatalogResponse) => {
      if (items.length === 0) gotFirst(r);
      items.push(r);
    });
    stream.on("error", reject);
    stream.on("end", () => resolve(items));
  });
  return { first, rest };
}

forEachDialect("sync through the server", (dialect) => {
  let server: E2EServer;
  let testDb: TestDatabase;
  let store: ObjectStore;
  let fx: RegistryFixture;
  let prefix: string;
  let n = 0;

  beforeEach(async () => {
    prefix = `e2e-${dialect}-${++n}`;
    store = s3.open({ prefix, retry: false });
    fx = await writeRegistryFixture(store);
    testDb = await createTestDatabase(dialect);
    const storageUrl = `s3://${s3.bucket}/${prefix}?endpoint=${encodeURIComponent(proxy.endpoint)}&forcePathStyle=true&region=us-east-1`;
    server = await startE2EServer({ databaseUrl: testDb.url, storageUrl });
  });
  afterEach(async () => {
    await server.stop();
    await testDb.drop();
  });

  it("streams started, the failures, progress and exactly one finished; a repeat costs one request", async () => {
    const responses = await collect(server.metadata.syncFromCatalog(request()));
    const events = eventsOf(responses);
    expect(events[0]).toMatchObject({ $case: "started", started: { joined: false, dryRun: false } });
    const runId = events[0]!.$case === "started" ? events[0]!.started.runId : 0;
    expect(failureKeys(responses)).toEqual(fx.failures.map((f) => `${f.repository}:${f.tag}`).sort());
    const phases = [...new Set(events.flatMap((e) => (e.$case === "progress" ? [e.progress.phase] : [])))];
    expect(phases).toEqual([1, 2, 3, 4, 5]);
    const finished = finishedOf(responses);
    expect(finished).toMatchObject({
      runId,
      state: SyncState.SYNC_STATE_DEGRADED,
      counts: { tagsAdded: fx.indexable.length, tagsFailed: fx.failures.length },
    });
    expect(finished.duration).toBeDefined();

    const status = await call<{ last?: { runId: number; state: number; failureCount: number; failures: unknown[] } }>(
      (cb) => server.metadata.getSyncStatus({}, cb),
    );
    expect(status.last).toMatchObject({
      runId,
      state: SyncState.SYNC_STATE_DEGRADED,
      failureCount: fx.failures.length,
    });
    expect(status.last?.failures).toHaveLength(fx.failures.length);

    const again = finishedOf(await collect(server.metadata.syncFromCatalog(request())));
    expect(again).toMatchObject({
      state: SyncState.SYNC_STATE_SUCCEEDED,
      counts: { objectStoreRequests: 1, tagsUnchanged: fx.indexable.length },
    });
  });

  it("joins a second call, refuses other flags, cancels through CancelSync, and writes nothing", async () => {
    const hold = proxy.hold(new RegExp(`/${prefix}/manifests/`));
    const first = collect(server.metadata.syncFromCatalog(request()));
    await hold.reached;
    const second = firstThenRest(server.metadata.syncFromCatalog(request()));
    const joined = (await second.first).event!;
    expect(joined).toMatchObject({ $case: "started", started: { joined: true } });
    const runId = joined.$case === "started" ? joined.started.runId : 0;

    const refused = await callError(collect(server.metadata.syncFromCatalog(request({ full: true }))));
    expect({ code: refused.code, reason: refused.reason }).toEqual({
      code: status.ABORTED,
      reason: "ERROR_REASON_SYNC_IN_PROGRESS",
    });
    const current = await call<{ current?: { runId: number; state: number } }>((cb) =>
      server.metadata.getSyncStatus({}, cb),
    );
    expect(current.current).toMatchObject({ runId, state: SyncState.SYNC_STATE_RUNNING });

    await call((cb) => server.metadata.cancelSync({ runId }, cb));
    hold.release();
    const a = await first;
    const b = await second.rest;
    expect(finishedOf(a)).toMatchObject({
      runId,
      state: SyncState.SYNC_STATE_CANCELLED,
      errorReason: 30 /* CANCELLED */,
    });
    expect(finishedOf(b)).toEqual(finishedOf(a));
    expect(failureKeys(b)).toEqual(failureKeys(a));

    const again = await callError(call((cb) => server.metadata.cancelSync({ runId }, cb)));
    expect({ code: again.code, reason: again.reason }).toEqual({
      code: status.FAILED_PRECONDITION,
      reason: "ERROR_REASON_SYNC_FINISHED",
    });
    const unknown = await callError(call((cb) => server.metadata.cancelSync({ runId: 987654 }, cb)));
    expect({ code: unknown.code, reason: unknown.reason }).toEqual({
      code: status.NOT_FOUND,
      reason: "ERROR_REASON_SYNC_RUN_NOT_FOUND",
    });
    const stats = await call<{ repositoryCount: number; tagCount: number }>((cb) => server.metadata.getStats({}, cb));
    expect(stats).toMatchObject({ repositoryCount: 0, tagCount: 0 });
  });

  it("lets a caller leave without stopping the run", async () => {
    const hold = proxy.hold(new RegExp(`/${prefix}/manifests/`));
    const leaving = server.metadata.syncFromCatalog(request());
    const left = firstThenRest(leaving);
    left.rest.catch(() => undefined);
    await hold.reached;
    await left.first;
    leaving.cancel();
    const staying = collect(server.metadata.syncFromCatalog(request()));
    hold.release();
    expect(finishedOf(await staying)).toMatchObject({
      state: SyncState.SYNC_STATE_DEGRADED,
      counts: { tagsAdded: fx.indexable.length },
    });
  });

  it("answers ABORTED while another replica runs a sync", async () => {
    let db: Database | undefined;
    try {
      db = await openDatabase(testDb.url);
      const faults = new FaultStore(store);
      let release!: () => void;
      let arrive!: () => void;
      const reached = new Promise<void>((r) => (arrive = r));
      const opened = new Promise<void>((r) => (release = r));
      faults.beforeRequest({ op: "get", keyMatch: "catalog.json", times: 1, fn: async () => (arrive(), await opened) });
      const replica = new SyncService({ db, store: faults });
      const run = await replica.start({ full: false, dryRun: false, allowMassRemoval: false }, "api");
      await reached;
      const refused = await callError(collect(server.metadata.syncFromCatalog(request())));
      expect({ code: refused.code, reason: refused.reason }).toEqual({
        code: status.ABORTED,
        reason: "ERROR_REASON_SYNC_IN_PROGRESS",
      });
      release();
      expect((await run.done).state).toBe("DEGRADED");
    } finally {
      await db?.close();
    }
  });

  it("indexes and deletes a tag through IndexTag and DeleteTag", async () => {
    await collect(server.metadata.syncFromCatalog(request()));
    const manifest = imageManifestBytes({
      config: blob(1, 101, "application/vnd.oci.image.config.v1+json"),
      layers: [blob(2, 5002)],
      annotations: { "org.opencontainers.image.created": "2025-02-03T04:05:06Z" },
    });
    await new RegistryLayout(store).pushManifest("team/new", "v1", manifest);
    const indexed = await call<{ tag?: Tag }>((cb) =>
      server.metadata.indexTag({ repository: "team/new", tag: "v1" }, cb),
    );
    expect(indexed.tag).toMatchObject({
      repository: "team/new",
      name: "v1",
      kind: ArtifactKind.ARTIFACT_KIND_CONTAINER_IMAGE,
      totalSize: 101 + 5002,
      layerCount: 1,
      manifestJson: manifest.toString(),
      pushTime: new Date("2025-02-03T04:05:06Z"),
      incomplete: false,
    });
    const got = await call<{ tag?: unknown }>((cb) =>
      server.metadata.getTag({ repository: "team/new", tag: "v1" }, cb),
    );
    expect(got.tag).toEqual(indexed.tag);

    await call((cb) => server.metadata.deleteTag({ repository: "team/new", tag: "v1" }, cb));
    const gone = await callError(call((cb) => server.metadata.getRepository({ name: "team/new" }, cb)));
    expect({ code: gone.code, reason: gone.reason }).toEqual({
      code: status.NOT_FOUND,
      reason: "ERROR_REASON_REPOSITORY_NOT_FOUND",
    });
    const missing = await callError(call((cb) => server.metadata.indexTag({ repository: "team/new", tag: "v1" }, cb)));
    expect({ code: missing.code, reason: missing.reason }).toEqual({
      code: status.NOT_FOUND,
      reason: "ERROR_REASON_MANIFEST_MISSING",
    });
    const unknown = await callError(
      call((cb) => server.metadata.deleteTag({ repository: "library/alpine", tag: "nope" }, new Metadata(), cb)),
    );
    expect({ code: unknown.code, reason: unknown.reason }).toEqual({
      code: status.NOT_FOUND,
      reason: "ERROR_REASON_TAG_NOT_FOUND",
    });
  });
});

describe("epoch-meta sync (CLI)", () => {
  it("prints JSON lines, a summary with the failures, the status, and exits by outcome", async () => {
    const prefix = "e2e-cli";
    const fx = await writeRegistryFixture(s3.open({ prefix, retry: false }));
    const testDb = await createTestDatabase("sqlite");
    const storageUrl = `s3://${s3.bucket}/${prefix}?endpoint=${encodeURIComponent(proxy.endpoint)}&forcePathStyle=true&region=us-east-1`;
    const server = await startE2EServer({ databaseUrl: testDb.url, storageUrl });
    try {
      const json = await cli(["sync", "--json"], server.address);
      const lines = json.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, Record<string, unknown>>);
      expect(lines[0]?.started).toMatchObject({ runId: 1, mode: "SYNC_MODE_INCREMENTAL" });
      expect(lines.filter((l) => l.failure)).toHaveLength(fx.failures.length);
      expect(lines.at(-1)?.finished).toMatchObject({ state: "SYNC_STATE_DEGRADED" });
      expect(json.code).toBe(2);

      await new RegistryLayout(s3.open({ prefix, retry: false })).removeTag("library/alpine", "3.19");
      const human = await cli(["sync"], server.address);
      expect(human.stdout).toMatch(/DEGRADED/);
      expect(human.stdout).toMatch(/broken\/missing\s+gone\s+MANIFEST_MISSING/);
      expect(human.code).toBe(2);

      const shown = await cli(["sync", "--status", "--json"], server.address);
      expect(JSON.parse(shown.stdout)).toMatchObject({
        last: { state: "SYNC_STATE_DEGRADED", trigger: "cli", counts: { tagsRemoved: 1 } },
      });
      const cancel = await cli(["sync", "--cancel", "424242"], server.address);
      expect(cancel.code).toBe(1);
      expect(cancel.stderr).toMatch(/NOT_FOUND.*ERROR_REASON_SYNC_RUN_NOT_FOUND/);
    } finally {
      await server.stop();
      await testDb.drop();
    }
  });
});
