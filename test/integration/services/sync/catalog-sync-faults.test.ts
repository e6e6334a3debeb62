/**
 * Object-store faults and crashes during a sync, on SQLite and MariaDB, with the directory store
 * and S3 (s3rver). Faults are injected below the sync (FaultStore) and every attempt is counted;
 * crashes are named fault points whose hook throws, leaving the run as `kill -9` would (lease
 * held, run RUNNING, partial commits): after the lease expires, the next sync must leave exactly
 * the index a fresh sync builds.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { configureLogger } from "../../../../src/logger.js";
import type { FaultPoint } from "../../../../src/services/sync/sync-types.js";
import { CATALOG_KEY, manifestDigestKey, manifestKey } from "../../../../src/storage/registry-layout.js";
import { writeRegistryFixture, type RegistryFixture } from "../../../fixtures/registry-fixture.js";
import { forEachDialect } from "../../../helpers/database.js";
import { image } from "../../../helpers/images.js";
import { useS3Server } from "../../../helpers/s3-server.js";
import {
  createSyncHarness,
  dumpIndex,
  expireSyncLease,
  failuresOf,
  firstSyncRequests,
  freshDump,
  indexWrites,
  runSync,
  type StoreKind,
  type SyncHarness,
} from "../../../helpers/sync-harness.js";

configureLogger(process.env.EPOCH_TEST_LOG_LEVEL ?? "silent");

const s3 = useS3Server();

/** RetryingStore's default: 4 attempts per request. */
const ATTEMPTS = 4;
const BOOKWORM = manifestKey("library/debian", "bookworm");

