/**
 * GarbageCollectionService through the real server (createApp) and the generated client, on
 * SQLite and MariaDB: the stream's rules (started first, one deletion per object, exactly one
 * finished), a dry run then a real run over the fixture's orphans, status, the reasons over the
 * wire (admin only, GC_RUN_NOT_FOUND, a negative grace period), the /gc/finished and
 * /blobs/delete events, the GC metrics, and two servers on one database with one collector.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import type { ListEventsResponse } from "epoch-meta-client/epoch/v1/event_service";
import {
  GarbageCollectRequest,
  GcObjectKind,
  type GarbageCollectResponse,
  type GetGarbageCollectionStatusResponse,
} from "epoch-meta-client/epoch/v1/gc_service";
import type { SyncFromCatalogResponse } from "epoch-meta-client/epoch/v1/metadata_service";
import { SyncState } from "epoch-meta-client/epoch/v1/sync";
import { afterEach, beforeEach, expect, it } from "vitest";
import { openDatabase } from "../../src/db/data-source.js";
import { TokenStore } from "../../src/db/tokens/token-store.js";
import { configureLogger } from "../../src/logger.js";
import { createToken } from "../../src/services/tokens/token-service.js";
import { DirectoryObjectStore } from "../../src/storage/directory-store.js";
import { unreferencedKeys, writeOrphans, writeRegistryFixture } from "../fixtures/registry-fixture.js";
import { createTestDatabase, forEachDialect, type TestDatabase } from "../helpers/database.js";
import {
  call,
  callError,
  callMetadata,
  collect,
  startE2EServer,
  type E2EOptions,
  type E2EServer,
} from "../helpers/e2e-server.js";
import { runCli } from "../helpers/cli.js";
import { gate } from "../helpers/pause-gate.js";
import { requirePrometheusParser, scrape } from "../helpers/prometheus.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");
const parser = requirePrometheusParser("GC metrics scrapes");

const md = (secret: string) => callMetadata(secret);
const request = (r: Partial<GarbageCollectRequest>) =>
  GarbageCollectRequest.fromPartial({ gracePeriod: { seconds: 0, nanos: 0 }, ...r });
const finishedOf = (rs: GarbageCollectResponse[]) => {
  const finished = rs.flatMap((r) => (r.event?.$case === "finished" ? [r.event.finished] : []));
  expect(finished).toHaveLength(1);
  expect(rs.at(-1)?.event?.$case).toBe("finished");
  expect(rs[0]?.event?.$case).toBe("started");
  return finished[0]!;
};
const deletedKeys = (rs: GarbageCollectResponse[]) =>
  rs.flatMap((r) => (r.event?.$case === "deletion" ? [r.event.deletion.key] : [])).sort();

forEachDialect("garbage collection through the server", (dialect) => {
  let testDb: TestDatabase;
  let dir: string;
  let admin: string;
  let service: string;
  let expectedOrphans: string[];
  const servers: E2EServer[] = [];
  const start = async (extra: Partial<E2EOptions> = {}) => {
    const s = await startE2EServer({
      databaseUrl: testDb.url,
      storageUrl: `file:${dir}`,
      ...extra,
      env: { EPOCH_AUTH: "required", EPOCH_METRICS_LISTEN: "127.0.0.1:0", ...extra.env },
    });
    servers.push(s);
    return s;
  };

  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    dir = mkdtempSync(join(tmpdir(), "epoch-gc-e2e-"));
    const store = new DirectoryObjectStore(dir);
    const fx = await writeRegistryFixture(store);
    const orphans = await writeOrphans(store);
    expectedOrphans = [...(await unreferencedKeys(store, fx.tags)), orphans.uploadPrefix].sort();
    // The first server migrates; tokens are minted straight into the database.
    const first = await start();
    const db = await openDatabase(testDb.url);
    try {
      admin = (await createToken(new TokenStore(db), { name: "ops", scopes: ["admin"] })).secret;
      service = (await createToken(new TokenStore(db), { name: "front-end", scopes: ["service"] })).secret;
    } finally {
      await db.close();
    }
    await collect<SyncFromCatalogResponse>(
      first.metadata.syncFromCatalog({ full: false, dryRun: false, allowMassRemoval: false }, md(admin)),
    );
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
    await testDb.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("streams a dry run and a full run over the fixture's orphans, with status, events and metrics", async () => {
    const s = servers[0]!;
    const dry = await collect<GarbageCollectResponse>(
      s.gc.garbageCollect(request({ dryRun: true, full: true }), md(admin)),
    );
    expect(finishedOf(dry)).toMatchObject({
      state: SyncState.SYNC_STATE_SUCCEEDED,
      manifestsDeleted: 1,
      uploadsDeleted: 1,
    });
    expect(deletedKeys(dry)).toEqual(expectedOrphans);
    const started = dry[0]!.event!;
    expect(started.$case === "started" && started.started).toMatchObject({ joined: false, dryRun: true, full: true });

    const real = await collect<GarbageCollectResponse>(s.gc.garbageCollect(request({ full: true }), md(admin)));
    const finished = finishedOf(real);
    expect(deletedKeys(real)).toEqual(expectedOrphans);
    expect(finished.bytesFreed).toBeGreaterThan(0);
    const blobs = real.flatMap((r) =>
      r.event?.$case === "deletion" && r.event.deletion.kind === GcObjectKind.GC_OBJECT_KIND_BLOB
        ? [r.event.deletion]
        : [],
    );
    expect(blobs.length).toBe(finished.blobsDeleted);

    const state = await call<GetGarbageCollectionStatusResponse>((cb) =>
      s.gc.getGarbageCollectionStatus({}, md(admin), cb),
    );
    expect(state.current).toBeUndefined();
    expect(state.last).toMatchObject({
      runId: finished.runId,
      state: SyncState.SYNC_STATE_SUCCEEDED,
      full: true,
      trigger: "api",
    });
    expect(state.last?.syncRunId).toBeGreaterThan(0);

    const events = await call<ListEventsResponse>((cb) =>
      s.events.listEvents(
        { afterId: 0, pageSize: 1000, pageToken: "", filter: ['topic~="^/(gc|blobs)/"'], allNamespaces: false },
        md(admin),
        cb,
      ),
    );
    expect(events.events.filter((e) => e.topic === "/gc/finished").map((e) => e.subject)).toEqual([
      `gc:${finished.runId}`,
    ]);
    expect(
      events.events
        .filter((e) => e.topic === "/blobs/delete")
        .map((e) => e.subject)
        .sort(),
    ).toEqual(blobs.map((b) => b.digest).sort());

    if (parser) {
      const scraped = await scrape(s.app.metrics!.address);
      expect(scraped.value("epoch_gc_runs_total", { state: "SUCCEEDED" })).toBe(2);
      expect(scraped.value("epoch_gc_bytes_freed_total")).toBe(finished.bytesFreed);
      expect(scraped.value("epoch_gc_objects_deleted_total", { kind: "manifest" })).toBe(1);
      expect(scraped.value("epoch_gc_review_queue_depth", { namespace: "default" })).toBe(0);
    }
  });

  it("answers with the reasons: admin only, unknown run, negative grace", async () => {
    const s = servers[0]!;
    const denied = await callError(collect(s.gc.garbageCollect(request({}), md(service))));
    expect(denied).toMatchObject({ code: status.PERMISSION_DENIED });
    const unknown = await callError(call((cb) => s.gc.cancelGarbageCollection({ runId: 424242 }, md(admin), cb)));
    expect(unknown).toMatchObject({ code: status.NOT_FOUND, reason: "ERROR_REASON_GC_RUN_NOT_FOUND" });
    const negative = await callError(
      collect(s.gc.garbageCollect(request({ gracePeriod: { seconds: -1, nanos: 0 } }), md(admin))),
    );
    expect(negative).toMatchObject({ code: status.INVALID_ARGUMENT });
  });

  it("runs one collector across two servers: the other refuses GC and sync with GC_IN_PROGRESS", async () => {
    await servers.splice(0)[0]!.stop();
    const held = gate("after-sync");
    const a = await start({ gcFaultPoints: (p) => held.pausePoint(p) });
    const b = await start();
    const running = collect<GarbageCollectResponse>(a.gc.garbageCollect(request({}), md(admin)));
    await held.reached;
    const refused = await callError(collect(b.gc.garbageCollect(request({}), md(admin))));
    expect(refused).toMatchObject({ code: status.ABORTED, reason: "ERROR_REASON_GC_IN_PROGRESS" });
    const sync = await callError(
      collect(b.metadata.syncFromCatalog({ full: false, dryRun: false, allowMassRemoval: false }, md(admin))),
    );
    expect(sync).toMatchObject({ code: status.ABORTED, reason: "ERROR_REASON_GC_IN_PROGRESS" });
    const seen = await call<GetGarbageCollectionStatusResponse>((cb) =>
      b.gc.getGarbageCollectionStatus({}, md(admin), cb),
    );
    expect(seen.current?.state).toBe(SyncState.SYNC_STATE_RUNNING);
    held.release();
    expect(finishedOf(await running).state).toBe(SyncState.SYNC_STATE_SUCCEEDED);
    // Free again: the other server collects now.
    expect(finishedOf(await collect<GarbageCollectResponse>(b.gc.garbageCollect(request({}), md(admin)))).state).toBe(
      SyncState.SYNC_STATE_SUCCEEDED,
    );
  });

  it.runIf(dialect === "sqlite")(
    "epoch-meta gc: a dry run lists the orphans, --json streams the real run",
    async () => {
      const env = { EPOCH_SERVER: servers[0]!.address, EPOCH_TOKEN: admin, EPOCH_LOG_LEVEL: "silent" };
      const dry = await runCli(["gc", "--dry-run", "--full", "--grace", "0"], env);
      expect(dry).toMatchObject({ code: 0 });
      const listed = [...dry.stdout.matchAll(/^would delete \w+ (\S+) /gm)].map((m) => m[1]).sort();
      expect(listed).toEqual(expectedOrphans);
      expect(dry.stdout).toMatch(/SUCCEEDED/);
      expect(dry.stdout).toMatch(/WOULD FREE/);
      const real = await runCli(["gc", "--full", "--grace", "0s", "--json"], env);
      expect(real).toMatchObject({ code: 0 });
      const lines = real.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(Object.keys(lines[0]!)).toEqual(["started"]);
      expect(lines.at(-1)).toMatchObject({ finished: { state: "SYNC_STATE_SUCCEEDED", manifestsDeleted: 1 } });
      const deleted = lines.flatMap((l) => ("deletion" in l ? [(l.deletion as { key: string }).key] : [])).sort();
      expect(deleted).toEqual(expectedOrphans);
    },
  );
});