for (const kind of ["directory", "s3"] as StoreKind[]) {
  forEachDialect(`sync faults (${kind})`, (dialect) => {
    let h: SyncHarness;
    let fx: RegistryFixture;
    beforeEach(async () => {
      h = await createSyncHarness(dialect, kind, s3());
      fx = await writeRegistryFixture(h.store, { broken: false });
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it("retries a transient store error and counts every attempt", async () => {
      h.faults.failNext({ op: "get", keyMatch: BOOKWORM, error: "unavailable", times: 2 });
      const { finished } = await runSync(h.sync);
      expect(finished).toMatchObject({
        state: "SUCCEEDED",
        counts: { tagsAdded: fx.indexable.length, objectStoreRequests: firstSyncRequests(fx.tags) + 2 },
      });
    });

    it("turns a persistent store error into a per-tag failure, retried by the next changed catalog", async () => {
      h.faults.failNext({ op: "get", keyMatch: BOOKWORM, error: "unavailable", times: Infinity });
      const first = await runSync(h.sync);
      expect(first.finished).toMatchObject({
        state: "DEGRADED",
        counts: {
          tagsAdded: fx.indexable.length - 1,
          tagsFailed: 1,
          objectStoreRequests: firstSyncRequests(fx.tags) + ATTEMPTS - 1,
        },
      });
      expect(failuresOf(first.events)).toEqual([
        { repository: "library/debian", tag: "bookworm", reason: "STORAGE_UNAVAILABLE", message: expect.any(String) },
      ]);
      // A repository with no indexable tag is not created.
      expect((await dumpIndex(h.db)).repositories.map((r) => r.name)).not.toContain("library/debian");

      h.faults.clear();
      await h.layout.pushManifest("fresh/repo", "v1", image(1));
      const second = await runSync(h.sync);
      expect(second.finished).toMatchObject({
        state: "SUCCEEDED",
        counts: { tagsAdded: 2, tagsFailed: 0, objectStoreRequests: 3 },
      });
      expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
    });

    it("reports a truncated body as an invalid manifest and keeps the previous row", async () => {
      await runSync(h.sync);
      const before = (await dumpIndex(h.db)).tags.find((t) => t.repository === "library/debian");
      await h.layout.pushManifest("library/debian", "trixie", image(2));
      h.faults.truncateBodies({ keyMatch: BOOKWORM, bytes: 10, times: 1 });
      // Truncation needs a body: make the stored ETag stale so the GET is not a 304.
      await h.db.ds.query("UPDATE tags SET object_etag = '\"stale\"' WHERE name = 'bookworm'");
      const { events, finished } = await runSync(h.sync);
      expect(finished).toMatchObject({ state: "DEGRADED", counts: { tagsAdded: 1, tagsFailed: 1 } });
      expect(failuresOf(events).map((f) => f.reason)).toEqual(["MANIFEST_INVALID"]);
      expect(
        (await dumpIndex(h.db)).tags.find((t) => t.repository === "library/debian" && t.name === "bookworm"),
      ).toEqual({ ...before, objectEtag: '"stale"' });
    });

    it("fails the run when the catalog cannot be read, and writes nothing", async () => {
      h.faults.failNext({ op: "get", keyMatch: CATALOG_KEY, error: "unavailable", times: Infinity });
      h.statements.reset();
      const { finished } = await runSync(h.sync);
      expect(finished).toMatchObject({
        state: "FAILED",
        errorReason: "STORAGE_UNAVAILABLE",
        counts: { objectStoreRequests: ATTEMPTS },
      });
      expect(indexWrites(h.statements)).toEqual([]);
    });

    it("does not index an index tag whose child cannot be read at all", async () => {
      const busybox = fx.indexable.find((t) => t.repository === "library/busybox")!;
      const child = manifestDigestKey("library/busybox", busybox.platformSizes![0]!.digest);
      h.faults.failNext({ op: "get", keyMatch: child, error: "unavailable", times: Infinity });
      const { events, finished } = await runSync(h.sync);
      const busyboxTags = fx.indexable.filter((t) => t.repository === "library/busybox").length;
      expect(finished).toMatchObject({
        state: "DEGRADED",
        counts: { tagsAdded: fx.indexable.length - busyboxTags, tagsFailed: busyboxTags },
      });
      expect(new Set(failuresOf(events).map((f) => f.reason))).toEqual(new Set(["STORAGE_UNAVAILABLE"]));
      expect((await dumpIndex(h.db)).tags.filter((t) => t.repository === "library/busybox")).toEqual([]);
    });
  });
}

const CRASH_POINTS: FaultPoint[] = [
  "after-first-commit-batch",
  "during-deletions",
  "before-aggregates",
  "before-stats",
];

forEachDialect("sync crashes", (dialect) => {
  let h: SyncHarness;
  beforeEach(async () => {
    h = await createSyncHarness(dialect, "directory", undefined);
    await writeRegistryFixture(h.store);
  });
  afterEach(async () => {
    await h.cleanup();
  });

  for (const point of CRASH_POINTS) {
    it(`repairs a crash at ${point} completely on the next sync`, async () => {
      await runSync(h.sync);
      // Changes that need every commit step: writes in several batches, deletions in several, aggregates.
      await h.layout.pushManifest("library/alpine", "latest", image(3));
      for (let i = 0; i < 5; i++) await h.layout.pushManifest("fresh/repo", `v${i}`, image(10 + i));
      await h.layout.removeTag("library/alpine", "3.19");
      // A deletion in a repository nothing else changes (its updatedAt stays): only the crash
      // bookkeeping keeps the next run from skipping its stale aggregates.
      await h.layout.removeTag("library/busybox", "stable");
      await h.layout.removeTag("team/app/api", "v1");
      await h.layout.removeTag("team/app/api", "v2");
      await h.layout.removeTag("cloud/ubuntu", "24.04");

      let reached = false;
      const crashing = h.replica({
        commitBatchSize: 2,
        faultPoints: (p) => {
          if (p !== point) return;
          reached = true;
          throw new Error("kill -9");
        },
      });
      const run = await crashing.start({ full: false, dryRun: false, allowMassRemoval: false }, "api");
      await expect(run.done).rejects.toMatchObject({ name: "SimulatedCrash", point });
      expect(reached).toBe(true);
      // The stats' blob numbers moved in the same transactions as the ref counts: exact mid-run.
      const [kept] = await h.db.ds.query("SELECT blob_count AS n, total_size AS size FROM registry_stats");
      const [counted] = await h.db.ds.query(
        "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS size FROM blobs WHERE ref_count > 0",
      );
      expect([Number(kept.n), Number(kept.size)]).toEqual([Number(counted.n), Number(counted.size)]);
      await expireSyncLease(h.db);

      const { finished } = await runSync(h.replica());
      expect(finished.state).toBe("DEGRADED");
      expect(await dumpIndex(h.db)).toEqual(await freshDump(dialect, h.store));
    });
  }
});
